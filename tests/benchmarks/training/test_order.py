"""The numpy training order (benchmarks.training.order) against TensorFlow's: the same permutations and batches."""
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from benchmarks.training import data, order


def _tensorflow(num_examples, seed, epoch):
    """The order of epoch ``epoch`` as training_batches computes it."""
    seeds = tf.stack([tf.constant(seed, tf.int64), tf.constant(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(num_examples), seed=seeds).numpy()


def _fisher_yates(num_examples, seed, epoch):
    """TensorFlow's ShuffleRange (shuffle_common.h) transcribed: a swap loop over the generator's words."""
    values = list(range(num_examples))
    words = order._words(max(num_examples - 1, 0), seed, epoch).tolist()
    for i, word in enumerate(words):
        j = i + word % (num_examples - i)
        values[i], values[j] = values[j], values[i]
    return values


@pytest.mark.parametrize("num_examples", [0, 1, 2, 3, 7, 1000, 7000, 65537])
def test_permutation_is_tensorflows(num_examples):
    for seed, epoch in itertools.product(range(4), (0, 1, 99)):
        expected = _tensorflow(num_examples, seed, epoch)
        np.testing.assert_array_equal(order.permutation(num_examples, seed, epoch), expected,
                                      err_msg=f"n={num_examples} seed={seed} epoch={epoch}")


def test_permutation_of_the_dmelodies_training_split_is_tensorflows():
    np.testing.assert_array_equal(order.permutation(948_326, 1, 99), _tensorflow(948_326, 1, 99))


def test_every_small_size_and_larger_seeds():
    for num_examples in range(40):
        for seed, epoch in ((0, 5), (3, 2**40 + 1), (2**63 - 1, -1)):
            np.testing.assert_array_equal(order.permutation(num_examples, seed, epoch),
                                          _tensorflow(num_examples, seed, epoch))


def test_the_unwound_swaps_are_the_swap_loop():
    for num_examples in (2, 5, 64, 3000):
        for seed in range(25):
            assert order.permutation(num_examples, seed, 7).tolist() == _fisher_yates(num_examples, seed, 7)


def _tensorflow_rows(num_examples, batch_size, seed, count, **kwargs):
    batches = data.training_batches(np.arange(num_examples), batch_size, seed, **kwargs)
    return [batch.tolist() for batch in batches.take(count).as_numpy_iterator()]


def _rows(num_examples, batch_size, seed, count, **kwargs):
    batches = order.batch_rows(num_examples, batch_size, seed, **kwargs)
    return [batch.tolist() for batch in itertools.islice(batches, count)]


@pytest.mark.parametrize("kwargs", [dict(), dict(steps_per_epoch=4), dict(steps_per_epoch=4, first_epoch=2),
                                    dict(steps_per_epoch=4, first_epoch=1, skip=3),
                                    dict(steps_per_epoch=4, skip=9), dict(first_epoch=5, skip=14)])
def test_batch_rows_are_training_batches(kwargs):
    assert _rows(1000, 64, 3, 40, **kwargs) == _tensorflow_rows(1000, 64, 3, 40, **kwargs)


def test_batch_rows_of_the_tiny_split():
    assert _rows(7000, 512, 0, 30) == _tensorflow_rows(7000, 512, 0, 30)


def test_batch_rows_checks_the_epoch_like_training_batches():
    with pytest.raises(ValueError, match="11 steps per epoch need 11 batches of 100"):
        next(order.batch_rows(1000, 100, 0, 11))
    with pytest.raises(ValueError, match="num_examples"):
        order.permutation(2**32, 0, 0)


def test_the_module_needs_numpy_alone():
    code = ("import sys; import benchmarks.training.order as o; o.permutation(10, 0, 0); "
            "print(sorted({'tensorflow', 'jax', 'torch', 'keras'} & set(sys.modules)))")
    repository = Path(__file__).resolve().parents[3]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repository)
    assert result.stdout.strip() == "[]"
