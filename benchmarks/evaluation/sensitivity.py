"""How far each score can be trusted: how it moves with the scoring protocol and the seeds.

Two scores (protocol §7) are only comparable if they differ by more than what the protocol and the seeds
move them by. For trained runs this measures, per score of the standard suite and of the newer metrics
(DCIMIG, JEMMIG, InfoM, InfoE, InfoC and DCI-ES's explicitness):

- the **discretiser**: MIG, Modularity, DCIMIG and JEMMIG bin each code dimension into a histogram (20 bins
  in disentanglement_lib's standard study); here also 10 and 50. SAP (a linear classifier per code
  dimension), Explicitness (a logistic regression on all codes), InfoMEC (nearest-neighbour mutual
  information, logistic regressions) and DCI-ES (random forests) read the codes undiscretised: no bins;
- the **number of scoring samples**: 1,000, 10,000 (the standard) and 50,000 melodies to fit on, and half
  as many to test on where the score has a test set (the standard's 10,000 and 5,000);
- the **scoring seed**: the melodies drawn, seeds 0, 1 and 2 (the committed scores used seed 0);
- the **training seed**: the range of a grid point's committed scores over its seeds, read from the runs'
  ``metrics/*.json`` (nothing recomputed).

Every score is its metric's own code on precomputed codes: disentanglement_lib's ``mig._compute_mig``,
``modularity_explicitness.modularity`` of ``utils.discrete_mutual_info`` of ``utils.make_discretizer``
(the bins bound in gin, as the metric configs bind them), ``explicitness_per_factor`` as
``compute_modularity_explicitness`` calls it and ``sap_score._compute_sap``; this project's
``dcimig``, ``jemmig`` (on the same discretiser), ``infomec`` and DCI-ES's ``fit_probes`` and ``dci_es``
(with ``gin_configs/metrics/dci_es.gin``'s depths and trees), each given the seed its ``compute_*``
draws after the standard protocol's melodies, so the standard cell is what ``benchmarks.evaluate``
scores. Each run's melodies are
encoded once per scoring seed, at the largest size: disentanglement_lib's own draw
(``utils.generate_batch_factor_code``, batches of 16, ``RandomState(seed)``) of the standard protocol's
training and test melodies, continued to the largest size; every size scores a prefix of that stream (its
first n melodies to fit, the next n / 2 to test). The standard cell (20 bins, 10,000 melodies, seed 0) is
therefore the standard protocol itself, and reproduces the committed score (``reproduced``).

**The resolvable difference** of a score is the larger of (a) the scoring noise, the median over runs
of the range (max − min) of the score over the scoring seeds at the standard protocol, and (b) the
training-seed spread, the median over grid points of the range of the committed score over the point's
training seeds. Two points whose medians over seeds differ by less cannot be told apart on dMelodies:
scoring again, or training again, moves a score that much.

:func:`study` (``python -m benchmarks.metric_sensitivity``) writes one ``runs/<run>.json`` per run
(resumable: a run already scored with the same settings is skipped), then ``sensitivity.json`` (the
summary, with :data:`DEFINITIONS`), ``sensitivity.md`` (the table) and ``sensitivity.png``.
A run file scored before a score joined the study gains that score's cells on the next run of the study
(its melodies drawn again; the cells it holds are kept).
``python -m benchmarks.report --sensitivity=...`` marks the comparisons below the resolvable difference.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import io
import json
import os
import re
import time
from typing import Callable, Sequence

import gin
import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks import run_dir
from benchmarks.evaluation import dlib_compat  # noqa: F401  (before disentanglement_lib)
from benchmarks.evaluation.ground_truth import DMelodiesData
from benchmarks.evaluation.metrics import dci_es as dci_es_metric
from benchmarks.evaluation.metrics.dcimig import dcimig
from benchmarks.evaluation.metrics.information import information
from benchmarks.evaluation.metrics.infomec import infomec
from benchmarks.evaluation.metrics.jemmig import jemmig
from benchmarks.evaluation.null_floor import read_field
from benchmarks.evaluation.representation import load_encoder, posterior_mean
from benchmarks.provenance import provenance
from benchmarks.study.configs import METRICS_DIR
from benchmarks.study.grid import name_matches
import dmelodies_tfds as d
from dmelodies_tfds.atomic import atomic_output, write_text
from disentanglement_lib.evaluation.metrics import mig, modularity_explicitness, sap_score, utils

MIG = "mig/discrete_mig"
MODULARITY = "modularity_explicitness/modularity_score"
EXPLICITNESS = "modularity_explicitness/explicitness_score_test"
SAP = "sap_score/SAP_score"
DCIMIG = "dcimig/dcimig"
JEMMIG = "jemmig/jemmig"
INFOM, INFOE, INFOC = "infomec/infom", "infomec/infoe", "infomec/infoc"
DCI_ES_EXPLICITNESS = "dci_es/dci_es_explicitness"
# The scores, keyed as the report keys them (``<metrics file>/<score>``), and their names.
SCORES = {MIG: "MIG", MODULARITY: "Modularity", EXPLICITNESS: "Explicitness", SAP: "SAP", DCIMIG: "DCIMIG",
          JEMMIG: "JEMMIG", INFOM: "InfoM", INFOE: "InfoE", INFOC: "InfoC", DCI_ES_EXPLICITNESS: "DCI-ES E"}
DISCRETISED = (MIG, MODULARITY, DCIMIG, JEMMIG)  # the scores that bin the codes
TESTED = (EXPLICITNESS, SAP, DCI_ES_EXPLICITNESS)  # the scores that fit on some melodies and test on others
# The scores whose metric draws a seed for its estimator after its melodies (InfoMEC's tie-breaking
# jitter after its training melodies, DCI-ES's forests after its training and test melodies): which of
# the stream's segments that seed follows.
SEEDED_AFTER = {INFOM: 0, INFOE: 0, INFOC: 0, DCI_ES_EXPLICITNESS: 1}

BINS, SIZES, SEEDS = (10, 20, 50), (1_000, 10_000, 50_000), (0, 1, 2)
STANDARD_BINS, STANDARD_SIZE, STANDARD_SEED = 20, 10_000, 0
# Explicitness fits a logistic regression per factor on all codes, SAP a LinearSVC per code dimension and
# factor: at 50,000 melodies each costs as much as everything else of a seed (the figures are in
# results/metric_sensitivity/README.md), so both stop at 10,000; so do InfoMEC (nearest-neighbour
# estimates and a logistic regression per factor) and DCI-ES (a dozen forests per factor).
SIZE_CAPS = {EXPLICITNESS: 10_000, SAP: 10_000, INFOM: 10_000, INFOE: 10_000, INFOC: 10_000,
             DCI_ES_EXPLICITNESS: 10_000}
BATCH_SIZE = 16  # disentanglement_lib's metrics encode 16 melodies at a time
_CHUNK = 4_096  # a multiple of BATCH_SIZE: the draw is the same as one call, without its quadratic stacking
RUNS_FOLDER, SUMMARY_FILE, TABLE_FILE, FIGURE_FILE = "runs", "sensitivity.json", "sensitivity.md", "sensitivity.png"

DEFINITIONS = {
    "scoring_noise": "median over runs of the range (max - min) of the score over the scoring seeds, at the "
                     "standard bins and size",
    "scoring_range_by_size": "the same at each size",
    "training_spread": "median over grid points of the range of the committed score (metrics/*.json, the "
                       "standard protocol) over the point's training seeds",
    "resolvable": "the larger of scoring_noise and training_spread: two points whose medians over seeds differ "
                  "by less cannot be told apart",
    "bins_shift": "per number of bins, median over runs of the score minus its value at the standard bins "
                  "(standard size, standard seed), and the largest absolute difference",
    "size_shift": "per size, the same against the standard size (standard bins and seed)",
    "rank_correlation": "Spearman correlation over runs between the score at that setting and at the standard one",
    "reproduced": "largest absolute difference over runs between the standard cell and the committed score, "
                  "where the committed score was scored at the standard cell's settings",
    "runs": "how many runs the score's study cells cover (a score that joined the study later covers the runs "
            "scored since)",
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a study scores: every score at every size (up to its cap) and scoring seed, and the discretised
    ones at every number of bins; the standard protocol is one cell of it."""

    bins: tuple = BINS
    sizes: tuple = SIZES
    seeds: tuple = SEEDS
    standard_bins: int = STANDARD_BINS
    standard_size: int = STANDARD_SIZE
    standard_seed: int = STANDARD_SEED
    size_caps: tuple = tuple(sorted(SIZE_CAPS.items()))

    def __post_init__(self):
        for name in ("bins", "sizes", "seeds"):
            values = getattr(self, name)
            if not values or any(not isinstance(v, int) or isinstance(v, bool) for v in values):
                raise ValueError(f"{name}: give at least one integer, got {values!r}")
            object.__setattr__(self, name, tuple(sorted(set(values))))
        if min(self.bins) < 2 or min(self.sizes) < 2 or min(self.seeds) < 0:
            raise ValueError("bins and sizes must be at least 2, seeds at least 0")
        for name, values in (("bins", self.bins), ("size", self.sizes), ("seed", self.seeds)):
            if getattr(self, f"standard_{name}") not in values:
                raise ValueError(f"the standard {name} {getattr(self, f'standard_{name}')} must be one of "
                                 f"{list(values)}: every comparison is against it")

    def sizes_of(self, score: str) -> tuple:
        """The sizes ``score`` is computed at: those up to its cap."""
        cap = dict(self.size_caps).get(score)
        return tuple(n for n in self.sizes if cap is None or n <= cap)

    def bins_of(self, score: str) -> tuple:
        """The numbers of bins of a discretised score; ``(None,)`` for one that reads the codes as they are."""
        return self.bins if score in DISCRETISED else (None,)

    def as_json(self) -> dict:
        fields = dataclasses.asdict(self)
        fields.update({key: list(value) for key, value in fields.items() if isinstance(value, tuple)})
        fields["size_caps"] = dict(self.size_caps)
        fields["test_size"] = "size // 2"
        return fields


