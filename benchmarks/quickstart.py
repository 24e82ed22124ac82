r"""The whole pipeline on a small default, end to end: build the tiny dataset, train a CNN β-VAE, score it,
write a report and a reconstructed melody.

    python -m benchmarks.quickstart --out demo_out [--epochs 10] [--backend jax]

Rerunning it reuses what is finished. The steps: benchmarks.pipeline.
"""
from __future__ import annotations

import sys

from benchmarks import cli

if __name__ == "__main__":
    cli.quiet_start()  # before TensorFlow loads


def main(argv=None) -> int:
    parser = cli.parser(__doc__, "quickstart")
    parser.add_argument("--out", default="demo_out", help="folder for everything the demo writes")
    parser.add_argument("--epochs", type=int, default=10, help="epochs over the 7,000 tiny training melodies")
    parser.add_argument("--seed", type=int, default=0)
    cli.add_backend_argument(parser)
    args = parser.parse_args(argv)
    cli.use_backend(args.backend)
    from benchmarks.pipeline import quickstart

    try:
        quickstart(args.out, epochs=args.epochs, seed=args.seed)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    cli.run(main)
