r"""Trains several runs of one architecture and objective at once, as one vectorised model.

    python -m benchmarks.stacked --gin_file=gin_configs/cnn_beta_vae.gin [--gin_bindings=...] \
        --model_dir=runs/cnn_beta_vae/beta=1/seed=0 --member_bindings="train.seed = 0" \
        --model_dir=runs/cnn_beta_vae/beta=1/seed=1 --member_bindings="train.seed = 1"

Each --model_dir is a member; the --member_bindings at the same position are its own bindings (several
separated by ';'), added to the shared --gin_bindings. Each member's folder gets what benchmarks.train
leaves; rerunning resumes the group. On TensorFlow (the default) members may differ in the objective's
hyperparameters; with --backend=jax they share one vectorised step and may differ only in their seeds.
Details: benchmarks.training.stacked.
"""
from __future__ import annotations

from benchmarks import cli

if __name__ == "__main__":
    cli.quiet_start()  # before TensorFlow loads


def main(argv=None) -> None:
    parser = cli.parser(__doc__, "stacked")
    cli.add_gin_arguments(parser, "gin file every member uses, e.g. gin_configs/cnn_beta_vae.gin",
                          "gin binding every member uses")
    parser.add_argument("--model_dir", action="append", required=True, help="a member's folder (one per member)")
    parser.add_argument("--member_bindings", action="append", default=[],
                        help="the bindings of the member at the same position, separated by ';' (one per member)")
    cli.add_backend_argument(parser)
    args = parser.parse_args(argv)
    cli.use_backend(args.backend)
    import logging
    import time

    from benchmarks.gin_config import ConfigurationError, plain_message
    from benchmarks.training.callbacks import NonFiniteLossError
    from benchmarks.training.stacked import members_from_flags, train_stacked

    started = time.monotonic()
    try:
        members = members_from_flags(args.gin_file, args.gin_bindings, args.model_dir, args.member_bindings)
        results = train_stacked(members)
    except (ConfigurationError, NonFiniteLossError) as error:
        raise SystemExit(f"error: {plain_message(error)}") from None
    for member, result in zip(members, results):
        logging.info("%s: test reconstruction accuracy %.4f", member.model_dir, result["test_reconstruction_accuracy"])
    logging.info("%d members in %.0f s", len(members), time.monotonic() - started)


if __name__ == "__main__":
    cli.run(main)
