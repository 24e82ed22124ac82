r"""How far each standard score can be trusted: how it moves with the bins, the number of scoring melodies
and the scoring and training seeds, and the smallest difference it resolves.

    python -m benchmarks.metric_sensitivity --root=results/reference/runs --out=results/metric_sensitivity \
        [--filter=s=0.1/cnn_beta_vae] [--bins=10,20,50] [--sizes=1000,10000,50000] [--seeds=0,1,2]

Scores each trained run under --root (its encoder.keras) with disentanglement_lib's MIG, Modularity,
Explicitness and SAP at every setting, one OUT/runs/<run>.json per run (a rerun skips the runs done), then
writes OUT/sensitivity.json, sensitivity.md and sensitivity.png, and prints the table; the report reads
sensitivity.json (python -m benchmarks.report --sensitivity=...). Details: benchmarks.evaluation.sensitivity.
"""
from __future__ import annotations

import sys

from benchmarks import cli

if __name__ == "__main__":
    cli.quiet_start()  # before TensorFlow loads


def main(argv=None) -> int:
    from benchmarks.evaluation import sensitivity

    parser = cli.parser(__doc__, "metric_sensitivity")
    parser.add_argument("--root", required=True, help="folder holding the trained runs")
    parser.add_argument("--out", required=True, help="folder for runs/<run>.json and the summary")
    parser.add_argument("--filter", action="append", default=[],
                        help="keep the runs whose name matches (substring or glob; repeatable)")
    parser.add_argument("--bins", default=",".join(map(str, sensitivity.BINS)), help="histogram bins (MIG, Modularity)")
    parser.add_argument("--sizes", default=",".join(map(str, sensitivity.SIZES)), help="scoring melodies")
    parser.add_argument("--seeds", default=",".join(map(str, sensitivity.SEEDS)), help="scoring seeds")
    parser.add_argument("--standard_size", type=int, default=sensitivity.STANDARD_SIZE,
                        help="the size every other is compared with (one of --sizes)")
    parser.add_argument("--summary_only", action="store_true",
                        help="score nothing: summarise the runs OUT already holds (of a study stopped part-way)")
    parser.add_argument("--no_summary", action="store_true",
                        help="score, and leave OUT's summary as it is: for one of several processes that score "
                             "parts of a study into one OUT (run the whole command last to summarise)")
    args = parser.parse_args(argv)
    if args.summary_only and args.no_summary:
        parser.error("--summary_only and --no_summary exclude each other: the first only summarises")
    try:
        settings = sensitivity.Settings(*([int(v) for v in cli.comma_list(text)]
                                          for text in (args.bins, args.sizes, args.seeds)),
                                        standard_size=args.standard_size)
        summary = sensitivity.study(args.root, args.out, args.filter, settings, scoring=not args.summary_only,
                                    summarising=not args.no_summary)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if summary is None:
        print(f"scored the runs matching {args.filter or 'anything'} into {args.out}; no summary written "
              "(rerun without --no_summary to write it)")
        return 0
    print(sensitivity.table(summary), end="")
    print(f"{len(summary['runs'])} run(s) scored, {len(summary['runs_missing'])} not yet; wrote {args.out}")
    return 0


if __name__ == "__main__":
    cli.run(main)
