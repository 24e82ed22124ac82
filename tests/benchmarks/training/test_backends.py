"""A run through ``python -m benchmarks.train --backend=jax|torch``: it trains, resumes from its own
checkpoints where an interrupted run left them, records its backend, and leaves networks that load and
score on any backend. The JAX run trains where neither TensorFlow nor TFDS can be imported (as on an
accelerator with JAX alone), on the melodies the numpy core generates."""
import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from benchmarks.evaluation import representation
from benchmarks.models import build_cnn_vae
from benchmarks.objectives import FactorVAE
from benchmarks.training import data, order
from helpers import QUIET_TENSORFLOW, REPO, run_module, subprocess_env, tiny_bindings, train_args

pytestmark = pytest.mark.usefixtures("no_gin_bindings")

BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(importlib.util.find_spec(name) is None,
                                                        reason=f"{name} is not installed"))
            for name in ("jax", "torch")]

ENCODE = """
import sys, numpy as np
from benchmarks.evaluation import representation
encoder = representation.load_encoder(sys.argv[1])
np.save(sys.argv[3], representation.posterior_mean(encoder)(np.load(sys.argv[2])))
"""


# benchmarks.train in a process where importing TensorFlow or TFDS fails.
WITHOUT_TENSORFLOW = """
import sys
sys.modules["tensorflow"] = sys.modules["tensorflow_datasets"] = None
from benchmarks import cli
from benchmarks.train import main
cli.run(main)
"""


def train(backend, bindings, model_dir):
    args = [*train_args("cnn_factor_vae", bindings, model_dir), f"--backend={backend}"]
    if backend != "jax":
        return run_module("benchmarks.train", *args)
    return subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env=subprocess_env(**QUIET_TENSORFLOW))


@pytest.mark.integration
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_trains_resumes_and_scores_on_the_backend(backend, data_dir, tmp_path):
    # Two epochs of 4 steps, checkpoints every 2 steps, the newest two kept: 6 and 8. Two steps per call
    # by default (one on PyTorch, which Keras runs step by step).
    bindings = tiny_bindings(data_dir, **{"train.steps_per_epoch": 4, "train.checkpoint_every_steps": 2})
    if backend == "jax":
        bindings += ["train.dataset = @GeneratedSource()", "GeneratedSource.config = 'tiny'"]
    model_dir = tmp_path / "run"
    finished = train(backend, bindings, model_dir)
    assert finished.returncode == 0, finished.stderr[-3000:]
    # Jitted on JAX, where Keras would otherwise run the step op by op (docs/performance.md).
    compiled = "compiled by XLA" if backend == "jax" else "without XLA"
    assert f"training step on {backend}, {compiled}" in finished.stderr
    with open(model_dir / "results.json") as file:
        reference = json.load(file)
    assert reference["backend"] == backend and reference["steps"] == 8
    assert sorted(os.listdir(model_dir / "checkpoints")) == ["ckpt-6.npz", "ckpt-8.npz"]

    # As if killed while writing step 8's checkpoint: it is cut short, and nothing after it exists.
    (model_dir / "results.json").unlink()
    newest = model_dir / "checkpoints" / "ckpt-8.npz"
    newest.write_bytes(newest.read_bytes()[:1000])
    resumed = train(backend, bindings, model_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "ckpt-8.npz is damaged" in resumed.stderr and "Resuming at step 6 of 8" in resumed.stderr
    with open(model_dir / "results.json") as file:
        results = json.load(file)
    # Restored weights, both optimisers' slots, random generators and data order: the same run.
    assert results["test_metrics"] == reference["test_metrics"]

    # The saved encoder gives the same codes on the backend that trained it and on TensorFlow.
    tokens = data.TFDSSource(config="tiny", data_dir=str(data_dir)).load("test")[:64]
    np.save(tmp_path / "tokens.npy", tokens)
    encoded = subprocess.run([sys.executable, "-c", ENCODE, str(model_dir), str(tmp_path / "tokens.npy"),
                              str(tmp_path / "codes.npy")], cwd=REPO, capture_output=True, text=True,
                             timeout=600, env=subprocess_env(**QUIET_TENSORFLOW, KERAS_BACKEND=backend))
    assert encoded.returncode == 0, encoded.stderr[-3000:]
    codes = representation.posterior_mean(representation.load_encoder(str(model_dir)))(tokens)
    np.testing.assert_allclose(codes, np.load(tmp_path / "codes.npy"), rtol=1e-5, atol=1e-5)

    scored = run_module("benchmarks.evaluate", f"--model_dir={model_dir}", "--gin_file=gin_configs/metrics/mig.gin",
                        "--gin_bindings=mig.num_train=500")
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert os.path.exists(model_dir / "metrics" / "mig.json")


def test_batches_off_tensorflow_are_the_tf_data_batches():
    """The numpy pipeline the other backends read gives the ``tf.data`` pipeline's batches, labels alike,
    resumed mid-epoch included."""
    tokens = np.arange(230 * 16, dtype=np.int32).reshape(230, 16)
    labels = np.arange(230 * 9, dtype=np.int32).reshape(230, 9)
    expected = data.training_batches((tokens, labels), 32, seed=5, steps_per_epoch=6, first_epoch=1, skip=4)
    found = data._numpy_training_batches((tokens, labels), 32, 5, 6, 1, 4)
    for (want_tokens, want_labels), (got_tokens, got_labels) in zip(expected.take(12).as_numpy_iterator(), found):
        np.testing.assert_array_equal(got_tokens, want_tokens)
        np.testing.assert_array_equal(got_labels, want_labels)
    batches = data.OrderedBatches(tokens, 100)
    assert len(batches) == 3 and batches[2][0].shape == (30, 16)
    assert order.permutation(230, 5, 1).shape == (230,)


def test_a_model_ready_to_train_is_built():
    """Keras' fit() on JAX and PyTorch builds an unbuilt model from a batch it takes out of the training
    stream, shifting every later batch by one (and a resumed run's next epochs by one more)."""
    model = FactorVAE(build_cnn_vae(), steps_per_epoch=1)
    model.compile(optimizer=keras.optimizers.Adam())
    model.build_optimizers()
    assert all(layer.built for layer in (model, model.sampling, model.encoder, model.decoder, model.discriminator))
