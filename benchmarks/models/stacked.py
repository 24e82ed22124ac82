"""K architectures of one kind trained as one vectorised model: their weights stacked on a leading axis.

The benchmark networks are small (126k and 289k parameters): one run's ops are too small to split
well between CPU cores or to keep an accelerator busy. Stacking K runs' weights turns each of a
step's ops into one op over K times the work (batched matmuls), which shares each op's fixed cost
and splits better (perf/PROFILE.md has the figures). The networks' own training formulations compute
the stack (:mod:`benchmarks.models.members`): :class:`StackedRuns` only says how a stacked weight is
applied, and makes every random draw (dropout masks, teacher forcing) with the member's own layer, from
its own seed generator, in the order a single run makes it. So member k follows the single run with its
seed and configuration, up to the order of floating-point sums in the batched ops.
"""
from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf
from keras import ops

from benchmarks.models.architecture import Architecture
from benchmarks.models.banded import banded_convolution
from benchmarks.models.members import OneRun


class StackedWeights:
    """The trainable weights of K built architectures of one kind, stacked: variable j holds, on its
    leading axis, member k's j-th weight (the members' ``encoder`` then ``decoder`` weights, in order)."""

    def __init__(self, architectures: Sequence[Architecture]):
        self.members = [arch.encoder.trainable_weights + arch.decoder.trainable_weights for arch in architectures]
        shapes = {tuple(tuple(w.shape) for w in weights) for weights in self.members}
        names = {arch.name for arch in architectures}
        if len(shapes) != 1 or len(names) != 1:
            raise ValueError(f"only architectures of one kind and size can be stacked, got {sorted(names)} "
                             f"with {len(shapes)} different weight layouts")
        self.variables = [keras.Variable(ops.stack([weights[j].value for weights in self.members]),
                                         name=self.members[0][j].name, trainable=True)
                          for j in range(len(self.members[0]))]
        self._index = {id(weight): j for j, weight in enumerate(self.members[0])}

    def __call__(self, weight):
        """The stacked variable of ``weight``, a weight of the first member."""
        return self.variables[self._index[id(weight)]]

    def unstack(self) -> None:
        """Copies each member's slice into its own architecture's weights (to save or evaluate it)."""
        for j, stacked in enumerate(self.variables):
            values = ops.unstack(stacked, axis=0)
            for weights, value in zip(self.members, values):
                weights[j].assign(value)

    def restack(self) -> None:
        """The inverse of :meth:`unstack`: reads every member's weights back into the stack."""
        for j, stacked in enumerate(self.variables):
            stacked.assign(ops.stack([weights[j].value for weights in self.members]))


class StackedRuns(OneRun):
    """The operations of :mod:`benchmarks.models.members` for K runs of one architecture: tensors carry
    the runs on a leading axis, weights come from :class:`StackedWeights`, and a layer with random
    behaviour is applied as each run's own layer on its slice."""

    def __init__(self, weights: StackedWeights, architectures: Sequence[Architecture]):
        self.weights, self.architectures, self.leading = weights, list(architectures), (len(architectures),)
        first = self.architectures[0]
        if first.training_encoder is None or first.training_decoder is None:
            raise ValueError(f"the {first.name!r} architecture has no stacked formulation (it stacks with a "
                             "training_encoder and a training_decoder, as the CNN and the RNN have)")
        self._peers = {}  # id(a layer of the first run) -> that layer in every run
        walks = [[layer for model in (arch.encoder, arch.decoder) for layer in model._flatten_layers()]
                 for arch in architectures]
        for layers in zip(*walks):
            if len({(type(layer), layer.name) for layer in layers}) != 1:
                raise ValueError(f"the stacked runs' networks differ in their layers: {[l.name for l in layers]}")
            self._peers.setdefault(id(layers[0]), layers)

    def weight(self, variable):
        return None if variable is None else self.weights(variable)

    def peers(self, layer) -> tuple:
        """``layer`` of the first run and its counterpart in every other run."""
        return self._peers[id(layer)]

    def layer(self, layer, x, training=None):
        if isinstance(layer, keras.layers.Dropout):
            return _dropout(self.peers(layer), x, training)
        if isinstance(layer, keras.layers.Embedding):
            return self.gather(self.weight(layer.embeddings), x)
        if isinstance(layer, keras.layers.Dense):
            y = self.matmul(x, self.weight(layer.kernel)) + self.bias(self.weight(layer.bias), len(x.shape))
            return layer.activation(y) if layer.activation is not None else y
        if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv1DTranspose)):
            return banded_convolution(layer, x, self.weight(layer.kernel), self.weight(layer.bias))
        if isinstance(layer, keras.layers.Reshape):
            return ops.reshape(x, (*self.leading, -1, *layer.target_shape))
        raise ValueError(f"{layer.name}: a {type(layer).__name__} layer has no stacked formulation")

    def matmul(self, x, kernel):
        """Run k's ``x[k] @ kernel[k]`` for x (K, ..., in) and kernel (K, in, out): one batched matmul."""
        shape = ops.shape(x)
        y = ops.matmul(ops.reshape(x, (x.shape[0], -1, x.shape[-1])), kernel)
        return ops.reshape(y, (*[shape[i] for i in range(len(x.shape) - 1)], kernel.shape[-1]))

    def bias(self, bias, ndim: int):
        return ops.reshape(bias, (bias.shape[0],) + (1,) * (ndim - 2) + (bias.shape[-1],))

    def gather(self, table, indices):
        """Row ``indices[k, ...]`` of run k's ``table[k]``: (K, rows, d) and (K, ...) -> (K, ..., d)."""
        return tf.gather(table, indices, batch_dims=1)  # a batched gather: Keras' ops have none

    def draw(self, layer, draw):
        return ops.stack([draw(peer) for peer in self.peers(layer)])

    def per_run(self, value, ndim: int):
        return ops.reshape(value, (value.shape[0],) + (1,) * (ndim - 1))


def _dropout(layers, x, training):
    """Run k's dropout layer on slice k of ``x``: each run's mask is Keras' own dropout, drawn from that
    layer's generator as the layer draws it, and the masks are applied to the whole stack at once (slicing
    the activations apart would cost, in the gradient, a zero-padded copy of the stack per run)."""
    rate = layers[0].rate
    if any(layer.rate != rate for layer in layers):
        raise ValueError("stacked runs must share their dropout rates")
    if not training or rate == 0:
        return x
    ones = ops.ones(tuple(x.shape[1:]), x.dtype)
    scales = ops.stack([keras.random.dropout(ones, rate, seed=layer.seed_generator) for layer in layers])
    return ops.where(scales > 0, x * scales, ops.zeros_like(x))  # x / (1 - rate) where kept, 0 elsewhere


def stacked_forward(runs: StackedRuns, models, tokens, training: bool):
    """Encodes ``tokens`` (K, batch, time), samples with each member's sampling layer, and decodes
    (teacher-forced in training, as the single runs): ``(z_mean, z_log_std, z, logits)``, each (K, ...)."""
    first = runs.architectures[0]
    z_mean, z_log_std = first.training_encoder(tokens, training=training, runs=runs)
    z = ops.stack([model.sampling(mean, log_std) for model, mean, log_std
                   in zip(models, ops.unstack(z_mean, axis=0), ops.unstack(z_log_std, axis=0))])
    logits = first.training_decoder(z, tokens if training else None, training, runs)
    return z_mean, z_log_std, z, logits
