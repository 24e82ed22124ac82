"""The benchmark on an accelerator, in one call: JAX step timings, then as much of the paper's full-budget
CNN β-VAE grid as the time allows, packed into a few files that come back and resume or score elsewhere.

    KERAS_BACKEND=jax python perf/gpu_check.py --out OUT [--seconds 480] [--stack 3 --parallel 3] [--resume_from DIR] [--tiny]

It needs no TensorFlow, TFDS or disentanglement_lib: the melodies come from the numpy core
(``train.dataset = @GeneratedSource()``, the same arrays in the same order as the TFDS dataset's) and the
runs train on Keras' JAX backend (docs/training.md, "On JAX or PyTorch"). ``perf/gpu_check.sh`` is the
wrapper that installs carried wheels first; docs/performance.md says how to carry them.

1. **Timings** (``timings.json``): the CNN and the RNN β-VAE's training step at batch 512, jitted as
   Keras' ``fit()`` jits it on JAX, once for one model and once for ``--members`` models stacked along a
   leading axis with ``jax.vmap`` (the form an accelerator rewards: one kernel launch trains them all).
2. **The grid**: ``benchmarks.sweep --preset=paper --filter=cnn_beta_vae`` (3 β × 3 seeds, 100 epochs;
   ``--preset`` and ``--filter`` pick other runs, at most five grid points a call),
   every run a process of its own side by side, stopped at the deadline. Runs checkpoint every 1,000
   steps and after each epoch, so a stopped run resumes where its newest checkpoint left it.
3. **The files**: ``runs-<point>.tar.gz`` per grid point (each run folder, with only its newest
   checkpoint), ``timings.json`` and ``sweep.log``. ``--resume_from`` a folder of such archives unpacks
   them first, so the grid goes on across calls; ``python perf/gpu_check.py --unpack FOLDER --root ROOT``
   unpacks them anywhere, where ``benchmarks.sweep --root=ROOT --preset=paper --filter=cnn_beta_vae
   --backend=jax --gin_bindings="train.dataset = @GeneratedSource()"`` resumes the unfinished runs and
   scores the finished ones (with the runs' own data binding: a run resumes only as it was configured).

``--tiny`` checks the whole path on a CPU in a few minutes: small batches and steps, the ``tiny`` melodies,
one epoch of a few steps per run.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY)
from dmelodies_tfds.atomic import atomic_path, write_text  # noqa: E402

GRID_FILTER = "cnn_beta_vae"
TIMINGS_SHARE = 0.35  # of the budget: the grid's training gets the rest
CHECKPOINT = re.compile(r"ckpt-(\d+)\.")


def time_steps(arch: str, batch_size: int, steps: int, members: int) -> dict:
    """Seconds per jitted training step of one β-VAE, and of ``members`` of them under ``jax.vmap``."""
    import jax
    import keras
    import numpy as np

    from benchmarks.models import build_cnn_vae, build_rnn_vae
    from benchmarks.objectives import BetaVAE

    keras.utils.set_random_seed(0)
    model = BetaVAE((build_cnn_vae if arch == "cnn" else build_rnn_vae)(), steps_per_epoch=100)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    model.build_optimizers()
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in model.optimizer.variables], [v.value for v in model.metrics_variables])
    tokens = np.random.default_rng(0).integers(0, 52, size=(members, batch_size, 16)).astype("int32")
    found = {}
    for name, count in (("single", 1), (f"stacked_x{members}", members)):
        if count == 1:
            step, current, data = jax.jit(model.train_step), state, (tokens[0],)
        else:
            step = jax.jit(jax.vmap(model.train_step))
            current = jax.tree_util.tree_map(lambda value: jax.numpy.stack([value] * count), state)
            data = (tokens,)
        started = time.perf_counter()
        logs, current = step(current, data)
        jax.block_until_ready(current)
        compile_s = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(steps):
            logs, current = step(current, data)
        jax.block_until_ready(current)
        seconds = (time.perf_counter() - started) / steps
        found[name] = {"models": count, "s_per_step": seconds, "model_steps_per_s": count / seconds,
                       "compile_s": compile_s, "loss": float(np.mean(np.asarray(logs["loss"])))}
    return found


def timings(tiny: bool, members: int, deadline: float) -> dict:
    """Both architectures' step timings, the RNN's skipped (and said so) once ``deadline`` has passed."""
    import jax

    batch_size, steps = (32, 3) if tiny else (512, 200)
    result = {"devices": [str(device) for device in jax.devices()], "jax": jax.__version__,
              "python": platform.python_version(), "batch_size": batch_size, "timed_steps": steps}
    for arch in ("cnn", "rnn"):
        if time.time() > deadline:
            result[arch] = "skipped: the timings' share of the budget was spent"
            print(f"{arch}: {result[arch]}", flush=True)
            continue
        result[arch] = time_steps(arch, batch_size, steps, members)
        print(f"{arch}: " + ", ".join(f"{name} {1000 * value['s_per_step']:.2f} ms/step "
                                      f"({value['model_steps_per_s']:.0f} model-steps/s)"
                                      for name, value in result[arch].items()), flush=True)
    return result


def sweep_command(root: str, tiny: bool, parallel: int, filters: list[str], stack: int = 1,
                  preset: str = "paper") -> list[str]:
    bindings = ["train.dataset = @GeneratedSource()", "train.verbose = 2"]
    if tiny:
        bindings += ["GeneratedSource.config = 'tiny'", "train.epochs = 1", "train.steps_per_epoch = 4",
                     "train.batch_size = 32", "train.validation_steps = 2"]
    command = [sys.executable, "-m", "benchmarks.sweep", f"--root={root}", f"--preset={preset}", "--backend=jax",
               f"--parallel={parallel}", f"--stack={stack}", "--metrics=none"]
    command += [f"--filter={pattern}" for pattern in filters]
    return command + [f"--gin_bindings={binding}" for binding in bindings]


def run_until(command: list[str], deadline: float, log_path: str) -> int | None:
    """Runs ``command`` (its own process group) until it ends or ``deadline``; then interrupts every run
    in it, as an interrupted run leaves its checkpoints intact. The exit code, or None when stopped."""
    with open(log_path, "a") as log:
        process = subprocess.Popen(command, cwd=REPOSITORY, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            return process.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            return None


def grid_state(root: str) -> dict:
    """Per run folder under ``root``: whether it finished and the step of its newest checkpoint."""
    state = {}
    for folder in run_folders(root):
        names = os.listdir(os.path.join(folder, "checkpoints")) if os.path.isdir(os.path.join(folder, "checkpoints")) else []
        steps = [int(match.group(1)) for match in map(CHECKPOINT.search, names) if match]
        state[os.path.relpath(folder, root)] = {"finished": os.path.exists(os.path.join(folder, "results.json")),
                                                "newest_checkpoint_step": max(steps, default=0)}
    return state


def run_folders(root: str) -> list[str]:
    """Every run folder under ``root`` (one that holds a ``config.gin``), at any depth: a preset may put
    its grid under folders of its own (the reference study's ``s=<scale>/``)."""
    return sorted(folder for folder, _, names in os.walk(root) if "config.gin" in names)


def newest_checkpoint_only(member: tarfile.TarInfo, newest: dict[str, int]) -> bool:
    match = CHECKPOINT.search(os.path.basename(member.name))
    return match is None or int(match.group(1)) == newest.get(os.path.dirname(member.name), -1)


def pack(root: str, out: str) -> list[str]:
    """One ``runs-<point>.tar.gz`` per grid point, each unfinished run with its newest checkpoint only and
    each finished one without checkpoints (it resumes no more; scoring reads its saved networks)."""
    written = []
    newest = {os.path.join(run, "checkpoints"): -1 if state["finished"] else state["newest_checkpoint_step"]
              for run, state in grid_state(root).items()}
    for point in sorted({os.path.dirname(folder) for folder in run_folders(root)}):
        name = "runs-" + re.sub(r"[^A-Za-z0-9._-]", "_", os.path.relpath(point, root)) + ".tar.gz"
        target = os.path.join(out, name)
        with atomic_path(target) as temporary, tarfile.open(temporary, "w:gz") as archive:
            archive.add(point, arcname=os.path.relpath(point, root),
                        filter=lambda member: member if newest_checkpoint_only(member, newest) else None)
        written.append(target)
    return written


def unpack(folder: str, root: str) -> list[str]:
    """Unpacks every ``runs-*.tar.gz`` of ``folder`` under ``root``; refuses members that would land
    outside it, links and devices (tarfile's ``data`` filter)."""
    names = []
    for path in sorted(glob.glob(os.path.join(folder, "runs-*.tar.gz"))):
        with tarfile.open(path) as archive:
            archive.extractall(root, filter="data")
            names.append(os.path.basename(path))
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="folder for the archives, timings.json and sweep.log")
    parser.add_argument("--seconds", type=float, default=480, help="the whole check's time budget")
    parser.add_argument("--members", type=int, default=9, help="models stacked in the vmapped timing")
    parser.add_argument("--parallel", type=int, default=9, help="runs (or stacked groups) of the grid side by side")
    parser.add_argument("--stack", type=int, default=1, help="train up to this many of a grid point's seeds as one "
                        "model under jax.vmap (benchmarks.stacked); with --stack 3, --parallel 3 runs the grid")
    parser.add_argument("--preset", default="paper", help="the sweep preset whose runs train (benchmarks.study.grid); "
                        "at most 5 of its grid points a call, as each comes back as one archive")
    parser.add_argument("--filter", action="append", default=[],
                        help=f"runs of the grid to train (default: every {GRID_FILTER} run)")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "gpu_check"),
                        help="where the runs train (outside --out, which receives only the archives)")
    parser.add_argument("--resume_from", help="a folder of runs-*.tar.gz archives from an earlier check")
    parser.add_argument("--unpack", help="only unpack the archives of this folder under --root")
    parser.add_argument("--root", help="with --unpack: where the run folders go")
    parser.add_argument("--tiny", action="store_true", help="a few-minute check of the whole path on a CPU")
    parser.add_argument("--skip_timings", action="store_true")
    args = parser.parse_args(argv)
    if args.unpack:
        if not args.root:
            parser.error("--unpack needs --root")
        print("\n".join(unpack(args.unpack, args.root)) or f"no runs-*.tar.gz in {args.unpack}")
        return
    if not args.out:
        parser.error("--out is required")
    deadline = time.time() + args.seconds
    os.environ["KERAS_BACKEND"] = "jax"  # before Keras loads, here and in every run
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # runs side by side share the device
    os.makedirs(args.out, exist_ok=True)
    root = os.path.join(os.path.abspath(args.work), "runs")
    if args.resume_from:
        print("resuming:", ", ".join(unpack(args.resume_from, root)) or "nothing to resume", flush=True)
    found = {"budget_s": args.seconds}
    if not args.skip_timings:
        found.update(timings(args.tiny, args.members, time.time() + TIMINGS_SHARE * args.seconds))
    sweep_started = time.time()
    code = run_until(sweep_command(root, args.tiny, args.parallel, args.filter or [GRID_FILTER], args.stack,
                                   args.preset),
                     deadline - 30, os.path.join(args.out, "sweep.log"))
    found["grid"] = {"sweep_s": time.time() - sweep_started, "exit_code": code,
                     "stopped_at_deadline": code is None, "runs": grid_state(root)}
    write_text(os.path.join(args.out, "timings.json"), json.dumps(found, indent=1))
    if code:
        with open(os.path.join(args.out, "sweep.log")) as log:
            print(f"the sweep failed (exit code {code}); the end of sweep.log:\n" + "".join(log.readlines()[-20:]))
    for run, state in found["grid"]["runs"].items():
        print(f"{run}: {'finished' if state['finished'] else 'at step ' + str(state['newest_checkpoint_step'])}")
    print("wrote", ", ".join(os.path.basename(p) for p in pack(root, args.out)), flush=True)


if __name__ == "__main__":
    main()
