"""DCI (Eastwood & Williams, "A Framework for the Quantitative Evaluation of Disentangled Representations",
ICLR 2018) from histogram gradient-boosted trees: the standard protocol in seconds rather than minutes.

disentanglement_lib's DCI fits scikit-learn's ``GradientBoostingClassifier`` per factor, which searches
every value of every code dimension at every split: about 850 s on dMelodies at the standard sizes
(10,000 training and 5,000 test codes). This computes the same scores from the same codes (drawn by
disentanglement_lib's ``generate_batch_factor_code`` with the same random state, training then test, as
``dci.compute_dci`` draws them) with disentanglement_lib's own ``dci.disentanglement`` and
``dci.completeness`` of the importance matrix; only the boosted trees differ. They are LightGBM's, shaped as
scikit-learn's defaults: 100 rounds, learning rate 0.1, depth 3, one sample per leaf allowed, softmax
(or logistic) deviance, no subsampling; a factor's importances are its trees' total split gain, normalised to
sum to 1 as scikit-learn's impurity importances do. What differs is how a split is chosen: among 255
histogram bins of each dimension, by LightGBM's second-order gain, where scikit-learn tries every value by
Friedman's squared-error improvement. So the scores are close to, not equal to, the standard DCI's:
``results/dci_fast/`` measures how close on trained runs. The standard DCI stays the default
(``gin_configs/metrics/dci.gin``); this one is ``gin_configs/metrics/dci_fast.gin``.

The same trees are registered with gin as ``lightgbm_classifier``, a drop-in for disentanglement_lib's
``predictor.predictor_fn = @gradient_boosting_classifier`` in its predictor-based metrics:
``gin_configs/metrics/fairness_fast.gin`` runs disentanglement_lib's fairness code, unchanged, with them
(``results/fairness_fast/`` measures how close that comes to the standard fairness).
"""
from __future__ import annotations

import gin
import numpy as np

from benchmarks.evaluation import dlib_compat  # noqa: F401  (before disentanglement_lib)
from disentanglement_lib.evaluation.metrics import dci, utils

# scikit-learn's GradientBoostingClassifier defaults, in LightGBM's terms.
BOOSTING = dict(n_estimators=100, learning_rate=0.1, max_depth=3, num_leaves=8, min_child_samples=1,
                subsample=1.0, colsample_bytree=1.0, reg_lambda=0.0, importance_type="gain")


@gin.configurable("lightgbm_classifier")
def lightgbm_classifier(seed: int = 0):
    """LightGBM's histogram boosted trees shaped as scikit-learn's ``GradientBoostingClassifier()``, which
    disentanglement_lib's ``gradient_boosting_classifier`` returns: single-threaded and deterministic."""
    try:
        import lightgbm
    except ImportError as error:  # an optional dependency
        raise ImportError('dci_fast and fairness_fast need LightGBM: pip install "dmelodies[fast-dci]"') from error
    return lightgbm.LGBMClassifier(**BOOSTING, random_state=seed, deterministic=True, n_jobs=1, verbose=-1)


def importance_matrix(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                      seed: int = 0) -> tuple[np.ndarray, float, float]:
    """As disentanglement_lib's ``dci.compute_importance_gbt`` (codes (L, n), factors (K, n)): the
    importance matrix (L, K), and the mean training and test accuracy over factors."""
    importance = np.zeros((x_train.shape[0], y_train.shape[0]), dtype=np.float64)
    train_accuracy, test_accuracy = [], []
    for k in range(y_train.shape[0]):
        model = lightgbm_classifier(seed)
        model.fit(x_train.T, y_train[k])
        gain = np.abs(model.feature_importances_.astype(np.float64))
        importance[:, k] = gain / gain.sum() if gain.sum() > 0 else gain
        train_accuracy.append(np.mean(model.predict(x_train.T) == y_train[k]))
        test_accuracy.append(np.mean(model.predict(x_test.T) == y_test[k]))
    return importance, float(np.mean(train_accuracy)), float(np.mean(test_accuracy))


@gin.configurable("dci_fast", denylist=["ground_truth_data", "representation_function", "random_state",
                                        "artifact_dir"])
def compute_dci_fast(ground_truth_data, representation_function, random_state, artifact_dir=None,
                     num_train: int = gin.REQUIRED, num_test: int = gin.REQUIRED, batch_size: int = 16) -> dict:
    """DCI's ``disentanglement``, ``completeness`` and ``informativeness_train``/``_test`` (the module
    docstring says what differs from disentanglement_lib's ``dci``)."""
    del artifact_dir
    mus_train, ys_train = utils.generate_batch_factor_code(ground_truth_data, representation_function, num_train,
                                                           random_state, batch_size)
    mus_test, ys_test = utils.generate_batch_factor_code(ground_truth_data, representation_function, num_test,
                                                         random_state, batch_size)
    importance, train_accuracy, test_accuracy = importance_matrix(mus_train, ys_train, mus_test, ys_test)
    return {"informativeness_train": train_accuracy, "informativeness_test": test_accuracy,
            "disentanglement": float(dci.disentanglement(importance)),
            "completeness": float(dci.completeness(importance))}
