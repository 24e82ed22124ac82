"""The objectives and schedules compute protocol §6's equations; FactorVAE's two updates stay apart."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import dmelodies_tfds
from benchmarks.training.checkpoints import checkpoint
from benchmarks.models import Architecture, build_cnn_vae
from benchmarks.objectives import AnnealedVAE, BetaVAE, ExponentialAnnealing, FactorVAE, kl_divergence, permute_dims
from benchmarks.objectives.schedules import warmup_steps
from benchmarks.objectives.vae import Terms, categorical_reconstruction


pytestmark = pytest.mark.usefixtures("no_gin_bindings")  # conftest.py: each test starts and ends without any


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


# ---------------------------------------------------------------------------------------------------
# Exact values, computed by hand (protocol §6), for every objective term and schedule. The schedules count
# optimiser steps, the warm-up is given in epochs: every model below has steps_per_epoch > 1, so a
# warm-up counted in steps instead of epochs changes a value checked here.
# ---------------------------------------------------------------------------------------------------

def _anneal(target, step, warmup, annealing):
    """protocol §6 by hand: 0 during warm-up, (1 + target) ** (k / annealing) - 1 for k steps after, then target."""
    k = min(max(step - warmup, 0), annealing)
    return (1.0 + target) ** (k / annealing) - 1.0


def test_warmup_epochs_are_converted_to_steps_rounding_to_the_nearest():
    """protocol §6: 10 warm-up epochs; the compressed protocol's 0.5 epochs round to the nearest step."""
    assert warmup_steps(10, 1852) == 18_520
    assert warmup_steps(0.5, 7) == 4  # 3.5 steps
    assert warmup_steps(0.26, 10) == 3  # 2.6 steps: rounded, not truncated
    assert warmup_steps(0.24, 10) == 2
    assert warmup_steps(0, 5) == 0
    with pytest.raises(ValueError, match="warmup_epochs must be >= 0"):
        warmup_steps(-1, 5)
    for cls in (BetaVAE, AnnealedVAE):
        model = cls(_tiny_architecture(), warmup_epochs=0.5, annealing_steps=10, steps_per_epoch=7)
        assert model.schedule.warmup_steps == 4
        assert [model.schedule.phase(s) for s in (3, 4, 13, 14)] == ["warm-up", "annealing", "annealing", "held"]


@pytest.mark.parametrize("step", [0, 1, 9, 10, 11, 15, 20, 29, 30, 31, 1000, 10**6])
def test_schedule_matches_the_hand_formula_step_by_step(step):
    schedule = ExponentialAnnealing(4.0, warmup_steps=10, annealing_steps=20)
    assert float(schedule(step)) == pytest.approx(_anneal(4.0, step, 10, 20), rel=1e-6, abs=1e-7)
    assert float(schedule.warmed_up(step)) == (1.0 if step >= 10 else 0.0)
    # The optimiser's step counter, an int64 variable, is what training passes.
    assert float(schedule(keras.Variable(step, dtype="int64"))) == pytest.approx(float(schedule(step)))


# β = 4, τ = 50, warm-up 2 epochs of 5 steps (10 steps), annealing over 20 steps; reconstruction 1.5.
# Each case: (step, KL, loss by hand).
BETA_CASES = [
    (0, 200.0, 1.5),  # warm-up: β_t = 0
    (9, 200.0, 1.5),  # still warm-up (a warm-up of 2 steps would give β_9 = 5 ** 0.35 - 1)
    (10, 200.0, 1.5),  # k = 0: β_t = 0
    (15, 200.0, 1.5 + (5 ** 0.25 - 1) * 200.0 - 50.0),  # k = 5: β_t · KL = 99.1 > τ
    (15, 80.0, 1.5),  # β_t · KL = 39.6 < τ: free
    (20, 80.0, 1.5 + (5 ** 0.5 - 1) * 80.0 - 50.0),  # k = 10
    (30, 80.0, 1.5 + 4.0 * 80.0 - 50.0),  # annealed: 270, not β · (KL − τ) = 120
    (10**6, 80.0, 1.5 + 4.0 * 80.0 - 50.0),  # held at β
    (10**6, 12.0, 1.5),  # β · KL = 48 < τ
]


