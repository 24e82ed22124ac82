"""The information quantities the MIG family shares, from disentanglement_lib's own functions.

disentanglement_lib estimates mutual information on codes discretised by the gin-configured
``discretizer`` (a 20-bin histogram in the standard configs), in nats; the metrics written here use the
same estimates, so that they differ from MIG only by their formulas.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from benchmarks.evaluation import dlib_compat  # noqa: F401  (before disentanglement_lib)
from disentanglement_lib.evaluation.metrics import utils


@dataclasses.dataclass(frozen=True)
class Information:
    """``mutual`` (codes x factors) I(z_i; y_k), ``code_entropy`` H(z_i) of the discretised codes and
    ``factor_entropy`` H(y_k), all in nats, and the discretiser's ``num_bins``."""

    mutual: np.ndarray
    code_entropy: np.ndarray
    factor_entropy: np.ndarray
    num_bins: int


def information(mus: np.ndarray, ys: np.ndarray, num_bins: int) -> Information:
    """The quantities of codes ``mus`` (num_codes, n) and factors ``ys`` (num_factors, n), the codes
    discretised by disentanglement_lib's configured discretiser (``num_bins`` is what it was given)."""
    discretised = utils.make_discretizer(mus)
    return Information(utils.discrete_mutual_info(discretised, ys), utils.discrete_entropy(discretised),
                       utils.discrete_entropy(ys), int(num_bins))


def discretiser_bins() -> int:
    """``discretizer.num_bins`` as gin binds it (the metric configs do)."""
    import gin

    return int(gin.query_parameter("discretizer.num_bins"))


def sampled_information(ground_truth_data, representation_function, random_state, num_train: int,
                        batch_size: int) -> Information:
    """:func:`information` of the codes of ``num_train`` observations sampled as disentanglement_lib's MIG
    samples them (``generate_batch_factor_code``), binned by the gin-bound discretiser."""
    mus, ys = utils.generate_batch_factor_code(ground_truth_data, representation_function, num_train,
                                               random_state, batch_size)
    return information(mus, ys, discretiser_bins())
