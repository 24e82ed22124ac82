"""The objectives, one ``keras.Model`` subclass each: the paper's three (protocol §6), the unsupervised
baselines β-TCVAE and DIP-VAE-I/II, and the supervised music VAEs S2-VAE and AR-VAE; and their schedules."""
from benchmarks.objectives.annealed_vae import AnnealedVAE
from benchmarks.objectives.ar_vae import ARVAE
from benchmarks.objectives.beta_tc_vae import BetaTCVAE
from benchmarks.objectives.beta_vae import BetaVAE
from benchmarks.objectives.dip_vae import DIPVAEI, DIPVAEII
from benchmarks.objectives.factor_vae import FactorVAE, permute_dims
from benchmarks.objectives.s2_vae import S2VAE
from benchmarks.objectives.schedules import ExponentialAnnealing
from benchmarks.objectives.vae import VAE, Sampling, kl_divergence

OBJECTIVES = {cls.method: cls for cls in (BetaVAE, AnnealedVAE, FactorVAE, BetaTCVAE, DIPVAEI, DIPVAEII, S2VAE,
                                          ARVAE)}

__all__ = ["OBJECTIVES", "ARVAE", "AnnealedVAE", "BetaTCVAE", "BetaVAE", "DIPVAEI", "DIPVAEII",
           "ExponentialAnnealing", "FactorVAE", "S2VAE", "Sampling", "VAE", "kl_divergence", "permute_dims"]
