"""One table and the paper's figures from every run under a folder (protocol §7).

:func:`build_report` (``python -m benchmarks.report``) reads each run's ``results.json`` and its
``metrics/<name>.json`` files (:mod:`benchmarks.run_dir`) and writes, under ``out``:

- ``results.csv`` and ``results.md``: one row per run — method, architecture, hyperparameter, seed,
  the dataset config it trained on, test reconstruction accuracy, then every scalar score as
  ``<metrics file>/<score>`` (for example ``mig/discrete_mig`` for the standard protocol and
  ``paper/discrete_mig`` for the paper's);
- ``missing.txt``: runs of the paper's grid (for the method families present under ``--root``), or of
  ``--preset``'s runs, that have no results, runs without metrics, and problems: a ``results.json`` or metrics file that is not
  valid JSON, not an object, or has a field of the wrong type, with the reason. A run with a bad
  ``results.json`` is left out of the table; a bad metrics file leaves out only its scores. Nothing is
  silently skipped, and one bad run never stops the report;
- ``metrics.png``: MIG, Modularity and SAP per method and architecture (every run as a point, a box
  where a group has at least three runs);
- ``reconstruction.png``: test reconstruction accuracy per method and architecture;
- ``mig_vs_accuracy.png``: MIG against reconstruction accuracy, one colour per hyperparameter value;
- ``factorwise_mig.png``: MIG of each factor, one colour per method.
- ``generalisation.png``: each factor's probe accuracy and, for the ordered factors, R² on held-out test
  melodies (:mod:`benchmarks.evaluation.generalisation`), one colour per method and dataset config.
- ``summary.md`` and ``summary.csv``: statistics over seeds (:mod:`benchmarks.reporting.seed_statistics`): per
  point, the median and range over its seeds of reconstruction accuracy, MIG, Modularity, SAP,
  controllability (exact and robust read-back), latent holes, interpretability and how much validation
  accuracy rose in the last epoch; in a second table, where runs have them, the newer metrics (DCIMIG,
  JEMMIG, InfoM/E/C, DCI-ES's D and E), the downstream classifiers' accuracy from 10,000 melodies and their
  sample efficiency (:func:`sample_efficiency`), and unfairness (``fairness_fast``);
  per method, architecture and budget (epochs), the median over its runs with a bootstrap 95 % interval;
  and with ``--null_floor``, each metric's value for representations that learned nothing
  (:mod:`benchmarks.evaluation.null_floor`), to read every score against; with ``--sensitivity``, each
  metric's resolvable difference (:mod:`benchmarks.evaluation.sensitivity`) and a mark on every point
  median within it of the next point's in the same grid;
- ``learning_curves_accuracy.png`` and ``learning_curves_kl.png``: validation reconstruction accuracy and
  KL per epoch of every run (from its TensorBoard logs), one panel per method, architecture and budget,
  one colour per hyperparameter value: whether the budget let a run reach a plateau.

Runs are grouped by method, architecture and budget (their ``epochs``), so that runs trained for
different lengths are never pooled.

Scores and accuracies lie in [0, 1], and their axes show all of [0, 1], so that the noise between a few
runs never looks like a difference. The report is computed in full before anything is written, and each
file is written atomically: a failure leaves the previous report as it was, and a figure the new data
no longer supports is removed rather than left over from an earlier report.
"""
from __future__ import annotations

import csv
import dataclasses
import glob
import io
import math
import os
import textwrap
from typing import Sequence

import dmelodies_tfds as d
from benchmarks.reporting import seed_statistics as stats
from benchmarks.run_dir import LOGS, METRICS, RESULTS_FILE, RunProblem, read_metrics, read_results
from benchmarks.study.grid import grid, preset as study_preset
from benchmarks.study.methods import METHODS
from dmelodies_tfds.atomic import atomic_path, write_text
from dmelodies_tfds.text import one_line

# The figures' scores, in order of preference: the standard protocol first, then the paper's.
HEADLINE_METRICS = {
    "MIG": ("mig/discrete_mig", "paper/discrete_mig"),
    "Modularity": ("modularity_explicitness/modularity_score", "paper/modularity_score"),
    "SAP": ("sap_score/SAP_score", "paper/SAP_score"),
}
FACTORWISE_SOURCES = ("mig", "paper")
_RUN_COLUMNS = ("run", "method", "architecture", "hyperparameter", "value", "seed", "epochs", "dataset_config",
                "reconstruction_accuracy")
