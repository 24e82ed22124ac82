"""DIP-VAE-I and DIP-VAE-II (Kumar et al., ICLR 2018, "Variational Inference of Disentangled Latent
Concepts from Unlabeled Observations", Eqs. 6 and 7): ``nll + KL + λ_od Σ_{i≠j} C_ij² + λ_d Σ_i (C_ii − 1)²``.

C is a batch estimate of the covariance of the aggregate posterior, pushed towards the identity:
DIP-VAE-I uses Cov[μ(x)], DIP-VAE-II the full Cov_q(z) = E[diag σ²(x)] + Cov[μ(x)], both as
disentanglement_lib computes them (``methods/unsupervised/vae.py``: ``compute_covariance_z_mean``,
``regularize_diag_off_diag_dip``). Its study ties λ_d to λ_od: λ_d = 10 λ_od for DIP-VAE-I and
λ_d = λ_od for DIP-VAE-II (``config/unsupervised_study_v1/sweep.py``), the defaults here.

Where it differs from disentanglement_lib: the encoder gives log σ (σ² = exp(2 log σ)), and the
reconstruction term is the melody's token cross-entropy summed over its 16 tokens (the ELBO's
-log p(x | z)); no KL threshold, warm-up or annealing (those are the paper's, protocol §6).
"""
from __future__ import annotations

import gin
from keras import ops

from benchmarks.objectives.vae import VAE


def covariance(z_mean):
    """Cov[μ] over the batch: E[μ μᵀ] − E[μ] E[μ]ᵀ, (latent, latent)."""
    mean = ops.mean(z_mean, axis=0)
    return ops.mean(z_mean[:, :, None] * z_mean[:, None, :], axis=0) - mean[:, None] * mean[None, :]


def diagonal_off_diagonal_penalty(matrix, lambda_od: float, lambda_d: float):
    """λ_od · Σ of the squared off-diagonal entries + λ_d · Σ of the squared diagonal deviations from 1."""
    diagonal = ops.diagonal(matrix)
    off_diagonal = matrix - ops.diag(diagonal)
    return lambda_od * ops.sum(ops.square(off_diagonal)) + lambda_d * ops.sum(ops.square(diagonal - 1.0))


class _DIPVAE(VAE):
    """The shared objective; a subclass says which covariance it regularises and how λ_d follows λ_od.

    Args:
      lambda_od: weight of the off-diagonal penalty.
      lambda_d_factor: λ_d = lambda_d_factor · λ_od; None for the study's tie (10 for I, 1 for II).
    """

    hyperparameter_name = "lambda_od"
    study_lambda_d_factor: float

    def __init__(self, architecture, lambda_od: float = 10.0, lambda_d_factor: float | None = None,
                 steps_per_epoch: int = 1):
        del steps_per_epoch  # no schedule
        super().__init__(architecture)
        factor = self.study_lambda_d_factor if lambda_d_factor is None else lambda_d_factor
        self.lambda_od, self.lambda_d = float(lambda_od), float(factor) * float(lambda_od)

    @property
    def hyperparameter_value(self) -> float:
        return self.lambda_od

    def tracked_names(self):
        return super().tracked_names() + ("dip_regularizer",)

    def regularised_covariance(self, terms):
        raise NotImplementedError

    def objective(self, terms, step):
        dip = diagonal_off_diagonal_penalty(self.regularised_covariance(terms), self.lambda_od, self.lambda_d)
        return self.negative_log_likelihood(terms) + terms.kl + dip, {"dip_regularizer": dip}


@gin.configurable
class DIPVAEI(_DIPVAE):
    """DIP-VAE-I (Eq. 6): regularises Cov[μ(x)]; λ_d = 10 λ_od by default."""

    method = "dip_vae_i"
    study_lambda_d_factor = 10.0

    def regularised_covariance(self, terms):
        return covariance(terms.z_mean)


@gin.configurable
class DIPVAEII(_DIPVAE):
    """DIP-VAE-II (Eq. 7): regularises Cov_q(z) = E[diag σ²(x)] + Cov[μ(x)]; λ_d = λ_od by default."""

    method = "dip_vae_ii"
    study_lambda_d_factor = 1.0

    def regularised_covariance(self, terms):
        return ops.diag(ops.mean(ops.exp(2.0 * terms.z_log_std), axis=0)) + covariance(terms.z_mean)
