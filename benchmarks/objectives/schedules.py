"""Per-step hyperparameter schedules: warm-up, then exponential annealing to a target (protocol §6).

β-VAE anneals β and Annealed-VAE the capacity C: both are 0 for the warm-up steps, then follow
``value(k) = (1 + target) ** (k / annealing_steps) - 1`` for the k-th step after warm-up, which rises
from 0 to ``target`` and is then held there.
"""
from __future__ import annotations

from keras import ops


def warmup_steps(warmup_epochs: float, steps_per_epoch: int) -> int:
    """protocol §6 gives the warm-up in epochs; the schedules count optimiser steps. A fractional number of
    epochs (the compressed protocol scales 10 epochs down to 0.5) rounds to the nearest step."""
    if warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
    return int(round(warmup_epochs * steps_per_epoch))


class ExponentialAnnealing:
    """The schedule as a function of the optimiser's step counter (so it resumes with the optimiser)."""

    def __init__(self, target: float, warmup_steps: int = 0, annealing_steps: int = 100_000):
        if target < 0:
            raise ValueError(f"the annealing target must be >= 0, got {target}")
        if warmup_steps < 0 or annealing_steps <= 0:
            raise ValueError(f"need warmup_steps >= 0 and annealing_steps > 0, got {warmup_steps}, {annealing_steps}")
        self.target, self.warmup_steps, self.annealing_steps = float(target), int(warmup_steps), int(annealing_steps)

    def __call__(self, step):
        """The value in force for the step ``step`` (0-based), as a float32 scalar tensor."""
        after_warmup = ops.clip(ops.cast(step, "float32") - self.warmup_steps, 0.0, self.annealing_steps)
        return ops.power(1.0 + self.target, after_warmup / self.annealing_steps) - 1.0

    def warmed_up(self, step):
        """1.0 once the warm-up is over, 0.0 during it: the weight of a term that the warm-up switches off."""
        return ops.cast(ops.greater_equal(ops.cast(step, "float32"), float(self.warmup_steps)), "float32")

    def phase(self, step: int) -> str:
        """"warm-up", "annealing" or "held": what the run log reports as the schedule moves on."""
        if step < self.warmup_steps:
            return "warm-up"
        return "annealing" if step < self.warmup_steps + self.annealing_steps else "held"

    def __repr__(self):
        return (f"ExponentialAnnealing(target={self.target:g}, warmup_steps={self.warmup_steps}, "
                f"annealing_steps={self.annealing_steps})")
