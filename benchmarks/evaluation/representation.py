"""A training run's saved networks as the numpy functions disentanglement_lib's metrics call.

A finished run (``python -m benchmarks.train``) leaves ``encoder.keras`` (tokens (batch, 16) int32 ->
``[z_mean, z_log_std]``, each (batch, 32), Keras' own layers only) and ``decoder.keras`` (z -> logits
(batch, 16, vocabulary)), on whichever Keras backend trained them. The metrics call the representation on
thousands of batches of 16 to 64 melodies; each network is therefore traced once into a ``tf.function`` on
TensorFlow (``predict`` per small batch is about 20x slower), jitted on JAX, and called directly (without
autograd) on PyTorch, always in inference mode, dropout off (protocol §8).

- :func:`posterior_mean`: the code disentanglement_lib's standard studies score.
- :func:`posterior_sample`: ``z = mean + exp(log_std) * eps`` with seeded ``eps``, the paper's protocol (protocol §7).
"""
from __future__ import annotations

import importlib
import os
import zipfile
from typing import Callable

import gin
import keras
import numpy as np

import dmelodies_tfds as d

ENCODER_FILE, DECODER_FILE = "encoder.keras", "decoder.keras"
RepresentationFunction = Callable[[np.ndarray], np.ndarray]


def _load(model_dir: str, filename: str) -> keras.Model:
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"model_dir {model_dir} does not exist")
    path = os.path.join(model_dir, filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{model_dir} has no {filename}: python -m benchmarks.train writes it when a run finishes")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is damaged: not a complete .keras (zip) archive; retrain the run or restore the file")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)  # never deserialise code
    except Exception as error:  # noqa: BLE001 - a damaged archive fails in many ways (zip, h5, JSON, shapes)
        raise ValueError(f"{path} is damaged and cannot be loaded ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else 'no details'}); retrain the run "
                         "or restore the file") from None


def load_encoder(model_dir: str) -> keras.Model:
    """The run's encoder; ``FileNotFoundError`` naming what is missing, ``ValueError`` for a wrong shape."""
    encoder = _load(model_dir, ENCODER_FILE)
    if len(encoder.outputs) != 2 or encoder.outputs[0].shape != encoder.outputs[1].shape:
        raise ValueError(f"{os.path.join(model_dir, ENCODER_FILE)} must output [z_mean, z_log_std] of equal "
                         f"shapes, got {[tuple(o.shape) for o in encoder.outputs]}")
    return encoder


def load_decoder(model_dir: str) -> keras.Model:
    """The run's decoder; its custom layers are registered by importing :mod:`benchmarks.models`."""
    with gin.unlock_config():  # it registers gin configurables, possibly after a config was parsed
        importlib.import_module("benchmarks.models")
    return _load(model_dir, DECODER_FILE)


def inference_function(model: keras.Model, input_shape, dtype: str) -> Callable[[np.ndarray], list]:
    """``model`` in inference mode, compiled once for any batch size where the backend compiles, numpy in
    and out."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        traced = tf.function(lambda x: model(x, training=False), autograph=False,
                             input_signature=[tf.TensorSpec((None, *input_shape), dtype)])
        call = lambda inputs: traced(tf.convert_to_tensor(inputs, dtype))  # noqa: E731
    elif backend == "jax":
        import jax

        state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])
        jitted = jax.jit(lambda state, x: model.stateless_call(*state, x, training=False)[0])
        call = lambda inputs: jitted(state, inputs)  # noqa: E731
    else:
        import torch

        def call(inputs):
            with torch.no_grad():
                return model(keras.ops.convert_to_tensor(inputs), training=False)

    def run(inputs):
        outputs = call(np.asarray(inputs, dtype))
        if isinstance(outputs, (list, tuple)):
            return [keras.ops.convert_to_numpy(output) for output in outputs]
        return keras.ops.convert_to_numpy(outputs)

    return run


def _encode(encoder: keras.Model) -> Callable[[np.ndarray], list]:
    return inference_function(encoder, (d.SEQUENCE_LENGTH,), "int32")


def posterior_mean(encoder: keras.Model) -> RepresentationFunction:
    """Tokens (n, 16) -> posterior means (n, latent): disentanglement_lib's standard representation."""
    encode = _encode(encoder)
    return lambda tokens: encode(tokens)[0]


def posterior_sample(encoder: keras.Model, seed: int = 0) -> RepresentationFunction:
    """Tokens (n, 16) -> one posterior sample each, ``mean + exp(log_std) * eps`` (protocol §6-7).

    ``eps`` comes from one ``numpy.random.default_rng(seed)`` stream in call order, so a fresh function
    with the same seed, called on the same melodies in the same order, returns the same codes, however
    they are batched.
    """
    encode, rng = _encode(encoder), np.random.default_rng(seed)

    def sample(tokens):
        mean, log_std = encode(tokens)
        return mean + np.exp(log_std) * rng.standard_normal(mean.shape).astype(mean.dtype)

    return sample


def representation_function(encoder: keras.Model, kind: str = "mean", seed: int = 0) -> RepresentationFunction:
    """:func:`posterior_mean` (``kind="mean"``) or :func:`posterior_sample` (``"sample"``, seeded)."""
    if kind == "mean":
        return posterior_mean(encoder)
    if kind == "sample":
        return posterior_sample(encoder, seed)
    raise ValueError(f"unknown representation {kind!r}; representations are 'mean' and 'sample'")


def batched(function: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """``function`` applied to ``inputs`` ``batch_size`` rows at a time, the results concatenated."""
    return np.concatenate([function(inputs[i:i + batch_size]) for i in range(0, len(inputs), batch_size)])


def greedy_decoder(decoder: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """Codes (n, latent) -> tokens (n, 16) int32: the most likely token in every slot (protocol §7)."""
    decode = inference_function(decoder, decoder.inputs[0].shape[1:], "float32")
    return lambda z: np.argmax(decode(z), axis=-1).astype(np.int32)
