"""The paper's hierarchical recurrent VAE for dMelodies (protocol §6, about 289k parameters).

The encoder is a 2-layer bidirectional GRU; the decoder is hierarchical: a bar-level GRU produces one
state per bar, and a slot-level GRU, re-initialised from each bar state, emits that bar's eight tokens,
each step fed the previous token. In training the previous token is the true one with probability 0.5
(drawn once per batch), otherwise the decoder's own argmax; evaluation always decodes freely.
"""
from __future__ import annotations

import gin
import keras
from keras import ops

import dmelodies_tfds
from benchmarks.models.architecture import (INITIALIZER, Architecture, apply_gaussian_heads, gaussian_head_layers,
                                           gaussian_heads)
from benchmarks.models.members import ONE_RUN, OneRun


# Keras' GRU cells compute the same gates either way; implementation 1 (one matmul per gate, on slices
# of the weights) trains about 12 % faster here than the default 2, whose per-step slices of the
# activations back-propagate as full-size zero-padded tensors (perf/PROFILE.md).
_GRU_IMPLEMENTATION = 1


def _gru_cell(units: int, name: str) -> keras.layers.GRUCell:
    # PyTorch's GRU (the paper's) applies the reset gate after the recurrent matmul: reset_after=True.
    return keras.layers.GRUCell(units, kernel_initializer=INITIALIZER, recurrent_initializer=INITIALIZER,
                                reset_after=True, implementation=_GRU_IMPLEMENTATION, name=name)


def _dense(units: int, name: str, activation=None) -> keras.layers.Dense:
    return keras.layers.Dense(units, activation=activation, kernel_initializer=INITIALIZER, name=name)


def _input_projection(cell: keras.layers.GRUCell, inputs, runs: OneRun = ONE_RUN):
    """``x W + b_x`` for the three gates at once: the part of a GRU step that does not depend on the
    state, so that a caller can compute it once for inputs that repeat (see :class:`HierarchicalDecoder`)."""
    return (runs.matmul(inputs, runs.weight(cell.kernel))
            + runs.bias(runs.weight(cell.bias)[..., 0, :], len(inputs.shape)))


def gru_update(cell: keras.layers.GRUCell, input_projection, state, runs: OneRun = ONE_RUN):
    """The rest of Keras' ``GRUCell`` step (``reset_after=True``, PyTorch's GRU) from the input projection:
    the same gates, computed with one recurrent matmul and one split per step instead of Keras' per-gate
    slices (perf/PROFILE.md: the decoder's step is dominated by its number of small ops)."""
    x_z, x_r, x_h = ops.split(input_projection, 3, axis=-1)
    recurrent = (runs.matmul(state, runs.weight(cell.recurrent_kernel))
                 + runs.bias(runs.weight(cell.bias)[..., 1, :], len(state.shape)))
    h_z, h_r, h_h = ops.split(recurrent, 3, axis=-1)
    z = cell.recurrent_activation(x_z + h_z)
    r = cell.recurrent_activation(x_r + h_r)
    candidate = cell.activation(x_h + r * h_h)
    return z * state + (1 - z) * candidate


def step(cells, first_projection, states, dropout, training, runs: OneRun = ONE_RUN):
    """One time step through stacked GRU cells, given the first layer's input projection; returns the top
    output and every layer's new state.

    As PyTorch's multi-layer GRU (the original's ``dropout=0.2``): each layer's output is dropped out
    on its way into the next layer, while the state it carries to the next step is left untouched.
    """
    new_states, projection = [], first_projection
    for layer, (cell, state) in enumerate(zip(cells, states)):
        if layer:
            projection = _input_projection(cell, runs.layer(dropout, new_states[-1], training), runs)
        new_states.append(gru_update(cell, projection, state, runs))
    return new_states[-1], new_states


def run_direction(cell, projections, reverse: bool, runs: OneRun = ONE_RUN) -> list:
    """One direction of a GRU layer over its per-step input projections, from a zero state; returns the
    states in time order (a backward direction runs from the last step and is returned reversed)."""
    state = ops.zeros_like(projections[0][..., : cell.units])
    outputs = []
    for projection in (reversed(projections) if reverse else projections):
        state = gru_update(cell, projection, state, runs)
        outputs.append(state)
    return outputs[::-1] if reverse else outputs


