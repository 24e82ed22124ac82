r"""The paper's benchmark grid (protocol §6): 2 architectures × 3 methods × 3 values × 3 seeds = 54 runs,
and the same grid for the methods beyond the paper (``--methods``).

    python -m benchmarks.sweep --root=runs [--dry_run] [--filter=cnn_beta_vae] [--gin_bindings=...]
    python -m benchmarks.sweep --root=runs --methods=beta_tc_vae,dip_vae_i,dip_vae_ii,s2_vae,ar_vae
    python -m benchmarks.sweep --root=results/compressed/runs --preset=compressed  # the reproduction study

Runs go one after another, each in its own process, under
``ROOT/<architecture>_<method>/<hyperparameter>=<value>/seed=<seed>/``. Every run is handed to
``benchmarks.train``, which resumes an interrupted run from its checkpoints, returns a finished run
with the same configuration at once, and refuses a finished run whose configuration differs (the sweep
then reports that run as failed and exits non-zero). Each trained run is then scored with
``benchmarks.evaluate``, skipping the metric files it already holds: with ``--metrics``, its preset's
metrics, or disentanglement_lib's standard suite (``--metrics=none`` scores nothing); ``paper`` picks the
paper protocol of the run's method (protocol §7). ``--dsprites`` adds the dSprites comparison runs (they need
TFDS's ``dsprites`` data, which must already be prepared).

``--stack=N`` trains up to N consecutive runs of one gin file (the values and seeds of a grid point's
method) as one vectorised model (:mod:`benchmarks.stacked`): the same per-run folders, numbers equal
to rounding; on a 2-core CPU 1.5× (CNN) and 1.2× (RNN) the runs per hour (README, "Performance").
``--parallel=N`` runs N runs (or groups) at once, the cores divided among them: on a 2-core CPU two
one-thread runs side by side train about 1.5-1.8× the runs per hour of one run on both cores. ``--list`` numbers
the selected runs from 0; ``python -m benchmarks.train_one --model_num=N`` with the same
selection flags trains and scores run N alone, for job arrays. ``--backend=ray`` runs every run as a task
on a Ray cluster, retried when its worker dies (:mod:`benchmarks.ray_backend`).

A preset names a protocol: its runs, the bindings that scale their schedules, and their metrics.
``paper`` is the full protocol; ``compressed`` scales every schedule by one factor s (epochs 100·s,
warm-up 10·s epochs, annealing 100,000·s steps): s = 0.1 for the 9 CNN grid points and s = 0.05 for
three RNN points, seed 0, so that the study fits a 2-core CPU (``results/compressed/``). ``reference``
is that study with seeds 0, 1 and 2, the RNN also at s = 0.1 and the CNN β-VAE grid also at s = 0.3, under
``ROOT/s=<scale>/…`` (``results/reference/``).
``generalisation`` trains the compressed CNN β-VAE (β = 1, s = 0.1, seed 0) once per split config of
dMelodies, the random split and the three whose test melodies are held out of training, under
``ROOT/<split config>/cnn_beta_vae/beta=1/seed=0/``, and scores each with the standard suite and
``generalisation`` (:mod:`benchmarks.generalisation`).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import fnmatch
import os
import subprocess
import sys
from typing import Sequence

from absl import app, flags

from dmelodies_tfds.splits import SPLIT_CONFIGS

GIN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gin_configs")
METRICS_DIR = os.path.join(GIN_DIR, "metrics")
ARCHITECTURES = ("cnn", "rnn")
# method: (configurable holding the hyperparameter, its name in the run layout, its grid's values)
METHODS = {
    # The paper's (protocol §6).
    "beta_vae": ("BetaVAE", "beta", (0.2, 1.0, 4.0)),
    "annealed_vae": ("AnnealedVAE", "capacity", (25.0, 50.0, 75.0)),
    "factor_vae": ("FactorVAE", "gamma", (1.0, 10.0, 50.0)),
    # disentanglement_lib's study values (config/unsupervised_study_v1/sweep.py).
    "beta_tc_vae": ("BetaTCVAE", "beta", (1.0, 2.0, 4.0, 6.0, 8.0, 10.0)),
    "dip_vae_i": ("DIPVAEI", "lambda_od", (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)),
    "dip_vae_ii": ("DIPVAEII", "lambda_od", (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)),
    # Pati & Lerch's ISMIR 2021 follow-up (ashispati/dmelodies_controllability, script_train_dmelodies.py).
    "s2_vae": ("S2VAE", "gamma", (0.1, 1.0, 10.0)),
    "ar_vae": ("ARVAE", "gamma", (0.1, 1.0, 10.0)),
}
PAPER_METHODS = ("beta_vae", "annealed_vae", "factor_vae")
# The compressed study's one value per method beyond the paper (CNN, seed 0): a middle value of each grid.
COMPRESSED_VALUES = {"beta_tc_vae": (6.0,), "dip_vae_i": (10.0,), "dip_vae_ii": (10.0,), "s2_vae": (1.0,),
                     "ar_vae": (1.0,)}
# Methods whose objective warms up and anneals (protocol §6; the supervised ones build on β-VAE's).
SCHEDULED = ("beta_vae", "annealed_vae", "s2_vae", "ar_vae")
SEEDS = (0, 1, 2)
# protocol §6: 100 epochs, 10 warm-up epochs, 100,000 annealing steps.
EPOCHS, WARMUP_EPOCHS, ANNEALING_STEPS = 100, 10, 100_000
# disentanglement_lib's standard suite (protocol §7): what a run is scored with unless told otherwise.
STANDARD_SUITE = ("mig", "modularity_explicitness", "sap_score")
# The paper protocol (resolved per method), then the standard suite.
STUDY_METRICS = ("paper", *STANDARD_SUITE)
# The generalisation preset's: the standard suite, then the scores on the held-out test melodies.
GENERALISATION_METRICS = ("mig", "modularity_explicitness", "sap_score", "generalisation")
PRESETS = ("paper", "compressed", "reference", "generalisation")
# The reference study's budgets (schedule scales) and what each trains, as folders under the study's root.
REFERENCE_BUDGETS = {
    "s=0.1": "the CNN grid, the five methods beyond the paper, and the RNN's three points at the CNN's budget",
    "s=0.05": "the RNN's three points at the compressed study's budget",
    "s=0.3": "the CNN β-VAE grid at three times the budget: how far s = 0.1 is from a plateau",
}


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run: its gin file, the bindings that pick its grid point, and where it goes."""

    name: str  # "<architecture>_<method>/<hyperparameter>=<value>/seed=<seed>", maybe in a preset's folder
    gin_file: str
    bindings: tuple[str, ...]

    @property
    def method(self) -> str:
        family = self.name.split("/")[-3]  # a preset may put the grid's layout in a folder of its own
        return next(m for m in METHODS if family.split("_", 1)[1] == m)

    def model_dir(self, root: str) -> str:
        return os.path.join(root, *self.name.split("/"))

    def command(self, root: str, extra_bindings: Sequence[str] = ()) -> list[str]:
        return [sys.executable, "-m", "benchmarks.train", f"--gin_file={self.gin_file}",
                *(f"--gin_bindings={b}" for b in (*self.bindings, *extra_bindings)),
                f"--model_dir={self.model_dir(root)}"]

    def evaluate_command(self, root: str, metric: str, metrics_dir: str = METRICS_DIR) -> list[str]:
        """The ``benchmarks.evaluate`` command scoring this run with metric config ``metric``."""
        return [sys.executable, "-m", "benchmarks.evaluate", f"--model_dir={self.model_dir(root)}",
                f"--gin_file={os.path.join(metrics_dir, metric_file(metric, self.method) + '.gin')}"]


