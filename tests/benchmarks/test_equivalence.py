"""Equivalence with the original PyTorch implementation (SPEC §6), from committed golden fixtures.

``tools/make_golden_fixtures.py`` ran the original (ashispati/dmelodies_benchmarking) with random,
non-zero weights and biases and saved its inputs and outputs under ``golden/``; this test needs neither
PyTorch nor the original. It loads those weights into our Keras networks, mapping PyTorch's layouts,
and checks in inference mode that encoders, decoders (free-running and teacher-forced) and the FactorVAE
discriminator give the original's outputs; that our schedules follow the original trainer's β_t and C_t;
and that our objectives give the original's loss terms for the same tensors. Tolerance 1e-5, relative
where values are large.

Deliberate, documented differences, each asserted explicitly rather than hidden:
- The original RNN decoder applies ReLU to its logits (SPEC §8); ours does not. The fixtures hold the
  original's pre-ReLU logits (ReLU replaced by the identity) and its released output; ours must match
  the former, and its ReLU the latter.
- The original's warm-up test ``epoch_num > 10`` makes 11 warm-up epochs; the project uses the paper's
  10 (SPEC §6). The curves are compared aligned at the end of the warm-up, one epoch apart.
- The original's last annealing update is at ``anneal_iterations == 100000 - 1``, so it holds
  ``(1 + target) ** 0.99999 - 1`` rather than the target; ours holds the target (SPEC §6).
"""
from __future__ import annotations

import pathlib

import keras
import numpy as np
import pytest
from keras import ops

from benchmarks.models import build_cnn_vae, build_discriminator, build_rnn_vae
from benchmarks.objectives import AnnealedVAE, BetaVAE, FactorVAE
from benchmarks.objectives.schedules import warmup_steps
from benchmarks.objectives.vae import Terms, categorical_reconstruction, kl_divergence

pytestmark = pytest.mark.usefixtures("no_gin_bindings")

GOLDEN = pathlib.Path(__file__).parent / "golden"
VOCABULARY = 62  # the original release's output classes (SPEC §6)
TOLERANCE = dict(rtol=1e-5, atol=1e-5)


def _load(name: str) -> dict:
    with np.load(GOLDEN / f"{name}.npz") as archive:
        return {key: archive[key] for key in archive.files}


class TorchWeights:
    """The original's parameters, ``q * 2**e`` as the fixture stores them, under PyTorch names; records
    which were used so a test can assert that every one of them was mapped."""

    def __init__(self, arrays: dict, prefix: str = ""):
        self.values = {
            key[2:]: arrays[key].astype(np.float32) * np.float32(2.0 ** int(arrays["e:" + key[2:]]))
            for key in arrays if key.startswith("w:") and key[2:].startswith(prefix)
        }
        self.used: set[str] = set()

    def __getitem__(self, name: str) -> np.ndarray:
        self.used.add(name)
        return self.values[name]

    def unused(self) -> set[str]:
        return set(self.values) - self.used


def _assign(variable, value: np.ndarray, assigned: list) -> None:
    assert tuple(variable.shape) == value.shape, (variable.path, variable.shape, value.shape)
    variable.assign(value)
    assigned.append(variable)


def _dense(layer, torch: TorchWeights, name: str, assigned: list) -> None:
    _assign(layer.kernel, torch[f"{name}.weight"].T, assigned)  # (out, in) -> (in, out)
    _assign(layer.bias, torch[f"{name}.bias"], assigned)


