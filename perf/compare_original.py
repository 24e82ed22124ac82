"""Training speed of this project's models against the original PyTorch code, measured side by side.

    python perf/compare_original.py --original_repo=/tmp/orig [--torch_python=/tmp/torchenv/bin/python]
        [--models cnn:beta_vae rnn:beta_vae] [--repetitions 5] [--steps 40] [--threads 2]

Only a ratio measured on one machine in one sitting says anything: steps/s move with the CPU and with
whatever else runs on it. So both sides run here, interleaved: two long-lived worker processes, one per
framework, each importing it and building its models once; this parent alternates them (ours then the
original's, then the original's then ours, ...), one timing at a time, so a change in the machine's
load affects both sides of a pair alike. Each timing is N training steps after warm-up, at batch 512, on
the same batches: the first N + 1 of training seed 0's stream over dMelodies' full train split
(``benchmarks.training.data.training_batches``). Both sides get the same intra- and inter-op thread counts.

- Ours: the objective, architecture, Adam, per-batch callbacks, steps per call (k, 4 by default) and
  input pipeline exactly as ``benchmarks.train`` sets them up (``perf/train_throughput.training_setup``);
  ``model.fit`` for N + k steps (N rounded up to whole calls), timed from the end of its first call to
  the end of its last (``fit``'s own set-up excluded).
- The original: its trainer's own epoch loop (``Trainer.loss_and_acc_on_epoch``: schedule update,
  zero_grad, forward, loss, backward, Adam step, loss and accuracy read back each step) on batches 1..N,
  with the hyperparameters of its training scripts (β 1, C 50). Its code is imported from
  ``--original_repo`` at run time with the shims of ``tools/make_golden_fixtures.py``; none of it is
  copied here. Every call is its epoch 0, so its loop never writes to TensorBoard.

It prints each pair's steps/s, CPU ms per step (each side's process CPU time, all its threads) and two
ratios ours / original: of steps/s, and of steps per CPU second; then, per model, the median and range
of each, which are what count. The second is the one that holds on a loaded machine: there the wall
time of a timing depends mostly on how much of a core the system gave it, while the CPU time of a
step hardly moves (with one thread, it is the step's work).
FactorVAE is not compared: the released trainer fails on current PyTorch (see ``FACTOR_VAE_UNAVAILABLE``).

On a machine shared with other work, use ``--threads=1``: PyTorch's OpenMP threads busy-wait at the end
of every parallel region, and when the system deschedules one of them the others spin for its whole time
slice. On two CPU cores at a load average near 10, the original CNN β-VAE ran 32
steps/s on one thread and about 1 step/s on two (24 with ``OMP_WAIT_POLICY=PASSIVE``), which would
make any ratio at two threads meaningless there. The script warns when the load exceeds the cores.

PyTorch is never installed into the project's environment; make a separate one (CPU build)::

    python -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 numpy --index-url https://download.pytorch.org/whl/cpu
    git clone https://github.com/ashispati/dmelodies_benchmarking /tmp/orig
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH_SIZE = 512
WARMUP_STEPS = 5
ARCHITECTURES = ("cnn", "rnn")
METHODS = ("beta_vae", "annealed_vae")
# Why FactorVAE is not compared (checked with torch 2.13, anomaly detection on).
FACTOR_VAE_UNAVAILABLE = (
    "the original's FactorVAE trainer does not train on PyTorch >= 1.5: its discriminator loss "
    "back-propagates through D(z) into encoder weights that the VAE's Adam step has already changed in "
    "place ('modified by an inplace operation'), so there is no original FactorVAE step to time")
# Files of the original that this script imports: their absence means the path is not its checkout.
ORIGINAL_FILES = ("src/utils/trainer.py", "src/dmelodiesvae/dmelodies_cnnvae.py",
                  "src/dmelodiesvae/dmelodies_vae.py", "src/dmelodiesvae/dmelodies_vae_trainer.py",
                  "src/dmelodiesvae/factor_vae.py", "src/dmelodiesvae/factor_vae_trainer.py")
TORCH_VENV_HELP = ("create it with: python -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install "
                   "torch==2.13.0 numpy --index-url https://download.pytorch.org/whl/cpu")
_REPLY = "@@compare "  # prefixes the workers' replies; anything else they print goes to their log


# ------------------------------------------------------------------------------------------- workers
def _timing(steps, wall, cpu) -> dict:
    return {"steps_per_s": steps / wall, "cpu_ms_per_step": 1000 * cpu / steps}


def _ours_worker(args, reply):
    """Loads the train split, writes the shared batches, then times one of our models per request."""
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    sys.path[:0] = [REPO_ROOT, os.path.join(REPO_ROOT, "perf")]
    from benchmarks.training import data
    from dmelodies_tfds.atomic import atomic_path
    from train_throughput import step_clock, training_setup

    train = data.TFDSSource(config=args.config, data_dir=args.data_dir).load("train")
    stream = data.training_batches(train, BATCH_SIZE, seed=0)
    batches = np.stack([batch.numpy() for batch in stream.take(max(args.steps + 1, WARMUP_STEPS))])
    with atomic_path(args.batches_file) as temporary:
        np.save(temporary, batches)

    reply("ready", framework=f"TensorFlow {tf.__version__}, Keras {keras.__version__}",
          threads=[tf.config.threading.get_intra_op_parallelism_threads(),
                   tf.config.threading.get_inter_op_parallelism_threads()])
    models = {}
    with tempfile.TemporaryDirectory(prefix="compare_original_") as log_dir:
        for line in sys.stdin:
            key = line.strip()
            if key not in models:
                architecture, method = key.split(":")
                model, batches, run_callbacks = training_setup(
                    architecture, method, train, jit_compile=False,
                    log_dir=os.path.join(log_dir, key.replace(":", "_")))
                per_call = model.steps_per_execution  # as benchmarks.train sets it: the clock ticks per call
                model.fit(batches, epochs=1, steps_per_epoch=per_call * -(-WARMUP_STEPS // per_call), verbose=0,
                          callbacks=run_callbacks, shuffle=False)
                models[key] = model, batches, run_callbacks + [step_clock()]  # last: it stamps after the run's callbacks
            model, batches, run_callbacks = models[key]
            per_call = model.steps_per_execution
            timed = per_call * -(-args.steps // per_call)
            model.fit(batches, epochs=1, steps_per_epoch=timed + per_call, verbose=0, callbacks=run_callbacks,
                      shuffle=False)
            reply("result", **_timing(timed, *run_callbacks[-1].elapsed()))


class _Dataset:
    """The original models only ask their dataset for ``repr``."""

    def __repr__(self):
        return "compare_original"


def _original_trainer(o, architecture: str, method: str):
    """The original's model and trainer as its training scripts build them (β 1, C 50, seed 0)."""
    o.torch.manual_seed(0)
    model = (o.DMelodiesCNNVAE if architecture == "cnn" else o.DMelodiesVAE)(_Dataset())
    model_type = {"beta_vae": "beta-VAE", "annealed_vae": "annealed-VAE"}[method]
    trainer = o.DMelodiesVAETrainer(_Dataset(), model, model_type=model_type, beta=1.0, capacity=50.0,
                                    lr=1e-4, rand=0)
    model.train()
    return trainer


