"""Scoring wall time against numpy's BLAS threads, for one scoring alone and for several sharing the cores.

    python perf/blas_threads.py --model_dir RUN [--metric downstream_task ...] [--concurrent 2] [--repetitions 2]

scikit-learn's solvers (disentanglement_lib's logistic regressions, its LinearSVCs) call numpy's BLAS, which
by default starts one thread per core; for the many small products of these classifiers the threads cost
more than they give, most of all when other scorings or a training run hold the cores. ``benchmarks.evaluate``
therefore runs every metric with BLAS on one thread (``evaluation.blas_threads = 1``). This script measures
that choice as one interleaved ratio: each repetition starts ``--concurrent`` copies of
``python -m benchmarks.evaluate --gin_file=gin_configs/metrics/<metric>.gin`` at once, with the library's
default (``--gin_bindings=evaluation.blas_threads = None``) and with evaluate's one thread (the order
alternates between repetitions), each on its own scratch copy of the run (its ``metrics/`` is never touched).
It prints each scoring's seconds (the metric's own ``elapsed_seconds``, encoding included, TensorFlow's
start-up not) and, per repetition, the ratio of the two settings' slowest scorings; ``--concurrent 1``
measures a scoring alone. The scores of both settings are compared too: the thread count changes only
the order of floating-point sums.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
from benchmarks import cli  # noqa: E402
BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# setting -> the extra arguments of benchmarks.evaluate
SETTINGS = {"library": ["--gin_bindings=evaluation.blas_threads = None"], "one": []}
RUN_FILES = ("encoder.keras", "decoder.keras", "results.json", "config.gin", "operative_config.gin")


def scratch_copy(model_dir: str, into: str) -> str:
    """The files ``benchmarks.evaluate`` reads from a run, copied to a fresh folder under ``into``."""
    copy = tempfile.mkdtemp(dir=into)
    for name in RUN_FILES:
        if os.path.isfile(os.path.join(model_dir, name)):
            shutil.copy2(os.path.join(model_dir, name), copy)
    return copy


def environment() -> dict:
    """This environment without the variables that would fix BLAS' threads for the whole process."""
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARIABLES}
    return dict(env, TF_CPP_MIN_LOG_LEVEL="3")


def score_concurrently(copies: list[str], metric: str, setting: str) -> list[dict]:
    """Starts one scoring per copy at once; returns each one's elapsed seconds and scalar scores."""
    config = os.path.join(REPO_ROOT, "gin_configs", "metrics", f"{metric}.gin")
    processes = [subprocess.Popen([sys.executable, "-m", "benchmarks.evaluate", f"--model_dir={copy}",
                                   f"--gin_file={config}", *SETTINGS[setting]], cwd=REPO_ROOT, env=environment(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for copy in copies]
    done = []
    for copy, process in zip(copies, processes):
        _, errors = process.communicate()
        if process.returncode:
            raise SystemExit(f"error: the scoring of {copy} failed (exit status {process.returncode}):\n"
                             + "\n".join(errors.strip().splitlines()[-15:]))
        with open(os.path.join(copy, "metrics", f"{metric}.json")) as file:
            result = json.load(file)
        scores = {k: v for scores in result["scores"].values() for k, v in scores.items() if isinstance(v, float)}
        done.append({"seconds": result["elapsed_seconds"], "scores": scores})
        os.remove(os.path.join(copy, "metrics", f"{metric}.json"))
    return done


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="a finished training run (read only)")
    parser.add_argument("--metric", nargs="+", default=["downstream_task"],
                        help="configs of gin_configs/metrics/, measured one after another")
    parser.add_argument("--concurrent", type=cli.positive_int, default=os.cpu_count(), help="scorings started at once")
    parser.add_argument("--repetitions", type=cli.positive_int, default=2)
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.model_dir, "encoder.keras")):
        parser.error(f"--model_dir={args.model_dir}: no encoder.keras there (give a finished training run)")
    for metric in args.metric:
        if not os.path.isfile(os.path.join(REPO_ROOT, "gin_configs", "metrics", f"{metric}.gin")):
            parser.error(f"--metric={metric}: no gin_configs/metrics/{metric}.gin")
    for metric in args.metric:
        measure(args.model_dir, metric, args.concurrent, args.repetitions)


def measure(model_dir: str, metric: str, concurrent: int, repetitions: int) -> None:
    load = os.getloadavg()[0]
    print(f"{metric} on {model_dir}: {concurrent} scoring(s) at once, {os.cpu_count()} CPUs, "
          f"load {load:.1f} before starting")
    if load > 0.5:
        print("warning: other work is running (or has just stopped); the ratio of one repetition is still a "
              "fair comparison, the seconds are not", flush=True)
    settings = tuple(SETTINGS)
    seconds = {setting: [] for setting in settings}
    ratios, scores = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        copies = [scratch_copy(model_dir, scratch) for _ in range(concurrent)]
        for repetition in range(repetitions):
            slowest = {}
            for setting in settings if repetition % 2 == 0 else settings[::-1]:
                start = time.perf_counter()
                done = score_concurrently(copies, metric, setting)
                wall = time.perf_counter() - start
                seconds[setting] += [d["seconds"] for d in done]
                slowest[setting] = max(d["seconds"] for d in done)
                scores[setting] = done[0]["scores"]
                print(f"repetition {repetition + 1}, BLAS threads {setting:>7}: "
                      + ", ".join(f"{d['seconds']:.1f} s" for d in done) + f" (wall {wall:.1f} s)", flush=True)
            ratios.append(slowest["library"] / slowest["one"])
            print(f"repetition {repetition + 1}: library's threads / one thread = {ratios[-1]:.2f}", flush=True)
    for setting in settings:
        print(f"BLAS threads {setting:>7}: median {statistics.median(seconds[setting]):.1f} s a scoring")
    print(f"ratio library's threads / one thread (slowest scoring of each repetition): median {statistics.median(ratios):.2f}"
          f" (range {min(ratios):.2f}-{max(ratios):.2f})")
    differences = [abs(scores["library"][k] - scores["one"][k]) for k in scores["one"] if k in scores["library"]]
    print(f"scores: largest difference between the two settings {max(differences, default=0.0):.2e}\n", flush=True)


if __name__ == "__main__":
    main()