@pytest.mark.parametrize("step, kl, expected", BETA_CASES)
def test_beta_vae_loss_by_hand(step, kl, expected):
    """protocol §6: recon + max(0, β_t · KL − τ), β_t from the schedule."""
    model = BetaVAE(_tiny_architecture(), beta=4.0, kl_threshold=50.0, warmup_epochs=2, annealing_steps=20,
                    steps_per_epoch=5)
    loss, logs = model.objective(_terms(1.5, kl), keras.Variable(step, dtype="int64"))
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(logs["beta"]) == pytest.approx(_anneal(4.0, step, 10, 20), rel=1e-5, abs=1e-7)


# C = 25, γ = 2, warm-up 2 epochs of 5 steps (10 steps), annealing over 20 steps; reconstruction 1.0.
ANNEALED_CASES = [
    (0, 30.0, 1.0),  # warm-up: the whole KL term has weight 0 (not 1 + 2 · |30 − 0|)
    (9, 30.0, 1.0),  # still warm-up
    (10, 30.0, 1.0 + 2.0 * 30.0),  # k = 0: C_t = 0, γ = 2
    (15, 30.0, 1.0 + 2.0 * (30.0 - (26 ** 0.25 - 1))),  # k = 5
    (20, 3.0, 1.0 + 2.0 * ((26 ** 0.5 - 1) - 3.0)),  # k = 10, KL below C_t
    (30, 30.0, 1.0 + 2.0 * 5.0),  # C_t = C
    (30, 20.0, 1.0 + 2.0 * 5.0),
    (10**6, 20.0, 1.0 + 2.0 * 5.0),  # held at C
]


@pytest.mark.parametrize("step, kl, expected", ANNEALED_CASES)
def test_annealed_vae_loss_by_hand(step, kl, expected):
    """protocol §6: recon during warm-up, then recon + γ · |KL − C_t|."""
    model = AnnealedVAE(_tiny_architecture(), capacity=25.0, gamma=2.0, warmup_epochs=2, annealing_steps=20,
                        steps_per_epoch=5)
    loss, logs = model.objective(_terms(1.0, kl), keras.Variable(step, dtype="int64"))
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(logs["capacity"]) == pytest.approx(_anneal(25.0, step, 10, 20), rel=1e-5, abs=1e-7)


def test_paper_warmup_is_ten_epochs_of_steps():
    """The gin files' 10 warm-up epochs at the full dataset's steps per epoch (protocol §6)."""
    steps_per_epoch = 1852
    model = AnnealedVAE(_tiny_architecture(), capacity=50.0, steps_per_epoch=steps_per_epoch)
    end = 10 * steps_per_epoch
    assert float(model.objective(_terms(2.0, 40.0), end - 1)[0]) == 2.0
    assert float(model.objective(_terms(2.0, 40.0), end)[0]) == pytest.approx(42.0)
    assert float(model.objective(_terms(2.0, 40.0), end + 100_000)[0]) == pytest.approx(12.0, rel=1e-5)


# ---------------------------------------------------------------------------------------------------
# FactorVAE, with a discriminator of known weights evaluated by hand in numpy.
# ---------------------------------------------------------------------------------------------------

LATENT = 4


def _tiny_architecture(latent=LATENT, log_std_bias=0.0, seed=0):
    """Tokens -> embedding -> dense heads; z -> dense token logits. Deterministic (no dropout).

    With a very negative ``log_std_bias`` the posterior sample is the mean to float32 precision, so a
    training step's randomness cannot change its update.
    """
    keras.utils.set_random_seed(seed)
    tokens = keras.Input((dmelodies_tfds.SEQUENCE_LENGTH,), dtype="int32")
    features = keras.layers.Flatten()(keras.layers.Embedding(dmelodies_tfds.VOCABULARY_SIZE, 3)(tokens))
    z_mean = keras.layers.Dense(latent)(features)
    z_log_std = keras.layers.Dense(latent, kernel_initializer="zeros",
                                   bias_initializer=keras.initializers.Constant(log_std_bias))(features)
    z = keras.Input((latent,))
    logits = keras.layers.Reshape((dmelodies_tfds.SEQUENCE_LENGTH, dmelodies_tfds.VOCABULARY_SIZE))(
        keras.layers.Dense(dmelodies_tfds.SEQUENCE_LENGTH * dmelodies_tfds.VOCABULARY_SIZE)(z))
    return Architecture("tiny", keras.Model(tokens, [z_mean, z_log_std]), keras.Model(z, logits))