VALIDITY = "controllability/validity_by_distance"  # one score per distance bin: <VALIDITY>@<lower edge>
# The summary's columns: (heading, the record's value).
STANDARD_SUMMARY_SCORES = {
    "accuracy": lambda r: r["reconstruction_accuracy"],
    "MIG": lambda r: headline(r, "MIG"),
    "Modularity": lambda r: headline(r, "Modularity"),
    "SAP": lambda r: headline(r, "SAP"),
    "controllability": lambda r: r["scores"].get("controllability/controllability"),
    "robust controllability": lambda r: r["scores"].get("controllability/robust_controllability"),
    "latent holes": lambda r: r["scores"].get("controllability/latent_hole"),
    # controllability's first and last distance bins (its default edges: 0, 0.25, 0.5, 1, 2 SD)
    "valid < 0.25 SD": lambda r: r["scores"].get(f"{VALIDITY}@0"),
    "valid ≥ 2 SD": lambda r: r["scores"].get(f"{VALIDITY}@2"),
    "interpretability": lambda r: r["scores"].get("interpretability/interpretability"),
    "last-epoch gain": lambda r: last_epoch_gain(r),
}
# The newer metrics (benchmarks.evaluation.metrics) and disentanglement_lib's downstream and fairness scores:
# a second table in summary.md, written where any run has them.
NEWER_SCORE_KEYS = {"DCIMIG": "dcimig/dcimig", "JEMMIG": "jemmig/jemmig", "InfoM": "infomec/infom",
                    "InfoE": "infomec/infoe", "InfoC": "infomec/infoc", "DCI-ES D": "dci_es/disentanglement",
                    "DCI-ES E": "dci_es/dci_es_explicitness"}
NEWER_SUMMARY_SCORES = {
    **{name: (lambda r, key=key: r["scores"].get(key)) for name, key in NEWER_SCORE_KEYS.items()},
    "downstream accuracy": lambda r: r["scores"].get("downstream_task/10000:mean_test_accuracy"),
    "sample efficiency": lambda r: sample_efficiency(r),
    "unfairness": lambda r: r["scores"].get("fairness_fast/mean_fairness:mean_pred:mean_sens"),
}
# summary.md's tables per level: a block of columns each.
SUMMARY_TABLES = {"": tuple(STANDARD_SUMMARY_SCORES),
                  "newer metrics, downstream and fairness": tuple(NEWER_SUMMARY_SCORES)}
SUMMARY_SCORES = {**STANDARD_SUMMARY_SCORES, **NEWER_SUMMARY_SCORES}
# The summary's columns that are one metric's score, by the key a sensitivity.json gives its resolvable
# difference under (the standard protocol's, where the paper protocol's is a fallback).
RESOLVABLE_KEYS = {**{metric: keys[0] for metric, keys in HEADLINE_METRICS.items()}, **NEWER_SCORE_KEYS}
VALIDATION_LOGS = os.path.join(LOGS, "validation")
CURVES = {"accuracy": "epoch_reconstruction_accuracy", "kl": "epoch_kl"}


FIGURES = ("metrics.png", "reconstruction.png", "mig_vs_accuracy.png", "factorwise_mig.png", "generalisation.png",
           "learning_curves_accuracy.png", "learning_curves_kl.png", "validity_by_distance.png")
# A group of runs gets a box plot from this many runs on; fewer are drawn as points alone.
MIN_BOX_RUNS = 3


def read_curves(model_dir: str) -> dict[str, list[float]]:
    """Validation accuracy and KL per epoch (:data:`CURVES`) from a run's TensorBoard logs; empty without logs."""
    directory = os.path.join(model_dir, VALIDATION_LOGS)
    if not glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        return {}
    from benchmarks.training.callbacks import read_scalars  # loads TensorFlow: only for runs that have logs

    try:
        scalars = read_scalars(directory)
    except Exception as error:  # noqa: BLE001 - a damaged event file fails in TensorFlow's many ways
        raise RunProblem(f"{VALIDATION_LOGS} cannot be read ({one_line(error)})") from None
    curves = {}
    for name, tag in CURVES.items():
        by_step = dict(scalars.get(tag, []))  # the last value written for a step wins (a resumed run)
        curves[name] = [by_step[step] for step in sorted(by_step)]
    return curves


def last_epoch_gain(record: dict) -> float | None:
    """How much validation accuracy rose in the run's last epoch: near 0 at a plateau."""
    accuracy = record.get("curves", {}).get("accuracy", [])
    return accuracy[-1] - accuracy[-2] if len(accuracy) >= 2 else None


