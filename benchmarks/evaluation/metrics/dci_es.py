"""DCI-ES (Eastwood, Nicolicioiu, von Kügelgen, Kekić, Träuble, Dittadi & Schölkopf, "DCI-ES: An Extended
Disentanglement Framework with Connections to Identifiability", ICLR 2023).

DCI asks what one fixed probe reads from a code; DCI-ES adds how much probe it takes. Probes of
increasing capacity predict each factor; test loss against capacity is the loss-capacity curve.

- Explicitness E, per factor then averaged: 1 - AULCC / Z. AULCC is the trapezoidal area between the
  curve (each point the lowest loss reached up to its capacity) and its lowest loss; Z is the triangle
  from the baseline loss l_b at the smallest capacity to the lowest loss at the largest, the lowest loss
  taken as 0 as in the reference code: Z = (c_max - c_min) * l_b / 2. E is 1 when the smallest probe
  does as well as any and falls (below 0 too) as the best loss needs more capacity. It ignores how low
  that loss is: a code without information has a flat curve and E near 1, so read E with I.
- Size S = K / L, factors over code dimensions: below 1 for a code larger than the factors (the
  reference code computes no size; this is the ratio as the paper's framework states it).
- D, C and I as in DCI (disentanglement_lib's ``dci.disentanglement`` and ``dci.completeness`` of the
  probes' impurity importances; I the mean test accuracy), from the capacity whose probes reach the
  highest I, as the reference's aggregation picks them.

Probes as the reference's random-forest runs (andreinicolicioiu/DCI-ES: ``src/loss_capacity/
train_model_random_forest.py``, ``metrics/explitcitness.py``, ``src/simple_gather.py``,
``configs/random_forest/``): per factor one classifier per maximum depth 1, 2, 3, 4, 8, 10, ..., 20, 32,
the depth being the capacity; loss 1 - test accuracy; l_b = 1 - 1/K_j, chance for a uniform factor with
K_j values (dMelodies' factors are discrete and uniform). Forests, of the reference's three probe
families, need no training schedule: its MLP and random-Fourier-feature probes train for epochs at each
of a dozen widths. Cost is linear in trees; the reference grows 100. A forest whose trees all stop short
of its depth limit is the forest any deeper limit grows (same seed, same draws), so deeper capacities
reuse its scores: exact, and a saving for codes whose trees finish early.
"""
from __future__ import annotations

import dataclasses

import gin
import numpy as np
from sklearn import ensemble

from benchmarks.evaluation import dlib_compat  # noqa: F401  (before disentanglement_lib)
from disentanglement_lib.evaluation.metrics import dci, utils

MAX_DEPTHS = (1, 2, 3, 4, 8, 10, 12, 14, 16, 18, 20, 32)  # reference configs/random_forest/config.yaml
NUM_TREES = 100  # reference configs/random_forest/default.yaml


@dataclasses.dataclass(frozen=True)
class Probes:
    """``capacities`` (C,) the probes' maximum depths, ``losses`` (C, K) their test losses (1 - accuracy)
    per factor and ``importances`` (C, L, K) their impurity importances."""

    capacities: np.ndarray
    losses: np.ndarray
    importances: np.ndarray


def fit_probes(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
               max_depths=MAX_DEPTHS, num_trees: int = NUM_TREES, seed: int = 0) -> Probes:
    """Random-forest probes of codes x (n, L) for integer factors y (n, K), one per factor and depth."""
    depths = np.asarray(max_depths, dtype=np.int64)
    if depths.ndim != 1 or len(depths) < 2 or np.any(np.diff(depths) <= 0) or depths[0] < 1:
        raise ValueError(f"max_depths must be at least two increasing positive depths, got {max_depths!r}")
    num_codes, num_factors = x_train.shape[1], y_train.shape[1]
    losses = np.zeros((len(depths), num_factors))
    importances = np.zeros((len(depths), num_codes, num_factors))
    for k in range(num_factors):
        reached = None  # deepest tree of the previous forest, when it stopped short of its limit
        for c, depth in enumerate(depths):
            if reached is not None:  # the same forest again
                losses[c, k], importances[c, :, k] = losses[c - 1, k], importances[c - 1, :, k]
                continue
            forest = ensemble.RandomForestClassifier(n_estimators=num_trees, max_depth=int(depth), random_state=seed,
                                                     n_jobs=-1)
            forest.fit(x_train, y_train[:, k])
            # Votes summed in one order: threads add them in any order, and rounding then flips near-ties.
            losses[c, k] = 1.0 - forest.set_params(n_jobs=1).score(x_test, y_test[:, k])
            importances[c, :, k] = np.abs(forest.feature_importances_)
            deepest = max(tree.get_depth() for tree in forest.estimators_)
            reached = deepest if deepest < depth else None
    return Probes(depths.astype(np.float64), losses, importances)


def explicitness(capacities: np.ndarray, losses: np.ndarray, baseline_loss: float) -> float:
    """E of one factor's loss-capacity curve (module docstring); capacities increasing."""
    lowest_so_far = np.minimum.accumulate(np.asarray(losses, np.float64))
    above = lowest_so_far - lowest_so_far.min()
    area = np.sum(np.diff(capacities) * (above[1:] + above[:-1]) / 2.0)
    normaliser = (capacities[-1] - capacities[0]) * baseline_loss / 2.0
    return float(1.0 - area / normaliser)


def dci_es(probes: Probes, factor_sizes) -> dict:
    """The scores of fitted probes, factors with ``factor_sizes`` values (module docstring)."""
    num_codes, num_factors = probes.importances.shape[1:]
    per_factor = [explicitness(probes.capacities, probes.losses[:, k], 1.0 - 1.0 / factor_sizes[k])
                  for k in range(num_factors)]
    accuracy = 1.0 - probes.losses.mean(axis=1)
    best = int(np.argmax(accuracy))
    scores = {"dci_es_explicitness": float(np.mean(per_factor)),
              "dci_es_size": num_factors / num_codes,
              "disentanglement": float(dci.disentanglement(probes.importances[best])),
              "completeness": float(dci.completeness(probes.importances[best])),
              "informativeness": float(accuracy[best]),
              "dci_es_best_depth": int(probes.capacities[best])}
    scores.update({f"dci_es_explicitness_{k}": float(value) for k, value in enumerate(per_factor)})
    return scores


@gin.configurable("dci_es", denylist=["ground_truth_data", "representation_function", "random_state",
                                      "artifact_dir"])
def compute_dci_es(ground_truth_data, representation_function, random_state, artifact_dir=None,
                   num_train: int = gin.REQUIRED, num_test: int = gin.REQUIRED, max_depths=MAX_DEPTHS,
                   num_trees: int = NUM_TREES, batch_size: int = 16) -> dict:
    """DCI-ES of probes fitted on ``num_train`` sampled codes and tested on ``num_test`` others (module
    docstring)."""
    del artifact_dir
    mus_train, ys_train = utils.generate_batch_factor_code(ground_truth_data, representation_function, num_train,
                                                           random_state, batch_size)
    mus_test, ys_test = utils.generate_batch_factor_code(ground_truth_data, representation_function, num_test,
                                                         random_state, batch_size)
    probes = fit_probes(mus_train.T, ys_train.T, mus_test.T, ys_test.T, max_depths, num_trees,
                        seed=int(random_state.randint(2**31 - 1)))
    return dci_es(probes, list(ground_truth_data.factors_num_values))
