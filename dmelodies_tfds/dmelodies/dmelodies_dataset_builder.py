"""dMelodies: 1,354,752 two-bar melodies with nine independent factors of variation.

The builder generates every example from its labels (no download) and writes the paper's
train / validation / test split (protocol §4, seed 0), or one of the generalisation splits of
:mod:`dmelodies_tfds.splits` (configs ``composition``, ``interpolation``, ``extrapolation``), as
standard TFDS shards, each split's records in its permutation order. The shards are TFRecord files,
or ArrayRecord files when the builder is asked for ``file_format="array_record"``: then
``tfds.data_source`` reads any example by position without TensorFlow (Grain, PyTorch samplers).

Why ``_generate_splits`` is overridden: TFDS's generic path encodes one feature dict at a time
(about 4,500 examples/s here, ~5 minutes for the dataset). Here the examples of a split are made
as numpy arrays in one call, and each record is serialised by protobuf from one reusable
``tf.train.Example`` whose int64 lists are overwritten in place — the same bytes TFDS's own
encoder would produce (``_generate_examples`` keeps that reference path; a test compares them).
The records are written by TFDS's file adapter of the requested format.

Why ``__init__`` and ``download_and_prepare`` are wrapped: the first use builds the dataset, and
several processes (a sweep, tests, a notebook) may make that first use at once. TFDS writes each
build into an ``incomplete.*`` folder and renames it, so the second rename fails. Here a build holds
an exclusive lock (``fcntl.flock`` on the config's folder) from the check for a prepared dataset to
the rename: a second process waits, then reuses the first one's result. Holding the lock, every
``incomplete.*`` folder left there belongs to a build that died (killed, out of disk), and is
removed. A prepared dataset whose ``dataset_info.json`` or shards are missing, unreadable or of the
wrong size is named by :class:`DatasetDamagedError`, with the folder to delete, instead of a
TensorFlow error in the middle of reading.

Why ``_build_single_dataset`` is overridden: TFDS parses one record at a time before batching
(~15,000 examples/s here). When a batch size is asked for, the records are batched first and
parsed with one vectorised ``tf.io.parse_example`` per batch, read through the split's public
``file_instructions`` exactly as TFDS would (slicing, file shuffling and interleaving honoured).
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import sys

import numpy as np
import tensorflow_datasets as tfds
# TensorFlow is imported on first use, as in TFDS's own builders: registering the builder stays cheap.
from tensorflow_datasets.core import file_adapters
from tensorflow_datasets.core.utils.lazy_imports_utils import tensorflow as tf
from tensorflow_datasets.proto import tf_example_pb2

from dmelodies_tfds import factors as F
from dmelodies_tfds import melodies, splits
from dmelodies_tfds.text import one_line

_HOMEPAGE = "https://github.com/ashispati/dmelodies_dataset"
_TINY_SIZES = splits.TINY_SIZES


# Bytes a TFRecord file adds to each record: length (8), its CRC (4) and the data's CRC (4).
_TFRECORD_OVERHEAD = 16


class DatasetDamagedError(ValueError):
    """A prepared dmelodies dataset whose files are missing, unreadable or cut short."""


def _damaged(builder, problem: str) -> DatasetDamagedError:
    name = builder.builder_config.name
    again = ""
    if name in BASE_CONFIGS:
        file_format = builder._file_format()
        as_format = "" if file_format == file_adapters.FileFormat.TFRECORD else f" --file_format {file_format.value}"
        again = f" (python -m dmelodies_tfds build --config {name} --data_dir {os.fspath(builder.data_dir_root)}{as_format})"
    return DatasetDamagedError(
        f"the prepared dataset dmelodies/{name}/{builder.version} in {os.fspath(builder.data_path)} is damaged: "
        f"{problem}; delete that folder and build it again{again}"
    )


def _check_same_file_format(builder, info_path: str, asked) -> None:
    """A ``ValueError`` if the dataset at ``info_path`` is prepared in another format than ``asked``.

    TFDS refuses to open it ("File format is already set"); one prepared folder holds one format.
    """
    try:
        with tf.io.gfile.GFile(info_path) as file:
            prepared = json.load(file).get("fileFormat")
    except (OSError, ValueError, AttributeError):
        return  # unreadable: damaged, said by the caller
    if asked is None or not prepared or file_adapters.FileFormat.from_value(asked).value == prepared:
        return
    asked = file_adapters.FileFormat.from_value(asked).value
    raise ValueError(
        f"dmelodies/{builder.builder_config.name} in {os.path.dirname(info_path)} is prepared as {prepared} files, "
        f"not {asked}: leave file_format out to read it, or prepare {asked} files in another data_dir"
    )


def _is_local(path) -> bool:
    return "://" not in os.fspath(path)


@contextlib.contextmanager
def build_lock(folder: str, what: str):
    """An exclusive ``flock`` on ``folder`` (created if missing), waited for with a notice on stderr.

    Yields whether the lock is held. The lock is on ``<folder>/.build.lock``; the kernel drops it when
    its holder dies, so a killed build never blocks the next one. Where the file system cannot lock,
    the build goes on unlocked (yielding False), as TFDS itself would. Files are reached through
    ``tf.io.gfile`` and the built-in ``open``, as TFDS asks of builder code.
    """
    tf.io.gfile.makedirs(folder)
    handle = open(os.path.join(folder, ".build.lock"), "a")
    fd = handle.fileno()
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except BlockingIOError:
            print(f"waiting for another process that is building {what} in {folder} ...", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError:
            locked = False  # no locks on this file system
        yield locked
    finally:
        handle.close()  # releases the lock


def stale_incomplete_folders(config_dir, version: str) -> list[str]:
    """TFDS's ``incomplete.XXXXXX_<version>`` build folders in ``config_dir``; stale when the build lock is held."""
    pattern = re.compile(rf"^incomplete\.[A-Za-z0-9]+_{re.escape(version)}$")
    if not tf.io.gfile.isdir(config_dir):
        return []
    names = [n.rstrip("/") for n in tf.io.gfile.listdir(config_dir)]
    return [os.path.join(config_dir, n) for n in sorted(names)
            if pattern.match(n) and tf.io.gfile.isdir(os.path.join(config_dir, n))]