def sample_efficiency(record: dict) -> float | None:
    """Locatello et al.'s (2019) statistical efficiency of a code: the downstream classifiers' mean test
    accuracy from 100 training melodies over that from 10,000 (``downstream_task``)."""
    few = record["scores"].get("downstream_task/100:mean_test_accuracy")
    many = record["scores"].get("downstream_task/10000:mean_test_accuracy")
    return few / many if few is not None and many else None


def collect(root: str) -> tuple[list[dict], list[str]]:
    """One record per usable run under ``root`` (training results, flat scalar scores, factor-wise MIG),
    and the problems found, one line each: a run whose ``results.json`` is unusable is left out, a
    metrics file that is unusable leaves out only its own scores."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"--root {root!r} is not a folder")
    records, problems = [], []
    for results_path in sorted(glob.glob(os.path.join(root, "**", RESULTS_FILE), recursive=True)):
        model_dir = os.path.dirname(results_path)
        run = os.path.relpath(model_dir, root)
        try:
            results = read_results(model_dir)
        except RunProblem as problem:
            problems.append(f"{run}: problem: {problem}; the run is left out (rerun python -m benchmarks.train)")
            continue
        record = {
            "run": run,
            "method": results["method"],
            "architecture": results["architecture"],
            "hyperparameter": results["hyperparameter_name"],
            "value": results["hyperparameter_value"],
            "seed": results["seed"],
            "epochs": results.get("epochs") if isinstance(results.get("epochs"), int) else None,
            "dataset_config": results.get("dataset_config"),
            "reconstruction_accuracy": results["test_reconstruction_accuracy"],
            "point": stats.point_of(run),
            "scores": {},
            "factorwise_mig": {},
            "curves": {},
        }
        try:
            record["curves"] = read_curves(model_dir)
        except RunProblem as problem:
            problems.append(f"{run}: problem: {problem}; its learning curves are left out")
        for metrics_path in sorted(glob.glob(os.path.join(model_dir, METRICS, "*.json"))):
            try:
                name, scores, factorwise = read_metrics(metrics_path)
            except RunProblem as problem:
                problems.append(f"{run}: problem: {problem}; its scores are left out "
                                "(rerun python -m benchmarks.evaluate)")
                continue
            record["scores"].update(scores)
            if factorwise:
                record["factorwise_mig"][name] = factorwise
        records.append(record)
    return records, problems


def missing_runs(root: str, records: Sequence[dict], preset: str | None = None) -> list[str]:
    """Runs absent under ``root`` — of ``preset`` (a :func:`benchmarks.study.grid.preset` name) when given, else
    of the grid in the families present there — and runs that have no metrics."""
    present = {r["run"].replace(os.sep, "/") for r in records}
    families = {name.split("/")[0] for name in present}
    expected = study_preset(preset).runs if preset else [
        run for run in grid(methods=tuple(METHODS)) if run.name.split("/")[0] in families]
    lines = [f"{run.name}: no results.json" for run in expected if run.name not in present]
    lines += [f"{r['run']}: no metrics (run python -m benchmarks.evaluate)" for r in records if not r["scores"]]
    return lines


def table(records: Sequence[dict]) -> tuple[list[str], list[list]]:
    """The header and rows of the results table."""
    score_columns = sorted({key for r in records for key in r["scores"]})
    rows = [[r[c] for c in _RUN_COLUMNS] + [r["scores"].get(c) for c in score_columns] for r in records]
    return list(_RUN_COLUMNS) + score_columns, rows


def to_csv(header, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return out.getvalue()


def to_markdown(header, rows) -> str:
    def cell(value):
        if value is None:
            return "–"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def headline(record: dict, metric: str):
    """The record's value of a figure metric, from the first protocol that has it."""
    return next((record["scores"][key] for key in HEADLINE_METRICS[metric] if key in record["scores"]), None)


def _method_order(method: str) -> int:
    methods = list(METHODS)
    return methods.index(method) if method in methods else len(methods)


def _method_colour(method: str) -> str:
    """One colour per method, the same in every figure (black for a method outside the grid)."""
    return f"C{_method_order(method)}" if method in METHODS else "black"


def group_records(records) -> dict[tuple, list[dict]]:
    """Records per (method, architecture, epochs), in the grid's order: runs of different budgets apart."""
    groups = {}
    for r in sorted(records, key=lambda r: (_method_order(r["method"]), r["architecture"], r["epochs"] or 0)):
        groups.setdefault((r["method"], r["architecture"], r["epochs"]), []).append(r)
    return groups


