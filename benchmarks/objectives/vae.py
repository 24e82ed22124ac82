"""What the objectives share: the reparameterised sample, the KL term, the reconstruction term, and a
``keras.Model`` that trains an :class:`~benchmarks.models.Architecture` (protocol §6).

A subclass states its loss in :meth:`VAE.objective`; the generic :meth:`VAE.training_step` differentiates
it with respect to the encoder and decoder only, on any Keras backend
(:mod:`benchmarks.objectives.differentiation`), and reports every term to the loss trackers. A supervised
objective (``supervised = True``) is fed batches of ``(tokens, labels)`` and finds the labels in
:attr:`Terms.labels`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import keras
import numpy as np
from keras import ops

from benchmarks.models import Architecture
from benchmarks.objectives import differentiation


class Sampling(keras.layers.Layer):
    """z = mean + exp(log_std) * ε, ε ~ N(0, I): the reparameterised posterior sample (protocol §6)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, z_mean, z_log_std):
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(z_log_std) * epsilon


def kl_divergence(z_mean, z_log_std):
    """KL(N(mean, exp(log_std)²) ‖ N(0, I)), summed over latent dimensions, averaged over the batch."""
    per_dimension = 0.5 * (ops.square(z_mean) + ops.exp(2.0 * z_log_std) - 1.0) - z_log_std
    return ops.mean(ops.sum(per_dimension, axis=-1))


def categorical_reconstruction(tokens, logits):
    """Token cross-entropy averaged over every token of the batch, and per-token argmax accuracy.

    The cross-entropy is written out, log Σ exp(logits) − logits[token]: the same quantity as
    ``sparse_categorical_crossentropy(from_logits=True)``, whose fused op is slower forward and backward
    on a CPU (perf/PROFILE.md). The token's logit is
    picked by a one-hot product: a gather's gradient is a scatter, slower here than a multiplication."""
    picked = ops.sum(logits * ops.one_hot(tokens, ops.shape(logits)[-1], dtype=logits.dtype), axis=-1)
    loss = ops.mean(ops.logsumexp(logits, axis=-1) - picked)
    predicted = ops.cast(ops.argmax(logits, axis=-1), tokens.dtype)
    return loss, ops.mean(ops.cast(ops.equal(predicted, tokens), "float32"))


def bernoulli_reconstruction(images, logits):
    """Pixel cross-entropy summed over an image, averaged over the batch, and pixel accuracy; a pixel
    is on when non-zero (dSprites stores 0/1)."""
    on = ops.cast(images > 0, logits.dtype)
    per_pixel = ops.binary_crossentropy(on, logits, from_logits=True)
    loss = ops.mean(ops.sum(ops.reshape(per_pixel, (ops.shape(on)[0], -1)), axis=-1))
    return loss, ops.mean(ops.cast(ops.equal(ops.cast(logits > 0, on.dtype), on), "float32"))


RECONSTRUCTIONS = {"categorical": categorical_reconstruction, "bernoulli": bernoulli_reconstruction}


class Terms(NamedTuple):
    """One forward pass: the loss terms, the posterior and sample they were computed from, and the
    batch's factor labels for a supervised objective (-1 where a label is withheld)."""

    reconstruction: Any
    accuracy: Any
    kl: Any
    z: Any
    z_mean: Any = None
    z_log_std: Any = None
    labels: Any = None


