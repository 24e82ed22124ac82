"""InfoMEC (Hsu, Dorrell, Whittington, Wu & Finn, "Disentanglement via Latent Quantization", NeurIPS 2023).

MIG-style gaps look at the best two codes only, and DCI's importances depend on the probe that ranks
them. InfoMEC states modularity, explicitness and compactness in one currency, information about the
sources, following the reference implementation (kylehkhsu/latent_quantization,
``disentangle/metrics/infomec.py``):

- the normalised mutual information NMI[i, j] = I(s_i; z_j) / H(s_i) of each source s_i (its labels
  encoded 0..K-1) and each latent z_j: for continuous latents, standardised and estimated with the
  k-nearest-neighbour continuous-discrete estimator (Ross, 2014; scikit-learn's
  ``mutual_info_classif``, k = 10); for discrete latents, the plug-in estimate on their values;
- latents whose range is at most a twentieth of the widest latent's (continuous), or that are constant
  (discrete), are inactive and left out of InfoM and InfoC;
- InfoM: each active latent's largest NMI over its sum across sources, averaged, then rescaled so that a
  latent informing all sources equally scores 0 and one informing a single source scores 1;
- InfoC: each source's largest NMI over its sum across active latents, averaged, rescaled likewise
  (chance 1 / number of active latents): a source spread over two latents (a duplicated code) loses it;
- InfoE: per source, 1 - (cross-entropy of an unpenalised multinomial logistic regression from all latents,
  standardised or one-hot) / (cross-entropy of the same regression from no input), both fitted with
  balanced class weights and scored on the sampled points, averaged over sources.

Codes and factors are sampled as disentanglement_lib's MIG samples them (``generate_batch_factor_code``).
Where the reference divides zero by zero (no active latent; a single active latent, for InfoC; a latent or
source without estimated information) it returns NaN; here such a ratio counts as chance, so it adds
nothing, and a code without active latents scores 0.
"""
from __future__ import annotations

import warnings

import gin
import numpy as np
import threadpoolctl
from sklearn import exceptions, feature_selection, linear_model, metrics, preprocessing

from benchmarks.evaluation import dlib_compat  # noqa: F401  (before disentanglement_lib)
from disentanglement_lib.evaluation.metrics import utils

NUM_NEIGHBOURS = 10  # the reference's k for the continuous-discrete estimator
RANGE_FRACTION = 20  # continuous latents narrower than 1/20 of the widest are inactive (reference)


def encode_labels(values: np.ndarray) -> np.ndarray:
    """Each column's values replaced by their rank among its distinct values (0..K-1), as integers."""
    return np.stack([np.unique(column, return_inverse=True)[1] for column in values.T], axis=1)


def normalised_mutual_information(sources: np.ndarray, latents: np.ndarray, discrete_latents: bool,
                                  seed: int = 0) -> np.ndarray:
    """NMI (num_sources, num_latents): I(s_i; z_j) / H(s_i) in nats, from sources (n, K) and latents (n, L).

    ``seed`` fixes the estimator's tie-breaking jitter (1e-10 of each standardised latent's scale)."""
    labels = encode_labels(sources)
    entropy = utils.discrete_entropy(labels.T)
    if discrete_latents:
        mutual = utils.discrete_mutual_info(encode_labels(latents).T, labels.T).T
    else:
        standardised = preprocessing.StandardScaler().fit_transform(np.asarray(latents, np.float64))
        mutual = np.stack([feature_selection.mutual_info_classif(
            standardised, labels[:, i], discrete_features=False, n_neighbors=NUM_NEIGHBOURS, random_state=seed)
            for i in range(labels.shape[1])])
    return mutual / entropy[:, None]


def active_latents(latents: np.ndarray, discrete_latents: bool) -> np.ndarray:
    """Boolean mask (L,) of the latents InfoM and InfoC count (module docstring)."""
    ranges = np.ptp(np.asarray(latents, np.float64), axis=0)
    if discrete_latents:
        return ranges > 0
    return ranges > np.max(ranges) / RANGE_FRACTION


