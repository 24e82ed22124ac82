r"""One table and the paper's figures from every run under a folder (issue 4, SPEC §7).

    python -m benchmarks.report --root=runs [--out=runs/report]

Reads each run's ``results.json`` (written by :mod:`benchmarks.train`) and its
``metrics/<name>.json`` files (written by :mod:`benchmarks.evaluate`) and writes, under ``--out``:

- ``results.csv`` and ``results.md``: one row per run — method, architecture, hyperparameter, seed,
  test reconstruction accuracy, then every scalar score as ``<metrics file>/<score>`` (for example
  ``mig/discrete_mig`` for the standard protocol and ``paper/discrete_mig`` for the paper's);
- ``missing.txt``: runs of the paper's grid (for the method families present under ``--root``) that
  have no results, and runs without metrics — reported, never silently skipped;
- ``metrics.png``: MIG, Modularity and SAP per method and architecture (box plots with the points);
- ``reconstruction.png``: test reconstruction accuracy per method and architecture;
- ``mig_vs_accuracy.png``: MIG against reconstruction accuracy, one colour per hyperparameter value;
- ``factorwise_mig.png``: MIG of each factor per method.
"""
from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import os
import sys
from typing import Sequence

import dmelodies_tfds as d
from benchmarks import sweep
from benchmarks.files import atomic_path, write_text

# The figures' scores, in order of preference: the standard protocol first, then the paper's.
HEADLINE_METRICS = {
    "MIG": ("mig/discrete_mig", "paper/discrete_mig"),
    "Modularity": ("modularity_explicitness/modularity_score", "paper/modularity_score"),
    "SAP": ("sap_score/SAP_score", "paper/SAP_score"),
}
FACTORWISE_SOURCES = ("mig", "paper")
_RUN_COLUMNS = ("run", "method", "architecture", "hyperparameter", "value", "seed", "reconstruction_accuracy")


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); rerun the step that wrote it") from None


def collect(root: str) -> list[dict]:
    """One record per run under ``root``: its training results, flat scalar scores and factor-wise MIG."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"--root {root!r} is not a folder")
    records = []
    for results_path in sorted(glob.glob(os.path.join(root, "**", "results.json"), recursive=True)):
        run_dir = os.path.dirname(results_path)
        results = _read_json(results_path)
        record = {
            "run": os.path.relpath(run_dir, root),
            "method": results.get("method"),
            "architecture": results.get("architecture"),
            "hyperparameter": results.get("hyperparameter_name"),
            "value": results.get("hyperparameter_value"),
            "seed": results.get("seed"),
            "reconstruction_accuracy": results.get("test_reconstruction_accuracy"),
            "scores": {},
            "factorwise_mig": {},
        }
        for metrics_path in sorted(glob.glob(os.path.join(run_dir, "metrics", "*.json"))):
            metrics = _read_json(metrics_path)
            name = metrics.get("name", os.path.splitext(os.path.basename(metrics_path))[0])
            for scores in metrics.get("scores", {}).values():
                for key, value in scores.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        record["scores"][f"{name}/{key}"] = float(value)
            if metrics.get("factorwise_mig"):
                record["factorwise_mig"][name] = metrics["factorwise_mig"]
        records.append(record)
    return records


def missing_runs(root: str, records: Sequence[dict]) -> list[str]:
    """Grid runs absent under ``root`` (in the families present there), and runs that have no metrics."""
    present = {r["run"].replace(os.sep, "/") for r in records}
    families = {name.split("/")[0] for name in present}
    lines = [f"{run.name}: no results.json" for run in sweep.grid()
             if run.name.split("/")[0] in families and run.name not in present]
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


def _groups(records, value_fn):
    """Values per (method, architecture), in the grid's order, skipping runs without the value."""
    groups = {}
    for method in sweep.METHODS:
        for architecture in (*sweep.ARCHITECTURES, "dsprites"):
            values = [value_fn(r) for r in records if r["method"] == method and r["architecture"] == architecture]
            values = [v for v in values if v is not None]
            if values:
                groups[f"{method}\n{architecture}"] = values
    return groups


