"""β-TCVAE, DIP-VAE-I/II, S2-VAE and AR-VAE compute their papers' equations: each term against a numpy
transcription of disentanglement_lib's TF code (β-TCVAE, DIP-VAE) or of the follow-up paper's PyTorch
code (S2-VAE, AR-VAE; ashispati/dmelodies_controllability), and each trains through the command line."""
import json
import os

import numpy as np
import pytest
from keras import ops

from benchmarks.study import grid
from benchmarks.study import methods
from benchmarks.models import build_cnn_vae
from benchmarks.objectives import ARVAE, S2VAE, BetaTCVAE, DIPVAEI, DIPVAEII
from benchmarks.objectives.vae import Terms
from dmelodies_tfds.factors import FACTOR_KEYS, FACTOR_SIZES
from helpers import gin_file, run_module, tiny_bindings, train_args

pytestmark = pytest.mark.usefixtures("no_gin_bindings")
NEW_METHODS = ("beta_tc_vae", "dip_vae_i", "dip_vae_ii", "s2_vae", "ar_vae")


def _posterior(batch=6, latent=32, seed=0):
    rng = np.random.default_rng(seed)
    z_mean = rng.normal(0, 1.5, (batch, latent)).astype("float32")
    z_log_std = rng.normal(-0.7, 0.3, (batch, latent)).astype("float32")
    z = (z_mean + np.exp(z_log_std) * rng.standard_normal((batch, latent))).astype("float32")
    return z, z_mean, z_log_std


def _terms(reconstruction, kl, z, z_mean=None, z_log_std=None, labels=None):
    tensor = lambda a: None if a is None else ops.convert_to_tensor(a)  # noqa: E731
    return Terms(tensor(np.float32(reconstruction)), None, tensor(np.float32(kl)), tensor(z), tensor(z_mean),
                 tensor(z_log_std), tensor(labels))


# --- disentanglement_lib's methods/unsupervised/vae.py, line by line in numpy (log_var = 2 log_std) ---

def _dlib_gaussian_log_density(samples, mean, log_var):
    normalization = np.log(2.0 * np.pi)
    inv_sigma = np.exp(-log_var)
    tmp = samples - mean
    return -0.5 * (tmp * tmp * inv_sigma + log_var + normalization)


def _logsumexp(x, axis):
    top = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.sum(np.exp(x - top), axis=axis))


def _dlib_total_correlation(z, z_mean, z_logvar):
    log_qz_prob = _dlib_gaussian_log_density(z[:, None], z_mean[None], z_logvar[None])
    log_qz_product = np.sum(_logsumexp(log_qz_prob, axis=1), axis=1)
    log_qz = _logsumexp(np.sum(log_qz_prob, axis=2), axis=1)
    return np.mean(log_qz - log_qz_product)


def _dlib_covariance_z_mean(z_mean):
    expectation_z_mean_z_mean_t = np.mean(z_mean[:, :, None] * z_mean[:, None, :], axis=0)
    expectation_z_mean = np.mean(z_mean, axis=0)
    return expectation_z_mean_z_mean_t - expectation_z_mean[:, None] * expectation_z_mean[None, :]


def _dlib_regularize_diag_off_diag_dip(covariance_matrix, lambda_od, lambda_d):
    diagonal = np.diag(covariance_matrix)
    off_diagonal = covariance_matrix - np.diag(diagonal)
    return lambda_od * np.sum(off_diagonal ** 2) + lambda_d * np.sum((diagonal - 1) ** 2)


def test_beta_tc_vae_is_the_elbo_plus_beta_minus_one_total_correlations():
    z, z_mean, z_log_std = _posterior()
    model = BetaTCVAE(build_cnn_vae(), beta=6.0)
    loss, logs = model.objective(_terms(1.25, 7.0, z, z_mean, z_log_std), 0)
    tc = _dlib_total_correlation(z.astype("float64"), z_mean.astype("float64"), 2.0 * z_log_std.astype("float64"))
    assert float(logs["total_correlation"]) == pytest.approx(tc, rel=1e-4, abs=1e-3)
    # The ELBO's -log p(x|z) is the token mean times the 16 tokens of a melody.
    assert float(loss) == pytest.approx(16 * 1.25 + 7.0 + 5.0 * tc, rel=1e-4, abs=1e-3)
    assert float(BetaTCVAE(build_cnn_vae(), beta=1.0).objective(_terms(1.25, 7.0, z, z_mean, z_log_std), 0)[0]) \
        == pytest.approx(16 * 1.25 + 7.0, rel=1e-6)  # β = 1: the plain ELBO


