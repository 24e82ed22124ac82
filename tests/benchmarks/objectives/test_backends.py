"""Every objective's loss, gradients and one training step agree on TensorFlow, JAX and PyTorch, from the
same weights, batch and random draws (``backend_worker.py`` computes them on one backend per process)."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import QUIET_TENSORFLOW, subprocess_env

WORKER = os.path.join(os.path.dirname(__file__), "backend_worker.py")
OTHER_BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(importlib.util.find_spec(module) is None,
                                                              reason=f"{module} is not installed"))
                  for name, module in (("jax", "jax"), ("torch", "torch"))]
# float32 sums in another order: most tensors agree to ~1e-6 of their largest element; DIP-VAE-I's
# covariance penalty (weights 10 and 100) and the supervised losses come to ~6e-5.
TOLERANCE = 2e-4


def run_worker(backend: str, weights, out) -> dict:
    completed = subprocess.run([sys.executable, WORKER, str(weights), str(out)], capture_output=True, text=True,
                               timeout=1200, env=subprocess_env(**QUIET_TENSORFLOW, KERAS_BACKEND=backend))
    assert completed.returncode == 0, completed.stderr[-3000:]
    with np.load(out) as stored:
        results = dict(stored)
    assert str(results.pop("backend")) == backend
    return results


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """TensorFlow's numbers, and the weights file every backend starts from."""
    folder = tmp_path_factory.mktemp("backends")
    weights = folder / "weights.npz"
    return weights, run_worker("tensorflow", weights, folder / "tensorflow.npz")


def differences(expected: dict, found: dict) -> dict:
    """The largest difference of each quantity, relative to its reference tensor's largest magnitude."""
    assert set(found) == set(expected)
    return {key: float(np.max(np.abs(found[key] - value)) / max(float(np.max(np.abs(value))), 1e-12))
            for key, value in expected.items() if value.size}


@pytest.mark.integration
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_losses_gradients_and_a_step_agree_with_tensorflow(reference, backend, tmp_path):
    weights, expected = reference
    found = run_worker(backend, weights, tmp_path / f"{backend}.npz")
    worst = differences(expected, found)
    assert not {key: value for key, value in worst.items() if value > TOLERANCE}
    # Every case computed something: gradients of every weight, and weights that moved.
    cases = {key.rsplit("/loss", 1)[0] for key in expected if key.endswith("/loss") and "step" not in key}
    assert len(cases) == 9
    for case in cases:
        assert any(np.any(found[k] != 0) for k in found if k.startswith(f"{case}/gradient/"))


def test_the_comparison_fails_when_one_backend_step_is_wrong(reference):
    """The measure above, on a step whose update is off by a part in a thousand, or skips one weight."""
    _, expected = reference
    key = next(k for k in expected if "/stepped/encoder/" in k and expected[k].ndim == 2)
    scaled = dict(expected, **{key: expected[key] * 1.001})
    assert max(differences(expected, scaled).values()) > TOLERANCE
    gradient = next(k for k in expected if "/gradient/" in k)
    zeroed = dict(expected, **{gradient: np.zeros_like(expected[gradient])})
    assert max(differences(expected, zeroed).values()) == pytest.approx(1.0)
