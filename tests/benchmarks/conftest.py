"""Shared fixtures for the benchmark tests (shared functions and paths: helpers.py)."""
from __future__ import annotations

import os

import pytest

from helpers import load_script

LATENT_DIM = 32


def build_tiny_networks(seed: int = 0):
    """A tiny encoder/decoder pair in the saved-run format (protocol §6 shapes, Keras' own layers only).

    encoder: tokens (batch, 16) int32 -> [z_mean, z_log_std], (batch, 32) each; decoder: z -> logits
    (batch, 16, 52). The embedding is wide enough that codes vary well beyond the FactorVAE score's
    pruning threshold.
    """
    import keras

    import dmelodies_tfds as d

    keras.utils.set_random_seed(seed)
    tokens = keras.Input((d.SEQUENCE_LENGTH,), dtype="int32", name="tokens")
    embedded = keras.layers.Embedding(d.VOCABULARY_SIZE, 4, embeddings_initializer="random_normal")(tokens)
    features = keras.layers.Flatten()(embedded)
    z_mean = keras.layers.Dense(LATENT_DIM, name="z_mean")(features)
    z_log_std = keras.layers.Dense(LATENT_DIM, name="z_log_std")(features)
    encoder = keras.Model(tokens, [z_mean, z_log_std], name="tiny_encoder")
    z = keras.Input((LATENT_DIM,), name="z")
    logits = keras.layers.Reshape((d.SEQUENCE_LENGTH, d.VOCABULARY_SIZE))(
        keras.layers.Dense(d.SEQUENCE_LENGTH * d.VOCABULARY_SIZE)(z))
    decoder = keras.Model(z, logits, name="tiny_decoder")
    return encoder, decoder


@pytest.fixture
def no_gin_bindings():
    """Gin configurables read global bindings: a test using this starts and ends without any."""
    import gin

    gin.clear_config(clear_constants=True)
    yield
    gin.clear_config(clear_constants=True)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A TFDS folder with ``dmelodies/tiny`` prepared (once per test module), for short training runs."""
    from benchmarks.training import data

    path = str(tmp_path_factory.mktemp("tensorflow_datasets"))
    data.TFDSSource(config="tiny", data_dir=path).load("train")
    return path


@pytest.fixture(scope="session")
def tiny_networks():
    """(encoder, decoder) from :func:`build_tiny_networks`."""
    return build_tiny_networks()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_networks) -> str:
    """A folder holding ``encoder.keras`` and ``decoder.keras`` as a finished training run leaves them."""
    model_dir = tmp_path_factory.mktemp("tiny_run")
    encoder, decoder = tiny_networks
    encoder.save(os.path.join(model_dir, "encoder.keras"))
    decoder.save(os.path.join(model_dir, "decoder.keras"))
    return str(model_dir)


@pytest.fixture(scope="session")
def load_tool():
    """Imports a script of ``tools/`` by name (tools/ is not a package): the reference-number generators
    hold the fixtures the metric tests score."""
    return lambda name: load_script("tools", name)
