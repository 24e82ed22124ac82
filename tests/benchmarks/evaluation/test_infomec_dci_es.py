"""InfoMEC and DCI-ES (benchmarks.evaluation.metrics): the reference implementations' numbers, decisive cases, and
their gin configs."""

import numpy as np
import pytest
from sklearn import ensemble

import dmelodies_tfds as d
from benchmarks.evaluation import scoring as evaluate
from benchmarks.evaluation.metrics import dci_es, infomec

# (InfoM, InfoE, InfoC) of Hsu et al.'s disentangle/metrics/infomec.py on the fixture, as
# tools/reference_infomec_dci_es.py printed them (on scikit-learn 1.6.1, the last to take its arguments).
REFERENCE_INFOMEC = {
    "oracle": (0.9505157894029513, 0.9997870223293938, 0.9481929970860049),
    "duplicated": (0.9476288068707692, 0.9997641864813054, 0.8851606655878278),
    "jittered": (0.9805721371415965, 0.9944208976449698, 0.9806515927687235),
    "jittered_duplicated": (0.9807234936243834, 0.9949303016670369, 0.918681056926586),
    "mixed": (0.4672619741518312, 0.7520799751168361, 0.5001327533560462),
    "noise": (0.4477111323868188, 0.007013733757165679, 0.4573679135881494),
}
# The reference fits binary sources as two-class softmax regressions (multi_class="multinomial"), which
# scikit-learn no longer offers; the binary logistic regression fitted here has the same optimum, and
# lbfgs stops within its tolerance of it: InfoE agrees to about 1e-5 (multi-class sources exactly).
INFOE_TOLERANCE = 3e-5
# (E, D, C, I, best depth) of Eastwood et al.'s forests and explicitness (andreinicolicioiu/DCI-ES) on the
# fixture, and E of single loss-capacity curves, as the same tool printed them (scikit-learn 1.9.1).
REFERENCE_DCI_ES = {
    "oracle": (0.9614728728946171, 0.5854407765224908, 0.587096560031232, 0.831111111111111, 32),
    "duplicated": (0.95187612887135, 0.5888370089644804, 0.5683253274171676, 0.864074074074074, 32),
    "mixed": (0.942333470105274, 0.021186880627586897, 0.023238642434018814, 0.49629629629629624, 32),
    "noise": (0.9937443330155398, 0.004271716730196642, 0.005363285925098702, 0.3192592592592593, 8),
}
REFERENCE_CURVES = {"falling": 0.8486803519061583, "flat": 1.0, "late": -0.22580645161290325}


@pytest.fixture(scope="module")
def tool(load_tool):
    return load_tool("reference_infomec_dci_es")


@pytest.fixture(scope="module")
def infomec_scores(tool):
    return {name: infomec.infomec(factors, latents, discrete)
            for name, (factors, latents, discrete) in tool.infomec_fixture().items()}


@pytest.fixture(scope="module")
def dci_es_probes(tool):
    return {name: dci_es.fit_probes(*arrays, tool.DCI_ES_DEPTHS, tool.DCI_ES_TREES, tool.DCI_ES_SEED)
            for name, arrays in tool.dci_es_fixture().items()}


@pytest.mark.parametrize("name", sorted(REFERENCE_INFOMEC))
def test_infomec_gives_the_reference_numbers(infomec_scores, name):
    expected_m, expected_e, expected_c = REFERENCE_INFOMEC[name]
    scores = infomec_scores[name]
    assert scores["infom"] == pytest.approx(expected_m, rel=1e-12, abs=1e-12)
    assert scores["infoc"] == pytest.approx(expected_c, rel=1e-12, abs=1e-12)
    assert scores["infoe"] == pytest.approx(expected_e, abs=INFOE_TOLERANCE)


