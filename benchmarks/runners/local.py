"""Running a sweep's runs on this machine: one after another, or several side by side, each command in
its own process (no TensorFlow state passes from one run to the next).

What a run needs is :func:`run_commands`: ``benchmarks.train``, which resumes an interrupted run, returns a
finished run with the same configuration at once and refuses a different one, then ``benchmarks.evaluate``
for each metric config the run lacks. Consecutive runs of one gin file and a method that stacks can train
as one model (:func:`stacked_groups`, ``benchmarks.stacked``).
"""
from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from typing import Sequence

from benchmarks import run_dir
from benchmarks.gin_config import is_seed_binding
from benchmarks.study.grid import Run
from benchmarks.study.methods import STACKABLE
from benchmarks.study.suites import metric_name


def status(run: Run, root: str) -> str:
    """``finished``, ``interrupted`` or ``new`` (:func:`benchmarks.run_dir.status`)."""
    return run_dir.status(run.model_dir(root))


def missing_metrics(run: Run, root: str, metrics: Sequence[str]) -> list[str]:
    """The metric configs whose results file the run does not hold yet."""
    missing = set(run_dir.missing_metrics(run.model_dir(root), [metric_name(m) for m in metrics]))
    return [m for m in metrics if metric_name(m) in missing]


def run_commands(run: Run, root: str, extra_bindings: Sequence[str] = (), metrics: Sequence[str] = (),
                 only_missing: bool = True) -> list[list[str]]:
    """What every backend runs for ``run``: ``benchmarks.train``, then ``benchmarks.evaluate`` for each metric
    config the run lacks (every one of ``metrics`` when not ``only_missing``: what ``--dry_run`` lists).

    A finished run is still handed to ``train``: it returns at once when the configuration is the same and
    refuses a different one, which must not pass as "finished".
    """
    scored = missing_metrics(run, root, metrics) if only_missing else metrics
    return [run.command(root, extra_bindings), *(run.evaluate_command(root, m) for m in scored)]


def stacked_groups(runs: Sequence[Run], size: int, seeds_only: bool = False) -> list[list[Run]]:
    """``runs`` in order, cut into groups that train as one stacked model: consecutive runs of one gin
    file and a stackable method (with ``seeds_only``, as on JAX: of one grid point, differing only in
    their seeds), at most ``size`` per group; any other run is a group of its own."""
    def point(run: Run) -> tuple:
        return tuple(b for b in run.bindings if not is_seed_binding(b)) if seeds_only else ()

    groups: list[list[Run]] = []
    for run in runs:
        last = groups[-1] if groups else None
        if (last and size > 1 and len(last) < size and run.method in STACKABLE
                and last[0].method in STACKABLE and last[0].gin_file == run.gin_file and point(last[0]) == point(run)):
            last.append(run)
        else:
            groups.append([run])
    return groups


def stacked_command(group: Sequence[Run], root: str, extra_bindings: Sequence[str] = ()) -> list[str]:
    """The ``benchmarks.stacked`` command training ``group`` (runs of one gin file) as one model."""
    return [sys.executable, "-m", "benchmarks.stacked", f"--gin_file={group[0].gin_file}",
            *(f"--gin_bindings={b}" for b in extra_bindings),
            *(argument for run in group for argument in
              (f"--model_dir={run.model_dir(root)}", f"--member_bindings={'; '.join(run.bindings)}"))]


def group_commands(group: Sequence[Run], root: str, extra_bindings: Sequence[str] = (),
                   metrics: Sequence[str] = (), only_missing: bool = True) -> list[list[str]]:
    """:func:`run_commands` for a group of one; for a larger group, its stacked training, then each run's scoring."""
    if len(group) == 1:
        return run_commands(group[0], root, extra_bindings, metrics, only_missing)
    return [stacked_command(group, root, extra_bindings),
            *(run.evaluate_command(root, m) for run in group
              for m in (missing_metrics(run, root, metrics) if only_missing else metrics))]


