"""Input pipelines from the TFDS splits: ``tf.data`` on TensorFlow, numpy batches on JAX and PyTorch.

Each split is read once into memory (the whole of dMelodies' tokens is 87 MB, dSprites' images 3 GB),
so a training step only gathers a batch of rows: the pipeline costs microseconds per batch and is never the bottleneck
(``perf/train_throughput.py`` measures both). Epoch ``e`` visits the training split in the order of a
permutation drawn from ``(seed, e)`` alone, which makes the data order reproducible from the seed and
lets an interrupted run continue at any step without replaying the ones before it. Off TensorFlow, the
same permutation comes from :mod:`benchmarks.training.order`, so a run's batches are the same on every
backend.
"""
from __future__ import annotations

import logging

import math

import gin
import keras
import numpy as np

import dmelodies_tfds  # also registers the `dmelodies` builder, where TFDS is installed
from benchmarks.training import order

# A large enough read batch makes the builder's vectorised parser do the work (about 1 s per million).
_READ_BATCH = 65536


@gin.configurable
class TFDSSource:
    """One feature of a TFDS dataset's splits as numpy arrays, built on first use (with a progress bar).

    Args:
      name: the registered TFDS dataset.
      config: its builder config ("full": the paper's dMelodies; "tiny": 7,000 / 2,000 / 1,000 examples
        for tests and demos; "composition", "interpolation", "extrapolation": test melodies held out of
        training, :mod:`dmelodies_tfds.splits`, and their "tiny_*" cuts); None for a dataset without configs.
      data_dir: where TFDS keeps its data; None for TFDS's default (``~/tensorflow_datasets``).
      feature: the feature the models read ("score": the 16 tokens).
      split_names: the dataset's names for the train / validation / test splits, as TFDS split strings.

    ``load(split, split_seed)`` reads the data cut by split seed ``split_seed``: the paper re-split
    dMelodies for each training seed (protocol §4, §6), so its run with seed s reads the builder config
    ``<config>_split<s>`` (``full`` itself for s = 0). A generalisation config holds the same melodies
    out for every seed; the seed re-cuts train / validation and re-samples the test split from them.
    Other datasets have one fixed split (seed 0).
    """

    def __init__(self, name: str = "dmelodies", config: str | None = "full", data_dir: str | None = None,
                 feature: str = "score", split_names: dict[str, str] | None = None):
        self.name, self.config, self.data_dir, self.feature = name, config, data_dir, feature
        self.split_names = dict(split_names or {s: s for s in ("train", "validation", "test")})
        self._arrays: dict[tuple[str, int], np.ndarray] = {}

    def builder(self, split_seed: int = 0):
        """The TFDS builder of this source's config cut by ``split_seed``."""
        if split_seed:
            if self.name != "dmelodies" or self.config is None:
                raise ValueError(f"TFDS dataset {self.name!r} has one fixed split: bind train.split_seed = 0 "
                                 f"(asked for split seed {split_seed})")
            from dmelodies_tfds.dmelodies.dmelodies_dataset_builder import Builder, make_config

            config = make_config(self.config, split_seed)
            if config.name in Builder.builder_configs:  # the paper's seeds are registered configs
                return self._builder(f"{self.name}/{config.name}", config.name)
            return self._builder(self.name, config.name, config=config)
        name = f"{self.name}/{self.config}" if self.config else self.name
        return self._builder(name, name)

    def _builder(self, name, shown, **kwargs):
        import tensorflow_datasets as tfds

        try:
            return tfds.builder(name, data_dir=self.data_dir, **kwargs)
        except tfds.core.registered.DatasetNotFoundError as error:
            raise ValueError(f"unknown TFDS dataset {shown!r}: {error}") from None

    def load(self, split: str, split_seed: int = 0, feature: str | None = None) -> np.ndarray:
        """``feature`` (default: the source's) of every example of ``split`` ("train", "validation" or
        "test") cut by ``split_seed``, in order."""
        feature = feature or self.feature
        key = (split, split_seed, feature)
        if key not in self._arrays:
            import tensorflow as tf
            import tensorflow_datasets as tfds

            builder = self.builder(split_seed)
            # Not builder.is_prepared(): before the first build it logs "Variant folder … has no dataset_info.json".
            if not (builder.data_path / "dataset_info.json").exists():
                logging.info("Preparing %s in %s (first use)", builder.info.full_name, builder.data_dir)
                builder.download_and_prepare()
            name = self.split_names[split]
            try:
                dataset = builder.as_dataset(split=name, batch_size=_READ_BATCH)
                chunks = [batch[feature] for batch in tfds.as_numpy(dataset)]
                # None where the metadata records no splits (TFDS's mock data for tests).
                expected = builder.info.splits[name].num_examples if builder.info.splits else None
            except (tf.errors.OpError, OSError) as error:
                raise ValueError(f"cannot read split {name!r} of {builder.info.full_name} in {builder.data_dir} "
                                 f"({type(error).__name__}: {str(error).splitlines()[0]}): the files are "
                                 "damaged; delete that folder to rebuild it") from None
            if not chunks:
                raise ValueError(f"split {name!r} of {builder.info.full_name} is empty")
            found = sum(len(chunk) for chunk in chunks)
            if expected is not None and found != expected:  # e.g. a shard truncated at a record boundary reads without an error
                raise ValueError(f"split {name!r} of {builder.info.full_name} has {found:,} examples where its "
                                 f"dataset_info.json records {expected:,}: the files in {builder.data_dir} are "
                                 "damaged; delete that folder to rebuild it")
            self._arrays[key] = np.concatenate(chunks)
        return self._arrays[key]

    def labels(self, split: str, split_seed: int = 0) -> np.ndarray:
        """The nine factor labels (n, 9) of ``split``'s examples, in the order of :meth:`load`: what a
        supervised objective trains on."""
        if self.name != "dmelodies":
            raise ValueError(f"factor labels are read from dMelodies' example index; TFDS dataset {self.name!r} "
                             "has none: train a supervised objective on dmelodies")
        return dmelodies_tfds.index_to_factors(self.load(split, split_seed, feature="index"))