def test_infomec_decisive_cases(infomec_scores):
    """The labels score near the top; a duplicated latent costs InfoC alone; mixing costs all three; noise
    has no explicitness. (Noise keeps InfoM and InfoC near 0.45: the estimator clips chance-level
    information at 0, so each noise latent's few positive estimates look like preferences.)"""
    s = {name: (v["infom"], v["infoe"], v["infoc"]) for name, v in infomec_scores.items()}
    for name in ("oracle", "jittered"):
        assert min(s[name]) > 0.94
    for single, duplicated in (("oracle", "duplicated"), ("jittered", "jittered_duplicated")):
        assert s[duplicated][2] < s[single][2] - 0.05  # InfoC
        assert s[duplicated][0] == pytest.approx(s[single][0], abs=0.005)  # InfoM
        assert s[duplicated][1] == pytest.approx(s[single][1], abs=0.005)  # InfoE
    assert s["noise"][1] < 0.01 < s["mixed"][1] < s["jittered"][1]
    assert s["mixed"][0] < s["jittered"][0] - 0.4 and s["mixed"][2] < s["jittered"][2] - 0.4
    assert infomec_scores["jittered_duplicated"]["num_active_latents"] == 10


def test_infomec_of_a_constant_code_is_zero(tool):
    """No latent varies: nothing is modular, compact or explicit (the reference divides 0 by 0 here)."""
    factors = tool.infomec_fixture(n=300)["oracle"][0]
    for discrete in (False, True):
        scores = infomec.infomec(factors, np.ones((300, 4)), discrete)
        assert (scores["infom"], scores["infoc"], scores["num_active_latents"]) == (0.0, 0.0, 0)
        assert scores["infoe"] == pytest.approx(0.0, abs=1e-9)


def test_infomec_prunes_narrow_latents(tool):
    """A continuous latent with under 1/20 of the widest range is left out of InfoM and InfoC; a discrete
    one only when constant."""
    latents = tool.infomec_fixture(n=300)["jittered"][1]
    narrow = np.concatenate([latents, 0.04 * latents[:, :1], 0.08 * latents[:, :1]], axis=1)
    assert infomec.active_latents(narrow, False).tolist() == [True] * 9 + [False, True]
    assert infomec.active_latents(narrow, True).tolist() == [True] * 11


@pytest.mark.parametrize("name", sorted(REFERENCE_DCI_ES))
def test_dci_es_gives_the_reference_numbers(dci_es_probes, name):
    scores = dci_es.dci_es(dci_es_probes[name], d.FACTOR_SIZES)
    expected_e, expected_d, expected_c, expected_i, expected_depth = REFERENCE_DCI_ES[name]
    assert scores["dci_es_explicitness"] == pytest.approx(expected_e, rel=1e-12, abs=1e-12)
    assert scores["disentanglement"] == pytest.approx(expected_d, rel=1e-12, abs=1e-12)
    assert scores["completeness"] == pytest.approx(expected_c, rel=1e-12, abs=1e-12)
    assert scores["informativeness"] == pytest.approx(expected_i, rel=1e-12, abs=1e-12)
    assert scores["dci_es_best_depth"] == expected_depth
    assert np.mean([scores[f"dci_es_explicitness_{k}"] for k in range(d.NUM_FACTORS)]) == pytest.approx(
        scores["dci_es_explicitness"])


@pytest.mark.parametrize("name", sorted(REFERENCE_CURVES))
def test_explicitness_of_single_curves_is_the_references(tool, name):
    capacities, losses, baseline = tool.CURVES[name]
    value = dci_es.explicitness(np.array(capacities, np.float64), np.array(losses), baseline)
    assert value == pytest.approx(REFERENCE_CURVES[name], rel=1e-12, abs=1e-12)


def test_explicitness_reads_the_curve():
    """1 when the smallest probe is already best; 0 when the lowest loss is reached linearly from the
    baseline; below 0 when it is reached only at the largest capacity; a later rise does not count."""
    capacities = np.array([1.0, 2.0, 3.0])
    assert dci_es.explicitness(capacities, [0.2, 0.3, 0.25], 0.5) == pytest.approx(1.0)
    assert dci_es.explicitness(capacities, [0.5, 0.25, 0.0], 0.5) == pytest.approx(0.0)
    assert dci_es.explicitness(capacities, [0.5, 0.5, 0.0], 0.5) == pytest.approx(-0.5)


