r"""Runs a grid of training runs and scores them: the paper's 54-run grid, the methods beyond the paper,
or a preset that names a whole protocol.

    python -m benchmarks.sweep --root=runs [--dry_run] [--filter=cnn_beta_vae] [--gin_bindings=...]
    python -m benchmarks.sweep --root=runs --methods=beta_tc_vae,dip_vae_i,dip_vae_ii,s2_vae,ar_vae
    python -m benchmarks.sweep --root=results/compressed/runs --preset=compressed   # the reproduction study
    python -m benchmarks.sweep --root=runs --preset=compressed --list                # "2 cnn_beta_vae/beta=4/seed=0", …
    python -m benchmarks.sweep --root=runs --preset=compressed --model_num=2         # run 2 alone (a job array)

Runs go under ROOT/<architecture>_<method>/<hyperparameter>=<value>/seed=<seed>/, one after another,
each in its own process: benchmarks.train resumes an interrupted run from its checkpoints, returns a
finished run with the same configuration at once, and refuses a finished run whose configuration differs
(the sweep then reports that run as failed and exits non-zero). Each trained run is then scored with
benchmarks.evaluate, skipping the metric files it already holds: with --metrics, its preset's metrics, or
disentanglement_lib's standard suite (--metrics=none scores nothing); 'paper' picks the paper protocol of
the run's method. --dsprites adds the dSprites comparison runs (TFDS's dsprites data must be prepared).

--stack=N trains up to N consecutive runs of one gin file as one vectorised model (benchmarks.stacked;
on JAX, a grid point's seeds under jax.vmap): the same per-run folders, numbers equal to rounding. --parallel=N runs N runs (or groups) at once, the
cores divided among them. --list numbers the selected runs from 0, and --model_num=N trains and scores
run N alone (as disentanglement_lib's dlib_reproduce --model_num; benchmarks.train_one is the same).
--runner=ray runs every run as a task on a Ray cluster, retried when its worker dies. --backend=jax (or
torch) trains every run on that Keras backend. The presets and the grid: benchmarks.study.grid; the
docs' study and cluster guides.
"""
from __future__ import annotations

import argparse
import os

from benchmarks import cli

if __name__ == "__main__":
    cli.quiet_start()  # before TensorFlow loads (the study's methods are read from the objective classes)

