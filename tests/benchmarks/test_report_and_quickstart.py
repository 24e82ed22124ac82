"""The report from two real tiny runs, and the README's end-to-end quickstart."""
import csv
import json
import os

import pytest

from benchmarks import evaluate, quickstart, report, sweep, train

GIN = os.path.join(sweep.GIN_DIR, "{}.gin")


def _tiny_run(root, data_dir, name, bindings, seed):
    """A real run of a few steps at grid point ``name`` (the sweep's layout), scored with MIG."""
    model_dir = os.path.join(root, *name.split("/"))
    train.run([GIN.format(name.split("/")[0])], [
        "TFDSSource.config = 'tiny'", f"TFDSSource.data_dir = {str(data_dir)!r}", "train.epochs = 1",
        "train.steps_per_epoch = 3", "train.batch_size = 64", "train.validation_steps = 2", f"train.seed = {seed}",
        *bindings], model_dir)
    evaluate.run(model_dir, [evaluate.config_file("mig")], ["mig.num_train = 300"])
    return model_dir


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root, data_dir = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("tfds")
    _tiny_run(root, data_dir, "cnn_beta_vae/beta=4/seed=0", ["BetaVAE.beta = 4.0"], seed=0)
    _tiny_run(root, data_dir, "cnn_factor_vae/gamma=10/seed=1", ["FactorVAE.gamma = 10.0"], seed=1)
    return root


def test_report_builds_table_figures_and_missing_list(two_runs, tmp_path):
    out = tmp_path / "report"
    assert report.main([f"--root={two_runs}", f"--out={out}"]) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert sorted((r["method"], r["architecture"], r["hyperparameter"], r["value"], r["seed"]) for r in rows) == [
        ("beta_vae", "cnn", "beta", "4.0", "0"), ("factor_vae", "cnn", "gamma", "10.0", "1")]
    for row in rows:
        assert 0.0 <= float(row["reconstruction_accuracy"]) <= 1.0
        assert 0.0 <= float(row["mig/discrete_mig"]) <= 1.0
    assert "| run | method | architecture |" in (out / "results.md").read_text()
    missing = (out / "missing.txt").read_text().splitlines()
    assert len(missing) == 2 * 9 - 2  # both families' other grid points are reported, not skipped
    assert "cnn_beta_vae/beta=0.2/seed=0: no results.json" in missing
    assert not any(line.startswith("cnn_beta_vae/beta=4/seed=0") for line in missing)
    assert not any(line.startswith("cnn_annealed_vae") for line in missing)
    for name in ("metrics.png", "reconstruction.png", "mig_vs_accuracy.png", "factorwise_mig.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_report_lists_runs_without_metrics_and_rejects_empty_roots(two_runs, tmp_path):
    bare = tmp_path / "bare" / "run"
    bare.mkdir(parents=True)
    results = json.load(open(os.path.join(two_runs, "cnn_beta_vae", "beta=4", "seed=0", "results.json")))
    (bare / "results.json").write_text(json.dumps(results))
    summary = report.build_report(str(tmp_path / "bare"))
    assert "run: no metrics (run python -m benchmarks.evaluate)" in summary["missing"]
    assert report.main([f"--root={tmp_path / 'nothing'}"]) == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no results.json"):
        report.build_report(str(tmp_path / "empty"))


def test_quickstart_runs_end_to_end(tmp_path, capsys):
    assert quickstart.main([f"--out={tmp_path}", "--epochs=1"]) == 0
    printed = capsys.readouterr().out
    assert "[4/4] report" in printed and "reconstructed" in printed
    summary = json.load(open(tmp_path / "quickstart.json"))
    assert set(summary["scores"]) == {"mig", "modularity_explicitness", "sap_score"}
    assert (tmp_path / "reconstruction.mid").exists() and (tmp_path / "report" / "results.csv").exists()
    assert (tmp_path / "run" / "encoder.keras").exists()
