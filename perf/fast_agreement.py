"""How close a fast estimator comes to disentanglement_lib's standard one, and how much faster it is, on
trained runs scored with both: the fast DCI (gin_configs/metrics/dci_fast.gin) against ``dci``, and the
fast fairness (gin_configs/metrics/fairness_fast.gin) against ``fairness``:

    python -m benchmarks.evaluate --model_dir=RUN --gin_file=gin_configs/metrics/dci.gin
    python -m benchmarks.evaluate --model_dir=RUN --gin_file=gin_configs/metrics/dci_fast.gin
    python perf/fast_agreement.py --metric=dci RUN [RUN ...] [--out=FILE.json]

prints, per run and score, both values and their difference, the largest absolute difference per score,
and each estimator's seconds (measured by ``benchmarks.evaluate`` in its own process: the ratio is only as
fair as the two processes' machine load).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

# metric -> (standard results file, fast results file, the scores compared). Both fairness files hold
# disentanglement_lib's "fairness" scores; the fast DCI's are under "dci_fast".
COMPARED = {
    "dci": ("dci", "dci_fast", ("disentanglement", "completeness", "informativeness_test")),
    "fairness": ("fairness", "fairness_fast", ("mean_fairness:mean_pred:mean_sens", "mean_fairness:mean_pred:max_sens",
                                               "max_fairness:mean_pred:mean_sens")),
}


def _scores(run: str, name: str, metric: str) -> tuple[dict, float]:
    path = os.path.join(run, "metrics", f"{name}.json")
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: score the run first with "
                         f"python -m benchmarks.evaluate --model_dir={run} --gin_file=gin_configs/metrics/{name}.gin")
    with open(path) as file:
        result = json.load(file)
    key = name if name in result["scores"] else metric
    return result["scores"][key], float(result["metric_seconds"][key])


def agreement(runs: list[str], metric: str = "dci") -> dict:
    standard_name, fast_name, scores = COMPARED[metric]
    rows = []
    for run in runs:
        (standard, standard_s), (fast, fast_s) = (_scores(run, standard_name, metric), _scores(run, fast_name, metric))
        rows.append({"run": run, f"{standard_name}_seconds": standard_s, f"{fast_name}_seconds": fast_s,
                     **{f"{s}_{standard_name}": standard[s] for s in scores},
                     **{f"{s}_{fast_name}": fast[s] for s in scores}})
    largest = {s: max(abs(r[f"{s}_{fast_name}"] - r[f"{s}_{standard_name}"]) for r in rows) for s in scores}
    return {"metric": metric, "runs": rows, "largest_absolute_difference": largest}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders scored with both the standard and the fast config")
    parser.add_argument("--metric", choices=sorted(COMPARED), default="dci")
    parser.add_argument("--out", help="also write the table as JSON here")
    args = parser.parse_args(argv)
    standard_name, fast_name, scores = COMPARED[args.metric]
    result = agreement(args.runs, args.metric)
    width = max(len(s) for s in scores) + 1
    print(f"{'run':<58} {'score':<{width}} {standard_name:>9} {'fast':>7} {'diff':>7}")
    for row in result["runs"]:
        for s in scores:
            standard, fast = row[f"{s}_{standard_name}"], row[f"{s}_{fast_name}"]
            print(f"{row['run'][-58:]:<58} {s:<{width}} {standard:9.4f} {fast:7.4f} {fast - standard:+7.4f}")
        standard_s, fast_s = row[f"{standard_name}_seconds"], row[f"{fast_name}_seconds"]
        print(f"{'':<58} {'seconds':<{width}} {standard_s:9.1f} {fast_s:7.1f} {standard_s / fast_s:6.0f}x")
    print("largest |difference|: " + ", ".join(f"{s} {v:.4f}" for s, v in result["largest_absolute_difference"].items()))
    if args.out:
        from dmelodies_tfds.atomic import write_text
        write_text(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
