"""DCIMIG and JEMMIG (benchmarks.evaluation.metrics): the reference implementation's numbers, decisive cases, and
the evaluate wiring."""
import gin
import numpy as np
import pytest

import dmelodies_tfds as d
from benchmarks.evaluation import scoring as evaluate
from benchmarks.evaluation.metrics import dcimig, jemmig
from benchmarks.evaluation.metrics.information import information

# (DCIMIG, JEMMIG) of Zaidi et al.'s reference code on the fixture, as tools/reference_metric_values.py
# printed them (20 bins, factors discrete).
REFERENCE = {
    "oracle": (0.9125067905578543, 0.9785332235437196),
    "mixed": (0.19660073089024177, 0.15307336382011416),
    "duplicated": (0.9125067905578543, 0.9291769576179841),
    "noise": (0.0030984664400093968, 0.12006721599201331),
}


@pytest.fixture(scope="module")
def cases(load_tool):
    module = load_tool("reference_metric_values")
    gin.clear_config()
    gin.parse_config(["discretizer.discretizer_fn = @histogram_discretizer", "discretizer.num_bins = 20"])
    try:
        yield {name: information(codes.T, factors.T, module.NUM_BINS)
               for name, (factors, codes) in module.fixture().items()}
    finally:
        gin.clear_config()


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_the_reference_implementation_gives_the_same_numbers(cases, name):
    expected_dcimig, expected_jemmig = REFERENCE[name]
    assert dcimig.dcimig(cases[name])["dcimig"] == pytest.approx(expected_dcimig, rel=1e-9, abs=1e-12)
    assert jemmig.jemmig(cases[name])["jemmig"] == pytest.approx(expected_jemmig, rel=1e-9, abs=1e-12)


def test_decisive_cases(cases):
    """The labels themselves score near the top, noise near the floor, a mixture in between; a second
    code carrying a factor costs JEMMIG that factor's score (its second-best code now knows it all) but
    not DCIMIG, which credits each factor with its best code's gap alone."""
    score = {name: (dcimig.dcimig(info), jemmig.jemmig(info)) for name, info in cases.items()}
    assert score["oracle"][0]["dcimig"] > 0.9 and score["oracle"][1]["jemmig"] > 0.95
    assert score["noise"][0]["dcimig"] < 0.01 and score["noise"][1]["jemmig"] < 0.2
    for metric in (0, 1):
        key = ("dcimig", "jemmig")[metric]
        assert score["noise"][metric][key] < score["mixed"][metric][key] < score["oracle"][metric][key]
    assert score["duplicated"][0] == score["oracle"][0]
    duplicated, oracle = score["duplicated"][1], score["oracle"][1]
    assert duplicated["jemmig_0"] < oracle["jemmig_0"] - 0.3
    assert all(duplicated[f"jemmig_{k}"] == oracle[f"jemmig_{k}"] for k in range(1, d.NUM_FACTORS))
    # per factor scores average to the score
    assert np.mean([oracle[f"jemmig_{k}"] for k in range(d.NUM_FACTORS)]) == pytest.approx(oracle["jemmig"])


def test_evaluate_scores_both_with_their_configs():
    labels = lambda tokens: d.factors_from_tokens(tokens).astype(np.float64)  # noqa: E731
    results = evaluate.score(labels, ["dcimig", "jemmig"], gin_bindings=["dcimig.num_train = 500",
                                                                        "jemmig.num_train = 500"])
    assert results["dcimig"]["scores"]["dcimig"]["dcimig"] > 0.75
    assert results["jemmig"]["scores"]["jemmig"]["jemmig"] > 0.9
    assert set(results["jemmig"]["scores"]["jemmig"]) == {"jemmig", *(f"jemmig_{k}" for k in range(9))}


def test_interpretability_finds_each_factors_dimension_and_falls_to_zero_on_noise():
    """Labels as the code (shuffled into other dimensions): every factor is found in its own dimension with
    R² 1; noise codes explain nothing; a code that mixes two factors in one dimension loses R² on both."""
    from benchmarks.evaluation.metrics.interpretability import interpretability

    rng = np.random.default_rng(0)
    labels = np.stack([rng.integers(0, size, 2000) for size in (12, 3, 2, 5)], axis=1)
    order = np.array([2, 0, 3, 1])  # factor k in dimension order[k]
    codes = np.zeros((2000, 4))
    codes[:, order] = labels
    scores = interpretability(codes, labels, seed=0)
    assert scores["interpretability"] == pytest.approx(1.0)
    assert [scores[f"dimension_{k}"] for k in range(4)] == order.tolist()
    assert interpretability(rng.standard_normal((2000, 4)), labels, seed=0)["interpretability"] < 0.01
    mixed = codes.copy()
    mixed[:, order[1]] = labels[:, 1] + 3 * labels[:, 3]  # factors 1 and 3 share a dimension
    mixed[:, order[3]] = 0.0
    scored = interpretability(mixed, labels, seed=0)
    assert scored["interpretability_0"] == pytest.approx(1.0) and scored["interpretability_2"] == pytest.approx(1.0)
    assert scored["interpretability_1"] < 0.2 and scored["interpretability_3"] < 0.99
    assert interpretability(codes, labels, seed=0) == scores  # deterministic for a seed


