r"""Scores a trained run with disentanglement_lib's own metrics on dMelodies, configured by gin files.

    python -m benchmarks.evaluate --model_dir=runs/cnn_beta_vae --gin_file=gin_configs/metrics/mig.gin \
        [--gin_bindings=mig.num_train=1000]

Writes <model_dir>/metrics/<name>.json and, beside it, <name>.gin (the operative configuration).
gin_configs/metrics/ holds one file per metric; what each results file holds: benchmarks.evaluation.scoring.
"""
from __future__ import annotations

from benchmarks import cli

if __name__ == "__main__":
    cli.quiet_start()  # before TensorFlow loads


def main(argv=None) -> None:
    parser = cli.parser(__doc__, "evaluate")
    parser.add_argument("--model_dir", required=True, help="a finished training run; results go to its metrics/")
    parser.add_argument("--gin_file", action="append", default=[], required=True,
                        help="metric configuration, e.g. gin_configs/metrics/mig.gin (repeatable)")
    parser.add_argument("--gin_bindings", action="append", default=[],
                        help="extra gin binding, e.g. mig.num_train=1000 (repeatable)")
    args = parser.parse_args(argv)
    from benchmarks.evaluation.scoring import run
    from benchmarks.gin_config import plain_message

    try:
        result, path = run(args.model_dir, args.gin_file, args.gin_bindings)
    except (FileNotFoundError, ValueError) as error:  # ConfigurationError is a ValueError
        raise SystemExit(f"error: {plain_message(error)}") from None
    for metric, scores in result["scores"].items():
        shown = ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if isinstance(v, float))
        print(f"{metric}: {shown}")
    print(f"wrote {path} ({result['elapsed_seconds']:.1f} s)")


if __name__ == "__main__":
    cli.run(main)
