#!/usr/bin/env bash
# Downloads into .whl/ the wheels perf/gpu_check.sh installs on a GPU machine without a registry: Keras
# and gin-config with what they need beyond a CUDA image's JAX, numpy, absl-py, h5py, rich, ml-dtypes,
# tensorboard and scipy (docs/performance.md). Pure-Python wheels except optree's, built for CPython 3.12.
#
#   bash perf/gpu_wheels.sh [PYTHON_VERSION]   # default 3.12
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-3.12}"
keras_version="$(python -c 'import keras; print(keras.__version__)')"
mkdir -p .whl
grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
python -m pip download -q --no-deps --only-binary=:all: --python-version "$version" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "keras==$keras_version" "gin-config==0.5.0" optree namex
du -ch .whl/*.whl
