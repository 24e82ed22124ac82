"""One training run: gin-configured, resumable, every output written atomically (:mod:`benchmarks.run_dir`).

:func:`train` sets a run up from the gin configuration and trains it, or resumes it from its newest
intact checkpoint, or returns a finished run's results without retraining. ``python -m benchmarks.train``
is its command line.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
from typing import Callable, Sequence

import gin
import keras

from benchmarks import run_dir
from benchmarks.gin_config import ConfigurationError, call_configured, parse_config, plain_message
from benchmarks.models import Architecture
from benchmarks.objectives import VAE
from benchmarks.provenance import provenance
from benchmarks.training import callbacks, checkpoints, data, random_numbers
from dmelodies_tfds import console
from dmelodies_tfds.atomic import atomic_path, write_text

gin.external_configurable(keras.optimizers.Adam, module="keras.optimizers")


def run(gin_files: Sequence[str], gin_bindings: Sequence[str], model_dir: str) -> dict:
    """Parses the configuration and trains (or resumes, or returns the finished run's results)."""
    parse_config(gin_files, gin_bindings)
    return call_configured(train, model_dir)


@gin.configurable(denylist=["model_dir", "prepare_only"])
def train(
    model_dir: str,
    architecture: Callable[[], Architecture] = gin.REQUIRED,
    objective: Callable[..., VAE] = gin.REQUIRED,
    dataset: data.TFDSSource | data.GeneratedSource = gin.REQUIRED,
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
    jit_compile: bool | None = None,
    verbose: str | int = "auto",
    random_numbers_from: str = "tensorflow",
    prepare_only: bool = False,
) -> dict | PreparedRun:
    """Trains ``objective`` on ``architecture`` and leaves in ``model_dir``:

    - ``config.gin`` (the configuration asked for) and ``operative_config.gin`` (every value used);
    - ``logs/train`` and ``logs/validation``: TensorBoard scalars indexed by step;
    - ``checkpoints/``: every variable and optimiser slot, every ``checkpoint_every_steps`` steps and
      after each epoch;
    - ``encoder.keras`` (built-in layers only) and ``decoder.keras`` (needs ``import benchmarks.models``);
    - ``results.json``: the test split's reconstruction accuracy and loss, steps, seed, split seed, the Keras
      backend, the training time (``wall_time_s``: training and validation, summed over resumptions),
      ``provenance``: the commit, uncommitted source changes and package versions of the code that trained
      it (:mod:`benchmarks.provenance`), read when the training process started, and
      ``training_segments``: the same for each process of a resumed run, with the step it started at;
    - ``training_segments.json``: that record while the run trains (``results.json`` takes it over).

    Args:
      seed: initial weights, data order, sampling, dropout and teacher forcing.
      split_seed: which train/validation/test split to use (protocol §4). None: the run's ``seed``, as the
        original re-split the data for every training seed (protocol §6); an integer holds the split fixed.
      steps_per_epoch: None for whole passes over the training split (dropping the last partial batch).
      validation_steps: None to validate on the whole validation split after every epoch.
      prepare_only: set up the run (checks, data, model, optimiser) and return it as a
        :class:`PreparedRun` without training, or the finished run's results (for :mod:`benchmarks.training.stacked`).
      steps_per_execution: training steps per call into TensorFlow, which must divide the epoch's steps.
        None: the largest number up to :data:`MAX_STEPS_PER_EXECUTION` (1 on PyTorch, whose Keras trainer
        runs one step per call) that divides the epoch's steps,
        ``log_every_steps`` and ``checkpoint_every_steps`` (4 by default on the full dataset, whose
        epoch is 1,852 steps): fewer Python round trips (perf/PROFILE.md), with logs and checkpoints at the same steps as one step per call. The computation is the same;
        the NaN guard sees every k-th step (a non-finite loss shows in the epoch's running mean).
      jit_compile: compile the training step with XLA. None: :func:`default_jit_compile`.
      random_numbers_from: ``"tensorflow"``: every backend draws TensorFlow's random numbers for the seed, so
        a seed gives the same initial weights, samples and masks on TensorFlow, JAX and PyTorch (to float32
        rounding: :mod:`benchmarks.training.random_numbers`); ``"backend"``: the backend's own generator.
    """
    config = gin.config_str()
    _check_arguments(epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size, seed=seed,
                     split_seed=split_seed, validation_steps=validation_steps,
                     checkpoint_every_steps=checkpoint_every_steps, log_every_steps=log_every_steps,
                     steps_per_execution=steps_per_execution)
    run_dir.check_writable(model_dir)
    run_dir.check_config(model_dir, config)
    if run_dir.status(model_dir) == "finished":
        logging.info("%s already holds a finished run: not retraining", model_dir)
        return run_dir.read_results(model_dir, checked=False)

    split_seed = seed if split_seed is None else split_seed
    explicit_steps_per_execution = steps_per_execution is not None
    try:
        splits = {split: dataset.load(split, split_seed) for split in ("train", "validation", "test")}
        random_numbers.use(random_numbers_from)
        # After loading: a first-use TFDS build draws from Python's `random`, which Keras seeds from.
        keras.utils.set_random_seed(seed)  # initial weights, sampling, dropout, teacher forcing
        steps_per_epoch = data.epoch_steps(len(splits["train"]), batch_size, steps_per_epoch)
        if steps_per_execution is None:
            steps_per_execution = default_steps_per_execution(steps_per_epoch, log_every_steps, checkpoint_every_steps)
        if keras.backend.backend() == "torch" and steps_per_execution != 1:  # Keras runs PyTorch step by step
            if explicit_steps_per_execution:
                raise ValueError(f"train.steps_per_execution = {steps_per_execution}: the PyTorch backend runs "
                                 "one step per call; bind it to 1 or leave it unset")
            steps_per_execution = 1
        if steps_per_epoch % steps_per_execution:
            raise ValueError(f"train.steps_per_execution = {steps_per_execution} must divide the "
                             f"{steps_per_epoch} steps of an epoch (Keras would run past the epoch's end)")
        arch = architecture()
        model = objective(arch, steps_per_epoch=steps_per_epoch)
        if model.supervised:  # (tokens, labels) batches; training sees only the labels the objective keeps
            labels = {split: dataset.labels(split, split_seed) for split in splits}
            labels["train"] = model.withhold_labels(labels["train"], seed)
            splits = {split: (tokens, labels[split]) for split, tokens in splits.items()}
        if jit_compile is None:
            jit_compile = default_jit_compile()
        model.compile(optimizer=optimizer(), steps_per_execution=steps_per_execution, jit_compile=jit_compile)
        model.build_optimizers()
    except (ValueError, TypeError) as error:
        raise ConfigurationError(f"cannot set up the run: {plain_message(error)}") from error
    for part, count in arch.count_params().items():
        logging.info("%s %s parameters: %s", arch.name, part, f"{count:,}")
    logging.info("training step on %s, %s", keras.backend.backend(),
                 "compiled by XLA" if jit_compile else "without XLA")
    run = PreparedRun(model_dir, config, model, arch, dataset, splits, epochs=epochs, steps_per_epoch=steps_per_epoch,
                      batch_size=batch_size, seed=seed, split_seed=split_seed, validation_steps=validation_steps,
                      checkpoint_every_steps=checkpoint_every_steps, log_every_steps=log_every_steps,
                      steps_per_execution=steps_per_execution, verbose=keras_verbose(verbose))
    if prepare_only:
        return run
    with run_dir.hold(model_dir):
        run_dir.check_config(model_dir, config)  # again: another process may have started meanwhile
        if run_dir.status(model_dir) == "finished":
            return run_dir.read_results(model_dir, checked=False)
        return _train(run)


@dataclasses.dataclass
class PreparedRun:
    """A run set up by :func:`train` and not yet trained: its folder, configuration, model and data."""

    model_dir: str
    config: str
    model: VAE
    arch: Architecture
    dataset: data.TFDSSource | data.GeneratedSource
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
    training_segments: list = dataclasses.field(default_factory=list)  # set by start()

    def start(self) -> tuple:
        """Writes ``config.gin``, restores the newest intact checkpoint (if any) and the operative config;
        returns the checkpoint manager, the training time (across resumptions) and the step reached."""
        write_text(os.path.join(self.model_dir, run_dir.CONFIG_FILE), self.config)
        manager, wall_time = checkpoints.restore_run(self.model, os.path.join(self.model_dir, run_dir.CHECKPOINTS))
        step = int(self.model.optimizer.iterations.numpy())
        # The code this process loaded, read now: the checkout may move on while the run trains.
        self.training_segments = run_dir.record_segment(self.model_dir, step, provenance())
        logging.info("%s at step %d of %d (%d epochs of %d steps) in %s", "Resuming" if step else "Starting",
                     step, self.epochs * self.steps_per_epoch, self.epochs, self.steps_per_epoch, self.model_dir)
        write_text(os.path.join(self.model_dir, run_dir.OPERATIVE_CONFIG_FILE), gin.operative_config_str())
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

    def finish(self, wall_time, operative_config: str, **extra) -> dict:
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


def _finish(run: PreparedRun, wall_time, operative_config: str, **extra) -> dict:
    model, arch, model_dir, verbose = run.model, run.arch, run.model_dir, run.verbose
    test = model.evaluate(data.evaluation_batches(run.splits["test"], run.batch_size), return_dict=True,
                          verbose=verbose)
    _save_keras(arch.encoder, os.path.join(model_dir, run_dir.ENCODER_FILE))
    _save_keras(arch.decoder, os.path.join(model_dir, run_dir.DECODER_FILE))
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
        "backend": keras.backend.backend(),
        "random_numbers": random_numbers.in_use(),
        "dataset": dataset.name,
        "dataset_config": dataset.config,
        "parameters": arch.count_params(),
        # The commit, uncommitted source changes and package versions that produced these numbers: those of
        # the process that finished the run, and of each process that trained a part of it.
        "provenance": {key: value for key, value in run.training_segments[-1].items() if key != "from_step"},
        "training_segments": run.training_segments,
        **extra,
    }
    write_text(os.path.join(model_dir, run_dir.OPERATIVE_CONFIG_FILE), operative_config)
    run_dir.write_results(model_dir, results)
    with contextlib.suppress(FileNotFoundError):  # results.json holds the record now
        os.remove(os.path.join(model_dir, run_dir.SEGMENTS_FILE))
    logging.info("test reconstruction accuracy %.4f, loss %.4f", results["test_reconstruction_accuracy"],
                 results["test_loss"])
    return results


