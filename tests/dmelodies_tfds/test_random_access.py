"""ArrayRecord builds: `tfds.data_source` reads any example by position; Grain batches it without TensorFlow."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

import dmelodies_tfds as d
from dmelodies_tfds import splits
from dmelodies_tfds.dmelodies import dmelodies_dataset_builder as builder_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("array_record")
    for config in ("tiny", "tiny_composition"):
        tfds.builder(f"dmelodies/{config}", data_dir=path, file_format="array_record").download_and_prepare()
    return path


def _check(examples, indices):
    """Decoded examples equal the generator's tokens and labels of melodies ``indices``."""
    assert [int(e["index"]) for e in examples] == indices.tolist()
    np.testing.assert_array_equal(np.stack([e["score"] for e in examples]), d.generate_tokens(indices))
    labels = np.array([[e[key] for key in d.FACTOR_KEYS] for e in examples])
    np.testing.assert_array_equal(labels, d.index_to_factors(indices))


@pytest.mark.parametrize("config, split_config", [("tiny", "random"), ("tiny_composition", "composition")])
def test_random_positions_read_back_the_generated_melodies(data_dir, config, split_config):
    shards = sorted(os.listdir(data_dir / "dmelodies" / config / "1.0.0"))
    assert "dmelodies-train.array_record-00000-of-00001" in shards and not any("tfrecord" in s for s in shards)
    sources = tfds.data_source(f"dmelodies/{config}", data_dir=data_dir)
    rng = np.random.RandomState(0)
    for split in d.SPLITS:
        source, order = sources[split], splits.split_indices(split, config=split_config)
        assert len(source) == {"train": 7000, "validation": 2000, "test": 1000}[split]
        positions = rng.randint(0, len(source), size=50)
        _check([source[int(p)] for p in positions], order[positions])
        _check(source.__getitems__(positions.tolist()), order[positions])  # the batched read samplers use
    sliced = tfds.data_source(f"dmelodies/{config}", split="train[100:110]", data_dir=data_dir)
    _check([sliced[i] for i in range(len(sliced))], splits.split_indices("train", config=split_config)[100:110])


def test_the_tensorflow_reader_names_the_data_source_instead(data_dir):
    with pytest.raises(NotImplementedError, match=r"Please, use `.as_data_source\(\)`"):
        tfds.load("dmelodies/tiny", split="test", data_dir=data_dir, batch_size=512)


# A Grain pipeline in a process where importing TensorFlow or PyTorch fails.
GRAIN = """
import importlib.abc, importlib.machinery, json, sys

class Refuse(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("tensorflow", "torch"):
            return importlib.machinery.ModuleSpec(name, self)
    def create_module(self, spec):
        raise ModuleNotFoundError(f"{spec.name} was imported", name=spec.name)
    def exec_module(self, module):
        pass

sys.meta_path.insert(0, Refuse())
import grain
import tensorflow_datasets as tfds
import dmelodies_tfds

source = tfds.data_source("dmelodies/tiny", split="train", data_dir=sys.argv[1])
batches = grain.MapDataset.source(source).shuffle(seed=0).batch(512)
out = [{key: value.tolist() for key, value in batch.items()} for batch in batches]
assert not [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "torch") and sys.modules[m] is not None]
print(json.dumps(out))
"""


def test_grain_batches_the_train_split_without_tensorflow(data_dir):
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", GRAIN, str(data_dir)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    batches = [{key: np.array(value) for key, value in batch.items()} for batch in json.loads(out.stdout)]
    assert [len(b["index"]) for b in batches] == [512] * 13 + [7000 - 13 * 512]
    indices = np.concatenate([b["index"] for b in batches])
    assert sorted(indices) == sorted(splits.split_indices("train")[:7000])
    assert not np.array_equal(indices, splits.split_indices("train")[:7000])  # shuffled
    first = batches[0]
    np.testing.assert_array_equal(first["score"], d.generate_tokens(first["index"]))
    np.testing.assert_array_equal(np.stack([first[k] for k in d.FACTOR_KEYS], axis=1), d.index_to_factors(first["index"]))


def test_a_cut_array_record_shard_is_named_with_the_command_to_rebuild(data_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(data_dir / "dmelodies" / "tiny", copy / "dmelodies" / "tiny")
    version_dir = copy / "dmelodies" / "tiny" / "1.0.0"
    shard = version_dir / "dmelodies-train.array_record-00000-of-00001"
    os.truncate(shard, shard.stat().st_size // 2)
    expected = (f"dmelodies/tiny/1.0.0 in {version_dir} is damaged: shard {shard.name} cannot be read "
                rf"\(.*\); delete that folder and build it again "
                rf"\(python -m dmelodies_tfds build --config tiny --data_dir {copy} --file_format array_record\)")
    with pytest.raises(builder_lib.DatasetDamagedError, match=expected):
        tfds.builder("dmelodies/tiny", data_dir=copy).download_and_prepare()


def test_cli_builds_array_record(tmp_path, capsys):
    from dmelodies_tfds.__main__ import main

    assert main(["build", "--config", "tiny", "--data_dir", str(tmp_path), "--file_format", "array_record"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("train 7,000, validation 2,000, test 1,000 examples")
    assert len(tfds.data_source("dmelodies/tiny", split="test", data_dir=tmp_path)) == 1000


def test_asking_for_the_other_format_is_refused_not_called_damage(data_dir, capsys):
    """One prepared folder holds one format; TFDS's refusal used to read as a damaged dataset."""
    from dmelodies_tfds.__main__ import main

    expected = (f"dmelodies/tiny in {data_dir}/dmelodies/tiny/1.0.0 is prepared as array_record files, not tfrecord: "
                "leave file_format out to read it, or prepare tfrecord files in another data_dir")
    with pytest.raises(ValueError, match=expected) as caught:
        tfds.builder("dmelodies/tiny", data_dir=data_dir, file_format="tfrecord")
    assert not isinstance(caught.value, builder_lib.DatasetDamagedError)
    assert main(["build", "--config", "tiny", "--data_dir", str(data_dir), "--file_format", "tfrecord"]) == 2
    assert capsys.readouterr().err == f"error: {expected}\n"
    assert main(["build", "--config", "tiny", "--data_dir", str(data_dir)]) == 0  # the prepared format, reused
