r"""Each metric's null floor: its value for representations that learned nothing.

    python -m benchmarks.null_floor --out=results/null_floor [--seeds=0,1,2] [--metrics=mig,sap_score]

Scores untrained CNN and RNN encoders and codes independent of the melodies with the runs' own metric
configs, and writes null_floor.json for `python -m benchmarks.report --null_floor=...`. Details:
benchmarks.evaluation.null_floor.
"""
from __future__ import annotations

import sys

from benchmarks import cli

if __name__ == "__main__":
    cli.quiet_start()  # before TensorFlow loads


def main(argv=None) -> int:
    import numpy as np

    from benchmarks.evaluation.null_floor import SOURCES, null_floor, write_null_floor
    from benchmarks.study.suites import NULL_FLOOR_METRICS

    parser = cli.parser(__doc__, "null_floor")
    parser.add_argument("--out", required=True, help="folder for null_floor.json")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--metrics", default=",".join(NULL_FLOOR_METRICS),
                        help="metric configs of gin_configs/metrics (default: every one a run carries that needs "
                             "no decoder)")
    parser.add_argument("--sources", default=",".join(SOURCES), help=f"any of {', '.join(SOURCES)}")
    parser.add_argument("--gin_bindings", action="append", default=[],
                        help="extra binding for every metric config, e.g. mig.num_train=1000 (repeatable)")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in cli.comma_list(args.seeds)]
        sources = cli.comma_list(args.sources)
        unknown = [s for s in sources if s not in SOURCES]
        if unknown or not seeds or min(seeds) < 0:
            raise ValueError(f"unknown source(s) {', '.join(unknown)}" if unknown else "--seeds: give seeds >= 0")
        result = null_floor(seeds, cli.comma_list(args.metrics), sources, args.gin_bindings)
    except ValueError as error:  # ConfigurationError (an unknown metric config) is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
    path = write_null_floor(args.out, result)
    for source, by_score in result["scores"].items():
        print(source + ": " + ", ".join(f"{key} {np.median(values):.4f}" for key, values in sorted(by_score.items())))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    cli.run(main)