def test_total_correlation_is_small_for_independent_codes_and_large_for_a_copied_dimension():
    rng = np.random.default_rng(1)
    z_mean = rng.normal(0, 1, (400, 2)).astype("float32")
    z_log_std = np.full_like(z_mean, np.log(0.1))
    model = BetaTCVAE(build_cnn_vae(), beta=2.0)
    tc = lambda m: float(model.objective(_terms(0.0, 0.0, m, m, z_log_std), 0)[1]["total_correlation"])  # noqa: E731
    copied = z_mean.copy()
    copied[:, 1] = copied[:, 0]
    assert tc(copied) > tc(z_mean) + 1.0


@pytest.mark.parametrize("cls, lambda_d_factor", [(DIPVAEI, 10.0), (DIPVAEII, 1.0)])
def test_dip_vae_regularises_the_covariance_as_disentanglement_lib(cls, lambda_d_factor):
    z, z_mean, z_log_std = _posterior(batch=8, latent=5)
    model = cls(build_cnn_vae(latent_dim=5), lambda_od=2.0)
    assert model.lambda_d == 2.0 * lambda_d_factor  # the study's λ_d, tied to λ_od
    covariance = _dlib_covariance_z_mean(z_mean.astype("float64"))
    if cls is DIPVAEII:
        covariance = covariance + np.mean(np.stack([np.diag(v) for v in np.exp(2.0 * z_log_std)]), axis=0)
    expected = _dlib_regularize_diag_off_diag_dip(covariance, 2.0, 2.0 * lambda_d_factor)
    loss, logs = model.objective(_terms(0.5, 3.0, z, z_mean, z_log_std), 0)
    assert float(logs["dip_regularizer"]) == pytest.approx(expected, rel=1e-4)
    assert float(loss) == pytest.approx(16 * 0.5 + 3.0 + expected, rel=1e-4)


def test_dip_vae_costs_nothing_for_whitened_means():
    rng = np.random.default_rng(2)
    z_mean = rng.normal(size=(64, 3))
    z_mean = (z_mean - z_mean.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z_mean.T, bias=True))).T
    model = DIPVAEI(build_cnn_vae(latent_dim=3), lambda_od=5.0)
    z_mean = z_mean.astype("float32")
    assert float(model.objective(_terms(0.0, 0.0, z_mean, z_mean, np.zeros_like(z_mean)), 0)[1]["dip_regularizer"]) \
        == pytest.approx(0.0, abs=1e-4)


# --- ashispati/dmelodies_controllability, in numpy: S2VAETrainer.compute_reg_loss, Trainer.reg_loss_sign ---

NORMALISATION = np.array([11, 2, 2, 27, 27, 1, 1, 1, 1], dtype="float32")  # LATENT_NORMALIZATION_FACTORS


def _original_s2_regulariser(z, labels, gamma):
    metadata = labels / NORMALISATION
    loss = 0.0
    for i in range(9):
        p = 1.0 / (1.0 + np.exp(-z[:, i].astype("float64")))
        target = metadata[:, i]
        loss += np.mean(-(target * np.log(p) + (1 - target) * np.log(1 - p)))  # torch's BCE, mean
    return gamma * loss


def _original_ar_regulariser(z, labels, gamma, delta):
    metadata = labels / NORMALISATION
    loss = 0.0
    for dim in range(9):
        code, attribute = z[:, dim].astype("float64"), metadata[:, dim]
        lc_dist = (code[:, None] - code[None, :]).reshape(-1)  # the original's repeat / transpose
        attribute_dist = (attribute[:, None] - attribute[None, :]).reshape(-1)
        loss += gamma * np.mean(np.abs(np.tanh(lc_dist * delta) - np.sign(attribute_dist)))  # L1Loss
    return loss


def _labelled_batch(batch=12, seed=3):
    rng = np.random.default_rng(seed)
    labels = np.stack([rng.integers(0, size, batch) for size in FACTOR_SIZES], axis=1)
    z = rng.normal(0, 0.4, (batch, 32)).astype("float32")
    return z, labels


@pytest.mark.parametrize("cls", [S2VAE, ARVAE])
def test_supervised_regulariser_matches_the_follow_up_code(cls):
    z, labels = _labelled_batch()
    model = cls(build_cnn_vae(), gamma=10.0, warmup_epochs=1, annealing_steps=10, steps_per_epoch=5)
    expected = (_original_s2_regulariser(z, labels, 10.0) if cls is S2VAE
                else _original_ar_regulariser(z, labels, 10.0, 10.0))
    loss, logs = model.objective(_terms(1.5, 100.0, z, labels=labels), 0)
    assert 10.0 * float(logs["attribute_loss"]) == pytest.approx(expected, rel=1e-4)
    assert float(loss) == pytest.approx(1.5 + expected, rel=1e-4)  # warm-up: β_t = 0
    # After annealing: the β-VAE part is the paper's, β = 0.2 and the threshold C = 50.
    loss = float(model.objective(_terms(1.5, 400.0, z, labels=labels), 20)[0])
    assert loss == pytest.approx(1.5 + (0.2 * 400.0 - 50.0) + expected, rel=1e-4)


