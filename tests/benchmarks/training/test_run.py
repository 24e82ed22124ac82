"""End-to-end training runs through the command line: outputs, resumption, determinism, and refusals
(issue 3, items 4-6 and 8). Runs are tiny: the `tiny` dMelodies config, a few steps of small batches."""
import glob
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from benchmarks.training import data
from benchmarks import run_dir
from benchmarks.training import run as train_lib
from benchmarks.training.callbacks import NonFiniteLossError
from helpers import (QUIET_TENSORFLOW, REPO, gin_file, run_module, scalars, subprocess_env, tiny_bindings, train_args,
                     train_command)

pytestmark = pytest.mark.usefixtures("no_gin_bindings")

GIN_FILES = [f"{a}_{m}" for a in ("cnn", "rnn") for m in ("beta_vae", "annealed_vae", "factor_vae")]
RESULT_KEYS = {"method", "architecture", "hyperparameter_name", "hyperparameter_value", "seed", "epochs", "steps",
               "wall_time_s", "test_reconstruction_accuracy", "test_loss", "dataset_config"}


def quick(data_dir, **overrides):
    """A tiny run's bindings, checkpointing every 2 steps and logging every step."""
    return tiny_bindings(data_dir, **{"train.checkpoint_every_steps": 2, "train.log_every_steps": 1, **overrides})


def cli(name, bindings, model_dir):
    """``python -m benchmarks.train`` of gin_configs/<name>.gin, to its end."""
    return run_module("benchmarks.train", *train_args(name, bindings, model_dir))


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """One short command-line run of every gin file: {gin name: (model_dir, completed process)}."""
    root = tmp_path_factory.mktemp("runs")
    return {name: (str(root / name), cli(name, quick(data_dir), root / name)) for name in GIN_FILES}


@pytest.mark.integration
@pytest.mark.parametrize("name", GIN_FILES)
def test_every_gin_file_trains_from_the_command_line(trained, name):
    model_dir, process = trained[name]
    assert process.returncode == 0, process.stderr[-3000:]
    architecture, method = name.split("_", 1)
    with open(os.path.join(model_dir, "results.json")) as file:
        results = json.load(file)
    assert RESULT_KEYS <= set(results)
    assert (results["architecture"], results["method"], results["dataset_config"]) == (architecture, method, "tiny")
    assert results["hyperparameter_name"] == {"beta_vae": "beta", "annealed_vae": "capacity", "factor_vae": "gamma"}[method]
    assert results["steps"] == 6 and results["epochs"] == 2 and results["seed"] == results["split_seed"] == 0
    assert results["provenance"]["packages"]["tensorflow"] == importlib.metadata.version("tensorflow")
    assert results["provenance"]["commit"] is None or len(results["provenance"]["commit"]) == 40
    assert 0.0 <= results["test_reconstruction_accuracy"] <= 1.0 and np.isfinite(results["test_loss"])
    for path in ("operative_config.gin", "config.gin", "encoder.keras", "decoder.keras", "checkpoints/checkpoint"):
        assert os.path.exists(os.path.join(model_dir, path)), path
    with open(os.path.join(model_dir, "operative_config.gin")) as file:
        assert f"train.architecture = @{architecture}_vae" in file.read()
    expected = {"cnn": "125,596", "rnn": "288,527"}[architecture]
    assert f"{architecture} total parameters: {expected}" in process.stderr

    train_logs, validation_logs = (scalars(os.path.join(model_dir, "logs", d)) for d in ("train", "validation"))
    assert [step for step, _ in train_logs["loss"]] == [1, 2, 3, 4, 5, 6]
    assert [step for step, _ in validation_logs["epoch_reconstruction_accuracy"]] == [3, 6]
    extra = {"beta_vae": ["beta"], "annealed_vae": ["capacity"],
             "factor_vae": ["total_correlation", "discriminator_accuracy", "discriminator_loss"]}[method]
    assert set(extra + ["kl", "reconstruction_loss", "reconstruction_accuracy"]) <= set(train_logs)


