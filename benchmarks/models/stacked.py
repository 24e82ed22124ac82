"""K architectures of one kind trained as one vectorised model: their weights stacked on a leading axis.

The benchmark networks are small (126k and 289k parameters): one run's ops are too small to split
well between CPU cores or to keep an accelerator busy. Stacking K runs' weights turns each of a
step's ops into one op over K times the work (batched matmuls), which shares each op's fixed cost
and splits better (perf/PROFILE.md has the figures). The computation per member is the
training formulation of a single run (:class:`~benchmarks.models.cnn_vae.BandedEncoder`,
:class:`~benchmarks.models.rnn_vae.FusedEncoder`, :class:`~benchmarks.models.rnn_vae.HierarchicalDecoder`)
with the member's own weights, and every random draw (dropout masks, posterior samples, teacher
forcing) is made by the member's own layers, from their own seed generators, in the order a single
run makes it: member k follows the single run with its seed and configuration, up to the order of
floating-point sums in the batched ops.
"""
from __future__ import annotations

import functools
from typing import Sequence

import keras
import tensorflow as tf
from keras import ops

from benchmarks.models.architecture import Architecture, gaussian_head_layers
from benchmarks.models.banded import BandedConv1DTranspose, banded_convolution
from benchmarks.models.rnn_vae import gru_update, run_direction, step


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


def _per_member(layers, x, training):
    """Member k's dropout layer on slice k of ``x``: each mask drawn from that layer's own generator, as
    Keras' dropout draws it (``tf.nn.experimental.stateless_dropout``: keep where uniform >= rate, scale
    by 1 / (1 - rate)), and applied to the whole stack at once (slicing the activations apart would
    cost, in the gradient, a zero-padded copy of the stack per member)."""
    rate = layers[0].rate
    if any(layer.rate != rate for layer in layers):
        raise ValueError("stacked members must share their dropout rates")
    if not training or rate == 0:
        return x
    shape = tuple(x.shape[1:])
    keep = ops.stack([keras.random.uniform(shape, seed=layer.seed_generator) >= rate for layer in layers])
    scaled = x * (1 / (1 - rate))
    return ops.where(keep, scaled, ops.zeros_like(scaled))


def _matmul(x, kernel):
    """Member k's ``x[k] @ kernel[k]`` for x (K, ..., in) and kernel (K, in, out): one batched matmul."""
    shape = ops.shape(x)
    y = ops.matmul(ops.reshape(x, (x.shape[0], -1, x.shape[-1])), kernel)
    return ops.reshape(y, (*[shape[i] for i in range(len(x.shape) - 1)], kernel.shape[-1]))


def _bias(bias, ndim: int):
    """A stacked bias (K, out) shaped to add to a (K, ..., out) tensor of ``ndim`` axes."""
    return ops.reshape(bias, (bias.shape[0],) + (1,) * (ndim - 2) + (bias.shape[-1],))


def _dense(S: StackedWeights, layer, x):
    """A Dense layer of every member on its slice of ``x`` (K, ..., in)."""
    y = _matmul(x, S(layer.kernel)) + _bias(S(layer.bias), len(x.shape))
    return layer.activation(y) if layer.activation is not None else y


def _gaussian_heads(S: StackedWeights, encoder, features) -> list:
    return [_dense(S, head, _dense(S, hidden, features)) for hidden, head in gaussian_head_layers(encoder)]


def _gather(table, indices):
    """Row ``indices[k, ...]`` of member k's ``table[k]``: (K, rows, d) and (K, ...) -> (K, ..., d)."""
    return tf.gather(table, indices, batch_dims=1)  # a batched gather: Keras' ops have none


# --------------------------------------------------------------------------------------------- CNN
def _cnn_encode(S, architectures, tokens, training):
    """:class:`~benchmarks.models.cnn_vae.BandedEncoder` for K members."""
    first = architectures[0].training_encoder
    x = _gather(S(first.embedding.embeddings), tokens)
    for stages in zip(*(arch.training_encoder.stages for arch in architectures)):
        convolution = stages[0][0]
        x = banded_convolution(convolution, x, S(convolution.kernel), S(convolution.bias))
        x = _per_member([dropout for _, dropout in stages], x, training)
    return _gaussian_heads(S, architectures[0].encoder, ops.mean(x, axis=2))


def _cnn_decode(S, architectures, z, targets, training):
    decoder = architectures[0].decoder
    y = ops.expand_dims(z, 2)  # (K, batch, 1, latent): z as a sequence of length 1
    for layer in decoder.layers:
        if isinstance(layer, BandedConv1DTranspose):
            y = banded_convolution(layer, y, S(layer.kernel), S(layer.bias))
    return _dense(S, decoder.get_layer("logits"), y)


# --------------------------------------------------------------------------------------------- RNN
def _input_projection(S, cell, x):
    return _matmul(x, S(cell.kernel)) + _bias(S(cell.bias)[:, 0], len(x.shape))