@gin.configurable
class GeneratedSource:
    """dMelodies generated in memory by the numpy core, without TFDS or TensorFlow: the examples of
    :class:`TFDSSource`'s ``dmelodies`` configs, in the same order, so a run reads the same data from
    either (on a machine without TensorFlow, bind ``train.dataset = @GeneratedSource()``).

    Args:
      config: "full" (the paper's split), "tiny" (its first 7,000 / 2,000 / 1,000 examples), or a
        generalisation config and its "tiny_*" cut (:mod:`dmelodies_tfds.splits`).

    Generating the full split seed's 1,354,752 melodies takes a few seconds and about 90 MB.
    """

    name = "dmelodies"

    def __init__(self, config: str = "full"):
        base = config[len("tiny_"):] if config.startswith("tiny_") else ("random" if config in ("full", "tiny") else config)
        if base not in dmelodies_tfds.splits.SPLIT_CONFIGS:
            raise ValueError(f"unknown dmelodies config {config!r}: full, tiny, or one of "
                             f"{', '.join(dmelodies_tfds.splits.GENERALISATION_CONFIGS)} and their tiny_* cuts")
        self.config, self.split_config = config, base
        self.limits = dmelodies_tfds.splits.TINY_SIZES if config.startswith("tiny") else None
        self._indices: dict[tuple[str, int], np.ndarray] = {}

    def indices(self, split: str, split_seed: int = 0) -> np.ndarray:
        """The example indices of ``split`` cut by ``split_seed``, in the order TFDS reads the prepared
        split (its shards interleaved, :func:`dmelodies_tfds.splits.read_order`)."""
        if (split, split_seed) not in self._indices:
            indices = dmelodies_tfds.split_indices(split, split_seed, config=self.split_config)
            indices = indices[:self.limits[split]] if self.limits else indices
            self._indices[split, split_seed] = indices[dmelodies_tfds.splits.read_order(len(indices))]
        return self._indices[split, split_seed]

    def load(self, split: str, split_seed: int = 0, feature: str = "score") -> np.ndarray:
        """``feature`` ("score": the tokens (n, 16); "index": the example indices) of ``split``."""
        if feature == "index":
            return self.indices(split, split_seed)
        if feature != "score":
            raise ValueError(f"dMelodies examples have the features 'score' and 'index', not {feature!r}")
        return dmelodies_tfds.generate_tokens(self.indices(split, split_seed))

    def labels(self, split: str, split_seed: int = 0) -> np.ndarray:
        """The nine factor labels (n, 9) of ``split``'s examples, in the order of :meth:`load`."""
        return dmelodies_tfds.index_to_factors(self.indices(split, split_seed))


