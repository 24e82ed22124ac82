"""Print InfoMEC and DCI-ES computed by their authors' reference code on the fixtures the tests score.

Why: ``benchmarks/evaluation/metrics/infomec.py`` and ``dci_es.py`` are written from the papers on
disentanglement_lib's building blocks; the surest check of their formulas is the code that accompanies
the papers. This script imports it from checkouts (nothing of it is copied here) and prints its values on
:func:`infomec_fixture`, :func:`dci_es_fixture` and :data:`CURVES`;
``tests/benchmarks/evaluation/test_infomec_dci_es.py`` holds them and checks ours against them.

- InfoMEC: kylehkhsu/latent_quantization, ``disentangle/metrics/infomec.py``, as is. It passes
  ``multi_class`` to scikit-learn's LogisticRegression, which scikit-learn 1.7 removed, and stores
  one-element arrays into a matrix, which NumPy 2.3 refuses, so it runs on scikit-learn 1.6.1 and NumPy
  2.2 installed apart. Its estimator's tie-breaking jitter draws from NumPy's global generator, seeded
  here; the fixture's continuous codes give the same numbers whatever the jitter (checked over seeds).
- DCI-ES: andreinicolicioiu/DCI-ES, ``src/loss_capacity/train_model_random_forest.py`` (the probes, D, C
  and I) and ``metrics/explitcitness.py`` (E), on this environment's scikit-learn. Its torch data
  loading, SAGE and XGBoost imports are replaced by stubs that hand it the fixture's codes in order (its
  own loader shuffles them), and its forests run without threads (the same forests; threads sum the
  trees' votes in any order, which flips near-ties between runs); the few lines of ``src/simple_gather.py`` that pick the best capacity's D,
  C and I and build each factor's curve are a script reading result files, so they are restated here.

Numbers in the tests: latent_quantization 9a420a33505e03914f9b4fbfcafd221d25b8162f, DCI-ES
9329daec05ac18038e080596c5bde997d28a1aaa.

    pip install --target /tmp/infomec_ref --no-deps scikit-learn==1.6.1 numpy==2.2.6
    git -C <mirror of kylehkhsu/latent_quantization> archive HEAD disentangle/metrics | tar -x -C /tmp/lq
    git -C <mirror of andreinicolicioiu/DCI-ES> archive HEAD metrics src | tar -x -C /tmp/dcies
    PYTHONPATH=/tmp/infomec_ref python tools/reference_infomec_dci_es.py infomec --reference_repo=/tmp/lq
    python tools/reference_infomec_dci_es.py dci_es --reference_repo=/tmp/dcies
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import sys
import tempfile
import types
import warnings

import joblib
import numpy as np

# DCI-ES probes on the fixture: a shortened depth grid and forest, for a test that runs in seconds.
DCI_ES_DEPTHS = (1, 2, 4, 8, 32)
DCI_ES_TREES = 10
DCI_ES_SEED = 3
# Loss-capacity curves for E alone: (capacities, losses, baseline loss).
CURVES = {
    "falling": ((1, 2, 4, 8, 32), (0.8, 0.5, 0.55, 0.1, 0.12), 11 / 12),
    "flat": ((1, 2, 3, 4), (0.5, 0.5, 0.5, 0.5), 0.5),
    "late": ((1, 2, 4, 8, 32), (0.9, 0.9, 0.9, 0.9, 0.0), 0.9),
}


def _labels(seed: int, n: int) -> np.ndarray:
    import dmelodies_tfds as d

    return d.index_to_factors(np.random.default_rng(seed).integers(0, d.NUM_EXAMPLES, n)).astype(np.int64)


def infomec_fixture(seed: int = 0, n: int = 2000) -> dict[str, tuple[np.ndarray, np.ndarray, bool]]:
    """``{name: (factors (n, 9), latents, discrete_latents)}``: dMelodies labels of ``n`` seeded melodies, and
    as latents: the labels themselves, discrete (as floats: the reference's null input copies their dtype),
    alone and with one duplicated; the labels scaled to [0, 1] and jittered, alone and with one duplicated
    and jittered anew; the scaled labels mixed and noisy; noise alone."""
    import dmelodies_tfds as d

    factors = _labels(seed, n)
    rng = np.random.default_rng(seed + 1)
    labels = factors.astype(np.float64)
    unit = labels / (np.array(d.FACTOR_SIZES) - 1)  # each in [0, 1]: no latent pruned for its narrow range
    jittered = unit + 0.01 * rng.standard_normal(unit.shape)
    mixing = np.eye(9) + 0.3 * rng.standard_normal((9, 9))
    return {
        "oracle": (factors, labels, True),
        "duplicated": (factors, np.concatenate([labels, labels[:, :1]], axis=1), True),
        "jittered": (factors, jittered, False),
        "jittered_duplicated": (factors, np.concatenate(
            [jittered, unit[:, :1] + 0.01 * rng.standard_normal((n, 1))], axis=1), False),
        "mixed": (factors, unit @ mixing + 0.1 * rng.standard_normal((n, 9)), False),
        "noise": (factors, rng.standard_normal((n, 9)), False),
    }


def dci_es_fixture(seed: int = 0, num_train: int = 600, num_test: int = 300) -> dict[str, tuple]:
    """``{name: (codes_train, factors_train, codes_test, factors_test)}``: codes that are dMelodies labels,
    the labels with one duplicated, the labels mixed and noisy, and noise alone."""
    factors = _labels(seed, num_train + num_test)
    rng = np.random.default_rng(seed + 2)
    labels = factors.astype(np.float64)
    mixing = np.eye(9) + 0.3 * rng.standard_normal((9, 9))
    codes = {
        "oracle": labels,
        "duplicated": np.concatenate([labels, labels[:, :1]], axis=1),
        "mixed": labels @ mixing + 0.5 * rng.standard_normal(labels.shape),
        "noise": rng.standard_normal(labels.shape),
    }
    return {name: (x[:num_train], factors[:num_train], x[num_train:], factors[num_train:])
            for name, x in codes.items()}


def _run_infomec(reference_repo: str) -> None:
    path = os.path.join(reference_repo, "disentangle", "metrics", "infomec.py")
    spec = importlib.util.spec_from_file_location("reference_infomec", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import sklearn

    print(f"# scikit-learn {sklearn.__version__}")
    for name, (factors, latents, discrete) in infomec_fixture().items():
        np.random.seed(0)
        with _quiet():
            result = module.compute_infomec(factors, latents, discrete)
        print(f"    \"{name}\": ({float(result['infom'])!r}, {float(result['infoe'])!r}, {float(result['infoc'])!r}),")


class _Dataset:
    """What the reference's forests read of a torch dataset, on arrays: codes and labels / (K - 1)."""

    def __init__(self, codes: np.ndarray, factors: np.ndarray):
        import dmelodies_tfds as d

        self.codes = codes.astype(np.float32)
        self._factor_sizes = list(d.FACTOR_SIZES)
        self._factor_discrete = [True] * len(d.FACTOR_SIZES)
        self._factor_names = list(d.FACTOR_KEYS)
        self.targets = (factors / (np.array(d.FACTOR_SIZES) - 1)).astype(np.float32)

    def __len__(self):
        return len(self.codes)


class _Writer:
    def add_scalar(self, *args, **kwargs):
        del args, kwargs


@contextlib.contextmanager
def _quiet():
    """No progress lines, no convergence or deprecation warnings: only the numbers are printed."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _import_dci_es(reference_repo: str):
    """The reference's forest trainer and explicitness class, its torch, SAGE and XGBoost imports stubbed."""
    import scipy.stats  # noqa: F401  (imported before the stubs: they look for torch tensors on import)
    import sklearn.ensemble  # noqa: F401

    stubs = ("torch", "sage", "xgboost")
    for name in stubs:
        sys.modules[name] = types.ModuleType(name)
    stub = types.ModuleType("loss_capacity.utils")
    stub.get_representations_split = lambda model, dataset, device, num: (dataset.codes[:num], dataset.targets[:num])
    sys.modules["loss_capacity.utils"] = stub
    sys.path[:0] = [os.path.join(reference_repo, "src"), reference_repo]
    try:
        from loss_capacity.train_model_random_forest import train_test_random_forest
        from metrics.explitcitness import Explitcitness
    finally:  # scipy and scikit-learn look for torch tensors: no empty torch module may stay behind
        for name in stubs:
            del sys.modules[name]
    return train_test_random_forest, Explitcitness


def _run_dci_es(reference_repo: str) -> None:
    import dmelodies_tfds as d

    train_test_random_forest, Explitcitness = _import_dci_es(reference_repo)
    import sklearn

    print(f"# scikit-learn {sklearn.__version__}")
    baselines = [1.0 - 1.0 / size for size in d.FACTOR_SIZES]
    for name, (x_train, y_train, x_test, y_test) in dci_es_fixture().items():
        loader = lambda x, y: types.SimpleNamespace(dataset=_Dataset(x, y))  # noqa: E731
        capacities, test_accuracies, dci_scores = [], [], []
        for depth in DCI_ES_DEPTHS:
            # Sequential: threads sum the trees' votes in any order, so near-ties flip from run to run.
            with tempfile.TemporaryDirectory() as folder, _quiet(), joblib.parallel_config(backend="sequential"):
                capacity, _, _, test, scores = train_test_random_forest(
                    model=None, dataloader_train=loader(x_train, y_train), dataloader_val=loader(x_test, y_test),
                    dataloader_test=loader(x_test, y_test), method="rf", max_leaf_nodes=None, max_depth=depth,
                    num_trees=DCI_ES_TREES, seed=DCI_ES_SEED, tb_writer=_Writer(), savefolder=folder, use_sage=False)
            capacities.append(capacity)
            test_accuracies.append(test)
            dci_scores.append(scores)
        losses = 1.0 - np.array(test_accuracies).T  # factors x capacities, as simple_gather's r_scores
        per_factor = []
        for k, baseline in enumerate(baselines):
            curve = Explitcitness()
            curve.add_curve(np.array(capacities, dtype=np.float64), losses[k], baseline, name=f"factor_{k}")
            per_factor.append(curve.get_explitcitness()[f"factor_{k}"])
        best = int(np.argmax([scores["informativeness_test"] for scores in dci_scores]))
        values = (float(np.mean(per_factor)), float(dci_scores[best]["disentanglement"]),
                  float(dci_scores[best]["completeness"]), float(dci_scores[best]["informativeness_test"]),
                  int(capacities[best]))
        print(f"    \"{name}\": {values!r},")
    for name, (capacities, losses, baseline) in CURVES.items():
        curve = Explitcitness()
        curve.add_curve(np.array(capacities, dtype=np.float64), np.array(losses, dtype=np.float64), baseline, name=name)
        print(f"    \"{name}\": {float(curve.get_explitcitness()[name])!r},")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metric", choices=["infomec", "dci_es"])
    parser.add_argument("--reference_repo", required=True, help="a checkout of the metric's reference code")
    args = parser.parse_args(argv)
    (_run_infomec if args.metric == "infomec" else _run_dci_es)(os.path.abspath(args.reference_repo))
    return 0


if __name__ == "__main__":
    sys.exit(main())