def _set_discriminator_weights(discriminator, seed=1, scale=0.5):
    """Known weights for the real discriminator (protocol §6: Dense 64, LeakyReLU(0.2) three times, Dense 2)."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0.0, scale, w.shape).astype("float32") for w in discriminator.get_weights()]
    discriminator.set_weights(weights)
    return weights


def _discriminator_by_hand(weights, z):
    """The discriminator's logits in numpy (float64): dense layers, LeakyReLU(0.2) between them."""
    h = np.asarray(z, "float64")
    pairs = list(zip(weights[::2], weights[1::2]))
    for kernel, bias in pairs[:-1]:
        h = h @ kernel + bias
        h = np.where(h > 0, h, 0.2 * h)
    kernel, bias = pairs[-1]
    return h @ kernel + bias


def _softmax_cross_entropy(logits, label):
    logits = np.asarray(logits, "float64")
    top = logits.max(axis=1, keepdims=True)
    log_sum_exp = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return np.mean(log_sum_exp - logits[:, label])


def _factor_vae_with_known_discriminator(gamma, kl_target=50.0, **kwargs):
    model = FactorVAE(_tiny_architecture(**kwargs), gamma=gamma, kl_target=kl_target)
    return model, _set_discriminator_weights(model.discriminator)


@pytest.mark.parametrize("gamma, kl", [(10.0, 30.0), (10.0, 70.0), (1.0, 50.0), (0.0, 20.0)])
def test_factor_vae_loss_by_hand(gamma, kl):
    """protocol §6: recon + |KL − 50| + γ · TC, TC = mean(D(z)[:, 0] − D(z)[:, 1])."""
    model, weights = _factor_vae_with_known_discriminator(gamma)
    assert [layer.units for layer in model.discriminator.layers if hasattr(layer, "units")] == [64, 64, 64, 2]
    z = np.random.default_rng(2).normal(0.0, 1.0, (8, LATENT)).astype("float32")
    logits = _discriminator_by_hand(weights, z)
    total_correlation = np.mean(logits[:, 0] - logits[:, 1])
    assert abs(total_correlation) > 0.5  # large enough that its sign and weight show in the loss
    terms = Terms(ops.convert_to_tensor(1.25), None, ops.convert_to_tensor(kl), ops.convert_to_tensor(z))
    loss, logs = model.objective(terms, 0)
    assert float(logs["total_correlation"]) == pytest.approx(total_correlation, rel=1e-4)
    assert float(loss) == pytest.approx(1.25 + abs(kl - 50.0) + gamma * total_correlation, rel=1e-5, abs=1e-4)
    # No warm-up or annealing: the same loss at any step.
    assert float(model.objective(terms, 10**6)[0]) == pytest.approx(float(loss), rel=1e-6)


def test_factor_vae_discriminator_loss_by_hand():
    """protocol §6: softmax cross-entropy, q(z) samples class 0 and permuted ones class 1, averaged over the two."""
    model, weights = _factor_vae_with_known_discriminator(gamma=10.0)
    rng = np.random.default_rng(3)
    z_joint = rng.normal(0.0, 1.0, (8, LATENT)).astype("float32")
    z_permuted = rng.normal(0.5, 2.0, (8, LATENT)).astype("float32")
    joint_logits, permuted_logits = _discriminator_by_hand(weights, z_joint), _discriminator_by_hand(weights, z_permuted)
    expected = (_softmax_cross_entropy(joint_logits, 0) + _softmax_cross_entropy(permuted_logits, 1)) / 2
    swapped = (_softmax_cross_entropy(joint_logits, 1) + _softmax_cross_entropy(permuted_logits, 0)) / 2
    assert abs(expected - swapped) > 0.1  # these codes tell the labelling apart
    accuracy = (np.mean(joint_logits.argmax(1) == 0) + np.mean(permuted_logits.argmax(1) == 1)) / 2
    loss, discriminator_accuracy = model.discriminator_terms(ops.convert_to_tensor(z_joint),
                                                             ops.convert_to_tensor(z_permuted))
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(discriminator_accuracy) == pytest.approx(accuracy)


def _hand_reconstruction(tokens, logits):
    """Token cross-entropy averaged over every token (protocol §6), from log-softmax."""
    log_probabilities = tf.nn.log_softmax(logits, axis=-1)
    return -tf.reduce_mean(tf.gather(log_probabilities, tokens, axis=-1, batch_dims=2))


def _hand_kl(z_mean, z_log_std):
    return tf.reduce_mean(tf.reduce_sum(0.5 * (z_mean ** 2 + tf.exp(2.0 * z_log_std) - 1.0) - z_log_std, axis=-1))


