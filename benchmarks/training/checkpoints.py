"""A run's checkpoints: what they hold (:func:`checkpoint`), and restoring the newest one that reads back
whole, repairing a damaged state file, so that a run killed at any moment resumes."""
from __future__ import annotations

import glob
import logging
import os
import re

import tensorflow as tf

from benchmarks.gin_config import ConfigurationError, plain_message

# Checkpoints kept: the newest and the one before it, in case the newest was cut short.
MAX_TO_KEEP = 2


def metric_variables(model) -> list:
    """The variables of the epoch's running means (the progress bar's loss and accuracy)."""
    return [variable for metric in model.metrics for variable in metric.variables]


def checkpoint(model, wall_time: tf.Variable) -> tf.train.Checkpoint:
    """Everything a resumed run needs: weights, random-generator states, every optimiser's slots and
    step counter (hence the schedules' positions), the epoch's running means and the training time."""
    return tf.train.Checkpoint(variables=model.variables, optimizers=model.optimizers,
                               means=metric_variables(model), wall_time=wall_time)


def restore(checkpoint: tf.train.Checkpoint, directory: str) -> tf.train.CheckpointManager:
    """A manager of ``checkpoint`` in ``directory``, after restoring its newest intact checkpoint (if any)."""
    _repair_checkpoint_state(directory)
    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=MAX_TO_KEEP)
    _restore_latest_intact(manager)
    return manager


def _checkpoint_numbers(directory: str) -> list[int]:
    """The step numbers of the checkpoints in ``directory``, newest first (read from the file names)."""
    return sorted((int(m.group(1)) for p in glob.glob(os.path.join(directory, "ckpt-*.index"))
                   if (m := re.search(r"ckpt-(\d+)\.index$", p))), reverse=True)


def _repair_checkpoint_state(directory: str) -> None:
    """Rewrites a damaged ``checkpoint`` state file (empty or truncated) from the checkpoint files found,
    so that the manager still knows, and in time deletes, the checkpoints it lists."""
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


def _restore_latest_intact(manager: tf.train.CheckpointManager) -> None:
    """Restores the newest checkpoint that reads back whole; a damaged one (truncated data, empty index
    or ``checkpoint`` file) is reported and the one before it used, rather than leaving the run stuck."""
    directory = manager.directory
    numbers, last_error = _checkpoint_numbers(directory), None
    for number in numbers:
        path = os.path.join(directory, f"ckpt-{number}")
        try:
            manager.checkpoint.restore(path).assert_consumed()
        except Exception as error:  # noqa: BLE001 - a damaged file fails in many ways (IndexError, DataLossError…)
            last_error = f"{type(error).__name__}: {plain_message(error).splitlines()[0] if str(error) else ''}"
            logging.warning("checkpoint %s is damaged (%s); trying the one before it", path, last_error)
            continue
        if number != numbers[0]:
            logging.warning("resuming from %s, the newest intact checkpoint", path)
        return
    if numbers:
        raise ConfigurationError(f"every checkpoint in {directory} is damaged (the last: {last_error}): "
                                 "use a fresh --model_dir")