def _box_with_points(axis, groups: dict, ylabel: str):
    import numpy as np

    labels = list(groups)
    axis.boxplot([groups[k] for k in labels], showfliers=False)
    for position, label in enumerate(labels, start=1):
        jitter = np.random.default_rng(position).uniform(-0.08, 0.08, len(groups[label]))
        axis.scatter(position + jitter, groups[label], s=14, alpha=0.7, zorder=3)
    axis.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
    axis.set_ylabel(ylabel)
    axis.grid(axis="y", alpha=0.3)


def draw_figures(records: Sequence[dict], out: str) -> list[str]:
    """Writes the figures that the records have data for; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    def save(figure, name):
        path = os.path.join(out, name)
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=120)
        plt.close(figure)
        written.append(path)

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

    points = [r for r in records if headline(r, "MIG") is not None and r["reconstruction_accuracy"] is not None]
    methods = [m for m in sweep.METHODS if any(r["method"] == m for r in points)]
    if methods:
        figure, axes = plt.subplots(1, len(methods), figsize=(5 * len(methods), 4), squeeze=False)
        for axis, method in zip(axes[0], methods):
            values = sorted({r["value"] for r in points if r["method"] == method})
            for colour, value in enumerate(values):  # one colour per value, one marker per architecture
                for architecture, marker in (("cnn", "o"), ("rnn", "^"), ("dsprites", "s")):
                    mine = [r for r in points
                            if r["method"] == method and r["value"] == value and r["architecture"] == architecture]
                    if mine:
                        axis.scatter([r["reconstruction_accuracy"] for r in mine], [headline(r, "MIG") for r in mine],
                                     color=f"C{colour}", marker=marker,
                                     label=f"{mine[0]['hyperparameter']}={value:g} ({architecture})")
            axis.set(title=method, xlabel="test reconstruction accuracy", ylabel="MIG")
            axis.legend(fontsize=7)
            axis.grid(alpha=0.3)
        figure.tight_layout()
        save(figure, "mig_vs_accuracy.png")

    factorwise = {}
    for r in records:
        source = next((s for s in FACTORWISE_SOURCES if s in r["factorwise_mig"]), None)
        if source:
            factorwise.setdefault(r["method"], []).append(r["factorwise_mig"][source])
    if factorwise:
        import numpy as np

        figure, axis = plt.subplots(figsize=(10, 4))
        width = 0.8 / len(factorwise)
        for offset, (method, rows) in enumerate(factorwise.items()):
            values = [[row.get(key) for row in rows if row.get(key) is not None] for key in d.FACTOR_KEYS]
            positions = np.arange(len(d.FACTOR_KEYS)) + (offset - (len(factorwise) - 1) / 2) * width
            boxes = axis.boxplot(values, positions=positions, widths=width * 0.9, patch_artist=True, showfliers=False)
            for patch in boxes["boxes"]:
                patch.set_facecolor(f"C{offset}")
            axis.plot([], [], color=f"C{offset}", linewidth=6, label=method)
        axis.set_xticks(range(len(d.FACTOR_KEYS)), d.FACTOR_KEYS, rotation=30, fontsize=8)
        axis.set(ylabel="MIG", title="Factor-wise MIG")
        axis.legend(fontsize=8)
        axis.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        save(figure, "factorwise_mig.png")
    return written


def build_report(root: str, out: str | None = None) -> dict:
    """Writes the table, the list of missing runs and the figures; returns what was written."""
    records = collect(root)
    if not records:
        raise FileNotFoundError(f"no results.json under {root!r}: train runs first (python -m benchmarks.train)")
    out = out or os.path.join(root, "report")
    os.makedirs(out, exist_ok=True)
    header, rows = table(records)
    write_text(os.path.join(out, "results.csv"), to_csv(header, rows))
    write_text(os.path.join(out, "results.md"), to_markdown(header, rows))
    missing = missing_runs(root, records)
    write_text(os.path.join(out, "missing.txt"), "".join(f"{line}\n" for line in missing))
    figures = draw_figures(records, out)
    return {"runs": len(records), "missing": missing, "out": out, "figures": figures, "columns": header}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="folder holding the runs (each with results.json)")
    parser.add_argument("--out", help="where to write the report (default: ROOT/report)")
    args = parser.parse_args(argv)
    try:
        report = build_report(args.root, args.out)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{report['runs']} run(s); table and {len(report['figures'])} figure(s) in {report['out']}")
    if report["missing"]:
        print(f"{len(report['missing'])} missing (see missing.txt):")
        for line in report["missing"][:20]:
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