def _gru_gates(matrix: np.ndarray) -> np.ndarray:
    # PyTorch stacks the gates r, z, n along the first axis; Keras z, r, h along the last.
    r, z, n = np.split(matrix, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def _gru(cell, torch: TorchWeights, name: str, suffix: str, assigned: list) -> None:
    """PyTorch GRU layer weights (``weight_ih_l0`` ...) into a Keras GRUCell with reset_after=True,
    whose bias has two rows: the input bias and the recurrent bias (PyTorch's b_ih and b_hh)."""
    assert cell.reset_after
    _assign(cell.kernel, _gru_gates(torch[f"{name}.weight_ih_{suffix}"]).T, assigned)
    _assign(cell.recurrent_kernel, _gru_gates(torch[f"{name}.weight_hh_{suffix}"]).T, assigned)
    _assign(cell.bias, np.stack([_gru_gates(torch[f"{name}.bias_ih_{suffix}"]),
                                 _gru_gates(torch[f"{name}.bias_hh_{suffix}"])]), assigned)


def _heads(encoder, torch: TorchWeights, assigned: list) -> None:
    for ours, theirs in (("z_mean", "linear_mean"), ("z_log_std", "linear_log_std")):
        _dense(encoder.get_layer(f"{ours}_hidden"), torch, f"encoder.{theirs}.0", assigned)
        _dense(encoder.get_layer(ours), torch, f"encoder.{theirs}.2", assigned)


def _assert_all_assigned(model, assigned: list) -> None:
    missing = {v.path for v in model.trainable_weights} - {v.path for v in assigned}
    assert not missing, f"weights the fixture did not set: {sorted(missing)}"


def load_cnn(architecture, arrays: dict) -> TorchWeights:
    """The original CNN VAE's weights into ours: Conv1d (out, in, k) -> Conv1D (k, in, out);
    ConvTranspose1d (in, out, k) -> Conv1DTranspose (k, out, in); Linear transposed."""
    torch, assigned = TorchWeights(arrays), []
    encoder, decoder = architecture.encoder, architecture.decoder
    _assign(encoder.get_layer("embedding").embeddings, torch["encoder.note_embedding_layer.weight"], assigned)
    for i, index in enumerate((0, 3, 6, 9)):  # Conv1d, SELU, Dropout per block
        layer = encoder.get_layer(f"conv{i + 1}")
        _assign(layer.kernel, torch[f"encoder.cnn.{index}.weight"].transpose(2, 1, 0), assigned)
        _assign(layer.bias, torch[f"encoder.cnn.{index}.bias"], assigned)
    _heads(encoder, torch, assigned)
    for i, index in enumerate((0, 2, 4, 6)):  # ConvTranspose1d, SELU per block
        layer = decoder.get_layer(f"deconv{i + 1}")
        _assign(layer.kernel, torch[f"decoder.cnn.{index}.weight"].transpose(2, 1, 0), assigned)
        _assign(layer.bias, torch[f"decoder.cnn.{index}.bias"], assigned)
    _dense(decoder.get_layer("logits"), torch, "decoder.hidden_to_notes", assigned)
    _assert_all_assigned(encoder, assigned)
    _assert_all_assigned(decoder, assigned)
    return torch


def load_rnn(architecture, arrays: dict) -> TorchWeights:
    """The original hierarchical RNN VAE's weights into ours (GRU gates reordered, see :func:`_gru`)."""
    torch, assigned = TorchWeights(arrays), []
    encoder = architecture.encoder
    _assign(encoder.get_layer("embedding").embeddings, torch["encoder.note_embedding_layer.weight"], assigned)
    for layer in (1, 2):
        bidirectional = encoder.get_layer(f"bidirectional{layer}")
        _gru(bidirectional.forward_layer.cell, torch, "encoder.lstm", f"l{layer - 1}", assigned)
        _gru(bidirectional.backward_layer.cell, torch, "encoder.lstm", f"l{layer - 1}_reverse", assigned)
    _heads(encoder, torch, assigned)

    decoder = architecture.decoder.get_layer("hierarchical_decoder")
    _dense(decoder.z_to_bar_state, torch, "decoder.z_to_beat_rnn_input.0", assigned)
    _assign(decoder.bar_input, torch["decoder.b_0"], assigned)
    for i, cell in enumerate(decoder.bar_cells):
        _gru(cell, torch, "decoder.rnn_beat", f"l{i}", assigned)
    _dense(decoder.bar_to_slot_state, torch, "decoder.beat_emb_to_tick_rnn_hidden.0", assigned)
    _dense(decoder.bar_to_slot_input, torch, "decoder.beat_emb_to_tick_rnn_input.0", assigned)
    _assign(decoder.start_token, torch["decoder.x_0"], assigned)
    _assign(decoder.token_embedding.embeddings, torch["decoder.note_embedding_layer.weight"], assigned)
    for i, cell in enumerate(decoder.slot_cells):
        _gru(cell, torch, "decoder.rnn_tick", f"l{i}", assigned)
    _dense(decoder.to_logits, torch, "decoder.tick_emb_to_note_emb.0", assigned)
    _assert_all_assigned(encoder, assigned)
    _assert_all_assigned(architecture.decoder, assigned)
    return torch


def load_discriminator(model, arrays: dict) -> TorchWeights:
    torch, assigned = TorchWeights(arrays), []
    for i, index in enumerate((0, 2, 4)):  # Linear, LeakyReLU per hidden layer
        _dense(model.get_layer(f"dense{i + 1}"), torch, str(index), assigned)
    _dense(model.get_layer("logits"), torch, "6", assigned)
    _assert_all_assigned(model, assigned)
    return torch


# ------------------------------------------------------------------------------------------ networks
@pytest.fixture(scope="module")
def cnn():
    arrays = _load("cnn_vae")
    architecture = build_cnn_vae(vocabulary_size=VOCABULARY)
    return architecture, arrays, load_cnn(architecture, arrays)


@pytest.fixture(scope="module")
def rnn():
    arrays = _load("rnn_vae")
    architecture = build_rnn_vae(vocabulary_size=VOCABULARY)
    return architecture, arrays, load_rnn(architecture, arrays)


def test_fixture_weights_are_random_and_non_zero():
    """Every weight and bias of the original was set to a non-zero value, so bias handling is checked."""
    for name in ("cnn_vae", "rnn_vae", "discriminator"):
        weights = TorchWeights(_load(name)).values
        assert weights and all(np.all(value != 0) for value in weights.values()), name
        assert all(np.unique(value).size > 1 for value in weights.values() if value.size > 1), name


def test_cnn_encoder_matches_original(cnn):
    architecture, arrays, torch = cnn
    assert torch.unused() == {"decoder.note_embedding_layer.weight"}  # the original builds it, never uses it
    z_mean, z_log_std = architecture.encoder(arrays["tokens"], training=False)
    np.testing.assert_allclose(z_mean, arrays["encoder_z_mean"], **TOLERANCE)
    np.testing.assert_allclose(z_log_std, arrays["encoder_z_log_std"], **TOLERANCE)
    # the original's posterior scale is exp(log-std head) (SPEC §6)
    np.testing.assert_allclose(np.exp(z_log_std), arrays["encoder_z_std"], **TOLERANCE)


def test_cnn_decoder_matches_original(cnn):
    architecture, arrays, _ = cnn
    logits = architecture.decoder(arrays["decoder_z"], training=False)
    np.testing.assert_allclose(logits, arrays["decoder_logits"], **TOLERANCE)


def test_rnn_encoder_matches_original(rnn):
    architecture, arrays, torch = rnn
    assert not torch.unused()
    z_mean, z_log_std = architecture.encoder(arrays["tokens"], training=False)
    np.testing.assert_allclose(z_mean, arrays["encoder_z_mean"], **TOLERANCE)
    np.testing.assert_allclose(z_log_std, arrays["encoder_z_log_std"], **TOLERANCE)
    np.testing.assert_allclose(np.exp(z_log_std), arrays["encoder_z_std"], **TOLERANCE)


def test_rnn_decoder_free_running_matches_original(rnn):
    """Decoding freely (argmax feedback, as evaluation does): the original's pre-ReLU logits, and the
    released output (with the ReLU of SPEC §8) is the ReLU of ours."""
    architecture, arrays, _ = rnn
    logits = ops.convert_to_numpy(architecture.decoder(arrays["decoder_z"], training=False))
    np.testing.assert_array_equal(logits.argmax(-1), arrays["decoder_free_tokens"])
    np.testing.assert_allclose(logits, arrays["decoder_free_logits"], **TOLERANCE)
    np.testing.assert_allclose(np.maximum(logits, 0.0), arrays["decoder_free_released"], **TOLERANCE)


def test_rnn_decoder_teacher_forced_matches_original(rnn):
    """Teacher-forced: forcing made certain and dropout off (the fixture ran the original in eval mode),
    so our training-mode teacher-forced decoder is deterministic and comparable."""
    _, arrays, _ = rnn
    architecture = build_rnn_vae(vocabulary_size=VOCABULARY, teacher_forcing=1.0, dropout=0.0)
    load_rnn(architecture, arrays)
    np.testing.assert_array_equal(arrays["decoder_teacher_forced_tokens"], arrays["tokens"])
    logits = ops.convert_to_numpy(
        architecture.teacher_forced_decoder([arrays["decoder_z"], arrays["tokens"]], training=True))
    np.testing.assert_allclose(logits, arrays["decoder_teacher_forced_logits"], **TOLERANCE)
    np.testing.assert_allclose(np.maximum(logits, 0.0), arrays["decoder_teacher_forced_released"], **TOLERANCE)
    # and forcing changed something: decoding freely from the same z gives other logits
    free = ops.convert_to_numpy(architecture.decoder(arrays["decoder_z"], training=False))
    assert np.abs(free - logits).max() > 1e-2


def test_dropout_where_the_original_drops_out(cnn, rnn):
    """Training-time dropout at the original's places and rates: 0.1 after every encoder convolution
    and none in the CNN decoder; 0.2 between the two layers of the encoder GRU and of both decoder GRUs."""
    cnn_architecture, cnn_arrays, _ = cnn
    rates = [cnn_architecture.encoder.get_layer(f"dropout{i + 1}").rate for i in range(4)]
    np.testing.assert_allclose(rates, cnn_arrays["encoder_dropout_rates"])
    assert int(cnn_arrays["decoder_dropout_count"]) == 0
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in cnn_architecture.decoder.layers)

    rnn_architecture, rnn_arrays, _ = rnn
    encoder_rate, bar_rate, slot_rate = rnn_arrays["gru_dropout_rates"]
    assert rnn_architecture.encoder.get_layer("dropout_between_layers").rate == pytest.approx(encoder_rate)
    decoder = rnn_architecture.decoder.get_layer("hierarchical_decoder")
    assert decoder.get_config()["dropout"] == pytest.approx(bar_rate) == pytest.approx(slot_rate)
    # in training the decoder's dropout is live: with teacher forcing certain, only dropout can make two
    # training-mode passes differ (with dropout 0 they agree with the original exactly, test above)
    forced = build_rnn_vae(vocabulary_size=VOCABULARY, teacher_forcing=1.0)
    load_rnn(forced, rnn_arrays)
    z, tokens = rnn_arrays["decoder_z"], rnn_arrays["tokens"]
    keras.utils.set_random_seed(0)
    first = ops.convert_to_numpy(forced.teacher_forced_decoder([z, tokens], training=True))
    second = ops.convert_to_numpy(forced.teacher_forced_decoder([z, tokens], training=True))
    assert not np.allclose(first, second)
    np.testing.assert_allclose(forced.decoder(z, training=False), rnn_arrays["decoder_free_logits"], **TOLERANCE)