def _dense(gradients, weights):
    """Gradients as float64 numpy arrays: embedding slices made dense, unconnected weights' zero."""
    return [np.zeros(w.shape) if g is None else np.asarray(tf.convert_to_tensor(g), "float64")
            for g, w in zip(gradients, weights)]


def test_factor_vae_train_step_descends_recon_plus_kl_plus_gamma_tc():
    """One real train_step (protocol §6): the VAE moves down the gradient of recon + |KL − 50| + γ · TC from
    the first half of the batch, and the discriminator down that of its own loss, from the first half's
    codes (class 0) and the second half's permuted ones (class 1). Both optimisers are plain SGD with
    learning rate 1, so each weight moves by exactly minus its gradient, recomputed here by hand.

    The posterior's log std is -20, so a sample is its mean to float32 precision; the second half
    repeats one melody, so permuting its codes changes nothing: the step's randomness is irrelevant.
    """
    gamma = 10.0
    model, _ = _factor_vae_with_known_discriminator(gamma, log_std_bias=-20.0)
    model.discriminator_optimizer = keras.optimizers.SGD(1.0)
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    model.build_optimizers()
    first = dmelodies_tfds.generate_tokens(np.arange(8) * 70_001 + 11)
    second = np.repeat(dmelodies_tfds.generate_tokens(np.array([123_456])), 8, axis=0)
    tokens = np.concatenate([first, second]).astype("int32")

    vae_before = [np.array(w) for w in model.vae_weights]
    discriminator_before = [np.array(w) for w in model.discriminator.trainable_weights]
    with tf.GradientTape(persistent=True) as tape:
        z_mean, z_log_std = model.encoder(first, training=True)
        reconstruction = _hand_reconstruction(first, model.decoder(z_mean, training=True))
        kl = _hand_kl(z_mean, z_log_std)
        logits = model.discriminator(z_mean)
        total_correlation = tf.reduce_mean(logits[:, 0] - logits[:, 1])
        recon_and_kl = reconstruction + tf.abs(kl - 50.0)
    vae_weights = model.vae_weights
    base = _dense(tape.gradient(recon_and_kl, vae_weights), vae_weights)
    tc = _dense(tape.gradient(total_correlation, vae_weights), vae_weights)
    del tape
    expected_vae = [b + gamma * t for b, t in zip(base, tc)]
    flipped_vae = [b - gamma * t for b, t in zip(base, tc)]

    z_joint, _ = model.encoder(first)
    z_permuted, _ = model.encoder(second)
    with tf.GradientTape() as tape:
        joint_logits, permuted_logits = model.discriminator(z_joint), model.discriminator(z_permuted)
        log_softmax = lambda x: tf.nn.log_softmax(x, axis=-1)  # noqa: E731
        discriminator_loss = -(tf.reduce_mean(log_softmax(joint_logits)[:, 0])
                               + tf.reduce_mean(log_softmax(permuted_logits)[:, 1])) / 2
    expected_discriminator = _dense(tape.gradient(discriminator_loss, model.discriminator.trainable_weights),
                                    model.discriminator.trainable_weights)

    logs = model.train_on_batch(tokens, return_dict=True)
    assert logs["total_correlation"] == pytest.approx(float(total_correlation), rel=1e-4, abs=1e-5)
    assert logs["discriminator_loss"] == pytest.approx(float(discriminator_loss), rel=1e-4)
    assert logs["loss"] == pytest.approx(float(reconstruction + abs(kl - 50.0) + gamma * total_correlation), rel=1e-5)

    moved = [before - np.array(w) for before, w in zip(vae_before, model.vae_weights)]
    for step, expected, flipped in zip(moved, expected_vae, flipped_vae):
        np.testing.assert_allclose(step, expected, rtol=1e-3, atol=2e-5)
    # The γ · TC part is far above that tolerance: "recon + |KL − 50| − γ · TC" would not pass.
    assert max(np.abs(e - f).max() for e, f in zip(expected_vae, flipped_vae)) > 1e-2
    for before, w, expected in zip(discriminator_before, model.discriminator.trainable_weights, expected_discriminator):
        np.testing.assert_allclose(before - np.array(w), expected, rtol=1e-3, atol=2e-5)


# ---------------------------------------------------------------------------------------------------
# Resuming from a checkpoint in the middle of annealing (protocol §6: the schedule counts optimiser steps).
# ---------------------------------------------------------------------------------------------------

