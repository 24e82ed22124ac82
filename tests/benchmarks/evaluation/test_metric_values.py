"""The metric configs give the numbers the published formulas give (protocol §7), checked on codes whose scores
are known: computed here by hand, or by a small independent implementation run on the very (code, factor)
pairs disentanglement_lib scored.

Scores come from :func:`benchmarks.evaluation.scoring.score`, i.e. from each file in ``gin_configs/metrics`` and
disentanglement_lib's own metric code. The codes are functions of the factor labels read back from each
melody, so what they should score is known independently of any network:

- MIG (Chen et al., 2018): per factor, the gap between the two codes with the highest mutual information
  with it, over its entropy; codes discretised into 20 equal-width bins (histogram discretiser).
- Modularity (Ridgeway & Zemel, 2018): per code, 1 − Σ_{k≠max} I²_k / (I²_max · (F − 1)), averaged over codes.
- SAP, discrete (Kumar et al., 2018): per (code, factor), the test accuracy of a linear SVM (C = 0.01,
  balanced classes) trained on that one code; per factor, the gap between the best two codes.
"""
from __future__ import annotations

import gin
import numpy as np
import pytest
from sklearn import svm

import dmelodies_tfds as d
from benchmarks.evaluation import scoring as E
from benchmarks.gin_config import parse_config

NUM_BINS = 20  # protocol §7: histogram discretiser with 20 bins for MIG and Modularity


# ------------------------------------------------------------------------------------------------------
# Independent implementations of the published formulas (numpy; scikit-learn's linear SVM for SAP).
# ------------------------------------------------------------------------------------------------------

