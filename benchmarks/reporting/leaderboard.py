"""The leaderboard: every point of the model zoo (:mod:`benchmarks.reporting.zoo`) with its scores over seeds.

:func:`build` (``python -m benchmarks.leaderboard``) writes ``results/LEADERBOARD.md`` and
``results/leaderboard.csv``. A row is a point: one method's hyperparameter value on one architecture,
in one study, at one budget (s) and dataset config; runs of different studies or budgets are never pooled,
since a budget changes what a method reaches (docs/study.md). Each score is the median over the
point's seeds with a percentile-bootstrap 95 % interval (:mod:`benchmarks.reporting.seed_statistics`,
after Locatello et al., ICML 2019: the seed moves a score as much as the method), for the test
reconstruction accuracy and every scalar score of the metric files the runs have (the standard suite,
the paper's protocol, controllability, generalisation). Within a study, budget and dataset config,
rows are ranked by the median MIG; two rows differ only where their intervals do not overlap.

Every metric file is read only after its hash is checked against the zoo's index.
"""
from __future__ import annotations

import os
from typing import Sequence

from benchmarks.reporting import seed_statistics as stats
from benchmarks.reporting import zoo
from benchmarks.reporting.report import to_csv
from benchmarks.run_dir import METRICS, RunProblem, read_metrics
from dmelodies_tfds.atomic import write_text

MARKDOWN_FILE, CSV_FILE = "LEADERBOARD.md", "leaderboard.csv"
RANKED_BY = "mig/discrete_mig"
PRIMARY_STUDY = "reference"  # the project's reference numbers (results/README.md): listed first
# Scores that are not scores: controllability's ``dimension_<factor>`` (and ``robust_`` one) names the latent
# dimension that moves a factor most, interpretability's ``dimension_<k>`` the one it regresses the factor on:
# indices whose median means nothing.
NOT_SCORES = ("controllability/dimension_", "controllability/robust_dimension_", "interpretability/dimension_")
POINT_KEYS = ("study", "budget", "dataset_config", "architecture", "method", "hyperparameter", "value")


def model_scores(root: str, entry: dict) -> dict[str, float]:
    """Every scalar score of a zoo model (its metric files, checked against the index) and its test
    reconstruction accuracy, keyed as the report keys them (``<metrics file>/<score>``)."""
    zoo.verify_entry(root, entry)
    scores = {"reconstruction_accuracy": entry["scores"]["reconstruction_accuracy"]}
    model_dir = os.path.join(root, entry["path"])
    for file in sorted(entry["files"]):
        if file.startswith(f"{METRICS}/") and file.endswith(".json"):
            try:
                scores.update(read_metrics(os.path.join(model_dir, file))[1])
            except RunProblem as problem:
                raise zoo.ZooError(f"{entry['name']}: {problem}") from None
    return {key: value for key, value in scores.items() if not key.startswith(NOT_SCORES)}


def _study_order(study: str) -> tuple:
    return (study != PRIMARY_STUDY, study)


def leaderboard_rows(root: str = "results") -> list[dict]:
    """One row per point: its keys (:data:`POINT_KEYS`), ``seeds`` (how many runs), ``runs`` (their names)
    and ``scores`` (``{score: Summary}``, the bootstrap interval of the median over the seeds)."""
    points: dict[tuple, list] = {}
    for entry in zoo.read_index(root)["entries"]:
        key = tuple(entry[k] for k in POINT_KEYS)
        points.setdefault(key, []).append((entry, model_scores(root, entry)))
    rows = []
    for key, members in points.items():
        names = sorted({score for _, scores in members for score in scores})
        summaries = {name: stats.bootstrap_median([scores.get(name) for _, scores in members]) for name in names}
        rows.append({**dict(zip(POINT_KEYS, key)), "seeds": len(members),
                     "runs": [entry["name"] for entry, _ in members],
                     "scores": {name: s for name, s in summaries.items() if s is not None}})

    def rank(row):
        mig = row["scores"].get(RANKED_BY)
        return (_study_order(row["study"]), row["budget"] or 0, row["dataset_config"] or "",
                -(mig.median if mig else -1.0), row["architecture"], row["method"], row["value"])

    return sorted(rows, key=rank)


