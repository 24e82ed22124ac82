"""What the supervised music VAEs share (Pati & Lerch, ISMIR 2021, "Is Disentanglement enough? On Latent
Representations for Controllable Music Generation"; code: ashispati/dmelodies_controllability).

Both S2-VAE and AR-VAE add to the paper's β-VAE objective (protocol §6: ``recon + max(0, β_t · KL − C)``,
with the follow-up's β = 0.2, C = 50, the same warm-up and annealing) a term ``γ · Σ_k loss_k`` that
ties latent dimension k to the k-th supervised factor, computed on the factors' labels scaled to [0, 1]
(label / (number of values − 1), the follow-up's ``LATENT_NORMALIZATION_FACTORS``).

Which factors are supervised (``factors``, default all nine, dimension k ↔ ``factors[k]``) and how many
training melodies keep their labels (``labelled_fraction``, default all) are parameters. The labelled
melodies are a seeded random subset of the training split; in a batch, the term averages over the
labelled melodies only (a batch without any contributes 0), so with 1 % of the labels a batch of 512
carries about five. Validation and test losses use every label.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from keras import ops

from benchmarks.objectives.beta_vae import BetaVAE
from dmelodies_tfds.factors import FACTOR_KEYS, FACTOR_SIZES


def masked_mean(values, weights):
    """Σ weights · values / Σ weights, and 0 where every weight is 0."""
    return ops.sum(values * weights) / ops.maximum(ops.sum(weights), 1.0)


class SupervisedVAE(BetaVAE):
    """β-VAE plus ``γ · attribute_loss``; a subclass defines the attribute loss of one factor."""

    supervised = True
    hyperparameter_name = "gamma"

    def __init__(self, architecture, gamma: float, beta: float = 0.2, kl_threshold: float = 50.0,
                 warmup_epochs: float = 10, annealing_steps: int = 100_000, factors: Sequence[str] = FACTOR_KEYS,
                 labelled_fraction: float = 1.0, steps_per_epoch: int = 1):
        super().__init__(architecture, beta=beta, kl_threshold=kl_threshold, warmup_epochs=warmup_epochs,
                         annealing_steps=annealing_steps, steps_per_epoch=steps_per_epoch)
        self.gamma = float(gamma)
        factors = (factors,) if isinstance(factors, str) else tuple(factors)
        unknown = [f for f in factors if f not in FACTOR_KEYS]
        if unknown or not factors or len(set(factors)) != len(factors):
            raise ValueError(f"{type(self).__name__}.factors must name distinct dMelodies factors "
                             f"({', '.join(FACTOR_KEYS)}); got {list(factors)}")
        latent_dim = self.encoder.outputs[0].shape[-1]
        if len(factors) > latent_dim:
            raise ValueError(f"{len(factors)} supervised factors need as many latent dimensions; the "
                             f"encoder has {latent_dim}")
        if not 0 < labelled_fraction <= 1:
            raise ValueError(f"{type(self).__name__}.labelled_fraction must be in (0, 1], got {labelled_fraction}")
        self.factors, self.labelled_fraction = factors, float(labelled_fraction)
        self.columns = [FACTOR_KEYS.index(f) for f in factors]
        self.scales = np.array([FACTOR_SIZES[c] - 1 for c in self.columns], dtype="float32")

    @property
    def hyperparameter_value(self) -> float:
        return self.gamma

    def tracked_names(self):
        return super().tracked_names() + ("attribute_loss",)

    def withhold_labels(self, labels: np.ndarray, seed: int) -> np.ndarray:
        """``labels`` (n, 9) with every row outside a seeded random ``labelled_fraction`` of them set to -1."""
        kept = max(1, round(self.labelled_fraction * len(labels)))
        withheld = np.full_like(labels, -1)
        rows = np.random.RandomState(seed).permutation(len(labels))[:kept]
        withheld[rows] = labels[rows]
        return withheld

    def factor_loss(self, code, target, labelled):
        """The loss tying one latent dimension ``code`` (batch,) to its scaled factor ``target`` (batch,),
        over the rows where ``labelled`` (batch,) is 1."""
        raise NotImplementedError

    def attribute_loss(self, z, labels):
        """Σ over the supervised factors of :meth:`factor_loss` on their latent dimensions."""
        labels = ops.take(labels, self.columns, axis=1)
        labelled = ops.cast(ops.all(labels >= 0, axis=1), "float32")
        targets = ops.cast(labels, "float32") / self.scales
        return sum(self.factor_loss(z[:, k], targets[:, k], labelled) for k in range(len(self.columns)))

    def objective(self, terms, step):
        loss, logs = super().objective(terms, step)
        attribute_loss = self.attribute_loss(terms.z, terms.labels)
        return loss + self.gamma * attribute_loss, logs | {"attribute_loss": attribute_loss}
