import hashlib

import numpy as np
import pytest

import dmelodies_tfds as d
from dmelodies_tfds import melodies

TOKENS_SHA256 = "bf8ee06e668a14b05025f1b7a9c413b9c0f8a5c7023edadf162ed741215ab406"
SWAPPED_SHA256 = "57e9047dffbde43bc13a2c21f1202092ce672cbaa3518cb8a351f9ace6421e22"


@pytest.fixture(scope="module")
def all_tokens():
    return d.generate_tokens()


def _sha(array):
    return hashlib.sha256(np.ascontiguousarray(array, dtype="<i4").tobytes()).hexdigest()


def test_full_dataset_fingerprints(all_tokens):
    assert all_tokens.shape == (d.NUM_EXAMPLES, 16) and all_tokens.dtype == np.int32
    assert _sha(all_tokens) == TOKENS_SHA256
    swapped = all_tokens.copy()
    swapped[all_tokens == 0], swapped[all_tokens == 1] = 1, 0
    assert _sha(swapped) == SWAPPED_SHA256


def test_spec_examples():
    assert d.generate_tokens(0)[0].tolist() == [2, 3, 4, 5, 6, 7, 0, 0, 4, 8, 9, 2, 3, 4, 0, 0]
    assert d.generate_tokens(d.NUM_EXAMPLES - 1)[0].tolist() == [0, 0, 43, 31, 30, 49, 46, 42, 0, 0, 51, 47, 43, 43, 31, 30]
    assert d.index_to_factors(884_613)[0].tolist() == [7, 2, 1, 14, 16, 0, 1, 0, 1]
    assert d.generate_tokens(884_613)[0].tolist() == [26, 35, 0, 0, 31, 45, 40, 29, 31, 0, 44, 47, 31, 35, 0, 26]
    assert " ".join(d.tokens_to_names(d.generate_tokens(0)[0])) == \
        "C4 E4 G4 F4 A4 C5 rest rest G4 B4 D5 C4 E4 G4 rest rest"


def test_subset_generation_equals_full_array(all_tokens):
    indices = np.random.default_rng(1).integers(0, d.NUM_EXAMPLES, 5000)
    np.testing.assert_array_equal(d.generate_tokens(indices), all_tokens[indices])


def test_vocabulary_is_order_of_first_appearance(all_tokens):
    assert len(d.VOCABULARY) == 52 and d.VOCABULARY[:2] == ("rest", "__")
    notes = all_tokens[all_tokens >= 2]
    _, first = np.unique(notes, return_index=True)
    assert np.unique(notes).tolist() == list(range(2, 52))
    assert np.argsort(first).tolist() == list(range(50))  # token t first appears before token t+1


def test_melody_structure(all_tokens):
    assert not np.any(all_tokens == melodies.CONTINUATION_TOKEN)
    assert np.all((all_tokens == melodies.REST_TOKEN).sum(axis=1) == 4)
    pitches = melodies._TOKEN_TO_MIDI[all_tokens[::97][all_tokens[::97] >= 2]]
    assert pitches.min() == 60 and pitches.max() == 109


def test_note_names_follow_music21_spelling():
    assert [melodies.note_name(m) for m in (60, 63, 70, 109)] == ["C4", "E-4", "B-4", "C#8"]
    assert melodies.midi_of("E-5") == 75
    with pytest.raises(ValueError, match="unknown note token"):
        melodies.midi_of("H4")


def test_token_names_round_trip_and_errors():
    tokens = d.generate_tokens([5, 6])
    np.testing.assert_array_equal(d.names_to_tokens(d.tokens_to_names(tokens)), tokens)
    with pytest.raises(ValueError, match="unknown token name 'D#4'"):
        d.names_to_tokens(["C4", "D#4"])
    with pytest.raises(ValueError, match="token out of range"):
        d.tokens_to_names([52])


def test_factors_from_tokens_recovers_a_large_random_sample():
    indices = np.random.default_rng(2).integers(0, d.NUM_EXAMPLES, 200_000)
    np.testing.assert_array_equal(d.factors_from_tokens(d.generate_tokens(indices)), d.index_to_factors(indices))


def test_factors_from_tokens_marks_undetermined_factors():
    melody = d.generate_tokens(884_613)[0]  # G, octave 6, minor, rhythms 14/16, arps up/down/up/down
    broken_bar2 = melody.copy()
    broken_bar2[14] = melody[13]  # bar 2 now has 7 notes: 13 notes in all
    labels = d.factors_from_tokens(broken_bar2)[0]
    assert labels[3] == 14 and labels[4] == -1 and np.all(labels[[0, 1, 2, 5, 6, 7, 8]] == -1)

    wrong_pitch = melody.copy()
    wrong_pitch[0] = d.VOCABULARY.index("A6")  # chord 1 still rises, but is not a minor triad on G
    labels = d.factors_from_tokens(wrong_pitch)[0]
    assert labels[:3].tolist() == [-1, -1, -1] and labels[3:].tolist() == [14, 16, 0, 1, 0, 1]

    held = melody.copy()
    held[3] = melodies.CONTINUATION_TOKEN
    assert d.factors_from_tokens(held)[0, 3] == -1  # a held note breaks the bar's 6-onset rhythm

    with pytest.raises(ValueError, match=r"shape \(n, 16\)"):
        d.factors_from_tokens(np.zeros((2, 15), int))


