"""A real build of the `tiny` config, read back through `tfds.load`, and the fast writer's bytes."""
import ast
import os
import shutil
import subprocess
import sys
import tempfile
import time

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


# ---- first use from several processes, killed builds, damaged datasets (module docstring of the builder)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
       "TF_CPP_MIN_LOG_LEVEL": "3"}
BUILD = [sys.executable, "-m", "dmelodies_tfds", "build", "--config", "tiny", "--data_dir"]


def _wait_for(condition, what, timeout=180):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_two_first_builds_at_once_share_one_build(tmp_path):
    """Two processes building the same dataset used to collide: one died with FileExistsError."""
    data_dir = tmp_path / "tfds"
    config_dir = data_dir / "dmelodies" / "tiny"
    logs = [tmp_path / f"build{i}.err" for i in range(2)]
    with builder_lib.build_lock(str(config_dir), "dmelodies/tiny"):  # both start while a build "runs"
        processes = [subprocess.Popen(BUILD + [str(data_dir)], stdout=subprocess.PIPE, stderr=open(log, "w"),
                                      text=True, env=ENV) for log in logs]
        _wait_for(lambda: all("waiting for another process" in log.read_text() for log in logs), "both to wait")
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [log.read_text()[-2000:] for log in logs]
    for out in outputs:
        assert out.splitlines()[-1].endswith("train 7,000, validation 2,000, test 1,000 examples")
    # One build, renamed; nothing left over but the (empty) lock file.
    assert sorted(os.listdir(config_dir)) == [".build.lock", "1.0.0"]
    data = _as_numpy(tfds.load("dmelodies/tiny", split="test", data_dir=data_dir, batch_size=1000))
    assert sorted(data["index"]) == sorted(d.split_indices("test")[:1000])


def test_a_killed_build_is_cleaned_up_by_the_next_one(tmp_path):
    data_dir = tmp_path / "tfds"
    config_dir = data_dir / "dmelodies" / "tiny"
    process = subprocess.Popen(BUILD + [str(data_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    try:
        def shards_written():  # killed once it has written shards into TFDS's incomplete.* folder
            return [p for p in config_dir.glob("incomplete.*/*tfrecord*")] if config_dir.exists() else []

        _wait_for(lambda: shards_written() or process.poll() is not None, "the build to start writing")
        assert process.poll() is None, "the build finished before it could be killed"
        leftover = [n for n in os.listdir(config_dir) if n.startswith("incomplete.")]
    finally:
        process.kill()
        process.wait()
    assert leftover and all((config_dir / name).is_dir() for name in leftover)
    builder = tfds.builder("dmelodies/tiny", data_dir=data_dir)
    builder.download_and_prepare()
    assert sorted(os.listdir(config_dir)) == [".build.lock", "1.0.0"]
    assert builder.info.splits["train"].num_examples == 7000


def _damage(data_dir, tmp_path, how):
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    version_dir = copy / "dmelodies" / "tiny" / "1.0.0"
    train = version_dir / "dmelodies-train.tfrecord-00000-of-00001"
    if how == "missing shard":
        train.unlink()
    elif how == "truncated shard":
        os.truncate(train, train.stat().st_size // 2)
    elif how == "missing info":
        (version_dir / "dataset_info.json").unlink()
    elif how == "corrupt info":
        (version_dir / "dataset_info.json").write_text("{not json")
    return copy, version_dir


DAMAGE = {
    "missing shard": "shard dmelodies-train.tfrecord-00000-of-00001 is missing",
    "truncated shard": "the train shards hold .* bytes, not the .* written",
    "missing info": "dataset_info.json is missing",
    "corrupt info": r"its dataset information cannot be read \(Failed to load JSON.*\)",
}


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_dataset_is_named_with_the_folder_to_delete(data_dir, tmp_path, how):
    copy, version_dir = _damage(data_dir, tmp_path, how)
    expected = f"dmelodies/tiny/1.0.0 in {version_dir} is damaged: {DAMAGE[how]}; delete that folder and build it again"
    with pytest.raises(builder_lib.DatasetDamagedError, match=expected):
        tfds.load("dmelodies/tiny", split="train", data_dir=copy, batch_size=512)


@pytest.mark.parametrize("how", ["missing shard", "corrupt info"])
def test_a_damaged_dataset_is_one_line_on_the_command_line(data_dir, tmp_path, capsys, how):
    from dmelodies_tfds.__main__ import main

    copy, version_dir = _damage(data_dir, tmp_path, how)
    assert main(["build", "--config", "tiny", "--data_dir", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: the prepared dataset dmelodies/tiny/1.0.0 in {version_dir} is damaged: ")
    assert err.rstrip().endswith(f"(python -m dmelodies_tfds build --config tiny --data_dir {copy})")


def test_as_dataframe_shows_class_label_names_given_the_info(data_dir):
    """tfds.as_dataframe styles its table with pandas (which needs jinja2, a dependency in setup.py);
    given `info`, the notebook's HTML view shows each label with its name."""
    ds, info = tfds.load("dmelodies/tiny", split="test", data_dir=data_dir, with_info=True,
                         read_config=tfds.ReadConfig(interleave_cycle_length=1))
    frame = tfds.as_dataframe(ds.take(4), info)
    assert len(frame) == 4 and frame["scale"].dtype.kind == "i"  # the frame itself holds the labels
    html = frame._repr_html_()
    for index in frame["index"]:
        labels = dict(zip(d.FACTOR_KEYS, d.index_to_factors(index)[0]))
        assert f"{labels['tonic']} ({d.FACTORS[0].values[labels['tonic']]})" in html
        assert f"{labels['scale']} ({d.FACTORS[2].values[labels['scale']]})" in html


def test_jinja2_is_a_declared_dependency():
    """pandas' Styler, which tfds.as_dataframe always uses, imports jinja2; pandas does not require it."""
    tree = ast.parse(open(os.path.join(REPO, "setup.py"), encoding="utf-8").read())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    requires = next(k.value for k in call.keywords if k.arg == "install_requires")
    assert "jinja2" in [ast.literal_eval(e).split(">")[0].split("=")[0].lower() for e in requires.elts]


def test_a_builder_leaves_no_temporary_folder(tmp_path, monkeypatch):
    """TFDS made an empty `tmp*tfds` folder in the temporary directory for every unprepared builder."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))  # where tempfile puts its folders
    builder = tfds.builder("dmelodies/tiny", data_dir=tmp_path / "tfds")
    assert not builder.is_prepared() and builder.info.features["tonic"].num_classes == 12
    assert list(temporary.iterdir()) == []