def group_label(key: tuple, separator: str = "\n") -> str:
    method, architecture, epochs = key
    return f"{method}{separator}{architecture}" + (f", {epochs} ep" if epochs is not None else "")


def _groups(records, value_fn) -> dict:
    """Finite values per (method, architecture, epochs), in the grid's order; groups without one are left out."""
    groups = {}
    for key, members in group_records(records).items():
        values = stats.finite(value_fn(r) for r in members)
        if values:
            groups[key] = values
    return groups


def _unit_axis(set_limits, values) -> None:
    """Scores and accuracies in [0, 1] get the whole [0, 1] axis: a few runs' noise is not a difference."""
    values = list(values)
    if values and all(0.0 <= v <= 1.0 for v in values):
        set_limits(0.0, 1.0)


def _box_with_points(axis, groups: dict, ylabel: str):
    """Every run as a point in its method's colour; a box only where a group has enough runs to show a spread."""
    import numpy as np

    keys = list(groups)
    for position, key in enumerate(keys, start=1):
        values, colour = groups[key], _method_colour(key[0])
        if len(values) >= MIN_BOX_RUNS:
            axis.boxplot([values], positions=[position], widths=0.5, showfliers=False,
                         medianprops={"color": colour}, boxprops={"color": colour},
                         whiskerprops={"color": colour}, capprops={"color": colour})
        jitter = np.random.default_rng(position).uniform(-0.08, 0.08, len(values)) if len(values) > 1 else [0.0]
        axis.scatter(position + np.asarray(jitter), values, s=18, color=colour, alpha=0.8, zorder=3, clip_on=False)
    labels = [f"{group_label(key)}\n(n={len(groups[key])})" for key in keys]
    axis.set_xticks(range(1, len(keys) + 1), labels, fontsize=8)
    axis.set_xlim(0.5, len(keys) + 0.5)
    axis.set_ylabel(ylabel)
    axis.grid(axis="y", alpha=0.3)
    _unit_axis(axis.set_ylim, [v for values in groups.values() for v in values])


def render_figures(records: Sequence[dict]) -> dict[str, bytes]:
    """The figures that the records have data for, as PNG bytes keyed by file name."""
    import matplotlib.pyplot as plt

    rendered = {}
    for name, figure in make_figures(records).items():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=120)
        plt.close(figure)
        rendered[name] = buffer.getvalue()
    return rendered


