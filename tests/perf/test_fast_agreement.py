"""perf/fast_agreement.py: reads both estimators' results files of each run and reports their differences."""
import json
import os

import pytest

from helpers import load_script


def _write(run, name, metric, scores, seconds):
    os.makedirs(run / "metrics", exist_ok=True)
    (run / "metrics" / f"{name}.json").write_text(json.dumps(
        {"name": name, "scores": {metric: scores}, "metric_seconds": {metric: seconds}}))


def test_fairness_agreement_reads_the_fast_files_under_fairness_and_names_a_missing_one(tmp_path, capsys):
    agreement = load_script("perf", "fast_agreement")
    keys = agreement.COMPARED["fairness"][2]
    runs = [tmp_path / "a", tmp_path / "b"]
    for shift, run in zip((0.01, -0.03), runs):
        _write(run, "fairness", "fairness", {k: 0.1 for k in keys}, 1000.0)
        _write(run, "fairness_fast", "fairness", {k: 0.1 + shift for k in keys}, 50.0)  # the metric's own key
    out = tmp_path / "agreement.json"
    agreement.main(["--metric=fairness", *map(str, runs), f"--out={out}"])
    result = json.loads(out.read_text())
    assert result["largest_absolute_difference"] == pytest.approx({k: 0.03 for k in keys})
    assert result["runs"][0]["fairness_seconds"] == 1000.0 and result["runs"][0]["fairness_fast_seconds"] == 50.0
    assert "20x" in capsys.readouterr().out
    (runs[1] / "metrics" / "fairness_fast.json").unlink()
    with pytest.raises(SystemExit, match="fairness_fast.json is missing: score the run first"):
        agreement.agreement(list(map(str, runs)), "fairness")


def test_dci_agreement_reads_the_fast_dci_under_its_own_name(tmp_path):
    agreement = load_script("perf", "fast_agreement")
    keys = agreement.COMPARED["dci"][2]
    _write(tmp_path, "dci", "dci", {k: 0.5 for k in keys}, 800.0)
    _write(tmp_path, "dci_fast", "dci_fast", {k: 0.49 for k in keys}, 30.0)
    result = agreement.agreement([str(tmp_path)], "dci")
    assert result["largest_absolute_difference"] == pytest.approx({k: 0.01 for k in keys})
