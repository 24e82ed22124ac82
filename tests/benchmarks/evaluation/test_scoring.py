"""Scoring through disentanglement_lib's own metrics: decisive codes, every metric config, the CLI."""
from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest

import dmelodies_tfds as d
from benchmarks import evaluate as evaluate_command
from benchmarks.evaluation import scoring as E
from helpers import run_module, subprocess_env

SMALL_MIG = ["mig.num_train = 3000", "mig.batch_size = 500"]
# Small sizes per metric config, so every file in gin_configs/metrics runs in seconds.
SMALL = {
    "mig": ["mig.num_train = 300"],
    "modularity_explicitness": ["modularity_explicitness.num_train = 300", "modularity_explicitness.num_test = 200"],
    "sap_score": ["sap_score.num_train = 300", "sap_score.num_test = 200"],
    "dci": ["dci.num_train = 60", "dci.num_test = 40"],
    "dci_fast": ["dci_fast.num_train = 60", "dci_fast.num_test = 40"],
    "beta_vae_sklearn": ["beta_vae_sklearn.num_train = 60", "beta_vae_sklearn.num_eval = 40",
                         "beta_vae_sklearn.batch_size = 8"],
    "factor_vae_metric": ["factor_vae_score.num_train = 60", "factor_vae_score.num_eval = 40",
                          "factor_vae_score.batch_size = 8", "factor_vae_score.num_variance_estimate = 500"],
    "irs": ["irs.num_train = 300"],
    "downstream_task": ["downstream_task.num_train = [20, 40]", "downstream_task.num_test = 40",
                        "predictor.predictor_fn = @gradient_boosting_classifier"],
    "fairness": ["fairness.num_train = 60", "fairness.num_test_points_per_class = 1"],
    "fairness_fast": ["fairness.num_train = 60", "fairness.num_test_points_per_class = 1"],
    "unsupervised": ["unsupervised_metrics.num_train = 300"],
    "controllability": ["controllability.num_examples = 20", "controllability.num_steps = 3"],
    "generalisation": ["generalisation.num_train = 300", "generalisation.num_test = 200"],
    "dcimig": ["dcimig.num_train = 300"],
    "interpretability": ["interpretability.num_train = 300"],
    "jemmig": ["jemmig.num_train = 300"],
    "infomec": ["infomec.num_train = 300"],
    "dci_es": ["dci_es.num_train = 200", "dci_es.num_test = 100", "dci_es.max_depths = (1, 4)", "dci_es.num_trees = 3"],
    "paper": ["split_prefix.num_examples = 500", "mig.num_train = 500", "modularity_explicitness.num_train = 300",
              "modularity_explicitness.num_test = 200", "sap_score.num_train = 300", "sap_score.num_test = 200"],
}
SMALL["paper_factor_vae"] = SMALL["paper"]
# The results file each config writes: both paper protocols are named "paper" (protocol §7).
RESULT_NAME = {name: "paper" if name.startswith("paper") else name for name in SMALL}


def oracle(noise: float = 0.05, seed: int = 0):
    """The labels themselves, read back from the melody, plus a little Gaussian noise."""
    rng = np.random.default_rng(seed)
    return lambda tokens: d.factors_from_tokens(tokens) + noise * rng.standard_normal((len(tokens), d.NUM_FACTORS))


def test_oracle_code_scores_mig_near_one():
    result = E.score(oracle(), metrics=["mig"], gin_bindings=SMALL_MIG)["mig"]
    assert result["scores"]["mig"]["discrete_mig"] > 0.9
    assert min(result["factorwise_mig"].values()) > 0.75  # rhythms: 28 labels in 20 bins
    assert result["protocol"]["representation"] == "function"


def test_random_code_scores_mig_near_zero():
    rng = np.random.default_rng(0)
    result = E.score(lambda tokens: rng.standard_normal((len(tokens), 32)), metrics=["mig"], gin_bindings=SMALL_MIG)
    assert result["mig"]["scores"]["mig"]["discrete_mig"] < 0.05


def test_factorwise_mig_names_the_factor_whose_code_is_duplicated():
    """A second copy of the octave code leaves octave no gap; the other factors keep theirs."""
    base = oracle()

    def duplicated_octave(tokens):
        codes = base(tokens)
        return np.concatenate([codes, codes[:, 1:2]], axis=1)

    result = E.score(duplicated_octave, metrics=["mig"], gin_bindings=SMALL_MIG)["mig"]
    factorwise = result["factorwise_mig"]
    assert list(factorwise) == list(d.FACTOR_KEYS)
    assert factorwise["octave"] < 0.05
    assert min(v for k, v in factorwise.items() if k != "octave") > 0.75
    assert np.isclose(np.mean(list(factorwise.values())), result["scores"]["mig"]["discrete_mig"])