def make_figures(records: Sequence[dict]) -> dict:
    """The figures that the records have data for, as matplotlib figures keyed by file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {}

    def save(figure, name):
        figures[name] = figure

    metric_groups = {m: _groups(records, lambda r, m=m: headline(r, m)) for m in HEADLINE_METRICS}
    present = [m for m, groups in metric_groups.items() if groups]
    if present:
        figure, axes = plt.subplots(1, len(present), figsize=(5 * len(present), 4), squeeze=False)
        for axis, metric in zip(axes[0], present):
            _box_with_points(axis, metric_groups[metric], metric)
        figure.suptitle("Disentanglement per method and architecture")
        figure.tight_layout()
        save(figure, "metrics.png")

    accuracy = _groups(records, lambda r: r["reconstruction_accuracy"])
    if accuracy:
        figure, axis = plt.subplots(figsize=(7, 4))
        _box_with_points(axis, accuracy, "test reconstruction accuracy")
        axis.set_title("Reconstruction accuracy per method and architecture")
        figure.tight_layout()
        save(figure, "reconstruction.png")

    points = [r for r in records if headline(r, "MIG") is not None and math.isfinite(headline(r, "MIG"))]
    methods = [m for m in METHODS if any(r["method"] == m for r in points)]
    if methods:
        figure, axes = plt.subplots(1, len(methods), figsize=(5 * len(methods), 4), squeeze=False)
        for axis, method in zip(axes[0], methods):
            mine = [r for r in points if r["method"] == method]
            values = sorted({r["value"] for r in mine})
            for colour, value in enumerate(values):  # one colour per value, one marker per architecture
                for architecture, marker in (("cnn", "o"), ("rnn", "^"), ("dsprites", "s")):
                    these = [r for r in mine if r["value"] == value and r["architecture"] == architecture]
                    if these:
                        axis.scatter([r["reconstruction_accuracy"] for r in these], [headline(r, "MIG") for r in these],
                                     color=f"C{colour}", marker=marker, clip_on=False, zorder=3,
                                     label=f"{these[0]['hyperparameter']}={value:g} ({architecture})")
            axis.set(title=method, xlabel="test reconstruction accuracy", ylabel="MIG")
            _unit_axis(axis.set_xlim, [r["reconstruction_accuracy"] for r in mine])
            _unit_axis(axis.set_ylim, [headline(r, "MIG") for r in mine])
            axis.legend(fontsize=7)
            axis.grid(alpha=0.3)
        figure.tight_layout()
        save(figure, "mig_vs_accuracy.png")

    factorwise = {}
    for r in sorted(records, key=lambda r: _method_order(r["method"])):
        source = next((s for s in FACTORWISE_SOURCES if s in r["factorwise_mig"]), None)
        if source:
            factorwise.setdefault(r["method"], []).append(r["factorwise_mig"][source])
    if factorwise:
        import numpy as np
        from matplotlib.lines import Line2D

        figure, axis = plt.subplots(figsize=(10, 4))
        width = 0.8 / len(factorwise)
        handles, drawn = [], []
        for offset, (method, rows) in enumerate(factorwise.items()):
            colour = _method_colour(method)
            for column, key in enumerate(d.FACTOR_KEYS):
                values = [row[key] for row in rows if row.get(key) is not None and math.isfinite(row[key])]
                if not values:
                    continue
                position = column + (offset - (len(factorwise) - 1) / 2) * width
                if len(values) >= MIN_BOX_RUNS:
                    axis.boxplot([values], positions=[position], widths=width * 0.8, showfliers=False,
                                 medianprops={"color": colour}, boxprops={"color": colour},
                                 whiskerprops={"color": colour}, capprops={"color": colour})
                jitter = np.random.default_rng(column).uniform(-0.15, 0.15, len(values)) * width
                axis.scatter(position + (jitter if len(values) > 1 else 0.0), values, s=16, color=colour,
                             alpha=0.8, zorder=3, clip_on=False)
                drawn += values
            handles.append(Line2D([], [], color=colour, marker="o", linestyle="", label=f"{method} (n={len(rows)})"))
        axis.set_xticks(range(len(d.FACTOR_KEYS)), d.FACTOR_KEYS, rotation=30, fontsize=8)
        axis.set_xlim(-0.5, len(d.FACTOR_KEYS) - 0.5)
        axis.set(ylabel="MIG", title="Factor-wise MIG")
        _unit_axis(axis.set_ylim, drawn)
        axis.legend(handles=handles, fontsize=8)
        axis.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        save(figure, "factorwise_mig.png")
    figure = _generalisation_figure(records)
    if figure is not None:
        save(figure, "generalisation.png")
    for curve, ylabel, log in (("accuracy", "reconstruction accuracy", False), ("kl", "KL", True)):
        figure = _learning_curve_figure(records, curve, ylabel, log)
        if figure is not None:
            save(figure, f"learning_curves_{curve}.png")
    figure = _validity_figure(records)
    if figure is not None:
        save(figure, "validity_by_distance.png")
    return figures


def validity_by_distance(record: dict) -> dict[float, float]:
    """A run's fraction of valid decodes per distance bin of its controllability traversals, by the bin's
    lower edge (in standard deviations of the codes from the nearest encoded melody); NaN for an empty bin."""
    prefix = f"{VALIDITY}@"
    return dict(sorted((float(key[len(prefix):]), value) for key, value in record["scores"].items()
                       if key.startswith(prefix)))


def _validity_figure(records: Sequence[dict]):
    """The fraction of valid decodes against the distance from the data, per run; None when no run has it."""
    edges = sorted({edge for r in records for edge in validity_by_distance(r)})  # the bins, evenly apart

    def draw(axis, run, colour, label):
        by_edge = validity_by_distance(run)
        axis.plot([edges.index(edge) for edge in by_edge], list(by_edge.values()), marker=".", alpha=0.8,
                  color=colour, label=label)

    def finish(axis, runs):
        names = [f"{low:g}-{high:g}" for low, high in zip(edges, edges[1:])] + [f"≥ {edges[-1]:g}"]
        axis.set_xticks(range(len(edges)), names, fontsize=8)
        axis.set(xlabel="distance from the data (SD)", ylabel="valid decodes", ylim=(0, 1))

    return _per_run_panels(records, validity_by_distance, draw, finish,
                           "Latent holes: valid decodes of traversed codes by their distance from the nearest melody")


def _generalisation_figure(records: Sequence[dict]):
    """Probe accuracy per factor and R² per ordered factor on held-out melodies, one colour per method
    and dataset config (every run a point); None when no run has ``generalisation`` scores."""
    import matplotlib.pyplot as plt

    from benchmarks.evaluation.generalisation import ORDERED_FACTORS

    groups = {}
    for r in sorted(records, key=lambda r: _method_order(r["method"])):
        if any(key.startswith("generalisation/") for key in r["scores"]):
            groups.setdefault(f"{r['architecture']} {r['method']}, {r['dataset_config']}", []).append(r["scores"])
    if not groups:
        return None
    panels = (("accuracy", d.FACTOR_KEYS, "probe accuracy"), ("r2", ORDERED_FACTORS, "R² (1 - MSE / variance)"))
    figure, axes = plt.subplots(1, 2, figsize=(14, 4),
                                gridspec_kw={"width_ratios": (len(d.FACTOR_KEYS), len(ORDERED_FACTORS))})
    width = 0.8 / len(groups)
    for axis, (score, factors, ylabel) in zip(axes, panels):
        drawn = []
        for offset, (label, runs) in enumerate(groups.items()):
            for column, key in enumerate(factors):
                column_name = f"generalisation/{score}_{key}"
                values = [run[column_name] for run in runs if column_name in run]
                position = column + (offset - (len(groups) - 1) / 2) * width
                axis.scatter([position] * len(values), values, s=18, color=f"C{offset}", zorder=3,
                             clip_on=False, label=label if column == 0 else None)
                drawn += values
        axis.set_xticks(range(len(factors)), factors, rotation=30, fontsize=8)
        axis.set(ylabel=ylabel, title=f"held-out test melodies: {score}")
        _unit_axis(axis.set_ylim, drawn)
        axis.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    return figure


def _learning_curve_figure(records: Sequence[dict], curve: str, ylabel: str, log: bool = False):
    """Every run's validation ``curve`` per epoch; None when no run has logs."""

    def draw(axis, run, colour, label):
        ys = run["curves"][curve]
        axis.plot(range(1, len(ys) + 1), ys, color=colour, alpha=0.8, marker="." if len(ys) < 20 else None, label=label)

    def finish(axis, runs):
        axis.set(xlabel="epoch", ylabel=ylabel)
        if log:
            axis.set_yscale("log")
        else:
            _unit_axis(axis.set_ylim, [y for run in runs for y in run["curves"][curve]])

    return _per_run_panels(records, lambda run: run["curves"].get(curve), draw, finish,
                           f"Validation {ylabel} per epoch")


