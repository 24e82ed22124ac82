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

On JAX the group trains through the members' own training step (the objective's, as Keras' ``fit()``
jits it there), vectorised over the members with ``jax.vmap``: one traced step serves every member, so
the members must share their whole configuration but their seeds and split seeds (a grid point's
seeds); each member still draws from its own generators' state and trains on its own split. On
TensorFlow the networks' own training formulations compute every member at once on weights stacked along a
leading axis (:mod:`benchmarks.models.stacked`), and the members may also differ in the objective's
hyperparameters and schedules.

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
from keras import ops

from benchmarks import run_dir
from benchmarks.training import data
from benchmarks.training import run as train_lib
from benchmarks.gin_config import SEED_BINDINGS, ConfigurationError, call_configured, is_seed_binding, parse_config

STACKING_BACKENDS = ("tensorflow", "jax")


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
    if keras.backend.backend() not in STACKING_BACKENDS:
        raise ConfigurationError(f"stacked training runs on TensorFlow and JAX, not the {keras.backend.backend()} "
                                 "backend: train the members one by one (benchmarks.train or a sweep without --stack)")
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
        _check_compatible([run for _, run, _ in runs], [operative for _, _, operative in runs])
        with contextlib.ExitStack() as locks:
            for _, run, _ in runs:
                locks.enter_context(run_dir.hold(run.model_dir))
            for index, result in zip((i for i, _, _ in runs), _train_group([(r, o) for _, r, o in runs])):
                results[index] = result
    return results


def _check_compatible(runs: list[train_lib.PreparedRun], operative_configs: list[str]) -> None:
    """Refuses members that cannot share one stacked model, naming what differs."""
    first = runs[0]
    if keras.backend.backend() == "jax":
        reference = without_seeds(operative_configs[0])
        for run, operative in zip(runs[1:], operative_configs[1:]):
            if without_seeds(operative) != reference:
                differing = sorted(set(without_seeds(operative).splitlines()) ^ set(reference.splitlines()))
                raise ConfigurationError(
                    f"on JAX, members share one traced training step and may differ only in "
                    f"{' and '.join(SEED_BINDINGS)}: {first.model_dir} and {run.model_dir} differ in "
                    f"{'; '.join(differing)} (stack a grid point's seeds, or stack on TensorFlow)")
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


def without_seeds(operative_config: str) -> str:
    """An operative gin configuration without its seed bindings: what a member may differ in when one
    traced step serves every member (JAX)."""
    return "\n".join(line for line in operative_config.splitlines() if not is_seed_binding(line))


class _TensorFlowGroup:
    """The members' models and the stacked weights and Adam that train them (TensorFlow)."""

    def __init__(self, runs: list[train_lib.PreparedRun]):
        from benchmarks.models.stacked import StackedRuns, StackedWeights

        self.runs = runs
        self.models = [run.model for run in runs]
        self.architectures = [run.arch for run in runs]
        self.weights = StackedWeights(self.architectures)
        self.stack = StackedRuns(self.weights, self.architectures)  # how the networks compute the stack
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

    def reset_metrics(self) -> None:
        for model in self.models:
            model.reset_metrics()

    def validated(self, k: int) -> None:
        """After member ``k``'s validation: its layers drew from the generators the stack shares."""

    def compiled_step(self):
        """:meth:`train_step` as TensorFlow runs it: one graph for every member."""
        import tensorflow as tf

        return tf.function(self.train_step, jit_compile=False)

    def zip(self, streams):
        """The members' batch streams as one stream of tuples (one batch per member)."""
        import tensorflow as tf

        return iter(tf.data.Dataset.zip(tuple(streams)))

    def train_step(self, batches):
        """One step of every member on its own batch; returns the members' logs as a (K, n) array."""
        import tensorflow as tf

        from benchmarks.models.stacked import stacked_forward
        from benchmarks.objectives.differentiation import dense_gradients

        tokens = ops.stack(batches)  # (K, batch, time)
        step = self.optimizer.iterations
        with tf.GradientTape() as tape:
            z_mean, z_log_std, z, logits = stacked_forward(self.stack, self.models, tokens, training=True)
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


