"""The metric-sensitivity study on two real tiny runs, and an oracle code on which the bins decide MIG."""
import json
import os

import numpy as np
import pytest

import dmelodies_tfds as d
from benchmarks import metric_sensitivity as command
from benchmarks.evaluation import sensitivity
from benchmarks.evaluation.ground_truth import DMelodiesData
from helpers import tiny_run

# Small sizes (Explicitness needs every value of a factor among its test melodies); the standard cell is
# 400 melodies (200 to test), the size the run's own metrics were scored at.
SETTINGS = sensitivity.Settings(bins=(10, 20), sizes=(300, 400), seeds=(0, 1), standard_size=400)
ARGUMENTS = ["--bins=10,20", "--sizes=300,400", "--seeds=0,1", "--standard_size=400"]
METRICS = {"mig": ["mig.num_train = 400"],
           "modularity_explicitness": ["modularity_explicitness.num_train = 400",
                                       "modularity_explicitness.num_test = 200"],
           "sap_score": ["sap_score.num_train = 400", "sap_score.num_test = 200"],
           "dcimig": ["dcimig.num_train = 400"], "jemmig": ["jemmig.num_train = 400"],
           "infomec": ["infomec.num_train = 400"],
           "dci_es": ["dci_es.num_train = 400", "dci_es.num_test = 200"]}
RUN = "cnn_beta_vae/beta=4/seed=0"


@pytest.fixture(scope="module")
def root(tmp_path_factory, data_dir):
    """A trained tiny run, scored by benchmarks.evaluate at the standard cell's sizes."""
    folder = tmp_path_factory.mktemp("runs")
    tiny_run(folder, data_dir, RUN, ["BetaVAE.beta = 4.0"], seed=0, metrics=METRICS)
    return str(folder)


def test_every_cell_is_scored_the_standard_one_reproduces_evaluate_and_a_rerun_resumes(root, tmp_path, capsys):
    out = tmp_path / "sensitivity"
    assert command.main([f"--root={root}", f"--out={out}", *ARGUMENTS]) == 0
    printed = capsys.readouterr().out
    assert "| MIG |" in printed and "1 run(s) scored, 0 not yet" in printed
    found = sensitivity.read_run(str(out), RUN)
    cells = {(c["score"], c["bins"], c["size"], c["seed"]): c["value"] for c in found["cells"]}
    expected = {(score, bins, size, seed) for score in sensitivity.SCORES for bins in SETTINGS.bins_of(score)
                for size in SETTINGS.sizes for seed in SETTINGS.seeds}
    # MIG, Modularity, DCIMIG and JEMMIG at two bins; the other six without: at two sizes and two seeds.
    assert set(cells) == expected and len(found["cells"]) == (4 * 2 + 6) * 2 * 2
    assert found["provenance"]["packages"]["numpy"] == np.__version__
    summary = json.loads((out / "sensitivity.json").read_text())
    for score, committed in found["committed"].items():
        # the standard cell is disentanglement_lib's own draw and score: what benchmarks.evaluate committed
        assert summary["scores"][score]["reproduced"] == pytest.approx(0.0, abs=1e-9), score
        assert cells[(score, 20 if score in sensitivity.DISCRETISED else None, 400, 0)] == pytest.approx(committed)
    assert set(found["committed"]) == set(sensitivity.SCORES)
    assert summary["scores"][sensitivity.SAP]["bins_shift"] is None  # SAP reads the codes undiscretised
    assert "Definitions:" in (out / "sensitivity.md").read_text()
    assert (out / "sensitivity.png").read_bytes()[:4] == b"\x89PNG"
    # scored at other settings than the committed scores', the standard cell is not held against them
    assert command.main([f"--root={root}", f"--out={tmp_path / 'other'}", "--bins=20", "--sizes=300",
                         "--standard_size=300", "--seeds=0", "--summary_only"]) == 0
    assert "0 run(s) scored, 1 not yet" in capsys.readouterr().out
    other = sensitivity.summarise([found], {RUN: found["committed"]}, sensitivity.Settings(
        bins=(20,), sizes=(300,), seeds=(0,), standard_size=300), {RUN: []})
    assert all(score["reproduced"] is None for score in other["scores"].values())

    # A rerun skips the finished run, and the run scored again gives the same numbers (one seed, one size).
    before = os.path.getmtime(sensitivity.run_file(str(out), RUN))
    assert command.main([f"--root={root}", f"--out={out}", *ARGUMENTS]) == 0
    assert f"[1/1] {RUN}: done" in capsys.readouterr().out
    assert os.path.getmtime(sensitivity.run_file(str(out), RUN)) == before
    # a process that scores part of a study leaves the whole's summary alone
    summary_before = (out / "sensitivity.json").read_bytes()
    os.remove(out / "sensitivity.md")
    assert command.main([f"--root={root}", f"--out={out}", *ARGUMENTS, "--no_summary"]) == 0
    assert "no summary written" in capsys.readouterr().out
    assert not (out / "sensitivity.md").exists() and (out / "sensitivity.json").read_bytes() == summary_before
    part = sensitivity.Settings(bins=(20,), sizes=(400,), seeds=(1,), standard_size=400, standard_seed=1)
    again = sensitivity.score_run(root, RUN, part, progress=lambda _: None)["cells"]
    assert {(c["score"], c["bins"], c["size"], c["seed"]): c["value"] for c in again}.items() <= cells.items()

    # A file scored before some scores joined the study gains only those, and keeps what it held.
    held = json.loads(open(sensitivity.run_file(str(out), RUN)).read())
    held["cells"] = [c for c in held["cells"] if not c["score"].startswith(("infomec/", "dci_es/"))]
    held["settings"]["size_caps"] = {score: cap for score, cap in held["settings"]["size_caps"].items()
                                     if not score.startswith(("infomec/", "dci_es/"))}  # as before they joined
    (out / "runs" / f"{RUN}.json").write_text(json.dumps(held))
    assert command.main([f"--root={root}", f"--out={out}", *ARGUMENTS]) == 0
    assert f"[1/1] {RUN}: scoring InfoM, InfoE, InfoC, DCI-ES E" in capsys.readouterr().out
    completed = sensitivity.read_run(str(out), RUN)
    assert completed["added"][0]["scores"] == [sensitivity.INFOM, sensitivity.INFOE, sensitivity.INFOC,
                                               sensitivity.DCI_ES_EXPLICITNESS]
    assert {(c["score"], c["bins"], c["size"], c["seed"]): c["value"] for c in completed["cells"]} == cells
    assert completed["settings"] == SETTINGS.as_json()


