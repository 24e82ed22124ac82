"""The nine factors of variation of dMelodies and the index <-> labels bijection (protocol §1).

This module is the single definition of the factors: the generator, the TFDS features, the
disentanglement_lib ground-truth view and the report all read their keys, sizes and value names
from :data:`FACTORS`, so nothing downstream re-derives them.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Sequence

import numpy as np

from dmelodies_tfds.text import short_repr


@dataclasses.dataclass(frozen=True)
class Factor:
    """One factor of variation: its key, and the value names indexed by label."""

    key: str
    values: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.values)


# The 28 ways to place 6 onsets in the 8 eighth-note slots of a bar, in lexicographic order of the
# chosen slot tuple (protocol §1): entry 0 plays slots 0-5, entry 27 plays slots 2-7.
RHYTHM_ONSETS: tuple[tuple[int, ...], ...] = tuple(itertools.combinations(range(8), 6))
RHYTHM_MASKS: np.ndarray = np.zeros((len(RHYTHM_ONSETS), 8), dtype=bool)
for _row, _onsets in enumerate(RHYTHM_ONSETS):
    RHYTHM_MASKS[_row, list(_onsets)] = True
RHYTHM_MASKS.setflags(write=False)

_RHYTHM_NAMES = tuple("".join("1" if on else "0" for on in mask) for mask in RHYTHM_MASKS)
_ARP = ("up", "down")

FACTORS: tuple[Factor, ...] = (
    Factor("tonic", ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")),
    Factor("octave", ("4", "5", "6")),
    Factor("scale", ("major", "minor", "blues")),
    Factor("rhythm_bar1", _RHYTHM_NAMES),
    Factor("rhythm_bar2", _RHYTHM_NAMES),
    Factor("arp_chord1", _ARP),
    Factor("arp_chord2", _ARP),
    Factor("arp_chord3", _ARP),
    Factor("arp_chord4", _ARP),
)
FACTOR_KEYS: tuple[str, ...] = tuple(f.key for f in FACTORS)
FACTOR_SIZES: tuple[int, ...] = tuple(f.size for f in FACTORS)
NUM_FACTORS = len(FACTORS)
NUM_EXAMPLES = int(np.prod(FACTOR_SIZES))  # 1,354,752


_MASK_HINT = " (a boolean mask is not a list of indices: np.flatnonzero(mask) gives the indices it selects)"


def as_int_array(values, name: str) -> np.ndarray:
    """``values`` as an exact integer array, or ``ValueError`` naming ``name`` if they are not integers.

    bool, float, string and other non-integer inputs are refused, not converted: ``[True, False]`` is a
    mask, not the indices 1 and 0, and ``2.7`` is no index at all. Empty input is an empty int64 array.
    The result keeps values exact so that callers can range-check them before narrowing to int64:
    integers too large for int64 stay Python ints in an object array and uint64 stays uint64, so an
    error message shows the value given, never a wrapped one.
    """
    if isinstance(values, (list, tuple)):
        # Look at the elements as given: numpy would turn True into 1 next to ints, and 2**63 next
        # to small ints into a float.
        array = np.array(values, dtype=object)
        if array.size == 0:
            return np.zeros(array.shape, dtype=np.int64)
    else:
        array = np.asarray(values)
        if array.size == 0:
            return np.zeros(array.shape, dtype=np.int64)
    if array.dtype == object:
        for value in array.flat:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                hint = _MASK_HINT if isinstance(value, (bool, np.bool_)) and name == "indices" else ""
                raise ValueError(f"{name} must be integers, got {type(value).__name__} {short_repr(value, 60)}{hint}")
        try:
            return array.astype(np.int64)
        except OverflowError:
            return array  # exact Python ints; the caller's range check names the value
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        hint = _MASK_HINT if array.dtype == bool and name == "indices" else ""
        raise ValueError(f"{name} must be integers, got dtype {array.dtype}{hint}")
    return array


def _narrow(array: np.ndarray) -> np.ndarray:
    """An exact integer array already range-checked, as int64."""
    return array.astype(np.int64) if array.dtype == object else array.astype(np.int64, copy=False)


def check_indices(indices) -> np.ndarray:
    """Return ``indices`` as an int64 array, or raise ``ValueError`` if any is not an integer in [0, N)."""
    indices = as_int_array(indices, "indices")
    bad = (indices < 0) | (indices >= NUM_EXAMPLES)
    if np.any(bad):
        raise ValueError(
            f"index {int(indices[bad].flat[0])} is out of range: dMelodies indices are 0..{NUM_EXAMPLES - 1}"
        )
    return _narrow(indices)


def check_labels(labels) -> np.ndarray:
    """Return ``labels`` as an int64 (n, 9) array, or raise ``ValueError`` naming the bad factor."""
    labels = as_int_array(labels, "labels")
    if labels.ndim == 1:
        labels = labels[None, :]
    if labels.ndim != 2 or labels.shape[1] != NUM_FACTORS:
        raise ValueError(f"labels must have shape (n, {NUM_FACTORS}), got {labels.shape}")
    for column, factor in enumerate(FACTORS):
        bad = (labels[:, column] < 0) | (labels[:, column] >= factor.size)
        if np.any(bad):
            raise ValueError(
                f"factor '{factor.key}' has label {int(labels[bad, column][0])}; "
                f"allowed labels are 0..{factor.size - 1}"
            )
    return _narrow(labels)


def index_to_factors(indices) -> np.ndarray:
    """Labels (n, 9) of examples ``indices``: the C-order mixed-radix digits of each index (protocol §1)."""
    indices = np.atleast_1d(check_indices(indices))
    return np.stack(np.unravel_index(indices.ravel(), FACTOR_SIZES), axis=1).astype(np.int64)


def factors_to_index(labels) -> np.ndarray:
    """Indices (n,) of the examples with the given labels (n, 9); the inverse of :func:`index_to_factors`."""
    labels = check_labels(labels)
    return np.ravel_multi_index(tuple(labels.T), FACTOR_SIZES).astype(np.int64)


def factor_label(key: str, value: str | int) -> int:
    """The label of ``value`` for factor ``key``; accepts a value name ("G#", "minor") or a label."""
    try:
        factor = FACTORS[FACTOR_KEYS.index(key)]
    except ValueError:
        raise ValueError(f"unknown factor '{key}'; factors are {', '.join(FACTOR_KEYS)}") from None
    text = str(value).strip()
    if text in factor.values:
        return factor.values.index(text)
    if text.lstrip("-").isdigit() and key not in ("octave",):
        label = int(text)
        if 0 <= label < factor.size:
            return label
    raise ValueError(
        f"unknown value {value!r} for factor '{key}'; allowed: {', '.join(factor.values)}"
        + ("" if key == "octave" else f" (or a label 0..{factor.size - 1})")
    )


def describe(labels: Sequence[int]) -> dict[str, str]:
    """Value names of one example's labels, keyed by factor."""
    labels = check_labels(labels)[0]
    return {f.key: f.values[int(label)] for f, label in zip(FACTORS, labels)}