def test_disentanglement_libs_downstream_and_fairness_scores_tell_the_factors_from_noise():
    """Its own code, unchanged: predicted from the factors themselves, every factor is predicted better and
    no prediction moves with another factor; from noise, the predictions are near chance and unfair."""
    bindings = ["downstream_task.num_train = [300]", "downstream_task.num_test = 200",
                "predictor.predictor_fn = @gradient_boosting_classifier",
                "fairness.num_train = 300", "fairness.num_test_points_per_class = 2"]
    rng = np.random.default_rng(0)
    found = {}
    for name, function in (("oracle", oracle()), ("noise", lambda tokens: rng.standard_normal((len(tokens), 9)))):
        found[name] = {metric: E.score(function, metrics=[metric], gin_bindings=bindings)[metric]["scores"][metric]
                       for metric in ("downstream_task", "fairness")}
    oracle_accuracy = found["oracle"]["downstream_task"]["300:mean_test_accuracy"]
    noise_accuracy = found["noise"]["downstream_task"]["300:mean_test_accuracy"]
    assert oracle_accuracy > 0.7 and noise_accuracy < 0.4
    unfairness = {name: found[name]["fairness"]["mean_fairness:mean_pred:mean_sens"] for name in found}
    assert unfairness["oracle"] < 0.1 < 0.2 < unfairness["noise"]


def test_every_metric_config_has_small_test_sizes():
    configs = {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(E.CONFIG_DIR, "*.gin"))}
    assert configs == set(SMALL)
    assert set(E.METRICS) | {"paper", "paper_factor_vae", "fairness_fast"} == configs


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_metric_config_runs_from_the_command_line(name, tiny_model_dir, capsys):
    argv = [f"--model_dir={tiny_model_dir}", f"--gin_file={E.config_file(name)}"]
    evaluate_command.main(argv + [f"--gin_bindings={b}" for b in SMALL[name]])
    name = RESULT_NAME[name]
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"wrote {tiny_model_dir}/metrics/{name}.json")
    with open(os.path.join(tiny_model_dir, "metrics", f"{name}.json")) as file:
        result = json.load(file)
    assert result["name"] == name and result["seed"] == 0 and result["elapsed_seconds"] > 0
    assert result["split_seed"] == 0  # a hand-saved encoder without results.json: the default split
    assert result["provenance"]["packages"]["tensorflow"]  # the code that scored
    assert set(result["scores"]) == set(result["protocol"]["metrics"])
    assert all(isinstance(v, (int, float, list)) for scores in result["scores"].values() for v in scores.values())
    assert ("factorwise_mig" in result) == ("mig" in result["scores"])
    with open(os.path.join(tiny_model_dir, "metrics", f"{name}.gin")) as file:
        operative = file.read()
    assert f"evaluation.name = '{name}'" in operative
    assert not [f for f in os.listdir(os.path.join(tiny_model_dir, "metrics")) if f.startswith(".tmp")]


def test_paper_protocol_scores_sampled_codes_of_the_first_test_melodies(tiny_networks):
    encoder = tiny_networks[0]
    result = E.score(encoder, metrics=["paper"], gin_bindings=SMALL["paper"])["paper"]
    assert result["protocol"] == {"metrics": ["mig", "modularity_explicitness", "sap_score"],
                                  "representation": "sample",
                                  "ground_truth": "SplitPrefix(split='test', split_seed=0, num_examples=500)",
                                  "blas_threads": 1}
    # Every metric starts again from the same melodies and samples: the order they run in changes nothing.
    reordered = E.score(encoder, metrics=["paper"], gin_bindings=SMALL["paper"] + [
        "evaluation.metrics = ['sap_score', 'mig', 'modularity_explicitness']"])["paper"]
    assert reordered["scores"] == result["scores"]
    other_seed = E.score(encoder, metrics=["paper"], seed=1, gin_bindings=SMALL["paper"])["paper"]
    assert other_seed["scores"]["mig"] != result["scores"]["mig"]


