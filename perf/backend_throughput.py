"""Training-step throughput of the CNN and RNN β-VAE on each Keras backend, measured interleaved.

    python perf/backend_throughput.py [--steps 60] [--rounds 3] [--batch_size 512] [--backends tensorflow,jax,torch]

A backend written ``jax:eager`` runs JAX's step un-jitted, as ``train.jit_compile = False`` makes
``benchmarks.train`` do; ``jax:own`` (or ``torch:own``) draws the backend's own random numbers, as
``train.random_numbers_from = 'backend'`` does, where runs draw TensorFlow's by default
(:mod:`benchmarks.training.random_numbers`).

Each measurement is a fresh process that builds the model on one backend, compiles its step on a warm-up
of 5 steps, then times ``--steps`` training steps (``fit`` on random melodies, as a run trains): wall
seconds per step, steps per second, and the process' CPU milliseconds per step. The backends take turns
within each round, so a busy machine slows them alike; the figures printed are the medians over rounds.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

MEASURE = r"""
import json, os, sys, time
import numpy as np, keras
from benchmarks.models import build_cnn_vae, build_rnn_vae
from benchmarks.objectives import BetaVAE
from benchmarks.training import random_numbers
arch, steps, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random_numbers.use("backend" if sys.argv[4] == "own" else "tensorflow")
keras.utils.set_random_seed(0)
model = BetaVAE((build_cnn_vae if arch == "cnn" else build_rnn_vae)(), steps_per_epoch=100)
model.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=False if sys.argv[4] == "eager" else "auto")
tokens = np.random.default_rng(0).integers(0, 52, size=(batch * 4, 16)).astype("int32")
def batches():
    i = 0
    while True:
        yield (tokens[(i % 4) * batch:(i % 4 + 1) * batch],)
        i += 1
model.fit(batches(), steps_per_epoch=5, epochs=1, verbose=0)
wall, cpu = time.perf_counter(), time.process_time()
model.fit(batches(), steps_per_epoch=steps, epochs=1, verbose=0)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"wall_s_per_step": wall / steps, "cpu_ms_per_step": 1000 * cpu / steps}))
"""


def measure(backend: str, arch: str, steps: int, batch_size: int) -> dict:
    backend, _, variant = backend.partition(":")
    if variant not in ("", "eager", "own"):
        raise ValueError(f"unknown variant {variant!r} of backend {backend!r}: only ':eager' or ':own'")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run([sys.executable, "-c", MEASURE, arch, str(steps), str(batch_size), variant or "-"],
                               capture_output=True, text=True, env=env, check=False)
    if completed.returncode:
        raise RuntimeError(f"{backend} {arch}: {completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=512)
    parser.add_argument("--archs", default="cnn,rnn")
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    args = parser.parse_args()
    backends, archs = args.backends.split(","), args.archs.split(",")
    found = {(b, a): [] for a in archs for b in backends}
    for round_ in range(args.rounds):
        for arch in archs:
            for backend in backends:
                found[backend, arch].append(measure(backend, arch, args.steps, args.batch_size))
        print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr)
    print(f"batch {args.batch_size}, {args.steps} timed steps, median of {args.rounds} interleaved rounds")
    print(f"{'model':<6} {'backend':<11} {'steps/s':>8} {'CPU ms/step':>12}")
    for arch in archs:
        for backend in backends:
            wall = statistics.median(m["wall_s_per_step"] for m in found[backend, arch])
            cpu = statistics.median(m["cpu_ms_per_step"] for m in found[backend, arch])
            print(f"{arch:<6} {backend:<11} {1 / wall:>8.2f} {cpu:>12.0f}")


if __name__ == "__main__":
    main()
