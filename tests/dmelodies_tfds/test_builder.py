"""A real build of the `tiny` config, read back through `tfds.load`, and the fast writer's bytes."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import dmelodies_tfds as d
from dmelodies_tfds.dmelodies import dmelodies_dataset_builder as builder_lib


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    tfds.builder("dmelodies/tiny", data_dir=path).download_and_prepare()
    return path


def _as_numpy(ds):
    """Concatenate a batched dataset's features."""
    batches = list(tfds.as_numpy(ds))
    return {key: np.concatenate([batch[key] for batch in batches]) for key in ds.element_spec}


def test_fast_records_equal_tfds_reference_encoding():
    indices = d.split_indices("test")[:300]
    builder = tfds.builder("dmelodies/tiny")
    serializer = tfds.core.example_serializer.ExampleSerializer(builder.info.features.get_serialized_info())
    reference = [serializer.serialize_example(builder.info.features.encode_example(example))
                 for _, example in builder._generate_examples(indices)]
    fast = builder_lib.serialize_examples(indices)
    assert [tf.train.Example.FromString(r) for r in fast] == [tf.train.Example.FromString(r) for r in reference]


def test_tiny_build_reads_back_with_tfds_load(data_dir):
    builder = tfds.builder("dmelodies/tiny", data_dir=data_dir)
    assert {s: builder.info.splits[s].num_examples for s in d.SPLITS} == {"train": 7000, "validation": 2000, "test": 1000}
    assert builder.info.features["scale"].names == ["major", "minor", "blues"]
    assert builder.info.metadata["vocabulary"] == list(d.VOCABULARY)
    assert "1,354,752" in builder.info.description and "Pati" in builder.info.citation
    for split in d.SPLITS:
        data = _as_numpy(tfds.load("dmelodies/tiny", split=split, data_dir=data_dir, batch_size=512))
        expected = d.split_indices(split)[: builder.info.splits[split].num_examples]
        assert sorted(data["index"]) == sorted(expected)
        np.testing.assert_array_equal(data["score"], d.generate_tokens(data["index"]))
        labels = np.stack([data[key] for key in d.FACTOR_KEYS], axis=1)
        np.testing.assert_array_equal(labels, d.index_to_factors(data["index"]))


def test_batched_fast_read_matches_tfds_per_example_read(data_dir):
    in_order = tfds.ReadConfig(interleave_cycle_length=1)
    batched = tfds.load("dmelodies/tiny", split="validation[:1500]", data_dir=data_dir, batch_size=256,
                        read_config=in_order)
    single = tfds.load("dmelodies/tiny", split="validation[:1500]", data_dir=data_dir, read_config=in_order)
    assert batched.element_spec["score"] == tf.TensorSpec((None, 16), tf.int32)
    fast, slow = _as_numpy(batched), {k: np.stack(v) for k, v in _stack(single).items()}
    assert fast.keys() == slow.keys()
    for key in fast:
        np.testing.assert_array_equal(fast[key], slow[key])
    np.testing.assert_array_equal(fast["index"], d.split_indices("validation")[:1500])  # paper order


def _stack(ds):
    out = {}
    for example in tfds.as_numpy(ds):
        for key, value in example.items():
            out.setdefault(key, []).append(value)
    return out


def test_shuffled_files_still_cover_the_split(data_dir):
    ds = tfds.load("dmelodies/tiny", split="train", data_dir=data_dir, batch_size=1000, shuffle_files=True,
                   read_config=tfds.ReadConfig(shuffle_seed=3))
    assert sorted(_as_numpy(ds)["index"]) == sorted(d.split_indices("train")[:7000])