def _rescaled_preference(nmi: np.ndarray) -> float:
    """Mean over rows of (largest entry / row sum), rescaled from [1/columns, 1] to [0, 1]; a row of zeros
    counts as chance, and so does everything when there are fewer than two columns."""
    if nmi.shape[1] < 2:
        return 0.0
    chance = 1.0 / nmi.shape[1]
    totals = nmi.sum(axis=1)
    preference = np.divide(nmi.max(axis=1), totals, out=np.full(len(nmi), chance), where=totals > 0)
    return float((preference.mean() - chance) / (1.0 - chance))


def modularity_compactness(nmi: np.ndarray, active: np.ndarray) -> tuple[float, float]:
    """(InfoM, InfoC) of an NMI matrix (sources, latents) restricted to the ``active`` latents."""
    pruned = nmi[:, active]
    if pruned.shape[1] == 0:
        return 0.0, 0.0
    return _rescaled_preference(pruned.T), _rescaled_preference(pruned)


def _cross_entropy(inputs, labels: np.ndarray) -> float:
    """Mean cross-entropy on the fitting points of an unpenalised multinomial logistic regression with
    balanced class weights (the reference's lbfgs, 100 iterations, tolerance 1e-4). Two classes get the
    binary regression, which has the two-class softmax's optimum (the reference asks for the softmax)."""
    model = linear_model.LogisticRegression(C=np.inf, class_weight="balanced", solver="lbfgs", max_iter=100,
                                            tol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        model.fit(inputs, labels)
    return float(metrics.log_loss(labels, model.predict_proba(inputs), labels=model.classes_))


def explicitness(sources: np.ndarray, latents: np.ndarray, discrete_latents: bool) -> np.ndarray:
    """InfoE of each source: 1 - H(s | logistic regression on z) / H(s | logistic regression on nothing)."""
    labels = encode_labels(sources)
    if discrete_latents:
        inputs = preprocessing.OneHotEncoder().fit_transform(latents)
    else:
        inputs = preprocessing.StandardScaler().fit_transform(np.asarray(latents, np.float64))
    null = np.zeros(np.shape(latents))
    scores = []
    for i in range(labels.shape[1]):
        marginal = _cross_entropy(null, labels[:, i])
        scores.append((marginal - _cross_entropy(inputs, labels[:, i])) / marginal)
    return np.array(scores)


def infomec(sources: np.ndarray, latents: np.ndarray, discrete_latents: bool = False, seed: int = 0) -> dict:
    """``infom``, ``infoe``, ``infoc``, ``infoe_<k>`` per source and ``num_active_latents`` of sources (n, K)
    and latents (n, L) (module docstring)."""
    active = active_latents(latents, discrete_latents)
    nmi = np.zeros((np.shape(sources)[1], len(active)))  # inactive latents' information is never read
    # Single-threaded: the work is thousands of small neighbour searches and regressions, for which starting
    # threads costs more than it saves when other work holds the cores (the numbers are the same).
    with threadpoolctl.threadpool_limits(1):
        if active.any():
            nmi[:, active] = normalised_mutual_information(sources, np.asarray(latents)[:, active],
                                                           discrete_latents, seed)
        per_source = explicitness(sources, latents, discrete_latents)
    infom, infoc = modularity_compactness(nmi, active)
    scores = {"infom": infom, "infoe": float(per_source.mean()), "infoc": infoc,
              "num_active_latents": int(active.sum())}
    scores.update({f"infoe_{k}": float(value) for k, value in enumerate(per_source)})
    return scores


@gin.configurable("infomec", denylist=["ground_truth_data", "representation_function", "random_state",
                                       "artifact_dir"])
def compute_infomec(ground_truth_data, representation_function, random_state, artifact_dir=None,
                    num_train: int = gin.REQUIRED, discrete_latents: bool = False, batch_size: int = 16) -> dict:
    """InfoM, InfoE and InfoC of the codes of ``num_train`` sampled observations (module docstring)."""
    del artifact_dir
    mus, ys = utils.generate_batch_factor_code(ground_truth_data, representation_function, num_train,
                                               random_state, batch_size)
    return infomec(ys.T, mus.T, discrete_latents, seed=int(random_state.randint(2**31 - 1)))
