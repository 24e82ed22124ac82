"""TensorFlow's random numbers on every Keras backend, so that a seed means the same run on each.

A run's randomness is Keras': initial weights (``glorot_normal``: a truncated normal), posterior samples
(a normal), dropout masks, teacher forcing and FactorVAE's permutations (uniforms), each drawn from a
``keras.random.SeedGenerator`` seeded by ``keras.utils.set_random_seed``. The generators' seeds are the same
on every backend, but each backend turns a seed into numbers its own way: TensorFlow with Philox
(``tf.random.stateless_*``), JAX with Threefry, PyTorch with its own generator. So the same seed trained
different networks on different backends.

:func:`use` ``("tensorflow")`` makes the JAX and PyTorch backends draw what TensorFlow draws for the same
seed: Keras' ``normal``, ``uniform``, ``truncated_normal`` and ``dropout`` are replaced by copies of
TensorFlow 2.21's kernels written in ``keras.ops`` on :mod:`benchmarks.training.philox` (traceable, so they
run inside a jitted or vmapped step). They are TensorFlow's numbers to float32 rounding: the Box-Muller
transform's ``log``, ``sin`` and ``cos`` come from each backend's maths library, and TensorFlow scales by 2π
in double precision where these scale in single. Uniforms and dropout masks are exact. A truncated normal
takes the first four of each group's first 32 draws that fall within two standard deviations, as
TensorFlow does; it would differ only if 29 of them fell outside (probability below 1e-35).
:func:`use` ``("backend")`` restores the backend's own generator. On TensorFlow both are TensorFlow's.

TensorFlow's algorithms (``tensorflow/core/kernels/stateless_random_ops*.cc``, ``random_distributions.h``):
the seed pair, reduced modulo 2**31 - 2 as Keras does on TensorFlow, becomes a Philox key and counter
(:func:`~benchmarks.training.philox.key_and_counter`); the output is filled block by block, block ``b``
being Philox of the counter plus ``b``; a 32-bit word ``w`` is the uniform ``(w & 0x7FFFFF) / 2**23``; a
normal block is the Box-Muller pairs (words 0, 1) and (2, 3), each giving ``(sin, cos)(2π u1) *
sqrt(-2 log max(u0, 1e-7))``; a truncated normal's group ``g`` of four starts at block ``256 g``; dropout
keeps ``x / (1 - rate)`` where the uniform is at least ``rate``.
"""
from __future__ import annotations

import importlib
import math

import keras
from keras import ops

from benchmarks.training import philox

KINDS = ("tensorflow", "backend")
_REPLACED = ("normal", "uniform", "truncated_normal", "dropout")
_originals: dict[str, dict] = {}
_TRUNCATED_GROUP_BLOCKS = 256  # TensorFlow reserves 256 samples for each group of four outputs
_TRUNCATED_CANDIDATE_BLOCKS = 8  # of which the first 32 are tried here


def _integers(values):
    """Words in an integer type the backend computes 32-bit arithmetic in: JAX's uint32 wraps; PyTorch has
    no usable uint32, so int64 (the products in philox never exceed 32 bits)."""
    return ops.cast(values, "uint32" if keras.backend.backend() == "jax" else "int64")


def _key_and_counter(seed):
    """TensorFlow's key and counter for a Keras seed (an int, a SeedGenerator, or a drawn seed tensor)."""
    if not ops.is_tensor(seed):
        seed = _draw_seed(seed)
    words = philox.wrap(_integers(seed)) % (2**31 - 2)  # Keras' _cast_seed on TensorFlow
    return philox.key_and_counter(words[0], 0, words[1], 0)


def _draw_seed(seed):
    from keras.src.random.seed_generator import draw_seed  # Keras' own seed arithmetic, shared by backends
    return draw_seed(seed)