def test_size(size: int) -> int:
    """The melodies a score with a test set tests on: half its training melodies, as the standard 10,000 and 5,000."""
    return size // 2


@contextlib.contextmanager
def histogram_bins(num_bins: int):
    """disentanglement_lib's histogram discretiser with ``num_bins`` bins, bound in gin as the metric configs
    bind it; gin's configuration is cleared afterwards, as :func:`benchmarks.evaluation.scoring.score` does."""
    with gin.unlock_config():
        gin.parse_config(["discretizer.discretizer_fn = @histogram_discretizer",
                          f"discretizer.num_bins = {int(num_bins)}"])
    try:
        yield
    finally:
        gin.clear_config()


def _explicitness(train, ys_train, test, ys_test) -> float:
    """``explicitness_score_test`` exactly as ``compute_modularity_explicitness`` computes it."""
    train_norm, mean, stddev = utils.normalize_data(train)
    test_norm, _, _ = utils.normalize_data(test, mean, stddev)
    return float(np.mean([modularity_explicitness.explicitness_per_factor(train_norm, ys_train[i], test_norm,
                                                                          ys_test[i])[1]
                          for i in range(ys_train.shape[0])]))


def _sap(train, ys_train, test, ys_test) -> float:
    """Discrete SAP (``sap_score.continuous_factors = False``); liblinear draws its seed from numpy's global
    generator, so it is fixed here and restored afterwards."""
    state = np.random.get_state()
    np.random.seed(0)
    try:
        return float(sap_score._compute_sap(train, ys_train, test, ys_test, False)["SAP_score"])
    finally:
        np.random.set_state(state)


