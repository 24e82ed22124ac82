r"""Trains one benchmark model: absl flags and gin around :func:`train`.

    python -m benchmarks.train --gin_file=gin_configs/cnn_beta_vae.gin --model_dir=runs/cnn_beta_vae \
        [--gin_bindings=train.epochs=1 --gin_bindings=train.steps_per_epoch=20]

Rerunning the same command continues an interrupted run from its last checkpoint and returns a finished
run's results without retraining. What a run leaves in ``--model_dir`` is described in :func:`train`.
"""
from __future__ import annotations

from dmelodies_tfds import console  # loads no TensorFlow

if __name__ == "__main__":  # run as a program: quiet TensorFlow's start-up before it loads
    console.quiet_program()

import contextlib
import dataclasses
import difflib
import fcntl
import glob
import json
import logging
import os
import re
import sys
from typing import Callable, Sequence

import gin
import keras
import tensorflow as tf
from absl import app, flags

from benchmarks import callbacks, data
from benchmarks.files import atomic_path, write_text
from benchmarks.gin_config import ConfigurationError, call_configured, parse_config, plain_message
from benchmarks.models import Architecture
from benchmarks.objectives import VAE
from benchmarks.provenance import provenance

gin.external_configurable(keras.optimizers.Adam, module="keras.optimizers")

CONFIG_FILE, OPERATIVE_CONFIG_FILE, RESULTS_FILE = "config.gin", "operative_config.gin", "results.json"
LOCK_FILE = ".lock"  # held by the process training in the folder


def run(gin_files: Sequence[str], gin_bindings: Sequence[str], model_dir: str) -> dict:
    """Parses the configuration and trains (or resumes, or returns the finished run's results)."""
    parse_config(gin_files, gin_bindings)
    return call_configured(train, model_dir)


@gin.configurable(denylist=["model_dir", "prepare_only"])
def train(
    model_dir: str,
    architecture: Callable[[], Architecture] = gin.REQUIRED,
    objective: Callable[..., VAE] = gin.REQUIRED,
    dataset: data.TFDSSource = gin.REQUIRED,
    optimizer: Callable[[], keras.optimizers.Optimizer] = keras.optimizers.Adam,
    epochs: int = 100,
    steps_per_epoch: int | None = None,
    batch_size: int = 512,
    seed: int = 0,
    split_seed: int | None = None,
    validation_steps: int | None = None,
    checkpoint_every_steps: int = 1000,
    log_every_steps: int = 100,
    steps_per_execution: int | None = None,
    jit_compile: bool = False,
    verbose: str | int = "auto",
    prepare_only: bool = False,
) -> dict | PreparedRun:
    """Trains ``objective`` on ``architecture`` and leaves in ``model_dir``:

    - ``config.gin`` (the configuration asked for) and ``operative_config.gin`` (every value used);
    - ``logs/train`` and ``logs/validation``: TensorBoard scalars indexed by step;
    - ``checkpoints/``: every variable and optimiser slot, every ``checkpoint_every_steps`` steps and
      after each epoch;
    - ``encoder.keras`` (built-in layers only) and ``decoder.keras`` (needs ``import benchmarks.models``);
    - ``results.json``: the test split's reconstruction accuracy and loss, steps, seed, split seed, the training
      time (``wall_time_s``: training and validation, summed over resumptions), and ``provenance``: the
      commit, uncommitted source changes and package versions that trained it (:mod:`benchmarks.provenance`).

    Args:
      seed: initial weights, data order, sampling, dropout and teacher forcing.
      split_seed: which train/validation/test split to use (protocol §4). None: the run's ``seed``, as the
        original re-split the data for every training seed (protocol §6); an integer holds the split fixed.
      steps_per_epoch: None for whole passes over the training split (dropping the last partial batch).
      validation_steps: None to validate on the whole validation split after every epoch.
      prepare_only: set up the run (checks, data, model, optimiser) and return it as a
        :class:`PreparedRun` without training, or the finished run's results (for :mod:`benchmarks.stacked`).
      steps_per_execution: training steps per call into TensorFlow, which must divide the epoch's steps.
        None: the largest number up to :data:`MAX_STEPS_PER_EXECUTION` that divides the epoch's steps,
        ``log_every_steps`` and ``checkpoint_every_steps`` (4 by default on the full dataset, whose
        epoch is 1,852 steps): fewer Python round trips, about 9 % of a CNN step (perf/PROFILE.md),
        with logs and checkpoints at the same steps as one step per call. The computation is the same;
        the NaN guard sees every k-th step (a non-finite loss shows in the epoch's running mean).
    """
    config = gin.config_str()
    _check_arguments(epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size, seed=seed,
                     split_seed=split_seed, validation_steps=validation_steps,
                     checkpoint_every_steps=checkpoint_every_steps, log_every_steps=log_every_steps,
                     steps_per_execution=steps_per_execution)
    _check_writable(model_dir)
    check_model_dir(model_dir, config)
    results_path = os.path.join(model_dir, RESULTS_FILE)
    if os.path.exists(results_path):
        logging.info("%s already holds a finished run: not retraining", model_dir)
        return _read_results(results_path)

    split_seed = seed if split_seed is None else split_seed
    try:
        splits = {split: dataset.load(split, split_seed) for split in ("train", "validation", "test")}
        # After loading: a first-use TFDS build draws from Python's `random`, which Keras seeds from.
        keras.utils.set_random_seed(seed)  # initial weights, sampling, dropout, teacher forcing
        steps_per_epoch = data.epoch_steps(len(splits["train"]), batch_size, steps_per_epoch)
        if steps_per_execution is None:
            steps_per_execution = default_steps_per_execution(steps_per_epoch, log_every_steps, checkpoint_every_steps)
        if steps_per_epoch % steps_per_execution:
            raise ValueError(f"train.steps_per_execution = {steps_per_execution} must divide the "
                             f"{steps_per_epoch} steps of an epoch (Keras would run past the epoch's end)")
        arch = architecture()
        model = objective(arch, steps_per_epoch=steps_per_epoch)
        if model.supervised:  # (tokens, labels) batches; training sees only the labels the objective keeps
            labels = {split: dataset.labels(split, split_seed) for split in splits}
            labels["train"] = model.withhold_labels(labels["train"], seed)
            splits = {split: (tokens, labels[split]) for split, tokens in splits.items()}
        model.compile(optimizer=optimizer(), steps_per_execution=steps_per_execution, jit_compile=jit_compile)
        model.build_optimizers()
    except (ValueError, TypeError) as error:
        raise ConfigurationError(f"cannot set up the run: {plain_message(error)}") from error
    for part, count in arch.count_params().items():
        logging.info("%s %s parameters: %s", arch.name, part, f"{count:,}")
    run = PreparedRun(model_dir, config, model, arch, dataset, splits, epochs=epochs, steps_per_epoch=steps_per_epoch,
                      batch_size=batch_size, seed=seed, split_seed=split_seed, validation_steps=validation_steps,
                      checkpoint_every_steps=checkpoint_every_steps, log_every_steps=log_every_steps,
                      steps_per_execution=steps_per_execution, verbose=keras_verbose(verbose))
    if prepare_only:
        return run
    with hold_model_dir(model_dir):
        check_model_dir(model_dir, config)  # again: another process may have started meanwhile
        if os.path.exists(results_path):
            return _read_results(results_path)
        return _train(run)


