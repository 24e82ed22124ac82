"""The paper's 70/20/10 train/validation/test split, index for index (SPEC §4)."""
from __future__ import annotations

import numpy as np

from dmelodies_tfds.factors import NUM_EXAMPLES

SPLITS = ("train", "validation", "test")
# The release's loader cut at int(0.7 * N) and int((0.7 + 0.2) * N); kept literally.
_TRAIN_END = int(0.7 * NUM_EXAMPLES)
_VALIDATION_END = int((0.7 + 0.2) * NUM_EXAMPLES)


def permutation(seed: int = 0) -> np.ndarray:
    """numpy's legacy ``RandomState(seed).permutation(N)``, exactly as the paper's loader drew it."""
    return np.random.RandomState(seed).permutation(NUM_EXAMPLES)


def split_indices(split: str, seed: int = 0) -> np.ndarray:
    """Example indices of ``split`` ("train", "validation" or "test") in the paper's order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
    perm = permutation(seed)
    bounds = {"train": (0, _TRAIN_END), "validation": (_TRAIN_END, _VALIDATION_END),
              "test": (_VALIDATION_END, NUM_EXAMPLES)}[split]
    return perm[bounds[0]:bounds[1]]
