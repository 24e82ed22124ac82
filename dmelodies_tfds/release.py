"""The public release's ``.npz`` layout (protocol §5): export the whole dataset, and verify a release file.

The layout holds pickled dictionaries, so loading one can run arbitrary code: :func:`verify_npz`
unpickles only when the caller says ``trust=True``. Verification compares token *names*, not
indices, because the release's order of ``rest`` and ``__`` depended on string hashing (protocol §3, §8).
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import pickle
import zipfile
import zlib

import numpy as np

from dmelodies_tfds import factors as F
from dmelodies_tfds import melodies as M
from dmelodies_tfds.atomic import atomic_output, check_output_path
from dmelodies_tfds.text import one_line, short_repr

ARRAY_KEYS = ("score_array", "latent_array")
PICKLED_KEYS = ("note2index_dict", "index2note_dict", "latent_dicts", "metadata")
TITLE = "dMelodies dataset"
DESCRIPTION = "Disentanglement dataset for monophonic melodies"
AUTHORS = "ashis.pati@gatech.edu, yiwei.hsu@gatech.edu, lerch@gatech.edu"
VERSION = 1


def release_arrays(date: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of the release layout for the whole dataset, in index order (protocol §3, §5)."""
    return {
        "score_array": M.generate_tokens(),
        "latent_array": F.index_to_factors(np.arange(F.NUM_EXAMPLES)).astype(np.int32),
        **release_dicts(date),
    }


def release_dicts(date: str | None = None) -> dict[str, np.ndarray]:
    """The layout's four pickled dictionaries, each as a 0-d object array (protocol §5)."""
    index2note = dict(enumerate(M.VOCABULARY))
    metadata = {
        "title": TITLE,
        "description": DESCRIPTION,
        "version": VERSION,
        "authors": AUTHORS,
        "date": date or datetime.date.today().isoformat(),
        "latents_names": F.FACTOR_KEYS,
    }
    return {
        "note2index_dict": _object({name: index for index, name in index2note.items()}),
        "index2note_dict": _object(index2note),
        "latent_dicts": _object({f.key: dict(enumerate(f.values)) for f in F.FACTORS}),
        "metadata": _object(metadata),
    }


def _object(value) -> np.ndarray:
    array = np.empty((), dtype=object)
    array[()] = value
    return array


def export_npz(path, *, overwrite: bool = False, date: str | None = None) -> str:
    """Write all N melodies in the release layout to ``path``: uncompressed, atomically (~135 MB).

    Refuses an existing ``path`` unless ``overwrite``. ``date`` (default: today, ISO) goes in the metadata.
    """
    check_output_path(path, overwrite)  # fail before a second of generation, not after
    arrays = release_arrays(date)
    with atomic_output(path, overwrite) as file:
        np.savez(file, **arrays)
    return os.fspath(path)