def test_the_summary_takes_each_score_s_resolvable_difference_from_both_kinds_of_seed():
    settings = sensitivity.Settings(bins=(20,), sizes=(400,), seeds=(0, 1), standard_size=400)

    def result(run, mig_by_seed):
        return {"run": run, "cells": [{"score": sensitivity.MIG, "bins": 20, "size": 400, "seed": seed,
                                       "value": value} for seed, value in enumerate(mig_by_seed)]}

    results = [result("a/beta=1/seed=0", (0.10, 0.13)), result("a/beta=1/seed=1", (0.20, 0.21))]
    committed = {"a/beta=1/seed=0": {sensitivity.MIG: 0.10}, "a/beta=1/seed=1": {sensitivity.MIG: 0.20},
                 "a/beta=4/seed=0": {sensitivity.MIG: 0.30}, "a/beta=4/seed=1": {sensitivity.MIG: 0.35},
                 "a/beta=9/seed=0": {sensitivity.MIG: 0.50}}  # a point of one seed has no spread
    found = sensitivity.summarise(results, committed, settings)["scores"][sensitivity.MIG]
    assert found["scoring_noise"] == pytest.approx(0.02)  # the median of 0.03 and 0.01
    assert found["training_spread"] == pytest.approx(0.075)  # the median of 0.10 and 0.05
    assert found["resolvable"] == found["training_spread"] and found["reproduced"] == pytest.approx(0.0)
    assert set(found["training_spread_by_point"]) == {"a/beta=1", "a/beta=4"}


def test_the_bins_decide_mig_of_an_oracle_code():
    """Codes that are the factor labels themselves (plus a little noise): with 50 bins each of the 28 rhythms
    has a bin of its own and MIG is near 1; with 10 bins about three rhythms share a bin, and MIG falls."""
    factors = DMelodiesData().sample_factors(3_000, np.random.RandomState(0)).T
    codes = factors + 0.01 * np.random.default_rng(0).standard_normal(factors.shape)
    mig = {bins: sensitivity.score_codes(codes, factors, 3_000, sensitivity.MIG, bins) for bins in (10, 50)}
    assert mig[50] > 0.95 and mig[50] - mig[10] > 0.05, mig
    rhythm, arpeggio = d.FACTOR_KEYS.index("rhythm_bar1"), d.FACTOR_KEYS.index("arp_chord1")
    alone = {bins: sensitivity.score_codes(codes[[rhythm, arpeggio]], factors[[rhythm]], 3_000, sensitivity.MIG, bins)
             for bins in (10, 50)}  # the rhythm's MIG: its own code against one that knows nothing of it
    assert alone[50] == pytest.approx(1.0, abs=0.01) and alone[10] < 0.75, alone  # ~log(10) / log(28)
    assert SETTINGS.bins_of(sensitivity.SAP) == SETTINGS.bins_of(sensitivity.EXPLICITNESS) == (None,)


def test_settings_and_the_command_refuse_what_cannot_be_compared(tmp_path, capsys):
    with pytest.raises(ValueError, match="standard size 10000 must be one of"):
        sensitivity.Settings(sizes=(200, 400))
    assert sensitivity.Settings().sizes_of(sensitivity.EXPLICITNESS) == (1_000, 10_000)  # capped
    (tmp_path / "empty").mkdir()
    assert command.main([f"--root={tmp_path / 'empty'}", f"--out={tmp_path / 'out'}"]) == 2
    assert "no run under" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text(json.dumps({"resolvable": {"mig/discrete_mig": "small"}}))
    with pytest.raises(ValueError, match="is not a metric sensitivity"):
        sensitivity.read_resolvable(str(tmp_path / "bad.json"))