def test_discriminator_matches_original():
    arrays = _load("discriminator")
    model = build_discriminator(32)
    assert not load_discriminator(model, arrays).unused()
    np.testing.assert_allclose(model(arrays["z"], training=False), arrays["logits"], **TOLERANCE)


# ---------------------------------------------------------------------------------------- schedules
SCHEDULES = [("beta_vae", 0.2), ("beta_vae", 1.0), ("beta_vae", 4.0),
             ("annealed_vae", 25.0), ("annealed_vae", 50.0), ("annealed_vae", 75.0)]


@pytest.fixture(scope="module")
def schedules():
    return _load("schedules")


@pytest.fixture(scope="module")
def architecture():
    """Any architecture: the objectives only need one to exist; the loss terms are fed directly."""
    return build_cnn_vae(vocabulary_size=VOCABULARY)


def _objective(method, target, architecture, steps_per_epoch):
    if method == "beta_vae":
        return BetaVAE(architecture, beta=target, kl_threshold=50.0, warmup_epochs=10, annealing_steps=100_000,
                       steps_per_epoch=steps_per_epoch)
    return AnnealedVAE(architecture, capacity=target, gamma=1.0, warmup_epochs=10, annealing_steps=100_000,
                       steps_per_epoch=steps_per_epoch)