def test_dci_es_decisive_cases(dci_es_probes):
    """The labels are read best and most disentangled; mixing them costs D, C, I and E; noise leaves I at
    chance. A duplicated latent lowers S alone. E ignores the level of the best loss: noise, which no
    probe reads better than the smallest, has a flat curve and E near 1."""
    s = {name: dci_es.dci_es(probes, d.FACTOR_SIZES) for name, probes in dci_es_probes.items()}
    chance = np.mean([1.0 / size for size in d.FACTOR_SIZES])
    assert s["noise"]["informativeness"] == pytest.approx(chance, abs=0.02)
    for key in ("informativeness", "disentanglement", "completeness"):
        assert s["noise"][key] < s["mixed"][key] < s["oracle"][key]
    assert s["oracle"]["disentanglement"] > 0.5 and s["mixed"]["disentanglement"] < 0.05
    assert s["mixed"]["dci_es_explicitness"] < s["oracle"]["dci_es_explicitness"] - 0.01
    assert s["noise"]["dci_es_explicitness"] > 0.98
    assert (s["oracle"]["dci_es_size"], s["duplicated"]["dci_es_size"]) == (1.0, 0.9)
    assert s["duplicated"]["informativeness"] >= s["oracle"]["informativeness"] - 0.01
    assert s["duplicated"]["dci_es_explicitness"] == pytest.approx(s["oracle"]["dci_es_explicitness"], abs=0.02)


def test_deeper_forests_reused_only_where_they_would_be_the_same(tool):
    """A forest whose trees stop short of their depth limit stands in for the deeper ones: refitting one
    at the largest depth gives the same losses and importances."""
    x_train, y_train, x_test, y_test = tool.dci_es_fixture()["oracle"]
    tonic = slice(0, 1)  # the tonic's label alone: trees that finish within a few levels
    depths = (1, 2, 8, 32)
    probes = dci_es.fit_probes(x_train[:, tonic], y_train, x_test[:, tonic], y_test, depths, num_trees=5, seed=1)
    reused = 0
    for k in range(d.NUM_FACTORS):
        forest = ensemble.RandomForestClassifier(n_estimators=5, max_depth=depths[-1], random_state=1)
        forest.fit(x_train[:, tonic], y_train[:, k])
        assert probes.losses[-1, k] == 1.0 - forest.score(x_test[:, tonic], y_test[:, k])
        np.testing.assert_array_equal(probes.importances[-1, :, k], forest.feature_importances_)
        reused += max(tree.get_depth() for tree in forest.estimators_) < depths[-2]
    assert reused > 0  # the shortcut was taken


def test_dci_es_refuses_a_grid_it_cannot_integrate(tool):
    arrays = tool.dci_es_fixture(num_train=20, num_test=10)["oracle"]
    for depths in ((4,), (4, 2), (0, 3)):
        with pytest.raises(ValueError, match="max_depths"):
            dci_es.fit_probes(*arrays, max_depths=depths)


_WEIGHTS = np.random.default_rng(0).standard_normal((d.SEQUENCE_LENGTH, d.NUM_FACTORS))


def _jittered_labels(tokens):
    """The factor labels of the melodies, each scaled to [0, 1] and jittered by 0.01 (a fixed function of
    the tokens): an oracle code, continuous as an encoder's."""
    unit = d.factors_from_tokens(tokens) / (np.array(d.FACTOR_SIZES) - 1.0)
    return unit + 0.01 * np.sin(np.asarray(tokens, np.float64) @ _WEIGHTS)


def test_both_score_dmelodies_with_their_configs_deterministically(monkeypatch):
    """Through evaluate.score and the gin configs: the oracle code scores near the top, twice the same."""
    monkeypatch.setitem(evaluate.METRICS, "infomec", infomec.compute_infomec)
    monkeypatch.setitem(evaluate.METRICS, "dci_es", dci_es.compute_dci_es)
    bindings = ["infomec.num_train = 400", "dci_es.num_train = 400", "dci_es.num_test = 200",
                "dci_es.max_depths = [1, 4, 32]", "dci_es.num_trees = 5"]
    first, second = (evaluate.score(_jittered_labels, ["infomec", "dci_es"], gin_bindings=bindings) for _ in range(2))
    assert first["infomec"]["scores"] == second["infomec"]["scores"]
    assert first["dci_es"]["scores"] == second["dci_es"]["scores"]
    info, es = first["infomec"]["scores"]["infomec"], first["dci_es"]["scores"]["dci_es"]
    assert min(info["infom"], info["infoe"], info["infoc"]) > 0.8
    assert es["informativeness"] > 0.8 and es["dci_es_size"] == 1.0
    assert all(isinstance(value, (int, float)) for value in [*info.values(), *es.values()])
