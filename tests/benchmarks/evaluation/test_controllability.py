"""Controllability on decoders whose answer is known: one dimension per factor, none, and garbage."""
from __future__ import annotations

import numpy as np
import pytest

import dmelodies_tfds as d
from benchmarks.evaluation.controllability import compute_controllability
from benchmarks.evaluation.ground_truth import DMelodiesData

SIZES = np.array(d.FACTOR_SIZES)


def labels_as_code(tokens):
    """An encoder whose code is the nine labels."""
    return d.factors_from_tokens(tokens).astype(np.float64)


def decode_labels(z):
    """A decoder that reads the nine labels back from the code: dimension k sets factor k alone."""
    labels = np.clip(np.rint(z[:, :d.NUM_FACTORS]), 0, SIZES - 1).astype(np.int64)
    return d.generate_tokens(d.factors_to_index(labels))


def run(representation, decode, seed=0, **kwargs):
    return compute_controllability(DMelodiesData(), representation, np.random.RandomState(seed), decode_function=decode,
                                   **{"num_examples": 200, "num_steps": 6, **kwargs})


def test_one_dimension_per_factor_is_found_and_scores_high():
    scores = run(labels_as_code, decode_labels)
    change = np.array(scores["change_matrix"])
    assert change.shape == (9, 9)
    assert np.all(change[~np.eye(9, dtype=bool)] == 0)
    assert np.all(np.diag(change) >= 0.3)  # binary factors flip on about half the steps, others more
    assert [scores[f"dimension_{key}"] for key in d.FACTOR_KEYS] == list(range(9))
    assert scores["decoded_validity"] == 1.0
    assert scores["controllability"] == pytest.approx(np.mean(np.diag(change)))
    assert scores["controllability"] > 0.5


def test_a_second_dimension_on_the_same_factor_closes_its_gap():
    """Dimensions 0 and 9 both set the tonic (their sum does): the tonic's gap shrinks, the rest stay."""
    def encode(tokens):
        codes = labels_as_code(tokens)
        return np.concatenate([codes[:, :1] / 2, codes[:, 1:], codes[:, :1] / 2], axis=1)

    def decode(z):
        return decode_labels(np.concatenate([z[:, :1] + z[:, 9:10], z[:, 1:9]], axis=1))

    scores, alone = run(encode, decode), run(labels_as_code, decode_labels)
    change = np.array(scores["change_matrix"])
    assert change[0, 0] > 0.3 and change[9, 0] > 0.3
    assert scores["control_tonic"] - np.sort(change[:, 0])[-2] < alone["control_tonic"] / 2
    assert scores["controllability"] < alone["controllability"]


def test_a_decoder_that_ignores_the_code_controls_nothing():
    melody = d.generate_tokens([123_456])
    scores = run(labels_as_code, lambda z: np.repeat(melody, len(z), axis=0))
    assert scores["controllability"] == 0.0 and scores["decoded_validity"] == 1.0
    assert np.all(np.array(scores["change_matrix"]) == 0)
    assert all(scores[f"dimension_{key}"] == -1 for key in d.FACTOR_KEYS)


def test_melodies_that_determine_no_factor_count_as_no_control():
    """A decoder of nothing but rests never determines a factor, so it controls none."""
    scores = run(labels_as_code, lambda z: np.zeros((len(z), d.SEQUENCE_LENGTH), np.int32))
    assert scores["controllability"] == 0.0 and scores["decoded_validity"] == 0.0


def test_deterministic_for_a_seed_and_checks_its_arguments():
    assert run(labels_as_code, decode_labels, seed=3) == run(labels_as_code, decode_labels, seed=3)
    with pytest.raises(ValueError, match="num_steps >= 2"):
        run(labels_as_code, decode_labels, num_steps=1)
    with pytest.raises(ValueError, match="quantile < 0.5"):
        run(labels_as_code, decode_labels, quantile=0.5)


