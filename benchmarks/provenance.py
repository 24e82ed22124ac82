"""What code and which packages produced a result: recorded in every ``results.json``.

A published number is only reference-grade if the code that produced it can be named and rerun. Each
run therefore records the commit of the checkout it was trained from, the source files that differed
from that commit (none for a clean checkout: the run is then retrainable bit for bit from the commit),
and the versions of the packages whose arithmetic it depends on.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess

# The project's code that decides a run's numbers (training, data, configurations).
SOURCE_PATHS = ("benchmarks", "dmelodies_tfds", "gin_configs", "setup.py")
# The packages whose versions can change a run's numbers or its scores.
PACKAGES = ("tensorflow", "keras", "numpy", "tensorflow-datasets", "gin-config", "music21", "scikit-learn",
            "scipy", "disentanglement-lib", "jax", "torch")

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git(*arguments: str) -> str | None:
    try:
        process = subprocess.run(["git", "-C", REPOSITORY, *arguments], capture_output=True, text=True,
                                 timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return process.stdout if process.returncode == 0 else None


def package_versions() -> dict[str, str]:
    """The installed version of each of :data:`PACKAGES` that is installed."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def provenance() -> dict:
    """``commit`` (None outside a git checkout, e.g. after ``pip install .``), ``source_changes`` (the
    project files that differ from it, as ``git status --porcelain`` lists them), ``version`` of the
    ``dmelodies`` distribution, and ``packages``."""
    commit = _git("rev-parse", "HEAD")
    changes = _git("status", "--porcelain", "--untracked-files=all", "--", *SOURCE_PATHS) if commit else None
    try:
        version = importlib.metadata.version("dmelodies")
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {
        "commit": commit.strip() if commit else None,
        "source_changes": sorted(line[3:] for line in changes.splitlines() if line.strip()
                                 and not line.endswith((".pyc", "/"))) if changes is not None else None,
        "version": version,
        "packages": package_versions(),
    }