def point_label(row: dict) -> str:
    """``cnn_beta_vae/beta=4``: the point as the runs' folders name it."""
    return f"{row['architecture']}_{row['method']}/{row['hyperparameter']}={row['value']:g}"


def _score_columns(rows: Sequence[dict]) -> list[str]:
    present = {name for row in rows for name in row["scores"]}
    return [key for key in zoo.HEADLINE_SCORES if key in present] + sorted(present - set(zoo.HEADLINE_SCORES))


def csv_text(rows: Sequence[dict]) -> str:
    """The leaderboard as CSV: the point's keys, ``seeds``, then ``<score>``, ``<score>:low``,
    ``<score>:high``, ``<score>:n`` (median, bootstrap 95 % interval, how many of the seeds have it) for
    every score."""
    scores = _score_columns(rows)
    header = [*POINT_KEYS, "seeds"] + [f"{name}{suffix}" for name in scores for suffix in ("", ":low", ":high", ":n")]
    table = []
    for row in rows:
        cells = [row[key] for key in POINT_KEYS] + [row["seeds"]]
        for name in scores:
            summary = row["scores"].get(name)
            cells += [summary.median, summary.low, summary.high, summary.n] if summary else [None] * 4
        table.append(cells)
    return to_csv(header, table)


def _section_title(row: dict) -> str:
    config = row["dataset_config"] or "unknown dataset config"
    budget = f"s = {row['budget']:g}" if row["budget"] is not None else "unknown budget"
    return f"{row['study']}, {budget}, dataset config `{config}`"


def markdown_text(rows: Sequence[dict], models: int) -> str:
    """The leaderboard as Markdown: one table per study, budget and dataset config, headline scores only
    (the CSV has every score)."""
    lines = [
        "# Leaderboard",
        "",
        f"Every point of the model zoo ({models} models in `zoo.json`; docs/zoo.md), built by "
        "`python -m benchmarks.leaderboard`; do not edit by hand. A cell is the median over the point's seeds "
        "[percentile-bootstrap 95 % interval] (benchmarks/reporting/seed_statistics.py); a single seed shows "
        "its value alone, and `(k of n)` says that only k of the point's n seeds have that score so far. "
        "Runs of different studies, budgets (s: 100·s epochs) or dataset configs are never pooled. "
        "Rows are ranked by median MIG; two rows differ only where their intervals do not overlap. "
        "`leaderboard.csv` has every score of every metric file, with its interval and count.",
    ]
    sections: dict[str, list[dict]] = {}
    for row in rows:
        sections.setdefault(_section_title(row), []).append(row)
    for title, members in sections.items():
        columns = [key for key in zoo.HEADLINE_SCORES if any(key in row["scores"] for row in members)]
        lines += ["", f"## {title}", "",
                  "| rank | point | seeds | " + " | ".join(zoo.HEADLINE_SCORES[key] for key in columns) + " |",
                  "|---:|---|---:|" + "---|" * len(columns)]
        for rank, row in enumerate(members, start=1):
            cells = [row["scores"][key].format(of=row["seeds"]) if key in row["scores"] else "–" for key in columns]
            lines.append(f"| {rank} | {point_label(row)} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def texts(rows: Sequence[dict]) -> dict[str, str]:
    """``{file name: text}`` of the leaderboard's two files for these rows."""
    return {MARKDOWN_FILE: markdown_text(rows, sum(row["seeds"] for row in rows)), CSV_FILE: csv_text(rows)}


def stale_files(root: str = "results") -> list[str]:
    """The leaderboard files in ``root`` that differ from what the zoo in ``root`` builds (missing ones too)."""
    stale = []
    for name, text in texts(leaderboard_rows(root)).items():
        path = os.path.join(root, name)
        if not os.path.isfile(path):
            stale.append(name)
            continue
        with open(path, encoding="utf-8") as file:
            if file.read() != text:
                stale.append(name)
    return stale


def build(root: str = "results") -> dict:
    """Writes ``root/LEADERBOARD.md`` and ``root/leaderboard.csv`` (each atomically) from the zoo in ``root``;
    returns the rows and the paths written."""
    rows = leaderboard_rows(root)
    files = texts(rows)
    for name, text in files.items():
        write_text(os.path.join(root, name), text)
    return {"rows": rows, "models": sum(row["seeds"] for row in rows),
            "paths": [os.path.join(root, name) for name in files]}
