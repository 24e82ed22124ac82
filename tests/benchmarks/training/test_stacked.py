"""Stacked training (several runs in one vectorised model) leaves what single runs leave, with the
numbers single runs give, and refuses what it cannot stack."""
import json
import os

import keras
import numpy as np
import pytest

from benchmarks.training import callbacks, stacked
from benchmarks.training import run as train_lib
from benchmarks.gin_config import ConfigurationError
from helpers import gin_file, gin_flags, run_module, tiny_bindings


def shared(data_dir, **overrides):
    """A tiny run's bindings, checkpointing every 2 steps and logging every step."""
    return tuple(tiny_bindings(data_dir, **{"train.checkpoint_every_steps": 2, "train.log_every_steps": 1,
                                            **overrides}))


def _files(model_dir):
    return sorted(os.path.relpath(os.path.join(folder, name), model_dir)
                  for folder, _, names in os.walk(model_dir) for name in names
                  if not name.startswith("events.out") and name != ".lock")


@pytest.mark.parametrize("name, member_bindings", [
    ("cnn_beta_vae", (("train.seed = 0", "BetaVAE.beta = 0.2"), ("train.seed = 1", "BetaVAE.beta = 4.0"))),
    ("rnn_annealed_vae", (("train.seed = 0",), ("train.seed = 2", "AnnealedVAE.capacity = 25.0"))),
])
def test_members_follow_their_single_runs(data_dir, tmp_path, name, member_bindings):
    """Same files, same initial weights, split, batches and random draws: each member's loss, step by
    step, its weights after 6 steps and its test numbers agree with the single run's to floating-point
    rounding."""
    bindings = shared(data_dir, **{"AnnealedVAE.warmup_epochs": 0, "BetaVAE.warmup_epochs": 0,
                                   "train.steps_per_execution": 1})
    members = [stacked.Member((gin_file(name),), (*bindings, *own), str(tmp_path / f"stacked{k}"))
               for k, own in enumerate(member_bindings)]
    results = stacked.train_stacked(members)
    for k, (member, own) in enumerate(zip(members, member_bindings)):
        single_dir = str(tmp_path / f"single{k}")
        single = train_lib.run([gin_file(name)], [*bindings, *own], single_dir)
        assert _files(member.model_dir) == _files(single_dir)
        assert results[k]["stacked_members"] == 2 and "stacked_members" not in single
        for key in ("method", "architecture", "hyperparameter_value", "seed", "split_seed", "steps", "parameters"):
            assert results[k][key] == single[key], key
        for key, value in single["test_metrics"].items():
            assert results[k]["test_metrics"][key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
        with open(os.path.join(member.model_dir, "results.json")) as file:
            assert json.load(file) == results[k]
        ours, theirs = (callbacks.read_scalars(os.path.join(folder, "logs", "train"))
                        for folder in (member.model_dir, single_dir))
        assert sorted(ours) == sorted(theirs)
        assert [step for step, _ in ours["loss"]] == [step for step, _ in theirs["loss"]] == [1, 2, 3, 4, 5, 6]
        for tag in ("loss", "reconstruction_accuracy", "kl", "epoch_loss"):
            np.testing.assert_allclose([v for _, v in ours[tag]], [v for _, v in theirs[tag]], rtol=1e-4, err_msg=tag)
        encoder = keras.saving.load_model(os.path.join(member.model_dir, "encoder.keras"))
        assert all(type(layer).__module__.startswith("keras.") for layer in encoder.layers)
        for ours, theirs in zip(encoder.weights, keras.saving.load_model(os.path.join(single_dir, "encoder.keras")).weights):
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-6, err_msg=ours.path)
    # The members differ from each other: their own seeds and hyperparameters.
    assert results[0]["test_metrics"] != results[1]["test_metrics"]


def test_a_stacked_group_resumes_and_returns_finished_members(data_dir, tmp_path):
    bindings = shared(data_dir, **{"train.steps_per_execution": 1})
    members = [stacked.Member((gin_file("cnn_beta_vae"),), (*bindings, f"train.seed = {seed}"),
                              str(tmp_path / f"seed{seed}")) for seed in (0, 1)]
    first = stacked.train_stacked(members)
    # Make member 1 look interrupted after its checkpoint at step 4; member 0 stays finished.
    folder = tmp_path / "seed1"
    for path in ("results.json", "encoder.keras", "decoder.keras"):
        os.remove(folder / path)
    import tensorflow as tf

    for path in folder.glob("checkpoints/ckpt-6.*"):
        os.remove(path)
    tf.compat.v1.train.update_checkpoint_state(str(folder / "checkpoints"), str(folder / "checkpoints" / "ckpt-4"))
    again = stacked.train_stacked(members)
    assert again[0] == first[0]  # returned, not retrained
    assert again[1]["steps"] == 6
    for key, value in first[1]["test_metrics"].items():
        assert again[1]["test_metrics"][key] == pytest.approx(value, rel=1e-4, abs=1e-5), key