@dataclasses.dataclass
class DMelodiesConfig(tfds.core.BuilderConfig):
    """`examples_per_split` None keeps every example of the split; `split_config` names the split
    (:data:`dmelodies_tfds.splits.SPLIT_CONFIGS`: the paper's "random" one or a generalisation split)."""

    examples_per_split: dict[str, int] | None = None
    split_seed: int = 0
    split_config: str = "random"


_GENERALISATION_SPLITS = ("Train and validation are the melodies not held out, cut 7 : 2 in the order of "
                          "the split seed's permutation (split seed {seed}); test is 135,476 held-out melodies "
                          "sampled by the same permutation, the size of the paper's test split.")
_TINY = "The first 7,000 / 2,000 / 1,000 examples of {splits} train / validation / test splits"
# Base config name -> (split config, examples per split, description).
_BASES = {
    "full": ("random", None, "All 1,354,752 melodies in the paper's 70/20/10 split (split seed {seed})."),
    "tiny": ("random", _TINY_SIZES, _TINY.format(splits="the paper's") + " (split seed {seed}): for tests and quick demos."),
}
for _name in splits.GENERALISATION_CONFIGS:
    _BASES[_name] = (_name, None, splits.HELD_OUT[_name].description + " " + _GENERALISATION_SPLITS)
    _BASES[f"tiny_{_name}"] = (_name, _TINY_SIZES, _TINY.format(splits=f"the {_name} config's") + " (split seed {seed}), for tests.")
BASE_CONFIGS = tuple(_BASES)
# The paper's training seeds {0, 1, 2} each re-split the data (protocol §4, §6): one config per seed.
PAPER_SPLIT_SEEDS = (0, 1, 2)


def config_name(base: str, split_seed: int = 0) -> str:
    """``full``/``tiny`` for split seed 0 (the paper's default split), ``<base>_split<seed>`` otherwise."""
    return base if split_seed == 0 else f"{base}_split{split_seed}"


