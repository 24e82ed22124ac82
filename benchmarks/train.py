r"""Trains one benchmark model (issue 3, item 4): absl flags and gin around :func:`train`.

    python -m benchmarks.train --gin_file=gin_configs/cnn_beta_vae.gin --model_dir=runs/cnn_beta_vae \
        [--gin_bindings=train.epochs=1 --gin_bindings=train.steps_per_epoch=20]

Rerunning the same command continues an interrupted run from its last checkpoint and returns a finished
run's results without retraining. What a run leaves in ``--model_dir`` is described in :func:`train`.
"""
from __future__ import annotations

import difflib
import json
import logging
import os
from typing import Callable, Sequence

import gin
import keras
import tensorflow as tf
from absl import app, flags

from benchmarks import callbacks, data
from benchmarks.files import atomic_path, write_text
from benchmarks.gin_config import ConfigurationError, call_configured, parse_config
from benchmarks.models import Architecture
from benchmarks.objectives import VAE

gin.external_configurable(keras.optimizers.Adam, module="keras.optimizers")

CONFIG_FILE, OPERATIVE_CONFIG_FILE, RESULTS_FILE = "config.gin", "operative_config.gin", "results.json"


def run(gin_files: Sequence[str], gin_bindings: Sequence[str], model_dir: str) -> dict:
    """Parses the configuration and trains (or resumes, or returns the finished run's results)."""
    parse_config(gin_files, gin_bindings)
    return call_configured(train, model_dir)


