"""Where the gin files are: ``gin_configs/`` of the checkout, or the copy installed with the package.

``pip install .`` ships the checkout's ``gin_configs/`` inside the package as ``benchmarks/gin_configs``
(setup.py), so the commands' defaults work from any directory and without the checkout; an editable
install or a source tree reads the checkout's own folder.
"""
from __future__ import annotations

import os

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gin_dir() -> str:
    for candidate in (os.path.join(_PACKAGE, "gin_configs"), os.path.join(os.path.dirname(_PACKAGE), "gin_configs")):
        if os.path.isfile(os.path.join(candidate, "common.gin")):
            return candidate
    raise ImportError(f"no gin_configs folder beside {_PACKAGE} or inside it: reinstall the package")


GIN_DIR = _gin_dir()
METRICS_DIR = os.path.join(GIN_DIR, "metrics")


def gin_file(name: str) -> str:
    """The path of ``gin_configs/<name>.gin`` (``name`` may be ``metrics/mig``)."""
    return os.path.join(GIN_DIR, f"{name}.gin")
