"""The training data order without TensorFlow: numpy's copy of ``tf.random.experimental.stateless_shuffle``.

:func:`benchmarks.training.data.training_batches` visits epoch ``e`` in the order
``stateless_shuffle(tf.range(n), seed=[seed, e])``. :func:`permutation` computes that order element for
element with numpy alone (for the JAX and PyTorch backends), and :func:`batch_rows` cuts it into the same
stream of batches. TensorFlow 2.21 does this (on the CPU: StatelessShuffle has no GPU kernel):

1. Seed to key and counter (``StatelessRandomGetKeyCounter``, ``GenerateKey``): one Philox4x32-10 block of the
   counter ``(seed & 2**32-1, seed >> 32, e & 2**32-1, e >> 32)`` under the fixed key
   ``(0x3EC8F720, 0x02461E29)`` gives the words ``m0..m3``; the key becomes ``(m0, m1)`` and the counter
   ``(0, 0, m2, m3)``. ``alg="auto_select"`` resolves to Philox.
2. The generator (``PhiloxRandom`` through ``SingleSampleAdapter``): block ``b`` is Philox4x32-10 of the
   counter plus ``b`` (a 128-bit add, lowest word first); its four 32-bit words are used in order.
3. The shuffle (``ShuffleRange`` in ``shuffle_common.h``): Fisher-Yates from the front, exactly ``n - 1``
   draws: for ``i = 0 .. n-2``, swap elements ``i`` and ``i + r_i % (n - i)``, with ``r_i`` the i-th word
   (plain modulo, no rejection). ``n <= 1`` is returned as it is.

The draws are vectorised; the swaps, a sequential loop in TensorFlow, are unwound with a sort (see
:func:`_swap_all`), so that a permutation of dMelodies' 948,326 training examples takes under a second.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from benchmarks.training import philox


def _words(count: int, seed: int, epoch: int) -> np.ndarray:
    """The first ``count`` 32-bit words of the generator of the int64 seed pair ``[seed, epoch]``, as uint64."""
    s0, s1 = int(seed) % 2**64, int(epoch) % 2**64  # int64 -> uint64, as the kernel casts
    key, counter_high = philox.key_and_counter(s0 & philox.MASK, s0 >> 32, s1 & philox.MASK, s1 >> 32)
    index = np.arange(-(-count // 4), dtype=np.uint64)
    return np.stack(philox.blocks(index, key, counter_high), axis=1).reshape(-1)[:count]


def _swap_all(target: np.ndarray) -> np.ndarray:
    """``a = arange(n)`` after ``a[i], a[target[i]] = a[target[i]], a[i]`` for ``i = 0, 1, ..., n-1`` in turn,
    where ``i <= target[i] < 2**32``: Fisher-Yates' swaps, without a Python loop.

    Step ``i`` fixes ``a[i]`` for good to the value then at ``target[i]``, and moves the value then at ``i``
    (call it ``moved[i]``) to ``target[i]``. A position ``p >= i`` holds, before step ``i``, what the last
    earlier step aimed at ``p`` moved there, or ``p`` itself if none did. So ``a[i]`` is ``moved[s]`` for the
    last step ``s < i`` with the same target, else ``target[i]``; and ``moved[k]`` is ``moved[t]`` for the last
    step ``t < k`` aimed at ``k``, else ``k``: chains of earlier steps, followed by pointer doubling.
    """
    n = len(target)
    steps = np.arange(n)
    low = np.argsort(target.astype(np.uint16), kind="stable")  # by target, then by step: two stable
    order = low[np.argsort((target[low] >> 16).astype(np.uint16), kind="stable")]  # 16-bit radix passes
    same = target[order[1:]] == target[order[:-1]]
    previous = np.full(n, -1)  # the last earlier step with the same target as step i
    previous[order[1:][same]] = order[:-1][same]
    ends = order[np.append(~same, True)]
    last = np.full(n, -1)  # the last step aimed at position p (all are at or before step p)
    last[target[ends]] = ends
    # The last step before k aimed at k: the last one aimed at k, or the one before it if that is k itself.
    before = np.where(target == steps, previous, last)
    moved = np.where(before >= 0, before, steps)  # a step index, until the chains are followed to their ends
    while not np.array_equal(following := moved[moved], moved):
        moved = following
    return np.where(previous >= 0, moved[np.maximum(previous, 0)], target)


def permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """``tf.random.experimental.stateless_shuffle(tf.range(num_examples), seed=[seed, epoch])`` (int64 seeds,
    TensorFlow 2.21 on CPU), element for element, as int64."""
    if not 0 <= num_examples < 2**32:  # TensorFlow's draw takes n - i as uint32: it would wrap above
        raise ValueError(f"num_examples must be in [0, 2**32), not {num_examples}")
    if num_examples <= 1:
        return np.arange(num_examples, dtype=np.int64)
    draws = _words(num_examples - 1, seed, epoch)
    remaining = np.arange(num_examples, 1, -1, dtype=np.uint64)  # n - i for i = 0 .. n-2
    target = np.arange(num_examples - 1, dtype=np.uint64) + draws % remaining
    return _swap_all(np.append(target.astype(np.int64), num_examples - 1))  # the last step swaps nothing


def batch_rows(num_examples: int, batch_size: int, seed: int, steps_per_epoch: int | None = None,
               first_epoch: int = 0, skip: int = 0) -> Iterator[np.ndarray]:
    """The row indices (batch_size,) of the batches of ``training_batches(examples, batch_size, seed,
    steps_per_epoch, first_epoch, skip)``, endlessly: epoch ``e`` is the first ``steps_per_epoch`` full
    batches of ``permutation(num_examples, seed, e)`` (all of them when None), and the stream starts ``skip``
    batches into epoch ``first_epoch``."""
    full = num_examples // batch_size
    steps = full if steps_per_epoch is None else steps_per_epoch
    if not 0 < steps <= full:
        raise ValueError(f"{steps} steps per epoch need {steps} batches of {batch_size}, but the training "
                         f"split has {num_examples} examples ({full} full batches)")
    epoch, skip = first_epoch + skip // steps, skip % steps  # tf.data skips across epochs alike
    while True:
        rows = permutation(num_examples, seed, epoch)[:steps * batch_size].reshape(steps, batch_size)
        yield from rows[skip:]
        epoch, skip = epoch + 1, 0
