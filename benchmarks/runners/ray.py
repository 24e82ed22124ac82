r"""The sweep on Ray: every run a Ray task, retried when its worker dies.

    python -m benchmarks.sweep --root=/shared/runs --runner=ray --address=auto [--cpus_per_run=2] \
        [--gpus_per_run=1]                             # a cluster (`ray start --head`, `ray start --address=…`)
    python -m benchmarks.sweep --root=runs --runner=ray --ray_num_cpus=4   # a Ray instance on this machine

A task runs what the local sweep runs for its run (:func:`benchmarks.runners.local.run_commands`), each command in
its own process so that no TensorFlow state passes between runs: ``benchmarks.train``, which resumes from
the run's checkpoints, returns at once for a finished run with the same configuration and refuses a
different one, then ``benchmarks.evaluate`` for each metric the run lacks. When the task's worker or its
training process is killed (a lost node, the out-of-memory killer), Ray runs the task again, up to
``--max_retries`` times, and the run resumes from its last checkpoint; a run that fails with an error
(a configuration refused, a non-finite loss) is reported and not retried. The driver prints a line as each
run starts, finishes or fails, then a table of every run.

Every node must see ``--root`` at the same path (NFS, Lustre, a cloud file system), hold this project at
the driver's path (the runs name their gin files by absolute path) and the prepared dataset. The sweep
checks what it can: with ``--address``, ``--root`` must be absolute; the driver writes a file under
``--root`` and, before submitting anything, every live node with room for a run must see it and the runs'
gin files; each task looks for that file again on its own node before it starts (nodes that joined
later). The check proves that a node sees the folder when it looks, not that the file system keeps
nodes consistent (NFS attribute caching), nor that the dataset is shared.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
import time
import uuid
from typing import Sequence

from benchmarks.runners import local
from benchmarks.study.grid import Run
from dmelodies_tfds.atomic import write_text

# The options of :func:`run_sweep` (and the sweep command's Ray flags, named alike).
OPTIONS = ("address", "ray_num_cpus", "cpus_per_run", "gpus_per_run", "max_retries")
# The driver and its tasks pass only small messages: Ray's minimum object store (75 MiB) and a little.
OBJECT_STORE_BYTES = 100 * 2**20
PROGRESS_INTERVAL_S = 1.0

# Runs a command after asking Linux to kill it when its parent, the Ray worker, dies (PR_SET_PDEATHSIG = 1):
# a killed worker would otherwise leave its training running, holding the run's lock, and the retried task
# would find the run in use. The parent's pid catches a worker that died before the request was made.
_DIE_WITH_WORKER = ("import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGKILL); "
                    "os.getppid() == int(sys.argv[1]) or sys.exit('the Ray worker has exited'); "
                    "os.execv(sys.argv[2], sys.argv[2:])")


class RunInterrupted(Exception):
    """A run's process was killed by a signal: Ray retries the task, and the run resumes."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a run of the sweep ended: ``done``, ``skipped`` (finished before, same configuration) or ``failed``."""

    index: int
    name: str
    state: str
    detail: str = ""


