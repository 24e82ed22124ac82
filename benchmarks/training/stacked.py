"""Trains several runs of one architecture and objective at once, in one process, as one vectorised
model (:mod:`benchmarks.models.stacked`), and leaves in each run's folder what a single run leaves.

``python -m benchmarks.stacked`` is its command line, and ``benchmarks.sweep --stack=N`` groups a
grid's runs this way. Members may differ in anything that leaves the networks' shapes and
the step count alone: seed, split seed, the objective's hyperparameters and schedules. They must share
the architecture, the objective's class, the batch size, the epochs and steps per epoch, and Adam's
settings (one Adam over stacked weights is an Adam per member: its update is elementwise).

Every member is set up exactly as ``benchmarks.train`` sets up a run (the same gin configuration, seed,
initial weights, split, batch order, and random draws from the same layers' generators); the batched
ops sum in another order, so a member agrees with the single run to floating-point rounding at first
and then drifts, as two runs on different hardware do. Each member's folder gets the same files as a
single run: ``config.gin``, ``operative_config.gin``, TensorBoard logs, checkpoints (in the single-run
format: a stacked run resumes as a single run and back), ``encoder.keras``, ``decoder.keras`` and
``results.json``, whose ``wall_time_s`` is the group's time and ``stacked_members`` the group's size.
Rerunning the command resumes the group from its members' checkpoints (all at the same step) and
returns finished members' results without retraining them. Validation and the test evaluation run
member by member through the single-run code.

Objectives with their own training step (FactorVAE's discriminator) or labels (S2-VAE, AR-VAE) train
one run at a time.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from typing import Sequence

import gin
import keras
import numpy as np
import tensorflow as tf
from keras import ops

from benchmarks import run_dir
from benchmarks.training import data
from benchmarks.training import run as train_lib
from benchmarks.gin_config import ConfigurationError, call_configured, parse_config
from benchmarks.models.stacked import StackedWeights, stacked_forward
from benchmarks.objectives.differentiation import dense_gradients


@dataclasses.dataclass(frozen=True)
class Member:
    """One run of a stacked group: its gin files and bindings (shared and its own) and its folder."""

    gin_files: tuple[str, ...]
    gin_bindings: tuple[str, ...]
    model_dir: str


def train_stacked(members: Sequence[Member]) -> list[dict]:
    """Trains ``members`` together; returns each member's results, in order (see the module docstring)."""
    if not members:
        raise ConfigurationError("a stacked training needs at least one member")
    if keras.backend.backend() != "tensorflow":
        raise ConfigurationError(f"stacked training runs on TensorFlow, not the {keras.backend.backend()} backend: "
                                 "train the members one by one (benchmarks.train or a sweep without --stack)")
    folders = [os.path.abspath(member.model_dir) for member in members]
    if len(set(folders)) != len(folders):
        raise ConfigurationError("two members share a --model_dir: each member needs its own")
    results, runs = [None] * len(members), []
    for index, member in enumerate(members):
        parse_config(member.gin_files, member.gin_bindings)
        prepared = call_configured(train_lib.train, member.model_dir, prepare_only=True)
        if isinstance(prepared, dict):
            results[index] = prepared  # finished before: nothing to train
        else:
            runs.append((index, prepared, gin.operative_config_str()))
    if runs:
        _check_compatible([run for _, run, _ in runs])
        with contextlib.ExitStack() as locks:
            for _, run, _ in runs:
                locks.enter_context(run_dir.hold(run.model_dir))
            for index, result in zip((i for i, _, _ in runs), _train_group([(r, o) for _, r, o in runs])):
                results[index] = result
    return results


def _check_compatible(runs: list[train_lib.PreparedRun]) -> None:
    """Refuses members that cannot share one stacked model, naming what differs."""
    first = runs[0]
    for run in runs:
        model = run.model
        if not model.stacks():
            raise ConfigurationError(
                f"{run.model_dir}: {model.method} {'trains on labels' if model.supervised else 'has its own training step'};"
                " stacked training covers the unsupervised objectives without one: train it with benchmarks.train")
        if not isinstance(model.optimizer, keras.optimizers.Adam) or model.optimizer.amsgrad:
            raise ConfigurationError(f"{run.model_dir}: stacked training needs Adam without AMSGrad (protocol §6)")
    shared = {
        "architecture": lambda r: r.arch.name,
        "objective": lambda r: type(r.model).__name__,
        "batch size": lambda r: r.batch_size,
        "epochs": lambda r: r.epochs,
        "steps per epoch": lambda r: r.steps_per_epoch,
        "steps per execution": lambda r: r.steps_per_execution,
        "optimiser": lambda r: {k: v for k, v in r.model.optimizer.get_config().items() if k != "name"},
        "parameter count": lambda r: r.arch.count_params()["total"],
    }
    for name, value in shared.items():
        for run in runs[1:]:
            if value(run) != value(first):
                raise ConfigurationError(f"members must share their {name}: {first.model_dir} has "
                                         f"{value(first)!r}, {run.model_dir} has {value(run)!r}")


