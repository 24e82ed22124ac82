"""The report from two real tiny runs, and from runs written by hand for its edge cases."""
import csv
import json
import os
import shlex

import pytest

import dmelodies_tfds as d
from benchmarks import report as report_command
from benchmarks.reporting import report, zoo
from helpers import REPO, in_git_checkout, tiny_run



@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root, data_dir = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("tfds")
    tiny_run(root, data_dir, "cnn_beta_vae/beta=4/seed=0", ["BetaVAE.beta = 4.0"], seed=0)
    tiny_run(root, data_dir, "cnn_factor_vae/gamma=10/seed=1", ["FactorVAE.gamma = 10.0"], seed=1)
    return root


def test_report_builds_table_figures_and_missing_list(two_runs, tmp_path):
    out = tmp_path / "report"
    assert report_command.main([f"--root={two_runs}", f"--out={out}"]) == 0
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
    for name in ("metrics.png", "reconstruction.png", "mig_vs_accuracy.png", "factorwise_mig.png",
                 "learning_curves_accuracy.png", "learning_curves_kl.png"):  # the real runs have logs
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert "| cnn_beta_vae/beta=4 | 1 |" in (out / "summary.md").read_text()
    # Against a preset, the missing runs are that preset's: the compressed study's 17, seed 0 only.
    assert report_command.main([f"--root={two_runs}", f"--out={out}", "--preset=compressed"]) == 0
    missing = (out / "missing.txt").read_text().splitlines()
    assert len(missing) == 17 - 1 and "rnn_factor_vae/gamma=10/seed=0: no results.json" in missing
    assert "cnn_ar_vae/gamma=1/seed=0: no results.json" in missing
    assert not any("seed=1" in line or "seed=2" in line for line in missing)


def test_report_lists_runs_without_metrics_and_rejects_empty_roots(two_runs, tmp_path):
    bare = tmp_path / "bare" / "run"
    bare.mkdir(parents=True)
    results = json.load(open(os.path.join(two_runs, "cnn_beta_vae", "beta=4", "seed=0", "results.json")))
    (bare / "results.json").write_text(json.dumps(results))
    summary = report.build_report(str(tmp_path / "bare"))
    assert "run: no metrics (run python -m benchmarks.evaluate)" in summary["missing"]
    assert report_command.main([f"--root={tmp_path / 'nothing'}"]) == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no results.json"):
        report.build_report(str(tmp_path / "empty"))


# ---- runs written by hand in the layout train and evaluate write, to exercise the report's edge cases

def _write_run(root, name, accuracy=0.5, mig=0.02, factorwise_scale=1.0, results=None):
    """A run folder as benchmarks.train and benchmarks.evaluate leave it (results.json, metrics/mig.json)."""
    *_, family, hyperparameter, seed = name.split("/")  # maybe in a budget's folder
    architecture, method = family.split("_", 1)
    key, value = hyperparameter.split("=")
    folder = os.path.join(root, *name.split("/"))
    os.makedirs(os.path.join(folder, "metrics"))
    if results is None:
        results = {"method": method, "architecture": architecture, "hyperparameter_name": key,
                   "hyperparameter_value": float(value), "seed": int(seed.split("=")[1]),
                   "test_reconstruction_accuracy": accuracy}
    with open(os.path.join(folder, "results.json"), "w") as file:
        file.write(results if isinstance(results, str) else json.dumps(results))
    factorwise = {key: mig * factorwise_scale * (1 + 0.1 * i) for i, key in enumerate(d.FACTOR_KEYS)}
    with open(os.path.join(folder, "metrics", "mig.json"), "w") as file:
        json.dump({"name": "mig", "scores": {"mig": {"discrete_mig": mig}}, "factorwise_mig": factorwise}, file)
    return folder


def _good_results():
    return {"method": "beta_vae", "architecture": "cnn", "hyperparameter_name": "beta", "hyperparameter_value": 4.0,
            "seed": 0, "test_reconstruction_accuracy": 0.9}


