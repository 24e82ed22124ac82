"""A run's checkpoints: what they hold, and restoring the newest one that reads back whole, so that a run
killed at any moment resumes.

On TensorFlow they are TensorFlow's (``ckpt-N.index`` and ``.data``, with a ``checkpoint`` state file,
repaired if damaged); on JAX and PyTorch, one ``ckpt-N.npz`` of every variable's value (:class:`ArrayCheckpoints`).
A run resumes on the backend it started with; what crosses backends is the saved ``encoder.keras`` and
``decoder.keras``.
"""
from __future__ import annotations

import glob
import logging
import os
import re

import keras
import numpy as np

from benchmarks.gin_config import ConfigurationError, plain_message
from dmelodies_tfds.atomic import atomic_path

# Checkpoints kept: the newest and the one before it, in case the newest was cut short.
MAX_TO_KEEP = 2


def restore_run(model, directory: str) -> tuple:
    """``manager, wall_time``: a checkpoint manager of everything a resumed run needs (:func:`checkpoint`),
    after restoring its newest intact checkpoint in ``directory`` (if any), and the training time
    accumulated so far (``assign_add`` and ``numpy`` as a variable's)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        wall_time = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        return restore(checkpoint(model, wall_time), directory), wall_time
    wall_time = WallTime()
    manager = ArrayCheckpoints(state_variables(model), wall_time, directory)
    manager.restore_latest_intact()
    return manager, wall_time


def state_variables(model) -> list:
    """What :func:`checkpoint` holds, as one list: the model's variables, every optimiser's, the running means."""
    return model.variables + [v for optimizer in model.optimizers for v in optimizer.variables] + metric_variables(model)


def metric_variables(model) -> list:
    """The variables of the epoch's running means (the progress bar's loss and accuracy)."""
    return [variable for metric in model.metrics for variable in metric.variables]


def checkpoint(model, wall_time):
    """Everything a resumed run needs: weights, random-generator states, every optimiser's slots and
    step counter (hence the schedules' positions), the epoch's running means and the training time."""
    import tensorflow as tf

    return tf.train.Checkpoint(variables=model.variables, optimizers=model.optimizers,
                               means=metric_variables(model), wall_time=wall_time)


def restore(checkpoint, directory: str):
    """A manager of TensorFlow's ``checkpoint`` in ``directory``, after restoring its newest intact
    checkpoint (if any)."""
    import tensorflow as tf

    _repair_checkpoint_state(directory)
    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=MAX_TO_KEEP)
    _restore_latest_intact(manager)
    return manager


def _checkpoint_numbers(directory: str, suffix: str = "index") -> list[int]:
    """The step numbers of the checkpoints in ``directory``, newest first (read from the file names)."""
    return sorted((int(m.group(1)) for p in glob.glob(os.path.join(directory, f"ckpt-*.{suffix}"))
                   if (m := re.search(rf"ckpt-(\d+)\.{suffix}$", p))), reverse=True)


def _repair_checkpoint_state(directory: str) -> None:
    """Rewrites a damaged ``checkpoint`` state file (empty or truncated) from the checkpoint files found,
    so that the manager still knows, and in time deletes, the checkpoints it lists."""
    import tensorflow as tf

    if not os.path.exists(os.path.join(directory, "checkpoint")):
        return
    try:
        tf.train.get_checkpoint_state(directory)
        return
    except (ValueError, tf.errors.OpError) as error:
        logging.warning("the checkpoint state file in %s is damaged (%s); rebuilding it from the checkpoint files",
                        directory, str(error).splitlines()[0] if str(error) else type(error).__name__)
    paths = [os.path.join(directory, f"ckpt-{n}") for n in reversed(_checkpoint_numbers(directory))]
    os.remove(os.path.join(directory, "checkpoint"))
    if paths:
        tf.compat.v1.train.update_checkpoint_state(directory, paths[-1], all_model_checkpoint_paths=paths)


def _restore_latest_intact(manager) -> None:
    """Restores the newest checkpoint that reads back whole; a damaged one (truncated data, empty index
    or ``checkpoint`` file) is reported and the one before it used, rather than leaving the run stuck."""
    directory = manager.directory
    restore_newest_intact(directory, [os.path.join(directory, f"ckpt-{n}") for n in _checkpoint_numbers(directory)],
                          lambda path: manager.checkpoint.restore(path).assert_consumed())


def restore_newest_intact(directory: str, paths: list[str], restore) -> None:
    """Calls ``restore(path)`` on ``paths`` (newest first) until one succeeds, reporting each damaged one;
    ``ConfigurationError`` when every one is damaged."""
    last_error = None
    for path in paths:
        try:
            restore(path)
        except Exception as error:  # noqa: BLE001 - a damaged file fails in many ways (IndexError, DataLossError…)
            last_error = f"{type(error).__name__}: {plain_message(error).splitlines()[0] if str(error) else ''}"
            logging.warning("checkpoint %s is damaged (%s); trying the one before it", path, last_error)
            continue
        if path != paths[0]:
            logging.warning("resuming from %s, the newest intact checkpoint", path)
        return
    if paths:
        raise ConfigurationError(f"every checkpoint in {directory} is damaged (the last: {last_error}): "
                                 "use a fresh --model_dir")


class WallTime:
    """The training time in seconds, accumulated across resumptions (a float64 off TensorFlow)."""

    def __init__(self, seconds: float = 0.0):
        self.seconds = float(seconds)

    def assign_add(self, seconds: float) -> None:
        self.seconds += float(seconds)

    def assign(self, seconds: float) -> None:
        self.seconds = float(seconds)

    def numpy(self) -> float:
        return self.seconds


_TORCH_RANDOM_STATE = "torch_rng_state"


def _global_random_state() -> dict:
    """The backend's global random state, where the run draws from one: on PyTorch, Keras' dropout
    without an explicit seed draws its masks from PyTorch's global generator (which
    ``keras.utils.set_random_seed`` seeds), so a resumed run needs its state to draw the same masks."""
    if keras.backend.backend() != "torch":
        return {}
    import torch

    return {_TORCH_RANDOM_STATE: torch.get_rng_state().numpy()}


def _set_global_random_state(state: dict) -> None:
    if _TORCH_RANDOM_STATE in state:
        import torch

        torch.set_rng_state(torch.from_numpy(np.array(state[_TORCH_RANDOM_STATE], dtype=np.uint8)))


class ArrayCheckpoints:
    """Checkpoints off TensorFlow: ``ckpt-<step>.npz`` holding every variable's value in order (``v0``,
    ``v1``, …), the training time and, on PyTorch, its global random state, written atomically; the newest
    :data:`MAX_TO_KEEP` are kept.

    A checkpoint that does not read back whole, or does not fit the run's variables (count, shapes), is
    reported and the one before it used, as on TensorFlow.
    """

    def __init__(self, variables: list, wall_time: WallTime, directory: str):
        self.variables, self.wall_time, self.directory = variables, wall_time, directory

    def path(self, number: int) -> str:
        return os.path.join(self.directory, f"ckpt-{number}.npz")

    def save(self, checkpoint_number: int) -> str:
        os.makedirs(self.directory, exist_ok=True)
        values = {f"v{i}": keras.ops.convert_to_numpy(v.value) for i, v in enumerate(self.variables)}
        values.update(_global_random_state())
        path = self.path(checkpoint_number)
        with atomic_path(path) as temporary, open(temporary, "wb") as file:
            np.savez(file, wall_time=np.float64(self.wall_time.numpy()), **values)
        for number in _checkpoint_numbers(self.directory, "npz")[MAX_TO_KEEP:]:
            os.remove(self.path(number))
        return path

    def _read(self, path: str) -> tuple[list, float, dict]:
        with np.load(path, allow_pickle=False) as stored:
            held = sum(name.startswith("v") and name[1:].isdigit() for name in stored.files)
            if held != len(self.variables):
                raise ValueError(f"it holds {held} variables where the run has {len(self.variables)}")
            values = [stored[f"v{i}"] for i in range(len(self.variables))]
            wall_time = float(stored["wall_time"])
            random_state = {name: stored[name] for name in stored.files if name == _TORCH_RANDOM_STATE}
        for variable, value in zip(self.variables, values):
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(f"{variable.path} has shape {tuple(variable.shape)}, the checkpoint {value.shape}")
        return values, wall_time, random_state

    def _restore(self, path: str) -> None:
        values, wall_time, random_state = self._read(path)
        for variable, value in zip(self.variables, values):
            variable.assign(value)
        self.wall_time.assign(wall_time)
        _set_global_random_state(random_state)

    def restore_latest_intact(self) -> None:
        paths = [self.path(number) for number in _checkpoint_numbers(self.directory, "npz")]
        restore_newest_intact(self.directory, paths, self._restore)