# protocol §7: the paper's trainers scored 201 test batches of 512, FactorVAE's of 256: one config each.
PAPER_PROTOCOL_FILES = {"factor_vae": "paper_factor_vae"}


def metric_file(metric: str, method: str | None) -> str:
    """The metric config for ``metric`` on a run of ``method``: ``paper`` is the method's paper protocol."""
    return PAPER_PROTOCOL_FILES.get(method, "paper") if metric == "paper" else metric


def metric_name(metric: str) -> str:
    """The results file a metric config writes: every paper protocol is named ``paper``."""
    return "paper" if metric.startswith("paper") else metric


def scaled_bindings(method: str, scale: float) -> tuple[str, ...]:
    """Bindings that scale every schedule of ``method`` by ``scale`` (1 is the paper's protocol)."""
    if scale == 1:
        return ()
    if not 0 < scale <= 1:
        raise ValueError(f"the schedule scale must be in (0, 1], got {scale}")
    epochs = EPOCHS * scale
    if epochs != int(epochs):
        raise ValueError(f"scale {scale} gives {epochs} epochs: choose a scale that gives whole epochs")
    bindings = [f"train.epochs = {int(epochs)}"]
    if method in SCHEDULED:
        configurable = METHODS[method][0]
        bindings += [f"{configurable}.warmup_epochs = {WARMUP_EPOCHS * scale:g}",
                     f"{configurable}.annealing_steps = {round(ANNEALING_STEPS * scale)}"]
    return tuple(bindings)