def _ours(objective, step):
    """(KL weight, annealed value) of our objective at optimiser step ``step``."""
    value = float(objective.schedule(step))
    if isinstance(objective, BetaVAE):
        return value, value
    return objective.gamma * float(objective.schedule.warmed_up(step)), value


def _phases(schedules):
    s, n = int(schedules["steps_per_epoch"]), int(schedules["annealing_steps"])
    original_warmup = 11 * s  # `epoch_num > 10`, epochs counted from 0
    return s, n, original_warmup


def test_original_warm_up_is_one_epoch_longer(schedules, architecture):
    """SPEC §6: the original's ``epoch_num > 10`` warms up for 11 epochs; the project for the paper's 10.
    Asserted on the recorded curve: the original's KL weight switches on exactly one epoch after ours."""
    s, _, original_warmup = _phases(schedules)
    assert int(schedules["original_warm_up_epochs_attribute"]) == 10
    iterations = list(schedules["iterations"])
    weights = schedules["annealed_vae_50_kl_weight"]
    assert weights[iterations.index(original_warmup - 1)] == 0.0  # still warming up in its 11th epoch
    assert weights[iterations.index(original_warmup)] == 1.0
    assert schedules["beta_vae_1_beta"][iterations.index(original_warmup + 1)] > 0.0
    ours = _objective("annealed_vae", 50.0, architecture, s)
    assert ours.schedule.warmup_steps == warmup_steps(10, s) == 10 * s
    assert _ours(ours, 10 * s - 1)[0] == 0.0 and _ours(ours, 10 * s)[0] == 1.0
    assert original_warmup - ours.schedule.warmup_steps == s  # exactly one epoch


