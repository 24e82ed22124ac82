"""S2-VAE (the supervised VAE of Pati & Lerch, ISMIR 2021; its ``S2VAETrainer.compute_reg_loss``):
``recon + max(0, β_t · KL − C) + γ · Σ_k BCE(σ(z_k), a_k)``.

Latent dimension k, through a sigmoid, predicts the k-th supervised factor's label a_k scaled to
[0, 1], with binary cross-entropy against that soft target (see :mod:`benchmarks.objectives.supervised`).
Computed from the logit z_k (numerically stable; the original clamps log σ at −100, which only matters
for |z_k| > 100). The follow-up's grid is γ ∈ {0.1, 1, 10} with β = 0.2, C = 50.
"""
from __future__ import annotations

import gin
from keras import ops

from benchmarks.objectives.supervised import SupervisedVAE, masked_mean


@gin.configurable
class S2VAE(SupervisedVAE):
    method = "s2_vae"

    def __init__(self, architecture, gamma: float = 1.0, **kwargs):
        super().__init__(architecture, gamma, **kwargs)

    def factor_loss(self, code, target, labelled):
        return masked_mean(ops.binary_crossentropy(target, code, from_logits=True), labelled)
