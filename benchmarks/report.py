r"""One table, a summary over seeds and the paper's figures from every run under a folder.

    python -m benchmarks.report --root=runs [--out=runs/report] [--preset=compressed] \
        [--null_floor=results/null_floor/null_floor.json] [--sensitivity=results/metric_sensitivity/sensitivity.json]

What it writes (results.csv/.md, summary.md/.csv, missing.txt, the figures): benchmarks.reporting.report.
"""
from __future__ import annotations

import sys

from benchmarks import cli

if __name__ == "__main__":
    cli.quiet_start()  # before TensorFlow loads (the learning curves read TensorBoard logs)


def arguments(argv=None):
    """The command line's arguments (also read by the test that rebuilds every committed report)."""
    from benchmarks.study.grid import PRESETS

    parser = cli.parser(__doc__, "report")
    parser.add_argument("--root", required=True, help="folder holding the runs (each with results.json)")
    parser.add_argument("--out", help="where to write the report (default: ROOT/report)")
    parser.add_argument("--preset", choices=PRESETS,
                        help="list as missing the runs of this sweep preset (default: the paper's grid, in the "
                             "method families present)")
    parser.add_argument("--null_floor", help="a null_floor.json (python -m benchmarks.null_floor) to print beside "
                                             "the scores in summary.md")
    parser.add_argument("--sensitivity", help="a sensitivity.json (python -m benchmarks.metric_sensitivity): "
                                              "summary.md states each score's resolvable difference and marks "
                                              "the point comparisons below it")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = arguments(argv)
    from benchmarks.reporting.report import build_report
    from dmelodies_tfds.text import one_line

    try:
        report = build_report(args.root, args.out, args.preset, args.null_floor, args.sensitivity)
    except (OSError, ValueError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    print(f"{report['runs']} run(s); table and {len(report['figures'])} figure(s) in {report['out']}")
    for kind in ("missing", "problems"):
        if report[kind]:
            print(f"{len(report[kind])} {'missing' if kind == 'missing' else 'problem(s)'} (see missing.txt):")
            for line in report[kind][:20]:
                print(f"  {line}")
    return 0


if __name__ == "__main__":
    cli.run(main)