class _Group:
    """The members' models and the stacked weights and Adam that train them."""

    def __init__(self, runs: list[train_lib.PreparedRun]):
        self.runs = runs
        self.models = [run.model for run in runs]
        self.architectures = [run.arch for run in runs]
        self.weights = StackedWeights(self.architectures)
        member_optimizer = self.models[0].optimizer
        self.optimizer = type(member_optimizer).from_config(member_optimizer.get_config())
        self.optimizer.build(self.weights.variables)
        self.restack()
        self.names = None

    def _slots(self, optimizer) -> list[list]:
        """Adam's momentums and velocities, each in the order of the weights it was built over, read from its
        public variable list (its step and learning rate, then each weight's momentum and velocity); a
        layout other than that is refused rather than misread."""
        count = len(self.weights.variables)
        slots = optimizer.variables[-2 * count:]
        momentums, velocities = slots[0::2], slots[1::2]
        if len(slots) != 2 * count or not (all(v.path.endswith("_momentum") for v in momentums)
                                          and all(v.path.endswith("_velocity") for v in velocities)):
            raise RuntimeError("this Keras lays out Adam's variables differently: stacked training cannot read "
                               "its momentums and velocities")
        return [momentums, velocities]

    def restack(self) -> None:
        """Reads the members' weights, Adam slots and step (restored or initial) into the stack."""
        self.weights.restack()
        for slot, member_slots in zip(self._slots(self.optimizer),
                                      zip(*(self._slots(model.optimizer) for model in self.models))):
            for j, stacked in enumerate(slot):
                stacked.assign(ops.stack([slots[j].value for slots in member_slots]))
        self.optimizer.iterations.assign(self.models[0].optimizer.iterations)

    def unstack(self, k: int) -> None:
        """Writes member ``k``'s slice of the weights and Adam slots, and the step, into its own model."""
        for j, stacked in enumerate(self.weights.variables):
            self.weights.members[k][j].assign(stacked[k])
        for stacked_slots, member_slots in zip(self._slots(self.optimizer), self._slots(self.models[k].optimizer)):
            for stacked, member in zip(stacked_slots, member_slots):
                member.assign(stacked[k])
        self.sync_step()

    def sync_step(self) -> None:
        for model in self.models:
            model.optimizer.iterations.assign(self.optimizer.iterations)

    def train_step(self, batches):
        """One step of every member on its own batch; returns the members' logs as a (K, n) array."""
        tokens = ops.stack(batches)  # (K, batch, time)
        step = self.optimizer.iterations
        with tf.GradientTape() as tape:
            z_mean, z_log_std, z, logits = stacked_forward(self.weights, self.architectures, self.models, tokens,
                                                           training=True)
            losses, members = [], []
            # unstack, not [k]: a slice's gradient is a zero-padded copy of the whole stack, K times over.
            for model, *member in zip(self.models, *(ops.unstack(t, axis=0) for t in (tokens, logits, z_mean,
                                                                                      z_log_std, z))):
                terms = model.score(*member)
                loss, values = model.objective(terms, step)
                losses.append(loss)
                members.append((terms, values))
            total = ops.sum(ops.stack(losses))  # members' weights are disjoint: each gets its own gradient
        variables = self.weights.variables
        self.optimizer.apply_gradients(zip(dense_gradients(tape.gradient(total, variables)), variables))
        logs = [model.record(loss, terms, **values)
                for model, loss, (terms, values) in zip(self.models, losses, members)]
        if self.names is None:
            self.names = tuple(logs[0])
        return ops.stack([ops.stack([ops.cast(log[name], "float32") for name in self.names]) for log in logs])