def _original_worker(args, reply):
    """Imports the original from ``--original_repo`` and times one of its models per request."""
    import numpy as np

    sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
    from make_golden_fixtures import import_original

    o = import_original(args.original_repo)
    torch = o.torch
    torch.set_num_interop_threads(args.threads)
    torch.set_num_threads(args.threads)
    tokens = torch.from_numpy(np.load(args.batches_file).astype(np.int64))
    labels = torch.zeros((BATCH_SIZE, 9), dtype=torch.int64)  # the training loss never reads them
    batches = [(batch, labels) for batch in tokens]
    reply("ready", framework=f"PyTorch {torch.__version__}",
          threads=[torch.get_num_threads(), torch.get_num_interop_threads()])
    trainers = {}
    for line in sys.stdin:
        key = line.strip()
        if key not in trainers:
            trainers[key] = _original_trainer(o, *key.split(":"))
            # epoch 0: within the warm-up (β-VAE, Annealed-VAE), and the loop's logging stays off.
            trainers[key].loss_and_acc_on_epoch(batches[:WARMUP_STEPS], epoch_num=0, train=True)
        wall, cpu = time.perf_counter(), time.process_time()
        trainers[key].loss_and_acc_on_epoch(batches[1:args.steps + 1], epoch_num=0, train=True)
        reply("result", **_timing(args.steps, time.perf_counter() - wall, time.process_time() - cpu))