def test_paper_protocol_sizes_follow_the_papers_trainers():
    """protocol §7: 201 test batches of 512 (β-VAE, Annealed-VAE) or of 256 (FactorVAE), 60/40 in-sample."""
    import gin

    for name, batch in (("paper", 512), ("paper_factor_vae", 256)):
        E.parse_config([E.config_file(name)], [], E.CONFIG_DIR)
        try:
            n = gin.query_parameter("split_prefix.num_examples")
            assert n == 201 * batch == gin.query_parameter("mig.num_train")
            for metric in ("modularity_explicitness", "sap_score"):
                assert gin.query_parameter(f"{metric}.num_train") == int(0.6 * n)
                assert gin.query_parameter(f"{metric}.num_test") == n - int(0.6 * n)
            assert gin.query_parameter("evaluation.name") == "paper"
        finally:
            gin.clear_config()
    from benchmarks.study.suites import metric_file

    assert (metric_file("paper", "factor_vae"), metric_file("paper", "beta_vae"), metric_file("paper", None)) == (
        "paper_factor_vae", "paper", "paper")


def _run_dir(tmp_path, tiny_model_dir, **results):
    import shutil

    run_dir = tmp_path / results["method"]
    shutil.copytree(tiny_model_dir, run_dir, ignore=shutil.ignore_patterns("metrics"))
    (run_dir / "results.json").write_text(json.dumps(results))
    return str(run_dir)


def test_a_run_is_scored_on_the_test_melodies_of_its_own_split(tmp_path, tiny_model_dir):
    """protocol §6: a run with split seed s is scored on split s's test melodies, and the file says so."""
    run_dir = _run_dir(tmp_path, tiny_model_dir, method="beta_vae", split_seed=2)
    result, _ = E.run(run_dir, [E.config_file("paper")], SMALL["paper"])
    assert result["split_seed"] == 2
    assert "SplitPrefix(split='test', split_seed=2, num_examples=500)" == result["protocol"]["ground_truth"]
    fixed, _ = E.run(run_dir, [E.config_file("paper")], SMALL["paper"] + ["evaluation.split_seed = 0"])
    assert fixed["split_seed"] == 0 and fixed["scores"] != result["scores"]


def test_the_paper_protocol_of_another_method_is_refused(tmp_path, tiny_model_dir):
    factor_vae = _run_dir(tmp_path, tiny_model_dir, method="factor_vae", split_seed=0)
    with pytest.raises(E.ConfigurationError, match="51,456 test melodies for factor_vae runs, not 102,912: "
                                                   "use gin_configs/metrics/paper_factor_vae.gin"):
        E.run(factor_vae, [E.config_file("paper")])
    beta_vae = _run_dir(tmp_path, tiny_model_dir, method="beta_vae", split_seed=0)
    with pytest.raises(E.ConfigurationError, match="102,912 test melodies for beta_vae runs"):
        E.run(beta_vae, [E.config_file("paper_factor_vae")])


def test_same_seed_same_scores(tiny_networks):
    def run():
        return E.score(tiny_networks[0], metrics=["mig", "sap_score"], seed=7,
                       gin_bindings=SMALL["mig"] + SMALL["sap_score"])

    first, second = run(), run()
    assert [r["scores"] for r in first.values()] == [r["scores"] for r in second.values()]
    assert first["mig"]["factorwise_mig"] == second["mig"]["factorwise_mig"]


