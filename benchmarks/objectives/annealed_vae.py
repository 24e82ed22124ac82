"""Annealed-VAE (Burgess et al.'s capacity control, protocol §6): ``recon + γ_t · |KL − C_t|``.

During the warm-up epochs the whole KL term has weight γ_t = 0: the model trains as a plain autoencoder
(the paper's "β = 0.0"; the original trainer multiplies the term by ``cur_beta = 0``), so the warm-up loss
is ``recon`` alone, not ``recon + |KL − 0|``. Afterwards γ_t = γ (1 in the paper) and the capacity C_t is
annealed exponentially from 0 to C over 100,000 steps.
"""
from __future__ import annotations

import gin
from keras import ops

from benchmarks.objectives.schedules import ExponentialAnnealing, warmup_steps
from benchmarks.objectives.vae import VAE


@gin.configurable
class AnnealedVAE(VAE):
    method = "annealed_vae"
    hyperparameter_name = "capacity"
    schedule_name = "capacity"

    def __init__(self, architecture, capacity: float = 50.0, gamma: float = 1.0, warmup_epochs: float = 10,
                 annealing_steps: int = 100_000, steps_per_epoch: int = 1):
        super().__init__(architecture)
        self.capacity, self.gamma = float(capacity), float(gamma)
        self.schedule = ExponentialAnnealing(capacity, warmup_steps(warmup_epochs, steps_per_epoch), annealing_steps)

    @property
    def hyperparameter_value(self) -> float:
        return self.capacity

    def objective(self, terms, step):
        capacity = self.schedule(step)
        gamma = self.gamma * self.schedule.warmed_up(step)
        return terms.reconstruction + gamma * ops.abs(terms.kl - capacity), {"capacity": capacity}
