"""What every test shares: temporary files kept out of /tmp, and the ``slow`` marker's gate.

Markers (registered in pyproject.toml): ``integration`` marks a test that runs a command line in a fresh
process (``python -m benchmarks.<command>``), Ray, a browser or the notebook; ``python -m pytest -m "not
integration"`` is the fast loop. ``slow`` marks a test that is skipped unless selected (``-m slow``) or asked
for (``--run-slow``); ``python -m pytest`` runs the integration tests and skips the slow ones.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

TEMPORARY_VARIABLES = ("TMPDIR", "RAY_TMPDIR")


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="run the tests marked slow as well (else skipped unless -m selects them)")


def _selects_slow(markexpr: str) -> bool:
    """Whether a ``-m`` expression asks for the slow tests: it selects a test marked ``slow`` and nothing else,
    and does not select an unmarked test (``-m slow``, ``-m "slow or integration"``; not ``-m "not
    integration"``)."""
    if not markexpr:
        return False
    from _pytest.mark.expression import Expression

    expression = Expression.compile(markexpr)
    return (expression.evaluate(lambda name, **_: name == "slow")
            and not expression.evaluate(lambda name, **_: False))


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or _selects_slow(config.getoption("markexpr")):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow or select it with -m slow")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def temporary_files_under_basetemp(tmp_path_factory):
    """Temporary files of the tests and of the processes they start go to ``<basetemp>/tmp``, which pytest
    removes with its old base folders, instead of /tmp: TensorFlow's autograph files, TFDS's ``tmp*tfds``
    folders, anything else made through :mod:`tempfile`; Ray's session folders (``RAY_TMPDIR``) go to a
    short folder of their own, removed at the end."""
    folder = str(tmp_path_factory.mktemp("tmp", numbered=False))
    # Ray's session folder holds AF_UNIX sockets, whose paths must stay under 108 bytes: a short folder of
    # its own (under pytest-xdist the base folder is one level deeper, and too long).
    ray_folder = tempfile.mkdtemp(prefix="ray")
    saved = {name: os.environ.get(name) for name in TEMPORARY_VARIABLES}
    saved_tempdir = tempfile.tempdir
    for name in TEMPORARY_VARIABLES:
        os.environ[name] = ray_folder if name == "RAY_TMPDIR" else folder
    tempfile.tempdir = folder
    try:
        yield folder
    finally:
        shutil.rmtree(ray_folder, ignore_errors=True)
        tempfile.tempdir = saved_tempdir
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