def run_sweep(runs: Sequence[Run], root: str, extra_bindings: Sequence[str] = (),
              metrics: Sequence[str] = (), *, address: str | None = None, ray_num_cpus: int | None = None,
              cpus_per_run: float = 1.0, gpus_per_run: float = 0.0, max_retries: int = 3) -> list[Outcome]:
    """Runs ``runs`` (a whole selection: a run's position is its index) as Ray tasks; their outcomes.

    Without ``address`` a Ray instance with ``ray_num_cpus`` CPUs is started on this machine for the
    sweep, and stopped after it.
    """
    try:  # an optional extra, imported only here: the local sweep neither needs it nor waits for it
        import ray
    except ImportError:
        raise ValueError("--runner=ray needs Ray: pip install -e '.[ray]'") from None
    if not runs:
        raise ValueError("no run to sweep")
    root = shared_root(root, address)
    if address is not None and ray_num_cpus is not None:
        raise ValueError("--ray_num_cpus sizes the Ray instance started without --address; a cluster has its own")
    if cpus_per_run < 0 or gpus_per_run < 0 or max_retries < 0:
        raise ValueError("--cpus_per_run, --gpus_per_run and --max_retries cannot be negative")
    quiet = dict(log_to_driver=False, logging_level=logging.WARNING)
    if "KERAS_BACKEND" in os.environ:  # the sweep's --backend: every run's process trains on it
        quiet["runtime_env"] = {"env_vars": {"KERAS_BACKEND": os.environ["KERAS_BACKEND"]}}
    if address is None:
        ray.init(address="local", num_cpus=ray_num_cpus, object_store_memory=OBJECT_STORE_BYTES,
                 include_dashboard=False, **quiet)
    else:
        try:
            ray.init(address=address, **quiet)
        except ConnectionError as error:
            raise ValueError(f"cannot join the Ray cluster at --address={address}: {error}") from None
    try:
        with _marker(root) as marker:
            _check_nodes([marker, *sorted({run.gin_file for run in runs})], cpus_per_run, gpus_per_run)
            task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=max_retries,
                              retry_exceptions=[RunInterrupted])(_train_and_score)
            outcomes = _follow(task, runs, root, extra_bindings, metrics, marker, max_retries)
    finally:
        ray.shutdown()
    _print_table(outcomes)
    return outcomes


def shared_root(root: str, address: str | None) -> str:
    """``root`` as the tasks see it: absolute. A relative path names different folders on different nodes
    (each worker has its own working directory), so on a cluster it is refused."""
    if os.path.isabs(root):
        return root
    if address is not None:
        raise ValueError(f"--root={root} is relative: on a Ray cluster give the absolute path of a folder that "
                         "every node mounts at the same place")
    return os.path.abspath(root)


@contextlib.contextmanager
def _marker(root: str):
    """A file only this sweep writes under ``root``: a node that sees it sees the driver's folder."""
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, f".ray-sweep-{uuid.uuid4().hex}")
    write_text(path, "")
    try:
        yield path
    finally:
        os.remove(path)


def _missing_here(paths: Sequence[str]) -> tuple[str, list[str]]:
    """This node's name and those of ``paths`` it does not see."""
    return socket.gethostname(), [path for path in paths if not os.path.isfile(path)]


