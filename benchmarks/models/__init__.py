"""The benchmark networks, one module each (protocol §6). Importing this package registers the custom
layers that ``decoder.keras`` files need (``keras.saving.load_model`` then works)."""
from benchmarks.models.architecture import Architecture
from benchmarks.models.cnn_vae import build_cnn_vae
from benchmarks.models.discriminator import build_discriminator
from benchmarks.models.dsprites_vae import build_dsprites_vae
from benchmarks.models.rnn_vae import HierarchicalDecoder, build_rnn_vae

ARCHITECTURES = {"cnn": build_cnn_vae, "rnn": build_rnn_vae, "dsprites": build_dsprites_vae}

__all__ = ["ARCHITECTURES", "Architecture", "HierarchicalDecoder", "build_cnn_vae", "build_discriminator",
           "build_dsprites_vae", "build_rnn_vae"]