def _serve(args):
    """Runs a worker: replies go to the real stdout; anything the libraries print goes to stderr."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def reply(kind, **values):
        replies.write(f"{_REPLY}{kind} {json.dumps(values)}\n")

    (_ours_worker if args.worker == "ours" else _original_worker)(args, reply)


# -------------------------------------------------------------------------------------------- parent
class Worker:
    """One side's long-lived process: ``time(model)`` sends a request and waits for its timing."""

    def __init__(self, name: str, command: list[str], log_path: str, threads: int):
        self.name, self.log_path = name, log_path
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                   TF_CPP_MIN_LOG_LEVEL="3")
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                            text=True, bufsize=1, env=env, cwd=REPO_ROOT)

    def read(self, kind: str) -> dict:
        for line in self.process.stdout:
            if line.startswith(_REPLY):
                got, values = line[len(_REPLY):].split(" ", 1)
                if got == kind:
                    return json.loads(values)
        self.process.wait()
        with open(self.log_path) as log:
            tail = "".join(log.readlines()[-25:])
        raise RuntimeError(f"the {self.name} worker stopped (exit status {self.process.returncode}) before "
                           f"replying {kind!r}; the end of its log:\n{tail}")

    def time(self, model: str) -> dict:
        self.process.stdin.write(model + "\n")
        self.process.stdin.flush()
        return self.read("result")

    def close(self):
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _check_original_repo(parser, path: str) -> str:
    if not os.path.isdir(path):
        parser.error(f"--original_repo={path}: no such directory (give a checkout of "
                     "ashispati/dmelodies_benchmarking)")
    missing = [name for name in ORIGINAL_FILES if not os.path.isfile(os.path.join(path, name))]
    if missing:
        parser.error(f"--original_repo={path} is not a checkout of ashispati/dmelodies_benchmarking: it has no "
                     + ", ".join(missing))
    return os.path.abspath(path)