NOT_A_MELODY = "not a dMelodies melody"


def describe_read_back(labels: Sequence[int]) -> str:
    """One line naming the factors :func:`~dmelodies_tfds.melodies.factors_from_tokens` read back.

    ``labels`` is one row of its output, where ``-1`` marks a factor that the tokens do not decide: they
    are not one of the dataset's melodies (protocol §2-3: six notes and two rests per bar, arpeggios of one
    tonic, octave and scale), so that factor cannot be read back. Decided factors are named with their
    values, e.g. ``"rhythm_bar2 11110110; not a dMelodies melody, so tonic, …, arp_chord4 cannot be
    read back"``.
    """
    labels = as_int_array(labels, "labels")
    if labels.shape != (NUM_FACTORS,):
        raise ValueError(f"labels must have shape ({NUM_FACTORS},), one melody's read-back labels, got {labels.shape}")
    known, unknown = [], []
    for factor, label in zip(FACTORS, labels.tolist()):
        if label == -1:
            unknown.append(factor.key)
        elif 0 <= label < factor.size:
            known.append(f"{factor.key} {factor.values[label]}")
        else:
            raise ValueError(
                f"factor '{factor.key}' has label {label}; read-back labels are -1 or 0..{factor.size - 1}"
            )
    if not unknown:
        return ", ".join(known)
    if not known:
        return f"{NOT_A_MELODY}, so no factor can be read back"
    missing = ", ".join(unknown[:-1]) + f" and {unknown[-1]}" if len(unknown) > 1 else unknown[0]
    return f"{', '.join(known)}; {NOT_A_MELODY}, so {missing} cannot be read back"