@pytest.mark.integration
def test_saved_models_load_without_the_training_code(trained):
    """encoder.keras needs only Keras (evaluation reads it so); decoder.keras needs benchmarks.models."""
    script = f"""
import sys, json, numpy as np, keras
dirs = json.loads(sys.argv[1])
tokens = np.tile(np.arange(16, dtype="int32")[None], (4, 1)) % 52
for model_dir in dirs:
    encoder = keras.saving.load_model(model_dir + "/encoder.keras")
    z_mean, z_log_std = encoder(tokens)
    assert z_mean.shape == z_log_std.shape == (4, 32)
    np.testing.assert_array_equal(encoder(tokens)[0], z_mean)  # inference: dropout off
assert "benchmarks" not in sys.modules
import benchmarks.models
for model_dir in dirs:
    assert keras.saving.load_model(model_dir + "/decoder.keras")(z_mean).shape == (4, 16, 52)
print("loaded", len(dirs))
"""
    dirs = [model_dir for model_dir, _ in trained.values()]
    process = subprocess.run([sys.executable, "-c", script, json.dumps(dirs)], cwd=REPO, capture_output=True,
                             text=True, timeout=600, env=subprocess_env(**QUIET_TENSORFLOW))
    assert process.returncode == 0, process.stderr[-3000:]
    assert f"loaded {len(dirs)}" in process.stdout


@pytest.mark.integration
def test_a_finished_run_is_not_retrained(trained, data_dir):
    model_dir, _ = trained["cnn_beta_vae"]
    stamps = {p: os.stat(p).st_mtime_ns for p in glob.glob(os.path.join(model_dir, "**"), recursive=True)}
    with open(os.path.join(model_dir, "results.json")) as file:
        before = json.load(file)
    assert train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir), model_dir) == before
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps


@pytest.mark.integration
def test_a_model_dir_holding_another_configuration_is_refused(trained, data_dir):
    model_dir, _ = trained["cnn_beta_vae"]
    with pytest.raises(train_lib.ConfigurationError, match=r"different configuration(.|\n)*\+train.seed = 5"):
        train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir, **{"train.seed": 5}), model_dir)
    with pytest.raises(train_lib.ConfigurationError, match="different configuration"):
        train_lib.run([gin_file("cnn_factor_vae")], quick(data_dir), model_dir)


def test_bad_configurations_fail_before_training(data_dir, tmp_path):
    model_dir = str(tmp_path / "run")
    with pytest.raises(train_lib.ConfigurationError, match="does not exist"):
        train_lib.run([gin_file("cnn_beta_vae_typo")], [], model_dir)
    with pytest.raises(train_lib.ConfigurationError, match="'BetaVAE' doesn't have a parameter named 'betta'"):
        train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir, **{"BetaVAE.betta": 2.0}), model_dir)
    with pytest.raises(train_lib.ConfigurationError, match="No configurable matching 'Nothing'"):
        train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir, **{"Nothing.at_all": 1}), model_dir)
    with pytest.raises(train_lib.ConfigurationError, match="100 steps per epoch need 100 batches"):
        train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir, **{"train.steps_per_epoch": 100}), model_dir)
    assert not os.path.exists(model_dir)


@pytest.mark.integration
def test_command_line_reports_configuration_errors(data_dir, tmp_path):
    process = cli("cnn_beta_vae", quick(data_dir, **{"train.learning_rate": 1.0}), tmp_path / "run")
    assert process.returncode != 0
    assert "error: invalid gin configuration: Configurable 'train' doesn't have a parameter named 'learning_rate'" in process.stderr
    assert "Traceback" not in process.stderr


def test_a_non_finite_loss_stops_the_run_clearly(data_dir, tmp_path):
    # β = inf: after the first step (β_0 = 0) the scaled KL term is infinite.
    bindings = quick(data_dir, **{"BetaVAE.beta": "1e999", "BetaVAE.warmup_epochs": 0})
    with pytest.raises(NonFiniteLossError, match=r"the training loss became (inf|nan) by step 2"):
        train_lib.run([gin_file("cnn_beta_vae")], bindings, str(tmp_path))
    assert not os.path.exists(tmp_path / "results.json")