@gin.configurable(denylist=["model_dir"])
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
    log_every_steps: int = 50,
    steps_per_execution: int = 1,
    jit_compile: bool = False,
    verbose: str | int = "auto",
) -> dict:
    """Trains ``objective`` on ``architecture`` and leaves in ``model_dir``:

    - ``config.gin`` (the configuration asked for) and ``operative_config.gin`` (every value used);
    - ``logs/train`` and ``logs/validation``: TensorBoard scalars indexed by step;
    - ``checkpoints/``: every variable and optimiser slot, every ``checkpoint_every_steps`` steps and
      after each epoch;
    - ``encoder.keras`` (built-in layers only) and ``decoder.keras`` (needs ``import benchmarks.models``);
    - ``results.json``: the test split's reconstruction accuracy and loss, steps, seed, split seed, and the training
      time (``wall_time_s``: training and validation, summed over resumptions).

    Args:
      seed: initial weights, data order, sampling, dropout and teacher forcing.
      split_seed: which train/validation/test split to use (SPEC §4). None: the run's ``seed``, as the
        original re-split the data for every training seed (SPEC §6); an integer holds the split fixed.
      steps_per_epoch: None for whole passes over the training split (dropping the last partial batch).
      validation_steps: None to validate on the whole validation split after every epoch.
      steps_per_execution: training steps per call into TensorFlow (fewer Python round trips).
    """
    config = gin.config_str()
    _check_model_dir(model_dir, config)
    results_path = os.path.join(model_dir, RESULTS_FILE)
    if os.path.exists(results_path):
        logging.info("%s already holds a finished run: not retraining", model_dir)
        with open(results_path) as file:
            return json.load(file)

    split_seed = seed if split_seed is None else split_seed
    try:
        splits = {split: dataset.load(split, split_seed) for split in ("train", "validation", "test")}
        # After loading: a first-use TFDS build draws from Python's `random`, which Keras seeds from.
        keras.utils.set_random_seed(seed)  # initial weights, sampling, dropout, teacher forcing
        steps_per_epoch = data.epoch_steps(len(splits["train"]), batch_size, steps_per_epoch)
        arch = architecture()
        model = objective(arch, steps_per_epoch=steps_per_epoch)
        model.compile(optimizer=optimizer(), steps_per_execution=steps_per_execution, jit_compile=jit_compile)
        model.build_optimizers()
    except (ValueError, TypeError) as error:
        raise ConfigurationError(f"cannot set up the run: {error}") from error
    for part, count in arch.count_params().items():
        logging.info("%s %s parameters: %s", arch.name, part, f"{count:,}")
    os.makedirs(model_dir, exist_ok=True)
    write_text(os.path.join(model_dir, CONFIG_FILE), config)

    wall_time = tf.Variable(0.0, dtype=tf.float64, trainable=False)  # training time, across resumptions
    manager = tf.train.CheckpointManager(callbacks.checkpoint(model, wall_time),
                                         os.path.join(model_dir, "checkpoints"), max_to_keep=2)
    if manager.latest_checkpoint:
        manager.checkpoint.restore(manager.latest_checkpoint).assert_consumed()
    step = int(model.optimizer.iterations.numpy())
    logging.info("%s at step %d of %d (%d epochs of %d steps)", "Resuming" if step else "Starting",
                 step, epochs * steps_per_epoch, epochs, steps_per_epoch)
    write_text(os.path.join(model_dir, OPERATIVE_CONFIG_FILE), gin.operative_config_str())

    logger = callbacks.TensorBoardLogger(os.path.join(model_dir, "logs"), log_every_steps, step)
    epoch, done = divmod(step, steps_per_epoch)
    run_callbacks = [
        callbacks.StopOnNonFiniteLoss(manager.directory),
        logger,
        callbacks.ScheduleLog(),
        callbacks.Checkpointing(manager, wall_time, checkpoint_every_steps, steps_per_epoch, [logger.flush],
                                resumed_means=callbacks.running_means(model) if done else None),
    ]
    validation = data.evaluation_batches(splits["validation"], batch_size)
    # An interrupted epoch is finished first, from the batch where it stopped; then the whole epochs.
    segments = [(epoch, epoch + 1, done)] if done else []
    segments.append((epoch + bool(done), epochs, 0))
    for first_epoch, end_epoch, skip in segments:
        if first_epoch < end_epoch:
            batches = data.training_batches(splits["train"], batch_size, seed, steps_per_epoch, first_epoch, skip)
            model.fit(batches, initial_epoch=first_epoch, epochs=end_epoch, steps_per_epoch=steps_per_epoch - skip,
                      validation_data=validation, validation_steps=validation_steps, callbacks=run_callbacks,
                      shuffle=False, verbose=verbose)

    test = model.evaluate(data.evaluation_batches(splits["test"], batch_size), return_dict=True, verbose=verbose)
    _save_keras(arch.encoder, os.path.join(model_dir, "encoder.keras"))
    _save_keras(arch.decoder, os.path.join(model_dir, "decoder.keras"))
    results = {
        "method": model.method,
        "architecture": arch.name,
        "hyperparameter_name": model.hyperparameter_name,
        "hyperparameter_value": model.hyperparameter_value,
        "seed": seed,
        "split_seed": split_seed,
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "batch_size": batch_size,
        "steps": int(model.optimizer.iterations.numpy()),
        "wall_time_s": float(wall_time.numpy()),
        # SPEC §7: per-token argmax accuracy over the whole test split, decoded without teacher forcing.
        "test_reconstruction_accuracy": float(test["reconstruction_accuracy"]),
        "test_loss": float(test["loss"]),
        "test_metrics": {name: float(value) for name, value in test.items()},
        "dataset": dataset.name,
        "dataset_config": dataset.config,
        "parameters": arch.count_params(),
    }
    write_text(os.path.join(model_dir, OPERATIVE_CONFIG_FILE), gin.operative_config_str())
    write_text(results_path, json.dumps(results, indent=2) + "\n")
    logging.info("test reconstruction accuracy %.4f, loss %.4f", results["test_reconstruction_accuracy"],
                 results["test_loss"])
    return results


def _check_model_dir(model_dir: str, config: str) -> None:
    """Refuses a ``model_dir`` that holds a run configured differently from ``config``."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.exists(path):
        if os.path.exists(os.path.join(model_dir, "checkpoints")):
            raise ConfigurationError(f"{model_dir} holds checkpoints but no {CONFIG_FILE}: use a fresh --model_dir")
        return
    with open(path) as file:
        previous = file.read()
    if previous != config:
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
    try:
        run(flags.FLAGS.gin_file, flags.FLAGS.gin_bindings, flags.FLAGS.model_dir)
    except (ConfigurationError, callbacks.NonFiniteLossError) as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    define_flags()
    app.run(main)
