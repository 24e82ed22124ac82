"""The study's runs: the paper's grid (protocol §6), the presets that name a protocol, and a run's folder.

The paper's grid is 2 architectures × 3 methods × 3 values × 3 seeds = 54 runs; the methods beyond the
paper have grids of their own (:mod:`benchmarks.study.methods`). A run goes to
``ROOT/<architecture>_<method>/<hyperparameter>=<value>/seed=<seed>/``, maybe under a preset's folder.

A preset names a protocol: its runs, the bindings that scale their schedules, and their metrics.
``paper`` is the full protocol; ``compressed`` scales every schedule by one factor s (epochs 100·s,
warm-up 10·s epochs, annealing 100,000·s steps): s = 0.1 for the 9 CNN grid points and s = 0.05 for
three RNN points, seed 0 (``results/compressed/``). ``reference`` is that study with seeds 0, 1 and 2, the
RNN also at s = 0.1 and the CNN β-VAE grid also at s = 0.3, under ``ROOT/s=<scale>/…``
(``results/reference/``). ``generalisation`` trains the compressed CNN β-VAE (β = 1, s = 0.1, seed 0)
once per split config of dMelodies, the random split and the three whose test melodies are held out of
training, under ``ROOT/<split config>/cnn_beta_vae/beta=1/seed=0/``, and scores each with the standard
suite and ``generalisation`` (:mod:`benchmarks.evaluation.generalisation`).
"""
from __future__ import annotations

import dataclasses
import fnmatch
import os
import sys
from typing import Sequence

from benchmarks.study.configs import GIN_DIR, METRICS_DIR
from benchmarks.study.methods import METHODS, PAPER_METHODS
from benchmarks.study.suites import GENERALISATION_METRICS, STANDARD_SUITE, STUDY_METRICS, metric_file
from dmelodies_tfds.splits import SPLIT_CONFIGS

ARCHITECTURES = ("cnn", "rnn")
# The compressed study's one value per method beyond the paper (CNN, seed 0): a middle value of each grid.
COMPRESSED_VALUES = {"beta_tc_vae": (6.0,), "dip_vae_i": (10.0,), "dip_vae_ii": (10.0,), "s2_vae": (1.0,),
                     "ar_vae": (1.0,)}
SEEDS = (0, 1, 2)
# protocol §6: 100 epochs, 10 warm-up epochs, 100,000 annealing steps.
EPOCHS, WARMUP_EPOCHS, ANNEALING_STEPS = 100, 10, 100_000
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
    if METHODS[method].scheduled:
        configurable = METHODS[method].configurable
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
            configurable, hyperparameter = METHODS[method].configurable, METHODS[method].hyperparameter
            for value in (values or {}).get(method, METHODS[method].values):
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
    return name_matches(run.name, patterns)


def name_matches(name: str, patterns: Sequence[str]) -> bool:
    """True when ``name`` matches any pattern (a shell glob, or a plain substring), or there is none."""
    return not patterns or any(
        fnmatch.fnmatch(name, p) if any(c in p for c in "*?[") else p in name for p in patterns
    )


def select(preset_name: str | None = None, seeds: Sequence[int] = (), methods: Sequence[str] = PAPER_METHODS,
           dsprites: bool = False, filters: Sequence[str] = (), metrics: Sequence[str] | None = None,
           gin_dir: str = GIN_DIR) -> tuple[list[Run], tuple[str, ...]]:
    """The runs a sweep's selection picks, in a fixed order (a run's index in it is its ``--model_num``),
    and the metric configs to score them with: ``metrics``, else the preset's, else the standard suite.

    Without a preset, the grid of ``methods`` (``["all"]``: every method), with the dSprites comparison
    runs when ``dsprites``; ``seeds`` (empty: the grid's or preset's) and ``filters`` (:func:`matches`)
    narrow it. ``ValueError`` names an unknown method or preset.
    """
    seeds = tuple(int(s) for s in seeds) or None
    if preset_name:
        if dsprites:
            raise ValueError("--dsprites adds to the plain grid, not to a preset")
        chosen = preset(preset_name, gin_dir, seeds)
        runs, default_metrics = list(chosen.runs), chosen.metrics
    else:
        architectures = ARCHITECTURES + (("dsprites",) if dsprites else ())
        methods = tuple(METHODS) if list(methods) == ["all"] else tuple(methods)
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown method(s) {', '.join(unknown)}; methods are {', '.join(METHODS)} (or all)")
        runs, default_metrics = grid(gin_dir, architectures, seeds or SEEDS, methods), STANDARD_SUITE
    if metrics is not None:
        default_metrics = () if list(metrics) in ([], ["none"]) else tuple(metrics)
    return [r for r in runs if matches(r, filters)], default_metrics