@pytest.mark.parametrize("cls", [S2VAE, ARVAE])
def test_withheld_labels_do_not_count(cls):
    z, labels = _labelled_batch(batch=10)
    model = cls(build_cnn_vae(), gamma=1.0)
    partial = labels.copy()
    partial[4:] = -1
    on_partial = float(model.objective(_terms(0.0, 0.0, z, labels=partial), 0)[1]["attribute_loss"])
    on_kept = float(model.objective(_terms(0.0, 0.0, z[:4], labels=labels[:4]), 0)[1]["attribute_loss"])
    assert on_partial == pytest.approx(on_kept, rel=1e-5)
    nothing = np.full_like(labels, -1)
    assert float(model.objective(_terms(0.0, 0.0, z, labels=nothing), 0)[1]["attribute_loss"]) == 0.0


def test_chosen_factors_take_the_first_latent_dimensions():
    z, labels = _labelled_batch()
    model = S2VAE(build_cnn_vae(), gamma=1.0, factors=("octave", "rhythm_bar2"))
    target = np.stack([labels[:, 1] / 2.0, labels[:, 4] / 27.0], axis=1)
    p = 1.0 / (1.0 + np.exp(-z[:, :2].astype("float64")))
    expected = np.sum(np.mean(-(target * np.log(p) + (1 - target) * np.log(1 - p)), axis=0))
    assert float(model.objective(_terms(0.0, 0.0, z, labels=labels), 0)[1]["attribute_loss"]) == pytest.approx(
        expected, rel=1e-4)


def test_labelled_fraction_keeps_a_seeded_subset():
    labels = np.tile(np.arange(9), (1000, 1))
    model = ARVAE(build_cnn_vae(), labelled_fraction=0.01)
    kept = model.withhold_labels(labels, seed=0)
    assert np.sum(kept[:, 0] >= 0) == 10 and set(np.unique(kept)) <= set(range(-1, 9))
    assert np.array_equal(kept, model.withhold_labels(labels, seed=0))
    assert not np.array_equal(kept, model.withhold_labels(labels, seed=1))
    assert np.array_equal(ARVAE(build_cnn_vae()).withhold_labels(labels, seed=0), labels)


@pytest.mark.parametrize("bad, message", [
    (dict(factors=("tonic", "pitch")), "distinct dMelodies factors"),
    (dict(factors=("tonic", "tonic")), "distinct dMelodies factors"),
    (dict(labelled_fraction=0.0), "labelled_fraction must be in"),
    (dict(labelled_fraction=1.5), "labelled_fraction must be in"),
])
def test_bad_supervision_settings_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        S2VAE(build_cnn_vae(), **bad)
    with pytest.raises(ValueError, match="need as many latent dimensions"):
        ARVAE(build_cnn_vae(latent_dim=4))


def test_every_method_has_its_gin_files_and_grid():
    for method in NEW_METHODS:
        for architecture in ("cnn", "rnn"):
            assert os.path.exists(gin_file(f"{architecture}_{method}"))
        runs = grid.grid(methods=(method,))
        assert {r.method for r in runs} == {method}
        assert len(runs) == 2 * 3 * len(methods.METHODS[method].values)
    assert len(grid.grid(methods=tuple(methods.METHODS))) == 54 + 2 * 3 * (6 + 6 + 6 + 3 + 3)


def _train(data_dir, gin_name, model_dir, *bindings):
    process = run_module("benchmarks.train", *train_args(
        gin_name, [*tiny_bindings(data_dir, **{"train.batch_size": 64}), *bindings], model_dir))
    assert process.returncode == 0, process.stderr[-3000:]
    with open(os.path.join(model_dir, "results.json")) as f:
        return json.load(f), process.stderr


@pytest.mark.integration
@pytest.mark.parametrize("method", NEW_METHODS)
def test_each_method_trains_through_the_command_line(method, data_dir, tmp_path):
    results, log = _train(data_dir, f"cnn_{method}", str(tmp_path / method))
    configurable, hyperparameter = methods.METHODS[method].configurable, methods.METHODS[method].hyperparameter
    assert (results["method"], results["hyperparameter_name"], results["steps"]) == (method, hyperparameter, 6)
    assert np.isfinite(results["test_loss"])
    if method in ("s2_vae", "ar_vae"):
        assert "attribute_loss" in results["test_metrics"]
        assert "step 0: beta enters warm-up" in log  # the schedule anneals β, not the hyperparameter γ
    else:
        assert "enters warm-up" not in log  # no schedule


@pytest.mark.integration
def test_rnn_ar_vae_trains_with_one_percent_of_the_labels(data_dir, tmp_path):
    results, _ = _train(data_dir, "rnn_ar_vae", str(tmp_path / "few"), "ARVAE.labelled_fraction = 0.01",
                        "ARVAE.factors = ('tonic', 'octave')")
    assert results["method"] == "ar_vae" and np.isfinite(results["test_metrics"]["attribute_loss"])
