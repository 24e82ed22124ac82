"""The objectives and schedules compute SPEC §6's equations; FactorVAE's two updates stay apart."""
import gin
import keras
import numpy as np
import pytest
from keras import ops

import dmelodies_tfds
from benchmarks.models import build_cnn_vae
from benchmarks.objectives import AnnealedVAE, BetaVAE, ExponentialAnnealing, FactorVAE, kl_divergence, permute_dims
from benchmarks.objectives.vae import Terms, categorical_reconstruction


@pytest.fixture(autouse=True)
def no_gin_bindings():
    """Gin configurables read global bindings: each test starts and ends without any."""
    gin.clear_config(clear_constants=True)
    yield
    gin.clear_config(clear_constants=True)


def test_kl_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    mean, log_std = rng.normal(0, 1, (4, 3)), rng.normal(-0.5, 0.4, (4, 3))
    z = mean + np.exp(log_std) * rng.standard_normal((200_000, 4, 3))
    log_q = -0.5 * ((z - mean) / np.exp(log_std)) ** 2 - log_std
    log_p = -0.5 * z ** 2
    estimate = np.mean(np.sum(log_q - log_p, axis=-1))  # E_q[log q - log p], summed over dims, batch mean
    analytic = float(kl_divergence(ops.convert_to_tensor(mean, "float32"), ops.convert_to_tensor(log_std, "float32")))
    assert analytic == pytest.approx(estimate, rel=0.01)
    assert float(kl_divergence(ops.zeros((2, 5)), ops.zeros((2, 5)))) == 0.0


def test_reconstruction_averages_over_every_token():
    tokens = ops.convert_to_tensor([[0, 1], [2, 2]], "int32")
    logits = ops.convert_to_tensor(np.log(np.maximum(1e-30, [[[0.5, 0.5, 0], [0.1, 0.9, 0]], [[0, 0, 1], [0.5, 0.25, 0.25]]])),
                                   "float32")
    loss, accuracy = categorical_reconstruction(tokens, logits)
    assert float(loss) == pytest.approx(-(np.log(0.5) + np.log(0.9) + 0 + np.log(0.25)) / 4, rel=1e-5)
    assert float(accuracy) == pytest.approx(3 / 4)  # argmax of a 0.5/0.5 tie is token 0


@pytest.mark.parametrize("target", [0.2, 4.0, 75.0])
def test_schedule_values(target):
    warmup = 10 * 1852
    schedule = ExponentialAnnealing(target, warmup_steps=warmup, annealing_steps=100_000)
    value = lambda step: float(schedule(step))  # noqa: E731
    assert value(0) == value(warmup - 1) == value(warmup) == 0.0  # warm-up, and k = 0 at its boundary
    assert value(warmup + 50_000) == pytest.approx((1 + target) ** 0.5 - 1, rel=1e-5)
    assert value(warmup + 100_000) == pytest.approx(target, rel=1e-5)
    assert value(warmup + 300_000) == pytest.approx(target, rel=1e-5)
    assert value(warmup + 1) > 0.0
    assert [schedule.phase(s) for s in (warmup - 1, warmup, warmup + 99_999, warmup + 100_000)] == [
        "warm-up", "annealing", "annealing", "held"]


def _terms(reconstruction, kl):
    return Terms(ops.convert_to_tensor(reconstruction), None, ops.convert_to_tensor(kl), None)


def test_beta_vae_thresholds_the_scaled_kl():
    model = BetaVAE(build_cnn_vae(), beta=4.0, kl_threshold=50.0, warmup_epochs=2, annealing_steps=10,
                    steps_per_epoch=5)
    loss = lambda kl, step: float(model.objective(_terms(1.5, kl), step)[0])  # noqa: E731
    assert loss(100.0, 0) == 1.5  # warm-up: β_t = 0
    assert loss(100.0, 20) == pytest.approx(1.5 + 4.0 * 100.0 - 50.0)  # annealed: β_t = β
    assert loss(10.0, 20) == 1.5  # β_t · KL below τ costs nothing
    assert float(model.objective(_terms(1.5, 100.0), 15)[1]["beta"]) == pytest.approx(5 ** 0.5 - 1, rel=1e-5)


def test_annealed_vae_pulls_kl_towards_the_capacity():
    model = AnnealedVAE(build_cnn_vae(), capacity=25.0, gamma=2.0, warmup_epochs=0, annealing_steps=10)
    assert float(model.objective(_terms(1.0, 5.0), 0)[0]) == pytest.approx(1.0 + 2.0 * 5.0)  # C_0 = 0
    assert float(model.objective(_terms(1.0, 30.0), 10)[0]) == pytest.approx(1.0 + 2.0 * 5.0)  # C = 25
    assert float(model.objective(_terms(1.0, 20.0), 10)[0]) == pytest.approx(1.0 + 2.0 * 5.0)


def test_permutation_keeps_every_marginal_and_breaks_the_joint():
    z = keras.random.normal((256, 32), seed=0)
    permuted = np.asarray(permute_dims(z, keras.random.SeedGenerator(1)))
    z = np.asarray(z)
    np.testing.assert_array_equal(np.sort(permuted, axis=0), np.sort(z, axis=0))
    moved = [not np.array_equal(permuted[:, j], z[:, j]) for j in range(32)]
    assert all(moved)
    # Dimensions are shuffled independently: rows of the sample are not rows of z.
    rows = {tuple(row) for row in z}
    assert sum(tuple(row) in rows for row in permuted) < 5


def _factor_vae(gamma, seed=0):
    keras.utils.set_random_seed(seed)
    model = FactorVAE(build_cnn_vae(), gamma=gamma)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.build_optimizers()
    return model


def _weights(model):
    return [np.array(w) for w in model.trainable_weights]


def test_factor_vae_discriminator_learns_only_from_its_own_loss():
    tokens = dmelodies_tfds.generate_tokens(np.arange(64) * 20_000)
    calm, strong = _factor_vae(gamma=0.0), _factor_vae(gamma=1000.0)
    for a, b in zip(_weights(calm), _weights(strong)):
        np.testing.assert_array_equal(a, b)  # one seed, one initialisation
    before = [np.array(w) for w in calm.discriminator.trainable_weights]
    calm.train_on_batch(tokens)
    strong.train_on_batch(tokens)
    after_calm = [np.array(w) for w in calm.discriminator.trainable_weights]
    after_strong = [np.array(w) for w in strong.discriminator.trainable_weights]
    # γ·TC, however large, moves the VAE and never the discriminator.
    for a, b in zip(after_calm, after_strong):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert any(not np.allclose(a, b) for a, b in zip(before, after_calm))  # it did learn
    encoder_calm = [np.array(w) for w in calm.encoder.trainable_weights]
    encoder_strong = [np.array(w) for w in strong.encoder.trainable_weights]
    assert any(not np.allclose(a, b) for a, b in zip(encoder_calm, encoder_strong))


def test_factor_vae_optimisers_own_disjoint_weights():
    model = _factor_vae(gamma=10.0)
    vae = {id(v) for v in model.vae_weights}
    discriminator = {id(v) for v in model.discriminator.trainable_weights}
    assert not vae & discriminator
    assert vae | discriminator == {id(v) for v in model.trainable_weights}
    assert len(model.optimizer.variables) == 2 * len(vae) + 2  # Adam: two slots per weight + counters
    assert len(model.discriminator_optimizer.variables) == 2 * len(discriminator) + 2
