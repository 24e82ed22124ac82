"""JEMMIG (Do & Tran, "Theory and Evaluation Metrics for Learning Disentangled Representations", ICLR 2020).

MIG rewards a factor's best code for explaining it, but not for explaining only it: a code that also
carries other information scores as well. JEMMIG replaces the best code's information I(z*; y) by its
joint entropy with the factor minus that information, H(z*, y) - I(z*; y) = H(z* | y) + H(y | z*), which
is small only when z* and y determine each other, and adds the second-best code's information
I(z°; y) as MIG subtracts it. Normalised per factor by its upper bound H(y) + log(number of bins) and
subtracted from 1: 1 when a code equals the factor and no other code knows it. Codes unrelated to the
factors do not score 0 but 1 - (H(z*) + H(y)) / (H(y) + log(number of bins)), above 0 by as much as the
binned code's entropy falls short of log(number of bins): 0.11-0.14 for untrained encoders and
independent Gaussian codes on dMelodies (results/null_floor/), where half the reference study's trained
runs score no higher.
"""
from __future__ import annotations

import gin
import numpy as np

from benchmarks.evaluation.metrics.information import Information, sampled_information


def jemmig(info: Information) -> dict:
    """``jemmig`` and ``jemmig_<k>`` per factor from the quantities (module docstring)."""
    mutual = info.mutual.T  # (factors, codes)
    best = np.argmax(mutual, axis=1)
    ranked = np.sort(mutual, axis=1)
    second = ranked[:, -2] if mutual.shape[1] > 1 else np.zeros(len(mutual))
    top = ranked[:, -1]
    joint = info.code_entropy[best] + info.factor_entropy - top  # H(z*, y) = H(z*) + H(y) - I(z*; y)
    per_factor = 1.0 - (joint - top + second) / (info.factor_entropy + np.log(info.num_bins))
    scores = {"jemmig": float(np.mean(per_factor))}
    scores.update({f"jemmig_{k}": float(value) for k, value in enumerate(per_factor)})
    return scores


@gin.configurable("jemmig", denylist=["ground_truth_data", "representation_function", "random_state",
                                      "artifact_dir"])
def compute_jemmig(ground_truth_data, representation_function, random_state, artifact_dir=None,
                   num_train: int = gin.REQUIRED, batch_size: int = 16) -> dict:
    """JEMMIG of ``num_train`` sampled observations' codes (module docstring)."""
    del artifact_dir
    return jemmig(sampled_information(ground_truth_data, representation_function, random_state, num_train, batch_size))