@pytest.mark.parametrize("method, target", SCHEDULES)
def test_schedule_matches_original_aligned_at_end_of_warm_up(schedules, architecture, method, target):
    """Warm-up and annealing: our value at step ``g - steps_per_epoch`` is the original's at its global
    iteration ``g`` (the one-epoch offset above), to 1e-5."""
    s, n, original_warmup = _phases(schedules)
    ours = _objective(method, target, architecture, s)
    tag = f"{method}_{target:g}"
    for g, kl_weight, beta, capacity in zip(schedules["iterations"], schedules[f"{tag}_kl_weight"],
                                            schedules[f"{tag}_beta"], schedules[f"{tag}_capacity"]):
        if g >= original_warmup + n:
            continue  # held: see the next test
        weight, value = _ours(ours, int(g) - s)
        np.testing.assert_allclose(weight, kl_weight, **TOLERANCE, err_msg=f"{tag} KL weight at {g}")
        original = beta if method == "beta_vae" else capacity
        np.testing.assert_allclose(value, original, **TOLERANCE, err_msg=f"{tag} value at {g}")
        if method == "beta_vae":
            assert capacity == ours.kl_threshold  # τ: the original's cur_capacity stays at 50


@pytest.mark.parametrize("method, target", SCHEDULES)
def test_held_value(schedules, architecture, method, target):
    """After annealing the original holds its last update, made at ``anneal_iterations == N - 1``:
    ``(1 + target) ** ((N - 1) / N) - 1``, i.e. our value one step before the end of annealing; ours holds
    the target itself (SPEC §6). The gap is below 5e-5 relative (4.4e-5 for C = 75)."""
    s, n, original_warmup = _phases(schedules)
    ours = _objective(method, target, architecture, s)
    tag = f"{method}_{target:g}"
    key = "beta" if method == "beta_vae" else "capacity"
    last_annealing_step = ours.schedule.warmup_steps + n - 1
    for g, original in zip(schedules["iterations"], schedules[f"{tag}_{key}"]):
        if g < original_warmup + n:
            continue
        np.testing.assert_allclose(_ours(ours, last_annealing_step)[1], original, **TOLERANCE)
        held = _ours(ours, int(g) - s)[1]
        assert held == pytest.approx(target, rel=1e-6)
        np.testing.assert_allclose(original, (1.0 + target) ** ((n - 1) / n) - 1.0, rtol=1e-12)
        assert original < target and (target - original) / target < 5e-5


# ------------------------------------------------------------------------------------------- losses
@pytest.fixture(scope="module")
def losses():
    return _load("losses")


def _terms(losses, latent: str) -> Terms:
    reconstruction, accuracy = categorical_reconstruction(ops.convert_to_tensor(losses["tokens"]),
                                                          ops.convert_to_tensor(losses["logits"]))
    kl = kl_divergence(losses[f"{latent}_z_mean"], losses[f"{latent}_z_log_std"])
    return Terms(reconstruction, accuracy, kl, ops.convert_to_tensor(losses[f"{latent}_z"]))


