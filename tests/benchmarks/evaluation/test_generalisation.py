"""The generalisation score: probes on codes whose answer is known, a real tiny run scored and reported,
the split configs reaching training and scoring, and the sweep preset's runs."""
from __future__ import annotations

import csv
import json
import os
import shutil

import numpy as np
import pytest

import dmelodies_tfds as d
from benchmarks import report as report_command
from benchmarks.evaluation import scoring as evaluate
from benchmarks.reporting import report
from benchmarks.study import grid
from benchmarks.training import data, run as train
from benchmarks.evaluation.generalisation import ORDERED_FACTORS, compute_generalisation, dataset_variance, probe_scores
from benchmarks.evaluation.ground_truth import DMelodiesData
from dmelodies_tfds.splits import GENERALISATION_CONFIGS
from helpers import tiny_bindings

SIZES = np.array(d.FACTOR_SIZES)
SMALL = ["generalisation.num_train = 600", "generalisation.num_test = 300"]


def one_hot_code(labels: np.ndarray) -> np.ndarray:
    """Every factor's value one-hot, then every label as a number: each factor is linearly readable."""
    return np.concatenate([np.eye(n)[labels[:, k]] for k, n in enumerate(SIZES)] + [labels], axis=1)


def labels_as_code(tokens):
    """An encoder that reads the labels back from the melody (:func:`one_hot_code`)."""
    return one_hot_code(d.factors_from_tokens(tokens))


def decode_labels(codes):
    """A decoder that regenerates the melody from the labels at the end of :func:`one_hot_code`."""
    return d.generate_tokens(d.factors_to_index(np.rint(codes[:, -d.NUM_FACTORS:]).astype(np.int64)))


def uniform_labels(num, seed):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(n, size=num) for n in SIZES], axis=1)


def test_dataset_variance_is_the_variance_of_a_factor_over_all_of_dmelodies():
    everything = d.index_to_factors(np.arange(0, d.NUM_EXAMPLES, 7))
    for k, key in enumerate(d.FACTOR_KEYS):
        assert dataset_variance(key) == pytest.approx(np.var(np.arange(SIZES[k])))
        assert dataset_variance(key) == pytest.approx(np.var(everything[:, k]), rel=0.01)


def test_a_code_that_holds_every_factor_scores_one():
    train, test = uniform_labels(1000, 0), uniform_labels(500, 1)
    scores = probe_scores(one_hot_code(train), train, one_hot_code(test), test)
    assert all(scores[f"accuracy_{key}"] == 1.0 for key in d.FACTOR_KEYS)
    assert all(scores[f"r2_{key}"] == pytest.approx(1.0) for key in ORDERED_FACTORS)
    assert {key for key in scores if key.startswith("r2_")} == {f"r2_{key}" for key in ORDERED_FACTORS}
    assert scores["mean_accuracy"] == 1.0 and scores["mean_r2"] == pytest.approx(1.0)


def test_a_random_code_scores_chance_and_an_r2_near_zero():
    train, test = uniform_labels(3000, 0), uniform_labels(2000, 1)
    rng = np.random.default_rng(2)
    scores = probe_scores(rng.standard_normal((3000, 32)), train, rng.standard_normal((2000, 32)), test)
    for k, key in enumerate(d.FACTOR_KEYS):
        assert abs(scores[f"accuracy_{key}"] - 1 / SIZES[k]) < 0.05
    for key in ORDERED_FACTORS:  # 0 up to the test sample's variance differing from the dataset's by a few %
        assert abs(scores[f"r2_{key}"]) < 0.06


def test_a_factor_the_code_drops_scores_low_and_the_others_stay_perfect():
    train, test = uniform_labels(1000, 0), uniform_labels(500, 1)
    without_octave = [c for c in range(one_hot_code(train[:1]).shape[1]) if not 12 <= c < 15 and c != 83]
    scores = probe_scores(one_hot_code(train)[:, without_octave], train, one_hot_code(test)[:, without_octave], test)
    assert scores["accuracy_octave"] < 0.45 and scores["r2_octave"] < 0.02
    assert all(scores[f"accuracy_{key}"] == 1.0 for key in d.FACTOR_KEYS if key != "octave")