def _per_run_panels(records: Sequence[dict], has_data, draw, finish, title: str):
    """One panel per (method, architecture, epochs) holding a line per run that ``has_data``, one colour
    per hyperparameter value (``draw(axis, run, colour, label)``), then ``finish(axis, runs)``; None when
    no run has data."""
    import matplotlib.pyplot as plt

    groups = {key: [r for r in members if has_data(r)] for key, members in group_records(records).items()}
    groups = {key: members for key, members in groups.items() if members}
    if not groups:
        return None
    columns = min(4, len(groups))
    rows = math.ceil(len(groups) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for axis, (key, members) in zip(axes.flat, groups.items()):
        values = sorted({r["value"] for r in members})
        for r in members:
            draw(axis, r, f"C{values.index(r['value'])}", f"{r['hyperparameter']}={r['value']:g}")
        handles, labels = axis.get_legend_handles_labels()
        unique = dict(zip(labels, handles))  # one legend entry per value, not per seed
        axis.legend(unique.values(), unique.keys(), fontsize=7)
        axis.set_title(group_label(key, " "))
        finish(axis, members)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(groups):]:
        axis.set_visible(False)
    # On one panel's width the title takes more lines rather than being cut at the figure's edges.
    figure.suptitle(textwrap.fill(title, 45) + "\n(every seed a line)" if columns == 1 else f"{title} (every seed a line)")
    figure.tight_layout()
    return figure