@dataclasses.dataclass
class PreparedRun:
    """A run set up by :func:`train` and not yet trained: its folder, configuration, model and data."""

    model_dir: str
    config: str
    model: VAE
    arch: Architecture
    dataset: data.TFDSSource
    splits: dict
    epochs: int
    steps_per_epoch: int
    batch_size: int
    seed: int
    split_seed: int
    validation_steps: int | None
    checkpoint_every_steps: int
    log_every_steps: int
    steps_per_execution: int
    verbose: str | int

    def start(self) -> tuple[tf.train.CheckpointManager, tf.Variable, int]:
        """Writes ``config.gin``, restores the newest intact checkpoint (if any) and the operative config;
        returns the checkpoint manager, the training-time variable and the step reached."""
        write_text(os.path.join(self.model_dir, CONFIG_FILE), self.config)
        wall_time = tf.Variable(0.0, dtype=tf.float64, trainable=False)  # training time, across resumptions
        _repair_checkpoint_state(os.path.join(self.model_dir, "checkpoints"))
        manager = tf.train.CheckpointManager(callbacks.checkpoint(self.model, wall_time),
                                             os.path.join(self.model_dir, "checkpoints"), max_to_keep=2)
        _restore_latest_intact(manager)
        step = int(self.model.optimizer.iterations.numpy())
        logging.info("%s at step %d of %d (%d epochs of %d steps) in %s", "Resuming" if step else "Starting",
                     step, self.epochs * self.steps_per_epoch, self.epochs, self.steps_per_epoch, self.model_dir)
        write_text(os.path.join(self.model_dir, OPERATIVE_CONFIG_FILE), gin.operative_config_str())
        return manager, wall_time, step

    def callbacks(self, manager, wall_time, step: int, before_save=()) -> list:
        """The run's callbacks: NaN guard, TensorBoard logger, schedule log and checkpointing."""
        logger = callbacks.TensorBoardLogger(os.path.join(self.model_dir, "logs"), self.log_every_steps, step)
        return [
            callbacks.StopOnNonFiniteLoss(manager.directory),
            logger,
            callbacks.ScheduleLog(),
            callbacks.Checkpointing(manager, wall_time, self.checkpoint_every_steps, self.steps_per_epoch,
                                    [*before_save, logger.flush],
                                    resumed_means=callbacks.running_means(self.model) if step % self.steps_per_epoch
                                    else None),
        ]

    def segments(self, step: int) -> list[tuple[int, int, int]]:
        """``(first epoch, end epoch, batches to skip)``: an interrupted epoch is finished first, from the
        batch where it stopped; then the whole epochs."""
        epoch, done = divmod(step, self.steps_per_epoch)
        segments = [(epoch, epoch + 1, done)] if done else []
        segments.append((epoch + bool(done), self.epochs, 0))
        return [segment for segment in segments if segment[0] < segment[1]]

    def finish(self, wall_time: tf.Variable, operative_config: str, **extra) -> dict:
        """Evaluates on the test split, saves the encoder and decoder, writes ``results.json``."""
        return _finish(self, wall_time, operative_config, **extra)


