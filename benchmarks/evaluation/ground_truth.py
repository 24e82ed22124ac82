"""dMelodies as disentanglement_lib ground-truth data: factor labels in, exact token sequences out.

disentanglement_lib's metrics sample factors, ask for the matching observations and encode them. The
observations here are generated on the fly by :func:`dmelodies_tfds.generate_tokens` (no dataset build
needed), so every melody a metric sees is exactly the dataset's.

- :class:`DMelodiesData` samples labels uniformly, like disentanglement_lib's dSprites; ``split=``
  restricts the samples to one split's melodies (the paper scored test-split melodies), of the random
  split or of a generalisation split (``split_config``, :mod:`dmelodies_tfds.splits`).
- :class:`SplitPrefix` serves the first examples of a split in the paper loader's order, one after
  the other: the paper's own protocol scores a fixed set of melodies, not random draws (protocol §7).
"""
from __future__ import annotations

import numpy as np

import dmelodies_tfds as d
from benchmarks.evaluation import dlib_compat  # noqa: F401  (before disentanglement_lib)
from disentanglement_lib.data.ground_truth import ground_truth_data


class DMelodiesData(ground_truth_data.GroundTruthData):
    """The nine factors of protocol §1, each observation the 16 int32 tokens of one melody (protocol §3).

    Args:
      split: None to sample all N melodies; "train", "validation" or "test" to sample only that split's
        (protocol §4, split seed ``split_seed``). Only ``sample_factors`` is restricted: metrics that
        intervene on factors (the β-VAE and FactorVAE scores) combine labels of different examples and
        may reach melodies of another split; every label combination is a dMelodies melody.
      split_config: "random" (the paper's split) or a generalisation split whose test melodies are held
        out of training (:data:`dmelodies_tfds.splits.SPLIT_CONFIGS`).
    """

    def __init__(self, split: str | None = None, split_seed: int = 0, split_config: str = "random"):
        self.split, self.split_seed, self.split_config = split, split_seed, split_config
        self._indices = None if split is None else d.split_indices(split, split_seed, config=split_config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(split={self.split!r}, split_seed={self.split_seed}{self._config_repr()})"

    def of_split(self, split: str) -> DMelodiesData:
        """The same split seed and config, sampling only ``split``'s melodies (a metric that fits on the
        training melodies and scores the test ones asks for both)."""
        return DMelodiesData(split, self.split_seed, self.split_config)

    def _config_repr(self) -> str:
        """The split config where it is not the paper's: results files of the random split read as before."""
        return "" if self.split_config == "random" else f", split_config={self.split_config!r}"

    @property
    def num_factors(self) -> int:
        return d.NUM_FACTORS

    @property
    def factors_num_values(self) -> list:
        return list(d.FACTOR_SIZES)

    @property
    def observation_shape(self) -> list:
        return [d.SEQUENCE_LENGTH]

    def sample_factors(self, num, random_state) -> np.ndarray:
        """Labels (num, 9): independent uniform labels, or uniform examples of ``split``."""
        if self._indices is None:
            return np.stack([random_state.randint(size, size=num) for size in d.FACTOR_SIZES], axis=1)
        return d.index_to_factors(self._indices[random_state.randint(len(self._indices), size=num)])

    def sample_observations_from_factors(self, factors, random_state) -> np.ndarray:
        """Tokens (num, 16) of the melodies with labels ``factors``; deterministic, so no randomness drawn."""
        del random_state
        return d.generate_tokens(d.factors_to_index(factors))


class SplitPrefix(DMelodiesData):
    """The first ``num_examples`` examples of ``split`` in the paper loader's order, served in turn.

    Each ``sample_factors`` call continues where the previous one stopped, whatever ``random_state``
    says; a metric asking for more than ``num_examples`` in all gets a ``ValueError``. Build a fresh
    instance for each metric so that every metric scores the same melodies, as the paper did.
    """

    def __init__(self, split: str = "test", num_examples: int = 102_912, split_seed: int = 0,
                 split_config: str = "random"):
        super().__init__(split, split_seed, split_config)
        if not 0 < num_examples <= len(self._indices):
            raise ValueError(f"num_examples must be in 1..{len(self._indices)} for the {split} split, "
                             f"got {num_examples}")
        self._indices = self._indices[:num_examples]
        self._next = 0

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(split={self.split!r}, split_seed={self.split_seed}{self._config_repr()}, "
                f"num_examples={len(self._indices)})")

    def sample_factors(self, num, random_state) -> np.ndarray:
        del random_state
        if self._next + num > len(self._indices):
            raise ValueError(
                f"the metric asked for more than the {len(self._indices)} {self.split} examples this "
                "protocol scores: lower its num_train/num_test or raise num_examples")
        indices = self._indices[self._next:self._next + num]
        self._next += num
        return d.index_to_factors(indices)