def _annealed_run(seed):
    model = AnnealedVAE(_tiny_architecture(seed=seed), capacity=25.0, warmup_epochs=1, annealing_steps=10,
                        steps_per_epoch=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.build_optimizers()
    return model


def test_a_resumed_run_continues_the_annealing_where_it_stopped(tmp_path):
    """Checkpointed at step 5 (warm-up 1 epoch of 3 steps, then annealing over 10 steps) and restored into
    a model initialised differently: the capacity of every later step, and the loss, are the
    uninterrupted run's, and the hand formula's."""
    batches = [dmelodies_tfds.generate_tokens(np.arange(16) * 3_001 + 97 * i) for i in range(9)]
    uninterrupted = _annealed_run(seed=0)
    manager = tf.train.CheckpointManager(checkpoint(uninterrupted, tf.Variable(0.0, dtype=tf.float64)),
                                         str(tmp_path), max_to_keep=1)
    logs = []
    for step, batch in enumerate(batches):
        if step == 5:
            manager.save(checkpoint_number=step)
        logs.append(uninterrupted.train_on_batch(batch, return_dict=True))
    assert [float(log["capacity"]) for log in logs] == pytest.approx(
        [_anneal(25.0, step, 3, 10) for step in range(9)], rel=1e-6, abs=1e-7)

    resumed = _annealed_run(seed=1)
    assert float(resumed.train_on_batch(batches[0], return_dict=True)["capacity"]) == 0.0  # step 0
    restored = tf.train.Checkpoint(variables=resumed.variables, optimizers=resumed.optimizers,
                                   means=[v for m in resumed.metrics for v in m.variables],
                                   wall_time=tf.Variable(0.0, dtype=tf.float64))
    restored.restore(manager.latest_checkpoint).assert_consumed()
    assert int(resumed.optimizer.iterations.numpy()) == 5
    assert float(resumed.schedule(resumed.optimizer.iterations)) == pytest.approx(26 ** 0.2 - 1, rel=1e-6)
    for step in range(5, 9):
        resumed.reset_metrics()
        uninterrupted_log = logs[step]
        log = resumed.train_on_batch(batches[step], return_dict=True)
        assert float(log["capacity"]) == pytest.approx(26 ** ((step - 3) / 10) - 1, rel=1e-6)
        assert float(log["capacity"]) == float(uninterrupted_log["capacity"])
    for a, b in zip(resumed.vae_weights, uninterrupted.vae_weights):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("objective", [BetaVAE, AnnealedVAE])
def test_evaluation_decodes_freely_never_teacher_forced(objective):
    """protocol §6-7: the RNN is teacher-forced in training only; validation, test and every score decode
    from its own predictions. Evaluation's loss must be the freely decoded one, which for an untrained
    RNN differs from the teacher-forced one."""
    from benchmarks.models import HierarchicalDecoder, build_rnn_vae

    keras.utils.set_random_seed(0)
    model = objective(build_rnn_vae(), warmup_epochs=1, steps_per_epoch=10, annealing_steps=10)
    model.compile(optimizer=keras.optimizers.Adam())
    layer = next(l for l in model.teacher_forced_decoder.layers if isinstance(l, HierarchicalDecoder))
    layer.teacher_forcing = 2.0  # where forcing is drawn at all, it now always forces
    # Larger token embeddings make the fed-back token matter (an untrained decoder barely listens to it).
    layer.token_embedding.embeddings.assign(layer.token_embedding.embeddings * 30.0)
    tokens = ops.convert_to_tensor(dmelodies_tfds.generate_tokens(np.arange(0, 1_354_752, 21_168)))  # 64
    state = model.sampling.seed_generator.state.numpy()
    logs = model.test_step((tokens,))

    def reconstruction_loss(decode):
        model.sampling.seed_generator.state.assign(state)  # the posterior sample evaluation drew
        z_mean, z_log_std = model.encoder(tokens, training=False)
        return float(categorical_reconstruction(tokens, decode(model.sampling(z_mean, z_log_std)))[0])

    free = reconstruction_loss(lambda z: model.decoder(z, training=False))
    layer.bar_dropout.rate = layer.slot_dropout.rate = 0.0  # forced, and otherwise as evaluation decodes
    forced = reconstruction_loss(lambda z: model.teacher_forced_decoder([z, tokens], training=True))
    assert abs(free - forced) > 0.01  # the test can tell the two apart
    assert float(logs["reconstruction_loss"]) == pytest.approx(free, rel=1e-5)
