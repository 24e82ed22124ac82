"""What every benchmark architecture hands to an objective: an encoder, a decoder, and how to read them."""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import keras

from benchmarks.models.members import ONE_RUN, OneRun

# protocol §6: every weight matrix (dense, convolution, embedding, recurrent) starts Glorot/Xavier-normal.
INITIALIZER = "glorot_normal"


@dataclasses.dataclass
class Architecture:
    """An encoder/decoder pair.

    Attributes:
      name: "cnn", "rnn" or "dsprites"; recorded in ``results.json``.
      encoder: inputs -> ``[z_mean, z_log_std]``, built only from Keras' own layers so that it loads
        with ``keras.saving.load_model`` and nothing else (evaluation reads it that way).
      decoder: z -> logits, decoding freely: what evaluation and ``decoder.keras`` use.
      likelihood: the output distribution: "categorical" (token logits, protocol §6) or "bernoulli" (pixels).
      teacher_forced_decoder: ``[z, targets]`` -> logits sharing the decoder's weights, for decoders that
        are teacher-forced in training (the RNN, protocol §6); None when training decodes like evaluation.
      training_encoder: ``(inputs, training, runs)`` -> ``[z_mean, z_log_std]``: the encoder's function from
        the encoder's own weights and random layers, in a formulation that trains faster than Keras' layers
        allow (the CNN's and the RNN's); None to train ``encoder`` itself.
      training_decoder: ``(z, targets, training, runs)`` -> logits: the function of ``teacher_forced_decoder``
        (or of ``decoder`` when there is none), written against :mod:`benchmarks.models.members` like
        ``training_encoder`` so that K stacked runs (:mod:`benchmarks.models.stacked`) compute it too;
        None where the architecture does not stack.
    """

    name: str
    encoder: keras.Model
    decoder: keras.Model
    likelihood: str = "categorical"
    teacher_forced_decoder: Optional[keras.Model] = None
    training_encoder: Optional[Callable[..., list]] = None
    training_decoder: Optional[Callable[..., object]] = None

    def count_params(self) -> dict[str, int]:
        """Parameters of the encoder, the decoder and both, for the run log (protocol §6 sizes)."""
        encoder, decoder = self.encoder.count_params(), self.decoder.count_params()
        return {"encoder": encoder, "decoder": decoder, "total": encoder + decoder}


def gaussian_heads(features, latent_dim: int, hidden_units: int, name: str = "encoder") -> list:
    """The posterior's two heads, each Dense(hidden) + SELU + Dense(latent): mean and log std (protocol §6)."""
    heads = []
    for head in ("z_mean", "z_log_std"):
        hidden = keras.layers.Dense(hidden_units, activation="selu", kernel_initializer=INITIALIZER,
                                    name=f"{head}_hidden")(features)
        heads.append(keras.layers.Dense(latent_dim, kernel_initializer=INITIALIZER, name=head)(hidden))
    return heads


def gaussian_head_layers(encoder: keras.Model) -> list:
    """``[(hidden, output), ...]`` of the mean and log-std heads that :func:`gaussian_heads` built into ``encoder``."""
    return [(encoder.get_layer(f"{head}_hidden"), encoder.get_layer(head)) for head in ("z_mean", "z_log_std")]


def apply_gaussian_heads(head_layers: list, features, runs: OneRun = ONE_RUN) -> list:
    """features -> ``[z_mean, z_log_std]`` through the ``(hidden, output)`` layers of
    :func:`gaussian_head_layers`, for ``runs`` (:mod:`benchmarks.models.members`; one run by default):
    the heads of the encoders' faster training formulations, which share the encoder's layers."""
    return [runs.layer(head, runs.layer(hidden, features)) for hidden, head in head_layers]
