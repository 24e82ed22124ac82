"""AR-VAE, the attribute-regularised VAE (Pati & Lerch, "Attribute-based Regularization of Latent Spaces
for Variational Auto-Encoders", Neural Computing and Applications 2020; on dMelodies in their ISMIR 2021
follow-up, ``Trainer.reg_loss_sign``): ``recon + max(0, β_t · KL − C) + γ · Σ_k L_k``, with

    L_k = mean over pairs (i, j) of | tanh(δ · (z_ik − z_jk)) − sign(a_ik − a_jk) |,

which orders the melodies along latent dimension k as the k-th supervised factor orders them; δ sets
how sharp the tanh is. Pairs run over the batch's labelled melodies, (i, i) included as in the
original's L1 mean over the full distance matrix (see :mod:`benchmarks.objectives.supervised`). The
follow-up's grid is γ ∈ {0.1, 1, 10} with δ = 10, β = 0.2, C = 50.
"""
from __future__ import annotations

import gin
from keras import ops

from benchmarks.objectives.supervised import SupervisedVAE, masked_mean


@gin.configurable
class ARVAE(SupervisedVAE):
    method = "ar_vae"

    def __init__(self, architecture, gamma: float = 1.0, delta: float = 10.0, **kwargs):
        super().__init__(architecture, gamma, **kwargs)
        self.delta = float(delta)

    def factor_loss(self, code, target, labelled):
        code_distance = code[:, None] - code[None, :]
        target_sign = ops.sign(target[:, None] - target[None, :])
        pairs = labelled[:, None] * labelled[None, :]
        return masked_mean(ops.abs(ops.tanh(self.delta * code_distance) - target_sign), pairs)