def _train(run: PreparedRun) -> dict:
    """The training proper, once the run is set up and ``model_dir`` is this process's alone."""
    manager, wall_time, step = run.start()
    run_callbacks = run.callbacks(manager, wall_time, step)
    validation = data.evaluation_batches(run.splits["validation"], run.batch_size)
    for first_epoch, end_epoch, skip in run.segments(step):
        batches = data.training_batches(run.splits["train"], run.batch_size, run.seed, run.steps_per_epoch,
                                        first_epoch, skip)
        run.model.fit(batches, initial_epoch=first_epoch, epochs=end_epoch, steps_per_epoch=run.steps_per_epoch - skip,
                      validation_data=validation, validation_steps=run.validation_steps, callbacks=run_callbacks,
                      shuffle=False, verbose=run.verbose)
    return run.finish(wall_time, gin.operative_config_str())


def _finish(run: PreparedRun, wall_time: tf.Variable, operative_config: str, **extra) -> dict:
    model, arch, model_dir, verbose = run.model, run.arch, run.model_dir, run.verbose
    results_path = os.path.join(model_dir, RESULTS_FILE)
    test = model.evaluate(data.evaluation_batches(run.splits["test"], run.batch_size), return_dict=True,
                          verbose=verbose)
    _save_keras(arch.encoder, os.path.join(model_dir, "encoder.keras"))
    _save_keras(arch.decoder, os.path.join(model_dir, "decoder.keras"))
    dataset = run.dataset
    results = {
        "method": model.method,
        "architecture": arch.name,
        "hyperparameter_name": model.hyperparameter_name,
        "hyperparameter_value": model.hyperparameter_value,
        "seed": run.seed,
        "split_seed": run.split_seed,
        "epochs": run.epochs,
        "steps_per_epoch": run.steps_per_epoch,
        "batch_size": run.batch_size,
        "steps": int(model.optimizer.iterations.numpy()),
        "wall_time_s": float(wall_time.numpy()),
        # protocol §7: per-token argmax accuracy over the whole test split, decoded without teacher forcing.
        "test_reconstruction_accuracy": float(test["reconstruction_accuracy"]),
        "test_loss": float(test["loss"]),
        "test_metrics": {name: float(value) for name, value in test.items()},
        "dataset": dataset.name,
        "dataset_config": dataset.config,
        "parameters": arch.count_params(),
        # The commit, uncommitted source changes and package versions that produced these numbers.
        "provenance": provenance(),
        **extra,
    }
    write_text(os.path.join(model_dir, OPERATIVE_CONFIG_FILE), operative_config)
    write_text(results_path, json.dumps(results, indent=2) + "\n")
    logging.info("test reconstruction accuracy %.4f, loss %.4f", results["test_reconstruction_accuracy"],
                 results["test_loss"])
    return results


# Beyond 8 steps per call the gain is below the noise on the development CPU (perf/PROFILE.md).
MAX_STEPS_PER_EXECUTION = 8


def default_steps_per_execution(*step_counts: int) -> int:
    """``train.steps_per_execution`` when None: the largest number up to 8 that divides every one of
    ``step_counts`` (the epoch's steps, the logging and the checkpoint intervals)."""
    return max(k for k in range(1, MAX_STEPS_PER_EXECUTION + 1) if all(count % k == 0 for count in step_counts))


