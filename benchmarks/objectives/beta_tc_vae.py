"""β-TCVAE (Chen et al., NeurIPS 2018, "Isolating Sources of Disentanglement in VAEs", Eq. 4 with
α = γ = 1): ``nll + KL + (β − 1) · TC``, the ELBO with its total-correlation part weighted by β.

TC = KL(q(z) ‖ ∏_j q(z_j)) is estimated on the batch by minibatch-weighted sampling, exactly as
disentanglement_lib's ``BetaTCVAE`` computes it (``methods/unsupervised/vae.py``, ``total_correlation``):
``log q(z_j) ≈ logsumexp_i log q(z_j | x_i)`` and ``log q(z_{j,l}) ≈ logsumexp_i log q(z_{j,l} | x_i)``,
dropping the constant log(batch · dataset size), which does not move the gradient.

Where it differs from disentanglement_lib: the encoder gives log σ, not log σ², and the
reconstruction term is the melody's token cross-entropy summed over its 16 tokens (the ELBO's
-log p(x | z); disentanglement_lib sums over an image's pixels). The paper's three objectives average
over tokens instead (protocol §6) and keep their own KL conventions; neither the KL threshold nor the
warm-up applies here: β-TCVAE has no schedule.
"""
from __future__ import annotations

import math

import gin
from keras import ops

from benchmarks.objectives.vae import VAE


def gaussian_log_density(samples, mean, log_std):
    """log N(samples; mean, exp(log_std)²), elementwise."""
    normalised = (samples - mean) * ops.exp(-log_std)
    return -0.5 * (ops.square(normalised) + math.log(2.0 * math.pi)) - log_std


def total_correlation(z, z_mean, z_log_std):
    """Minibatch-weighted-sampling estimate of KL(q(z) ‖ ∏_j q(z_j)) on a batch (Chen et al. 2018, §C.1)."""
    # log q(z_j | x_i) for every pair (j, i) and latent dimension l: (batch, batch, latent).
    log_qz_given_x = gaussian_log_density(z[:, None, :], z_mean[None, :, :], z_log_std[None, :, :])
    log_qz_product = ops.sum(ops.logsumexp(log_qz_given_x, axis=1), axis=1)
    log_qz = ops.logsumexp(ops.sum(log_qz_given_x, axis=2), axis=1)
    return ops.mean(log_qz - log_qz_product)


@gin.configurable
class BetaTCVAE(VAE):
    method = "beta_tc_vae"
    hyperparameter_name = "beta"

    def __init__(self, architecture, beta: float = 6.0, steps_per_epoch: int = 1):
        del steps_per_epoch  # no schedule
        super().__init__(architecture)
        self.beta = float(beta)

    @property
    def hyperparameter_value(self) -> float:
        return self.beta

    def tracked_names(self):
        return super().tracked_names() + ("total_correlation",)

    def objective(self, terms, step):
        tc = total_correlation(terms.z, terms.z_mean, terms.z_log_std)
        loss = self.negative_log_likelihood(terms) + terms.kl + (self.beta - 1.0) * tc
        return loss, {"total_correlation": tc}