def grid(gin_dir: str = GIN_DIR, architectures: Sequence[str] = ARCHITECTURES, seeds: Sequence[int] = SEEDS,
         methods: Sequence[str] = PAPER_METHODS, values: dict | None = None, scale: float = 1.0) -> list[Run]:
    """The runs of the grid of ``methods`` (the paper's by default), architecture by architecture, method by method.

    ``values`` (method -> values) restricts the hyperparameter values; ``scale`` scales the schedules.
    """
    runs = []
    for architecture in architectures:
        for method in methods:
            configurable, hyperparameter, paper_values = METHODS[method]
            for value in (values or {}).get(method, paper_values):
                for seed in seeds:
                    runs.append(Run(
                        name=f"{architecture}_{method}/{hyperparameter}={value:g}/seed={seed}",
                        gin_file=os.path.join(gin_dir, f"{architecture}_{method}.gin"),
                        bindings=(f"{configurable}.{hyperparameter} = {value!r}", f"train.seed = {seed}",
                                  *scaled_bindings(method, scale)),
                    ))
    return runs


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named protocol: which runs, how their schedules are scaled, and how they are scored."""

    description: str
    runs: tuple[Run, ...]
    metrics: tuple[str, ...]


def preset(name: str, gin_dir: str = GIN_DIR, seeds: Sequence[int] | None = None) -> Preset:
    """``paper``: the 54 runs at full length; ``compressed``: the reproduction study; ``generalisation``:
    the compressed CNN β-VAE on each split config (module docstring).

    ``seeds`` replaces the preset's seeds (the compressed study runs seed 0; 1 and 2 extend it).
    """
    if name == "paper":
        return Preset("protocol §6's 54 runs, 100 epochs each", tuple(grid(gin_dir, seeds=seeds or SEEDS)),
                      STUDY_METRICS)
    if name == "compressed":
        seeds = tuple(seeds or (0,))
        cnn = grid(gin_dir, ("cnn",), seeds, scale=0.1)
        rnn = grid(gin_dir, ("rnn",), seeds, values={"beta_vae": (1.0,), "annealed_vae": (50.0,),
                                                     "factor_vae": (10.0,)}, scale=0.05)
        beyond = grid(gin_dir, ("cnn",), seeds, tuple(COMPRESSED_VALUES), COMPRESSED_VALUES, scale=0.1)
        return Preset("every schedule scaled by s: CNN grid at s = 0.1 (10 epochs), RNN β = 1, C = 50, "
                      "γ = 10 at s = 0.05 (5 epochs); one CNN value per method beyond the paper at s = 0.1 "
                      "(β-TCVAE β = 6, DIP-VAE-I/II λ_od = 10, S2-VAE and AR-VAE γ = 1)",
                      tuple(cnn + rnn + beyond), STUDY_METRICS + ("controllability",))
    if name == "reference":
        return reference_preset(gin_dir, tuple(seeds or SEEDS))
    if name == "generalisation":
        seeds = tuple(seeds or (0,))
        runs = []
        for split_config in SPLIT_CONFIGS:
            dataset_config = "full" if split_config == "random" else split_config
            for run in grid(gin_dir, ("cnn",), seeds, ("beta_vae",), {"beta_vae": (1.0,)}, scale=0.1):
                runs.append(dataclasses.replace(run, name=f"{split_config}/{run.name}",
                                                bindings=(*run.bindings, f"TFDSSource.config = {dataset_config!r}")))
        return Preset("the compressed CNN β-VAE (β = 1, s = 0.1) on each split config: "
                      f"{', '.join(SPLIT_CONFIGS)}", tuple(runs), GENERALISATION_METRICS)
    raise ValueError(f"unknown preset {name!r}; presets are {', '.join(PRESETS)}")


def reference_preset(gin_dir: str = GIN_DIR, seeds: Sequence[int] = SEEDS) -> Preset:
    """The reference study (``results/reference/``): the compressed study's points with three seeds, the
    RNN also at the CNN's budget, and the CNN β-VAE grid at s = 0.3, each budget in a folder of its own."""
    rnn_points = {"beta_vae": (1.0,), "annealed_vae": (50.0,), "factor_vae": (10.0,)}
    groups = [
        ("s=0.1", grid(gin_dir, ("cnn",), seeds, scale=0.1)),
        ("s=0.1", grid(gin_dir, ("cnn",), seeds, tuple(COMPRESSED_VALUES), COMPRESSED_VALUES, scale=0.1)),
        ("s=0.05", grid(gin_dir, ("rnn",), seeds, values=rnn_points, scale=0.05)),
        ("s=0.1", grid(gin_dir, ("rnn",), seeds, values=rnn_points, scale=0.1)),
        ("s=0.3", grid(gin_dir, ("cnn",), seeds, ("beta_vae",), scale=0.3)),
    ]
    runs = [dataclasses.replace(run, name=f"{budget}/{run.name}") for budget, budget_runs in groups
            for run in budget_runs]
    return Preset("the compressed study with seeds " + ", ".join(map(str, seeds)) + "; every budget in its own "
                  "folder: " + "; ".join(f"{budget}: {what}" for budget, what in REFERENCE_BUDGETS.items()),
                  tuple(runs), STUDY_METRICS + ("controllability",))