@functools.lru_cache(maxsize=None)  # read once: every DCI-ES cell asks
def dci_es_probes(config: str = os.path.join(METRICS_DIR, "dci_es.gin")) -> tuple[int, tuple]:
    """The forests' trees and depths the DCI-ES config binds (``dci_es.num_trees``, ``dci_es.max_depths``;
    the metric's defaults where it binds none), read from the config itself: the study scores what
    ``benchmarks.evaluate`` scores."""
    with open(config, encoding="utf-8") as file:
        bound = dict(re.findall(r"^dci_es\.(num_trees|max_depths) = (.+)$", file.read(), re.MULTILINE))
    trees = int(bound["num_trees"]) if "num_trees" in bound else dci_es_metric.NUM_TREES
    depths = tuple(json.loads(bound["max_depths"])) if "max_depths" in bound else dci_es_metric.MAX_DEPTHS
    return trees, depths


def score_codes(codes: np.ndarray, factors: np.ndarray, size: int, score: str, bins: int | None = None,
                seed: int = 0, memo: dict | None = None) -> float:
    """``score`` of the first ``size`` codes (num_codes, n) and factors (num_factors, n), tested, where it
    has a test set, on the next ``size // 2``. ``seed`` seeds the estimators that draw (InfoMEC's jitter,
    DCI-ES's forests); ``memo`` keeps InfoMEC's three scores of one computation for the other two."""
    if codes.shape[1] < size + (test_size(size) if score in TESTED else 0):
        raise ValueError(f"{score} at {size} needs {size + test_size(size)} melodies, got {codes.shape[1]}")
    train, ys_train = codes[:, :size], factors[:, :size]
    test, ys_test = codes[:, size:size + test_size(size)], factors[:, size:size + test_size(size)]
    if score == MIG:
        with histogram_bins(bins):
            return float(mig._compute_mig(train, ys_train)["discrete_mig"])
    if score == MODULARITY:
        with histogram_bins(bins):
            mutual = utils.discrete_mutual_info(utils.make_discretizer(train), ys_train)
        return float(modularity_explicitness.modularity(mutual))
    if score == EXPLICITNESS:
        return _explicitness(train, ys_train, test, ys_test)
    if score == SAP:
        return _sap(train, ys_train, test, ys_test)
    name = score.split("/")[1]
    if score in (DCIMIG, JEMMIG):
        with histogram_bins(bins):
            quantities = information(train, ys_train, bins)
        return float((dcimig if score == DCIMIG else jemmig)(quantities)[name])
    if score in (INFOM, INFOE, INFOC):
        memo = {} if memo is None else memo
        key = ("infomec", id(codes), size, seed)
        if key not in memo:
            memo[key] = infomec(ys_train.T, train.T, discrete_latents=False, seed=seed)
        return float(memo[key][name])
    if score == DCI_ES_EXPLICITNESS:
        trees, depths = dci_es_probes()
        probes = dci_es_metric.fit_probes(train.T, ys_train.T, test.T, ys_test.T, depths, trees, seed=seed)
        return float(dci_es_metric.dci_es(probes, list(d.FACTOR_SIZES))[name])
    raise ValueError(f"unknown score {score!r}; scores are {', '.join(SCORES)}")