@keras.saving.register_keras_serializable(package="dmelodies")
class HierarchicalDecoder(keras.layers.Layer):
    """z -> token logits (batch, bars * slots_per_bar, vocabulary), bar by bar (protocol §6).

    Called as ``decoder(z)`` it decodes freely (argmax feedback). Called as ``decoder(z, targets)`` with
    ``training=True`` it teacher-forces the whole batch with probability ``teacher_forcing``.
    """

    def __init__(self, vocabulary_size: int, bars: int = 2, slots_per_bar: int = 8, units: int = 64,
                 num_layers: int = 2, embedding_dim: int = 10, bar_input_units: int = 64,
                 teacher_forcing: float = 0.5, dropout: float = 0.2, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.dropout = dropout
        self.vocabulary_size, self.bars, self.slots_per_bar = vocabulary_size, bars, slots_per_bar
        self.units, self.num_layers, self.embedding_dim = units, num_layers, embedding_dim
        self.bar_input_units, self.teacher_forcing, self.seed = bar_input_units, teacher_forcing, seed
        self.z_to_bar_state = _dense(units * num_layers, "z_to_bar_state", "selu")
        self.bar_cells = [_gru_cell(units, f"bar_gru{i + 1}") for i in range(num_layers)]
        self.bar_to_slot_state = _dense(units * num_layers, "bar_to_slot_state", "selu")
        self.bar_to_slot_input = _dense(bar_input_units, "bar_to_slot_input", "selu")
        self.token_embedding = keras.layers.Embedding(vocabulary_size, embedding_dim,
                                                      embeddings_initializer=INITIALIZER,
                                                      name="decoder_embedding")
        self.slot_cells = [_gru_cell(units, f"slot_gru{i + 1}") for i in range(num_layers)]
        self.to_logits = _dense(vocabulary_size, "logits")
        # protocol §6: both 2-layer GRUs use dropout between their layers in training, like the encoder's.
        self.bar_dropout = keras.layers.Dropout(dropout, name="bar_gru_dropout")
        self.slot_dropout = keras.layers.Dropout(dropout, name="slot_gru_dropout")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, z_shape, targets_shape=None):
        batch = z_shape[0]
        # The bar-level GRU's only input is this learned constant; z enters through its initial state.
        self.bar_input = self.add_weight(shape=(1,), initializer="zeros", name="bar_input")
        self.start_token = self.add_weight(shape=(self.embedding_dim,), initializer="zeros",
                                           name="start_token")
        self.z_to_bar_state.build(z_shape)
        for i, cell in enumerate(self.bar_cells):
            cell.build((batch, 1 if i == 0 else self.units))
        self.bar_to_slot_state.build((batch, self.units))
        self.bar_to_slot_input.build((batch, self.units))
        self.token_embedding.build((batch,))
        for i, cell in enumerate(self.slot_cells):
            cell.build((batch, self.embedding_dim + self.bar_input_units if i == 0 else self.units))
        self.to_logits.build((batch, self.units))

    def call(self, z, targets=None, training=None):
        return self.decode(z, targets, training)

    def decode(self, z, targets=None, training=None, runs: OneRun = ONE_RUN):
        """:meth:`call` for ``runs`` (:mod:`benchmarks.models.members`): each run's ``z``, ``targets``
        and logits on the axes ``runs.leading`` in front of the batch axis."""
        teacher_forced = None
        if training and targets is not None:
            teacher_forced = runs.draw(self, lambda layer: keras.random.uniform((), seed=layer.seed_generator)
                                       < layer.teacher_forcing)
        # Inputs that repeat are projected once (the GRU's x W + b does not depend on its state): the
        # bar GRU's constant input, and the slot GRU's two parts, [previous token's embedding, bar input]:
        # each token's embedding through its slice of the kernel (a table of one row per token, gathered
        # every step), and each bar's input through the rest, once per bar.
        leading, embedding_dim = runs.leading, self.embedding_dim
        bar_projection = _input_projection(self.bar_cells[0],
                                           ops.reshape(runs.weight(self.bar_input), (*leading, 1, 1)), runs)
        slot_kernel, slot_bias = runs.weight(self.slot_cells[0].kernel), runs.weight(self.slot_cells[0].bias)
        token_kernel = slot_kernel[..., :embedding_dim, :]
        token_table = runs.matmul(runs.weight(self.token_embedding.embeddings), token_kernel)
        previous = runs.matmul(ops.reshape(runs.weight(self.start_token), (*leading, 1, embedding_dim)),
                               token_kernel)
        bar_states = ops.split(runs.layer(self.z_to_bar_state, z), self.num_layers, axis=-1)
        logits = []
        for _ in range(self.bars):
            bar, bar_states = step(self.bar_cells, bar_projection, bar_states, self.bar_dropout, training, runs)
            slot_states = ops.split(runs.layer(self.bar_to_slot_state, bar), self.num_layers, axis=-1)
            slot_projection = (runs.matmul(runs.layer(self.bar_to_slot_input, bar), slot_kernel[..., embedding_dim:, :])
                               + runs.bias(slot_bias[..., 0, :], len(bar.shape)))
            for _ in range(self.slots_per_bar):
                output, slot_states = step(self.slot_cells, previous + slot_projection, slot_states,
                                            self.slot_dropout, training, runs)
                logits.append(runs.layer(self.to_logits, output))
                token = ops.argmax(logits[-1], axis=-1)
                if teacher_forced is not None:
                    forced = ops.cast(targets[..., len(logits) - 1], token.dtype)
                    token = ops.where(runs.per_run(teacher_forced, len(token.shape)), forced, token)
                previous = runs.gather(token_table, token)
        return ops.stack(logits, axis=-2)

    def compute_output_shape(self, z_shape, targets_shape=None):
        return (z_shape[0], self.bars * self.slots_per_bar, self.vocabulary_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size, bars=self.bars, slots_per_bar=self.slots_per_bar,
            units=self.units, num_layers=self.num_layers, embedding_dim=self.embedding_dim,
            bar_input_units=self.bar_input_units, teacher_forcing=self.teacher_forcing, dropout=self.dropout,
            seed=self.seed,
        )
        return config


