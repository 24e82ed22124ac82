"""Train / validation / test splits: the paper's random 70/20/10 (protocol §4) and three generalisation splits.

A random split of a fully crossed factor grid tests memory rather than generalisation: every test
melody's factor combination is one step from a training melody's. The generalisation splits, after
the composition / interpolation / extrapolation splits of Schott et al. ("Visual representation
learning does not generalize strongly within the same domain", ICLR 2022), hold chosen factor
combinations or values out of training altogether. Membership is a pure function of the factor
labels (:func:`held_out`); what each split holds out, and the musical question it asks, is in
:data:`HELD_OUT` (its descriptions are the builder configs' descriptions).

The generalisation splits reuse the paper's seeded permutation, so a split seed orders and cuts
them as it does the random split: the melodies not held out, in permutation order, are cut 7 : 2
(the paper's 70 : 20) into ``train`` and ``validation``; ``test`` is the first
:data:`TEST_SIZE` held-out melodies in permutation order, a seeded uniform sample. A third to a
fifth of the dataset is held out, two to 3.3 times the paper's test split: the sample keeps the
test split the random split's size, so scoring a run costs the same and its scores have the same
sampling error (an accuracy over 135,476 melodies is within ±0.3 percentage points at 95 %)
whatever the split. Held-out melodies outside the sample are in no split; they are never trained on.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from dmelodies_tfds import factors as F
from dmelodies_tfds.factors import NUM_EXAMPLES

SPLITS = ("train", "validation", "test")
GENERALISATION_CONFIGS = ("composition", "interpolation", "extrapolation")
SPLIT_CONFIGS = ("random",) + GENERALISATION_CONFIGS
# The `tiny` configs: the first examples of each split, for tests and demos.
TINY_SIZES = {"train": 7000, "validation": 2000, "test": 1000}
# The prepared dataset's shards hold at most this many examples (~30 MB), in the split's order; TFDS reads
# them back interleaved, READ_BLOCK examples from each in turn (its default interleave: 16 files at once).
EXAMPLES_PER_SHARD = 131072
READ_BLOCK = 16
# The release's loader cut at int(0.7 * N) and int((0.7 + 0.2) * N); kept literally.
_TRAIN_END = int(0.7 * NUM_EXAMPLES)
_VALIDATION_END = int((0.7 + 0.2) * NUM_EXAMPLES)
TEST_SIZE = NUM_EXAMPLES - _VALIDATION_END  # 135,476: the random split's test size


@dataclasses.dataclass(frozen=True)
class Combinations:
    """Melodies whose labels of ``factors`` are marked True in ``table`` (indexed by those labels)."""

    factors: tuple[str, ...]
    table: np.ndarray

    def __post_init__(self):
        sizes = tuple(F.FACTOR_SIZES[F.FACTOR_KEYS.index(key)] for key in self.factors)
        if self.table.shape != sizes or self.table.dtype != bool:
            raise ValueError(f"the table of {self.factors} must be bool {sizes}, got {self.table.dtype} {self.table.shape}")
        self.table.setflags(write=False)

    def mask(self, labels: np.ndarray) -> np.ndarray:
        return self.table[tuple(labels[:, F.FACTOR_KEYS.index(key)] for key in self.factors)]

    def values(self) -> list[tuple[str, ...]]:
        """The marked combinations as value names, e.g. ``[("C#", "major"), ...]``."""
        names = [F.FACTORS[F.FACTOR_KEYS.index(key)].values for key in self.factors]
        return [tuple(n[i] for n, i in zip(names, cell)) for cell in np.argwhere(self.table)]


@dataclasses.dataclass(frozen=True)
class HeldOut:
    """What a generalisation split holds out of training (a melody any entry marks), and why."""

    entries: tuple[Combinations, ...]
    description: str


def _marked(keys: tuple[str, ...], cells) -> np.ndarray:
    """A bool table over the labels of factors ``keys``, True at ``cells`` given as value names."""
    factors = [F.FACTORS[F.FACTOR_KEYS.index(key)] for key in keys]
    table = np.zeros(tuple(f.size for f in factors), dtype=bool)
    for cell in cells:
        table[tuple(f.values.index(value) for f, value in zip(factors, cell))] = True
    return table


# Each scale at two tonics a tritone apart (as far apart on the circle of fifths as keys get), six
# different tonics: every tonic keeps two of its three scales, every scale ten of its twelve tonics.
_UNHEARD_KEYS = (("C#", "major"), ("G", "major"), ("D#", "minor"), ("A", "minor"), ("F", "blues"), ("B", "blues"))

HELD_OUT: dict[str, HeldOut] = {
    "composition": HeldOut(
        (Combinations(("tonic", "scale"), _marked(("tonic", "scale"), _UNHEARD_KEYS)),
         Combinations(("rhythm_bar1", "rhythm_bar2"), np.eye(len(F.RHYTHM_ONSETS), dtype=bool))),
        "Held out of training: the tonic × scale pairs major on C# and G, harmonic minor on D# and A, "
        "blues on F and B (each scale at two tonics a tritone apart), and every melody whose two bars "
        "share a rhythm (rhythm_bar1 = rhythm_bar2). Every tonic, scale and rhythm is heard in training, "
        "only never in these combinations. A scale is one interval pattern that transposes to any tonic, "
        "and each bar's rhythm is chosen independently of the other's: a model that has learned them as "
        "such should render minor on A, having heard minor on ten other tonics and A as major and blues, "
        "and a phrase that repeats its first bar's rhythm, a basic device of phrase building, having "
        "heard each rhythm only beside different ones.",
    ),
    "interpolation": HeldOut(
        (Combinations(("octave",), _marked(("octave",), [("5",)])),),
        "Held out of training: octave 5, the middle register. The octave factor moves the whole melody "
        "by octaves, an order of pitch height (4 < 5 < 6). Training melodies lie in octaves 4 and 6, and "
        "every note of octave 5 (MIDI 72-97) occurs in them (MIDI 60-85 and 84-109): the question is "
        "only whether a melody can be placed between two registers heard, every interval kept.",
    ),
    "extrapolation": HeldOut(
        (Combinations(("octave",), _marked(("octave",), [("6",)])),),
        "Held out of training: octave 6, the top register, beyond the training range of octaves 4 and 5 "
        "(the order of pitch height). Its twelve highest notes, D7 to C#8 (MIDI 98-109), occur in no "
        "training melody, so a model of tokens has never been trained to emit them, and a probe of the "
        "octave has seen only the two lower labels: can register be extended beyond what was heard?",
    ),
}


def check_config(config: str) -> str:
    if config not in SPLIT_CONFIGS:
        raise ValueError(f"unknown split config {config!r}; split configs are {', '.join(SPLIT_CONFIGS)}")
    return config


def held_out(labels, config: str) -> np.ndarray:
    """Whether each melody of ``labels`` (n, 9) is held out of training by split config ``config``."""
    labels = F.check_labels(labels)
    if check_config(config) == "random":
        return np.zeros(len(labels), dtype=bool)
    return np.logical_or.reduce([entry.mask(labels) for entry in HELD_OUT[config].entries])


@functools.lru_cache(maxsize=None)
def _held_out_examples(config: str) -> np.ndarray:
    mask = held_out(F.index_to_factors(np.arange(NUM_EXAMPLES)), config)
    mask.setflags(write=False)
    return mask


def permutation(seed: int = 0) -> np.ndarray:
    """numpy's legacy ``RandomState(seed).permutation(N)``, exactly as the paper's loader drew it."""
    return np.random.RandomState(seed).permutation(NUM_EXAMPLES)


def split_indices(split: str, seed: int = 0, config: str = "random") -> np.ndarray:
    """Example indices of ``split`` ("train", "validation" or "test") of split config ``config``.

    ``config`` "random" is the paper's split (protocol §4); the others are in :data:`HELD_OUT` and the
    module docstring. Either way the indices are in the order of the seed's permutation.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
    perm = permutation(seed)
    if check_config(config) == "random":
        bounds = {"train": (0, _TRAIN_END), "validation": (_TRAIN_END, _VALIDATION_END),
                  "test": (_VALIDATION_END, NUM_EXAMPLES)}[split]
        return perm[bounds[0]:bounds[1]]
    held = _held_out_examples(config)[perm]
    if split == "test":
        return perm[held][:TEST_SIZE]
    seen = perm[~held]
    train_end = len(seen) * 7 // 9
    return seen[:train_end] if split == "train" else seen[train_end:]


def shard_bounds(num_examples: int) -> np.ndarray:
    """Where the prepared dataset cuts a split of ``num_examples`` into shards: positions 0, …, num_examples."""
    num_shards = max(1, -(-num_examples // EXAMPLES_PER_SHARD))
    return np.linspace(0, num_examples, num_shards + 1).round().astype(int)


def read_order(num_examples: int) -> np.ndarray:
    """The order in which TFDS reads a prepared split back: positions in the split's order, its shards
    interleaved :data:`READ_BLOCK` examples at a time (every split has at most 16 shards, all read at once),
    so ``split_indices(...)[read_order(n)]`` is what ``tfds.load`` yields."""
    bounds = shard_bounds(num_examples)
    blocks = sorted((round_, shard, start, min(start + READ_BLOCK, stop))
                    for shard, (first, stop) in enumerate(zip(bounds[:-1], bounds[1:]))
                    for round_, start in enumerate(range(first, stop, READ_BLOCK)))
    return np.concatenate([np.arange(start, stop) for _, _, start, stop in blocks]) if blocks else np.arange(0)
