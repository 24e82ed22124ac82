"""The model zoo's index and the leaderboard built from it: the committed index is current, every file is
checked before a model loads, and runs of different budgets are never pooled."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess

import pytest

from benchmarks import leaderboard as leaderboard_command
from benchmarks import zoo as zoo_command
from benchmarks.reporting import leaderboard, seed_statistics, zoo
from helpers import REPO, in_git_checkout

RESULTS = os.path.join(REPO, "results")


def _git(folder, *arguments):
    subprocess.run(["git", "-C", str(folder), *arguments], check=True, capture_output=True)


@pytest.mark.skipif(not in_git_checkout(), reason="the zoo lists committed runs (git ls-files): needs the checkout")
def test_the_committed_index_is_current_and_every_listed_file_matches_it():
    """Fails when a listed file changed, a committed run is missing from results/zoo.json, or an entry's run
    is gone: rebuild with python -m benchmarks.zoo index. Runs still training (untracked) do not count."""
    assert zoo.check(RESULTS) == []


@pytest.mark.skipif(not in_git_checkout(), reason="the zoo lists committed runs (git ls-files): needs the checkout")
def test_the_committed_leaderboard_is_what_the_zoo_builds():
    """Fails when results/LEADERBOARD.md or leaderboard.csv was edited by hand or not rebuilt after the zoo
    changed: rebuild with python -m benchmarks.leaderboard."""
    assert leaderboard.stale_files(RESULTS) == []


def _write_run(root, folder, model_dir, seed=0, mig=0.1, accuracy=0.5, epochs=10):
    """A finished run as train and evaluate leave it, with the tiny networks' files."""
    run = root / folder
    (run / "metrics").mkdir(parents=True)
    for name in ("encoder.keras", "decoder.keras"):
        shutil.copy(os.path.join(model_dir, name), run / name)
    results = {"method": "beta_vae", "architecture": "cnn", "hyperparameter_name": "beta", "hyperparameter_value": 4.0,
               "seed": seed, "split_seed": seed, "epochs": epochs, "test_reconstruction_accuracy": accuracy,
               "dataset": "dmelodies", "dataset_config": "full", "provenance": {"commit": "0123abc"}}
    (run / "results.json").write_text(json.dumps(results))
    (run / "config.gin").write_text("BetaVAE.beta = 4.0\n")
    (run / "operative_config.gin").write_text("BetaVAE.beta = 4.0\ntrain.epochs = 10\n")
    (run / "metrics" / "mig.json").write_text(json.dumps({"name": "mig", "scores": {"mig": {"discrete_mig": mig}}}))
    (run / "sweep.log").write_text("not a model file\n")
    return run


S01 = "reference/runs/s=0.1/cnn_beta_vae/beta=4/seed={}"


@pytest.fixture
def results(tmp_path, tiny_model_dir):
    """A checkout's results/ with a committed zoo: three seeds at s = 0.1, one at s = 0.3, one older study."""
    root = tmp_path / "results"
    for seed, mig in enumerate((0.1, 0.2, 0.3)):
        _write_run(root, S01.format(seed), tiny_model_dir, seed=seed, mig=mig)
    _write_run(root, "reference/runs/s=0.3/cnn_beta_vae/beta=4/seed=0", tiny_model_dir, mig=0.5, epochs=30)
    _write_run(root, "compressed/runs/cnn_beta_vae/beta=4/seed=0", tiny_model_dir, mig=0.05)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    zoo.write_index(str(root))
    return root


def test_the_index_describes_each_model_and_load_checks_it(results, monkeypatch):
    index = zoo.read_index(str(results))
    assert index["models"] == 5 and [e["name"] for e in index["entries"]][:2] == [
        "compressed/cnn_beta_vae/beta=4/seed=0", "reference/s=0.1/cnn_beta_vae/beta=4/seed=0"]
    entry = zoo.find("reference/s=0.3/cnn_beta_vae/beta=4/seed=0", index)
    assert (entry["study"], entry["budget"], entry["epochs"], entry["split_config"], entry["commit"]) == (
        "reference", 0.3, 30, "random", "0123abc")
    assert zoo.find("compressed/cnn_beta_vae/beta=4/seed=0", index)["budget"] == 0.1  # 100·s epochs
    assert sorted(entry["files"]) == ["config.gin", "decoder.keras", "encoder.keras", "metrics/mig.json",
                                      "operative_config.gin", "results.json"]  # not sweep.log
    assert entry["bytes"] == sum(f["bytes"] for f in entry["files"].values())
    assert index["bytes"] == sum(e["bytes"] for e in index["entries"])
    assert entry["scores"] == {"reconstruction_accuracy": 0.5, "mig/discrete_mig": 0.5}

    encoder, decoder, config = zoo.load("s=0.3/cnn_beta_vae/beta=4/seed=0", root=str(results))  # a unique end
    assert len(encoder.outputs) == 2 and decoder is not None and "train.epochs = 10" in config
    with pytest.raises(zoo.ZooError, match=r"ambiguous: 3 models end with it"):
        zoo.find("cnn_beta_vae/beta=4/seed=0", index)
    with pytest.raises(zoo.ZooError, match=r"no model .*closest: reference/s=0.1/cnn_beta_vae/beta=4/seed=0"):
        zoo.find("reference/s=0.1/cnn_beta_vae/beta=5/seed=0", index)

    # One changed byte: refused, naming the file, before Keras reads anything.
    path = results / S01.format(0) / "encoder.keras"
    data = bytearray(path.read_bytes())
    data[-100] ^= 1
    path.write_bytes(bytes(data))
    from benchmarks.evaluation import representation

    monkeypatch.setattr(representation, "load_encoder", lambda *_: pytest.fail("deserialised a changed file"))
    with pytest.raises(zoo.ZooError, match=r"reference/s=0.1/cnn_beta_vae/beta=4/seed=0: encoder.keras differs "
                                           r"from the zoo index"):
        zoo.load("reference/s=0.1/cnn_beta_vae/beta=4/seed=0", root=str(results))
    assert any("encoder.keras differs" in line for line in zoo.check(str(results)))
    with pytest.raises(zoo.ZooError, match="no model zoo index"):
        zoo.load("compressed/cnn_beta_vae/beta=4/seed=0", root=str(results / "reference"))