def summary_rows(records: Sequence[dict], null_floor: dict | None = None) -> list[dict]:
    """The summary's rows: ``{"level", "group", "score", "n", "median", "low", "high"}`` for every point
    (range over seeds), every (method, architecture, epochs) group (bootstrap 95 % interval of the median
    over its runs) and every null-floor source (range over its seeds)."""
    rows = []

    def add(level, group, summaries):
        for score, summary in summaries.items():
            if summary is not None:
                rows.append({"level": level, "group": group, "score": score, **dataclasses.asdict(summary)})

    points = {}
    for r in records:
        points.setdefault(r["point"], []).append(r)
    for point, members in points.items():
        add("point", point, {name: stats.seed_range([value(r) for r in members])
                             for name, value in SUMMARY_SCORES.items()})
    for key, members in group_records(records).items():
        add("method", group_label(key, " "), {name: stats.bootstrap_median([value(r) for r in members])
                                              for name, value in SUMMARY_SCORES.items()})
    for source, by_score in (null_floor or {}).items():
        # one record per seed of what benchmarks.null_floor scored, read by the summary's own columns
        members = [{"scores": {key: values[seed] for key, values in by_score.items() if seed < len(values)},
                    "reconstruction_accuracy": None, "curves": {}}
                   for seed in range(max(map(len, by_score.values()), default=0))]
        add("null floor", source, {name: stats.seed_range([value(r) for r in members])
                                   for name, value in SUMMARY_SCORES.items()})
    return rows


# Marks a point's median within the score's resolvable difference of the next point's (summary.md).
UNRESOLVED_MARK = "≈"


def unresolved_points(records: Sequence[dict], rows: Sequence[dict], resolvable: dict[str, float]) -> set:
    """(point, score) for each point median that lies within the score's resolvable difference of the median
    of the next point in its grid: the same method, architecture, budget and dataset config, the next
    hyperparameter value, for every score of :data:`RESOLVABLE_KEYS` that ``resolvable`` has (keyed as
    ``mig/discrete_mig``)."""
    medians = {(row["group"], row["score"]): row["median"] for row in rows if row["level"] == "point"}
    marked = set()
    for members in group_records(records).values():
        points = sorted({(r["dataset_config"] or "", r["value"], r["point"]) for r in members})
        for (config, _, point), (next_config, _, following) in zip(points, points[1:]):
            for metric, key in RESOLVABLE_KEYS.items():
                threshold, here, there = (resolvable.get(key), medians.get((point, metric)),
                                          medians.get((following, metric)))
                if config == next_config and None not in (threshold, here, there) and abs(here - there) < threshold:
                    marked.add((point, metric))
    return marked


def summary_markdown(rows: Sequence[dict], resolvable: dict[str, float] | None = None,
                     unresolved: set = frozenset()) -> str:
    """The summary's three tables as Markdown: a cell is ``median [low, high]``; with ``resolvable`` (score key
    -> the smallest difference it resolves), a table of them and :data:`UNRESOLVED_MARK` on the cells of
    ``unresolved`` (:func:`unresolved_points`)."""
    titles = {"point": "Per point: median [min, max] over seeds",
              "method": "Per method, architecture and budget: median over runs [bootstrap 95 % interval]",
              "null floor": "Null floor: representations that learned nothing, median [min, max] over seeds "
                            "(python -m benchmarks.null_floor)"}
    # a row's count is its runs, those of its most widely scored score in any table; a score only some of
    # them have says how many (newer scores are added run by run)
    counts: dict[tuple, int] = {}
    for row in rows:
        counts[row["level"], row["group"]] = max(counts.get((row["level"], row["group"]), 0), row["n"])
    parts = []
    for block, scores in SUMMARY_TABLES.items():
        for level, title in titles.items():
            mine = [row for row in rows if row["level"] == level and row["score"] in scores]
            if not mine:
                continue
            cells: dict[str, dict] = {row["group"]: {"n": counts[level, row["group"]]} for row in mine}
            for row in mine:
                mark = f" {UNRESOLVED_MARK}" if level == "point" and (row["group"], row["score"]) in unresolved else ""
                cells[row["group"]][row["score"]] = stats.Summary(
                    row["n"], row["median"], row["low"], row["high"]).format(of=counts[level, row["group"]]) + mark
            heading = "seeds" if level != "method" else "runs"
            lines = [f"## {title}" + (f": {block}" if block else ""), "",
                     "| " + " | ".join([level, heading, *scores]) + " |", "|---" * (len(scores) + 2) + "|"]
            lines += ["| " + " | ".join([group, str(cell["n"]), *(cell.get(s, "–") for s in scores)]) + " |"
                      for group, cell in cells.items()]
            parts.append("\n".join(lines))
    notes = ("A difference between two methods is called only where their intervals do not overlap "
             "(benchmarks/reporting/seed_statistics.py). `last-epoch gain`: how much validation reconstruction accuracy "
             "rose in the last epoch; well above 0, the run had not reached a plateau. `valid < 0.25 SD`, `valid ≥ 2 SD`: "
             "the fraction of controllability's traversed codes decoded to a valid melody, among those within 0.25 "
             "standard deviations of the nearest encoded melody and among those beyond 2 "
             "(validity_by_distance.png has every bin). `(k of n)` after a cell: "
             "only k of the row's n runs have that score so far.")
    if resolvable is not None:
        parts.append(_resolvable_markdown(resolvable))
    return "# Summary over seeds\n\n" + notes + "\n\n" + "\n\n".join(parts) + "\n"