def test_refuses_what_it_cannot_stack(data_dir, tmp_path):
    bindings = shared(data_dir)
    with pytest.raises(ConfigurationError, match="members must share their architecture"):
        stacked.train_stacked([stacked.Member((gin_file("cnn_beta_vae"),), bindings, str(tmp_path / "a")),
                               stacked.Member((gin_file("rnn_beta_vae"),), bindings, str(tmp_path / "b"))])
    with pytest.raises(ConfigurationError, match="members must share their epochs"):
        stacked.train_stacked([stacked.Member((gin_file("cnn_beta_vae"),), bindings, str(tmp_path / "c")),
                               stacked.Member((gin_file("cnn_beta_vae"),), (*bindings, "train.epochs = 3"),
                                              str(tmp_path / "d"))])
    with pytest.raises(ConfigurationError, match="factor_vae has its own training step"):
        stacked.train_stacked([stacked.Member((gin_file("cnn_factor_vae"),), bindings, str(tmp_path / "e"))])
    with pytest.raises(ConfigurationError, match="share a --model_dir"):
        stacked.train_stacked([stacked.Member((gin_file("cnn_beta_vae"),), bindings, str(tmp_path / "f"))] * 2)
    with pytest.raises(ConfigurationError, match="2 --member_bindings for 1 --model_dir"):
        stacked.members_from_flags([gin_file("cnn_beta_vae")], [], ["x"], ["a = 1", "b = 2"])
    assert not any((tmp_path / name / "checkpoints").exists() for name in "abcdef")


@pytest.mark.integration
def test_command_line(data_dir, tmp_path):
    process = run_module("benchmarks.stacked", f"--gin_file={gin_file('cnn_annealed_vae')}",
                         *gin_flags(shared(data_dir, **{"train.epochs": 1})),
                         f"--model_dir={tmp_path / 'a'}", "--member_bindings=train.seed = 0; AnnealedVAE.capacity = 25.0",
                         f"--model_dir={tmp_path / 'b'}", "--member_bindings=train.seed = 1")
    assert process.returncode == 0, process.stderr[-2000:]
    with open(tmp_path / "a" / "results.json") as file:
        a = json.load(file)
    with open(tmp_path / "b" / "results.json") as file:
        b = json.load(file)
    assert (a["hyperparameter_value"], a["seed"]) == (25.0, 0)
    assert (b["hyperparameter_value"], b["seed"]) == (50.0, 1)


@pytest.mark.integration
def test_on_jax_a_grid_points_seeds_follow_their_single_runs(data_dir, tmp_path):
    """On JAX the members' own step runs under jax.vmap (traced from the first member's model): the second
    seed's loss, step by step, and its test numbers agree with its single run on JAX to rounding, and the
    seeds differ; members with other hyperparameters are refused."""
    flags = [f"--gin_file={gin_file('cnn_beta_vae')}", "--backend=jax",
             *gin_flags(shared(data_dir, **{"BetaVAE.warmup_epochs": 0, "train.steps_per_execution": 1}))]
    members = [arg for seed in (0, 1) for arg in (f"--model_dir={tmp_path / f'stacked{seed}'}",
                                                  f"--member_bindings=train.seed = {seed}")]
    process = run_module("benchmarks.stacked", *flags, *members)
    assert process.returncode == 0, process.stderr[-3000:]
    first, second = (json.loads((tmp_path / f"stacked{seed}" / "results.json").read_text()) for seed in (0, 1))
    assert first["test_metrics"] != second["test_metrics"]
    for seed in (1,):
        single = run_module("benchmarks.train", *flags, f"--gin_bindings=train.seed = {seed}",
                            f"--model_dir={tmp_path / f'single{seed}'}")
        assert single.returncode == 0, single.stderr[-3000:]
        ours, theirs = (json.loads((tmp_path / f"{kind}{seed}" / "results.json").read_text())
                        for kind in ("stacked", "single"))
        assert ours["backend"] == theirs["backend"] == "jax" and ours["stacked_members"] == 2
        assert ours["seed"] == seed and ours["steps"] == theirs["steps"] == 6
        for key, value in theirs["test_metrics"].items():
            assert ours["test_metrics"][key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
        ours, theirs = (callbacks.read_scalars(str(tmp_path / f"{kind}{seed}" / "logs" / "train"))
                        for kind in ("stacked", "single"))
        assert [step for step, _ in ours["loss"]] == [step for step, _ in theirs["loss"]] == [1, 2, 3, 4, 5, 6]
        for tag in ("loss", "reconstruction_accuracy", "kl", "epoch_loss"):
            np.testing.assert_allclose([v for _, v in ours[tag]], [v for _, v in theirs[tag]], rtol=1e-4, err_msg=tag)
    refused = run_module("benchmarks.stacked", *flags, f"--model_dir={tmp_path / 'a'}", "--member_bindings=train.seed = 0",
                         f"--model_dir={tmp_path / 'b'}", "--member_bindings=train.seed = 1; BetaVAE.beta = 4.0")
    assert refused.returncode != 0 and "may differ only in train.seed and train.split_seed" in refused.stderr
    assert "BetaVAE.beta = 4.0" in refused.stderr and not (tmp_path / "a" / "checkpoints").exists()
