"""TensorFlow's random numbers on JAX and PyTorch (benchmarks.training.philox, .random_numbers): the same
draws for the same seed, and so the same first training steps on every backend."""
import importlib.util
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from benchmarks.training import callbacks, philox
from helpers import QUIET_TENSORFLOW, REPO, run_module, subprocess_env, train_args

pytestmark = pytest.mark.usefixtures("no_gin_bindings")

BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(importlib.util.find_spec(name) is None,
                                                        reason=f"{name} is not installed"))
            for name in ("jax", "torch")]

# Every kind of draw a run makes, from a SeedGenerator (drawn twice: its state advances) and from an int seed.
DRAWS = """
import sys, keras, numpy as np
from benchmarks.training import random_numbers
def draws():
    out = {}
    for seed in (0, 7, 2**31 + 5):
        for shape in [(5,), (3, 7), (64, 33)]:
            key = f"{seed}-{shape}"
            generator = keras.random.SeedGenerator(seed % 2**31)  # Keras on PyTorch holds an int32 state
            out["normal" + key] = keras.random.normal(shape, seed=generator)
            out["normal again" + key] = keras.random.normal(shape, mean=1.5, stddev=0.5, seed=generator)
            out["uniform" + key] = keras.random.uniform(shape, minval=-0.5, maxval=2.0, seed=seed)
            out["truncated normal" + key] = keras.random.truncated_normal(shape, stddev=0.3, seed=seed)
            out["dropout" + key] = keras.random.dropout(keras.ops.ones(shape), 0.2, seed=seed)
    keras.utils.set_random_seed(3)
    out["glorot_normal"] = keras.initializers.GlorotNormal()((64, 48))
    return {name: np.asarray(keras.ops.convert_to_numpy(value)) for name, value in out.items()}
random_numbers.use(sys.argv[2])
np.savez(sys.argv[1], **draws())
"""
TOLERANCE = {"normal": 5e-6, "truncated normal": 2e-6, "glorot_normal": 1e-6, "uniform": 0.0, "dropout": 0.0}


def _draws(backend, kind, path) -> dict:
    completed = subprocess.run([sys.executable, "-c", DRAWS, str(path), kind], cwd=REPO, capture_output=True,
                               text=True, timeout=600, env=subprocess_env(**QUIET_TENSORFLOW, KERAS_BACKEND=backend))
    assert completed.returncode == 0, completed.stderr[-3000:]
    return dict(np.load(path))


@pytest.fixture(scope="module")
def tensorflow_draws(tmp_path_factory):
    return _draws("tensorflow", "tensorflow", tmp_path_factory.mktemp("draws") / "tensorflow.npz")


def test_the_seed_scrambling_is_tensorflows():
    for seed, epoch in ((0, 0), (1, 99), (-1, 5), (2**40 + 3, 2**33)):
        key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(seed=tf.constant([seed, epoch], tf.int64))
        s0, s1 = seed % 2**64, epoch % 2**64
        (k0, k1), (c2, c3) = philox.key_and_counter(s0 & philox.MASK, s0 >> 32, s1 & philox.MASK, s1 >> 32)
        assert key.numpy().tolist() == [k0 | k1 << 32]
        assert counter.numpy().tolist() == [0, c2 | c3 << 32]


def test_the_generator_is_the_same_on_every_array_type():
    """Python ints, numpy uint32 and uint64 (and, in the backend tests, JAX uint32 and PyTorch int64): the
    16-bit products and split constants keep every word within 32 bits."""
    words = [philox.philox(0x12345678, 0xFFFFFFFF, 0x80000000, 7, 0xDEADBEEF, 0xCAFEF00D)]
    for dtype in (np.uint32, np.uint64):
        words.append(philox.philox(*(np.array([v], dtype) for v in (0x12345678, 0xFFFFFFFF, 0x80000000, 7)),
                                   0xDEADBEEF, 0xCAFEF00D))
    assert [int(w[0]) for w in words[1]] == [int(w[0]) for w in words[2]] == list(words[0])
    assert all(0 <= w < 2**32 for w in words[0])


@pytest.mark.integration
@pytest.mark.parametrize("backend", BACKENDS)
def test_draws_are_tensorflows(backend, tensorflow_draws, tmp_path):
    found = _draws(backend, "tensorflow", tmp_path / "found.npz")
    assert found.keys() == tensorflow_draws.keys()
    for name, expected in tensorflow_draws.items():
        tolerance = next(t for prefix, t in TOLERANCE.items() if name.startswith(prefix))
        np.testing.assert_allclose(found[name], expected, rtol=0, atol=tolerance, err_msg=name)
    # The backend's own generator draws other numbers: the comparison above can fail.
    own = _draws(backend, "backend", tmp_path / "own.npz")
    assert not np.allclose(own["normal0-(64, 33)"], tensorflow_draws["normal0-(64, 33)"], atol=0.1)


def test_an_unknown_generator_is_refused():
    from benchmarks.training import random_numbers
    with pytest.raises(ValueError, match="random numbers must be one of 'tensorflow', 'backend', not 'numpy'"):
        random_numbers.use("numpy")
    assert random_numbers.in_use() == "tensorflow"


def _first_steps(name, backend, root) -> dict:
    """The batch-by-batch training logs of three steps of gin_configs/<name>.gin on the backend."""
    bindings = ["train.dataset = @GeneratedSource()", "GeneratedSource.config = 'tiny'", "train.epochs = 1",
                "train.steps_per_epoch = 3", "train.batch_size = 64", "train.log_every_steps = 1",
                "train.steps_per_execution = 1", "train.validation_steps = 1", "train.verbose = 0"]
    model_dir = root / f"{name}-{backend}"
    completed = run_module("benchmarks.train", *train_args(name, bindings, model_dir), f"--backend={backend}")
    assert completed.returncode == 0, completed.stderr[-3000:]
    return {tag: values for tag, values in callbacks.read_scalars(str(model_dir / "logs" / "train")).items()
            if not tag.startswith("epoch_")}


@pytest.mark.integration
def test_the_first_steps_are_tensorflows(tmp_path):
    """The same seed, data and configuration: every logged value of the first three steps (losses, KL,
    accuracies, the discriminator's) equals TensorFlow's to float32 rounding on JAX and PyTorch. The RNN
    FactorVAE draws every kind of random number a run draws: initial weights, samples, dropout, teacher
    forcing and permutations."""
    name = "rnn_factor_vae"
    expected = _first_steps(name, "tensorflow", tmp_path)
    assert len(expected["loss"]) == 3
    for backend in [p.values[0] for p in BACKENDS if importlib.util.find_spec(p.values[0])]:
        found = _first_steps(name, backend, tmp_path)
        assert found.keys() == expected.keys()
        for tag, values in expected.items():
            np.testing.assert_allclose([v for _, v in found[tag]], [v for _, v in values], rtol=2e-6, atol=1e-6,
                                       err_msg=f"{backend} {tag}")