def keras_verbose(verbose: str | int) -> str | int:
    """Keras' ``verbose`` for ``train.verbose``: "auto" is a progress bar (1) when standard output is a
    terminal or a notebook, and one line per epoch (2) otherwise. Keras' own "auto" draws the bar, with
    its ANSI codes and backspaces, into log files too."""
    if verbose != "auto":
        return verbose
    return 1 if console.is_terminal(sys.stdout) or "ipykernel" in sys.modules else 2


# Bindings that change what a run prints, not what it computes: they may differ between a run and its resumption.
_PRESENTATION_ONLY = re.compile(r"^train\.verbose\s*=.*$", re.MULTILINE)


def _identity(config: str) -> str:
    return _PRESENTATION_ONLY.sub("", config)


def _check_arguments(**values) -> None:
    """Refuses non-integer or out-of-range counts before anything is read or written."""
    minimum = dict(epochs=1, steps_per_epoch=1, batch_size=2, seed=0, split_seed=0, validation_steps=1,
                   checkpoint_every_steps=1, log_every_steps=1, steps_per_execution=1)
    optional = ("steps_per_epoch", "split_seed", "validation_steps", "steps_per_execution")
    for name, value in values.items():
        if value is None and name in optional:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum[name]:
            raise ConfigurationError(f"train.{name} = {value!r}: it must be an integer >= {minimum[name]}"
                                     + (" or None" if name in optional else ""))


def _check_writable(model_dir: str) -> None:
    """Refuses, before any data is read, a ``model_dir`` that is a file or cannot be written."""
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise ConfigurationError(f"--model_dir {model_dir} is a file, not a folder")
    existing = os.path.abspath(model_dir)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigurationError(f"--model_dir {model_dir} lies under {existing}, which is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigurationError(f"--model_dir {model_dir} cannot be created or written: {existing} is not writable")


def _read_results(path: str) -> dict:
    with open(path, encoding="utf-8") as file:
        return json.load(file)


@contextlib.contextmanager
def hold_model_dir(model_dir: str):
    """Holds an exclusive lock on ``model_dir`` for the run; the kernel releases it if the process dies,
    so a killed run never leaves the folder locked."""
    try:
        os.makedirs(model_dir, exist_ok=True)
        handle = open(os.path.join(model_dir, LOCK_FILE), "a+")
    except OSError as error:
        raise ConfigurationError(f"cannot write to --model_dir {model_dir}: {error.strerror}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise ConfigurationError(f"{model_dir} is in use by a training that is still running ({owner}); "
                                     "wait for it to finish or use another --model_dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def check_model_dir(model_dir: str, config: str) -> None:
    """Refuses a ``model_dir`` that holds a run configured differently from ``config`` (bindings that only
    change what is printed, such as ``train.verbose``, may differ)."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.exists(path):
        if os.path.exists(os.path.join(model_dir, "checkpoints")):
            raise ConfigurationError(f"{model_dir} holds checkpoints but no {CONFIG_FILE}: use a fresh --model_dir")
        return
    with open(path) as file:
        previous = file.read()
    if _identity(previous) != _identity(config):
        diff = "\n".join(difflib.unified_diff(previous.splitlines(), config.splitlines(), "in model_dir",
                                              "requested", lineterm="", n=0))
        raise ConfigurationError(
            f"{model_dir} holds a run with a different configuration; use another --model_dir, or the "
            f"same configuration to resume it. Differences:\n{diff}"
        )


def _save_keras(model: keras.Model, path: str) -> None:
    with atomic_path(path) as temporary:
        model.save(temporary)


def define_flags() -> None:
    """Defines the command-line flags; only when run as a program, so importing this module for its
    functions never collides with another module's flags of the same name."""
    flags.DEFINE_multi_string("gin_file", [], "Gin files, e.g. gin_configs/cnn_beta_vae.gin.")
    flags.DEFINE_multi_string("gin_bindings", [], "Extra gin bindings, e.g. train.epochs=1.")
    flags.DEFINE_string("model_dir", None, "Where the run's checkpoints, logs and results go.")
    flags.mark_flag_as_required("model_dir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    console.quiet_absl_loggers()
    try:
        run(flags.FLAGS.gin_file, flags.FLAGS.gin_bindings, flags.FLAGS.model_dir)
    except (ConfigurationError, callbacks.NonFiniteLossError) as error:
        raise SystemExit(f"error: {plain_message(error)}") from None


if __name__ == "__main__":
    from dmelodies_tfds.text import plain_text

    __doc__ = plain_text(__doc__)  # absl's --help shows the module docstring: plain text, not reST
    define_flags()
    app.run(main)
