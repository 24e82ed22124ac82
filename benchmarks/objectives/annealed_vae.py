"""Annealed-VAE (Burgess et al.'s capacity control, SPEC §6): ``recon + γ · |KL − C_t|``, γ = 1.

The capacity C_t is 0 for the warm-up epochs, then annealed exponentially to C over 100,000 steps.
"""
from __future__ import annotations

import gin
from keras import ops

from benchmarks.objectives.schedules import ExponentialAnnealing
from benchmarks.objectives.vae import VAE


@gin.configurable
class AnnealedVAE(VAE):
    method = "annealed_vae"
    hyperparameter_name = "capacity"

    def __init__(self, architecture, capacity: float = 50.0, gamma: float = 1.0, warmup_epochs: int = 10,
                 annealing_steps: int = 100_000, steps_per_epoch: int = 1):
        super().__init__(architecture)
        self.capacity, self.gamma = float(capacity), float(gamma)
        self.schedule = ExponentialAnnealing(capacity, warmup_epochs * steps_per_epoch, annealing_steps)

    @property
    def hyperparameter_value(self) -> float:
        return self.capacity

    def objective(self, terms, step):
        capacity = self.schedule(step)
        return terms.reconstruction + self.gamma * ops.abs(terms.kl - capacity), {"capacity": capacity}
