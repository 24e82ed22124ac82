#!/usr/bin/env bash
# The benchmark on a GPU machine that has JAX but neither TensorFlow, Keras nor a package registry:
# installs the wheels carried in .whl/ where Keras is missing (perf/gpu_wheels.sh downloads them; docs/performance.md), then runs
# perf/gpu_check.py, writing its archives, timings.json and sweep.log to $OUT (default: gpu_check_out).
#
#   bash perf/gpu_check.sh [--seconds 480] [--stack 3 --parallel 3] [--resume_from DIR] [--tiny]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! KERAS_BACKEND=jax python3 -c "import keras, gin" 2> /dev/null && compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec python3 perf/gpu_check.py --out "${OUT:-gpu_check_out}" "$@"
