"""Keras callbacks that make a training run safe to interrupt and easy to follow.

- :class:`StopOnNonFiniteLoss` ends the run with a clear error the step the loss stops being finite.
- :class:`TensorBoardLogger` writes step-indexed scalars to ``logs/train`` and ``logs/validation``; on
  resumption it first drops whatever the interrupted run logged after its last checkpoint, so no step
  is ever logged twice.
- :class:`Checkpointing` saves every variable and optimiser slot every N steps and after each epoch.
- :class:`ScheduleLog` reports in the run log when a warm-up ends and when annealing reaches its target.

Steps are the VAE optimiser's update count (``model.optimizer.iterations``), which checkpoints restore.
TensorBoard's event files are written and read with the ``tensorboard`` package's own writer and reader,
the scalars as ``tf.summary.scalar`` writes them, so logging needs no TensorFlow on any backend.
"""
from __future__ import annotations

import glob
import logging
import math
import os
import time

import keras
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util

from benchmarks.training.checkpoints import metric_variables
from dmelodies_tfds.atomic import atomic_path


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


def _step(model) -> int:
    return int(model.optimizer.iterations.numpy())


def running_means(model) -> list:
    """The current values of the epoch's running means (to hand to :class:`Checkpointing`)."""
    return [variable.numpy() for variable in metric_variables(model)]


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises :class:`NonFiniteLossError` naming the step, before anything saves the broken state."""

    def __init__(self, checkpoint_dir: str):
        super().__init__()
        self.checkpoint_dir = checkpoint_dir

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            raise NonFiniteLossError(
                f"the training loss became {loss} by step {_step(self.model)}; training stopped. The last "
                f"finite state is the latest checkpoint in {self.checkpoint_dir}: rerunning the same "
                "command repeats the same steps, so change the configuration (for example a lower "
                "learning rate) in a fresh --model_dir."
            )


class TensorBoardLogger(keras.callbacks.Callback):
    """Batch logs every ``every_steps`` steps to ``train``; epoch means to ``train`` and ``validation``.

    Schedule values (``schedule_names``) are written at every step where they changed, so β_t or C_t
    can be read off TensorBoard step by step during annealing and cost one event while constant.
    """

    def __init__(self, log_dir: str, every_steps: int, resumed_step: int, schedule_names=("beta", "capacity")):
        super().__init__()
        self.every_steps, self.schedule_names = every_steps, tuple(schedule_names)
        self.directories = {name: os.path.join(log_dir, name) for name in ("train", "validation")}
        for directory in self.directories.values():
            truncate_events(directory, resumed_step)
        self.writers = {name: EventFileWriter(d) for name, d in self.directories.items()}
        self.last_logged = resumed_step
        self.last_schedule: dict[str, float] = {}

    def on_train_begin(self, logs=None):
        schedule = getattr(self.model, "schedule", None)
        if schedule is not None and self.last_logged > 0:  # resuming: what the interrupted run last wrote
            self.last_schedule[self.model.hyperparameter_name] = float(schedule(self.last_logged - 1))

    def _write(self, writer: str, values: dict, step: int, prefix: str = "") -> None:
        if values:
            self.writers[writer].add_event(scalars_event(step, {prefix + name: value for name, value in values.items()}))

    def on_train_batch_end(self, batch, logs=None):
        logs, step = logs or {}, _step(self.model)
        changed = {k: float(v) for k, v in logs.items()
                   if k in self.schedule_names and self.last_schedule.get(k) != float(v)}
        if changed:
            self.last_schedule.update(changed)
            self._write("train", changed, step)
        if step // self.every_steps > self.last_logged // self.every_steps:
            self.last_logged = step
            self._write("train", {k: v for k, v in logs.items() if k not in self.schedule_names}, step)

    def on_epoch_end(self, epoch, logs=None):
        logs, step = logs or {}, _step(self.model)
        self._write("train", {k: v for k, v in logs.items() if not k.startswith("val_")}, step, "epoch_")
        self._write("validation", {k[4:]: v for k, v in logs.items() if k.startswith("val_")}, step, "epoch_")

    def flush(self) -> None:
        for writer in self.writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        self.flush()


def scalars_event(step: int, values: dict) -> event_pb2.Event:
    """One event of float32 scalars at ``step``, as ``tf.summary.scalar`` writes them (TensorBoard's
    scalars plugin reads either)."""
    metadata = scalar_metadata.create_summary_metadata(display_name="", description="")
    summary = summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag=tag, metadata=metadata,
                                  tensor=tensor_util.make_tensor_proto(float(value), dtype="float32"))
        for tag, value in values.items()])
    return event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)


def read_scalars(directory: str) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` from every event file in ``directory``, in file and write order."""
    found: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        for record in RawEventFileLoader(path).Load():
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                found.setdefault(value.tag, []).append((event.step, float(tensor_util.make_ndarray(value.tensor))))
    return found


def truncate_events(directory: str, last_step: int) -> None:
    """Rewrites the event files in ``directory`` without the events after ``last_step`` (atomically)."""
    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        records = [bytes(r) for r in RawEventFileLoader(path).Load()]
        kept = [r for r in records if event_pb2.Event.FromString(r).step <= last_step]
        if len(kept) < len(records):
            with atomic_path(path) as temporary, open(temporary, "wb") as file:
                writer = RecordWriter(file)
                for record in kept:
                    writer.write(record)


class Checkpointing(keras.callbacks.Callback):
    """Saves ``manager``'s checkpoint every ``every_steps`` steps and at each epoch's end.

    An epoch's last step is saved only after its validation, so a resumed run never skips one. The
    checkpoint holds the epoch's running means too: when a run resumes mid-epoch, ``resumed_means``
    (their restored values) are put back after Keras resets them, so its logs match an uninterrupted run.

    ``before_save`` runs first (the loggers flush, so logs never lag behind a checkpoint), and
    ``wall_time`` (a float64 variable in the checkpoint) accumulates the training time across resumptions.
    """

    def __init__(self, manager, wall_time, every_steps: int,
                 steps_per_epoch: int, before_save=(), resumed_means=None):
        super().__init__()
        self.resumed_means = resumed_means
        self.manager, self.wall_time, self.every_steps = manager, wall_time, every_steps
        self.steps_per_epoch = steps_per_epoch
        self.before_save = tuple(before_save)
        self.last_saved = None
        self.clock = None

    def on_train_begin(self, logs=None):
        self.last_saved = _step(self.model)
        self.clock = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        if self.resumed_means is not None:
            for variable, value in zip(metric_variables(self.model), self.resumed_means):
                variable.assign(value)
            self.resumed_means = None

    def save(self) -> None:
        now = time.monotonic()
        self.wall_time.assign_add(now - self.clock)
        self.clock = now
        for hook in self.before_save:
            hook()
        self.last_saved = _step(self.model)
        self.manager.save(checkpoint_number=self.last_saved)

    def on_train_batch_end(self, batch, logs=None):
        step = _step(self.model)
        if step - self.last_saved >= self.every_steps and step % self.steps_per_epoch:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.save()


class ScheduleLog(keras.callbacks.Callback):
    """Logs the phase of the objective's schedule (warm-up, annealing, held) whenever it changes."""

    def __init__(self):
        super().__init__()
        self.phase = None

    def on_train_batch_begin(self, batch, logs=None):
        schedule = getattr(self.model, "schedule", None)
        if schedule is not None:
            step = _step(self.model)
            phase = schedule.phase(step)
            if phase != self.phase:
                self.phase = phase
                logging.info("step %d: %s enters %s (%r)", step, self.model.schedule_name, phase, schedule)
