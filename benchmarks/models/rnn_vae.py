"""The paper's hierarchical recurrent VAE for dMelodies (SPEC §6, about 289k parameters).

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
from benchmarks.models.architecture import INITIALIZER, Architecture, gaussian_heads


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


def _step(cells, inputs, states, dropout, training):
    """One time step through stacked GRU cells; returns the top output and every layer's new state.

    As PyTorch's multi-layer GRU (the original's ``dropout=0.2``): each layer's output is dropped out
    on its way into the next layer, while the state it carries to the next step is left untouched.
    """
    new_states = []
    for layer, (cell, state) in enumerate(zip(cells, states)):
        if layer:
            inputs = dropout(inputs, training=training)
        inputs, _ = cell(inputs, [state])
        new_states.append(inputs)
    return inputs, new_states


@keras.saving.register_keras_serializable(package="dmelodies")
class HierarchicalDecoder(keras.layers.Layer):
    """z -> token logits (batch, bars * slots_per_bar, vocabulary), bar by bar (SPEC §6).

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
        # SPEC §6: both 2-layer GRUs use dropout between their layers in training, like the encoder's.
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
        batch = ops.shape(z)[0]
        teacher_forced = None
        if training and targets is not None:
            teacher_forced = keras.random.uniform((), seed=self.seed_generator) < self.teacher_forcing
        bar_input = ops.broadcast_to(self.bar_input, (batch, 1))
        bar_states = ops.split(self.z_to_bar_state(z), self.num_layers, axis=-1)
        previous = ops.broadcast_to(self.start_token, (batch, self.embedding_dim))
        logits = []
        for _ in range(self.bars):
            bar, bar_states = _step(self.bar_cells, bar_input, bar_states, self.bar_dropout, training)
            slot_states = ops.split(self.bar_to_slot_state(bar), self.num_layers, axis=-1)
            slot_input = self.bar_to_slot_input(bar)
            for _ in range(self.slots_per_bar):
                output, slot_states = _step(self.slot_cells, ops.concatenate([previous, slot_input], -1),
                                            slot_states, self.slot_dropout, training)
                logits.append(self.to_logits(output))
                token = ops.argmax(logits[-1], axis=-1)
                if teacher_forced is not None:
                    token = ops.where(teacher_forced, ops.cast(targets[:, len(logits) - 1], token.dtype), token)
                previous = self.token_embedding(token)
        return ops.stack(logits, axis=1)

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
    and decoder alike (SPEC §6). ``unroll`` only changes speed (16 steps unroll cheaply on CPU)."""
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
    return Architecture("rnn", encoder, decoder, teacher_forced_decoder=teacher_forced)