class _JaxGroup:
    """The members' states (each variable's value, members on a leading axis) and their own training step
    under ``jax.vmap`` (JAX). The members' Keras models hold their state only where it is synchronised:
    :meth:`unstack` before a checkpoint, validation and the end, :meth:`validated` after validation."""

    def __init__(self, runs: list[train_lib.PreparedRun]):
        import jax

        self.models = [run.model for run in runs]
        first = self.models[0]
        self._iterations = next(i for i, v in enumerate(first.optimizer.variables) if v is first.optimizer.iterations)
        self.restack()
        # The first member's step, traced once; its variables are only the keys of the values it is given.
        self._step = jax.jit(jax.vmap(first.train_step), donate_argnums=0)
        self.names = None

    @staticmethod
    def _variables(model) -> tuple:
        """A model's variables in the groups (and order) of its JAX ``train_step``'s state."""
        return (model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
                model.metrics_variables)

    def _stacked(self, g: int) -> list:
        """The members' values of variable group ``g`` (see :meth:`_variables`), stacked variable by variable."""
        import jax.numpy as jnp

        return [jnp.stack(values) for values in zip(*([v.value for v in self._variables(model)[g]]
                                                      for model in self.models))]

    def restack(self) -> None:
        """Reads every member's variables (restored or initial) into the state."""
        self.state = tuple(self._stacked(g) for g in range(4))

    def validated(self, k: int) -> None:
        """Reads member ``k``'s variables back after its validation, which moved its random generators: a
        single run's next epoch draws from where its validation left them."""
        self.state = tuple([value.at[k].set(variable.value) for variable, value in zip(group, values)]
                           for group, values in zip(self._variables(self.models[k]), self.state))

    def unstack(self, k: int) -> None:
        """Writes member ``k``'s slice of the state into its own model."""
        for group, values in zip(self._variables(self.models[k]), self.state):
            for variable, value in zip(group, values):
                variable.assign(value[k])

    def sync_step(self) -> None:
        for k, model in enumerate(self.models):
            model.optimizer.iterations.assign(self.state[2][self._iterations][k])

    def reset_metrics(self) -> None:
        for model in self.models:
            model.reset_metrics()
        self.state = (*self.state[:3], self._stacked(3))

    def compiled_step(self):
        return self.train_step

    @staticmethod
    def zip(streams):
        return zip(*streams)

    def train_step(self, batches):
        """One step of every member on its own batch; returns the members' logs as a (K, n) array."""
        import jax.numpy as jnp

        data = tuple(jnp.stack([np.asarray(batch[i]) for batch in batches]) for i in range(len(batches[0])))
        logs, self.state = self._step(self.state, data)
        if self.names is None:
            self.names = tuple(logs)
        return jnp.stack([jnp.asarray(logs[name], "float32") for name in self.names], axis=1)


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
    group = (_JaxGroup if keras.backend.backend() == "jax" else _TensorFlowGroup)(prepared)
    callback_lists = [
        keras.callbacks.CallbackList(run.callbacks(manager, wall_time, step, before_save=[lambda k=k: group.unstack(k)]),
                                     model=run.model)
        for k, (run, (manager, wall_time, _)) in enumerate(zip(prepared, starts))]
    first = prepared[0]
    per_call = first.steps_per_execution
    logging.info("training %d members stacked: %s", len(prepared), ", ".join(run.model_dir for run in prepared))
    train_step = group.compiled_step()
    validation = [data.evaluation_batches(run.splits["validation"], run.batch_size) for run in prepared]
    for callback_list in callback_lists:
        callback_list.on_train_begin()
    for first_epoch, end_epoch, skip in first.segments(step):
        iterator = group.zip(data.training_batches(run.splits["train"], run.batch_size, run.seed,
                                                   run.steps_per_epoch, first_epoch, skip) for run in prepared)
        for epoch in range(first_epoch, end_epoch):
            group.reset_metrics()
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
                values = np.asarray(values)
                group.sync_step()
                last_logs = [dict(zip(group.names, member_values.tolist())) for member_values in values]
                for callback_list, logs in zip(callback_lists, last_logs):
                    callback_list.on_train_batch_end(batch, logs)
                progress.update(batch + 1, [("mean_loss", float(np.mean(values[:, group.names.index("loss")])))])
            for k, (run, callback_list) in enumerate(zip(prepared, callback_lists)):
                group.unstack(k)
                logs = last_logs[k]  # as Keras' fit: the epoch's logs are its last step's (running means, schedules)
                validated = run.model.evaluate(validation[k], steps=run.validation_steps, return_dict=True, verbose=0)
                group.validated(k)
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