def make_config(base: str, split_seed: int = 0) -> DMelodiesConfig:
    """The builder config of ``base`` (one of :data:`BASE_CONFIGS`) cut from split seed ``split_seed`` (protocol §4)."""
    if base not in _BASES:
        raise ValueError(f"unknown dmelodies config {base!r}; configs are {', '.join(_BASES)}")
    if isinstance(split_seed, bool) or not isinstance(split_seed, (int, np.integer)) or not 0 <= split_seed < 2**32:
        raise ValueError(f"split_seed must be an integer in [0, 2**32), got {split_seed!r}")
    split_config, examples_per_split, description = _BASES[base]
    return DMelodiesConfig(name=config_name(base, int(split_seed)),
                           description=description.format(seed=int(split_seed)),
                           examples_per_split=examples_per_split, split_seed=int(split_seed),
                           split_config=split_config)


def config_split_indices(config: DMelodiesConfig, split: str, max_examples: int | None = None) -> np.ndarray:
    """The example indices ``config``'s ``split`` holds, in the order they are written (protocol §4)."""
    indices = splits.split_indices(split, seed=config.split_seed, config=config.split_config)
    limits = [n for n in ((config.examples_per_split or {}).get(split), max_examples) if n]
    return indices[: min(limits)] if limits else indices


def split_sizes(config: DMelodiesConfig) -> dict[str, int]:
    """How many examples each split of ``config`` holds, known before anything is built."""
    return {split: len(config_split_indices(config, split)) for split in splits.SPLITS}


