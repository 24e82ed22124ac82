"""What the benchmark tests share: the repository's paths, tiny runs' gin bindings, and the commands run in
a fresh interpreter (``python -m benchmarks.<command>``).

``import helpers`` finds this module because pyproject.toml's ``[tool.pytest.ini_options]`` puts
``tests/benchmarks`` on ``pythonpath`` (pytest imports the tests themselves with ``--import-mode=importlib``).
"""
from __future__ import annotations

import collections
import os
import pathlib
import subprocess
import sys
import tempfile
from typing import Iterable, Mapping

REPO = str(pathlib.Path(__file__).resolve().parents[2])
GIN_DIR = os.path.join(REPO, "gin_configs")
GOLDEN = pathlib.Path(REPO) / "tests" / "benchmarks" / "golden"  # tools/make_golden_fixtures.py --out
NOTEBOOK = os.path.join(REPO, "notebooks", "dmelodies_tour.ipynb")
# The temporary folder of the system, read before tests/conftest.py points tempfile (and TMPDIR) at a folder
# of pytest's base temporary folder for the session.
SYSTEM_TEMPDIR = tempfile.gettempdir()
# TensorFlow's C++ log lines at warnings and above only, for commands whose output a test reads.
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "2"}


def load_script(folder: str, name: str):
    """Imports ``<folder>/<name>.py`` of the repository (tools/ and perf/ are not packages)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, folder, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_git_checkout() -> bool:
    """Whether the repository is a git checkout (the committed results are those git lists)."""
    return subprocess.run(["git", "-C", REPO, "rev-parse"], capture_output=True).returncode == 0


def gin_file(name: str) -> str:
    """gin_configs/<name>.gin."""
    return os.path.join(GIN_DIR, f"{name}.gin")


def tiny_bindings(data_dir, **overrides) -> list:
    """gin bindings (``"key = value"``) of a run of a few steps on ``dmelodies/tiny`` in ``data_dir``: 2 epochs
    of 3 batches of 100, printing nothing. ``overrides`` (``**{"train.epochs": 1}``) replace or add bindings,
    in order; an override of ``None`` drops that binding."""
    values = {"TFDSSource.config": "'tiny'", "TFDSSource.data_dir": repr(str(data_dir)), "train.epochs": 2,
              "train.steps_per_epoch": 3, "train.batch_size": 100, "train.verbose": 0}
    values.update(overrides)
    return [f"{key} = {value}" for key, value in values.items() if value is not None]


def tiny_run(root, data_dir, name: str, bindings: Iterable[str], seed: int,
             metrics: Mapping[str, Iterable[str]] = {"mig": ["mig.num_train = 300"]}) -> str:
    """A real run of a few steps at grid point ``name`` (the sweep's layout, e.g. ``cnn_beta_vae/beta=4/seed=0``)
    under ``root``, scored with each metric config of ``metrics`` and its small-size bindings; its folder."""
    from benchmarks.evaluation import scoring
    from benchmarks.training import run as train

    model_dir = os.path.join(root, *name.split("/"))
    train.run([gin_file(name.split("/")[0])], [
        *tiny_bindings(data_dir, **{"train.epochs": 1, "train.batch_size": 64, "train.verbose": None,
                                    "train.validation_steps": 2, "train.seed": seed}),
        *bindings], model_dir)
    for metric, sizes in metrics.items():
        scoring.run(model_dir, [scoring.config_file(metric)], list(sizes))
    return model_dir


def gin_flags(bindings: Iterable[str]) -> list:
    """``--gin_bindings=...`` flags of ``bindings``."""
    return [f"--gin_bindings={binding}" for binding in bindings]


def module_command(module: str, *args) -> list:
    """``python -m <module> <args>`` with this interpreter."""
    return [sys.executable, "-m", module, *(str(arg) for arg in args)]


def train_args(name: str, bindings: Iterable[str], model_dir) -> list:
    """benchmarks.train's flags for gin_configs/<name>.gin with ``bindings``, into ``model_dir``."""
    return [f"--gin_file={gin_file(name)}", *gin_flags(bindings), f"--model_dir={model_dir}"]


def train_command(name: str, bindings: Iterable[str], model_dir) -> list:
    """``python -m benchmarks.train`` of gin_configs/<name>.gin with ``bindings``, into ``model_dir``."""
    return module_command("benchmarks.train", *train_args(name, bindings, model_dir))


def subprocess_env(environ: Mapping[str, str] | None = None, **changes) -> dict:
    """``environ`` (this process' environment by default) with the repository first on PYTHONPATH, so that
    ``python -m benchmarks.<command>`` finds this checkout from any working folder, and ``changes``."""
    env = dict(os.environ if environ is None else environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH", "")) if p)
    env.update(changes)
    return env


def run_module(module: str, *args, cwd=REPO, timeout: float | None = 600, env: Mapping[str, str] | None = None,
               **changes) -> subprocess.CompletedProcess:
    """Runs ``python -m <module> <args>`` to its end in ``cwd``, its output captured as text. Without ``env``,
    the environment is this process' with the repository on PYTHONPATH, TensorFlow's C++ logging quietened
    and ``changes``."""
    if env is None:
        env = subprocess_env(**{**QUIET_TENSORFLOW, **changes})
    return subprocess.run(module_command(module, *args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env)


def scalars(log_dir) -> collections.defaultdict:
    """{tag: [(step, value), ...]} of the TensorBoard scalars under ``log_dir`` ([] for a tag not logged)."""
    from benchmarks.training import callbacks

    return collections.defaultdict(list, callbacks.read_scalars(str(log_dir)))
