"""How close the fast DCI (gin_configs/metrics/dci_fast.gin) comes to disentanglement_lib's DCI, and how much
faster it is, on trained runs scored with both:

    python -m benchmarks.evaluate --model_dir=RUN --gin_file=gin_configs/metrics/dci.gin
    python -m benchmarks.evaluate --model_dir=RUN --gin_file=gin_configs/metrics/dci_fast.gin
    python perf/dci_agreement.py RUN [RUN ...] [--out=FILE.json]

prints, per run and score (disentanglement, completeness, informativeness_test), both values and their
difference, the largest absolute difference per score, and each metric's seconds (measured by
``benchmarks.evaluate`` in its own process: the ratio is only as fair as the two processes' machine load).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

SCORES = ("disentanglement", "completeness", "informativeness_test")


def _scores(run: str, name: str) -> tuple[dict, float]:
    path = os.path.join(run, "metrics", f"{name}.json")
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: score the run first with "
                         f"python -m benchmarks.evaluate --model_dir={run} --gin_file=gin_configs/metrics/{name}.gin")
    with open(path) as file:
        result = json.load(file)
    return result["scores"][name], float(result["metric_seconds"][name])


def agreement(runs: list[str]) -> dict:
    rows = []
    for run in runs:
        (standard, standard_s), (fast, fast_s) = _scores(run, "dci"), _scores(run, "dci_fast")
        rows.append({"run": run, "dci_seconds": standard_s, "dci_fast_seconds": fast_s,
                     **{f"{s}_dci": standard[s] for s in SCORES}, **{f"{s}_dci_fast": fast[s] for s in SCORES}})
    largest = {s: max(abs(r[f"{s}_dci_fast"] - r[f"{s}_dci"]) for r in rows) for s in SCORES}
    return {"runs": rows, "largest_absolute_difference": largest}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders scored with dci.gin and dci_fast.gin")
    parser.add_argument("--out", help="also write the table as JSON here")
    args = parser.parse_args(argv)
    result = agreement(args.runs)
    print(f"{'run':<58} {'score':<22} {'dci':>7} {'fast':>7} {'diff':>7}")
    for row in result["runs"]:
        for s in SCORES:
            print(f"{row['run'][-58:]:<58} {s:<22} {row[f'{s}_dci']:7.4f} {row[f'{s}_dci_fast']:7.4f} "
                  f"{row[f'{s}_dci_fast'] - row[f'{s}_dci']:+7.4f}")
        print(f"{'':<58} {'seconds':<22} {row['dci_seconds']:7.1f} {row['dci_fast_seconds']:7.1f} "
              f"{row['dci_seconds'] / row['dci_fast_seconds']:6.0f}x")
    print("largest |difference|: " + ", ".join(f"{s} {v:.4f}" for s, v in result["largest_absolute_difference"].items()))
    if args.out:
        from dmelodies_tfds.atomic import write_text
        write_text(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
