import numpy as np
import pytest

import dmelodies_tfds as d


def test_split_sizes_and_first_indices():
    sizes = {split: len(d.split_indices(split)) for split in d.SPLITS}
    assert sizes == {"train": 948_326, "validation": 270_950, "test": 135_476}
    assert d.split_indices("train")[:5].tolist() == [860905, 1011499, 742214, 1331665, 220674]


def test_splits_partition_the_dataset_and_follow_the_seed():
    parts = np.concatenate([d.split_indices(split) for split in d.SPLITS])
    np.testing.assert_array_equal(parts, np.random.RandomState(0).permutation(d.NUM_EXAMPLES))
    assert not np.array_equal(d.split_indices("test", seed=1), d.split_indices("test"))


def test_unknown_split():
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        d.split_indices("dev")
