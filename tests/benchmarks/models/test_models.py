"""The benchmark networks match protocol §6: shapes, parameter counts, and the RNN decoder's feeding rules."""
import keras
import numpy as np
import pytest

import dmelodies_tfds
from benchmarks.models import (HierarchicalDecoder, build_cnn_vae, build_discriminator, build_dsprites_vae,
                               build_rnn_vae)
from helpers import gin_file

pytestmark = pytest.mark.usefixtures("no_gin_bindings")

V, T = dmelodies_tfds.VOCABULARY_SIZE, dmelodies_tfds.SEQUENCE_LENGTH


@pytest.fixture(scope="module")
def tokens():
    return keras.ops.convert_to_tensor(dmelodies_tfds.generate_tokens(np.arange(6) * 200_000))


@pytest.mark.parametrize("build, spec_total, exact", [(build_cnn_vae, 126_000, 125_596), (build_rnn_vae, 289_000, 288_527)])
def test_vae_shapes_and_parameter_counts(build, spec_total, exact, tokens):
    architecture = build()
    z_mean, z_log_std = architecture.encoder(tokens)
    assert z_mean.shape == z_log_std.shape == (6, 32)
    assert architecture.decoder(z_mean).shape == (6, T, V)
    counts = architecture.count_params()
    # The release's counts (protocol §6) used 62 output classes; with the 52-token vocabulary they stay within 1 %.
    assert counts["total"] == exact
    assert abs(counts["total"] - spec_total) / spec_total < 0.01
    assert counts["encoder"] + counts["decoder"] == counts["total"]


def test_cnn_encoder_uses_only_builtin_layers_and_glorot_normal():
    architecture = build_cnn_vae()
    for layer in architecture.encoder.layers:
        assert type(layer).__module__.startswith("keras."), layer
    for layer in architecture.encoder.layers + architecture.decoder.layers:
        # The decoder may use the package's layers (decoder.keras loads after `import benchmarks.models`).
        assert type(layer).__module__.startswith(("keras.", "benchmarks.models.")), layer
        for attribute in ("kernel_initializer", "embeddings_initializer"):
            if hasattr(layer, attribute):
                assert type(getattr(layer, attribute)).__name__ == "GlorotNormal", layer.name


def test_rnn_encoder_dropout_is_inactive_at_inference(tokens):
    encoder = build_rnn_vae().encoder
    first, second = encoder(tokens), encoder(tokens)
    np.testing.assert_array_equal(first[0], second[0])
    assert not np.array_equal(encoder(tokens, training=True)[0], encoder(tokens, training=True)[0])


def test_rnn_decoder_feeds_back_its_own_argmax_when_free_running():
    keras.utils.set_random_seed(1)
    layer = HierarchicalDecoder(V, teacher_forcing=1.0, dropout=0.0)  # dropout would hide the comparison
    z = keras.random.normal((5, 32))
    free = layer(z)
    own_tokens = keras.ops.cast(keras.ops.argmax(free, axis=-1), "int32")
    # Teacher-forcing the decoder's own argmax tokens reproduces free-running decoding exactly.
    np.testing.assert_allclose(layer(z, own_tokens, training=True), free, rtol=1e-5, atol=1e-5)
    other = (own_tokens + 1) % V
    forced = layer(z, other, training=True)
    np.testing.assert_allclose(forced[:, 0], free[:, 0], rtol=1e-5, atol=1e-5)  # slot 0 sees the start vector
    assert not np.allclose(forced[:, 1:], free[:, 1:])
    # Outside training the targets are ignored: evaluation never teacher-forces (protocol §7).
    np.testing.assert_allclose(layer(z, other, training=False), free, rtol=1e-5, atol=1e-5)


def test_rnn_teacher_forcing_is_drawn_once_per_batch():
    keras.utils.set_random_seed(2)
    layer = HierarchicalDecoder(V, teacher_forcing=0.5, dropout=0.0)
    z = keras.random.normal((4, 32))
    free = np.asarray(layer(z))
    targets = keras.ops.convert_to_tensor((np.argmax(free, -1) + 1) % V, dtype="int32")
    forced_batches = [not np.allclose(layer(z, targets, training=True), free, atol=1e-5) for _ in range(40)]
    assert 5 < sum(forced_batches) < 35  # about half the batches are teacher-forced, the rest decode freely


