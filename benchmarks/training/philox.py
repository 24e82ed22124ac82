"""TensorFlow's counter-based generator, Philox4x32-10, written with array operators alone.

TensorFlow's stateless random ops (``tf.random.stateless_*``, hence Keras' random numbers on TensorFlow and
``tf.random.experimental.stateless_shuffle``) draw from Philox4x32-10 (Salmon et al., "Parallel random
numbers: as easy as 1, 2, 3", SC 2011). The functions here use only ``*``, ``+``, ``>>``, ``<<``, ``&``,
``|`` and ``^``, so they run unchanged on numpy, JAX and PyTorch integer arrays, traced or not:
:mod:`benchmarks.training.order` computes TensorFlow's data order with them, and
:mod:`benchmarks.training.random_numbers` TensorFlow's random numbers on the other Keras backends.

Words are 32-bit values held in any integer type of at least 32 bits (uint32 wraps on its own; wider types
are masked where a sum could exceed 32 bits). Constants of 2**31 or more are never combined with an array
whole: JAX reads a Python int operand as an int32. The 32x32-bit products are computed from 16-bit halves, so no
intermediate value exceeds 32 bits: no 64-bit type is needed (JAX has none unless x64 is enabled).
"""
from __future__ import annotations

MASK = 0xFFFFFFFF
# The fixed key under which TensorFlow scrambles a seed into a key and counter (GenerateKey in
# tensorflow/core/kernels/stateless_random_ops.cc).
SEED_KEY = (0x3EC8F720, 0x02461E29)
_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_KEY_INCREMENTS = (0x9E3779B9, 0xBB67AE85)


def wrap(word):
    """``word`` reduced to its low 32 bits (a no-op on 32-bit arrays, which wrap by themselves)."""
    itemsize = getattr(getattr(word, "dtype", None), "itemsize", None)
    return word if itemsize == 4 else word & MASK


def _add(word, constant: int):
    """``word + constant`` modulo 2**32, the constant added in two halves below 2**31."""
    half = constant >> 1
    return wrap(word + half + (constant - half))


def _multiply(word, constant: int):
    """The high and low 32-bit words of ``word * constant`` (``constant`` a Python int below 2**32)."""
    c_low, c_high = constant & 0xFFFF, constant >> 16
    w_low, w_high = word & 0xFFFF, word >> 16
    low_low, high_low, low_high = w_low * c_low, w_high * c_low, w_low * c_high
    cross = (low_low >> 16) + (high_low & 0xFFFF) + low_high  # at most 2**32 - 1
    high = w_high * c_high + (high_low >> 16) + (cross >> 16)
    low = ((cross & 0xFFFF) << 16) | (low_low & 0xFFFF)
    return high, low


def philox(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of the counters ``(c0, c1, c2, c3)`` under the key ``(k0, k1)`` (TensorFlow's
    ``PhiloxRandom::operator()``): the four output words. Counters broadcast against each other, and keys
    may be Python ints or arrays."""
    if not isinstance(c0, int):  # Python int keys of 2**31 or more as arrays of the counters' type
        k0, k1 = (_add(c0 * 0, k) if isinstance(k, int) else k for k in (k0, k1))
    for _ in range(10):
        high0, low0 = _multiply(c0, _MULTIPLIERS[0])
        high1, low1 = _multiply(c2, _MULTIPLIERS[1])
        c0, c1, c2, c3 = high1 ^ c1 ^ k0, low1, high0 ^ c3 ^ k1, low0
        k0, k1 = _add(k0, _KEY_INCREMENTS[0]), _add(k1, _KEY_INCREMENTS[1])
    return c0, c1, c2, c3


def key_and_counter(s0, s1, s2, s3):
    """The key ``(k0, k1)`` and the high counter words ``(c2, c3)`` TensorFlow derives from a seed pair whose
    two 64-bit values have the 32-bit words ``(s0, s1)`` and ``(s2, s3)``, lowest first: one Philox block of
    the seed under :data:`SEED_KEY` (the low counter words start at zero)."""
    m0, m1, m2, m3 = philox(s0, s1, s2, s3, *SEED_KEY)
    return (m0, m1), (m2, m3)


def blocks(index, key, counter_high):
    """The four words of blocks ``index`` (an integer array below 2**32) of the generator with ``key`` and
    counter ``(0, 0, *counter_high)``: Philox of the counter plus the block's index (no carry into the high
    words below 2**32 blocks)."""
    return philox(index, index * 0, *counter_high, *key)
