"""Generalisation to held-out melodies: reconstruction and per-factor read-out on the test split.

A random split of a fully crossed factor grid puts every test melody one step from a training one.
dMelodies' ``composition``, ``interpolation`` and ``extrapolation`` configs instead hold factor
combinations or values out of training (:data:`dmelodies_tfds.splits.GENERALISATION_CONFIGS`). After
InDiD (Schott et al., "Visual Representation Learning Does Not Generalize Strongly Within the Same
Domain", ICLR 2022), a run is scored on ``num_test`` melodies of its test split, the held-out ones:

- ``reconstruction_accuracy``: per-token accuracy of the greedy decoding of the posterior mean (protocol §7's
  reconstruction figure, with the mean rather than a sample); ``train_reconstruction_accuracy``, the same
  on the probes' ``num_train`` training-split melodies, is the figure to compare it with. Both need a
  decoder.
- Per factor, a linear probe is fitted on the codes of the ``num_train`` training-split melodies and reads
  the factor from the codes of the test melodies:

  - ``accuracy_<factor>``, every factor: the accuracy of a logistic-regression classifier (chance is one
    over the number of values on a random split). A classifier never predicts a value it never saw, so
    where a value is held out of training altogether (interpolation, extrapolation) its melodies score 0
    whatever the code;
  - ``r2_<factor>``, the ordered factors: R² of a linear regression on the value's rank, InDiD's score:
    ``1 - MSE / Var``, where Var is the factor's variance over all of dMelodies, as InDiD divides by the
    whole dataset's variance (a test split may hold a single value of the factor, of variance 0). 1 reads
    the factor perfectly, 0 is what always answering dMelodies' mean value scores on uniformly drawn
    melodies, below 0 is worse. A regression can extrapolate: a code that places an unseen octave
    beyond the seen ones scores well.

  Ordered factors (:data:`ORDERED_FACTORS`): ``tonic`` (semitones above C, the root's height within its
  octave, protocol §2), ``octave`` and the four arpeggio directions (two values are ordered either way, and R²
  does not depend on which comes first). ``scale`` (major, minor, blues) and the rhythms (28 onset
  patterns) have no order, so they get an accuracy alone.
- ``mean_accuracy`` and ``mean_r2``: the means over the factors scored.

The probes are linear on purpose: they ask whether a factor lies along directions of the code (the
question disentanglement asks, as SAP and explicitness do), they have no random initialisation, and a
linear regression extrapolates where a tree-based one cannot predict outside the training range.
"""
from __future__ import annotations

import gin
import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import dmelodies_tfds as d
from benchmarks.evaluation.representation import batched

ORDERED_FACTORS = ("tonic", "octave", "arp_chord1", "arp_chord2", "arp_chord3", "arp_chord4")


def dataset_variance(key: str) -> float:
    """Variance of factor ``key``'s label over all of dMelodies: uniform over its n values, (n² - 1) / 12."""
    n = d.FACTOR_SIZES[d.FACTOR_KEYS.index(key)]
    return (n * n - 1) / 12


def probe_scores(train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray,
                 test_labels: np.ndarray) -> dict:
    """``accuracy_<factor>`` for every factor and ``r2_<factor>`` for the ordered ones (module docstring).

    Codes (n, latent) and labels (n, 9); the probes are fitted on the training pair and scored on the test pair.
    BLAS runs on one thread: the solvers make many small BLAS calls, and where the CPU is shared, worker
    threads that spin waiting for each other make them orders of magnitude slower.
    """
    with threadpool_limits(limits=1):
        return _probe_scores(train_codes, train_labels, test_codes, test_labels)


def _probe_scores(train_codes, train_labels, test_codes, test_labels) -> dict:
    scores = {}
    for k, key in enumerate(d.FACTOR_KEYS):
        train_values, test_values = train_labels[:, k], test_labels[:, k]
        if len(np.unique(train_values)) > 1:
            classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
            predicted = classifier.fit(train_codes, train_values).predict(test_codes)
        else:  # a single value seen in training: that is all a probe can answer
            predicted = np.full_like(test_values, train_values[0])
        scores[f"accuracy_{key}"] = float(np.mean(predicted == test_values))
        if key in ORDERED_FACTORS:
            regression = make_pipeline(StandardScaler(), LinearRegression())
            estimate = regression.fit(train_codes, train_values.astype(np.float64)).predict(test_codes)
            scores[f"r2_{key}"] = float(1 - np.mean((estimate - test_values) ** 2) / dataset_variance(key))
    scores["mean_accuracy"] = float(np.mean([scores[f"accuracy_{key}"] for key in d.FACTOR_KEYS]))
    scores["mean_r2"] = float(np.mean([scores[f"r2_{key}"] for key in ORDERED_FACTORS]))
    return scores


@gin.configurable("generalisation",
                  denylist=["ground_truth_data", "representation_function", "random_state", "decode_function"])
def compute_generalisation(ground_truth_data, representation_function, random_state, *, decode_function=None,
                           num_train: int = 10000, num_test: int = 5000, batch_size: int = 1024) -> dict:
    """Scores as described in the module docstring (disentanglement_lib's metric signature, with the
    decoder as a keyword).

    Args:
      ground_truth_data: the run's dMelodies data (:class:`benchmarks.evaluation.ground_truth.DMelodiesData`,
        its split seed and config): probes fit on its training melodies and score its test melodies.
      representation_function: tokens (n, 16) -> codes (n, latent).
      decode_function: codes -> tokens (n, 16), or None to leave out the reconstruction accuracies.
      num_train: melodies drawn from the training split to fit the probes.
      num_test: melodies drawn from the test split to score them.
      batch_size: melodies encoded per call.
    """
    train_data, test_data = ground_truth_data.of_split("train"), ground_truth_data.of_split("test")
    if min(num_train, num_test, batch_size) < 1:
        raise ValueError(f"need num_train, num_test and batch_size >= 1, got {num_train}, {num_test}, {batch_size}")
    sampled = {}
    for split, data, num in (("train", train_data, num_train), ("test", test_data, num_test)):
        labels = data.sample_factors(num, random_state)
        tokens = data.sample_observations_from_factors(labels, random_state)
        sampled[split] = labels, tokens, batched(representation_function, tokens, batch_size)
    scores = {}
    if decode_function is not None:
        for split, prefix in (("test", ""), ("train", "train_")):
            _, tokens, codes = sampled[split]
            scores[f"{prefix}reconstruction_accuracy"] = float(
                np.mean(batched(decode_function, codes, batch_size) == tokens))
    (train_labels, _, train_codes), (test_labels, _, test_codes) = sampled["train"], sampled["test"]
    scores.update(probe_scores(train_codes, train_labels, test_codes, test_labels))
    return scores
