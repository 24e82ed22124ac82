"""dMelodies as disentanglement_lib ground truth: the generator's exact melodies, uniform labels, splits."""
from __future__ import annotations

import numpy as np
import pytest

import dmelodies_tfds as d
from benchmarks.evaluation.ground_truth import DMelodiesData, SplitPrefix
from disentanglement_lib.data.ground_truth import ground_truth_data
from disentanglement_lib.evaluation.metrics import utils


def test_is_disentanglement_lib_ground_truth_with_dmelodies_shapes():
    data = DMelodiesData()
    assert isinstance(data, ground_truth_data.GroundTruthData)
    assert data.num_factors == 9
    assert data.factors_num_values == [12, 3, 3, 28, 28, 2, 2, 2, 2]
    assert data.observation_shape == [16]


def test_observations_are_the_generators_melodies():
    data = DMelodiesData()
    factors, observations = data.sample(500, np.random.RandomState(0))
    assert observations.dtype == np.int32 and observations.shape == (500, 16)
    np.testing.assert_array_equal(observations, d.generate_tokens(d.factors_to_index(factors)))
    np.testing.assert_array_equal(d.factors_from_tokens(observations), factors)
    # protocol §3's example: index 884,613 is G, octave 6, minor, rhythms 14 and 16, arps up/down/up/down.
    example = data.sample_observations_from_factors(np.array([[7, 2, 1, 14, 16, 0, 1, 0, 1]]), None)
    assert example[0].tolist() == [26, 35, 0, 0, 31, 45, 40, 29, 31, 0, 44, 47, 31, 35, 0, 26]


def test_labels_are_uniform_and_reproducible():
    data = DMelodiesData()
    factors = data.sample_factors(20_000, np.random.RandomState(1))
    np.testing.assert_array_equal(factors, data.sample_factors(20_000, np.random.RandomState(1)))
    for column, size in enumerate(d.FACTOR_SIZES):
        counts = np.bincount(factors[:, column], minlength=size)
        assert len(counts) == size
        assert np.all(np.abs(counts / len(factors) - 1 / size) < 0.02)


def test_split_restricts_the_sampled_melodies():
    data = DMelodiesData(split="test")
    indices = d.factors_to_index(data.sample_factors(2000, np.random.RandomState(0)))
    test_split = set(d.split_indices("test").tolist())
    assert all(i in test_split for i in indices.tolist())
    assert len(set(indices.tolist())) > 1900  # uniform over the split's 135,476 melodies, not a few
    with pytest.raises(ValueError, match="unknown split"):
        DMelodiesData(split="valid")


def test_split_prefix_serves_the_first_examples_in_order_then_refuses():
    data = SplitPrefix("test", num_examples=100)
    first = data.sample_factors(60, np.random.RandomState(0))
    rest = data.sample_factors(40, np.random.RandomState(5))  # the random state does not matter
    np.testing.assert_array_equal(np.concatenate([first, rest]), d.index_to_factors(d.split_indices("test")[:100]))
    with pytest.raises(ValueError, match="more than the 100 test examples"):
        data.sample_factors(1, np.random.RandomState(0))
    with pytest.raises(ValueError, match="num_examples must be in 1..135476"):
        SplitPrefix("test", num_examples=135_477)
    assert repr(SplitPrefix()) == "SplitPrefix(split='test', split_seed=0, num_examples=102912)"
    assert repr(SplitPrefix(split_seed=2)) == "SplitPrefix(split='test', split_seed=2, num_examples=102912)"


def test_disentanglement_lib_samples_codes_and_factors_from_it():
    codes, factors = utils.generate_batch_factor_code(
        DMelodiesData(), lambda tokens: tokens.astype(np.float64), 100, np.random.RandomState(0), 16)
    assert codes.shape == (16, 100) and factors.shape == (9, 100)
    np.testing.assert_array_equal(codes.T, d.generate_tokens(d.factors_to_index(factors.T)))