def test_an_unseen_value_defeats_the_classifier_but_not_the_regression():
    """Extrapolation: trained on octaves 4 and 5 only, tested on octave 6. A classifier never predicts a
    class it never saw; a linear regression on a code that orders the octaves extrapolates to it."""
    train, test = uniform_labels(1000, 0), uniform_labels(500, 1)
    train[:, 1] = np.minimum(train[:, 1], 1)
    test[:, 1] = 2
    codes = lambda labels: labels.astype(np.float64)  # noqa: E731 - the labels themselves, octave included
    scores = probe_scores(codes(train), train, codes(test), test)
    assert scores["accuracy_octave"] == 0.0
    assert scores["r2_octave"] == pytest.approx(1.0)
    one_value = probe_scores(codes(train[train[:, 1] == 0]), train[train[:, 1] == 0], codes(test), test)
    assert one_value["accuracy_octave"] == 0.0  # a single octave in training: the probe answers it
    assert one_value["r2_octave"] == pytest.approx(1 - 4 / dataset_variance("octave"))  # predicts 0 for 2


def _recording(function, seen):
    def record(tokens):
        seen.append(d.factors_to_index(d.factors_from_tokens(tokens)))
        return function(tokens)
    return record


@pytest.mark.parametrize("split_config", ("random",) + GENERALISATION_CONFIGS)
def test_probes_fit_on_training_melodies_and_score_test_melodies_of_the_split_config(split_config):
    seen = []
    scores = compute_generalisation(DMelodiesData(split_config=split_config), _recording(labels_as_code, seen),
                                    np.random.RandomState(0), decode_function=decode_labels, num_train=600,
                                    num_test=300, batch_size=256)
    train_seen, test_seen = np.concatenate(seen[:3]), np.concatenate(seen[3:])
    assert len(train_seen) == 600 and len(test_seen) == 300
    assert np.isin(train_seen, d.split_indices("train", config=split_config)).all()
    assert np.isin(test_seen, d.split_indices("test", config=split_config)).all()
    assert scores["reconstruction_accuracy"] == scores["train_reconstruction_accuracy"] == 1.0
    assert scores["r2_tonic"] == pytest.approx(1.0)


def test_without_a_decoder_only_the_probes_are_scored_and_sizes_are_checked():
    args = (DMelodiesData(), labels_as_code)
    scores = compute_generalisation(*args, np.random.RandomState(0), num_train=300, num_test=100)
    assert "reconstruction_accuracy" not in scores and scores["accuracy_tonic"] == 1.0
    assert scores == compute_generalisation(*args, np.random.RandomState(0), num_train=300, num_test=100)
    with pytest.raises(ValueError, match="need num_train, num_test and batch_size >= 1"):
        compute_generalisation(*args, np.random.RandomState(0), num_test=0)


# ---- a real run: trained as the generalisation preset trains it (shortened, on `tiny`), scored, reported

def _preset_run(split_config: str) -> grid.Run:
    return next(run for run in grid.preset("generalisation").runs if run.name.startswith(f"{split_config}/"))


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory, data_dir):
    """The preset's random-split run, on ``tiny`` for 3 steps, scored with ``generalisation`` and MIG."""
    root = str(tmp_path_factory.mktemp("generalisation"))
    run = _preset_run("random")
    train.run([run.gin_file], [*run.bindings, *tiny_bindings(data_dir, **{
        "train.epochs": 1, "train.batch_size": 64, "train.verbose": None, "train.validation_steps": 2})],
        run.model_dir(root))
    result, path = evaluate.run(run.model_dir(root), [evaluate.config_file("generalisation")], SMALL)
    evaluate.run(run.model_dir(root), [evaluate.config_file("mig")], ["mig.num_train = 300"])
    return root, run, result, path


def test_a_trained_run_is_scored_on_its_own_split(scored_run):
    root, run, result, path = scored_run
    assert path == os.path.join(run.model_dir(root), "metrics", "generalisation.json")
    with open(path) as file:
        assert json.load(file) == result
    scores = result["scores"]["generalisation"]
    assert result["split_config"] == "random" and result["split_seed"] == 0
    assert result["protocol"]["ground_truth"] == "DMelodiesData(split='test', split_seed=0)"
    assert 0.0 <= scores["reconstruction_accuracy"] <= 1.0 and 0.0 <= scores["train_reconstruction_accuracy"] <= 1.0
    assert set(scores) == ({"reconstruction_accuracy", "train_reconstruction_accuracy", "mean_accuracy", "mean_r2"}
                           | {f"accuracy_{key}" for key in d.FACTOR_KEYS} | {f"r2_{key}" for key in ORDERED_FACTORS})
    again, _ = evaluate.run(run.model_dir(root), [evaluate.config_file("generalisation")],
                            SMALL + ["evaluation.name = 'generalisation_again'"])
    assert again["scores"] == result["scores"]  # same seed, same melodies, same probes