def test_reconstruction_and_kl_match_original(losses):
    """Token cross-entropy averaged over every token; KL to N(0, I) summed over dimensions and averaged
    over the batch, for the original's parameterisation std = exp(log-std head) (SPEC §6)."""
    for latent in ("high_kl", "low_kl"):
        np.testing.assert_allclose(np.exp(losses[f"{latent}_z_log_std"]), losses[f"{latent}_z_std"], rtol=1e-6)
        terms = _terms(losses, latent)
        np.testing.assert_allclose(float(terms.reconstruction), losses["reconstruction"], **TOLERANCE)
        np.testing.assert_allclose(float(terms.kl), losses[f"{latent}_kl"], **TOLERANCE)
    # the two batches put the KL on both sides of the thresholds
    assert losses["high_kl_kl"] > 50.0 > 25.0 > losses["low_kl_kl"]


@pytest.mark.parametrize("method, target", SCHEDULES)
def test_beta_and_annealed_vae_losses_match_original(losses, schedules, architecture, method, target):
    """The original trainer's ``loss_and_acc_for_batch`` at iterations in warm-up (where the Annealed-VAE
    is ``recon`` alone, SPEC §6), at the first annealing step, mid-annealing and held; compared at the
    aligned step (one epoch earlier; when held, our last annealing step, see :func:`test_held_value`)."""
    s, n, original_warmup = _phases(schedules)
    ours = _objective(method, target, architecture, s)
    last_annealing_step = ours.schedule.warmup_steps + n - 1
    for latent in ("high_kl", "low_kl"):
        terms = _terms(losses, latent)
        for g, original in zip(losses["loss_iterations"], losses[f"{method}_{target:g}_{latent}_loss"]):
            step = min(int(g) - s, last_annealing_step)
            loss, _ = ours.objective(terms, step)
            np.testing.assert_allclose(float(loss), original, **TOLERANCE,
                                       err_msg=f"{method} {target} {latent} at iteration {g}")
            if g < original_warmup:
                np.testing.assert_allclose(float(loss), float(terms.reconstruction), **TOLERANCE)
        # held, ours: the target itself
        held, _ = ours.objective(terms, ours.schedule.warmup_steps + n + 10)
        if method == "beta_vae":
            expected = float(terms.reconstruction) + max(0.0, target * float(terms.kl) - 50.0)
        else:
            expected = float(terms.reconstruction) + abs(float(terms.kl) - target)
        np.testing.assert_allclose(float(held), expected, **TOLERANCE)


@pytest.fixture(scope="module")
def factor_vaes(architecture):
    arrays = _load("discriminator")
    objectives = {}
    for gamma in (1, 10, 50):
        objective = FactorVAE(architecture, gamma=float(gamma), kl_target=50.0)
        load_discriminator(objective.discriminator, arrays)
        objectives[gamma] = objective
    return objectives


def test_factor_vae_loss_matches_original(losses, factor_vaes):
    """``recon + |KL − 50| + γ · TC`` with ``TC = mean(D(z)[:, 0] − D(z)[:, 1])`` (SPEC §6), against
    the original FactorVAETrainer's loss (β = 1, C = 50) for γ ∈ {1, 10, 50}."""
    terms = _terms(losses, "high_kl")
    for gamma, objective in factor_vaes.items():
        np.testing.assert_allclose(objective.discriminator(terms.z), losses["discriminator_logits_joint"],
                                   **TOLERANCE)
        np.testing.assert_allclose(float(objective.total_correlation(terms.z)), losses["total_correlation"],
                                   **TOLERANCE)
        loss, logs = objective.objective(terms, 0)
        np.testing.assert_allclose(float(loss), losses[f"factor_vae_{gamma}_loss"], **TOLERANCE)
        np.testing.assert_allclose(float(logs["total_correlation"]), losses["total_correlation"], **TOLERANCE)


def test_discriminator_loss_matches_original(losses, factor_vaes):
    """Softmax cross-entropy, q(z) codes as class 0 and permuted codes as class 1, averaged over the two
    terms; and the accuracy, on the codes and permutation the original trainer used."""
    z_permuted = losses["z_permuted"]
    # the original permuted each dimension of the second half independently
    np.testing.assert_array_equal(np.sort(z_permuted, axis=0), np.sort(losses["z_second_half"], axis=0))
    loss, accuracy = factor_vaes[10].discriminator_terms(losses["high_kl_z"], z_permuted)
    np.testing.assert_allclose(float(loss), losses["discriminator_loss"], **TOLERANCE)
    np.testing.assert_allclose(float(accuracy), losses["discriminator_accuracy"], **TOLERANCE)
