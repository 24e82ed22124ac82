"""What every ``python -m benchmarks.<command>`` shares: one framework (argparse), a quiet start, the
help text from the command's docstring, logging to standard error, and errors as one ``error:`` line.

A command module only parses its arguments and calls a library function:

    from benchmarks import cli
    if __name__ == "__main__":
        cli.quiet_start()  # before TensorFlow loads

    def main(argv=None) -> int:
        args = cli.parser(__doc__, "train").parse_args(argv)
        ...

    if __name__ == "__main__":
        cli.run(main)
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

from dmelodies_tfds import console
from dmelodies_tfds.text import plain_text

# The libraries' Python loggers (TFDS's "Load dataset info" for every split, TensorFlow's checkpoint
# notices) show warnings only; ours (parameters, resumption, schedules, the test accuracy) show INFO.
LIBRARY_LOGGERS = ("absl", "tensorflow", "jax", "ray")


def quiet_start() -> None:
    """Call first in a command, before TensorFlow loads (see :func:`dmelodies_tfds.console.quiet_program`).

    It also applies the command line's ``--backend``: Keras reads its backend once, when it loads, and a
    command's own imports (the study's tables read the objective classes) load it before ``main`` runs."""
    console.quiet_program()
    use_backend(backend_in(sys.argv[1:]))


def parser(doc: str, command: str) -> argparse.ArgumentParser:
    """An argument parser for ``python -m benchmarks.<command>``: the docstring's first paragraph is the
    description, the rest (usage examples, details) the epilogue, as plain text."""
    text = plain_text(doc).strip()
    description, _, epilogue = text.partition("\n\n")
    return argparse.ArgumentParser(prog=f"python -m benchmarks.{command}", description=description,
                                   epilog=epilogue or None, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_gin_arguments(parser: argparse.ArgumentParser, gin_file_help: str, bindings_help: str) -> None:
    """``--gin_file`` and ``--gin_bindings``, both repeatable, as every gin-configured command takes them."""
    parser.add_argument("--gin_file", action="append", default=[], help=gin_file_help + " (repeatable)")
    parser.add_argument("--gin_bindings", action="append", default=[], help=bindings_help + " (repeatable)")


# The Keras backends a run trains on (benchmarks.objectives.differentiation); TensorFlow is the default.
KERAS_BACKENDS = ("tensorflow", "jax", "torch")


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """``--backend``: the Keras backend to train on, as ``KERAS_BACKEND`` would set it."""
    parser.add_argument("--backend", choices=KERAS_BACKENDS, default=None,
                        help="Keras backend to train on (default: $KERAS_BACKEND, else tensorflow); "
                        "results.json records it")


def use_backend(name: str | None) -> None:
    """Makes ``name`` Keras' backend, for this process and the ones it starts; call before Keras loads
    (a loaded Keras cannot switch, and is refused rather than silently kept)."""
    if name is None:
        return
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise SystemExit(f"error: --backend={name}, but Keras is already loaded with the "
                             f"{keras.backend.backend()} backend in this process")
    os.environ["KERAS_BACKEND"] = name


def backend_in(argv: list[str]) -> str | None:
    """The Keras backend a ``--backend`` flag in ``argv`` names, or None (no flag, or another of the
    sweep's ``--backend`` values, which name runners)."""
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--backend")
    known, _ = flags.parse_known_args(argv)
    return known.backend if known.backend in KERAS_BACKENDS else None


def comma_list(text: str) -> list[str]:
    """An argument type: ``a,b,c`` as a list, without empty items."""
    return [item.strip() for item in text.split(",") if item.strip()]


def positive_int(text: str) -> int:
    """An argument type: a whole number of at least 1 (runs, repetitions, processes)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def setup_logging(level: int = logging.INFO) -> None:
    """Log lines (``I 12:00:01 message``) to standard error, libraries at WARNING unless configured."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname).1s %(asctime)s %(message)s", "%H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(level)
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        if library.level == logging.NOTSET:
            library.setLevel(logging.WARNING)


def run(main: Callable[[Sequence[str]], int | None]) -> None:
    """Runs a command's ``main`` on the command line's arguments, with logging set up, and exits with
    its status."""
    setup_logging()
    sys.exit(main(sys.argv[1:]) or 0)
