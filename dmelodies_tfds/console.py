"""What the command lines print: what a user needs, not the libraries' start-up notices.

Only the programs call these (``python -m dmelodies_tfds …``, ``python -m benchmarks.<train|evaluate|
quickstart>``), from their ``if __name__ == "__main__"`` paths; importing the packages changes no
logging setting of the importing process. Every setting is a default: a variable the user has set, or
an absl flag given on the command line, wins. README.md, "Troubleshooting", lists what still prints.
"""
from __future__ import annotations

import logging
import os
import sys

# TensorFlow's C++ log threshold (read once, when TensorFlow loads): 3 keeps FATAL lines only. On a
# CPU machine the lines it hides are notices, not problems: the CPU instructions the binary was not
# built for (cpu_feature_guard), the failed cuInit of a machine without a GPU driver and oneDNN's
# DT_INT32 fallback (both logged as errors), tf.data's buffer-size and cache notices. Errors that stop
# a run still reach Python as exceptions.
TF_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3"}

# Python loggers of the libraries, for absl programs (whose handler shows INFO): TFDS logs "Load dataset
# info" and "Constructing tf.data.Dataset" for every split it reads through absl's logger, TensorFlow
# the duration of each checkpoint's sharding callback. Their warnings still show; ours (the root
# logger: parameters, resumption, schedules, the test accuracy) keep INFO.
ABSL_LOGGER_LEVELS = {"absl": "WARNING", "tensorflow": "WARNING"}


def quiet_tensorflow_start_up() -> None:
    """Sets ``TF_CPP_MIN_LOG_LEVEL`` unless the user has; call it before TensorFlow is imported."""
    for name, value in TF_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def quiet_absl_loggers() -> None:
    """Sets :data:`ABSL_LOGGER_LEVELS` unless ``--logger_levels`` was given (so that
    ``--logger_levels=absl:INFO,tensorflow:INFO`` shows those lines again). Call it first thing in an
    absl program's ``main``: ``app.run`` sets absl's verbosity, which resets absl's logger, after the
    flags are parsed."""
    from absl import flags

    if not flags.FLAGS["logger_levels"].present:
        for name, level in ABSL_LOGGER_LEVELS.items():
            logging.getLogger(name).setLevel(level)


def is_terminal(stream) -> bool:
    """Whether ``stream`` is an interactive terminal (False for files, pipes and notebooks)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


def progress_bars_in_terminal_only() -> None:
    """TFDS's build progress bar (tqdm, on stderr) only when stderr is a terminal: written to a file, its
    redraws run together into one long line."""
    if not is_terminal(sys.stderr):
        import tensorflow_datasets as tfds  # imports no TensorFlow

        tfds.disable_progress_bar()


def quiet_program() -> None:
    """Everything above that a program without absl flags needs; call it before TensorFlow is imported."""
    quiet_tensorflow_start_up()
    progress_bars_in_terminal_only()