@pytest.mark.integration
def test_kill_and_resume_continues_exactly_where_it_stopped(data_dir, tmp_path):
    bindings = quick(data_dir, **{"train.epochs": 4, "train.steps_per_epoch": 40, "train.batch_size": 64,
                                  "train.checkpoint_every_steps": 5})
    uninterrupted = cli("cnn_factor_vae", bindings, tmp_path / "a")
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]

    interrupted_dir = tmp_path / "b"
    process = subprocess.Popen(train_command("cnn_factor_vae", bindings, interrupted_dir), cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index = interrupted_dir / "checkpoints" / "checkpoint"
    deadline = time.monotonic() + 300
    while not index.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.kill()
    process.wait()
    assert not (interrupted_dir / "results.json").exists(), "the run finished before it could be interrupted"

    resumed = cli("cnn_factor_vae", bindings, interrupted_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    step = int(re.search(r"Resuming at step (\d+) of 160", resumed.stderr).group(1))
    assert 0 < step < 160
    with open(tmp_path / "a" / "results.json") as a, open(interrupted_dir / "results.json") as b:
        expected, results = json.load(a), json.load(b)
    # Same seed, same data order, restored optimiser and random states: the same model, bit for bit.
    assert results["test_metrics"] == expected["test_metrics"] and results["steps"] == 160
    # Which code trained which steps: the killed process from step 0, the resumed one from its step.
    assert [s["from_step"] for s in results["training_segments"]] == [0, step]
    assert results["provenance"] == {k: v for k, v in results["training_segments"][-1].items() if k != "from_step"}
    assert [s["from_step"] for s in expected["training_segments"]] == [0]
    assert not (interrupted_dir / "training_segments.json").exists()  # results.json holds the record
    for log in ("train", "validation"):
        logs, reference = scalars(interrupted_dir / "logs" / log), scalars(tmp_path / "a" / "logs" / log)
        for tag, values in logs.items():
            steps = [s for s, _ in values]
            assert len(steps) == len(set(steps)), f"{log}/{tag} logged a step twice"
            np.testing.assert_allclose([v for _, v in values], [v for _, v in reference[tag]], rtol=1e-6)


def test_a_resumed_run_does_not_log_its_unchanged_schedule_value_again(tmp_path):
    """An uninterrupted run writes β only when it changes; a resumed one must not write it again."""
    import keras

    from benchmarks.training.callbacks import TensorBoardLogger
    from benchmarks.models import build_cnn_vae
    from benchmarks.objectives import BetaVAE

    model = BetaVAE(build_cnn_vae(), beta=4.0, warmup_epochs=1, annealing_steps=10, steps_per_epoch=10)
    model.compile(optimizer=keras.optimizers.Adam())
    model.build_optimizers()
    model.optimizer.iterations.assign(6)  # resumed in the warm-up: β = 0 was written at step 1
    logger = TensorBoardLogger(str(tmp_path), every_steps=1000, resumed_step=6)
    logger.set_model(model)
    logger.on_train_begin()
    for step in (6, 7, 10, 11):  # the value each step uses, logged after the step as Keras does
        model.optimizer.iterations.assign(step + 1)
        logger.on_train_batch_end(0, {"beta": model.schedule(step), "loss": 1.0})
    logger.flush()
    beta = scalars(tmp_path / "train")["beta"]
    # β stays 0 up to step 10 (written before the interruption); step 11's is the first change.
    assert [s for s, _ in beta] == [12] and beta[0][1] > 0.0


def _first_losses(seed, examples):
    """What train() does before its first steps: seed everything, build, then draw the seed's batches."""
    import keras

    from benchmarks.models import build_cnn_vae
    from benchmarks.objectives import BetaVAE

    keras.utils.set_random_seed(seed)
    model = BetaVAE(build_cnn_vae(), warmup_epochs=0, annealing_steps=10)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.build_optimizers()
    batches = data.training_batches(examples, 32, seed).take(3)
    return [float(model.train_on_batch(batch, return_dict=True)["loss"]) for batch in batches]


def test_one_seed_gives_the_same_first_losses(data_dir):
    examples = data.TFDSSource(config="tiny", data_dir=data_dir).load("validation")
    first = _first_losses(0, examples)
    assert _first_losses(0, examples) == first
    assert _first_losses(1, examples) != first


def test_a_first_use_dataset_build_does_not_change_the_run(data_dir, tmp_path):
    """Building the dataset on first use must not shift the seeded initial weights (protocol §8)."""
    fresh_data = str(tmp_path / "fresh_tensorflow_datasets")
    built_first = train_lib.run([gin_file("cnn_beta_vae")], quick(fresh_data, **{"train.epochs": 1}),
                                str(tmp_path / "built_on_first_use"))
    already_built = train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir, **{"train.epochs": 1}),
                                  str(tmp_path / "already_built"))
    assert built_first["test_loss"] == already_built["test_loss"]


