"""What code and which packages produced a result: recorded in every ``results.json``.

A published number is only reference-grade if the code that produced it can be named and rerun. Each
run therefore records the commit of the checkout it was trained from, the source files that differed
from that commit (none for a clean checkout: the run is then retrainable bit for bit from the commit),
the versions of the packages whose arithmetic it depends on, and the processor and settings that choose
the kernels that arithmetic runs on.

The same commit and packages reproduce a run bit for bit only on the same kind of processor: the order
of float32 sums is the kernels', and TensorFlow turns its oneDNN kernels on by default only on x86
processors with AVX512_VNNI, AVX512_BF16 or AMX (``TF_ENABLE_ONEDNN_OPTS`` overrides it). Retrained on
another kind, a run agrees to float32 rounding at first and drifts as training amplifies the difference
(docs/study.md).
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess

# The project's code that decides a run's numbers (training, data, configurations).
SOURCE_PATHS = ("benchmarks", "dmelodies_tfds", "gin_configs", "setup.py")
# Instruction-set extensions that decide which kernels run (and so the order of float32 sums).
CPU_FEATURES = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")
# Environment variables that change kernels, threads or the backend.
NUMERIC_ENVIRONMENT = ("KERAS_BACKEND", "TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTRAOP_THREADS",
                       "TF_NUM_INTEROP_THREADS", "TF_DETERMINISTIC_OPS", "OMP_NUM_THREADS", "XLA_FLAGS",
                       "CUDA_VISIBLE_DEVICES")
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


def processor(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """``machine`` (e.g. x86_64), the processor's ``model`` and which of :data:`CPU_FEATURES` it has
    (read from ``cpuinfo`` on Linux; elsewhere only what :mod:`platform` knows), ``cores``, and the
    :data:`NUMERIC_ENVIRONMENT` variables that are set."""
    model, flags = None, set()
    try:
        with open(cpuinfo) as file:
            for line in file:
                key, _, value = (part.strip() for part in line.partition(":"))
                if key in ("model name", "Model", "Hardware") and model is None:  # x86, then ARM's names
                    model = value
                elif key in ("flags", "Features"):
                    flags.update(value.split())
                elif not line.strip() and flags:
                    break  # the first processor describes them all
    except OSError:
        pass
    return {
        "machine": platform.machine(),
        "model": model or platform.processor() or None,
        "features": [feature for feature in CPU_FEATURES if feature in flags],
        "cores": os.cpu_count(),
        "environment": {name: os.environ[name] for name in NUMERIC_ENVIRONMENT if name in os.environ},
    }


def provenance() -> dict:
    """``commit`` (None outside a git checkout, e.g. after ``pip install .``), ``source_changes`` (the
    project files that differ from it, as ``git status --porcelain`` lists them), ``version`` of the
    ``dmelodies`` distribution, ``packages`` and ``processor`` (:func:`processor`)."""
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
        "processor": processor(),
    }
