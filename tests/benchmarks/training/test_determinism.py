"""One seed, one run (protocol §6 "Training", §7): the same training command twice gives the same numbers, and
a run resumed from a checkpoint in the middle of annealing follows the uninterrupted run's schedule.

Runs are tiny: the `tiny` dMelodies config, a few steps of batches of 100.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

from benchmarks.training import data
from benchmarks.evaluation import scoring as E
from benchmarks.training import run as train_lib
from helpers import QUIET_TENSORFLOW, REPO, gin_file, scalars, subprocess_env, tiny_bindings, train_command

pytestmark = pytest.mark.usefixtures("no_gin_bindings")


def bindings(data_dir, **overrides):
    """A tiny run's bindings, checkpointing every 2 steps and logging every step."""
    return tiny_bindings(data_dir, **{"train.checkpoint_every_steps": 2, "train.log_every_steps": 1, **overrides})


def train_commands(name, gin_bindings, model_dirs):
    """`python -m benchmarks.train ...` into each of ``model_dirs``, each in a fresh interpreter, all at
    once; their results."""
    processes = [subprocess.Popen(train_command(name, gin_bindings, model_dir),
                                  cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  env=subprocess_env(**QUIET_TENSORFLOW))
                 for model_dir in model_dirs]
    results = []
    for process, model_dir in zip(processes, model_dirs):
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
        with open(os.path.join(model_dir, "results.json")) as file:
            results.append(json.load(file))
    return results


def numbers(value, prefix=""):
    """{path: number} of every number in a results dict, except the measured wall time."""
    if isinstance(value, dict):
        found = {}
        for key, item in value.items():
            if key != "wall_time_s":
                found.update(numbers(item, f"{prefix}/{key}"))
        return found
    return {prefix: value} if isinstance(value, (int, float)) and not isinstance(value, bool) else {}


@pytest.mark.integration
@pytest.mark.parametrize("name", ["cnn_factor_vae", "rnn_annealed_vae"])
def test_the_same_command_twice_gives_the_same_results(name, data_dir, tmp_path):
    """Same seed: same split and data order, same initial weights, same sampling, dropout, teacher forcing
    and permutations, hence the same test numbers, weights and disentanglement scores."""
    run_bindings = bindings(data_dir, **({"AnnealedVAE.warmup_epochs": 1, "AnnealedVAE.annealing_steps": 10}
                                         if "annealed" in name else {}))
    first, second = train_commands(name, run_bindings, [tmp_path / "a", tmp_path / "b"])
    first_numbers, second_numbers = numbers(first), numbers(second)
    assert first_numbers.keys() == second_numbers.keys()
    assert {"/test_loss", "/test_reconstruction_accuracy", "/test_metrics/kl", "/steps"} <= first_numbers.keys()
    for key, value in first_numbers.items():
        assert second_numbers[key] == pytest.approx(value, rel=1e-4, abs=1e-4), key
    assert first["steps"] == 6

    encoders = [keras.saving.load_model(str(tmp_path / run / "encoder.keras")) for run in ("a", "b")]
    for a, b in zip(*(encoder.get_weights() for encoder in encoders)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    scores = [E.run(str(tmp_path / run), [E.config_file("mig")], ["mig.num_train = 500"])[0] for run in ("a", "b")]
    assert scores[1]["scores"]["mig"]["discrete_mig"] == pytest.approx(scores[0]["scores"]["mig"]["discrete_mig"],
                                                                       abs=1e-4)
    for factor, value in scores[0]["factorwise_mig"].items():
        assert scores[1]["factorwise_mig"][factor] == pytest.approx(value, abs=1e-4)


def test_a_run_resumed_in_the_middle_of_annealing_follows_the_schedule(data_dir, tmp_path, caplog):
    """Warm-up 1 step (1/3 epoch of 3 steps, rounded), then C_t = 51 ** (k / 20) − 1 (annealing over 20
    steps; the run stops after 9). A run stopped after its checkpoint at step 8 (C_8 = 51 ** 0.35 − 1)
    and resumed logs the same capacity, step for step, as the uninterrupted run and the formula, and
    ends with the same test numbers."""
    run_bindings = bindings(data_dir, **{"train.epochs": 3, "AnnealedVAE.capacity": 50.0,
                                         "AnnealedVAE.warmup_epochs": 1 / 3, "AnnealedVAE.annealing_steps": 20})
    uninterrupted = train_lib.run([gin_file("cnn_annealed_vae")], run_bindings, str(tmp_path / "a"))

    interrupted = tmp_path / "b"
    train_lib.run([gin_file("cnn_annealed_vae")], run_bindings, str(interrupted))
    # What a run killed just after its checkpoint at step 8 leaves: no results, checkpoint index at 8.
    checkpoints = interrupted / "checkpoints"
    assert sorted(os.path.basename(p) for p in glob.glob(str(checkpoints / "ckpt-*.index"))) == [
        "ckpt-8.index", "ckpt-9.index"]
    for path in ("results.json", "encoder.keras", "decoder.keras", *glob.glob(str(checkpoints / "ckpt-9.*"))):
        os.remove(interrupted / path)
    tf.compat.v1.train.update_checkpoint_state(str(checkpoints), str(checkpoints / "ckpt-8"))
    with caplog.at_level(logging.INFO):
        resumed = train_lib.run([gin_file("cnn_annealed_vae")], run_bindings, str(interrupted))
    assert "Resuming at step 8 of 9" in caplog.text

    # The capacity used by step s is logged at s + 1 whenever it changes: 0 for steps 0 (warm-up) and 1
    # (k = 0), then a new value every step.
    expected = [(s + 1, 51 ** ((s - 1) / 20) - 1) for s in range(2, 9)]
    for run in (tmp_path / "a", interrupted):
        capacity = scalars(run / "logs" / "train")["capacity"]
        assert [step for step, _ in capacity] == [1] + [step for step, _ in expected]
        assert capacity[0][1] == 0.0  # warm-up
        np.testing.assert_allclose([value for _, value in capacity[1:]], [value for _, value in expected], rtol=1e-5)
    assert scalars(interrupted / "logs" / "train")["capacity"] == scalars(tmp_path / "a" / "logs" / "train")["capacity"]
    assert resumed["steps"] == uninterrupted["steps"] == 9
    for key, value in numbers(uninterrupted["test_metrics"]).items():
        assert numbers(resumed["test_metrics"])[key] == pytest.approx(value, rel=1e-5), key
