"""FactorVAE's discriminator: is a code drawn from q(z), or from the product of its marginals? (protocol §6)"""
from __future__ import annotations

from typing import Sequence

import gin
import keras

from benchmarks.models.architecture import INITIALIZER


@gin.configurable("discriminator")
def build_discriminator(latent_dim: int, hidden_units: Sequence[int] = (64, 64, 64),
                        negative_slope: float = 0.2) -> keras.Model:
    """z -> two logits: class 0 "from q(z)", class 1 "permuted". Dense + LeakyReLU(0.2) per hidden
    layer; dMelodies uses 64-64-64, the dSprites comparison 1000-1000-1000-1000-512."""
    z = keras.Input((latent_dim,), name="z")
    x = z
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, kernel_initializer=INITIALIZER, name=f"dense{i + 1}")(x)
        x = keras.layers.LeakyReLU(negative_slope, name=f"leaky_relu{i + 1}")(x)
    logits = keras.layers.Dense(2, kernel_initializer=INITIALIZER, name="logits")(x)
    return keras.Model(z, logits, name="discriminator")