@dataclasses.dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify_npz` found in a release file that matches the generator."""

    path: str
    num_examples: int
    rest_index: int
    continuation_index: int
    vocabulary_size: int
    metadata: dict

    @property
    def token_order(self) -> str:
        """``"project"`` when ``rest`` = 0 and ``__`` = 1 as here (protocol §3), else ``"swapped"`` or ``"other"``."""
        order = (self.rest_index, self.continuation_index)
        return {(0, 1): "project", (1, 0): "swapped"}.get(order, "other")

    def summary(self) -> str:
        return (
            f"{self.path}: OK, {self.num_examples:,} melodies and their labels match the generator; "
            f"token order {self.token_order} (rest = {self.rest_index}, __ = {self.continuation_index}), "
            f"{self.vocabulary_size} token names; title {self.metadata.get('title')!r}, "
            f"version {self.metadata.get('version')!r}, date {_date(self.metadata)!r}"
        )


def _date(metadata: dict):
    return metadata.get("date", metadata.get("data"))  # the public release spelled the key "data"


def verify_npz(path, trust: bool = False) -> VerifyReport:
    """Check a release-layout ``.npz`` against the generator, token names and labels, and report.

    The file's pickled dictionaries are unpickled, which can execute code: pass ``trust=True`` only for
    a file from a source you trust. ``ValueError`` names the first problem: not a zip archive, a
    damaged member, a missing key, a wrong shape, unknown token names, or melodies or labels that
    differ from the generator's.
    """
    if trust is not True:
        raise PermissionError(
            f"refusing to load {os.fspath(path)}: a release .npz holds pickled Python objects, and "
            "unpickling a file can run arbitrary code; pass trust=True (--trust) only for a file from "
            "a source you trust"
        )
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder, not a .npz file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        metadata, names = _verify_archive(path)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    except (TypeError, AttributeError, KeyError, IndexError) as error:  # a value of an unexpected type
        raise ValueError(f"{path}: not in the dMelodies release layout ({one_line(error)})") from None
    return VerifyReport(
        path=path,
        num_examples=F.NUM_EXAMPLES,
        rest_index=names.index(M.REST),
        continuation_index=names.index(M.CONTINUATION) if M.CONTINUATION in names else -1,
        vocabulary_size=len(names),
        metadata=metadata,
    )


def _verify_archive(path: str) -> tuple[dict, list[str]]:
    if not zipfile.is_zipfile(path):  # np.load would otherwise try to unpickle an arbitrary file
        raise ValueError("not a .npz file (not a zip archive; truncated or another format?)")
    try:
        archive = np.load(path, allow_pickle=True)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"cannot be opened as a .npz file: {error}") from None
    with archive:
        members = archive.zip.namelist()
        not_npy = [key for key in ARRAY_KEYS + PICKLED_KEYS if f"{key}.npy" not in members and key in archive.files]
        if not_npy:  # np.load would hand such a member back as raw bytes
            raise ValueError(f"member {not_npy[0]!r} is not a .npy array (the archive holds {', '.join(members)})")
        missing = [key for key in ARRAY_KEYS + PICKLED_KEYS if key not in archive.files]
        if missing:
            raise ValueError(
                f"not in the dMelodies release layout: missing {', '.join(missing)} "
                f"(it holds {', '.join(archive.files) or 'nothing'})"
            )
        read = functools.partial(_read_member, archive)
        metadata = _check_metadata(read("metadata"))
        _check_latent_dicts(read("latent_dicts"))
        remap, names = _token_remap(read("index2note_dict"), read("note2index_dict"))
        _check_content(read("score_array"), read("latent_array"), remap)
    return metadata, names


def _read_member(archive, key: str):
    try:
        value = archive[key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, pickle.UnpicklingError) as error:
        raise ValueError(f"member {key!r} is damaged: {error}") from None
    except (AttributeError, ImportError) as error:  # a pickle of some other program's classes
        raise ValueError(f"member {key!r} holds objects this package cannot load: {error}") from None
    if key in PICKLED_KEYS:
        if value.dtype != object or value.shape != ():
            raise ValueError(f"{key!r} should be a pickled object, got a {value.dtype} array {value.shape}")
        value = value.item()
        if not isinstance(value, dict):
            raise ValueError(f"{key!r} should be a dict, got {type(value).__name__}")
    return value


def _check_metadata(metadata: dict) -> dict:
    names = metadata.get("latents_names")
    if not isinstance(names, (list, tuple)) or tuple(names) != F.FACTOR_KEYS:
        shown = tuple(names) if isinstance(names, (list, tuple)) else names
        raise ValueError(f"metadata latents_names is {short_repr(shown)}, expected {F.FACTOR_KEYS} (protocol §1, §5)")
    return metadata


def _label(label) -> int:
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
        raise ValueError(f"latent_dicts has a label {short_repr(label)} that is not an integer")
    return int(label)


def _value_name(value) -> str:
    """The release stored octaves as ints and rhythms as 0/1 lists; our value names are strings."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return "".join(str(int(bit)) for bit in value)
    return str(value)


def _check_latent_dicts(latent_dicts: dict) -> None:
    if tuple(latent_dicts) != F.FACTOR_KEYS:
        raise ValueError(f"latent_dicts has factors {tuple(latent_dicts)}, expected {F.FACTOR_KEYS} (protocol §1)")
    for factor in F.FACTORS:
        table = latent_dicts[factor.key]
        if not isinstance(table, dict):
            raise ValueError(f"latent_dicts[{factor.key!r}] should be a dict, got {type(table).__name__}")
        found = {_label(label): _value_name(value) for label, value in table.items()}
        expected = dict(enumerate(factor.values))
        if found != expected:
            raise ValueError(f"latent_dicts[{factor.key!r}] is {found}, expected {expected}")


def _token_remap(index2note: dict, note2index: dict) -> tuple[np.ndarray, list[str]]:
    """For each of the file's token indices, our index of the same token name (protocol §3)."""
    if any(isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) for i in index2note):
        raise ValueError("index2note_dict keys are not all integers")
    indices = sorted(int(i) for i in index2note)
    if indices != list(range(len(indices))):
        raise ValueError(f"index2note_dict keys are not 0..{len(indices) - 1}")
    names = [index2note[i] for i in indices]
    unknown = [name for name in names if not isinstance(name, str) or name not in M.TOKEN_INDEX]
    if unknown:
        raise ValueError(f"unknown token names {short_repr(unknown)}; the vocabulary is {', '.join(M.VOCABULARY)}")
    expected = {name: i for i, name in enumerate(names)}
    if note2index != expected and {k: _maybe_int(v) for k, v in note2index.items()} != expected:
        raise ValueError("note2index_dict is not the inverse of index2note_dict")
    if M.REST not in names:
        raise ValueError("the token names lack 'rest'")
    return np.array([M.TOKEN_INDEX[name] for name in names], dtype=np.int32), names


def _maybe_int(value):
    return int(value) if isinstance(value, np.integer) else value


def _check_content(score: np.ndarray, latents: np.ndarray, remap: np.ndarray) -> None:
    for key, array, width in (("score_array", score, M.SEQUENCE_LENGTH), ("latent_array", latents, F.NUM_FACTORS)):
        if array.shape != (F.NUM_EXAMPLES, width) or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(
                f"{key} has dtype {array.dtype} and shape {array.shape}; expected integers of shape "
                f"({F.NUM_EXAMPLES}, {width})"
            )
    if score.min() < 0 or score.max() >= len(remap):
        raise ValueError(f"score_array holds token indices outside 0..{len(remap) - 1} (index2note_dict)")
    _first_difference("score_array", remap[score], M.generate_tokens(), M.tokens_to_names)
    _first_difference("latent_array", latents, F.index_to_factors(np.arange(F.NUM_EXAMPLES)), np.asarray)


def _first_difference(key: str, found: np.ndarray, expected: np.ndarray, show) -> None:
    rows = np.flatnonzero(np.any(found != expected, axis=1))
    if len(rows):
        row = int(rows[0])
        raise ValueError(
            f"{key} differs from the generator in {len(rows):,} rows, first at index {row}: "
            f"{show(found[row]).tolist()} instead of {show(expected[row]).tolist()}"
        )
