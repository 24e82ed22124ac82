"""The dSprites comparison VAE (protocol §6): the standard FactorVAE/disentanglement_lib convolutional VAE.

It lets the benchmark code be checked on the dataset the methods were designed for: 64x64 binary
images, latent size 10, Bernoulli pixel likelihood.
"""
from __future__ import annotations

import math

import gin
import keras

from benchmarks.models.architecture import INITIALIZER, Architecture

_KERNEL, _STRIDE = 4, 2


@gin.configurable("dsprites_vae")
def build_dsprites_vae(
    image_shape: tuple[int, int, int] = (64, 64, 1),
    latent_dim: int = 10,
    filters: int = 32,
    num_convolutions: int = 4,
    dense_units: int = 256,
) -> Architecture:
    """Four stride-2 convolutions (32 channels, ReLU) -> Dense 256 -> Dense 256 -> mean and log-std
    heads; the decoder mirrors it and ends in one Bernoulli logit per pixel."""
    height, width, channels = image_shape
    scale = _STRIDE ** num_convolutions
    if height % scale or width % scale:
        raise ValueError(f"image sides {height}x{width} must be multiples of {scale}")

    def conv(layer, units, name, activation="relu"):
        return layer(units, _KERNEL, strides=_STRIDE, padding="same", activation=activation,
                     kernel_initializer=INITIALIZER, name=name)

    def dense(units, name, activation="relu"):
        return keras.layers.Dense(units, activation=activation, kernel_initializer=INITIALIZER, name=name)

    images = keras.Input(image_shape, name="images")
    x = images
    for i in range(num_convolutions):
        x = conv(keras.layers.Conv2D, filters, f"conv{i + 1}")(x)
    bottleneck = tuple(x.shape[1:])
    x = keras.layers.Flatten(name="flatten")(x)
    x = dense(dense_units, "dense1")(x)
    x = dense(dense_units, "dense2")(x)
    heads = [dense(latent_dim, head, activation=None)(x) for head in ("z_mean", "z_log_std")]
    encoder = keras.Model(images, heads, name="dsprites_encoder")

    z = keras.Input((latent_dim,), name="z")
    y = dense(dense_units, "dense1")(z)
    y = dense(dense_units, "dense2")(y)
    y = dense(math.prod(bottleneck), "dense3")(y)
    y = keras.layers.Reshape(bottleneck, name="unflatten")(y)
    for i in range(num_convolutions - 1):
        y = conv(keras.layers.Conv2DTranspose, filters, f"deconv{i + 1}")(y)
    logits = conv(keras.layers.Conv2DTranspose, channels, "logits", activation=None)(y)
    decoder = keras.Model(z, logits, name="dsprites_decoder")
    return Architecture("dsprites", encoder, decoder, likelihood="bernoulli")
