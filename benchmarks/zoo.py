r"""The model zoo: every trained model committed under results/, by name, with its files' hashes.

    python -m benchmarks.zoo list [PATTERN]   # name, size and headline scores of each model
    python -m benchmarks.zoo check            # exit 1 if a file differs from results/zoo.json or it is stale
    python -m benchmarks.zoo index            # rebuild results/zoo.json from the committed runs

From Python, ``benchmarks.zoo.load(name)`` returns (encoder, decoder, operative gin config) after checking
the files' hashes. What is listed and why: benchmarks.reporting.zoo and docs/zoo.md.
"""
from __future__ import annotations

import argparse
import sys

from benchmarks import cli

if __name__ == "__main__":
    cli.quiet_start()  # before TensorFlow loads

# The Python API: benchmarks.zoo.load(name) and what it raises.
from benchmarks.reporting.zoo import ZooError, ZooModel, find, load, read_index  # noqa: E402,F401


def main(argv=None) -> int:
    from benchmarks.reporting import zoo

    parser = cli.parser(__doc__, "zoo")
    parser.add_argument("--root", default="results", help="the checkout's results/ folder (default: results)")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list the models (whose names contain PATTERN)")
    listing.add_argument("pattern", nargs="?", default="")
    checking = commands.add_parser("check", help="check every listed file's hash and that the index lists the "
                                                 "committed runs")
    indexing = commands.add_parser("index", help="rebuild ROOT/zoo.json from the committed runs")
    for command in (listing, checking, indexing):  # --root after the command too
        command.add_argument("--root", default=argparse.SUPPRESS, help="the checkout's results/ folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "index":
            index = zoo.write_index(args.root)
            print(f"{index['models']} models, {index['bytes'] / 2**20:.1f} MiB, in {zoo.index_path(args.root)}")
        elif args.command == "check":
            problems = zoo.changed_files(args.root)
            try:
                problems += zoo.stale_entries(args.root)
            except zoo.NotACheckout as error:
                print(f"note: {error}; only the listed files' hashes were checked")
            for line in problems:
                print(line)
            if problems:
                print(f"{len(problems)} problem(s): rebuild with python -m benchmarks.zoo index once the runs are "
                      "as they should be", file=sys.stderr)
                return 1
            index = read_index(args.root)
            print(f"{index['models']} models, {index['bytes'] / 2**20:.1f} MiB: every file matches {zoo.index_path(args.root)}")
        else:
            index = read_index(args.root)
            shown = [e for e in index["entries"] if args.pattern in e["name"]]
            for entry in shown:
                scores = ", ".join(f"{zoo.HEADLINE_SCORES[key]} {value:.3f}" for key, value in entry["scores"].items())
                print(f"{entry['name']}  ({entry['bytes'] / 2**10:.0f} KiB)  {scores}")
            print(f"{len(shown)} of {index['models']} models")
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    cli.run(main)
