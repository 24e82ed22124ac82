"""The input pipeline: reproducible per-seed epochs that can restart at any batch (issue 3, item 1)."""
import os

import numpy as np
import pytest

import dmelodies_tfds
from benchmarks.training import data

EXAMPLES = np.arange(1000, dtype=np.int32)[:, None] * np.ones((1, 16), np.int32)


pytestmark = pytest.mark.usefixtures("no_gin_bindings")  # conftest.py: each test starts and ends without any


def _rows(dataset, count):
    return [batch[:, 0].tolist() for batch in dataset.take(count).as_numpy_iterator()]


def test_each_epoch_is_a_fresh_permutation_of_the_split():
    epochs = _rows(data.training_batches(EXAMPLES, 100, seed=0), 20)
    first, second = sum(epochs[:10], []), sum(epochs[10:], [])
    assert sorted(first) == sorted(second) == list(range(1000))
    assert first != second
    assert all(len(batch) == 100 for batch in epochs)


def test_the_seed_alone_decides_the_order():
    assert _rows(data.training_batches(EXAMPLES, 64, seed=3), 5) == _rows(data.training_batches(EXAMPLES, 64, seed=3), 5)
    assert _rows(data.training_batches(EXAMPLES, 64, seed=3), 5) != _rows(data.training_batches(EXAMPLES, 64, seed=4), 5)


def test_a_resumed_stream_continues_the_interrupted_one():
    whole = _rows(data.training_batches(EXAMPLES, 64, seed=1, steps_per_epoch=4), 12)
    assert _rows(data.training_batches(EXAMPLES, 64, seed=1, steps_per_epoch=4, first_epoch=1, skip=3), 5) == whole[7:12]
    assert _rows(data.training_batches(EXAMPLES, 64, seed=1, steps_per_epoch=4, first_epoch=2), 4) == whole[8:12]


def test_epoch_steps():
    assert data.epoch_steps(948_326, 512) == 1852  # the paper's full epoch, last partial batch dropped
    assert data.epoch_steps(1000, 100, 3) == 3
    with pytest.raises(ValueError, match="11 steps per epoch need 11 batches of 100"):
        data.epoch_steps(1000, 100, 11)


def test_evaluation_visits_every_example_once_in_order():
    rows = sum(_rows(data.evaluation_batches(EXAMPLES, 300), 10), [])
    assert rows == list(range(1000))


def test_tiny_dmelodies_splits_are_the_papers_first_examples(tmp_path):
    source = data.TFDSSource(config="tiny", data_dir=str(tmp_path))
    for split, size in (("train", 7000), ("validation", 2000), ("test", 1000)):
        tokens = source.load(split)
        assert tokens.shape == (size, 16) and tokens.dtype == np.int32
        expected = dmelodies_tfds.generate_tokens(dmelodies_tfds.split_indices(split)[:size])
        np.testing.assert_array_equal(tokens, expected)
    with pytest.raises(ValueError, match="unknown TFDS dataset"):
        data.TFDSSource(name="no_such_dataset").builder()


def test_each_split_seed_reads_its_own_split(tmp_path):
    """protocol §4, §6: the original re-split the data for each training seed; tiny is split s's first examples."""
    source = data.TFDSSource(config="tiny", data_dir=str(tmp_path))
    for seed in (1, 5):  # 1 is a registered config (the paper's seeds), 5 a custom one
        tokens = source.load("test", split_seed=seed)
        expected = dmelodies_tfds.generate_tokens(dmelodies_tfds.split_indices("test", seed)[:1000])
        np.testing.assert_array_equal(tokens, expected)
    assert not np.array_equal(source.load("test", split_seed=1), source.load("test"))
    with pytest.raises(ValueError, match="'dsprites' has one fixed split: bind train.split_seed = 0"):
        data.TFDSSource(name="dsprites", config=None).builder(split_seed=1)


def test_generated_source_reads_what_tfds_reads(tmp_path):
    """The in-memory numpy source gives TFDSSource's arrays and labels, split seeds included."""
    tfds_source = data.TFDSSource(config="tiny", data_dir=str(tmp_path))
    generated = data.GeneratedSource("tiny")
    for seed in (0, 1):
        for split in ("train", "validation", "test"):
            np.testing.assert_array_equal(generated.load(split, seed), tfds_source.load(split, seed))
            np.testing.assert_array_equal(generated.labels(split, seed), tfds_source.labels(split, seed))
    assert generated.name == "dmelodies" and generated.config == "tiny"
    assert len(data.GeneratedSource("composition").load("test")) == 135476
    with pytest.raises(ValueError, match="unknown dmelodies config 'huge'"):
        data.GeneratedSource("huge")
    with pytest.raises(ValueError, match="features 'score' and 'index'"):
        generated.load("train", feature="label")


def test_the_read_order_is_tfds_interleave_of_the_shards():
    """``read_order`` is tf.data's interleave (cycle 16, block 16, TFDS's defaults) of the shards the
    builder writes, for the full dataset's split sizes and a split of one shard."""
    import tensorflow as tf

    for n in (948326, 270950, 135476, 7000):
        bounds = dmelodies_tfds.splits.shard_bounds(n)
        shards = tf.data.Dataset.from_tensor_slices(np.stack([bounds[:-1], bounds[1:]], axis=1))
        read = shards.interleave(lambda b: tf.data.Dataset.range(b[0], b[1]), cycle_length=16, block_length=16)
        np.testing.assert_array_equal(dmelodies_tfds.splits.read_order(n),
                                      np.concatenate(list(read.batch(65536).as_numpy_iterator())))


def test_a_shard_truncated_at_a_record_boundary_is_caught(tmp_path, monkeypatch):
    """Such a shard reads without an error: only the count against dataset_info.json reveals it."""
    import glob

    import tensorflow as tf

    data_dir = str(tmp_path / "tensorflow_datasets")
    data.TFDSSource(config="tiny", data_dir=data_dir).load("train")
    shard = glob.glob(os.path.join(data_dir, "dmelodies", "tiny", "*", "*train.tfrecord*"))[0]
    records = list(tf.data.TFRecordDataset(shard).as_numpy_iterator())
    with tf.io.TFRecordWriter(shard) as writer:
        for record in records[: len(records) // 2]:
            writer.write(record)
    # The builder checks the shards' sizes; TFDSSource counts the examples read (for other datasets too).
    with pytest.raises(ValueError, match="is damaged: the train shards hold .* bytes.*delete that folder"):
        data.TFDSSource(config="tiny", data_dir=data_dir).load("train")
    from dmelodies_tfds.dmelodies.dmelodies_dataset_builder import Builder

    with monkeypatch.context() as patch:  # a dataset without the builder's own check
        patch.setattr(Builder, "check_prepared_files", lambda self: None)
        with pytest.raises(ValueError, match="has 3,500 examples where its dataset_info.json records 7,000"):
            data.TFDSSource(config="tiny", data_dir=data_dir).load("train")
    os.remove(shard)
    with pytest.raises(ValueError, match="is damaged: shard .* is missing; delete that folder"):
        data.TFDSSource(config="tiny", data_dir=data_dir).load("train")