def spoil_one_note(tokens):
    """Each melody with its first note moved a semitone up (down from the vocabulary's top note)."""
    tokens = np.array(tokens)
    first = np.argmax(tokens >= 2, axis=1)
    rows = np.arange(len(tokens))
    midi = np.array([d.melodies.midi_of(name) for name in d.VOCABULARY[2:]])
    pitch = midi[tokens[rows, first] - 2]
    shifted = np.where(pitch + 1 > midi.max(), pitch - 1, pitch + 1)
    tokens[rows, first] = [d.VOCABULARY.index(d.melodies.note_name(p)) for p in shifted]
    return tokens


def test_robust_read_back_finds_pitch_control_that_one_wrong_note_hides():
    """A decoder that sets each factor from its own dimension but gets one note of every melody wrong:
    the exact read-back sees no control of tonic, octave or scale; the robust one sees the clean decoder's."""
    clean = run(labels_as_code, decode_labels)
    assert all(clean[f"robust_{name}"] == clean[name] for name in ("controllability", "change_matrix"))
    assert clean["robust_pitch_decided"] == 1.0
    spoiled = run(labels_as_code, lambda z: spoil_one_note(decode_labels(z)))
    pitch = ("tonic", "octave", "scale")
    assert all(spoiled[f"control_{key}"] == 0.0 for key in pitch) and spoiled["decoded_validity"] == 0.0
    for k, key in enumerate(pitch):
        assert spoiled[f"robust_dimension_{key}"] == k
        assert spoiled[f"robust_control_{key}"] == pytest.approx(clean[f"control_{key}"])
    assert spoiled["robust_controllability"] == pytest.approx(clean["controllability"])
    assert spoiled["controllability"] < clean["controllability"] - 0.2
    assert spoiled["robust_pitch_decided"] == 1.0


def test_latent_holes_are_counted_and_placed_by_their_distance_from_the_data():
    """A one-dimensional code (the tonic) whose decoder is valid only within 0.1 of a whole number: the
    traversals between whole numbers are holes, and they are exactly the ones farther from the data."""
    num_examples, num_steps, seed = 200, 50, 0
    codes = DMelodiesData().sample_factors(num_examples, np.random.RandomState(seed))[:, :1].astype(np.float64)
    assert set(codes[:, 0]) == set(range(12))  # every tonic is in the data: whole numbers are at distance 0

    def decode(z):
        labels = np.zeros((len(z), d.NUM_FACTORS), np.int64)
        labels[:, 0] = np.clip(np.rint(z[:, 0]), 0, 11)
        tokens = d.generate_tokens(d.factors_to_index(labels))
        tokens[np.abs(z[:, 0] - np.rint(z[:, 0])) > 0.1] = 0  # only rests: no factor is determined
        return tokens

    edge = 0.1 / codes.std()
    scores = run(lambda tokens: labels_as_code(tokens)[:, :1], decode, seed, num_steps=num_steps,
                 distance_edges=(0.0, edge + 1e-12))
    values = np.linspace(np.quantile(codes, 0.05), np.quantile(codes, 0.95), num_steps)
    holes = np.abs(values - np.rint(values)) > 0.1
    assert 0 < holes.sum() < num_steps
    assert scores["latent_hole"] == pytest.approx(holes.mean())
    assert scores["decoded_validity"] == pytest.approx(1 - holes.mean())
    assert scores["traversals_by_distance"] == [num_examples * (~holes).sum(), num_examples * holes.sum()]
    assert scores["validity_by_distance"] == [1.0, 0.0]


def test_a_decoder_without_holes_is_valid_at_every_distance():
    scores = run(labels_as_code, decode_labels, distance_edges=(0.0, 0.5, 1.0))
    assert scores["latent_hole"] == 0.0
    assert sum(scores["traversals_by_distance"]) == 9 * 200 * 6
    assert all(v == 1.0 for n, v in zip(scores["traversals_by_distance"], scores["validity_by_distance"]) if n)
    with pytest.raises(ValueError, match="distance_edges"):
        run(labels_as_code, decode_labels, distance_edges=(0.5, 1.0))
