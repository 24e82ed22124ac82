"""The study's methods: each objective class (its ``method`` and ``hyperparameter_name``), the values its
grid sweeps, and what follows from the class (whether its runs stack, whether its schedule scales).

The classes are the one source of a method's names: the grid names run folders ``<hyperparameter>=<value>``
and binds ``<ClassName>.<hyperparameter>`` from them.
"""
from __future__ import annotations

import dataclasses

from benchmarks.objectives import OBJECTIVES

# Each method's grid values. The paper's three: protocol §6. β-TCVAE and DIP-VAE-I/II: disentanglement_lib's
# study values (config/unsupervised_study_v1/sweep.py). S2-VAE and AR-VAE: Pati & Lerch's ISMIR 2021
# follow-up (ashispati/dmelodies_controllability, script_train_dmelodies.py).
GRID_VALUES = {
    "beta_vae": (0.2, 1.0, 4.0),
    "annealed_vae": (25.0, 50.0, 75.0),
    "factor_vae": (1.0, 10.0, 50.0),
    "beta_tc_vae": (1.0, 2.0, 4.0, 6.0, 8.0, 10.0),
    "dip_vae_i": (1.0, 2.0, 5.0, 10.0, 20.0, 50.0),
    "dip_vae_ii": (1.0, 2.0, 5.0, 10.0, 20.0, 50.0),
    "s2_vae": (0.1, 1.0, 10.0),
    "ar_vae": (0.1, 1.0, 10.0),
}
PAPER_METHODS = ("beta_vae", "annealed_vae", "factor_vae")


@dataclasses.dataclass(frozen=True)
class Method:
    """A method of the study, read from its objective class."""

    name: str  # "beta_vae"
    configurable: str  # the class's gin name: "BetaVAE"
    hyperparameter: str  # "beta"
    values: tuple[float, ...]  # its grid
    stacks: bool  # runs of it can train as one stacked model
    scheduled: bool  # it warms up and anneals (protocol §6): a budget scale shortens its schedule too


def _method(name: str) -> Method:
    cls = OBJECTIVES[name]
    return Method(name, cls.__name__, cls.hyperparameter_name, GRID_VALUES[name], cls.stacks(),
                  getattr(cls, "schedule_name", None) is not None)


METHODS: dict[str, Method] = {name: _method(name) for name in GRID_VALUES}
if set(METHODS) != set(OBJECTIVES):
    raise ImportError(f"every objective needs grid values: {sorted(set(OBJECTIVES) ^ set(METHODS))}")
STACKABLE = tuple(name for name, method in METHODS.items() if method.stacks)
SCHEDULED = tuple(name for name, method in METHODS.items() if method.scheduled)