class VAE(keras.Model):
    """Trains ``architecture`` on an objective defined by a subclass.

    Subclasses set ``method`` and ``hyperparameter_name`` (as ``results.json`` records them), expose
    ``hyperparameter_value`` and implement :meth:`objective`.

    Args:
      architecture: the encoder and decoder to train.

    Every objective also accepts ``steps_per_epoch`` (``train`` passes it to all of them alike): the
    schedules count steps, while protocol §6 gives their warm-up in epochs.

    Random draws (posterior samples, dropout, teacher forcing, permutations) are seeded from
    ``keras.utils.set_random_seed``'s state when the model is built.
    """

    method: str
    hyperparameter_name: str
    # True for objectives trained on factor labels: `train` then feeds (tokens, labels) batches.
    supervised = False

    def __init__(self, architecture: Architecture):
        super().__init__(name=self.method)
        self.encoder, self.decoder = architecture.encoder, architecture.decoder
        self.teacher_forced_decoder = architecture.teacher_forced_decoder
        self.training_encoder = architecture.training_encoder
        self.reconstruct = RECONSTRUCTIONS[architecture.likelihood]
        # The reconstruction term is the token cross-entropy's mean (protocol §6); an ELBO needs the negative
        # log-likelihood of a whole example: the mean times the tokens per example. Bernoulli images are
        # already summed per image.
        self.elements_per_example = (
            int(np.prod(self.encoder.inputs[0].shape[1:])) if architecture.likelihood == "categorical" else 1)
        self.sampling = Sampling(name="sampling")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.tracked_names()}

    @property
    def hyperparameter_value(self) -> float:
        raise NotImplementedError

    @classmethod
    def stacks(cls) -> bool:
        """Whether runs of this objective can train as one stacked model: unsupervised, and trained by
        :meth:`training_step` below rather than a step of its own (FactorVAE's discriminator)."""
        return cls.training_step is VAE.training_step and not cls.supervised

    def tracked_names(self) -> tuple[str, ...]:
        """Quantities averaged over an epoch and shown in the progress bar and TensorBoard."""
        return ("loss", "reconstruction_loss", "reconstruction_accuracy", "kl")

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def vae_weights(self) -> list:
        """The encoder's and decoder's trainable weights: what the VAE optimiser updates."""
        return self.encoder.trainable_weights + self.decoder.trainable_weights

    @property
    def optimizers(self) -> list:
        return [self.optimizer]

    def build_optimizers(self) -> None:
        """Creates the optimisers' slots now, so a checkpoint can restore them before training, and marks
        the model built: its networks are, and neither it nor :class:`Sampling` has weights of its own.
        Otherwise Keras' ``fit()`` on JAX and PyTorch builds an unbuilt model by taking a batch out of the
        training stream, and every later batch would come one position late."""
        self.optimizer.build(self.vae_weights)
        self.sampling.built = self.built = True

    def encode(self, inputs, training: bool) -> list:
        """``[z_mean, z_log_std]``; in training through the architecture's faster formulation, if it has one."""
        if training and self.training_encoder is not None:
            return self.training_encoder(inputs, training=True)
        return self.encoder(inputs, training=training)

    def terms(self, inputs, training: bool, labels=None) -> Terms:
        """Encode, sample, decode (teacher-forced where the architecture is, in training) and score."""
        z_mean, z_log_std = self.encode(inputs, training)
        z = self.sampling(z_mean, z_log_std)
        if training and self.teacher_forced_decoder is not None:
            # As a tensor: JAX's un-jitted step (train.jit_compile = False) gets numpy batches, and Keras
            # refuses a list mixing them with tensors (elsewhere the batch is already one, returned as it is).
            logits = self.teacher_forced_decoder([z, ops.convert_to_tensor(inputs)], training=True)
        else:
            logits = self.decoder(z, training=training)
        return self.score(inputs, logits, z_mean, z_log_std, z, labels)

    def score(self, inputs, logits, z_mean, z_log_std, z, labels=None) -> Terms:
        """The terms of one forward pass: reconstruction and its accuracy, KL, and what the objectives read
        (the stacked path scores each member's slice with it)."""
        reconstruction, accuracy = self.reconstruct(inputs, logits)
        return Terms(reconstruction, accuracy, kl_divergence(z_mean, z_log_std), z, z_mean, z_log_std, labels)

    def negative_log_likelihood(self, terms: Terms):
        """-log p(x | z) of one example, averaged over the batch: the ELBO's reconstruction term."""
        return terms.reconstruction * float(self.elements_per_example)

    def objective(self, terms: Terms, step) -> tuple[Any, dict]:
        """The loss to minimise at optimiser step ``step``, and any schedule values to log."""
        raise NotImplementedError

    def call(self, inputs, training=False):
        """Reconstruction logits, decoding freely."""
        z_mean, z_log_std = self.encoder(inputs, training=training)
        return self.decoder(self.sampling(z_mean, z_log_std), training=training)

    def train_step(self, *args):
        """Keras' hook: :meth:`training_step` on TensorFlow and PyTorch, and on JAX as the pure function of
        the variables' values that ``fit()`` jits there (:mod:`benchmarks.objectives.differentiation`)."""
        if len(args) == 1:
            return self.training_step(*args)
        groups = (self.trainable_variables, self.non_trainable_variables, self.optimizer.variables,
                  self.metrics_variables)
        return differentiation.stateless_step(self.training_step, groups, *args)

    def test_step(self, *args):
        """Keras' hook for :meth:`evaluation_step`, on every backend as :meth:`train_step`."""
        if len(args) == 1:
            return self.evaluation_step(*args)
        groups = (self.trainable_variables, self.non_trainable_variables, self.metrics_variables)
        return differentiation.stateless_step(self.evaluation_step, groups, *args)

    def training_step(self, data) -> dict:
        """One optimiser step on a batch: the objective's gradient with respect to the encoder and the
        decoder only. Written once for every backend; a subclass with a step of its own (FactorVAE's
        discriminator) overrides this."""
        inputs, labels, _ = keras.utils.unpack_x_y_sample_weight(data)

        def loss():
            terms = self.terms(inputs, training=True, labels=labels)
            loss, logs = self.objective(terms, self.optimizer.iterations)
            return loss, (terms, logs)

        weights = self.vae_weights
        loss, (terms, logs), gradients = differentiation.value_and_gradients(loss, weights, self.step_variables)
        differentiation.apply_gradients(self.optimizer, gradients, weights)
        return self.record(loss, terms, **logs)

    def evaluation_step(self, data) -> dict:
        """The objective's terms on a batch, decoding freely; nothing is updated but the trackers."""
        inputs, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        terms = self.terms(inputs, training=False, labels=labels)
        loss, logs = self.objective(terms, self.optimizer.iterations)
        return self.record(loss, terms, **logs)

    @property
    def step_variables(self) -> list:
        """Every variable a step reads or updates: the model's (weights, random generators' states), every
        optimiser's and the trackers'."""
        return self.variables + self.optimizer.variables + self.metrics_variables

    @property
    def metrics_variables(self) -> list:
        """The trackers' variables, then the slots of every optimiser but Keras' own ``self.optimizer``:
        on JAX, ``fit()`` carries the model's, the optimiser's and these variables through its jitted step,
        so a second optimiser's (FactorVAE's discriminator) must ride here to be carried at all."""
        extra = [v for optimizer in self.optimizers[1:] for v in optimizer.variables]
        return [v for tracker in self.metrics for v in tracker.variables] + extra

    def record(self, loss, terms: Terms, **values) -> dict:
        """Updates the trackers with this batch, weighted by its size so that epoch and test figures are
        per-example averages; returns their running means and ``values`` as logs."""
        batch_size = ops.cast(ops.shape(terms.z)[0], "float32")
        for name, value in dict(loss=loss, reconstruction_loss=terms.reconstruction,
                                reconstruction_accuracy=terms.accuracy, kl=terms.kl, **values).items():
            if name in self.trackers:
                self.trackers[name].update_state(value, sample_weight=batch_size)
        return {name: tracker.result() for name, tracker in self.trackers.items()} | {
            name: value for name, value in values.items() if name not in self.trackers
        }