def histogram_bins(codes: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Each column of ``codes`` (n, k) cut into ``num_bins`` equal-width bins between its min and max."""
    binned = np.zeros(codes.shape, dtype=np.int64)
    for i, column in enumerate(codes.T):
        low, high = column.min(), column.max()
        if high > low:
            binned[:, i] = np.minimum(np.floor((column - low) / (high - low) * num_bins), num_bins - 1)
    return binned


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in mutual information (nats) of two discrete samples, from their contingency table."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    joint /= len(a)
    outer = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    seen = joint > 0
    return float(np.sum(joint[seen] * np.log(joint[seen] / outer[seen])))


def entropy(a: np.ndarray) -> float:
    p = np.unique(a, return_counts=True)[1] / len(a)
    return float(-np.sum(p * np.log(p)))


def information_matrix(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """I(binned code i; factor j), shape (codes, factors)."""
    binned = histogram_bins(codes)
    return np.array([[mutual_information(binned[:, i], factors[:, j]) for j in range(factors.shape[1])]
                     for i in range(codes.shape[1])])


def mig_by_hand(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """MIG of each factor."""
    information = information_matrix(codes, factors)
    top = -np.sort(-information, axis=0)
    return (top[0] - top[1]) / np.array([entropy(f) for f in factors.T])


def modularity_by_hand(codes: np.ndarray, factors: np.ndarray) -> float:
    squared = information_matrix(codes, factors) ** 2
    scores = []
    for row in squared:
        best = row.max()
        scores.append(0.0 if best == 0 else 1.0 - (row.sum() - best) / (best * (len(row) - 1)))
    return float(np.mean(scores))


def sap_by_hand(train_codes, train_factors, test_codes, test_factors) -> float:
    accuracy = np.zeros((train_codes.shape[1], train_factors.shape[1]))
    for i in range(train_codes.shape[1]):
        for j in range(train_factors.shape[1]):
            classifier = svm.LinearSVC(C=0.01, class_weight="balanced")
            classifier.fit(train_codes[:, i:i + 1], train_factors[:, j])
            accuracy[i, j] = np.mean(classifier.predict(test_codes[:, i:i + 1]) == test_factors[:, j])
    top = -np.sort(-accuracy, axis=0)
    return float(np.mean(top[0] - top[1]))


def sap_continuous_by_hand(codes, factors) -> float:
    """The continuous-factor SAP (squared correlation), which the dMelodies configs must NOT use."""
    score = np.array([[np.corrcoef(c, f)[0, 1] ** 2 if c.std() > 0 else 0.0 for f in factors.T] for c in codes.T])
    top = -np.sort(-score, axis=0)
    return float(np.mean(top[0] - top[1]))


# ------------------------------------------------------------------------------------------------------
# Representations: functions of the labels read back from the melodies, recording what they were given.
# ------------------------------------------------------------------------------------------------------

class Recorded:
    """tokens -> codes = ``make_codes(factors, rng)``; keeps every call's factors and codes, in order."""

    def __init__(self, make_codes, seed: int = 0):
        self.make_codes, self.rng = make_codes, np.random.default_rng(seed)
        self.factors, self.codes = [], []

    def __call__(self, tokens):
        factors = d.factors_from_tokens(np.asarray(tokens))
        assert np.all(factors >= 0)
        codes = np.asarray(self.make_codes(factors, self.rng), dtype=np.float64)
        self.factors.append(factors)
        self.codes.append(codes)
        return codes

    def data(self, start: int = 0, stop: int | None = None):
        """(codes, factors) of the examples seen from ``start`` to ``stop``, in order."""
        return np.concatenate(self.codes)[start:stop], np.concatenate(self.factors)[start:stop]


def copies(factors, rng):
    """Every label as its own code."""
    return factors.astype(np.float64)


def copies_and_noise(factors, rng, noise_dims=3):
    return np.concatenate([factors, rng.standard_normal((len(factors), noise_dims))], axis=1)


def noise(factors, rng):
    return rng.standard_normal((len(factors), 12))


def one_factor(j):
    """Factor j's label, and two constant codes."""
    return lambda factors, rng: np.stack([factors[:, j], np.zeros(len(factors)), np.full(len(factors), 3.0)], 1)


def _score(name, representation, bindings=()):
    return E.score(representation, metrics=[name], gin_bindings=list(bindings))[name]


def _mig(result):
    return np.array([result["factorwise_mig"][k] for k in d.FACTOR_KEYS])


# ------------------------------------------------------------------------------------------------------
# MIG (gin_configs/metrics/mig.gin)
# ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("factor", ["tonic", "octave", "arp_chord1", "rhythm_bar2"])
def test_mig_of_a_code_copying_one_factor(factor):
    """One code copies factor j, the other two are constant (no information). Factor j's gap is
    I(bin(f_j); f_j) / H(f_j): exactly 1 when its labels fit the 20 bins, H(bin(f_j)) / H(f_j) for the 28
    rhythms, some of which share a bin. Every other factor k's is what the copy happens to tell about
    it in the sample, I(bin(f_j); f_k) / H(f_k), near 0."""
    j = d.FACTOR_KEYS.index(factor)
    representation = Recorded(one_factor(j))
    result = _score("mig", representation, ["mig.num_train = 2000"])
    ys = representation.data()[1]
    assert len(ys) == 2000
    if d.FACTOR_SIZES[j] <= NUM_BINS:
        binned, expected_j = ys[:, j], 1.0
    else:
        # 28 labels in 20 equal bins of [0, 27]: label k falls in bin floor(k · 20 / 27).
        assert ys[:, j].min() == 0 and ys[:, j].max() == 27
        binned = np.minimum(ys[:, j] * NUM_BINS // 27, NUM_BINS - 1)
        expected_j = entropy(binned) / entropy(ys[:, j])
        assert 0.8 < expected_j < 0.95
    expected = np.array([mutual_information(binned, ys[:, k]) / entropy(ys[:, k]) for k in range(d.NUM_FACTORS)])
    expected[j] = expected_j
    assert max(np.delete(expected, j)) < 0.05
    np.testing.assert_allclose(_mig(result), expected, rtol=1e-9, atol=1e-12)
    assert result["scores"]["mig"]["discrete_mig"] == pytest.approx(expected.mean(), rel=1e-9)


def test_mig_at_the_config_size_matches_the_formula():
    """mig.gin's own 10,000 points; every factor copied, octave twice (so its gap is 0 exactly), and
    noise codes."""
    def codes(factors, rng):
        return np.concatenate([factors, factors[:, 1:2], rng.standard_normal((len(factors), 2))], axis=1)

    representation = Recorded(codes)
    result = _score("mig", representation)
    mus, ys = representation.data()
    assert mus.shape == (10_000, 12)
    expected = mig_by_hand(mus, ys)
    np.testing.assert_allclose(_mig(result), expected, rtol=1e-9, atol=1e-12)
    assert result["factorwise_mig"]["octave"] == 0.0
    assert all(expected[j] > 0.98 for j in range(9) if d.FACTOR_SIZES[j] <= NUM_BINS and j != 1)
    assert result["scores"]["mig"]["discrete_mig"] == pytest.approx(np.mean(expected), rel=1e-9)


def test_mig_of_noise_matches_the_formula_and_is_near_zero():
    representation = Recorded(noise)
    result = _score("mig", representation, ["mig.num_train = 3000"])
    expected = mig_by_hand(*representation.data())
    np.testing.assert_allclose(_mig(result), expected, rtol=1e-9, atol=1e-12)
    assert result["scores"]["mig"]["discrete_mig"] < 0.02


# ------------------------------------------------------------------------------------------------------
# Modularity and explicitness (gin_configs/metrics/modularity_explicitness.gin)
# ------------------------------------------------------------------------------------------------------

MODULARITY_SMALL = ["modularity_explicitness.num_train = 1000", "modularity_explicitness.num_test = 500"]


def test_modularity_matches_the_formula_on_the_training_points():
    """Modularity from the first num_train points only. Codes: every factor copied (modularity near 1),
    one code mixing octave and scale equally (near 1 − 1/8), three noise codes."""
    def codes(factors, rng):
        mixed = factors[:, 1:2] * 3 + factors[:, 2:3]  # 9 combinations: one bin each
        return np.concatenate([copies_and_noise(factors, rng), mixed], axis=1)

    representation = Recorded(codes)
    scores = _score("modularity_explicitness", representation, MODULARITY_SMALL)["scores"]["modularity_explicitness"]
    mus, ys = representation.data()
    assert mus.shape == (1500, 13)
    expected = modularity_by_hand(*representation.data(0, 1000))
    assert scores["modularity_score"] == pytest.approx(expected, rel=1e-9)
    assert modularity_by_hand(mus, ys) != pytest.approx(expected, rel=1e-9)  # the test points are not used
    mixed = modularity_by_hand(mus[:1000, -1:], ys[:1000])
    assert mixed == pytest.approx(1 - 1 / 8, abs=0.02)
    # Explicitness: a linear classifier reads every factor off its copy (ROC-AUC near 1).
    assert scores["explicitness_score_train"] > 0.95 and scores["explicitness_score_test"] > 0.95


def test_modularity_and_explicitness_of_noise():
    representation = Recorded(noise)
    scores = _score("modularity_explicitness", representation, MODULARITY_SMALL)["scores"]["modularity_explicitness"]
    assert scores["modularity_score"] == pytest.approx(modularity_by_hand(*representation.data(0, 1000)), rel=1e-9)
    assert scores["explicitness_score_test"] == pytest.approx(0.5, abs=0.05)  # chance


# ------------------------------------------------------------------------------------------------------
# SAP (gin_configs/metrics/sap_score.gin): discrete factors
# ------------------------------------------------------------------------------------------------------

def test_sap_at_the_config_size_is_the_discrete_score():
    """sap_score.gin's own 10,000 training and 5,000 test points; the discrete score (classification
    accuracy), not the continuous one (squared correlation: near 1 for copies)."""
    def codes(factors, rng):
        return np.concatenate([factors, factors[:, 5:6], rng.standard_normal((len(factors), 1))], axis=1)

    representation = Recorded(codes)
    result = _score("sap_score", representation)["scores"]["sap_score"]["SAP_score"]
    mus, ys = representation.data()
    assert mus.shape == (15_000, 11)
    expected = sap_by_hand(mus[:10_000], ys[:10_000], mus[10_000:], ys[10_000:])
    assert result == pytest.approx(expected, abs=1e-3)
    assert sap_continuous_by_hand(mus[:10_000], ys[:10_000]) > 0.85 > 0.6 > result


def test_sap_of_duplicated_codes_is_zero():
    """Two identical codes per factor: every factor's best two codes tie, so SAP is 0 by hand."""
    representation = Recorded(lambda factors, rng: np.repeat(factors, 2, axis=1))
    bindings = ["sap_score.num_train = 1000", "sap_score.num_test = 500"]
    assert _score("sap_score", representation, bindings)["scores"]["sap_score"]["SAP_score"] == 0.0
    # Without the duplicates the binary factors' copies are perfect classifiers: a large score.
    single = Recorded(copies)
    score = _score("sap_score", single, bindings)["scores"]["sap_score"]["SAP_score"]
    mus, ys = single.data()
    assert score == pytest.approx(sap_by_hand(mus[:1000], ys[:1000], mus[1000:], ys[1000:]), abs=1e-3)
    assert score > 0.2


# ------------------------------------------------------------------------------------------------------
# The paper's protocol (gin_configs/metrics/paper.gin, paper_factor_vae.gin)
# ------------------------------------------------------------------------------------------------------

def test_paper_protocol_scores_the_first_test_melodies_of_the_split():
    """Every metric scores the first N test melodies of split s in the paper loader's order: MIG all
    of them, Modularity and SAP the first 60 % against the remaining 40 % (protocol §7)."""
    n, n_train = 1000, 600
    bindings = [f"split_prefix.num_examples = {n}", f"mig.num_train = {n}",
                f"modularity_explicitness.num_train = {n_train}", f"modularity_explicitness.num_test = {n - n_train}",
                f"sap_score.num_train = {n_train}", f"sap_score.num_test = {n - n_train}"]
    for split_seed in (0, 2):
        representation = Recorded(copies_and_noise)
        result = _score("paper", representation, bindings + [f"evaluation.split_seed = {split_seed}"])
        factors = d.index_to_factors(d.split_indices("test", split_seed)[:n])
        recorded = np.concatenate(representation.factors)
        assert recorded.shape == (3 * n, 9)  # MIG, Modularity, SAP: the same melodies each time
        for k in range(3):
            np.testing.assert_array_equal(recorded[k * n:(k + 1) * n], factors)
        mus = np.concatenate(representation.codes)
        scores = result["scores"]
        np.testing.assert_allclose(_mig(result), mig_by_hand(mus[:n], factors), rtol=1e-9, atol=1e-12)
        modularity = modularity_by_hand(mus[n:n + n_train], factors[:n_train])
        assert scores["modularity_explicitness"]["modularity_score"] == pytest.approx(modularity, rel=1e-9)
        sap = sap_by_hand(mus[2 * n:2 * n + n_train], factors[:n_train], mus[2 * n + n_train:], factors[n_train:])
        assert scores["sap_score"]["SAP_score"] == pytest.approx(sap, abs=1e-3)


def _config(name):
    """The bindings of one metric config, read through gin."""
    parse_config([E.config_file(name)], [], E.CONFIG_DIR)
    try:
        return {key: gin.query_parameter(key) for key in (
            "evaluation.name", "evaluation.metrics", "evaluation.representation", "discretizer.num_bins",
            "mig.num_train", "modularity_explicitness.num_train", "modularity_explicitness.num_test",
            "sap_score.num_train", "sap_score.num_test", "sap_score.continuous_factors",
            "split_prefix.split", "split_prefix.num_examples")
            if _bound(key)}
    finally:
        gin.clear_config()


def _bound(key):
    try:
        gin.query_parameter(key)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("name, batch", [("paper", 512), ("paper_factor_vae", 256)])
def test_paper_protocol_sizes(name, batch):
    """protocol §7: 201 test batches (of 512, or 256 for FactorVAE); MIG on all of them, Modularity and SAP
    in-sample on the first int(0.6 · N) and the rest; posterior samples; 20 bins; discrete SAP."""
    n = 201 * batch
    n_train = int(0.6 * n)
    assert _config(name) == {
        "evaluation.name": "paper", "evaluation.metrics": ["mig", "modularity_explicitness", "sap_score"],
        "evaluation.representation": "sample", "discretizer.num_bins": 20, "mig.num_train": n,
        "modularity_explicitness.num_train": n_train, "modularity_explicitness.num_test": n - n_train,
        "sap_score.num_train": n_train, "sap_score.num_test": n - n_train, "sap_score.continuous_factors": False,
        "split_prefix.split": "test", "split_prefix.num_examples": n}


def test_standard_protocol_sizes():
    """protocol §7: disentanglement_lib's standard study: posterior means of 10,000 points (5,000 more to test)."""
    assert _config("mig") == {"evaluation.name": "mig", "evaluation.metrics": ["mig"],
                              "evaluation.representation": "mean", "discretizer.num_bins": 20,
                              "mig.num_train": 10_000}
    assert _config("modularity_explicitness") == {
        "evaluation.name": "modularity_explicitness", "evaluation.metrics": ["modularity_explicitness"],
        "evaluation.representation": "mean", "discretizer.num_bins": 20,
        "modularity_explicitness.num_train": 10_000, "modularity_explicitness.num_test": 5_000}
    assert _config("sap_score") == {
        "evaluation.name": "sap_score", "evaluation.metrics": ["sap_score"], "evaluation.representation": "mean",
        "sap_score.num_train": 10_000, "sap_score.num_test": 5_000, "sap_score.continuous_factors": False}