def matches(run: Run, patterns: Sequence[str]) -> bool:
    """True when ``run.name`` matches any pattern: a shell glob, or a plain substring."""
    return not patterns or any(
        fnmatch.fnmatch(run.name, p) if any(c in p for c in "*?[") else p in run.name for p in patterns
    )


def status(run: Run, root: str) -> str:
    model_dir = run.model_dir(root)
    if os.path.exists(os.path.join(model_dir, "results.json")):
        return "finished"
    return "interrupted" if os.path.isdir(os.path.join(model_dir, "checkpoints")) else "new"


def missing_metrics(run: Run, root: str, metrics: Sequence[str]) -> list[str]:
    """The metric configs whose results file the run does not hold yet."""
    metrics_dir = os.path.join(run.model_dir(root), "metrics")
    return [m for m in metrics if not os.path.exists(os.path.join(metrics_dir, metric_name(m) + ".json"))]


def run_commands(run: Run, root: str, extra_bindings: Sequence[str] = (), metrics: Sequence[str] = (),
                 only_missing: bool = True) -> list[list[str]]:
    """What every backend runs for ``run``: ``benchmarks.train``, then ``benchmarks.evaluate`` for each metric
    config the run lacks (every one of ``metrics`` when not ``only_missing``: what ``--dry_run`` lists).

    A finished run is still handed to ``train``: it returns at once when the configuration is the same and
    refuses a different one, which must not pass as "finished".
    """
    scored = missing_metrics(run, root, metrics) if only_missing else metrics
    return [run.command(root, extra_bindings), *(run.evaluate_command(root, m) for m in scored)]


# Methods whose runs can train stacked (benchmarks.stacked): unsupervised, without a training step of their own.
STACKABLE = ("beta_vae", "annealed_vae", "beta_tc_vae", "dip_vae_i", "dip_vae_ii")