def _factors_and_codes(num: int, seed: int):
    """Four uniform factors (n, 4) and an oracle code: each factor in its own dimension, plus two noise ones."""
    rng = np.random.default_rng(seed)
    labels = np.stack([rng.integers(0, size, num) for size in (12, 3, 2, 5)], axis=1)
    codes = np.concatenate([labels + 0.1 * rng.standard_normal(labels.shape), rng.standard_normal((num, 2))], axis=1)
    return labels, codes


def test_fast_dci_is_decisive_and_close_to_disentanglement_libs():
    """The oracle code scores D, C and I near 1, and as disentanglement_lib's DCI scores it; a noise code
    scores I at chance; one dimension carrying two factors costs disentanglement."""
    pytest.importorskip("lightgbm")
    from benchmarks.evaluation.metrics.dci_fast import importance_matrix
    from disentanglement_lib.evaluation.metrics import dci

    labels, codes = _factors_and_codes(1500, 0)
    test_labels, test_codes = _factors_and_codes(500, 1)
    importance, train, test = importance_matrix(codes.T, labels.T, test_codes.T, test_labels.T)
    assert importance.shape == (6, 4) and np.allclose(importance.sum(axis=0), 1.0)
    assert np.array_equal(importance.argmax(axis=0), np.arange(4))
    assert dci.disentanglement(importance) > 0.9 and dci.completeness(importance) > 0.9 and test > 0.99
    standard = dci._compute_dci(codes.T, labels.T, test_codes.T, test_labels.T)
    assert dci.disentanglement(importance) == pytest.approx(standard["disentanglement"], abs=0.05)
    assert dci.completeness(importance) == pytest.approx(standard["completeness"], abs=0.05)
    assert test == pytest.approx(standard["informativeness_test"], abs=0.01)

    rng = np.random.default_rng(2)
    _, _, chance = importance_matrix(rng.standard_normal((6, 1500)), labels.T, rng.standard_normal((6, 500)),
                                     test_labels.T)
    assert chance < 0.5  # the factors' chance accuracies average 0.34

    mixed, test_mixed = codes.copy(), test_codes.copy()
    for c, y in ((mixed, labels), (test_mixed, test_labels)):
        c[:, 1] = y[:, 1] + 3 * y[:, 3]
        c[:, 3] = np.random.default_rng(3).standard_normal(len(c))
    importance_mixed, _, _ = importance_matrix(mixed.T, labels.T, test_mixed.T, test_labels.T)
    assert dci.disentanglement(importance_mixed) < dci.disentanglement(importance) - 0.1
    again, _, _ = importance_matrix(codes.T, labels.T, test_codes.T, test_labels.T)
    assert np.array_equal(again, importance)  # deterministic


def test_evaluate_scores_fast_dci_with_its_config():
    pytest.importorskip("lightgbm")
    labels = lambda tokens: d.factors_from_tokens(tokens).astype(np.float64)  # noqa: E731
    results = evaluate.score(labels, ["dci_fast"], gin_bindings=["dci_fast.num_train = 1000",
                                                                "dci_fast.num_test = 500"])
    scores = results["dci_fast"]["scores"]["dci_fast"]
    assert set(scores) == {"disentanglement", "completeness", "informativeness_train", "informativeness_test"}
    assert scores["disentanglement"] > 0.9 and scores["informativeness_test"] > 0.99


def test_fast_fairness_runs_disentanglement_libs_fairness_with_the_fast_trees():
    """gin_configs/metrics/fairness_fast.gin: the factors themselves give fair predictions, noise unfair
    ones, and on the factors the unfairness is close to the standard boosted trees'."""
    pytest.importorskip("lightgbm")
    from benchmarks.evaluation.metrics.dci_fast import lightgbm_classifier

    assert lightgbm_classifier().get_params()["n_estimators"] == 100  # scikit-learn's default shape
    sizes = ["fairness.num_train = 300", "fairness.num_test_points_per_class = 2"]
    rng = np.random.default_rng(0)
    oracle = lambda tokens: d.factors_from_tokens(tokens) + 0.05 * rng.standard_normal((len(tokens), 9))  # noqa: E731
    noise = lambda tokens: rng.standard_normal((len(tokens), 9))  # noqa: E731
    key = "mean_fairness:mean_pred:mean_sens"
    found = {}
    for predictor in ("lightgbm_classifier", "gradient_boosting_classifier"):
        for name, function in (("oracle", oracle), ("noise", noise)):
            bindings = sizes + [f"predictor.predictor_fn = @{predictor}"]
            found[predictor, name] = evaluate.score(function, ["fairness"], gin_bindings=bindings)[
                "fairness"]["scores"]["fairness"][key]
    assert found["lightgbm_classifier", "oracle"] < 0.1 < 0.2 < found["lightgbm_classifier", "noise"]
    assert found["lightgbm_classifier", "oracle"] == pytest.approx(found["gradient_boosting_classifier", "oracle"],
                                                                   abs=0.05)


def test_the_fast_trees_name_the_extra_to_install_when_lightgbm_is_missing(monkeypatch):
    import sys

    from benchmarks.evaluation.metrics.dci_fast import lightgbm_classifier

    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "dmelodies\[fast-dci\]"'):
        lightgbm_classifier()
