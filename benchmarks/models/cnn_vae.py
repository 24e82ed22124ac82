"""The paper's 1-D convolutional VAE for dMelodies (SPEC §6, about 126k parameters)."""
from __future__ import annotations

import gin
import keras

import dmelodies_tfds
from benchmarks.models.architecture import INITIALIZER, Architecture, gaussian_heads

# Kernel 4, stride 2, padding 1 halves (or, transposed, doubles) the length: 16 -> 8 -> 4 -> 2 -> 1.
_KERNEL, _STRIDE = 4, 2


def _convolution(layer, filters: int, name: str):
    # Keras' "same" padding with kernel 4 and stride 2 pads one slot each side, like PyTorch's padding=1.
    return layer(filters, _KERNEL, strides=_STRIDE, padding="same", activation="selu",
                 kernel_initializer=INITIALIZER, name=name)


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
        y = _convolution(keras.layers.Conv1DTranspose, filters, f"deconv{i + 1}")(y)
    logits = keras.layers.Dense(vocabulary_size, kernel_initializer=INITIALIZER, name="logits")(y)
    decoder = keras.Model(z, logits, name="cnn_decoder")
    if decoder.output_shape[1] != sequence_length:
        raise ValueError(
            f"{len(channels)} stride-2 layers decode length {decoder.output_shape[1]}, not {sequence_length}"
        )
    return Architecture("cnn", encoder, decoder)