def stacked_groups(runs: Sequence[Run], size: int) -> list[list[Run]]:
    """``runs`` in order, cut into groups that train as one stacked model: consecutive runs of one gin
    file and a stackable method, at most ``size`` per group; any other run is a group of its own."""
    groups: list[list[Run]] = []
    for run in runs:
        last = groups[-1] if groups else None
        if (last and size > 1 and len(last) < size and run.method in STACKABLE
                and last[0].method in STACKABLE and last[0].gin_file == run.gin_file):
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


SWEEP_LOG = "sweep.log"  # where a parallel sweep writes each group's output, in its first run's folder


def run_parallel(groups: Sequence[Sequence[Run]], root: str, extra_bindings: Sequence[str], metrics: Sequence[str],
                 parallel: int) -> list[str]:
    """Runs ``groups`` up to ``parallel`` at a time, each process with the machine's cores divided among
    them as TensorFlow threads (at least one): these networks' ops split badly between threads, so runs
    side by side use a CPU better than one run on every core (README, "Performance"). Each group's
    output is appended to ``sweep.log`` in its first run's folder. Returns the names of failed runs."""
    threads = str(max(1, (os.cpu_count() or 1) // parallel))
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS=threads)

    def work(group):
        folder = group[0].model_dir(root)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, SWEEP_LOG), "a") as log:
            return execute(group_commands(group, root, extra_bindings, metrics), env=env, stdout=log,
                           stderr=subprocess.STDOUT)

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
                      f"{os.path.join(group[0].model_dir(root), SWEEP_LOG)})", flush=True)
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


def define_selection_flags() -> None:
    """Defines the flags that pick and configure the runs; ``benchmarks.train_one`` takes them too, so that
    its ``--model_num`` and ``--list`` number the same runs. Only when run as a program, so importing this
    module for its functions never collides with another module's flags of the same name."""
    flags.DEFINE_string("root", None, "Folder under which every run gets its own --model_dir.")
    flags.DEFINE_string("preset", None, "A named protocol: 'paper' (54 runs, 100 epochs, scored), "
                        "'compressed' (the reproduction study's shortened runs, scored), 'reference' (the "
                        "compressed study with 3 seeds and two more budgets, scored) or 'generalisation' "
                        "(the compressed CNN β-VAE on each split config, scored on held-out melodies).")
    flags.DEFINE_list("seeds", [], "Seeds to run instead of the grid's or preset's, e.g. 0,1,2.")
    flags.DEFINE_multi_string("filter", [], "Keep the runs whose name matches (substring or glob); repeatable.")
    flags.DEFINE_multi_string("gin_bindings", [], "Extra bindings for every run, e.g. train.epochs=1.")
    flags.DEFINE_list("metrics", None, "Metric configs to score each run with after training, e.g. "
                      "paper,mig ('paper' is the run's method's paper protocol); 'none' (or nothing) to "
                      "score nothing; default: the preset's, or without a preset the standard suite "
                      f"({','.join(STANDARD_SUITE)}).")
    flags.DEFINE_bool("dsprites", False, "Add the dSprites comparison runs (needs TFDS's dsprites data).")
    flags.DEFINE_list("methods", list(PAPER_METHODS), f"Methods of the grid without a preset: any of "
                      f"{', '.join(METHODS)}, or 'all'.")
    flags.DEFINE_string("gin_dir", GIN_DIR, "Folder of the <architecture>_<method>.gin files.")
    flags.mark_flag_as_required("root")


def define_flags() -> None:
    """The sweep's flags: the selection flags, then how to run the selected runs."""
    from benchmarks import ray_backend

    define_selection_flags()
    flags.DEFINE_bool("dry_run", False, "Only list the runs, their status and their commands.")
    flags.DEFINE_bool("list", False, "Only print each run's index (from 0): the --model_num of "
                      "benchmarks.train_one given the same selection flags.")
    flags.DEFINE_enum("backend", "local", ["local", "ray"], "local: one run after another on this machine; "
                      "ray: every run a Ray task (see benchmarks.ray_backend).")
    flags.DEFINE_integer("parallel", 1, "Run up to this many runs (or stacked groups) at once on this machine, "
                         "the cores divided among them as TensorFlow threads, each one's output in its folder's "
                         f"{SWEEP_LOG}. Local backend only.", lower_bound=1)
    flags.DEFINE_integer("stack", 1, "Train up to this many consecutive runs of one gin file as one stacked "
                         f"model (benchmarks.stacked; methods {', '.join(STACKABLE)}); 1: one run at a time. "
                         "Local backend only.", lower_bound=1)
    ray_backend.define_flags()
    flags.adopt_module_key_flags(ray_backend)  # --help lists them


