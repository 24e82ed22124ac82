"""Interpretability (Adel, Ghahramani & Weller, ICML 2018, "Discovering Interpretable Representations for
Both Deep Generative and Discriminative Models"), as Pati & Lerch score their attribute-regularised music
VAEs with it (AR-VAE, 2020; and the dMelodies controllability follow-up, ISMIR 2021).

For each factor: the latent dimension that shares the most information with it (scikit-learn's
nearest-neighbour estimate, ``mutual_info_regression``, the estimator their code uses), then a linear
regression of the factor's label on that one dimension; the factor's score is the regression's R², and
``interpretability`` their mean. A supervised method that ties dimension k to factor k should score high
with ``dimension_k`` = k. Read as published: the labels are regressed as numbers, so for factors whose
values have no order (tonic, scale, rhythms, arpeggio directions) an R² below 1 need not mean a poor
code; controllability (:mod:`benchmarks.evaluation.controllability`) is the decoder-side answer.
"""
from __future__ import annotations

import gin
import numpy as np
from sklearn.feature_selection import mutual_info_regression
from sklearn.linear_model import LinearRegression

from disentanglement_lib.evaluation.metrics import utils


def interpretability(codes: np.ndarray, labels: np.ndarray, seed: int) -> dict:
    """``interpretability``, ``interpretability_<k>`` (factor k's R²) and ``dimension_<k>`` from codes
    (n, latents) and labels (n, factors); ``seed`` fixes the estimator's jitter."""
    scores, r2 = {}, []
    for k in range(labels.shape[1]):
        y = labels[:, k].astype(np.float64)
        dimension = int(np.argmax(mutual_info_regression(codes, y, random_state=seed)))
        x = codes[:, dimension:dimension + 1]
        r2.append(float(LinearRegression().fit(x, y).score(x, y)) if np.ptp(y) > 0 else 0.0)
        scores[f"interpretability_{k}"], scores[f"dimension_{k}"] = r2[-1], dimension
    return {"interpretability": float(np.mean(r2)), **scores}


@gin.configurable("interpretability", denylist=["ground_truth_data", "representation_function", "random_state",
                                                "artifact_dir"])
def compute_interpretability(ground_truth_data, representation_function, random_state, artifact_dir=None,
                             num_train: int = gin.REQUIRED, batch_size: int = 16) -> dict:
    """Interpretability of ``num_train`` sampled observations' codes (module docstring)."""
    del artifact_dir
    mus, ys = utils.generate_batch_factor_code(ground_truth_data, representation_function, num_train,
                                               random_state, batch_size)
    return interpretability(np.asarray(mus, np.float64).T, np.asarray(ys).T, int(random_state.randint(2**31 - 1)))