def stream_segments(settings: Settings) -> list[int]:
    """The draws that make a scoring seed's stream: the standard protocol's training and test melodies as
    disentanglement_lib draws them, then the rest up to the most melodies a score needs."""
    largest = {score: max(settings.sizes_of(score), default=0) for score in SCORES}
    total = max(n + (test_size(n) if score in TESTED else 0) for score, n in largest.items())
    first = [settings.standard_size, test_size(settings.standard_size)]
    return first + ([total - sum(first)] if total > sum(first) else [])


def draw(representation: Callable, seed: int, segments: Sequence[int]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Codes (num_codes, n) and factors (9, n) of the melodies disentanglement_lib draws, one call of
    ``utils.generate_batch_factor_code`` per segment, from one ``RandomState(seed)``; and after each
    segment, the seed a metric drawing one there (``random_state.randint(2**31 - 1)``) would get, read
    from a copy of the generator so that the stream goes on as drawn."""
    data, random_state, codes, factors, follow = DMelodiesData(), np.random.RandomState(seed), [], [], []
    for segment in segments:
        for start in range(0, segment, _CHUNK):
            batch_codes, batch_factors = utils.generate_batch_factor_code(
                data, representation, min(_CHUNK, segment - start), random_state, BATCH_SIZE)
            codes.append(batch_codes)
            factors.append(batch_factors)
        copy = np.random.RandomState()
        copy.set_state(random_state.get_state())
        follow.append(int(copy.randint(2**31 - 1)))
    return np.concatenate(codes, axis=1), np.concatenate(factors, axis=1), follow


def score_representation(representation: Callable, settings: Settings, progress=print,
                         scores: Sequence[str] = tuple(SCORES)) -> tuple[list[dict], dict]:
    """Every cell of ``settings`` for one representation and ``scores``: ``[{"score", "bins", "size",
    "seed", "value"}]``, and the seconds each step took.

    numpy's BLAS runs on one thread here: Explicitness' logistic regressions stop at lbfgs' iteration limit
    before they converge, so the order of BLAS sums moves them (by about 1e-4), and the classifiers' small
    products ran 2.6 times faster on one thread than on two on a shared CPU.
    """
    unknown = [score for score in scores if score not in SCORES]
    if unknown:
        raise ValueError(f"unknown score(s) {unknown}; scores are {', '.join(SCORES)}")
    with threadpool_limits(1):
        return _score_representation(representation, settings, progress, scores)


def _score_representation(representation: Callable, settings: Settings, progress,
                          scores: Sequence[str]) -> tuple[list[dict], dict]:
    cells, seconds = [], {"encode": 0.0, **{score: 0.0 for score in scores}}
    for seed in settings.seeds:
        started, these, memo = time.perf_counter(), {}, {}
        codes, factors, follow = draw(representation, seed, stream_segments(settings))
        these["encode"] = time.perf_counter() - started
        for score in scores:
            started = time.perf_counter()
            estimator_seed = follow[SEEDED_AFTER[score]] if score in SEEDED_AFTER else 0
            for size in settings.sizes_of(score):
                for bins in settings.bins_of(score):
                    cells.append({"score": score, "bins": bins, "size": size, "seed": seed,
                                  "value": score_codes(codes, factors, size, score, bins, estimator_seed, memo)})
            these[score] = time.perf_counter() - started
        seconds = {key: seconds[key] + these[key] for key in seconds}
        progress(f"  scoring seed {seed}: {codes.shape[1]:,} melodies; "
                 + ", ".join(f"{SCORES.get(key, key)} {value:.0f} s" for key, value in these.items()))
    return cells, seconds


def committed_scores(model_dir: str) -> dict[str, float]:
    """The run's committed scores (``metrics/<name>.json``) of :data:`SCORES`."""
    found = {}
    for name in dict.fromkeys(score.split("/")[0] for score in SCORES):
        path = run_dir.metric_path(model_dir, name)
        if os.path.exists(path):
            found.update({key: value for key, value in run_dir.read_metrics(path)[1].items() if key in SCORES})
    return found


def at_standard_cell(model_dir: str, name: str, settings: Settings) -> bool:
    """Whether the run's ``metrics/<name>.gin`` (the operative configuration it was scored with) is the
    study's standard cell: posterior means, its size (and half as many to test), bins and seed."""
    try:
        with open(os.path.join(model_dir, run_dir.METRICS, f"{name}.gin"), encoding="utf-8") as file:
            bound = dict(re.findall(r"^[\w.]+?\.(\w+) = (.+)$", file.read(), re.MULTILINE))
    except OSError:
        return False
    expected = {"representation": "'mean'", "random_seed": str(settings.standard_seed),
                "num_train": str(settings.standard_size)}
    optional = {"num_test": str(test_size(settings.standard_size)), "num_bins": str(settings.standard_bins)}
    return (all(bound.get(key) == value for key, value in expected.items())
            and all(bound.get(key, value) == value for key, value in optional.items()))


def find_runs(root: str, filters: Sequence[str] = ()) -> list[str]:
    """The runs under ``root`` (folders with ``results.json``) whose name matches ``filters`` (substrings or
    globs), training seed by training seed, so that a partial study covers every point."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"--root {root!r} is not a folder")
    runs = [os.path.relpath(os.path.dirname(path), root).replace(os.sep, "/")
            for path in glob.glob(os.path.join(root, "**", run_dir.RESULTS_FILE), recursive=True)]
    runs = [run for run in runs if name_matches(run, filters)]
    return sorted(runs, key=lambda run: (run.removeprefix(run_dir.point_of(run)), run))


def run_file(out: str, run: str) -> str:
    return os.path.join(out, RUNS_FOLDER, *run.split("/")) + ".json"


def read_run(out: str, run: str) -> dict | None:
    """A run's study file, or None where there is none or it cannot be read (it is scored again)."""
    try:
        with open(run_file(out, run), encoding="utf-8") as file:
            found = json.load(file)
    except (OSError, json.JSONDecodeError):
        return None
    return found if isinstance(found, dict) and isinstance(found.get("cells"), list) else None


def scores_held(found: dict | None) -> set[str]:
    """The scores a run's study file holds cells of."""
    return {cell.get("score") for cell in found["cells"]} if found else set()


def same_settings(found: dict, settings: Settings) -> bool:
    """Whether a run's study file was scored with ``settings``, as far as the scores it holds go: a size cap
    of a score that joined the study later does not make the file's other cells out of date."""
    held, wanted = dict(found.get("settings") or {}), settings.as_json()
    held_caps, wanted_caps = held.pop("size_caps", {}), wanted.pop("size_caps")
    return held == wanted and all(held_caps.get(score) == wanted_caps.get(score) for score in scores_held(found))


def score_run(root: str, run: str, settings: Settings, progress=print, previous: dict | None = None) -> dict:
    """One run's study: its cells, its committed scores, the seconds each step took and the provenance.
    With ``previous`` (the run's file, of the same settings), only the scores it lacks are scored, and
    its cells are kept; the scoring that added them is recorded under ``added``."""
    recorded = provenance()  # before scoring: the code that runs is the code at the start
    model_dir = os.path.join(root, *run.split("/"))
    wanted = [score for score in SCORES if score not in scores_held(previous)]
    cells, seconds = score_representation(posterior_mean(load_encoder(model_dir)), settings, progress, wanted)
    result = {"run": run, "point": run_dir.point_of(run), "settings": settings.as_json(), "cells": cells,
              "committed": committed_scores(model_dir), "seconds": seconds, "provenance": recorded}
    if previous is None:
        return result
    added = previous.get("added", []) + [{"scores": wanted, "seconds": seconds, "provenance": recorded}]
    return {**previous, "settings": result["settings"], "cells": previous["cells"] + cells,
            "committed": result["committed"], "seconds": {**previous.get("seconds", {}), **seconds}, "added": added}


def study(root: str, out: str, filters: Sequence[str] = (), settings: Settings = Settings(), progress=print,
          scoring: bool = True, summarising: bool = True) -> dict | None:
    """Scores every run under ``root`` matching ``filters`` that ``out`` does not hold yet with the same
    settings (none with ``scoring=False``), one file each, written as soon as it is done; then summarises the
    runs scored (:func:`summarise`) and writes the summary, the table and the figure. Returns the summary;
    with ``summarising=False`` writes and returns none (one of several processes sharing ``out``, each
    scoring a part: the summary of a part would replace the whole's until the whole is summarised again)."""
    runs = find_runs(root, filters)
    if not runs:
        raise ValueError(f"no run under {root!r} matches {list(filters) or 'anything'}")
    for number, run in enumerate(runs, start=1):
        found = read_run(out, run)
        if found is not None and not same_settings(found, settings):
            found = None  # other settings: scored again from the start
        missing = [SCORES[score] for score in SCORES if score not in scores_held(found)]
        if found is not None and not missing:
            progress(f"[{number}/{len(runs)}] {run}: done")
            continue
        if not scoring:
            continue
        if not os.path.exists(os.path.join(root, *run.split("/"), run_dir.ENCODER_FILE)):
            progress(f"[{number}/{len(runs)}] {run}: no {run_dir.ENCODER_FILE}, left out")
            continue
        progress(f"[{number}/{len(runs)}] {run}: scoring" + (f" {', '.join(missing)}" if found else ""))
        result = score_run(root, run, settings, progress, previous=found)
        os.makedirs(os.path.dirname(run_file(out, run)), exist_ok=True)
        write_text(run_file(out, run), json.dumps(result, indent=2) + "\n")
    if not summarising:
        return None
    scored = [found for found in (read_run(out, run) for run in runs)
              if found is not None and same_settings(found, settings)]
    folders = {run: os.path.join(root, *run.split("/")) for run in runs}
    committed = {run: committed_scores(folder) for run, folder in folders.items()}
    comparable = {run: [score for score in committed[run] if at_standard_cell(folder, score.split("/")[0], settings)]
                  for run, folder in folders.items()}
    summary = summarise(scored, committed, settings, comparable)
    summary["runs_missing"] = [run for run in runs if run not in summary["runs"]]
    write_summary(out, summary, scored)
    return summary


def _cell_values(result: dict) -> dict[tuple, float]:
    return {(c["score"], c["bins"], c["size"], c["seed"]): c["value"] for c in result["cells"]}


def _spearman(first: Sequence[float], second: Sequence[float]) -> float | None:
    if len(first) < 3:
        return None
    from scipy.stats import spearmanr

    correlation = spearmanr(first, second).statistic
    return None if not np.isfinite(correlation) else float(correlation)


def _shift(values: dict[str, tuple[float, float]]) -> dict | None:
    """Median of (value - standard) over runs, its largest absolute value, and the rank correlation."""
    if not values:
        return None
    pairs = list(values.values())
    differences = [value - standard for value, standard in pairs]
    return {"median": float(np.median(differences)), "max_abs": float(np.max(np.abs(differences))),
            "rank_correlation": _spearman([v for v, _ in pairs], [s for _, s in pairs])}


def summarise(results: Sequence[dict], committed: dict[str, dict[str, float]], settings: Settings,
              comparable: dict[str, Sequence[str]] | None = None) -> dict:
    """The study's summary per score (:data:`DEFINITIONS`): from the runs' study files (``results``) and
    the committed standard scores of every run selected (``committed``: run -> score -> value), which give
    the training-seed spread; ``comparable`` (run -> scores; default: all) names the committed scores scored
    at the standard cell's settings, which the standard cell must reproduce."""
    comparable = comparable if comparable is not None else {run: list(scores) for run, scores in committed.items()}
    cells = {result["run"]: _cell_values(result) for result in results}
    by_point: dict[str, dict[str, list[float]]] = {}
    for run, scores in committed.items():
        for score, value in scores.items():
            by_point.setdefault(run_dir.point_of(run), {}).setdefault(score, []).append(value)
    summary = {}
    for score, label in SCORES.items():
        base_bins = settings.standard_bins if score in DISCRETISED else None
        standard = (score, base_bins, settings.standard_size, settings.standard_seed)

        def seed_ranges(size):
            if len(settings.seeds) < 2:
                return None
            ranges = [max(v) - min(v) for v in ([values.get((score, base_bins, size, seed)) for seed in settings.seeds]
                                                for values in cells.values()) if None not in v]
            return float(np.median(ranges)) if ranges else None

        def shifts(cell_of):
            return {run: (values[cell_of(run)], values[standard]) for run, values in cells.items()
                    if cell_of(run) in values and standard in values}

        spreads = {point: max(v) - min(v) for point, scores in by_point.items()
                   if len(v := scores.get(score, [])) >= 2}
        noise = seed_ranges(settings.standard_size)
        spread = float(np.median(list(spreads.values()))) if spreads else None
        reproduced = [abs(values[standard] - committed[run][score]) for run, values in cells.items()
                      if standard in values and score in committed.get(run, {}) and score in comparable.get(run, ())]
        summary[score] = {
            "label": label,
            "runs": sum(1 for values in cells.values() if standard in values),
            "discretised": score in DISCRETISED,
            "sizes": list(settings.sizes_of(score)),
            "scoring_noise": noise,
            "scoring_range_by_size": {str(n): seed_ranges(n) for n in settings.sizes_of(score)},
            "training_spread": spread,
            "training_spread_by_point": spreads,
            "resolvable": max((v for v in (noise, spread) if v is not None), default=None),
            "bins_shift": {str(b): _shift(shifts(lambda run, b=b: (score, b, settings.standard_size,
                                                                   settings.standard_seed)))
                           for b in settings.bins} if score in DISCRETISED else None,
            "size_shift": {str(n): _shift(shifts(lambda run, n=n: (score, base_bins, n, settings.standard_seed)))
                           for n in settings.sizes_of(score)},
            "reproduced": max(reproduced) if reproduced else None,
        }
    return {"definitions": DEFINITIONS, "settings": settings.as_json(), "runs": [r["run"] for r in results],
            "training_runs": sorted(run for run, scores in committed.items() if scores),
            "scores": summary, "resolvable": {score: s["resolvable"] for score, s in summary.items()},
            "provenance": provenance()}


def _number(value, signed: bool = False) -> str:
    return "–" if value is None else (f"{value:+.4f}" if signed else f"{value:.4f}")


def table(summary: dict) -> str:
    """The summary as one Markdown table: a row per score."""
    settings = summary["settings"]
    standard_size, standard_bins = settings["standard_size"], settings["standard_bins"]
    other_bins = [b for b in settings["bins"] if b != standard_bins]
    other_sizes = [n for n in settings["sizes"] if n != standard_size]
    header = (["score", "runs"] + [f"bins {b} − {standard_bins}" for b in other_bins]
              + [f"n {n:,} − {standard_size:,}" for n in other_sizes]
              + ["scoring-seed range, n = " + " / ".join(f"{n:,}" for n in settings["sizes"]),
                 "training-seed range", "**resolvable**", "standard vs committed"])
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for score in summary["scores"].values():
        def shift(found):
            return "–" if not found else f"{_number(found['median'], True)} (max {found['max_abs']:.4f})"

        bins = [shift(score["bins_shift"][str(b)]) if score["bins_shift"] else "no bins" for b in other_bins]
        sizes = [shift(score["size_shift"].get(str(n))) if n in score["sizes"] else "capped" for n in other_sizes]
        ranges = " / ".join(_number(score["scoring_range_by_size"].get(str(n))) if n in score["sizes"] else "capped"
                            for n in settings["sizes"])
        lines.append("| " + " | ".join([score["label"], str(score.get("runs", "–")), *bins, *sizes, ranges,
                                        _number(score["training_spread"]),
                                        f"**{_number(score['resolvable'])}**", _number(score["reproduced"])]) + " |")
    return "\n".join(lines) + "\n"


def markdown(summary: dict) -> str:
    """``sensitivity.md``: the table, which runs it covers, and the definitions."""
    settings = summary["settings"]
    caps = ", ".join(f"{SCORES.get(score, score)} at most {cap:,}" for score, cap in settings["size_caps"].items())
    lines = ["# How far each score can be trusted", "",
             f"{len(summary['runs'])} run(s) scored at bins {settings['bins']}, sizes {settings['sizes']} "
             f"(test sets half as large), scoring seeds {settings['seeds']}"
             + (f"; sizes capped: {caps}" if caps else "") + f"; training-seed spread from "
             f"{len(summary['training_runs'])} run(s)' committed scores.", "", table(summary), "Definitions:", ""]
    lines += [f"- `{key}`: {text}." for key, text in summary["definitions"].items()]
    if summary.get("runs_missing"):
        lines += ["", "Not scored yet (rerun the command to resume): " + ", ".join(summary["runs_missing"])]
    return "\n".join(lines) + "\n"


def _family(run: str) -> str:
    """The architecture and method of a run (``cnn_beta_vae``): its point's folder above the hyperparameter."""
    parts = run_dir.point_of(run).split("/")
    return parts[-2] if len(parts) >= 2 else parts[-1]


def draw_figure(summary: dict, results: Sequence[dict]):
    """Per score: its value against the bins and against the size for every run (the scoring seeds' range
    as a bar; one colour per method), and the scoring noise at each size beside the training-seed spread."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    settings = summary["settings"]
    families = sorted({_family(result["run"]) for result in results})
    figure, axes = plt.subplots(3, len(summary["scores"]), figsize=(3.4 * len(summary["scores"]), 10), squeeze=False)
    for column, (score, found) in enumerate(summary["scores"].items()):
        bins_axis, size_axis, noise_axis = axes[:, column]
        base = settings["standard_bins"] if found["discretised"] else None
        for result in results:
            values, colour = _cell_values(result), f"C{families.index(_family(result['run'])) % 10}"
            if found["discretised"]:
                bins_axis.plot(settings["bins"], [values.get((score, b, settings["standard_size"],
                                                              settings["standard_seed"])) for b in settings["bins"]],
                               color=colour, marker="o", alpha=0.6)
            for position, size in enumerate(found["sizes"]):
                seeds = [values[key] for seed in settings["seeds"] if (key := (score, base, size, seed)) in values]
                if seeds:
                    size_axis.plot([position] * 2, [min(seeds), max(seeds)], color=colour, alpha=0.6)
                    size_axis.scatter([position], [values.get((score, base, size, settings["standard_seed"]))],
                                      color=colour, s=10, alpha=0.6)
        if found["discretised"]:
            bins_axis.set_xticks(settings["bins"])
        else:
            bins_axis.text(0.5, 0.5, "no discretiser:\nreads the codes as they are", ha="center", va="center",
                           transform=bins_axis.transAxes)
            bins_axis.set(xticks=[], yticks=[])
        bins_axis.set(title=found["label"], xlabel="histogram bins",
                      ylabel=f"seed {settings['standard_seed']}, n = {settings['standard_size']:,}")
        size_axis.set_xticks(range(len(found["sizes"])), [f"{n:,}" for n in found["sizes"]])
        size_axis.set(xlabel="scoring melodies n", xlim=(-0.5, len(found["sizes"])),
                      ylabel=f"seed {settings['standard_seed']} (dot), range over scoring seeds (bar)")
        labels = [f"n={n:,}" for n in found["sizes"]] + ["training\nseeds"]
        heights = [found["scoring_range_by_size"][str(n)] or 0.0 for n in found["sizes"]] + [
            found["training_spread"] or 0.0]
        noise_axis.bar(range(len(labels)), heights, color=["C7"] * len(found["sizes"]) + ["C3"])
        if found["resolvable"] is not None:
            noise_axis.axhline(found["resolvable"], color="black", linestyle="--", label="resolvable difference")
            noise_axis.legend(fontsize=7)
        noise_axis.set_xticks(range(len(labels)), labels, fontsize=8)
        noise_axis.set(ylabel="median range (max − min)", title="scoring seeds vs training seeds")
        for axis in (bins_axis, size_axis, noise_axis):
            axis.grid(alpha=0.3)
    if families:
        axes[0, 0].legend(handles=[Line2D([], [], color=f"C{i % 10}", marker="o", label=family)
                                   for i, family in enumerate(families)], fontsize=7)
    figure.suptitle(f"How each score moves with the protocol and the seeds ({len(results)} runs)")
    figure.tight_layout()
    return figure


def write_summary(out: str, summary: dict, results: Sequence[dict]) -> list[str]:
    """Writes ``sensitivity.json``, ``sensitivity.md`` and ``sensitivity.png`` (each atomically); their paths."""
    import matplotlib.pyplot as plt

    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, name) for name in (SUMMARY_FILE, TABLE_FILE, FIGURE_FILE)]
    write_text(paths[0], json.dumps(summary, indent=2) + "\n")
    write_text(paths[1], markdown(summary))
    drawn = draw_figure(summary, results)
    buffer = io.BytesIO()
    drawn.savefig(buffer, format="png", dpi=110)
    plt.close(drawn)
    with atomic_output(paths[2], overwrite=True) as file:
        file.write(buffer.getvalue())
    return paths


def read_resolvable(path: str) -> dict[str, float]:
    """``resolvable`` of a ``sensitivity.json``: score key (``mig/discrete_mig``) -> the smallest difference
    it resolves; ``ValueError`` naming what is wrong with the file."""
    resolvable = read_field(path, "resolvable", "metric sensitivity")
    if not isinstance(resolvable, dict) or not all(
            value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
            for value in resolvable.values()):
        raise ValueError(f"{path} is not a metric sensitivity: it needs 'resolvable': score -> number")
    return {score: float(value) for score, value in resolvable.items() if value is not None}
