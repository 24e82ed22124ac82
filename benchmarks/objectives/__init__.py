"""The paper's three objectives, one ``keras.Model`` subclass each (SPEC §6), and their schedules."""
from benchmarks.objectives.annealed_vae import AnnealedVAE
from benchmarks.objectives.beta_vae import BetaVAE
from benchmarks.objectives.factor_vae import FactorVAE, permute_dims
from benchmarks.objectives.schedules import ExponentialAnnealing
from benchmarks.objectives.vae import VAE, Sampling, kl_divergence

OBJECTIVES = {cls.method: cls for cls in (BetaVAE, AnnealedVAE, FactorVAE)}

__all__ = ["OBJECTIVES", "AnnealedVAE", "BetaVAE", "ExponentialAnnealing", "FactorVAE", "Sampling", "VAE",
           "kl_divergence", "permute_dims"]