def _update(S, cell, projection, state):
    return gru_update(cell, projection, state, S(cell.recurrent_kernel), ops.expand_dims(S(cell.bias)[:, 1], 1))


def _rnn_encode(S, architectures, tokens, training):
    """:class:`~benchmarks.models.rnn_vae.FusedEncoder` for K members."""
    first = architectures[0].training_encoder
    dropouts = [arch.training_encoder.dropout for arch in architectures]
    update = functools.partial(_update, S)
    x = _gather(S(first.embedding.embeddings), tokens)  # (K, batch, time, embedding)
    final_states = []
    for layer, bidirectional in enumerate(first.bidirectional):
        if layer:
            x = _per_member(dropouts, x, training)
        directions = []
        for gru, reverse in ((bidirectional.forward_layer, False), (bidirectional.backward_layer, True)):
            projections = ops.unstack(_input_projection(S, gru.cell, x), axis=2)
            directions.append(run_direction(gru.cell, projections, reverse, update))
        final_states += [directions[0][-1], directions[1][0]]
        x = ops.concatenate([ops.stack(directions[0], axis=2), ops.stack(directions[1], axis=2)], axis=-1)
    return _gaussian_heads(S, architectures[0].encoder, ops.concatenate(final_states, axis=-1))


def _rnn_step(S, cells, first_projection, states, dropouts, training):
    """:func:`~benchmarks.models.rnn_vae.step` with stacked weights and each member's dropout layer."""
    return step(cells, first_projection, states, lambda x, training: _per_member(dropouts, x, training), training,
                project=functools.partial(_input_projection, S), update=functools.partial(_update, S))


def _rnn_decode(S, architectures, z, targets, training):
    """:meth:`HierarchicalDecoder.call` for K members; ``targets`` (K, batch, time) teacher-force each
    member's batch with its own probability draw."""
    layers = [arch.decoder.get_layer("hierarchical_decoder") for arch in architectures]
    d = layers[0]
    teacher_forced = None
    if training and targets is not None:
        teacher_forced = ops.stack([keras.random.uniform((), seed=layer.seed_generator) < layer.teacher_forcing
                                    for layer in layers])
    bar_cell, slot_cell = d.bar_cells[0], d.slot_cells[0]
    members = len(layers)
    bar_projection = _input_projection(S, bar_cell, ops.reshape(S(d.bar_input), (members, 1, 1)))
    token_kernel = S(slot_cell.kernel)[:, : d.embedding_dim]
    token_table = _matmul(S(d.token_embedding.embeddings), token_kernel)
    previous = _matmul(S(d.start_token)[:, None], token_kernel)
    slot_bias = S(slot_cell.bias)[:, 0][:, None]
    bar_states = ops.split(_dense(S, d.z_to_bar_state, z), d.num_layers, axis=-1)
    bar_dropouts, slot_dropouts = [layer.bar_dropout for layer in layers], [layer.slot_dropout for layer in layers]
    logits = []
    for _ in range(d.bars):
        bar, bar_states = _rnn_step(S, d.bar_cells, bar_projection, bar_states, bar_dropouts, training)
        slot_states = ops.split(_dense(S, d.bar_to_slot_state, bar), d.num_layers, axis=-1)
        slot_projection = _matmul(_dense(S, d.bar_to_slot_input, bar), S(slot_cell.kernel)[:, d.embedding_dim:]) + slot_bias
        for _ in range(d.slots_per_bar):
            output, slot_states = _rnn_step(S, d.slot_cells, previous + slot_projection, slot_states,
                                            slot_dropouts, training)
            logits.append(_dense(S, d.to_logits, output))
            token = ops.argmax(logits[-1], axis=-1)
            if teacher_forced is not None:
                forced = ops.cast(targets[:, :, len(logits) - 1], token.dtype)
                token = ops.where(teacher_forced[:, None], forced, token)
            previous = _gather(token_table, token)
    return ops.stack(logits, axis=2)


_FORWARD = {"cnn": (_cnn_encode, _cnn_decode), "rnn": (_rnn_encode, _rnn_decode)}


def stacked_forward(S: StackedWeights, architectures: Sequence[Architecture], models, tokens, training: bool):
    """Encodes ``tokens`` (K, batch, time), samples with each member's sampling layer, and decodes
    (teacher-forced in training, as the single runs): ``(z_mean, z_log_std, z, logits)``, each (K, ...)."""
    name = architectures[0].name
    if name not in _FORWARD:
        raise ValueError(f"the {name!r} architecture has no stacked formulation (only {sorted(_FORWARD)})")
    encode, decode = _FORWARD[name]
    z_mean, z_log_std = encode(S, architectures, tokens, training)
    z = ops.stack([model.sampling(mean, log_std) for model, mean, log_std
                   in zip(models, ops.unstack(z_mean, axis=0), ops.unstack(z_log_std, axis=0))])
    logits = decode(S, architectures, z, tokens if training else None, training)
    return z_mean, z_log_std, z, logits
