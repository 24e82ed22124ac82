"""What the command lines print: what a user needs, not the libraries' start-up notices.

Only the programs call these (``python -m dmelodies_tfds …``, ``python -m benchmarks.<command>``), from
their ``if __name__ == "__main__"`` paths; importing the packages changes no logging setting of the
importing process. Every setting is a default: a variable the user has set wins. The troubleshooting
guide lists what still prints.
"""
from __future__ import annotations

import os
import sys

# TensorFlow's C++ log threshold (read once, when TensorFlow loads): 3 keeps FATAL lines only. On a
# CPU machine the lines it hides are notices, not problems: the CPU instructions the binary was not
# built for (cpu_feature_guard), the failed cuInit of a machine without a GPU driver and oneDNN's
# DT_INT32 fallback (both logged as errors), tf.data's buffer-size and cache notices. Errors that stop
# a run still reach Python as exceptions.
TF_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3"}

def quiet_tensorflow_start_up() -> None:
    """Sets ``TF_CPP_MIN_LOG_LEVEL`` unless the user has; call it before TensorFlow is imported."""
    for name, value in TF_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def is_terminal(stream) -> bool:
    """Whether ``stream`` is an interactive terminal (False for files, pipes and notebooks)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


def progress_bars_in_terminal_only() -> None:
    """TFDS's build progress bar (tqdm, on stderr) only when stderr is a terminal: written to a file, its
    redraws run together into one long line. Without TFDS (training from the numpy core on JAX or
    PyTorch, docs/training.md) there is no such bar."""
    if not is_terminal(sys.stderr):
        try:
            import tensorflow_datasets as tfds  # imports no TensorFlow
        except ImportError:
            return
        tfds.disable_progress_bar()


def quiet_program() -> None:
    """Everything above that a program needs; call it before TensorFlow is imported."""
    quiet_tensorflow_start_up()
    progress_bars_in_terminal_only()