def _with_wrong_notes(tokens, count, rng):
    """``tokens`` with ``count`` of each melody's notes replaced by another note, chosen at random."""
    tokens = tokens.copy()
    for row in tokens:
        for position in rng.choice(np.flatnonzero(row >= 2), count, replace=False):
            row[position] = rng.choice([t for t in range(2, d.VOCABULARY_SIZE) if t != row[position]])
    return tokens


def test_pitch_factors_read_back_every_exact_melody_with_confidence():
    indices = np.random.default_rng(3).integers(0, d.NUM_EXAMPLES, 50_000)
    labels, confidence = d.pitch_factors_from_tokens(d.generate_tokens(indices))
    np.testing.assert_array_equal(labels, d.index_to_factors(indices)[:, :3])
    # The nearest key of another scale (same tonic and octave: major vs harmonic minor) shares 9 of the 12
    # pitches, the nearest of another tonic or octave at most 7.
    np.testing.assert_allclose(confidence.min(axis=0) * 12, [5, 5, 3])


@pytest.mark.parametrize("wrong, at_least", [(1, 1.0), (2, 0.99), (3, 0.97)])
def test_pitch_factors_survive_wrong_notes_where_the_exact_read_back_gives_up(wrong, at_least):
    rng = np.random.default_rng(wrong)
    indices = rng.integers(0, d.NUM_EXAMPLES, 2_000)
    tokens = _with_wrong_notes(d.generate_tokens(indices), wrong, rng)
    truth = d.index_to_factors(indices)[:, :3]
    labels, confidence = d.pitch_factors_from_tokens(tokens)
    assert np.mean(np.all(labels == truth, axis=1)) >= at_least
    assert np.mean(np.all(d.factors_from_tokens(tokens)[:, :3] >= 0, axis=1)) < 0.01
    perfect = d.pitch_factors_from_tokens(d.generate_tokens(indices))[1]
    assert np.all(confidence <= perfect + 1e-12)  # a wrong note never raises the confidence


def test_pitch_factors_from_missing_notes_transpositions_and_no_notes():
    melody = d.generate_tokens(884_613)[0]  # G, octave 6, minor
    labels, _ = d.pitch_factors_from_tokens(melody)
    assert labels[0].tolist() == [7, 2, 1]
    missing = melody.copy()
    missing[np.flatnonzero(melody >= 2)[:2]] = melodies.REST_TOKEN  # two notes become rests
    assert d.pitch_factors_from_tokens(missing)[0][0].tolist() == [7, 2, 1]
    extra = melody.copy()
    extra[melody == melodies.REST_TOKEN] = d.VOCABULARY.index("C4")  # 4 notes more, far from this key
    labels, confidence = d.pitch_factors_from_tokens(extra)
    assert labels[0].tolist() == [7, 2, 1]
    np.testing.assert_allclose(confidence, d.pitch_factors_from_tokens(melody)[1] * 12 / 16)  # 12 of 16 notes
    lower = d.generate_tokens(d.factors_to_index([[7, 1, 1, 14, 16, 0, 1, 0, 1]]))  # the octave below
    assert d.pitch_factors_from_tokens(lower)[0][0].tolist() == [7, 1, 1]
    silent = np.zeros((1, 16), int)  # nothing to read: every factor undecided, with no confidence
    labels, confidence = d.pitch_factors_from_tokens(silent)
    assert labels.tolist() == [[-1, -1, -1]] and confidence.tolist() == [[0.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match=r"shape \(n, 16\)"):
        d.pitch_factors_from_tokens(np.zeros((2, 15), int))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 16)), "tokens must be integers, got dtype float64"),
    (np.full((1, 16), 2.7), "tokens must be integers, got dtype float64"),
    (np.ones((1, 16), dtype=bool), "tokens must be integers, got dtype bool"),
    ([[2**63] + [0] * 15], r"token out of range: 9223372036854775808 is not in 0..51"),
    ([[10**20] + [0] * 15], r"token out of range: 100000000000000000000 is not in 0..51"),
])
def test_factors_from_tokens_refuses_non_integer_and_overflowing_tokens(bad, message):
    """protocol §3: tokens are integer vocabulary indices; floats used to give -1 labels without an error."""
    with pytest.raises(ValueError, match=message):
        d.factors_from_tokens(bad)


def test_tokens_to_names_refuses_a_boolean_mask():
    with pytest.raises(ValueError, match="tokens must be integers, got bool True"):
        d.tokens_to_names([True, False])  # used to index the vocabulary as a mask
    with pytest.raises(ValueError, match="tokens must be integers, got dtype bool"):
        d.tokens_to_names(np.array([True, False]))