class Builder(tfds.core.GeneratorBasedBuilder):
    """dMelodies, generated exactly; one `ClassLabel` per factor, the tokens and the global index.

    Configs: ``full`` and ``tiny`` (split seed 0, the paper's default); the generalisation splits
    ``composition``, ``interpolation``, ``extrapolation`` and their ``tiny_*`` cuts; and each of them
    with suffix ``_split1``, ``_split2`` for the paper's other training seeds. Any other split seed is a
    custom config: ``tfds.builder("dmelodies", config=make_config("full", 7))``.
    """

    def __init__(self, **kwargs):
        try:
            super().__init__(**kwargs)
        except Exception as error:  # noqa: BLE001 - only errors reading a prepared dataset's info
            data_dir = getattr(self, "_data_dir", None)
            info_path = None if data_dir is None else os.path.join(os.fspath(data_dir), "dataset_info.json")
            if info_path is None or not tf.io.gfile.exists(info_path):
                raise
            _check_same_file_format(self, info_path, kwargs.get("file_format"))
            raise _damaged(self, f"its dataset information cannot be read ({one_line(error)[:300]})") from None

    def download_and_prepare(self, *args, **kwargs):
        """TFDS's ``download_and_prepare``, one process at a time per config (see the module docstring)."""
        if not _is_local(self.data_path):
            return super().download_and_prepare(*args, **kwargs)
        download_config = kwargs.get("download_config")
        overwrite = download_config is not None and download_config.download_mode.overwrite_dataset
        data_path = os.fspath(self.data_path)
        config_dir = os.path.dirname(data_path)
        with build_lock(config_dir, self.info.full_name) as locked:
            # Holding the lock, no other build is running here: an incomplete.* folder is a dead build's.
            for folder in stale_incomplete_folders(config_dir, str(self.version)) if locked else ():
                print(f"removing {folder}, left by a build that did not finish", file=sys.stderr, flush=True)
                tf.io.gfile.rmtree(folder)
            info_path = os.path.join(data_path, "dataset_info.json")
            if tf.io.gfile.exists(data_path) and not overwrite:
                if not tf.io.gfile.exists(info_path):
                    raise _damaged(self, "dataset_info.json is missing")
                if not self.info.splits:  # another process built it while this one waited
                    try:
                        self.info.read_from_directory(data_path)
                    except Exception as error:  # noqa: BLE001
                        raise _damaged(self, f"its dataset information cannot be read ({one_line(error)[:300]})") from None
            result = super().download_and_prepare(*args, **kwargs)
        self.check_prepared_files()
        return result

    def check_prepared_files(self) -> None:
        """``DatasetDamagedError`` unless every split's shards exist with the sizes the info records.

        A TFRecord file is its records plus 16 bytes each, so the sizes catch a missing or truncated
        shard with a few ``stat`` calls; flipped bytes are caught by TensorFlow's record checksums.
        An ArrayRecord file ends with an index of its records, read to count them (a cut file has none).
        """
        if not _is_local(self.data_path):
            return
        missing_splits = [split for split in splits.SPLITS if split not in self.info.splits]
        if missing_splits:
            raise _damaged(self, f"dataset_info.json lists no {', '.join(missing_splits)} split")
        for split in splits.SPLITS:
            info = self.info.splits[split]
            paths = [os.fspath(p) for p in info.filepaths]
            absent = [p for p in paths if not tf.io.gfile.exists(p)]
            if absent:
                raise _damaged(self, f"shard {os.path.basename(absent[0])} is missing")
            if self._file_format() != file_adapters.FileFormat.TFRECORD:
                self._check_record_counts(paths, info.shard_lengths)
            elif info.num_bytes:
                size = sum(tf.io.gfile.stat(p).length for p in paths)
                expected = info.num_bytes + _TFRECORD_OVERHEAD * info.num_examples
                if size != expected:
                    raise _damaged(self, f"the {split} shards hold {size:,} bytes, not the {expected:,} written")

    def _file_format(self) -> file_adapters.FileFormat:
        return self.info.file_format or file_adapters.FileFormat.TFRECORD

    def _check_record_counts(self, paths, shard_lengths) -> None:
        adapter = file_adapters.ADAPTER_FOR_FORMAT[self._file_format()]
        for path, length in zip(paths, shard_lengths):
            try:
                count = adapter.num_examples(path)
            except Exception as error:  # noqa: BLE001 - the reader's own error, named with the shard
                raise _damaged(self, f"shard {os.path.basename(path)} cannot be read ({one_line(error)[:300]})") from None
            if count != length:
                raise _damaged(self, f"shard {os.path.basename(path)} holds {count:,} records, not the {length:,} written")

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: token for token identical to the public release."}
    BUILDER_CONFIGS = [make_config(base, seed) for seed in PAPER_SPLIT_SEEDS for base in BASE_CONFIGS]
    DEFAULT_BUILDER_CONFIG_NAME = "full"

    def _info(self) -> tfds.core.DatasetInfo:
        features = {
            "score": tfds.features.Tensor(shape=(melodies.SEQUENCE_LENGTH,), dtype=np.int32),
            "index": tfds.features.Scalar(dtype=np.int64, doc="Global index: the labels' mixed-radix number."),
        }
        for factor in F.FACTORS:
            features[factor.key] = tfds.features.ClassLabel(names=list(factor.values))
        info = self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(features),
            supervised_keys=None,
            homepage=_HOMEPAGE,
            metadata=tfds.core.MetadataDict(vocabulary=list(melodies.VOCABULARY)),
        )
        # TFDS looks up an unprepared dataset's info on its GCS bucket through a fresh `mkdtemp` folder it
        # never removes (an empty /tmp/tmp*tfds per builder). dmelodies is generated, never on the bucket.
        info.initialize_from_bucket = lambda: None
        return info

    def _split_indices(self, split: str, max_examples: int | None = None) -> np.ndarray:
        return config_split_indices(self.builder_config, split, max_examples)

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download: every example is generated from its labels.
        return {split: self._generate_examples(self._split_indices(split)) for split in splits.SPLITS}

    def _generate_examples(self, indices):
        """Reference path: one feature dict per example, encoded by TFDS (slow, kept for tests)."""
        tokens, labels = melodies.generate_tokens(indices), F.index_to_factors(indices)
        for index, score, label in zip(indices, tokens, labels):
            example = {"score": score, "index": int(index)}
            example.update({key: int(value) for key, value in zip(F.FACTOR_KEYS, label)})
            yield int(index), example

    def _generate_splits(self, dl_manager, download_config):
        """Fast path (see the module docstring): the same records, written split by split."""
        del dl_manager
        max_examples = download_config.max_examples_per_split
        split_infos = []
        with tfds.core.utils.tqdm(total=self._total_examples(max_examples), unit=" examples",
                                  desc="Writing dmelodies") as progress:
            for split in splits.SPLITS:
                indices = self._split_indices(split, max_examples)
                split_infos.append(self._write_split(split, indices, progress))
        return split_infos

    def _total_examples(self, max_examples):
        return sum(len(self._split_indices(split, max_examples)) for split in splits.SPLITS)

    # The lines TFDS prints before and after a build ("Downloading and preparing dataset Unknown size
    # (download: Unknown size, …)", "… downloaded and prepared to …") describe a download; nothing is
    # downloaded here, and the size is known only once the records are written.
    def _log_download_bytes(self) -> None:
        print(f"Generating {self.info.full_name} in {self.data_dir} ...", flush=True)

    def _log_download_done(self) -> None:
        print(f"Generated {self.info.full_name} in {self.data_dir}", flush=True)

    def _write_split(self, split, indices, progress) -> tfds.core.SplitInfo:
        template = self._get_filename_template(split_name=split)
        adapter = file_adapters.ADAPTER_FOR_FORMAT[self._file_format()]
        bounds = splits.shard_bounds(len(indices))
        num_shards = len(bounds) - 1
        shard_lengths, num_bytes = [], 0
        for path, start, stop in zip(template.sharded_filepaths(num_shards), bounds[:-1], bounds[1:]):
            chunk = indices[start:stop]
            records = serialize_examples(chunk)
            adapter.write_examples(path, zip(chunk.tolist(), records))
            shard_lengths.append(len(chunk))
            num_bytes += sum(map(len, records))
            progress.update(len(chunk))
        return tfds.core.SplitInfo(
            name=split, shard_lengths=shard_lengths, num_bytes=num_bytes, filename_template=template
        )


    def _build_single_dataset(self, split, batch_size, shuffle_files, decoders, read_config, as_supervised):
        self.check_prepared_files()  # a clear error now, not a TensorFlow one mid-epoch
        if (not batch_size or batch_size == -1 or decoders or as_supervised or read_config.add_tfds_id
                or self._file_format() != file_adapters.FileFormat.TFRECORD):
            return super()._build_single_dataset(
                split=split, batch_size=batch_size, shuffle_files=shuffle_files, decoders=decoders,
                read_config=read_config, as_supervised=as_supervised,
            )
        instructions = self.info.splits[split].file_instructions
        files = tf.data.Dataset.from_tensor_slices({
            "filename": [os.fspath(i.filename) for i in instructions],
            "skip": np.array([i.skip for i in instructions], dtype=np.int64),
            "take": np.array([i.take for i in instructions], dtype=np.int64),
        })
        if shuffle_files:
            files = files.shuffle(len(instructions), seed=read_config.shuffle_seed,
                                  reshuffle_each_iteration=read_config.shuffle_reshuffle_each_iteration)
        cycle_length = read_config.interleave_cycle_length
        records = files.interleave(
            lambda f: tf.data.TFRecordDataset(f["filename"]).skip(f["skip"]).take(f["take"]),
            # TFDS's default when the user leaves the cycle length unset.
            cycle_length=cycle_length if isinstance(cycle_length, int) else 16,
            block_length=read_config.interleave_block_length,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        features = self.info.features
        specs = {key: tf.io.FixedLenFeature(features[key].shape, tf.int64) for key in features.keys()}

        def parse(serialized):
            parsed = tf.io.parse_example(serialized, specs)
            return {key: tf.cast(value, features[key].tf_dtype) for key, value in parsed.items()}

        ds = records.batch(batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.with_options(read_config.options)
        return ds if read_config.skip_prefetch else ds.prefetch(tf.data.AUTOTUNE)


def serialize_examples(indices: np.ndarray) -> list[bytes]:
    """Serialised ``tf.train.Example`` records of examples ``indices``, in that order."""
    columns = np.concatenate(
        [melodies.generate_tokens(indices), indices[:, None], F.index_to_factors(indices)], axis=1
    ).tolist()
    example = tf_example_pb2.Example()
    feature = example.features.feature
    score = feature["score"].int64_list.value
    scalars = [feature[key].int64_list.value for key in ("index",) + F.FACTOR_KEYS]
    width = melodies.SEQUENCE_LENGTH
    records = []
    for row in columns:
        score[:] = row[:width]
        for column, values in enumerate(scalars, start=width):
            values[:] = row[column:column + 1]
        records.append(example.SerializeToString())
    return records