def epoch_steps(num_examples: int, batch_size: int, steps_per_epoch: int | None = None) -> int:
    """``steps_per_epoch``, or all the full batches of the split when None; checked against the split."""
    full = num_examples // batch_size
    steps = full if steps_per_epoch is None else steps_per_epoch
    if not 0 < steps <= full:
        raise ValueError(f"{steps} steps per epoch need {steps} batches of {batch_size}, but the training "
                         f"split has {num_examples} examples ({full} full batches)")
    return steps


def training_batches(examples: np.ndarray, batch_size: int, seed: int, steps_per_epoch: int | None = None,
                     first_epoch: int = 0, skip: int = 0):
    """An endless stream of training batches, starting ``skip`` batches into epoch ``first_epoch``: a
    ``tf.data.Dataset`` on TensorFlow, an iterator of numpy batches on the other backends.

    ``examples`` is an array, or a tuple of arrays with one row per example (tokens and labels for a
    supervised objective), gathered alike.

    Epoch ``e`` is the first ``steps_per_epoch`` full batches of the examples in the order of a
    permutation seeded by ``(seed, e)``; the incomplete last batch is dropped (FactorVAE halves batches).
    """
    if keras.backend.backend() != "tensorflow":
        return _off_tensorflow(_numpy_training_batches(examples, batch_size, seed, steps_per_epoch, first_epoch, skip))
    import tensorflow as tf

    num_examples = len(tf.nest.flatten(examples)[0])
    steps_per_epoch = epoch_steps(num_examples, batch_size, steps_per_epoch)
    # Variables, unlike constants, may exceed 2 GB.
    tables = tf.nest.map_structure(lambda array: tf.Variable(array, trainable=False), examples)
    count = steps_per_epoch * batch_size

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(tf.range(num_examples), seed=tf.stack([tf.constant(seed, tf.int64), e]))
        return tf.data.Dataset.from_tensor_slices(tf.reshape(order[:count], (steps_per_epoch, batch_size)))

    def gather(rows):
        return tf.nest.map_structure(lambda table: tf.gather(table, rows), tables)

    epochs = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max).flat_map(epoch)
    return epochs.skip(skip).map(gather).prefetch(tf.data.AUTOTUNE)


def _numpy_training_batches(examples, batch_size, seed, steps_per_epoch, first_epoch, skip):
    arrays = examples if isinstance(examples, tuple) else (examples,)
    for rows in order.batch_rows(len(arrays[0]), batch_size, seed, steps_per_epoch, first_epoch, skip):
        yield tuple(array[rows] for array in arrays)


def evaluation_batches(examples: np.ndarray, batch_size: int):
    """Every example once, in order, in batches (the last one may be smaller): a ``tf.data.Dataset`` on
    TensorFlow, a :class:`keras.utils.PyDataset` on the other backends."""
    if keras.backend.backend() != "tensorflow":
        return _off_tensorflow(OrderedBatches(examples, batch_size))
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(examples).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _off_tensorflow(batches):
    """``batches`` as Keras reads them on JAX, and on PyTorch in a ``DataLoader`` with a generator of its
    own: one that Keras would make draws its workers' base seed from PyTorch's global generator each time
    it is iterated, which would shift the dropout masks drawn from that generator after a resumption
    (:mod:`benchmarks.training.checkpoints` restores its state)."""
    if keras.backend.backend() != "torch":
        return batches
    import torch

    if isinstance(batches, OrderedBatches):  # a known number of batches, read again for every validation
        class Batches(torch.utils.data.Dataset):
            def __len__(self):
                return len(batches)

            def __getitem__(self, index):
                return batches[index]
    else:
        class Batches(torch.utils.data.IterableDataset):
            def __iter__(self):
                return iter(batches)

    return torch.utils.data.DataLoader(Batches(), batch_size=None, generator=torch.Generator())


class OrderedBatches(keras.utils.PyDataset):
    """``examples`` (an array or a tuple of arrays) in order, in batches of ``batch_size``: the evaluation
    data off TensorFlow (a ``PyDataset``, so Keras reads it again for every validation)."""

    def __init__(self, examples, batch_size: int):
        super().__init__()
        self.arrays = examples if isinstance(examples, tuple) else (examples,)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.arrays[0]) / self.batch_size)

    def __getitem__(self, index: int) -> tuple:
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return tuple(array[rows] for array in self.arrays)
