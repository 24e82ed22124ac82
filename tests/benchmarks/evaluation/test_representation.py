"""A saved run's encoder and decoder as numpy functions: posterior mean, seeded samples, greedy decoding."""
from __future__ import annotations

import os

import keras
import numpy as np
import pytest

import dmelodies_tfds as d
from benchmarks.evaluation import representation as R

TOKENS = d.generate_tokens(np.arange(0, d.NUM_EXAMPLES, 21_169))  # 64 melodies spread over the dataset


def test_posterior_mean_is_the_encoders_mean_head(tiny_model_dir, tiny_networks):
    encoder = R.load_encoder(tiny_model_dir)
    codes = R.posterior_mean(encoder)(TOKENS)
    assert codes.shape == (64, 32)
    np.testing.assert_allclose(codes, keras.ops.convert_to_numpy(tiny_networks[0](TOKENS)[0]), atol=1e-6)


def test_posterior_samples_are_seeded_and_independent_of_batching(tiny_networks):
    encoder = tiny_networks[0]
    whole = R.posterior_sample(encoder, seed=3)(TOKENS)
    sample = R.posterior_sample(encoder, seed=3)
    np.testing.assert_allclose(np.concatenate([sample(TOKENS[i:i + 16]) for i in range(0, 64, 16)]), whole,
                               rtol=1e-6)
    mean, log_std = (keras.ops.convert_to_numpy(t) for t in encoder(TOKENS))
    eps = np.random.default_rng(3).standard_normal(mean.shape)
    np.testing.assert_allclose(whole, mean + np.exp(log_std) * eps, rtol=1e-5, atol=1e-6)
    assert not np.allclose(R.posterior_sample(encoder, seed=4)(TOKENS), whole)


def test_representation_function_by_name(tiny_networks):
    encoder = tiny_networks[0]
    np.testing.assert_array_equal(R.representation_function(encoder, "mean")(TOKENS),
                                  R.posterior_mean(encoder)(TOKENS))
    with pytest.raises(ValueError, match="unknown representation 'median'"):
        R.representation_function(encoder, "median")


def test_dropout_is_off(tmp_path):
    """Inference mode always (protocol §8): an encoder with dropout gives the same code twice."""
    tokens = keras.Input((16,), dtype="int32")
    x = keras.layers.Dropout(0.5)(keras.layers.Flatten()(keras.layers.Embedding(52, 8)(tokens)))
    encoder = keras.Model(tokens, [keras.layers.Dense(32)(x), keras.layers.Dense(32)(x)])
    function = R.posterior_mean(encoder)
    np.testing.assert_array_equal(function(TOKENS), function(TOKENS))


def test_greedy_decoder_picks_the_most_likely_token(tiny_networks):
    decoder = tiny_networks[1]
    z = np.random.default_rng(0).standard_normal((10, 32)).astype(np.float32)
    tokens = R.greedy_decoder(decoder)(z)
    assert tokens.dtype == np.int32 and tokens.shape == (10, 16)
    np.testing.assert_array_equal(tokens, np.argmax(keras.ops.convert_to_numpy(decoder(z)), axis=-1))


def test_missing_run_files_are_named(tmp_path, tiny_model_dir):
    with pytest.raises(FileNotFoundError, match="model_dir .*nowhere does not exist"):
        R.load_encoder(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="has no encoder.keras"):
        R.load_encoder(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="has no decoder.keras"):
        R.load_decoder(str(tmp_path))
    assert isinstance(R.load_decoder(tiny_model_dir), keras.Model)


def test_an_encoder_without_two_heads_is_refused(tmp_path):
    tokens = keras.Input((16,), dtype="int32")
    keras.Model(tokens, keras.layers.Dense(32)(keras.layers.Flatten()(keras.layers.Embedding(52, 2)(tokens)))).save(
        os.path.join(tmp_path, "encoder.keras"))
    with pytest.raises(ValueError, match=r"must output \[z_mean, z_log_std\]"):
        R.load_encoder(str(tmp_path))