def test_rnn_decoder_drops_out_between_its_gru_layers_only_in_training():
    """protocol §6: both decoder GRUs (bar- and slot-level) use dropout 0.2 between their two layers."""
    z = np.random.default_rng(0).standard_normal((8, 32)).astype("float32")
    keras.utils.set_random_seed(0)
    decoder = build_rnn_vae().decoder
    inference = np.asarray(decoder(z, training=False))
    np.testing.assert_array_equal(np.asarray(decoder(z, training=False)), inference)
    assert not np.allclose(np.asarray(decoder(z, training=True)), inference)
    layer = decoder.get_layer("hierarchical_decoder")
    assert layer.bar_dropout.rate == layer.slot_dropout.rate == 0.2 == layer.get_config()["dropout"]
    without = build_rnn_vae(dropout=0.0).decoder  # the same weights, no dropout: training decodes the same
    for target, source in zip(without.trainable_weights, decoder.trainable_weights, strict=True):
        target.assign(source)
    np.testing.assert_allclose(np.asarray(without(z, training=True)), inference, atol=1e-6)


def test_rnn_decoder_round_trips_through_keras_saving(tmp_path):
    decoder = build_rnn_vae().decoder
    z = keras.random.normal((3, 32))
    decoder.save(tmp_path / "decoder.keras")
    loaded = keras.saving.load_model(tmp_path / "decoder.keras")
    np.testing.assert_allclose(loaded(z), decoder(z), rtol=1e-6, atol=1e-6)


def test_discriminator():
    discriminator = build_discriminator(32)
    assert discriminator(keras.random.normal((7, 32))).shape == (7, 2)
    # Dense 64, LeakyReLU, three times, then Dense 2 (protocol §6).
    assert discriminator.count_params() == (32 * 64 + 64) + 2 * (64 * 64 + 64) + (64 * 2 + 2)
    big = build_discriminator(10, hidden_units=(1000, 1000, 1000, 1000, 512))
    assert big(keras.random.normal((2, 10))).shape == (2, 2)


def test_dsprites_vae_shapes():
    architecture = build_dsprites_vae()
    images = keras.ops.cast(keras.random.uniform((3, 64, 64, 1)) > 0.5, "float32")
    z_mean, z_log_std = architecture.encoder(images)
    assert z_mean.shape == z_log_std.shape == (3, 10)
    assert architecture.decoder(z_mean).shape == (3, 64, 64, 1)
    assert architecture.likelihood == "bernoulli"


@pytest.mark.parametrize("build", [build_cnn_vae, build_rnn_vae])
def test_every_bias_starts_at_zero(build):
    """protocol §6: zero biases, a documented difference from PyTorch's uniform default (README)."""
    architecture = build()
    biases = [w for model in (architecture.encoder, architecture.decoder) for w in model.weights
              if "bias" in w.path]
    assert biases and all(not np.any(np.asarray(b)) for b in biases)
    discriminator = build_discriminator(32)
    assert all(not np.any(np.asarray(w)) for w in discriminator.weights if "bias" in w.path)


def test_the_paper_configs_warm_up_for_ten_epochs():
    """protocol §6: 10 warm-up epochs (the paper), not the original code's 11, counted in epochs."""
    import gin

    from benchmarks.training import run as train_lib  # noqa: F401  (registers the configurables)
    from benchmarks.gin_config import parse_config

    for name in ("cnn_beta_vae", "cnn_annealed_vae", "rnn_beta_vae", "rnn_annealed_vae"):
        parse_config([gin_file(name)])
        try:
            objective = gin.query_parameter("train.objective").scoped_configurable_fn
            model = objective(build_cnn_vae(), steps_per_epoch=1852)
        finally:
            gin.clear_config()
        assert model.schedule.warmup_steps == 18_520 and model.schedule.annealing_steps == 100_000
        assert float(model.schedule(18_519)) == 0.0 < float(model.schedule(18_521))