def test_a_stale_index_is_named_but_runs_in_progress_are_not(results, tiny_model_dir, capsys):
    assert zoo.check(str(results)) == []
    assert zoo_command.main([f"--root={results}", "check"]) == 0
    # A sweep's run that finished but is not committed yet: not part of the zoo.
    _write_run(results, S01.format(3), tiny_model_dir, seed=3)
    assert zoo.check(str(results)) == []
    _git(results.parent, "add", "-A")
    assert zoo.check(str(results)) == ["reference/s=0.1/cnn_beta_vae/beta=4/seed=3: a committed run that the index lacks"]
    # A run still training, committed by mistake with the others: named until it is taken out again.
    training = results / "reference" / "runs" / "s=0.1" / "cnn_beta_vae" / "beta=4" / "seed=4"
    training.mkdir(parents=True)
    (training / "config.gin").write_text("train.seed = 4\n")
    _git(results.parent, "add", "-A")
    assert zoo.check(str(results))[-1] == ("reference/runs/s=0.1/cnn_beta_vae/beta=4/seed=4: a run folder committed "
                                           "without results.json (a run committed while it trained: git rm -r "
                                           "--cached it until it lands)")
    _git(results.parent, "rm", "-rq", "--cached", str(training))
    assert len(zoo.check(str(results))) == 1
    _git(results.parent, "rm", "-rq", "--cached", str(results / "compressed"))
    shutil.rmtree(results / "compressed")
    problems = zoo.check(str(results))
    assert "compressed/cnn_beta_vae/beta=4/seed=0: listed, but its run folder is gone or no longer committed" in problems
    capsys.readouterr()
    assert zoo_command.main([f"--root={results}", "check"]) == 1
    assert zoo_command.main([f"--root={results}", "index"]) == 0
    assert zoo.check(str(results)) == [] and zoo.read_index(str(results))["models"] == 5
    assert zoo_command.main([f"--root={results}", "list", "seed=3"]) == 0
    assert "1 of 5 models" in capsys.readouterr().out


def test_the_leaderboard_keeps_budgets_and_studies_apart(results):
    assert leaderboard_command.main(["check", f"--root={results}"]) == 1  # not built yet
    assert leaderboard_command.main(["build", f"--root={results}"]) == 0
    assert leaderboard_command.main(["check", f"--root={results}"]) == 0
    text = (results / "LEADERBOARD.md").read_text()
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections == ["## reference, s = 0.1, dataset config `full`", "## reference, s = 0.3, dataset config `full`",
                        "## compressed, s = 0.1, dataset config `full`"]
    interval = seed_statistics.bootstrap_median([0.1, 0.2, 0.3]).format()
    assert f"| 1 | cnn_beta_vae/beta=4 | 3 | 0.500 [0.500, 0.500] | {interval} |" in text
    rows = list(csv.DictReader(open(results / "leaderboard.csv")))
    assert [(r["study"], r["budget"], r["seeds"]) for r in rows] == [("reference", "0.1", "3"), ("reference", "0.3", "1"),
                                                                       ("compressed", "0.1", "1")]
    assert float(rows[0]["mig/discrete_mig"]) == 0.2 and float(rows[1]["mig/discrete_mig:high"]) == 0.5
    assert rows[0]["mig/discrete_mig:n"] == "3"
    # A metric file that no longer matches the zoo is not read into the leaderboard.
    (results / S01.format(1) / "metrics" / "mig.json").write_text(
        json.dumps({"name": "mig", "scores": {"mig": {"discrete_mig": 0.9}}}))
    with pytest.raises(zoo.ZooError, match=r"seed=1: metrics/mig.json differs from the zoo index"):
        leaderboard.build(str(results))


def test_a_leaderboard_cell_scored_on_fewer_seeds_than_its_point_says_how_many():
    """Newer scores land run by run: a median over 2 of 3 seeds is not shown as the point's."""
    row = {"study": "reference", "budget": 0.1, "dataset_config": "full", "architecture": "cnn",
           "method": "beta_vae", "hyperparameter": "beta", "value": 4.0, "seeds": 3, "runs": [],
           "scores": {"mig/discrete_mig": seed_statistics.bootstrap_median([0.1, 0.2, 0.3]),
                      "sap_score/SAP_score": seed_statistics.bootstrap_median([0.04, 0.05])}}
    text = leaderboard.markdown_text([row], 3)
    mig, sap = row["scores"]["mig/discrete_mig"].format(), row["scores"]["sap_score/SAP_score"].format()
    assert f"| {mig} |" in text and f"{mig} (" not in text and f"| {sap} (2 of 3) |" in text
