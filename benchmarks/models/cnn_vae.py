"""The paper's 1-D convolutional VAE for dMelodies (protocol §6, about 126k parameters)."""
from __future__ import annotations

import gin
import keras
from keras import ops

import dmelodies_tfds
from benchmarks.models.architecture import (INITIALIZER, Architecture, apply_gaussian_heads, gaussian_head_layers,
                                           gaussian_heads)
from benchmarks.models.members import ONE_RUN, OneRun
from benchmarks.models.banded import BandedConv1DTranspose, banded_convolution

# Kernel 4, stride 2, padding 1 halves (or, transposed, doubles) the length: 16 -> 8 -> 4 -> 2 -> 1.
_KERNEL, _STRIDE = 4, 2


def _convolution(layer, filters: int, name: str):
    # Keras' "same" padding with kernel 4 and stride 2 pads one slot each side, like PyTorch's padding=1.
    return layer(filters, _KERNEL, strides=_STRIDE, padding="same", activation="selu",
                 kernel_initializer=INITIALIZER, name=name)


class BandedEncoder:
    """The encoder's function for training: its convolutions computed as banded matmuls (the saved
    ``encoder.keras`` keeps Keras' ``Conv1D``, see :class:`Architecture`), with the encoder's own
    weights and dropout layers, called in the same order so that they draw the same masks."""

    def __init__(self, encoder: keras.Model, num_convolutions: int):
        self.embedding = encoder.get_layer("embedding")
        self.stages = [(encoder.get_layer(f"conv{i + 1}"), encoder.get_layer(f"dropout{i + 1}"))
                       for i in range(num_convolutions)]
        self.heads = gaussian_head_layers(encoder)

    def __call__(self, tokens, training=False, runs: OneRun = ONE_RUN):
        x = runs.layer(self.embedding, tokens)
        for convolution, dropout in self.stages:
            x = banded_convolution(convolution, x, runs.weight(convolution.kernel), runs.weight(convolution.bias))
            x = runs.layer(dropout, x, training)
        return apply_gaussian_heads(self.heads, ops.mean(x, axis=-2), runs)


def layerwise_decoder(decoder: keras.Model):
    """The decoder's function for training: its layers in order, for ``runs`` (for one run, ``decoder(z)``;
    the decoder is deterministic and not teacher-forced, so ``targets`` and ``training`` change nothing)."""

    def decode(z, targets=None, training=None, runs: OneRun = ONE_RUN):
        for layer in decoder.layers[1:]:  # after its input
            z = runs.layer(layer, z)
        return z

    return decode


@gin.configurable("cnn_vae")
def build_cnn_vae(
    vocabulary_size: int = dmelodies_tfds.VOCABULARY_SIZE,
    sequence_length: int = dmelodies_tfds.SEQUENCE_LENGTH,
    latent_dim: int = 32,
    embedding_dim: int = 10,
    channels: tuple[int, ...] = (16, 32, 64, 128),
    dropout: float = 0.1,
    head_units: int = 64,
) -> Architecture:
    """Embedding -> four strided convolutions (SELU, dropout) -> mean over time -> Gaussian heads;
    the decoder mirrors it with transposed convolutions and ends in per-slot vocabulary logits."""
    tokens = keras.Input((sequence_length,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, embeddings_initializer=INITIALIZER,
                               name="embedding")(tokens)
    for i, filters in enumerate(channels):
        x = _convolution(keras.layers.Conv1D, filters, f"conv{i + 1}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    features = keras.layers.GlobalAveragePooling1D(name="mean_over_time")(x)
    encoder = keras.Model(tokens, gaussian_heads(features, latent_dim, head_units), name="cnn_encoder")

    z = keras.Input((latent_dim,), name="z")
    y = keras.layers.Reshape((1, latent_dim), name="z_as_sequence")(z)
    for i, filters in enumerate(reversed(channels)):
        y = _convolution(BandedConv1DTranspose, filters, f"deconv{i + 1}")(y)
    logits = keras.layers.Dense(vocabulary_size, kernel_initializer=INITIALIZER, name="logits")(y)
    decoder = keras.Model(z, logits, name="cnn_decoder")
    if decoder.output_shape[1] != sequence_length:
        raise ValueError(
            f"{len(channels)} stride-2 layers decode length {decoder.output_shape[1]}, not {sequence_length}"
        )
    return Architecture("cnn", encoder, decoder, training_encoder=BandedEncoder(encoder, len(channels)),
                        training_decoder=layerwise_decoder(decoder))