class FusedEncoder:
    """The encoder's function, computed faster for training from the same weights and dropout layer.

    The saved ``encoder.keras`` must load from Keras' own layers alone (see :class:`Architecture`), and
    Keras' GRU issues every step's input matmuls inside the recurrence. The input product ``x_t W + b``
    does not depend on the state, so here it is one matmul per layer and direction for all 16 steps,
    and each step keeps only the recurrent matmul (:func:`gru_update`). The same gates and states in
    another order of operations (perf/PROFILE.md); ``tests/benchmarks/training/test_training_formulations.py`` checks that it
    agrees with the Keras encoder, dropout included.
    """

    def __init__(self, encoder: keras.Model, layers: int = 2):
        self.embedding = encoder.get_layer("embedding")
        self.bidirectional = [encoder.get_layer(f"bidirectional{i + 1}") for i in range(layers)]
        self.dropout = encoder.get_layer("dropout_between_layers")
        self.heads = gaussian_head_layers(encoder)

    def __call__(self, tokens, training=False, runs: OneRun = ONE_RUN):
        x = runs.layer(self.embedding, tokens)
        final_states = []
        for layer, bidirectional in enumerate(self.bidirectional):
            if layer:
                x = runs.layer(self.dropout, x, training)
            directions = []
            for gru, reverse in ((bidirectional.forward_layer, False), (bidirectional.backward_layer, True)):
                projections = ops.unstack(_input_projection(gru.cell, x, runs), axis=-2)
                directions.append(run_direction(gru.cell, projections, reverse, runs))
            final_states += [directions[0][-1], directions[1][0]]
            x = ops.concatenate([ops.stack(directions[0], axis=-2), ops.stack(directions[1], axis=-2)], axis=-1)
        return apply_gaussian_heads(self.heads, ops.concatenate(final_states, axis=-1), runs)


@gin.configurable("rnn_vae")
def build_rnn_vae(
    vocabulary_size: int = dmelodies_tfds.VOCABULARY_SIZE,
    sequence_length: int = dmelodies_tfds.SEQUENCE_LENGTH,
    latent_dim: int = 32,
    embedding_dim: int = 10,
    units: int = 64,
    dropout: float = 0.2,
    head_units: int = 128,
    bars: int = 2,
    teacher_forcing: float = 0.5,
    unroll: bool = True,
) -> Architecture:
    """Embedding -> 2-layer bidirectional GRU -> four final states (256) -> Gaussian heads; the
    :class:`HierarchicalDecoder`. ``dropout`` is applied between the two layers of every GRU, encoder
    and decoder alike (protocol §6). ``unroll`` only changes speed (16 steps unroll cheaply on CPU)."""
    tokens = keras.Input((sequence_length,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, embeddings_initializer=INITIALIZER,
                               name="embedding")(tokens)
    final_states = []
    for layer in (1, 2):
        gru = keras.layers.GRU(units, return_sequences=layer == 1, return_state=True, unroll=unroll,
                               kernel_initializer=INITIALIZER, recurrent_initializer=INITIALIZER,
                               implementation=_GRU_IMPLEMENTATION, name=f"gru{layer}")
        outputs, forward, backward = keras.layers.Bidirectional(gru, name=f"bidirectional{layer}")(x)
        final_states += [forward, backward]
        if layer == 1:
            x = keras.layers.Dropout(dropout, name="dropout_between_layers")(outputs)
    features = keras.layers.Concatenate(name="final_states")(final_states)
    encoder = keras.Model(tokens, gaussian_heads(features, latent_dim, head_units), name="rnn_encoder")

    if sequence_length % bars:
        raise ValueError(f"{sequence_length} slots do not split into {bars} equal bars")
    layer = HierarchicalDecoder(vocabulary_size, bars=bars, slots_per_bar=sequence_length // bars,
                                units=units, embedding_dim=embedding_dim, teacher_forcing=teacher_forcing,
                                dropout=dropout, name="hierarchical_decoder")
    z = keras.Input((latent_dim,), name="z")
    targets = keras.Input((sequence_length,), dtype="int32", name="targets")
    decoder = keras.Model(z, layer(z), name="rnn_decoder")
    teacher_forced = keras.Model([z, targets], layer(z, targets), name="rnn_teacher_forced_decoder")
    return Architecture("rnn", encoder, decoder, teacher_forced_decoder=teacher_forced,
                        training_encoder=FusedEncoder(encoder), training_decoder=layer.decode)