def _check_torch_python(parser, path: str) -> str:
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        parser.error(f"--torch_python={path}: no such executable; {TORCH_VENV_HELP}")
    try:
        probe = subprocess.run([path, "-c", "import numpy, torch; print(torch.__version__)"],
                               capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        parser.error(f"--torch_python={path} took over 300 s to import torch")
    if probe.returncode:
        last = (probe.stderr.strip().splitlines() or ["(no message)"])[-1]
        parser.error(f"--torch_python={path} cannot import torch and numpy ({last}); {TORCH_VENV_HELP}")
    return path


def _model_key(text: str) -> str:
    architecture, _, method = text.partition(":")
    if method == "factor_vae":
        raise argparse.ArgumentTypeError(f"{text!r}: {FACTOR_VAE_UNAVAILABLE}")
    if architecture not in ARCHITECTURES or method not in METHODS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected ARCHITECTURE:METHOD with ARCHITECTURE in {ARCHITECTURES} and METHOD in {METHODS}")
    return text


def _positive(text: str) -> int:
    # benchmarks.cli.positive_int's twin: this file also runs under the original's Python (--worker=original),
    # which has no TensorFlow Datasets to import the project with, so it imports nothing of the project at the top.
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--original_repo", help="a checkout of ashispati/dmelodies_benchmarking")
    parser.add_argument("--torch_python", default="/tmp/torchenv/bin/python",
                        help="a Python with torch and numpy (a separate virtual environment)")
    parser.add_argument("--models", nargs="+", type=_model_key, default=["cnn:beta_vae", "rnn:beta_vae"],
                        help="ARCHITECTURE:METHOD pairs to time")
    parser.add_argument("--repetitions", type=_positive, default=5, help="timed pairs per model")
    parser.add_argument("--steps", type=_positive, default=40, help="training steps per timing")
    parser.add_argument("--threads", type=_positive, default=2, help="intra- and inter-op threads, both sides")
    parser.add_argument("--config", default="full", help="dmelodies builder config of the train split")
    parser.add_argument("--data_dir", help="TFDS data_dir (default: TFDS's)")
    parser.add_argument("--worker", choices=["ours", "original"], help=argparse.SUPPRESS)
    parser.add_argument("--batches_file", help=argparse.SUPPRESS)
    return parser


def _summary(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.2f}x (range {min(ratios):.2f}-{max(ratios):.2f})"


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.worker:
        return _serve(args)
    if not args.original_repo:
        parser.error("--original_repo is required")
    args.original_repo = _check_original_repo(parser, args.original_repo)
    args.torch_python = _check_torch_python(parser, args.torch_python)

    common = [f"--steps={args.steps}", f"--threads={args.threads}"]
    with tempfile.TemporaryDirectory(prefix="compare_original_") as scratch:
        batches_file = os.path.join(scratch, "batches.npy")
        workers = []
        try:
            ours = Worker("ours", [sys.executable, os.path.abspath(__file__), "--worker=ours", *common,
                                   f"--batches_file={batches_file}", f"--config={args.config}"]
                          + ([f"--data_dir={args.data_dir}"] if args.data_dir else []),
                          os.path.join(scratch, "ours.log"), args.threads)
            workers.append(ours)
            ours_info = ours.read("ready")  # the batches file exists from here on
            original = Worker("original", [args.torch_python, os.path.abspath(__file__), "--worker=original",
                                           *common, f"--batches_file={batches_file}",
                                           f"--original_repo={args.original_repo}"],
                              os.path.join(scratch, "original.log"), args.threads)
            workers.append(original)
            original_info = original.read("ready")
            print(f"CPU: {os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
                  "(1, 5, 15 min; other work shares them)")
            print(f"ours: {ours_info['framework']}; original: {original_info['framework']}; "
                  f"intra/inter-op threads {ours_info['threads']} / {original_info['threads']}")
            if args.threads > 1 and os.getloadavg()[0] > os.cpu_count():
                print(f"warning: load average above {os.cpu_count()} cores with {args.threads} threads: the "
                      "original's OpenMP threads may spin-wait for descheduled ones; prefer --threads=1")
            print(f"batch {BATCH_SIZE}, {args.steps} timed steps per timing after {WARMUP_STEPS} warm-up steps, "
                  f"{args.repetitions} interleaved pairs per model")
            print(f"{'model':<18} {'pair':>4} {'ours steps/s':>13} {'CPU ms':>7} {'original steps/s':>17} "
                  f"{'CPU ms':>7} {'ratio':>6} {'CPU ratio':>9}", flush=True)
            ratios, cpu_ratios = {}, {}
            for model in args.models:
                for repetition in range(args.repetitions):
                    order = (ours, original) if repetition % 2 == 0 else (original, ours)
                    timings = {worker.name: worker.time(model) for worker in order}
                    mine, theirs = timings["ours"], timings["original"]
                    ratio = mine["steps_per_s"] / theirs["steps_per_s"]
                    ratios.setdefault(model, []).append(ratio)
                    cpu_ratio = theirs["cpu_ms_per_step"] / mine["cpu_ms_per_step"]
                    cpu_ratios.setdefault(model, []).append(cpu_ratio)
                    print(f"{model.replace(':', ' '):<18} {repetition + 1:>4} {mine['steps_per_s']:13.1f} "
                          f"{mine['cpu_ms_per_step']:7.0f} {theirs['steps_per_s']:17.1f} "
                          f"{theirs['cpu_ms_per_step']:7.0f} {ratio:6.2f} {cpu_ratio:9.2f}", flush=True)
        finally:
            for worker in workers:
                worker.close()
    print(f"load average afterwards {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("ours / original, median of the interleaved pairs:")
    for model, values in ratios.items():
        print(f"  {model.replace(':', ' '):<18} steps/s {_summary(values)}; "
              f"steps per CPU second {_summary(cpu_ratios[model])}")


if __name__ == "__main__":
    main()
