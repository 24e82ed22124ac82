"""The faster formulations that training uses compute what the saved Keras models compute.

Training runs the RNN encoder with its input projections hoisted out of the recurrence, the CNN
encoder's convolutions as banded matmuls, and the CNN decoder's transposed convolutions likewise
(perf/PROFILE.md); the saved ``encoder.keras`` keeps Keras' own layers. These tests hold the two
formulations to each other, dropout included, and the banded convolution to Keras' for other shapes.
"""
import keras
import numpy as np
import pytest

import dmelodies_tfds
from benchmarks.models import build_cnn_vae, build_rnn_vae
from benchmarks.models.banded import BandedConv1DTranspose, banded_convolution, tap_placement
from benchmarks.training.run import MAX_STEPS_PER_EXECUTION, default_steps_per_execution

pytestmark = pytest.mark.usefixtures("no_gin_bindings")


@pytest.fixture(scope="module")
def tokens():
    return keras.ops.convert_to_tensor(dmelodies_tfds.generate_tokens(np.arange(32) * 40_000))


def _random_layers(encoder):
    return [layer for layer in encoder.layers if isinstance(layer, keras.layers.Dropout)]


@pytest.mark.parametrize("build", [build_cnn_vae, build_rnn_vae])
def test_training_encoder_computes_the_saved_encoder(build, tokens):
    keras.utils.set_random_seed(5)
    architecture = build()
    encoder, fast = architecture.encoder, architecture.training_encoder
    for keras_output, fast_output in zip(encoder(tokens, training=False), fast(tokens, training=False)):
        np.testing.assert_allclose(fast_output, keras_output, rtol=1e-5, atol=1e-6)
    # In training both draw the same dropout masks from the same layers' generators.
    states = [layer.seed_generator.state.numpy() for layer in _random_layers(encoder)]
    keras_outputs = encoder(tokens, training=True)
    for layer, state in zip(_random_layers(encoder), states):
        layer.seed_generator.state.assign(state)
    fast_outputs = fast(tokens, training=True)
    for keras_output, fast_output in zip(keras_outputs, fast_outputs):
        np.testing.assert_allclose(fast_output, keras_output, rtol=1e-5, atol=1e-6)
    assert not np.allclose(fast_outputs[0], fast(tokens, training=True)[0])  # dropout is on


@pytest.mark.parametrize("build", [build_cnn_vae, build_rnn_vae])
def test_training_decoder_computes_the_decoder_exactly(build, tokens):
    """The decoder's function written for stacked runs, computed for one run, is the decoder's own:
    free-running as ``decoder.keras``, and teacher-forced (its own draw and dropout masks) as the model
    single-run training calls."""
    keras.utils.set_random_seed(6)
    architecture = build()
    z = keras.random.normal((len(tokens), architecture.decoder.input_shape[-1]), seed=1)
    np.testing.assert_array_equal(architecture.training_decoder(z, None, False), architecture.decoder(z))
    forced = architecture.teacher_forced_decoder or architecture.decoder
    generators = [layer.seed_generator for layer in architecture.decoder._flatten_layers()
                  if hasattr(layer, "seed_generator")]
    for seed in range(4):  # teacher forcing is drawn once per batch: some of these force, some do not
        states = [generator.state.numpy() for generator in generators]
        expected = forced([z, tokens] if architecture.teacher_forced_decoder else z, training=True)
        for generator, state in zip(generators, states):
            generator.state.assign(state)
        np.testing.assert_array_equal(architecture.training_decoder(z, tokens, True), expected)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("length, channels, filters, kernel_size, stride",
                         [(16, 10, 16, 4, 2), (1, 32, 8, 4, 2), (7, 3, 5, 3, 2), (9, 4, 6, 5, 3), (6, 2, 3, 3, 1)])
def test_banded_convolution_matches_keras(transposed, length, channels, filters, kernel_size, stride):
    layer_class = keras.layers.Conv1DTranspose if transposed else keras.layers.Conv1D
    keras.utils.set_random_seed(0)
    layer = layer_class(filters, kernel_size, strides=stride, padding="same", activation="selu")
    inputs = np.random.default_rng(0).normal(size=(4, length, channels)).astype("float32")
    expected = layer(inputs)
    np.testing.assert_allclose(banded_convolution(layer, inputs), expected, rtol=1e-5, atol=1e-5)


def test_tap_placement_connects_each_tap_once_per_position():
    # Kernel 4, stride 2, padding 1 (protocol §6): output slot o reads input slots 2o - 1 .. 2o + 2.
    placement = tap_placement(8, 4, kernel_size=4, stride=2, transposed=False)
    for o in range(4):
        for k in range(4):
            i = 2 * o + k - 1
            assert placement[k, :, o].sum() == (1 if 0 <= i < 8 else 0)
            if 0 <= i < 8:
                assert placement[k, i, o] == 1
    # The transposed convolution is the same connection pattern read the other way.
    np.testing.assert_array_equal(tap_placement(4, 8, 4, 2, transposed=True), placement.transpose(0, 2, 1))


def test_banded_convolution_refuses_what_it_does_not_compute():
    layer = keras.layers.Conv1D(3, 4, strides=2, padding="valid")
    layer.build((None, 8, 2))
    with pytest.raises(ValueError, match="'same' padding"):
        banded_convolution(layer, np.zeros((1, 8, 2), "float32"))


def test_cnn_decoder_with_banded_layers_saves_and_loads(tmp_path, tokens):
    architecture = build_cnn_vae()
    assert any(isinstance(layer, BandedConv1DTranspose) for layer in architecture.decoder.layers)
    path = str(tmp_path / "decoder.keras")
    architecture.decoder.save(path)
    loaded = keras.saving.load_model(path)
    z = np.random.default_rng(1).normal(size=(3, 32)).astype("float32")
    np.testing.assert_allclose(loaded(z), architecture.decoder(z), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("counts, expected", [((1852, 100, 1000), 4), ((1852, 50, 1000), 2), ((3, 1, 2), 1),
                                             ((3, 3, 3), 3), ((16, 8, 16), 8), ((17, 100, 1000), 1), ((30, 6, 12), 6)])
def test_default_steps_per_execution_divides_the_epoch_and_the_intervals(counts, expected):
    assert default_steps_per_execution(*counts) == expected
    assert all(count % expected == 0 for count in counts) and expected <= MAX_STEPS_PER_EXECUTION


def test_adam_moves_each_embedding_row_by_at_most_the_learning_rate_on_its_first_step(tokens):
    """Adam's first update is lr · g / |g| elementwise. An embedding's gradient comes as one slice per
    token occurrence; applied slice by slice (Keras' sparse path), a token seen n times moved √n times
    as far. ``train_step`` hands Adam summed, dense gradients."""
    from benchmarks.objectives import OBJECTIVES

    keras.utils.set_random_seed(0)
    model = OBJECTIVES["beta_vae"](build_cnn_vae(), steps_per_epoch=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-8))
    model.build_optimizers()
    embedding = model.encoder.get_layer("embedding").embeddings
    before = embedding.numpy()
    model.train_step(tokens)  # 32 melodies, each token seen up to hundreds of times
    moved = np.abs(embedding.numpy() - before)
    assert moved.max() <= 1e-3 * 1.001
    assert moved.max() >= 1e-3 * 0.99  # a token that occurs does move by the learning rate
