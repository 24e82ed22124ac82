import hashlib

import numpy as np
import pytest

import dmelodies_tfds as d

LABELS_SHA256 = "683560823471ad2920298b45618b074b24c07fcab6e139e0f1ea97f3cd53b0a6"


def test_factor_definitions_match_spec():
    assert d.NUM_EXAMPLES == 1_354_752
    assert d.FACTOR_KEYS == ("tonic", "octave", "scale", "rhythm_bar1", "rhythm_bar2",
                             "arp_chord1", "arp_chord2", "arp_chord3", "arp_chord4")
    assert d.FACTOR_SIZES == (12, 3, 3, 28, 28, 2, 2, 2, 2)
    assert d.FACTORS[0].values[3] == "D#" and d.FACTORS[2].values == ("major", "minor", "blues")
    rhythms = d.FACTORS[3].values
    assert (rhythms[0], rhythms[1], rhythms[27]) == ("11111100", "11111010", "00111111")
    assert d.RHYTHM_MASKS.sum(axis=1).tolist() == [6] * 28


def test_spec_index_examples():
    np.testing.assert_array_equal(
        d.index_to_factors([1_000_000, 123_456]),
        [[8, 2, 1, 20, 4, 0, 0, 0, 0], [1, 0, 0, 23, 16, 0, 0, 0, 0]],
    )


def test_labels_fingerprint_of_whole_dataset():
    labels = d.index_to_factors(np.arange(d.NUM_EXAMPLES)).astype("<i4")
    assert hashlib.sha256(labels.tobytes()).hexdigest() == LABELS_SHA256


def test_index_labels_round_trip():
    indices = np.random.default_rng(0).integers(0, d.NUM_EXAMPLES, 10_000)
    np.testing.assert_array_equal(d.factors_to_index(d.index_to_factors(indices)), indices)
    assert d.factors_to_index([11, 2, 2, 27, 27, 1, 1, 1, 1]).tolist() == [d.NUM_EXAMPLES - 1]


@pytest.mark.parametrize("bad", [-1, d.NUM_EXAMPLES, [0, 5, 2_000_000]])
def test_out_of_range_index_is_named(bad):
    with pytest.raises(ValueError, match="out of range.*0..1354751"):
        d.index_to_factors(bad)