def _elements(shape, seed, normal: bool):
    """TensorFlow's uniform words (``normal`` False) or normals for ``shape``: element ``e`` (in row-major
    order) is word, or Box-Muller output, ``e % 4`` of block ``e // 4``."""
    count = _size(shape)
    key, counter_high = _key_and_counter(seed)
    words = philox.blocks(_integers(ops.arange(-(-count // 4), dtype="int32")), key, counter_high)
    element = _integers(ops.arange(count, dtype="int32"))
    values = _pick(words, element // 4, element % 4, normal)
    return ops.reshape(values, shape)


def _pick(words, block, position, normal: bool):
    """Word ``position`` of block ``block`` (or that position's normal), element by element. Gathered and
    selected rather than stacked: XLA's CPU code for a stack of the four words (a concatenation) fused with
    the rounds that compute them runs a CNN step some 20 times slower."""
    w0, w1, w2, w3 = (ops.take(w, block, axis=0) for w in words)
    if not normal:
        return ops.where(position == 0, w0, ops.where(position == 1, w1, ops.where(position == 2, w2, w3)))
    second = position >= 2
    sine, cosine = _box_muller(ops.where(second, w2, w0), ops.where(second, w3, w1))
    return ops.where(position % 2 == 0, sine, cosine)


def _unit(words):
    """TensorFlow's Uint32ToFloat: the word's low 23 bits as a float in [0, 1), exactly."""
    return ops.cast(words & 0x7FFFFF, "float32") * (2.0 ** -23)


def _box_muller(x0, x1):
    u0 = ops.maximum(_unit(x0), 1e-7)
    angle = _unit(x1) * (2.0 * math.pi)
    radius = ops.sqrt(-2.0 * ops.log(u0))
    return ops.sin(angle) * radius, ops.cos(angle) * radius


def _size(shape) -> int:
    return math.prod(int(d) for d in shape)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """``tf.random.stateless_normal``."""
    return ops.cast(_elements(shape, seed, normal=True) * stddev + mean, dtype or keras.config.floatx())


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """``tf.random.stateless_uniform`` for floats."""
    span = ops.cast(maxval, "float32") - ops.cast(minval, "float32")
    values = _unit(_elements(shape, seed, normal=False)) * span + ops.cast(minval, "float32")
    return ops.cast(values, dtype or keras.config.floatx())


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """``tf.random.stateless_truncated_normal``: normals within two standard deviations."""
    count = _size(shape)
    groups = -(-count // 4)
    # Group g's 32 candidates are the normals of its blocks 256 g .. 256 g + 7, in order.
    key, counter_high = _key_and_counter(seed)
    group = _integers(ops.arange(groups, dtype="int32"))[:, None]
    blocks = _integers(ops.arange(_TRUNCATED_CANDIDATE_BLOCKS, dtype="int32"))[None, :]
    words = philox.blocks(ops.reshape(group * _TRUNCATED_GROUP_BLOCKS + blocks, (-1,)), key, counter_high)
    candidate = _integers(ops.arange(4 * _TRUNCATED_CANDIDATE_BLOCKS, dtype="int32"))[None, :]
    row = ops.reshape(group * _TRUNCATED_CANDIDATE_BLOCKS + candidate // 4, (-1,))
    position = ops.reshape(candidate % 4 + group * 0, (-1,))
    candidates = ops.reshape(_pick(words, row, position, normal=True), (groups, -1))
    inside = ops.abs(candidates) < 2.0
    rank = ops.cumsum(ops.cast(inside, "int32"), axis=1)
    chosen = [ops.argmax(ops.logical_and(inside, ops.equal(rank, k)), axis=1) for k in range(1, 5)]
    values = ops.take_along_axis(candidates, ops.stack(chosen, axis=1), axis=1)
    values = ops.reshape(values, (-1,))[:count]
    return ops.cast(ops.reshape(values, shape) * stddev + mean, dtype or keras.config.floatx())


def dropout(inputs, rate, noise_shape=None, seed=None):
    """``tf.nn.experimental.stateless_dropout``: ``inputs / (1 - rate)`` where a uniform is at least ``rate``."""
    if rate == 1.0:
        return ops.zeros_like(inputs)
    if rate == 0.0:
        return inputs
    shape = tuple(ops.shape(inputs))
    if noise_shape is not None:
        shape = tuple(size if size is not None else shape[i] for i, size in enumerate(noise_shape))
    keep = uniform(shape, dtype="float32", seed=seed) >= ops.cast(rate, "float32")
    scaled = inputs * ops.cast(1.0 / (1.0 - rate), inputs.dtype)
    return ops.where(keep, scaled, ops.zeros_like(scaled))


def _backend_module():
    """The current backend's ``keras.src.backend.<name>.random`` module, or None on TensorFlow (whose
    numbers are TensorFlow's already)."""
    name = keras.backend.backend()
    return importlib.import_module(f"keras.src.backend.{name}.random") if name in ("jax", "torch") else None


def use(kind: str = "tensorflow") -> None:
    """Draws Keras' random numbers on the current backend as ``kind`` says: ``"tensorflow"`` (TensorFlow's
    numbers for the same seed, on every backend) or ``"backend"`` (the backend's own generator)."""
    if kind not in KINDS:
        raise ValueError(f"random numbers must be one of {', '.join(map(repr, KINDS))}, not {kind!r}")
    module = _backend_module()
    if module is None:
        return
    originals = _originals.setdefault(keras.backend.backend(), {f: getattr(module, f) for f in _REPLACED})
    for function in _REPLACED:
        setattr(module, function, globals()[function] if kind == "tensorflow" else originals[function])


def in_use() -> str:
    """Which generator Keras draws from now: ``"tensorflow"`` or ``"backend"``."""
    module = _backend_module()
    return "tensorflow" if module is None or module.normal is normal else "backend"