def _check_nodes(paths: Sequence[str], cpus_per_run: float, gpus_per_run: float) -> None:
    """Refuses to start when a live node with room for a run does not see every one of ``paths``."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [node for node in ray.nodes() if node["Alive"] and node["Resources"].get("CPU", 0) >= cpus_per_run
             and node["Resources"].get("GPU", 0) >= gpus_per_run]
    if not nodes:
        raise ValueError(f"no node of the Ray cluster has {cpus_per_run:g} CPUs and {gpus_per_run:g} GPUs for a run")
    probe = ray.remote(num_cpus=0, max_retries=0)(_missing_here)
    problems = []
    for node in nodes:
        strategy = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        try:
            host, missing = ray.get(probe.options(scheduling_strategy=strategy).remote(paths))
        except ray.exceptions.RayError as error:
            problems.append(f"{node['NodeManagerAddress']} cannot run this project: {_first_line(error)}")
            continue
        if missing:
            problems.append(f"{host} ({node['NodeManagerAddress']}) does not see {', '.join(missing)}")
    if problems:
        raise ValueError("every node must see --root and this project at the driver's paths (shared storage): "
                         + "; ".join(problems))


def _train_and_score(index: int, run: Run, root: str, extra_bindings: Sequence[str],
                     metrics: Sequence[str], marker: str, progress) -> tuple[str, str]:
    """The Ray task of one run: (state, detail) as in :class:`Outcome`."""
    import ray

    host, missing = _missing_here([marker, run.gin_file])
    if missing:
        return "failed", f"node {host} does not see {', '.join(missing)}: --root must be on shared storage"
    state = local.status(run, root)
    commands = local.run_commands(run, root, extra_bindings, metrics)
    progress.put((index, run.name, f"started on {host} ({state})"))
    start = time.monotonic()
    if sys.platform.startswith("linux"):
        commands = [[sys.executable, "-c", _DIE_WITH_WORKER, str(os.getpid()), *command] for command in commands]
    # Ray sets CUDA_VISIBLE_DEVICES for a task it gives GPUs but not for one it gives none (Ray 2.60): a run
    # without GPUs must not see the node's, or every run's TensorFlow would take them.
    env = None if ray.get_gpu_ids() else dict(os.environ, CUDA_VISIBLE_DEVICES="")
    failed = local.execute(commands, capture_output=True, text=True, env=env)
    if failed is None:
        if state == "finished" and len(commands) == 1:
            return "skipped", "finished before, with the same configuration"
        return "done", f"{time.monotonic() - start:.0f} s"
    program = failed.args[failed.args.index("-m") + 1]
    if failed.returncode < 0:
        raise RunInterrupted(f"{program} was killed by {signal.Signals(-failed.returncode).name}")
    lines = failed.stderr.strip().splitlines()
    # The entry points end with "error: <what went wrong>"; anything else is a crash: its traceback's end.
    errors = [i for i, line in enumerate(lines) if line.startswith("error:")]
    return "failed", f"{program}: " + "\n".join(lines[errors[0]:] if errors else lines[-20:])


def _follow(task, runs, root, extra_bindings, metrics, marker, max_retries) -> list[Outcome]:
    """Submits every run and prints a line as each starts, finishes or fails; the outcomes in index order."""
    import ray
    from ray.util.queue import Queue

    progress = Queue(actor_options={"num_cpus": 0})
    pending = {task.remote(index, run, root, tuple(extra_bindings), tuple(metrics), marker, progress): (index, run)
               for index, run in enumerate(runs)}
    outcomes = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=PROGRESS_INTERVAL_S)
        for index, name, message in progress.get_nowait_batch(progress.qsize()):
            print(f"[{index}] {name}: {message}", flush=True)
        for reference in ready:
            index, run = pending.pop(reference)
            try:
                state, detail = ray.get(reference)
            except ray.exceptions.RayError as error:
                killed = isinstance(error, ray.exceptions.WorkerCrashedError) or isinstance(
                    getattr(error, "cause", None), RunInterrupted)
                state, detail = "failed", _first_line(error) + (f" (retried {max_retries} times)" if killed else "")
            outcomes[index] = Outcome(index, run.name, state, detail)
            print(f"[{index}] {run.name}: {state}" + (f": {detail}" if detail else ""), flush=True)
    return [outcomes[index] for index in sorted(outcomes)]


def _first_line(error: Exception) -> str:
    """The message of a Ray error: the original exception's when a task raised one."""
    cause = getattr(error, "cause", None) or error
    return f"{type(cause).__name__}: " + (str(cause).strip().splitlines() or [""])[0]


def _print_table(outcomes: Sequence[Outcome]) -> None:
    """Every run's index, name, outcome and the first line of its detail; then the count of each outcome."""
    width = max(len(outcome.name) for outcome in outcomes)
    print(f"\n{'index':>5}  {'run':<{width}}  {'outcome':<7}  detail")
    for outcome in outcomes:
        detail = outcome.detail.splitlines()[0] if outcome.detail else ""
        print(f"{outcome.index:>5}  {outcome.name:<{width}}  {outcome.state:<7}  {detail}")
    counts = {state: sum(outcome.state == state for outcome in outcomes) for state in ("done", "skipped", "failed")}
    print(", ".join(f"{count} {state}" for state, count in counts.items()), flush=True)
