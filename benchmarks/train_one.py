r"""Trains and scores one run of a sweep, picked by its index: the entry point of a job array.

    python -m benchmarks.sweep --root=runs --preset=compressed --list        # "2 cnn_beta_vae/beta=4/seed=0", …
    python -m benchmarks.train_one --root=runs --preset=compressed --model_num=2

The same as ``python -m benchmarks.sweep --model_num=N`` with the sweep's selection flags (--preset,
--methods, --filter, --seeds, --dsprites, --gin_bindings, --metrics): the same flags pick the same runs
in the same order, so index N is the run --list prints as N.
"""
from __future__ import annotations

from benchmarks import cli

if __name__ == "__main__":
    cli.quiet_start()  # before TensorFlow loads

from benchmarks import sweep  # noqa: E402


def main(argv=None) -> None:
    parser = cli.parser(__doc__, "train_one")
    sweep.add_selection_arguments(parser)
    parser.add_argument("--model_num", type=int, required=True, help="index of the run among the selected runs, "
                        "as `python -m benchmarks.sweep --list` prints it with the same flags (from 0)")
    parser.parse_args(argv)  # checks the arguments; the sweep runs the one run
    sweep.main(argv)


if __name__ == "__main__":
    cli.run(main)