def test_metrics_run_with_blas_on_one_thread_unless_told_otherwise(monkeypatch):
    """disentanglement_lib's classifiers run with numpy's BLAS on one thread (evaluation.blas_threads); the
    limit ends with the metric, and None leaves the library's own thread count."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    seen = []
    monkeypatch.setitem(E.METRICS, "blas_probe", lambda *_: seen.append(blas_threads()) or {"threads": 0.0})
    with threadpool_limits(limits=2, user_api="blas"):  # two threads outside, whatever this machine's cores
        outside = blas_threads()
        assert outside and set(outside) == {2}, "numpy links no BLAS that threadpoolctl controls"
        E.score(oracle(), metrics=["mig"], gin_bindings=["evaluation.metrics = ['blas_probe']"])
        assert seen[-1] == [1] * len(outside) and blas_threads() == outside
        E.score(oracle(), metrics=["mig"], gin_bindings=["evaluation.metrics = ['blas_probe']",
                                                         "evaluation.blas_threads = None"])
        assert seen[-1] == outside
    with pytest.raises(E.ConfigurationError, match="evaluation.blas_threads must be a positive integer or None, got 0"):
        E.score(oracle(), metrics=["mig"], gin_bindings=["evaluation.metrics = ['blas_probe']",
                                                         "evaluation.blas_threads = 0"])


def test_clear_errors(tmp_path, tiny_model_dir, tiny_networks):
    mig_gin = f"--gin_file={E.config_file('mig')}"
    with pytest.raises(SystemExit, match="error: model_dir .*absent does not exist"):
        evaluate_command.main([f"--model_dir={tmp_path / 'absent'}", mig_gin])
    with pytest.raises(SystemExit, match="has no encoder.keras"):
        evaluate_command.main([f"--model_dir={tmp_path}", mig_gin])
    with pytest.raises(SystemExit, match="unknown metric.*'nope'.*metrics are mig, modularity_explicitness"):
        evaluate_command.main([f"--model_dir={tiny_model_dir}", mig_gin, "--gin_bindings=evaluation.metrics = ['nope']"])
    with pytest.raises(SystemExit, match="gin file .*missing.gin does not exist"):
        evaluate_command.main([f"--model_dir={tiny_model_dir}", f"--gin_file={tmp_path / 'missing.gin'}"])
    bare = tmp_path / "bare.gin"
    bare.write_text("evaluation.name = 'bare'\nevaluation.metrics = ['mig']\n")
    with pytest.raises(SystemExit, match=r"error: Required bindings for `mig` not provided in config: \['num_train'\]"):
        evaluate_command.main([f"--model_dir={tiny_model_dir}", f"--gin_file={bare}"])
    with pytest.raises(E.ConfigurationError, match="unknown metric config 'nope'; known: beta_vae_sklearn"):
        E.score(oracle(), metrics=["nope"])
    with pytest.raises(E.ConfigurationError, match="needs the run's decoder.keras"):
        E.score(tiny_networks[0], metrics=["controllability"])
    with pytest.raises(ValueError, match="more than the 500 test examples"):
        E.score(oracle(), metrics=["paper"], gin_bindings=SMALL["paper"] + ["mig.num_train = 501"])


@pytest.mark.integration
def test_python_dash_m_entry_point(tiny_model_dir, tmp_path):
    """The real command line, once (it imports TensorFlow): scores, then the results path."""
    done = run_module("benchmarks.evaluate", f"--model_dir={tiny_model_dir}", f"--gin_file={E.config_file('mig')}",
                      "--gin_bindings=mig.num_train = 200", "--gin_bindings=evaluation.name = 'mig_cli'",
                      cwd=tmp_path, timeout=None, env=subprocess_env())
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("mig: discrete_mig ")
    assert lines[-1].startswith(f"wrote {tiny_model_dir}/metrics/mig_cli.json")


def test_damaged_inputs_are_one_line_errors(tmp_path, tiny_networks):
    """A truncated encoder.keras (once reported as "File not found"), truncated weights inside it, a
    metric size of 0, and a results.json that is not a run's results."""
    import io
    import zipfile

    encoder = tiny_networks[0]
    encoder.save(tmp_path / "encoder.keras")
    whole = (tmp_path / "encoder.keras").read_bytes()
    mig_gin = f"--gin_file={E.config_file('mig')}"
    (tmp_path / "encoder.keras").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SystemExit, match=r"encoder.keras is damaged: not a complete .keras \(zip\) archive"):
        evaluate_command.main([f"--model_dir={tmp_path}", mig_gin])
    source, damaged = zipfile.ZipFile(io.BytesIO(whole)), io.BytesIO()
    with zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            target.writestr(item, content[: len(content) // 2] if item.filename.endswith(".h5") else content)
    (tmp_path / "encoder.keras").write_bytes(damaged.getvalue())
    with pytest.raises(SystemExit, match=r"encoder.keras is damaged and cannot be loaded \(OSError: .*truncated"):
        evaluate_command.main([f"--model_dir={tmp_path}", mig_gin])
    (tmp_path / "encoder.keras").write_bytes(whole)
    with pytest.raises(SystemExit, match=r"^error: mig.num_train = 0: it must be a positive integer$"):
        evaluate_command.main([f"--model_dir={tmp_path}", mig_gin, "--gin_bindings=mig.num_train = 0"])
    (tmp_path / "results.json").write_text("[1, 2]")
    with pytest.raises(SystemExit, match=r"results.json holds list, not an object"):
        evaluate_command.main([f"--model_dir={tmp_path}", mig_gin])