def test_the_split_config_comes_from_the_runs_dataset_config(scored_run, tmp_path):
    """A run trained on a generalisation config is scored on that config's held-out test melodies."""
    root, run, result, _ = scored_run
    moved = str(tmp_path / "run")
    shutil.copytree(run.model_dir(root), moved, ignore=shutil.ignore_patterns("metrics", "checkpoints"))
    with open(os.path.join(moved, "results.json")) as file:
        results = json.load(file)
    config = GENERALISATION_CONFIGS[0]
    with open(os.path.join(moved, "results.json"), "w") as file:
        json.dump(dict(results, dataset_config=f"tiny_{config}"), file)
    held_out, _ = evaluate.run(moved, [evaluate.config_file("generalisation")], SMALL)
    assert held_out["split_config"] == config
    assert held_out["protocol"]["ground_truth"] == f"DMelodiesData(split='test', split_seed=0, split_config={config!r})"
    assert held_out["scores"] != result["scores"]
    with open(os.path.join(moved, "results.json"), "w") as file:
        json.dump(dict(results, dataset_config="no_such_config"), file)
    with pytest.raises(evaluate.ConfigurationError, match="results.json: unknown dmelodies config 'no_such_config'"):
        evaluate.run(moved, [evaluate.config_file("generalisation")], SMALL)


def test_the_report_shows_the_dataset_config_and_the_generalisation_scores(scored_run, tmp_path):
    root, run, result, _ = scored_run
    out = tmp_path / "report"
    assert report_command.main([f"--root={root}", f"--out={out}", "--preset=generalisation"]) == 0
    (row,) = list(csv.DictReader(open(out / "results.csv")))
    assert row["run"] == run.name and row["dataset_config"] == "tiny"
    scores = result["scores"]["generalisation"]
    for key in ("accuracy_rhythm_bar1", "r2_octave", "reconstruction_accuracy", "mean_r2"):
        assert float(row[f"generalisation/{key}"]) == pytest.approx(scores[key])
    assert (out / "generalisation.png").read_bytes()[:4] == b"\x89PNG"
    missing = (out / "missing.txt").read_text().splitlines()
    assert missing == [f"{config}/cnn_beta_vae/beta=1/seed=0: no results.json" for config in GENERALISATION_CONFIGS]


def test_a_generalisation_config_reaches_training_through_tfds_source(tmp_path):
    """``TFDSSource.config`` names a generalisation config like any other: its tiny cut builds and its test
    melodies are the held-out ones; a split seed re-cuts it (``<config>_split<s>``)."""
    config = GENERALISATION_CONFIGS[0]
    source = data.TFDSSource(config=f"tiny_{config}", data_dir=str(tmp_path))
    test = source.load("test")
    assert len(test) == 1000
    assert np.isin(d.factors_to_index(d.factors_from_tokens(test)), d.split_indices("test", config=config)).all()
    assert data.TFDSSource(config=config).builder(1).info.full_name.startswith(f"dmelodies/{config}_split1/")


def test_the_preset_trains_the_compressed_cnn_beta_vae_once_per_split_config():
    chosen = grid.preset("generalisation")
    assert [run.name for run in chosen.runs] == [f"{config}/cnn_beta_vae/beta=1/seed=0"
                                                 for config in ("random",) + GENERALISATION_CONFIGS]
    (compressed,) = [run for run in grid.preset("compressed").runs if run.name == "cnn_beta_vae/beta=1/seed=0"]
    for run, config in zip(chosen.runs, ("full",) + GENERALISATION_CONFIGS):
        assert run.method == "beta_vae" and run.gin_file == compressed.gin_file
        assert run.bindings == (*compressed.bindings, f"TFDSSource.config = {config!r}")
    assert chosen.metrics == ("mig", "modularity_explicitness", "sap_score", "generalisation")
    assert not {run.name for run in chosen.runs} & {run.name for run in grid.preset("compressed").runs}
    assert [run.name for run in chosen.runs if grid.matches(run, ["extrapolation"])] == [
        "extrapolation/cnn_beta_vae/beta=1/seed=0"]
    assert len(grid.preset("generalisation", seeds=(0, 1)).runs) == 8
    command = chosen.runs[1].evaluate_command("runs", "generalisation")
    assert command[-1].endswith(os.path.join("gin_configs", "metrics", "generalisation.gin"))