def _resolvable_markdown(resolvable: dict[str, float]) -> str:
    """The resolvable differences of the summary's scores, and what the mark means."""
    lines = ["## Resolvable differences (python -m benchmarks.metric_sensitivity)", "",
             f"{UNRESOLVED_MARK} on a point's median: it lies within the score's resolvable difference of the median "
             "of the next hyperparameter value in the same method's grid (same architecture and budget), so the "
             "two points are not told apart. The resolvable difference is the larger of the scoring noise (the "
             "median range over scoring seeds at the standard protocol) and the training-seed spread (the median "
             "range of a point over its seeds): benchmarks/evaluation/sensitivity.py.", "",
             "| score | resolvable difference |", "|---|---|"]
    lines += [f"| {metric} | {resolvable[key]:.4f} |" for metric, key in RESOLVABLE_KEYS.items() if key in resolvable]
    return "\n".join(lines)


def draw_figures(records: Sequence[dict], out: str) -> list[str]:
    """Writes the figures that the records have data for (each atomically); returns their paths."""
    written = []
    for name, data in render_figures(records).items():
        path = os.path.join(out, name)
        _write_bytes(path, data)
        written.append(path)
    return written


def _write_bytes(path: str, data: bytes) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as file:
            file.write(data)


def build_report(root: str, out: str | None = None, preset: str | None = None, null_floor: str | None = None,
                 sensitivity: str | None = None) -> dict:
    """Writes the table, the list of missing runs and problems, and the figures; returns what was written.
    ``null_floor`` and ``sensitivity`` name a ``null_floor.json`` and a ``sensitivity.json`` for summary.md.

    Everything is computed first and then written file by file, each atomically, so an error leaves the
    previous report untouched; figures of an earlier report that the data no longer supports are removed.
    """
    report = report_texts(root, preset, null_floor, sensitivity)
    records, texts = report.pop("records"), report.pop("texts")
    out = out or os.path.join(root, "report")
    figures = render_figures(records)
    os.makedirs(out, exist_ok=True)
    for name, text in texts.items():
        write_text(os.path.join(out, name), text)
    for name, data in figures.items():
        _write_bytes(os.path.join(out, name), data)
    for name in FIGURES:
        if name not in figures and os.path.exists(os.path.join(out, name)):
            os.remove(os.path.join(out, name))  # an earlier report's figure: no longer this data's
    return {**report, "out": out, "figures": [os.path.join(out, name) for name in figures]}


def report_texts(root: str, preset: str | None = None, null_floor: str | None = None,
                 sensitivity: str | None = None) -> dict:
    """The report's text files (``texts``: file name -> contents) and what they were made from, without
    writing anything: :func:`build_report` writes them, and a test checks that every committed report
    is what its runs give today."""
    from benchmarks.evaluation.null_floor import read_null_floor
    from benchmarks.evaluation.sensitivity import read_resolvable

    floor = read_null_floor(null_floor) if null_floor else None
    resolvable = read_resolvable(sensitivity) if sensitivity else None
    records, problems = collect(root)
    if not records:
        if problems:
            raise ValueError(f"no usable results.json under {root!r}: " + "; ".join(problems[:3]))
        raise FileNotFoundError(f"no results.json under {root!r}: train runs first (python -m benchmarks.train)")
    header, rows = table(records)
    missing = missing_runs(root, records, preset)
    summary = summary_rows(records, floor)
    texts = {
        "results.csv": to_csv(header, rows),
        "results.md": to_markdown(header, rows),
        "missing.txt": "".join(f"{line}\n" for line in missing + problems),
        "summary.md": summary_markdown(summary, resolvable, unresolved_points(records, summary, resolvable or {})),
        "summary.csv": to_csv(list(summary[0]) if summary else [], [list(row.values()) for row in summary]),
    }
    return {"records": records, "texts": texts, "runs": len(records), "missing": missing, "problems": problems,
            "columns": header, "summary": summary}
