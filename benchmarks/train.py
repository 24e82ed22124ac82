r"""Trains one benchmark model, configured by gin files.

    python -m benchmarks.train --gin_file=gin_configs/cnn_beta_vae.gin --model_dir=runs/cnn_beta_vae \
        [--gin_bindings=train.epochs=1 --gin_bindings=train.steps_per_epoch=20] [--backend=jax]

Rerunning the same command continues an interrupted run from its last checkpoint and returns a finished
run's results without retraining. What a run leaves in --model_dir: see benchmarks.training.run.train.
"""
from __future__ import annotations

from benchmarks import cli

if __name__ == "__main__":
    cli.quiet_start()  # before TensorFlow loads


def main(argv=None) -> None:
    parser = cli.parser(__doc__, "train")
    cli.add_gin_arguments(parser, "gin file, e.g. gin_configs/cnn_beta_vae.gin", "extra gin binding, e.g. train.epochs=1")
    parser.add_argument("--model_dir", required=True, help="where the run's checkpoints, logs and results go")
    cli.add_backend_argument(parser)
    args = parser.parse_args(argv)
    cli.use_backend(args.backend)
    from benchmarks.gin_config import ConfigurationError, plain_message
    from benchmarks.run_dir import RunProblem
    from benchmarks.training.callbacks import NonFiniteLossError
    from benchmarks.training.run import run

    try:
        run(args.gin_file, args.gin_bindings, args.model_dir)
    except (ConfigurationError, NonFiniteLossError, RunProblem) as error:
        raise SystemExit(f"error: {plain_message(error)}") from None


if __name__ == "__main__":
    cli.run(main)
