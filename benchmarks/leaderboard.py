r"""The leaderboard of the model zoo, and the check of a submitted run.

    python -m benchmarks.leaderboard [--root=results]       # results/LEADERBOARD.md and leaderboard.csv
    python -m benchmarks.leaderboard check                   # exit 1 if those files are not what the zoo builds
    python -m benchmarks.leaderboard verify RUN_DIR          # re-score what a run folder claims

``verify`` refuses a malformed or hostile folder with one line (exit 2), re-scores every number its
metrics/*.json and results.json claim, and lists each one it does not reproduce (exit 1). What each does:
benchmarks.reporting.leaderboard and benchmarks.reporting.submission; docs/zoo.md.
"""
from __future__ import annotations

import argparse
import sys

from benchmarks import cli

if __name__ == "__main__":
    cli.quiet_start()  # before TensorFlow loads


def main(argv=None) -> int:
    from benchmarks.reporting.submission import DEFAULT_TOLERANCE

    parser = cli.parser(__doc__, "leaderboard")
    commands = parser.add_subparsers(dest="command")
    build = commands.add_parser("build", help="write ROOT/LEADERBOARD.md and ROOT/leaderboard.csv (the default)")
    build.add_argument("--root", default=argparse.SUPPRESS, help="the checkout's results/ folder, with zoo.json")
    check = commands.add_parser("check", help="exit 1 if ROOT's leaderboard files are not what its zoo builds")
    check.add_argument("--root", default=argparse.SUPPRESS, help="the checkout's results/ folder, with zoo.json")
    verify = commands.add_parser("verify", help="check a submitted run folder and re-score its claims")
    verify.add_argument("run_dir", help="the run folder (results.json, encoder.keras, metrics/...)")
    verify.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help=f"largest difference of a score still called reproduced (default {DEFAULT_TOLERANCE:g})")
    parser.add_argument("--root", default="results", help="the checkout's results/ folder, with zoo.json")
    args = parser.parse_args(argv)
    if args.command == "verify":
        return _verify(args.run_dir, args.tolerance)
    from benchmarks.reporting.leaderboard import build as build_leaderboard
    from benchmarks.reporting.leaderboard import stale_files
    from benchmarks.reporting.zoo import ZooError

    try:
        if args.command == "check":
            stale = stale_files(args.root)
            for name in stale:
                print(f"{args.root}/{name} is stale: run python -m benchmarks.leaderboard")
            return 1 if stale else 0
        board = build_leaderboard(args.root)
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(board['rows'])} points of {board['models']} models; wrote {', '.join(board['paths'])}")
    return 0


def _verify(run_dir: str, tolerance: float) -> int:
    from benchmarks.reporting.submission import Refused, verify

    try:
        verdict = verify(run_dir, tolerance)
    except Refused as refused:
        print(f"refused: {refused}")
        return 2
    for line in verdict.notes:
        print(f"note: {line}")
    for line in verdict.mismatches:
        print(f"not reproduced: {line}")
    claims = "; ".join(verdict.checked)
    if verdict.mismatches:
        print(f"{len(verdict.mismatches)} claim(s) not reproduced ({claims})")
        return 1
    print(f"reproduced every claim ({claims})")
    return 0


if __name__ == "__main__":
    cli.run(main)