def selected_runs(FLAGS) -> tuple[list[Run], tuple[str, ...]]:
    """The runs the selection flags pick, in a fixed order (a run's index in it is its ``--model_num``),
    and the metric configs to score them with."""
    seeds = [int(s) for s in FLAGS.seeds] or None
    if FLAGS.preset:
        if FLAGS.dsprites:
            raise ValueError("--dsprites adds to the plain grid, not to a preset")
        chosen = preset(FLAGS.preset, FLAGS.gin_dir, seeds)
        runs, metrics = list(chosen.runs), chosen.metrics
    else:
        architectures = ARCHITECTURES + (("dsprites",) if FLAGS.dsprites else ())
        methods = tuple(METHODS) if FLAGS.methods == ["all"] else tuple(FLAGS.methods)
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown method(s) {', '.join(unknown)}; methods are {', '.join(METHODS)} (or all)")
        runs, metrics = grid(FLAGS.gin_dir, architectures, seeds or SEEDS, methods), STANDARD_SUITE
    if FLAGS.metrics is not None:
        metrics = () if FLAGS.metrics in ([], ["none"]) else tuple(FLAGS.metrics)
    return [r for r in runs if matches(r, FLAGS.filter)], metrics


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    FLAGS = flags.FLAGS
    try:
        runs, metrics = selected_runs(FLAGS)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    if not runs:
        raise SystemExit(f"error: no run matches --filter={FLAGS.filter}")
    if FLAGS.list:
        for index, run in enumerate(runs):
            print(index, run.name)
        return
    from benchmarks import ray_backend

    ray_options = {name: FLAGS[name].value for name in ray_backend.FLAG_NAMES}
    if FLAGS.backend == "ray" and (FLAGS.stack > 1 or FLAGS.parallel > 1):
        raise SystemExit("error: --stack and --parallel: for --backend=local only (a Ray task trains one run; "
                         "Ray's --ray_num_cpus and --cpus_per_run set how many run at once)")
    if FLAGS.backend == "ray" and not FLAGS.dry_run:
        try:
            outcomes = ray_backend.run_sweep(runs, FLAGS.root, FLAGS.gin_bindings, metrics, **ray_options)
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
        failed = [outcome.name for outcome in outcomes if outcome.state == "failed"]
    elif FLAGS.backend == "local" and (given := [f"--{n}" for n in ray_options if FLAGS[n].present]):
        raise SystemExit(f"error: {', '.join(given)}: for --backend=ray only")
    else:
        failed, number = [], 0
        groups = stacked_groups(runs, FLAGS.stack)
        side_by_side = FLAGS.parallel > 1 and not FLAGS.dry_run
        for group in groups:
            for run in group:
                number += 1
                print(f"[{number}/{len(runs)}] {run.name}: {status(run, FLAGS.root)}"
                      + (f" (stacked with {len(group) - 1} more)" if len(group) > 1 and run is group[0] else ""),
                      flush=True)
            if FLAGS.dry_run:
                for command in group_commands(group, FLAGS.root, FLAGS.gin_bindings, metrics, only_missing=False):
                    print("  " + subprocess.list2cmdline(command), flush=True)
            elif not side_by_side and execute(group_commands(group, FLAGS.root, FLAGS.gin_bindings, metrics)) is not None:
                failed += [run.name for run in group]
        if side_by_side:
            failed = run_parallel(groups, FLAGS.root, FLAGS.gin_bindings, metrics, FLAGS.parallel)
    if failed:
        raise SystemExit(f"error: {len(failed)} run(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    from dmelodies_tfds.text import plain_text

    __doc__ = plain_text(__doc__)  # absl's --help shows the module docstring: plain text, not reST
    define_flags()
    app.run(main)