def test_each_seed_trains_on_its_own_split_unless_the_split_is_held(data_dir, tmp_path):
    """protocol §6: run seed s trains, validates and tests on split s; ``train.split_seed`` holds it fixed."""
    own = train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir, **{"train.seed": 1, "train.epochs": 1}),
                        str(tmp_path / "own"))
    held = train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir, **{"train.seed": 1, "train.epochs": 1,
                                                                         "train.split_seed": 0}),
                         str(tmp_path / "held"))
    assert (own["seed"], own["split_seed"], held["seed"], held["split_seed"]) == (1, 1, 1, 0)
    assert os.path.isdir(os.path.join(data_dir, "dmelodies", "tiny_split1"))
    assert own["test_loss"] != held["test_loss"]  # same weights and batches' seed, other melodies


def test_a_missing_required_binding_is_a_configuration_error(tmp_path):
    bare = tmp_path / "bare.gin"
    bare.write_text("train.epochs = 1\n")
    with pytest.raises(train_lib.ConfigurationError, match="Required bindings for `train` not provided"):
        train_lib.run([str(bare)], [], str(tmp_path / "run"))


def test_dsprites_comparison_runs_train_on_mock_data(tmp_path):
    """TFDS's dsprites cannot be downloaded here: its mock data stands in (issue 3, item 7)."""
    import tensorflow_datasets as tfds

    bindings = ["train.epochs = 1", "train.steps_per_epoch = 2", "train.batch_size = 40", "train.verbose = 0"]
    with tfds.testing.mock_data(num_examples=200):
        results = train_lib.run([gin_file("dsprites_factor_vae")], bindings, str(tmp_path))
    assert (results["architecture"], results["method"], results["dataset"]) == ("dsprites", "factor_vae", "dsprites")
    assert results["steps"] == 2 and np.isfinite(results["test_loss"])
    with open(tmp_path / "operative_config.gin") as file:
        operative = file.read()
    assert "discriminator.hidden_units = (1000, 1000, 1000, 1000, 512)" in operative
    # The paper's dSprites FactorVAE uses Kim & Mnih's own loss (no KL target) and discriminator Adam.
    assert "FactorVAE.kl_target = 0.0" in operative
    assert "discriminator/Adam.beta_1 = 0.5" in operative


def test_counts_that_cannot_train_are_refused_before_anything_is_written(data_dir, tmp_path):
    """A run of 0 epochs used to end "finished" and untrained; 1.5 epochs failed after config.gin was
    written and then locked the folder against the corrected command."""
    model_dir = str(tmp_path / "run")
    for binding, value in (("train.epochs", 0), ("train.epochs", 1.5), ("train.batch_size", 0),
                           ("train.steps_per_epoch", 0), ("train.seed", "'a'"), ("train.steps_per_execution", 0)):
        with pytest.raises(train_lib.ConfigurationError, match=rf"{re.escape(binding)} = .*must be an integer"):
            train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir, **{binding: value}), model_dir)
        assert not os.path.exists(model_dir)
    results = train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir, **{"train.epochs": 1}), model_dir)
    assert results["steps"] == 3


