"""DCIMIG (Sepliarskaia, Kiseleva & de Rijke, "Evaluating Disentangled Representations", 2019).

MIG asks, per factor, how much better its best code explains it than its second best; a code that
explains two factors can be the best code of both. DCIMIG asks per code first: each code z_j is
credited only to the factor it explains most, with the gap I(z_j; y_a) - I(z_j; y_b) to the factor it
explains second most. Each factor then takes the largest gap credited to it (0 when no code is credited
to it), and the score is the sum of those gaps over the sum of the factors' entropies: 1 when every
factor has a code that captures it entirely and nothing else, 0 when no code prefers any factor.
"""
from __future__ import annotations

import gin
import numpy as np

from benchmarks.evaluation.metrics.information import Information, sampled_information


def dcimig(info: Information) -> dict:
    """``dcimig`` and ``dcimig_<k>`` (each factor's credited gap over its entropy) from the quantities."""
    mutual = info.mutual  # (codes, factors)
    ranked = np.sort(mutual, axis=1)
    gaps = ranked[:, -1] - (ranked[:, -2] if mutual.shape[1] > 1 else 0.0)
    owner = np.argmax(mutual, axis=1)
    credited = np.zeros(mutual.shape[1])
    for code, factor in enumerate(owner):
        credited[factor] = max(credited[factor], gaps[code])
    scores = {"dcimig": float(credited.sum() / info.factor_entropy.sum())}
    scores.update({f"dcimig_{k}": float(credited[k] / info.factor_entropy[k]) for k in range(len(credited))})
    return scores


@gin.configurable("dcimig", denylist=["ground_truth_data", "representation_function", "random_state",
                                      "artifact_dir"])
def compute_dcimig(ground_truth_data, representation_function, random_state, artifact_dir=None,
                   num_train: int = gin.REQUIRED, batch_size: int = 16) -> dict:
    """DCIMIG of ``num_train`` sampled observations' codes (module docstring)."""
    del artifact_dir
    return dcimig(sampled_information(ground_truth_data, representation_function, random_state, num_train, batch_size))