def _train_group(runs: list[tuple[train_lib.PreparedRun, str]]) -> list[dict]:
    prepared = [run for run, _ in runs]
    for run in prepared:
        run_dir.check_config(run.model_dir, run.config)  # again: another process may have started meanwhile
    starts = [run.start() for run in prepared]
    steps = {step for _, _, step in starts}
    if len(steps) != 1:
        reached = ", ".join(f"{run.model_dir} at step {step}" for run, (_, _, step) in zip(prepared, starts))
        raise ConfigurationError(f"the members' checkpoints are at different steps ({reached}): a stacked group "
                                 "resumes from one step; finish them one at a time with benchmarks.train")
    step = steps.pop()
    group = _Group(prepared)
    callback_lists = [
        keras.callbacks.CallbackList(run.callbacks(manager, wall_time, step, before_save=[lambda k=k: group.unstack(k)]),
                                     model=run.model)
        for k, (run, (manager, wall_time, _)) in enumerate(zip(prepared, starts))]
    first = prepared[0]
    per_call = first.steps_per_execution
    logging.info("training %d members stacked: %s", len(prepared), ", ".join(run.model_dir for run in prepared))
    train_step = tf.function(group.train_step, jit_compile=False)
    validation = [data.evaluation_batches(run.splits["validation"], run.batch_size) for run in prepared]
    for callback_list in callback_lists:
        callback_list.on_train_begin()
    for first_epoch, end_epoch, skip in first.segments(step):
        streams = tuple(data.training_batches(run.splits["train"], run.batch_size, run.seed, run.steps_per_epoch,
                                              first_epoch, skip) for run in prepared)
        iterator = iter(tf.data.Dataset.zip(streams))
        for epoch in range(first_epoch, end_epoch):
            for model in group.models:
                model.reset_metrics()
            for callback_list in callback_lists:
                callback_list.on_epoch_begin(epoch)
            batches = first.steps_per_epoch - (skip if epoch == first_epoch else 0)
            progress = keras.utils.Progbar(batches, verbose=first.verbose, stateful_metrics=["mean_loss"])
            if first.verbose:
                print(f"Epoch {epoch + 1}/{first.epochs} ({len(prepared)} members stacked)")
            for batch in range(batches):
                # The callbacks see every k-th step, as in a single run with train.steps_per_execution = k.
                if batch % per_call == 0:
                    for callback_list in callback_lists:
                        callback_list.on_train_batch_begin(batch)
                values = train_step(next(iterator))
                if (batch + 1) % per_call and batch + 1 < batches:
                    continue
                values = values.numpy()
                group.sync_step()
                last_logs = [dict(zip(group.names, member_values.tolist())) for member_values in values]
                for callback_list, logs in zip(callback_lists, last_logs):
                    callback_list.on_train_batch_end(batch, logs)
                progress.update(batch + 1, [("mean_loss", float(np.mean(values[:, group.names.index("loss")])))])
            for k, (run, callback_list) in enumerate(zip(prepared, callback_lists)):
                group.unstack(k)
                logs = last_logs[k]  # as Keras' fit: the epoch's logs are its last step's (running means, schedules)
                validated = run.model.evaluate(validation[k], steps=run.validation_steps, return_dict=True, verbose=0)
                callback_list.on_epoch_end(epoch, logs | {f"val_{name}": value for name, value in validated.items()})
    for callback_list in callback_lists:
        callback_list.on_train_end()
    results = []
    for k, ((run, operative_config), (_, wall_time, _)) in enumerate(zip(runs, starts)):
        group.unstack(k)
        results.append(run.finish(wall_time, operative_config, stacked_members=len(prepared)))
    return results


def members_from_flags(gin_files: Sequence[str], gin_bindings: Sequence[str], model_dirs: Sequence[str],
                       member_bindings: Sequence[str]) -> list[Member]:
    """The members the command line names: ``member_bindings[i]`` (``;``-separated) go with ``model_dirs[i]``."""
    if member_bindings and len(member_bindings) != len(model_dirs):
        raise ConfigurationError(f"{len(member_bindings)} --member_bindings for {len(model_dirs)} --model_dir: "
                                 "give one per member (an empty one for a member without bindings of its own)")
    own = [[b.strip() for b in text.split(";") if b.strip()] for text in member_bindings] or [[] for _ in model_dirs]
    return [Member(tuple(gin_files), (*gin_bindings, *bindings), model_dir)
            for model_dir, bindings in zip(model_dirs, own)]