def test_steps_per_execution_must_divide_the_epoch(data_dir, tmp_path):
    """Keras would run whole executions past the epoch's end (60 steps for 52) and resume elsewhere."""
    with pytest.raises(train_lib.ConfigurationError, match="steps_per_execution = 2 must divide the 3 steps"):
        train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir, **{"train.steps_per_execution": 2}),
                      str(tmp_path / "odd"))
    results = train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir, **{"train.steps_per_execution": 3}),
                            str(tmp_path / "even"))
    assert results["steps"] == 6


@pytest.mark.integration
def test_errors_name_the_problem_without_gin_context_or_addresses(data_dir, tmp_path):
    process = cli("cnn_beta_vae", quick(data_dir, **{"train.epochs": 1.5}), tmp_path / "run")
    assert process.returncode != 0
    assert "error: train.epochs = 1.5: it must be an integer >= 1" in process.stderr
    assert " at 0x" not in process.stderr and "In call to configurable" not in process.stderr
    (tmp_path / "file").write_text("")
    with pytest.raises(train_lib.ConfigurationError, match="is a file, not a folder"):
        train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir), str(tmp_path / "file"))
    with pytest.raises(train_lib.ConfigurationError, match="lies under .*file, which is a file"):
        train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir), str(tmp_path / "file" / "run"))


def test_a_second_training_into_a_busy_model_dir_is_refused(data_dir, tmp_path):
    """Two trainings in one folder would rewrite each other's checkpoints and logs; a killed one must not
    leave the folder locked (the kernel drops an flock with its process)."""
    import fcntl

    model_dir = tmp_path / "run"
    model_dir.mkdir()
    with open(model_dir / run_dir.LOCK_FILE, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("pid 12345")
        held.flush()
        with pytest.raises(train_lib.ConfigurationError, match=r"in use by a training that is still running \(pid 12345\)"):
            train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir), str(model_dir))
    # The holder is gone (its lock with it): the same command now trains.
    assert train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir), str(model_dir))["steps"] == 6


@pytest.mark.integration
def test_only_presentation_bindings_may_change_between_a_run_and_its_rerun(trained, data_dir):
    model_dir, _ = trained["cnn_beta_vae"]
    with open(os.path.join(model_dir, "results.json")) as file:
        expected = json.load(file)
    assert train_lib.run([gin_file("cnn_beta_vae")], quick(data_dir, **{"train.verbose": 2}), model_dir) == expected


@pytest.mark.parametrize("damage", ["truncated data", "empty index", "empty checkpoint file"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(data_dir, tmp_path, damage, caplog):
    bindings = quick(data_dir)  # checkpoints at steps 2, 3 (epoch end), 4 and 6 (epoch end); two are kept
    reference = train_lib.run([gin_file("cnn_factor_vae")], bindings, str(tmp_path / "reference"))
    model_dir = tmp_path / "run"
    train_lib.run([gin_file("cnn_factor_vae")], bindings, str(model_dir))
    # As if killed after saving step 6's checkpoint, damaged, before results.json was written.
    (model_dir / "results.json").unlink()
    checkpoints = model_dir / "checkpoints"
    if damage == "truncated data":
        data_file = next(checkpoints.glob("ckpt-6.data-*"))
        data_file.write_bytes(data_file.read_bytes()[:100])
    elif damage == "empty index":
        (checkpoints / "ckpt-6.index").write_bytes(b"")
    else:
        (checkpoints / "checkpoint").write_text("")
    with caplog.at_level("WARNING"):
        results = train_lib.run([gin_file("cnn_factor_vae")], bindings, str(model_dir))
    if damage != "empty checkpoint file":
        assert "ckpt-6 is damaged" in caplog.text and "resuming from" in caplog.text
    # Steps 5 and 6 are trained again from step 4's state: the same model as the uninterrupted run.
    assert results["steps"] == 6
    assert results["test_metrics"] == reference["test_metrics"]