def run_parallel(groups: Sequence[Sequence[Run]], root: str, extra_bindings: Sequence[str], metrics: Sequence[str],
                 parallel: int) -> list[str]:
    """Runs ``groups`` up to ``parallel`` at a time, each process with the machine's cores divided among
    them as TensorFlow threads (at least one): these networks' ops split badly between threads, so runs
    side by side use a CPU better than one run on every core (README, "Performance"). Each group's
    output is appended to ``sweep.log`` in its first run's folder, except a finished group's check that its
    configuration is unchanged, which writes there only when it fails: sweeping again over finished runs
    leaves their (often committed) logs as they were. Returns the names of failed runs."""
    threads = str(max(1, (os.cpu_count() or 1) // parallel))
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS=threads)

    def work(group):
        folder = group[0].model_dir(root)
        os.makedirs(folder, exist_ok=True)
        log_path = os.path.join(folder, run_dir.SWEEP_LOG)
        commands = group_commands(group, root, extra_bindings, metrics)
        if all(status(run, root) == "finished" for run in group):
            check = subprocess.run(commands[0], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if check.returncode:
                with open(log_path, "ab") as log:
                    log.write(check.stdout)
                return check
            commands = commands[1:]
        with open(log_path, "a") as log:
            return execute(commands, env=env, stdout=log, stderr=subprocess.STDOUT)

    failed = []
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        futures = {pool.submit(work, group): group for group in groups}
        for future in concurrent.futures.as_completed(futures):
            group, process = futures[future], future.result()
            names = ", ".join(run.name for run in group)
            if process is None:
                print(f"done: {names}", flush=True)
            else:
                failed += [run.name for run in group]
                print(f"failed: {names} (exit status {process.returncode}; output in "
                      f"{os.path.join(group[0].model_dir(root), run_dir.SWEEP_LOG)})", flush=True)
    return failed


def execute(commands: Sequence[Sequence[str]], **options) -> subprocess.CompletedProcess | None:
    """Runs ``commands`` one after another, each in its own process (no TensorFlow state passes from one run
    to the next), up to the first that fails: that one's completed process, or None when all succeed.
    ``options`` go to :func:`subprocess.run`."""
    for command in commands:
        process = subprocess.run(command, **options)
        if process.returncode:
            return process
    return None


def run_sweep(runs: Sequence[Run], root: str, extra_bindings: Sequence[str] = (), metrics: Sequence[str] = (),
              parallel: int = 1, stack: int = 1, dry_run: bool = False) -> list[str]:
    """Runs ``runs`` on this machine, printing each run's status as it starts: one group after another, or
    ``parallel`` side by side (:func:`run_parallel`), each group up to ``stack`` runs trained as one model;
    ``dry_run`` only prints every command. Returns the names of the runs that failed."""
    failed, number = [], 0
    groups = stacked_groups(runs, stack, seeds_only=os.environ.get("KERAS_BACKEND") == "jax")
    side_by_side = parallel > 1 and not dry_run
    for group in groups:
        for run in group:
            number += 1
            print(f"[{number}/{len(runs)}] {run.name}: {status(run, root)}"
                  + (f" (stacked with {len(group) - 1} more)" if len(group) > 1 and run is group[0] else ""),
                  flush=True)
        if dry_run:  # each command as it would run: the processes inherit the backend the sweep chose
            backend = f"KERAS_BACKEND={os.environ['KERAS_BACKEND']} " if "KERAS_BACKEND" in os.environ else ""
            for command in group_commands(group, root, extra_bindings, metrics, only_missing=False):
                print("  " + backend + subprocess.list2cmdline(command), flush=True)
        elif not side_by_side and execute(group_commands(group, root, extra_bindings, metrics)) is not None:
            failed += [run.name for run in group]
    if side_by_side:
        failed = run_parallel(groups, root, extra_bindings, metrics, parallel)
    return failed


def run_one(runs: Sequence[Run], metrics: Sequence[str], root: str, model_num: int,
            extra_bindings: Sequence[str] = ()) -> bool:
    """Trains and scores run ``model_num`` of ``runs`` alone, as the local sweep handles it; whether it
    succeeded. ``ValueError`` for an index outside ``runs``."""
    if not 0 <= model_num < len(runs):
        raise ValueError(f"--model_num={model_num} is out of range: these flags select {len(runs)} run(s), "
                         "numbered from 0 (see `python -m benchmarks.sweep --list`)")
    run = runs[model_num]
    print(f"[{model_num}] {run.name}: {status(run, root)}", flush=True)
    return execute(run_commands(run, root, extra_bindings, metrics)) is None