# Beyond 8 steps per call the gain is below the measurement noise (perf/PROFILE.md).
MAX_STEPS_PER_EXECUTION = 8


def default_steps_per_execution(*step_counts: int) -> int:
    """``train.steps_per_execution`` when None: the largest number up to 8 that divides every one of
    ``step_counts`` (the epoch's steps, the logging and the checkpoint intervals)."""
    return max(k for k in range(1, MAX_STEPS_PER_EXECUTION + 1) if all(count % k == 0 for count in step_counts))


def default_jit_compile() -> bool:
    """``train.jit_compile`` when None: on JAX, whose Keras trainer runs the step un-jitted otherwise (op by
    op, many times slower), True; on TensorFlow False, where its graph without XLA is the faster on a CPU
    (docs/performance.md); on PyTorch False, as Keras' own default there (eager)."""
    return keras.backend.backend() == "jax"


def keras_verbose(verbose: str | int) -> str | int:
    """Keras' ``verbose`` for ``train.verbose``: "auto" is a progress bar (1) when standard output is a
    terminal or a notebook, and one line per epoch (2) otherwise. Keras' own "auto" draws the bar, with
    its ANSI codes and backspaces, into log files too."""
    if verbose != "auto":
        return verbose
    return 1 if console.is_terminal(sys.stdout) or "ipykernel" in sys.modules else 2


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


def _save_keras(model: keras.Model, path: str) -> None:
    with atomic_path(path) as temporary:
        model.save(temporary)