def test_bad_runs_are_listed_as_problems_and_the_report_goes_on(tmp_path, capsys):
    root, out = tmp_path / "runs", tmp_path / "report"
    _write_run(root, "cnn_beta_vae/beta=4/seed=0", accuracy=0.9)
    _write_run(root, "cnn_beta_vae/beta=4/seed=1", results=json.dumps([1, 2, 3]))
    _write_run(root, "cnn_beta_vae/beta=4/seed=2", results=dict(_good_results(), seed="two"))
    _write_run(root, "cnn_beta_vae/beta=1/seed=0", results=dict(_good_results(), test_reconstruction_accuracy="0.9"))
    _write_run(root, "cnn_beta_vae/beta=1/seed=1", results='{"method": "beta_vae",')  # cut short
    damaged_metrics = _write_run(root, "cnn_beta_vae/beta=1/seed=2", accuracy=0.7)
    with open(os.path.join(damaged_metrics, "metrics", "sap_score.json"), "w") as file:
        json.dump({"name": "sap_score", "scores": {"sap_score": {"SAP_score": "high"}}}, file)
    assert report_command.main([f"--root={root}", f"--out={out}"]) == 0
    printed = capsys.readouterr().out
    assert "5 problem(s) (see missing.txt)" in printed
    rows = {r["run"]: r for r in csv.DictReader(open(out / "results.csv"))}
    assert sorted(rows) == ["cnn_beta_vae/beta=1/seed=2", "cnn_beta_vae/beta=4/seed=0"]
    assert "sap_score/SAP_score" not in rows["cnn_beta_vae/beta=1/seed=2"]  # only the bad file's scores are left out
    problems = [line for line in (out / "missing.txt").read_text().splitlines() if ": problem: " in line]
    assert problems == [
        "cnn_beta_vae/beta=1/seed=0: problem: results.json: 'test_reconstruction_accuracy' is \"0.9\" (a str), "
        "not a number in [0, 1]; the run is left out (rerun python -m benchmarks.train)",
        "cnn_beta_vae/beta=1/seed=1: problem: results.json is not valid JSON (Expecting property name enclosed in "
        "double quotes: line 1 column 23 (char 22)); the run is left out (rerun python -m benchmarks.train)",
        "cnn_beta_vae/beta=1/seed=2: problem: metrics/sap_score.json: score 'SAP_score' is \"high\" (a str), not a "
        "number; its scores are left out (rerun python -m benchmarks.evaluate)",
        "cnn_beta_vae/beta=4/seed=1: problem: results.json holds list, not an object; the run is left out "
        "(rerun python -m benchmarks.train)",
        "cnn_beta_vae/beta=4/seed=2: problem: results.json: 'seed' is \"two\" (a str), not an integer; the run is "
        "left out (rerun python -m benchmarks.train)",
    ]
    assert "cnn_beta_vae/beta=0.2/seed=0: no results.json" in (out / "missing.txt").read_text()
    for name in ("metrics.png", "reconstruction.png", "mig_vs_accuracy.png", "factorwise_mig.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_a_report_of_only_bad_runs_is_one_error_and_writes_nothing(tmp_path, capsys):
    root, out = tmp_path / "runs", tmp_path / "report"
    _write_run(root, "cnn_beta_vae/beta=4/seed=0", results="[]")
    assert report_command.main([f"--root={root}", f"--out={out}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: no usable results.json under '{root}': cnn_beta_vae/beta=4/seed=0: problem: "
                          "results.json holds list") and err.count("\n") == 1
    assert not out.exists()


def test_a_new_report_replaces_the_old_one_whole(tmp_path):
    root, out = tmp_path / "runs", tmp_path / "report"
    _write_run(root, "cnn_beta_vae/beta=4/seed=0")
    report.build_report(str(root), str(out))
    assert (out / "factorwise_mig.png").exists()
    # The run is re-scored without the factor-wise MIG: the old figure must not be left beside the new table.
    metrics = root / "cnn_beta_vae" / "beta=4" / "seed=0" / "metrics" / "mig.json"
    metrics.write_text(json.dumps({"name": "mig", "scores": {"mig": {"discrete_mig": 0.5}}}))
    summary = report.build_report(str(root), str(out))
    assert not (out / "factorwise_mig.png").exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["results.csv", "results.md", "missing.txt", "summary.md", "summary.csv"]
        + [os.path.basename(p) for p in summary["figures"]])
    assert "0.5" in (out / "results.csv").read_text()


def test_figures_keep_unit_scores_on_a_unit_axis_and_colour_each_method(tmp_path):
    """One run per group: no collapsed boxes, no axis zoomed to 0.0185-0.0205, one colour per method."""
    import matplotlib.colors
    import matplotlib.pyplot as plt

    root = tmp_path / "runs"
    for i, family in enumerate(("cnn_beta_vae/beta=4", "cnn_annealed_vae/capacity=75", "cnn_factor_vae/gamma=50")):
        _write_run(root, f"{family}/seed=0", accuracy=0.5 + 0.001 * i, mig=0.019 + 0.0005 * i)
    records, problems = report.collect(str(root))
    assert problems == []
    figures = report.make_figures(records)
    try:
        for name in ("metrics.png", "reconstruction.png", "mig_vs_accuracy.png", "factorwise_mig.png"):
            for axis in figures[name].axes:
                assert axis.get_ylim() == (0.0, 1.0), name
                assert not [p for p in axis.patches if p.get_height() == 0]  # no zero-height boxes
        assert figures["mig_vs_accuracy.png"].axes[0].get_xlim() == (0.0, 1.0)
        (axis,) = figures["factorwise_mig.png"].axes
        colours = {}
        for collection in axis.collections:  # the points, one scatter per (method, factor)
            colours.setdefault(matplotlib.colors.to_hex(collection.get_facecolor()[0]), 0)
            colours[matplotlib.colors.to_hex(collection.get_facecolor()[0])] += 1
        assert len(colours) == 3 and set(colours.values()) == {len(d.FACTOR_KEYS)}
        legend = [text.get_text() for text in axis.get_legend().get_texts()]
        assert legend == ["beta_vae (n=1)", "annealed_vae (n=1)", "factor_vae (n=1)"]
    finally:
        for figure in figures.values():
            plt.close(figure)


def _write_curves(folder, accuracies, kls):
    """TensorBoard validation logs as benchmarks.train writes them: one value per epoch."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(os.path.join(folder, "logs", "validation"))
    with writer.as_default():
        for epoch, (accuracy, kl) in enumerate(zip(accuracies, kls), start=1):
            tf.summary.scalar("epoch_reconstruction_accuracy", accuracy, step=epoch * 10)
            tf.summary.scalar("epoch_kl", kl, step=epoch * 10)
    writer.close()


def test_summary_gives_seed_ranges_bootstrap_intervals_null_floors_and_keeps_budgets_apart(tmp_path):
    root, out = tmp_path / "runs", tmp_path / "report"
    accuracies = {0: 0.5, 1: 0.7, 2: 0.6}
    for seed, accuracy in accuracies.items():
        folder = _write_run(root, f"s=0.1/cnn_beta_vae/beta=4/seed={seed}", accuracy=accuracy, mig=0.1 * (seed + 1),
                            results=dict(_good_results(), seed=seed, test_reconstruction_accuracy=accuracy, epochs=10))
        _write_curves(folder, [0.3, 0.4, accuracy], [50.0, 20.0, 10.0])
    _write_run(root, "s=0.3/cnn_beta_vae/beta=4/seed=0", results=dict(_good_results(), epochs=30))
    floor = tmp_path / "null_floor.json"
    floor.write_text(json.dumps({"scores": {"independent_codes": {"mig/discrete_mig": [0.004, 0.006, 0.005]}}}))
    assert report_command.main([f"--root={root}", f"--out={out}", f"--null_floor={floor}"]) == 0
    rows = {(r["level"], r["group"], r["score"]): r for r in csv.DictReader(open(out / "summary.csv"))}
    point = rows[("point", "s=0.1/cnn_beta_vae/beta=4", "accuracy")]
    assert (int(point["n"]), float(point["median"]), float(point["low"]), float(point["high"])) == (3, 0.6, 0.5, 0.7)
    gain = rows[("point", "s=0.1/cnn_beta_vae/beta=4", "last-epoch gain")]
    assert float(gain["median"]) == pytest.approx(0.2) and float(gain["low"]) == pytest.approx(0.1)
    assert float(rows[("point", "s=0.1/cnn_beta_vae/beta=4", "MIG")]["high"]) == pytest.approx(0.3)
    # the two budgets are two groups, never pooled
    assert int(rows[("method", "beta_vae cnn, 10 ep", "accuracy")]["n"]) == 3
    assert int(rows[("method", "beta_vae cnn, 30 ep", "accuracy")]["n"]) == 1
    interval = rows[("method", "beta_vae cnn, 10 ep", "MIG")]
    assert float(interval["low"]) <= float(interval["median"]) <= float(interval["high"])
    assert float(interval["median"]) == pytest.approx(0.2)
    floor_row = rows[("null floor", "independent_codes", "MIG")]
    assert (float(floor_row["median"]), float(floor_row["low"]), float(floor_row["high"])) == (0.005, 0.004, 0.006)
    text = (out / "summary.md").read_text()
    assert "| s=0.1/cnn_beta_vae/beta=4 | 3 | 0.600 [0.500, 0.700] |" in text
    assert "| independent_codes | 3 | – | 0.005 [0.004, 0.006] |" in text
    assert (out / "learning_curves_accuracy.png").exists() and (out / "learning_curves_kl.png").exists()
    floor.write_text("{}")
    assert report_command.main([f"--root={root}", f"--out={out}", f"--null_floor={floor}"]) == 2


def test_summary_states_resolvable_differences_and_marks_the_point_comparisons_below_them(tmp_path):
    root, out = tmp_path / "runs", tmp_path / "report"
    migs = {0.2: (0.010, 0.011, 0.012), 1: (0.013, 0.014, 0.015), 4: (0.05, 0.10, 0.12)}
    for beta, values in migs.items():
        for seed, mig in enumerate(values):
            _write_run(root, f"s=0.1/cnn_beta_vae/beta={beta}/seed={seed}", mig=mig,
                       results=dict(_good_results(), hyperparameter_value=float(beta), seed=seed, epochs=10))
    assert report_command.main([f"--root={root}", f"--out={out}"]) == 0
    plain = (out / "summary.md").read_text()
    assert report.UNRESOLVED_MARK not in plain and "Resolvable" not in plain  # unchanged without the option
    sensitivity = tmp_path / "sensitivity.json"
    sensitivity.write_text(json.dumps({"resolvable": {"mig/discrete_mig": 0.005, "sap_score/SAP_score": None}}))
    assert report_command.main([f"--root={root}", f"--out={out}", f"--sensitivity={sensitivity}"]) == 0
    text = (out / "summary.md").read_text()
    # β = 0.2 and β = 1 differ by 0.003 < 0.005: marked; β = 1 and β = 4 by 0.086: not; β = 4 has no next point
    assert "| s=0.1/cnn_beta_vae/beta=0.2 | 3 | 0.900 [0.900, 0.900] | 0.011 [0.010, 0.012] ≈ |" in text
    assert "| s=0.1/cnn_beta_vae/beta=1 | 3 | 0.900 [0.900, 0.900] | 0.014 [0.013, 0.015] |" in text
    assert "| s=0.1/cnn_beta_vae/beta=4 | 3 | 0.900 [0.900, 0.900] | 0.100 [0.050, 0.120] |" in text
    assert "| MIG | 0.0050 |" in text and "| SAP | 0." not in text  # SAP has no resolvable difference here
    assert text.replace(" ≈", "").startswith(plain.split("\n## Resolvable")[0].rstrip("\n"))
    sensitivity.write_text("[]")
    assert report_command.main([f"--root={root}", f"--out={out}", f"--sensitivity={sensitivity}"]) == 2


def test_valid_decodes_by_distance_reach_the_table_summary_and_figure(tmp_path, capsys):
    """controllability's validity_by_distance becomes one score per bin; the summary gives the nearest and
    the farthest bin (an empty bin, NaN, counts as not scored); a list that does not match the edges is
    a problem of that file alone."""
    root, out = tmp_path / "runs", tmp_path / "report"
    by_seed = {0: [0.9, 0.8, 0.6, 0.4, 0.2], 1: [0.7, 0.6, 0.5, 0.3, float("nan")]}
    folders = {}
    for seed, validity in by_seed.items():
        folders[seed] = _write_run(root, f"s=0.1/cnn_beta_vae/beta=4/seed={seed}", results=dict(_good_results(), seed=seed))
        with open(os.path.join(folders[seed], "metrics", "controllability.json"), "w") as file:
            json.dump({"name": "controllability", "scores": {"controllability": {
                "latent_hole": 0.5, "distance_edges": [0.0, 0.25, 0.5, 1.0, 2.0],
                "traversals_by_distance": [10, 10, 10, 10, 10 * (1 - seed)], "validity_by_distance": validity}}}, file)
    assert report_command.main([f"--root={root}", f"--out={out}"]) == 0
    header = next(csv.reader(open(out / "results.csv")))
    assert [c for c in header if "by_distance" in c] == [f"controllability/validity_by_distance@{edge}"
                                                        for edge in ("0", "0.25", "0.5", "1", "2")]
    rows = {(r["level"], r["group"], r["score"]): r for r in csv.DictReader(open(out / "summary.csv"))}
    near = rows[("point", "s=0.1/cnn_beta_vae/beta=4", "valid < 0.25 SD")]
    assert (float(near["median"]), float(near["low"]), float(near["high"])) == pytest.approx((0.8, 0.7, 0.9))
    far = rows[("point", "s=0.1/cnn_beta_vae/beta=4", "valid ≥ 2 SD")]
    assert (int(far["n"]), float(far["median"])) == (1, pytest.approx(0.2))
    assert "0.200 (1 of 2)" in (out / "summary.md").read_text()
    assert (out / "validity_by_distance.png").exists()
    records, _ = report.collect(str(root))
    assert report.validity_by_distance(records[0]) == {0.0: 0.9, 0.25: 0.8, 0.5: 0.6, 1.0: 0.4, 2.0: 0.2}
    with open(os.path.join(folders[1], "metrics", "controllability.json"), "w") as file:
        json.dump({"name": "controllability", "scores": {"controllability": {
            "latent_hole": 0.5, "distance_edges": [0.0, 0.25], "validity_by_distance": [0.5, 0.4, 0.3]}}}, file)
    assert report_command.main([f"--root={root}", f"--out={out}"]) == 0
    problems = (out / "missing.txt").read_text() + capsys.readouterr().out
    assert "'validity_by_distance' is not one number per bin of 'distance_edges'" in problems


def test_the_null_floor_fills_every_summary_column_it_has_scores_for(tmp_path):
    """A null floor of the newer scores gets its rows in the second table; derived columns (sample efficiency)
    are computed per seed as for the runs."""
    root, out = tmp_path / "runs", tmp_path / "report"
    _write_run(root, "s=0.1/cnn_beta_vae/beta=4/seed=0", results=_good_results())
    floor = tmp_path / "null_floor.json"
    floor.write_text(json.dumps({"scores": {"independent_codes": {
        "mig/discrete_mig": [0.004, 0.006], "dcimig/dcimig": [0.01, 0.03],
        "downstream_task/100:mean_test_accuracy": [0.1, 0.2], "downstream_task/10000:mean_test_accuracy": [0.2, 0.2]}}}))
    assert report_command.main([f"--root={root}", f"--out={out}", f"--null_floor={floor}"]) == 0
    rows = {(r["level"], r["group"], r["score"]): r for r in csv.DictReader(open(out / "summary.csv"))}
    dcimig = rows[("null floor", "independent_codes", "DCIMIG")]
    assert (int(dcimig["n"]), float(dcimig["low"]), float(dcimig["high"])) == (2, 0.01, 0.03)
    efficiency = rows[("null floor", "independent_codes", "sample efficiency")]
    assert (float(efficiency["low"]), float(efficiency["high"])) == pytest.approx((0.5, 1.0))
    assert ("null floor", "independent_codes", "accuracy") not in rows
    text = (out / "summary.md").read_text()
    assert "## Null floor: representations that learned nothing, median [min, max] over seeds " \
           "(python -m benchmarks.null_floor): newer metrics, downstream and fairness" in text


def test_the_newer_scores_are_marked_by_their_own_resolvable_differences(tmp_path):
    """Once the sensitivity study resolves a newer score (DCIMIG here), its column in the second table is
    marked as MIG's is; a score without a resolvable difference (JEMMIG) is never marked."""
    root, out = tmp_path / "runs", tmp_path / "report"
    dcimig = {1: 0.20, 4: 0.21, 16: 0.40}
    for beta, value in dcimig.items():
        for seed in range(2):
            folder = _write_run(root, f"s=0.1/cnn_beta_vae/beta={beta}/seed={seed}",
                                results=dict(_good_results(), hyperparameter_value=float(beta), seed=seed))
            for name, score in (("dcimig", value), ("jemmig", value)):
                with open(os.path.join(folder, "metrics", f"{name}.json"), "w") as file:
                    json.dump({"name": name, "scores": {name: {name: score}}}, file)
    sensitivity = tmp_path / "sensitivity.json"
    sensitivity.write_text(json.dumps({"resolvable": {"dcimig/dcimig": 0.05}}))
    assert report_command.main([f"--root={root}", f"--out={out}", f"--sensitivity={sensitivity}"]) == 0
    text = (out / "summary.md").read_text()
    assert "| s=0.1/cnn_beta_vae/beta=1 | 2 | 0.200 [0.200, 0.200] ≈ | 0.200 [0.200, 0.200] |" in text
    assert "| s=0.1/cnn_beta_vae/beta=4 | 2 | 0.210 [0.210, 0.210] | 0.210 [0.210, 0.210] |" in text
    assert "| DCIMIG | 0.0500 |" in text


def test_the_report_marks_every_summary_score_the_sensitivity_study_resolves():
    """Each score benchmarks.metric_sensitivity resolves is a summary column the report marks, under the
    same name, except Explicitness, which the summary does not show."""
    from benchmarks.evaluation import sensitivity

    shown = {key: name for key, name in sensitivity.SCORES.items() if name != "Explicitness"}
    assert {(name, key) for key, name in shown.items()} <= set(report.RESOLVABLE_KEYS.items())
    assert set(report.RESOLVABLE_KEYS) <= set(report.SUMMARY_SCORES)


def test_summary_has_a_second_table_for_the_newer_downstream_and_fairness_scores(tmp_path):
    """Written only where runs have those scores; sample efficiency is accuracy from 100 over 10,000."""
    root, out = tmp_path / "runs", tmp_path / "report"
    folders = [_write_run(root, f"s=0.1/cnn_beta_vae/beta=4/seed={seed}", results=dict(_good_results(), seed=seed))
               for seed in range(2)]
    assert report_command.main([f"--root={root}", f"--out={out}"]) == 0
    assert "newer metrics" not in (out / "summary.md").read_text()
    for seed, folder in enumerate(folders):
        scores = {"downstream_task": {"downstream_task": {"100:mean_test_accuracy": 0.3 + 0.1 * seed,
                                                          "10000:mean_test_accuracy": 0.6}},
                  "fairness_fast": {"fairness": {"mean_fairness:mean_pred:mean_sens": 0.05}},
                  "dcimig": {"dcimig": {"dcimig": 0.2}}}
        for name, groups in scores.items():
            with open(os.path.join(folder, "metrics", f"{name}.json"), "w") as file:
                json.dump({"name": name, "scores": groups}, file)
    assert report_command.main([f"--root={root}", f"--out={out}"]) == 0
    text = (out / "summary.md").read_text()
    assert "## Per point: median [min, max] over seeds: newer metrics, downstream and fairness" in text
    rows = {(r["level"], r["group"], r["score"]): r for r in csv.DictReader(open(out / "summary.csv"))}
    efficiency = rows[("point", "s=0.1/cnn_beta_vae/beta=4", "sample efficiency")]
    assert (float(efficiency["low"]), float(efficiency["high"])) == pytest.approx((0.5, 2 / 3))
    assert float(rows[("point", "s=0.1/cnn_beta_vae/beta=4", "unfairness")]["median"]) == pytest.approx(0.05)
    assert float(rows[("point", "s=0.1/cnn_beta_vae/beta=4", "DCIMIG")]["median"]) == pytest.approx(0.2)
    assert "(1 of 2)" not in text
    os.remove(os.path.join(folders[1], "metrics", "fairness_fast.json"))  # scored on one seed so far: said so
    assert report_command.main([f"--root={root}", f"--out={out}"]) == 0
    text = (out / "summary.md").read_text()
    assert "| s=0.1/cnn_beta_vae/beta=4 | 2 | 0.200 [0.200, 0.200] |" in text and "| 0.050 (1 of 2) |" in text
    for name in ("dcimig", "downstream_task"):  # no newer score on every run: the row still counts both
        os.remove(os.path.join(folders[1], "metrics", f"{name}.json"))
    assert report_command.main([f"--root={root}", f"--out={out}"]) == 0
    assert "| s=0.1/cnn_beta_vae/beta=4 | 2 | 0.200 (1 of 2) |" in (out / "summary.md").read_text()


def _report_commands(readme: str) -> list[list[str]]:
    """The ``python -m benchmarks.report`` commands of results/README.md, as argument lists."""
    text = open(readme).read().replace("\\\n", " ")
    return [shlex.split(line)[3:] for line in text.splitlines() if line.startswith("python -m benchmarks.report ")]


@pytest.mark.skipif(not in_git_checkout(), reason="the committed runs are those git lists: needs the checkout")
def test_every_committed_report_is_what_its_committed_runs_give(tmp_path):
    """Fails when a report under results/ was not rebuilt after its runs changed, or was built from files
    that are not committed: rerun the study's command in results/README.md after committing the runs."""
    commands = _report_commands(os.path.join(REPO, "results", "README.md"))
    assert len(commands) >= 5
    for argv in commands:
        args = report_command.arguments(argv)
        root = tmp_path / args.root
        for path in zoo.tracked_files(os.path.join(REPO, args.root)):  # the committed files only, linked
            os.makedirs(root / os.path.dirname(path), exist_ok=True)
            os.symlink(os.path.join(REPO, args.root, path), root / path)
        extras = [os.path.join(REPO, p) if p else None for p in (args.null_floor, args.sensitivity)]
        texts = report.report_texts(str(root), args.preset, *extras)["texts"]
        for name, text in texts.items():
            with open(os.path.join(REPO, args.out, name)) as file:
                assert file.read() == text, f"{args.out}/{name} is stale: rerun python -m benchmarks.report {' '.join(argv)}"
