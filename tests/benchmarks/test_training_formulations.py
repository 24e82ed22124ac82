"""Training hands Adam the gradients PyTorch's would: dense, an embedding's summed over its occurrences."""
import keras
import numpy as np
import pytest

import dmelodies_tfds
from benchmarks.models import build_cnn_vae

pytestmark = pytest.mark.usefixtures("no_gin_bindings")


@pytest.fixture(scope="module")
def tokens():
    return keras.ops.convert_to_tensor(dmelodies_tfds.generate_tokens(np.arange(32) * 40_000))


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