from benchmarks.runners import local, ray as ray_runner  # noqa: E402
from benchmarks.study.grid import PRESETS, select  # noqa: E402
from benchmarks.study.methods import METHODS, PAPER_METHODS, STACKABLE  # noqa: E402
from benchmarks.study.suites import STANDARD_SUITE  # noqa: E402
from benchmarks import run_dir  # noqa: E402


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments that pick and configure the runs: the same ones pick the same runs in the same order."""
    parser.add_argument("--root", required=True, help="folder under which every run gets its own --model_dir")
    parser.add_argument("--preset", choices=PRESETS, help="a named protocol: 'paper' (54 runs, 100 epochs, "
                        "scored), 'compressed' (the reproduction study's shortened runs, scored), 'reference' (the "
                        "compressed study with 3 seeds and two more budgets, scored) or 'generalisation' (the "
                        "compressed CNN β-VAE on each split config, scored on held-out melodies)")
    parser.add_argument("--seeds", type=cli.comma_list, default=[],
                        help="seeds to run instead of the grid's or preset's, e.g. 0,1,2")
    parser.add_argument("--filter", action="append", default=[],
                        help="keep the runs whose name matches (substring or glob; repeatable)")
    parser.add_argument("--gin_bindings", action="append", default=[],
                        help="extra binding for every run, e.g. train.epochs=1 (repeatable)")
    parser.add_argument("--metrics", type=cli.comma_list, default=None,
                        help="metric configs to score each run with after training, e.g. paper,mig ('paper' is "
                             "the run's method's paper protocol); 'none' (or nothing) to score nothing; default: "
                             f"the preset's, or without a preset the standard suite ({','.join(STANDARD_SUITE)})")
    parser.add_argument("--dsprites", action="store_true",
                        help="add the dSprites comparison runs (needs TFDS's dsprites data)")
    parser.add_argument("--methods", type=cli.comma_list, default=list(PAPER_METHODS),
                        help=f"methods of the grid without a preset: any of {', '.join(METHODS)}, or 'all'")
    parser.add_argument("--gin_dir", default=None, help="folder of the <architecture>_<method>.gin files "
                        "(default: the package's gin_configs)")


def selected(args) -> tuple[list, tuple[str, ...]]:
    """The runs and metric configs the selection arguments pick; SystemExit naming what is wrong."""
    options = {"gin_dir": args.gin_dir} if args.gin_dir else {}
    try:
        seeds = [int(s) for s in args.seeds]
        runs, metrics = select(args.preset, seeds, args.methods, args.dsprites, args.filter, args.metrics, **options)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    if not runs:
        raise SystemExit(f"error: no run matches --filter={args.filter}")
    return runs, metrics


def main(argv=None) -> None:
    parser = cli.parser(__doc__, "sweep")
    add_selection_arguments(parser)
    parser.add_argument("--model_num", type=int, default=None, help="train and score only this run: its index "
                        "among the selected runs, as --list prints it (from 0)")
    parser.add_argument("--dry_run", action="store_true", help="only list the runs, their status and their commands")
    parser.add_argument("--list", action="store_true", help="only print each run's index (from 0): its --model_num")
    parser.add_argument("--runner", choices=("local", "ray"), default="local",
                        help="local: on this machine; ray: every run a Ray task (benchmarks.runners.ray)")
    parser.add_argument("--backend", choices=(*cli.KERAS_BACKENDS, "local", "ray"), default=None,
                        help="the Keras backend every run trains on (default: $KERAS_BACKEND, else tensorflow); "
                        "'local' and 'ray', its former meaning, still choose the runner")
    parser.add_argument("--parallel", type=cli.positive_int, default=1, help="run up to this many runs (or stacked groups) "
                        "at once on this machine, the cores divided among them as TensorFlow threads, each one's "
                        f"output in its folder's {run_dir.SWEEP_LOG}; local runner only")
    parser.add_argument("--stack", type=cli.positive_int, default=1, help="train up to this many consecutive runs of one "
                        f"gin file as one stacked model (benchmarks.stacked; methods {', '.join(STACKABLE)}); "
                        "on JAX only a grid point's seeds stack; 1: one run at a time; local runner only")
    ray = parser.add_argument_group("Ray (--runner=ray)")
    ray.add_argument("--address", help="the Ray cluster to join ('auto', or HEAD_IP:6379); default: a Ray "
                     "instance started on this machine for the sweep")
    ray.add_argument("--ray_num_cpus", type=int, help="without --address: CPUs of the Ray instance started for the "
                     "sweep (default: all of this machine's)")
    ray.add_argument("--cpus_per_run", type=float, help="CPUs Ray reserves for each run (default 1)")
    ray.add_argument("--gpus_per_run", type=float, help="GPUs Ray reserves for each run; a run sees those "
                     "(CUDA_VISIBLE_DEVICES), and none when given none (default 0)")
    ray.add_argument("--max_retries", type=int, help="how often a run whose worker or process was killed is "
                     "started again; it resumes from its checkpoints (default 3)")
    args = parser.parse_args(argv)
    if args.backend in ("local", "ray"):
        args.runner, args.backend = args.backend, None
    if args.stack > 1 and (args.backend or os.environ.get("KERAS_BACKEND")) == "torch":
        raise SystemExit("error: --stack trains on TensorFlow and JAX (benchmarks.stacked), not on torch")
    cli.use_backend(args.backend)  # the runs' processes inherit it
    runs, metrics = selected(args)
    if args.list:
        for index, run in enumerate(runs):
            print(index, run.name)
        return
    if args.model_num is not None:
        try:
            succeeded = local.run_one(runs, metrics, args.root, args.model_num, args.gin_bindings)
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
        if not succeeded:
            raise SystemExit(f"error: run {args.model_num} ({runs[args.model_num].name}) failed")
        return
    ray_options = {name: getattr(args, name) for name in ray_runner.OPTIONS if getattr(args, name) is not None}
    if args.runner == "ray" and (args.stack > 1 or args.parallel > 1):
        raise SystemExit("error: --stack and --parallel: for --runner=local only (a Ray task trains one run; "
                         "Ray's --ray_num_cpus and --cpus_per_run set how many run at once)")
    if args.runner == "local" and ray_options:
        raise SystemExit(f"error: {', '.join('--' + n for n in ray_options)}: for --runner=ray only")
    if args.runner == "ray" and not args.dry_run:
        try:
            outcomes = ray_runner.run_sweep(runs, args.root, args.gin_bindings, metrics, **ray_options)
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
        failed = [outcome.name for outcome in outcomes if outcome.state == "failed"]
    else:
        failed = local.run_sweep(runs, args.root, args.gin_bindings, metrics, parallel=args.parallel,
                                 stack=args.stack, dry_run=args.dry_run)
    if failed:
        raise SystemExit(f"error: {len(failed)} run(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    cli.run(main)