def test_out_of_range_label_names_the_factor():
    with pytest.raises(ValueError, match="factor 'rhythm_bar2' has label 28; allowed labels are 0..27"):
        d.factors_to_index([0, 0, 0, 0, 28, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="shape"):
        d.factors_to_index([0, 0, 0])
    with pytest.raises(ValueError, match="integers"):
        d.factors_to_index([0.5] * 9)


def test_factor_label_accepts_names_and_rejects_unknown_values():
    assert d.factor_label("tonic", "G") == 7
    assert d.factor_label("octave", "6") == 2
    assert d.factor_label("rhythm_bar1", "5") == 5
    assert d.factor_label("arp_chord3", "down") == 1
    with pytest.raises(ValueError, match="unknown value 'H' for factor 'tonic'"):
        d.factor_label("tonic", "H")
    with pytest.raises(ValueError, match="unknown value '7' for factor 'octave'"):
        d.factor_label("octave", "7")
    with pytest.raises(ValueError, match="unknown factor 'key'"):
        d.factor_label("key", "C")


@pytest.mark.parametrize("function", [d.generate_tokens, d.index_to_factors])
@pytest.mark.parametrize("bad, message", [
    ([True, False], r"indices must be integers, got bool True \(a boolean mask is not a list of indices"),
    (np.array([True, False]), "indices must be integers, got dtype bool .*np.flatnonzero"),
    (np.array([1.0, 2.0]), "indices must be integers, got dtype float64"),
    ([0.5], "indices must be integers, got float 0.5"),
    (["3"], "indices must be integers, got str '3'"),
    ([3, None], "indices must be integers, got NoneType None"),
    ([3, True], "indices must be integers, got bool True"),  # numpy alone would read True as 1
    ([object()], r"indices must be integers, got object <object object>$"),  # no memory address
])
def test_non_integer_indices_are_refused_not_converted(function, bad, message):
    """protocol §1: an index is an integer; `[True, False]` used to give melodies 1 and 0."""
    with pytest.raises(ValueError, match=message):
        function(bad)


@pytest.mark.parametrize("function", [d.generate_tokens, d.index_to_factors])
@pytest.mark.parametrize("bad, shown", [
    ([2**63], "9223372036854775808"),                                   # used to wrap to -2**63
    ([0, 2**63], "9223372036854775808"),                                # numpy alone makes this a float
    (np.array([2**63], dtype=np.uint64), "9223372036854775808"),
    (np.array([2**64 - 1], dtype=np.uint64), "18446744073709551615"),
    (10**25, "10000000000000000000000000"),                             # beyond any numpy integer
    ([0, -(10**30)], "-1000000000000000000000000000000"),
])
def test_overflowing_indices_are_named_as_given(function, bad, shown):
    with pytest.raises(ValueError, match=f"index {shown} is out of range: dMelodies indices are 0..1354751"):
        function(bad)


def test_labels_must_be_integers_in_range_and_are_shown_unwrapped():
    with pytest.raises(ValueError, match="labels must be integers, got bool True$"):
        d.factors_to_index([[True] * 9])
    with pytest.raises(ValueError, match="labels must be integers, got dtype float64"):
        d.factors_to_index(np.zeros((2, 9)))
    with pytest.raises(ValueError, match="factor 'rhythm_bar2' has label 100000000000000000000; allowed labels are 0..27"):
        d.factors_to_index([0, 0, 0, 0, 10**20, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="factor 'tonic' has label 18446744073709551615"):
        d.factors_to_index(np.array([[2**64 - 1] + [0] * 8], dtype=np.uint64))


def test_integer_inputs_of_any_width_and_empty_inputs_still_work():
    assert d.generate_tokens(np.int8(3)).tolist() == d.generate_tokens([3]).tolist()
    assert d.index_to_factors(np.array([7], dtype=np.uint64)).tolist() == d.index_to_factors([7]).tolist()
    assert d.index_to_factors(np.array([7], dtype=object)).tolist() == d.index_to_factors([7]).tolist()
    assert d.generate_tokens([]).shape == (0, 16) and d.index_to_factors([]).shape == (0, 9)
    assert d.factors_to_index(np.zeros((0, 9))).shape == (0,)


def test_describe_read_back_names_factors_and_values_and_says_why_one_is_missing():
    labels = d.index_to_factors([1_110_395])[0]  # A minor in octave 6
    assert d.describe_read_back(d.factors_from_tokens(d.generate_tokens([1_110_395]))[0]) == (
        "tonic A, octave 6, scale minor, rhythm_bar1 11001111, rhythm_bar2 10111110, "
        "arp_chord1 down, arp_chord2 up, arp_chord3 down, arp_chord4 down"
    )
    partial = np.full(d.NUM_FACTORS, -1)
    partial[4] = labels[4]
    assert d.describe_read_back(partial) == (
        "rhythm_bar2 10111110; not a dMelodies melody, so tonic, octave, scale, rhythm_bar1, arp_chord1, "
        "arp_chord2, arp_chord3 and arp_chord4 cannot be read back"
    )
    partial[:] = -1
    partial[0] = 0
    assert d.describe_read_back(partial).endswith("; not a dMelodies melody, so octave, scale, rhythm_bar1, "
                                                  "rhythm_bar2, arp_chord1, arp_chord2, arp_chord3 and "
                                                  "arp_chord4 cannot be read back")
    assert d.describe_read_back([-1] * 9) == "not a dMelodies melody, so no factor can be read back"


@pytest.mark.parametrize("bad", [[-2] + [0] * 8, [12] + [0] * 8, [0] * 8, [[0] * 9] * 2, [0.0] * 9])
def test_describe_read_back_refuses_what_is_not_one_read_back_row(bad):
    with pytest.raises(ValueError):
        d.describe_read_back(bad)
