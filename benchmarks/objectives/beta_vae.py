"""β-VAE with the paper's KL threshold (protocol §6): ``recon + max(0, β_t · KL − τ)``, τ = 50.

β_t is 0 for the warm-up epochs, then annealed exponentially to β over 100,000 steps. The threshold
applies to the scaled term, so the KL is free up to τ / β_t nats.
"""
from __future__ import annotations

import gin
from keras import ops

from benchmarks.objectives.schedules import ExponentialAnnealing, warmup_steps
from benchmarks.objectives.vae import VAE


@gin.configurable
class BetaVAE(VAE):
    method = "beta_vae"
    hyperparameter_name = "beta"
    schedule_name = "beta"  # what the schedule anneals (also for the supervised objectives built on this one)

    def __init__(self, architecture, beta: float = 1.0, kl_threshold: float = 50.0, warmup_epochs: float = 10,
                 annealing_steps: int = 100_000, steps_per_epoch: int = 1):
        super().__init__(architecture)
        self.beta, self.kl_threshold = float(beta), float(kl_threshold)
        self.schedule = ExponentialAnnealing(beta, warmup_steps(warmup_epochs, steps_per_epoch), annealing_steps)

    @property
    def hyperparameter_value(self) -> float:
        return self.beta

    def objective(self, terms, step):
        beta = self.schedule(step)
        return terms.reconstruction + ops.maximum(0.0, beta * terms.kl - self.kl_threshold), {"beta": beta}
