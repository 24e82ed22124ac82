"""The release .npz layout: export, and verification against the generator (protocol §3, §5).

The layout always holds all N melodies (~135 MB), so the full file is written once per module and
each test that needs another full file deletes it when done.
"""
import hashlib
import os
import pickle
import shutil
import zipfile

import numpy as np
import pytest

import dmelodies_tfds as d
from dmelodies_tfds import release

TOKENS_SHA256 = "bf8ee06e668a14b05025f1b7a9c413b9c0f8a5c7023edadf162ed741215ab406"  # protocol §3
SWAPPED_TOKENS_SHA256 = "57e9047dffbde43bc13a2c21f1202092ce672cbaa3518cb8a351f9ace6421e22"
LABELS_SHA256 = "683560823471ad2920298b45618b074b24c07fcab6e139e0f1ea97f3cd53b0a6"


def _sha256(array):
    return hashlib.sha256(np.ascontiguousarray(array, dtype="<i4").tobytes()).hexdigest()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    path = tmp_path_factory.mktemp("release") / "dMelodies_dataset.npz"
    release.export_npz(path, date="2020-10-12")
    yield path
    path.unlink()


@pytest.fixture
def big_file(tmp_path):
    """A path for one more full-size file, removed after the test."""
    path = tmp_path / "big.npz"
    yield path
    if path.exists():
        path.unlink()


def _savez(path, **arrays):
    with open(path, "wb") as file:
        np.savez(file, **arrays)
    return path


def _small_layout(**changes):
    """Every key of the layout, with 3-row arrays: enough to reach the checks before the shape check."""
    arrays = {"score_array": d.generate_tokens([0, 1, 2]), "latent_array": d.index_to_factors([0, 1, 2]).astype(np.int32)}
    arrays.update(release.release_dicts("2020-10-12"))
    arrays.update(changes)
    return arrays


def _object(value):
    array = np.empty((), dtype=object)
    array[()] = value
    return array


def test_export_writes_the_uncompressed_layout(exported):
    with zipfile.ZipFile(exported) as archive:
        assert {i.filename for i in archive.infolist()} == {
            f"{key}.npy" for key in release.ARRAY_KEYS + release.PICKLED_KEYS
        }
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
    with np.load(exported, allow_pickle=False) as data:  # the arrays need no unpickling
        score, latents = data["score_array"], data["latent_array"]
        with pytest.raises(ValueError, match="allow_pickle"):
            data["metadata"]
    assert score.dtype == latents.dtype == np.int32
    assert score.shape == (d.NUM_EXAMPLES, 16) and latents.shape == (d.NUM_EXAMPLES, 9)
    assert _sha256(score) == TOKENS_SHA256 and _sha256(latents) == LABELS_SHA256


def test_export_dictionaries_and_metadata(exported):
    with np.load(exported, allow_pickle=True) as data:
        index2note, note2index = data["index2note_dict"].item(), data["note2index_dict"].item()
        latent_dicts, metadata = data["latent_dicts"].item(), data["metadata"].item()
    assert index2note == dict(enumerate(d.VOCABULARY)) and note2index == {n: i for i, n in enumerate(d.VOCABULARY)}
    assert list(latent_dicts) == list(d.FACTOR_KEYS)
    assert latent_dicts["tonic"][7] == "G" and latent_dicts["rhythm_bar1"][0] == "11111100"
    assert metadata["version"] == 1 and metadata["date"] == "2020-10-12"
    assert metadata["latents_names"] == d.FACTOR_KEYS
    assert {"title", "description", "authors"} <= set(metadata)


def test_verify_accepts_the_export_and_reports_the_token_order(exported):
    report = release.verify_npz(exported, trust=True)
    assert (report.rest_index, report.continuation_index, report.token_order) == (0, 1, "project")
    assert report.num_examples == d.NUM_EXAMPLES and report.vocabulary_size == 52
    assert "OK" in report.summary() and "token order project" in report.summary()


def test_verify_accepts_the_release_token_order_and_value_spellings(big_file):
    """rest/__ swapped (protocol §3), octaves as ints, rhythms as 0/1 lists, and the release's 'data' key."""
    arrays = release.release_arrays()
    score = arrays["score_array"]
    swapped = np.where(score == 0, 1, np.where(score == 1, 0, score)).astype(np.int32)
    assert _sha256(swapped) == SWAPPED_TOKENS_SHA256
    names = list(d.VOCABULARY)
    names[0], names[1] = names[1], names[0]
    metadata = arrays["metadata"].item()
    metadata["data"] = metadata.pop("date")
    latent_dicts = arrays["latent_dicts"].item()
    latent_dicts["octave"] = {0: 4, 1: 5, 2: 6}
    for key in ("rhythm_bar1", "rhythm_bar2"):
        latent_dicts[key] = {label: list(d.RHYTHM_MASKS[label].astype(np.int64)) for label in range(28)}
    _savez(
        big_file,
        score_array=swapped,
        latent_array=arrays["latent_array"],
        index2note_dict=_object(dict(enumerate(names))),
        note2index_dict=_object({n: i for i, n in enumerate(names)}),
        latent_dicts=_object(latent_dicts),
        metadata=_object(metadata),
    )
    report = release.verify_npz(big_file, trust=True)
    assert (report.rest_index, report.continuation_index, report.token_order) == (1, 0, "swapped")
    assert "token order swapped (rest = 1, __ = 0)" in report.summary()


def test_verify_compares_labels_too(big_file):
    arrays = release.release_arrays()
    arrays["latent_array"][123_456, 3] = 0  # protocol §1: its rhythm_bar1 label is 23
    _savez(big_file, **arrays)
    with pytest.raises(ValueError, match=r"latent_array differs from the generator in 1 rows, first at index 123456"):
        release.verify_npz(big_file, trust=True)


def test_verify_compares_tokens_by_name(big_file):
    arrays = release.release_arrays()
    arrays["score_array"][884_613, 0] = arrays["score_array"][884_613, 1]
    _savez(big_file, **arrays)
    with pytest.raises(ValueError, match=r"score_array differs .* 1 rows, first at index 884613: \['B-6', 'B-6'"):
        release.verify_npz(big_file, trust=True)


def test_verify_names_a_damaged_member(exported, big_file):
    shutil.copyfile(exported, big_file)
    with open(big_file, "r+b") as file:  # flip bytes inside score_array's data
        file.seek(50_000_000)
        data = file.read(4)
        file.seek(50_000_000)
        file.write(bytes(b ^ 0xFF for b in data))
    with pytest.raises(ValueError, match="member 'score_array' is damaged: Bad CRC-32"):
        release.verify_npz(big_file, trust=True)


def test_verify_rejects_a_truncated_file(exported, big_file):
    with open(exported, "rb") as source, open(big_file, "wb") as target:
        target.write(source.read(os.path.getsize(exported) // 2))
    with pytest.raises(ValueError, match="not a .npz file .*truncated"):
        release.verify_npz(big_file, trust=True)


class _Marker:
    """Unpickling this creates a file: the test's proof that nothing was unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_verify_refuses_to_unpickle_without_trust(tmp_path):
    marker = tmp_path / "unpickled"
    path = _savez(tmp_path / "evil.npz", **_small_layout(metadata=_object(_Marker(marker))))
    with pytest.raises(PermissionError, match="pickled Python objects.*trust=True"):
        release.verify_npz(path)
    with pytest.raises(PermissionError):
        release.verify_npz(path, trust="yes")  # only an explicit True opts in
    assert not marker.exists()


def test_verify_never_unpickles_a_file_that_is_not_an_npz(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(ValueError, match="not a .npz file"):
        release.verify_npz(path, trust=True)
    assert not marker.exists()


def test_verify_names_missing_keys_of_a_foreign_npz(tmp_path):
    path = _savez(tmp_path / "foreign.npz", images=np.zeros((2, 3)), labels=np.arange(2))
    with pytest.raises(ValueError, match="not in the dMelodies release layout: missing score_array, latent_array, "
                                         "note2index_dict, index2note_dict, latent_dicts, metadata"):
        release.verify_npz(path, trust=True)


def test_verify_names_a_wrong_shape(tmp_path):
    path = _savez(tmp_path / "short.npz", **_small_layout())
    with pytest.raises(ValueError, match=r"score_array has dtype int32 and shape \(3, 16\); expected integers "
                                         r"of shape \(1354752, 16\)"):
        release.verify_npz(path, trust=True)


def test_verify_names_unknown_token_names(tmp_path):
    names = dict(enumerate(d.VOCABULARY))
    names[5] = "H4"
    path = _savez(
        tmp_path / "names.npz",
        **_small_layout(index2note_dict=_object(names), note2index_dict=_object({n: i for i, n in names.items()})),
    )
    with pytest.raises(ValueError, match=r"unknown token names \['H4'\]"):
        release.verify_npz(path, trust=True)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"metadata": np.array(5)}, "'metadata' should be a pickled object"),
        ({"latent_dicts": _object([1, 2])}, "'latent_dicts' should be a dict, got list"),
        ({"metadata": _object({"latents_names": ("tonic",)})}, r"latents_names is \('tonic',\)"),
        ({"latent_dicts": _object({"tonic": {}})}, r"latent_dicts has factors \('tonic',\)"),
        ({"note2index_dict": _object({"rest": 1, "__": 0})}, "not the inverse of index2note_dict"),
        ({"index2note_dict": _object({0: "rest", 2: "C4"})}, "keys are not 0..1"),
        # Values of the wrong type: a one-line ValueError each, never a TypeError or AttributeError.
        ({"metadata": _object({"latents_names": None})}, r"metadata latents_names is None, expected \('tonic'"),
        ({"metadata": _object({"latents_names": object()})}, r"latents_names is <object object>, expected"),
        ({"latent_dicts": _object(dict.fromkeys(d.FACTOR_KEYS))}, r"latent_dicts\['tonic'\] should be a dict, got NoneType"),
        ({"latent_dicts": _object({**release.release_dicts()["latent_dicts"].item(), "tonic": {"0": "C"}})},
         "latent_dicts has a label '0' that is not an integer"),
        ({"index2note_dict": _object({"0": "rest"})}, "index2note_dict keys are not all integers"),
        ({"index2note_dict": _object({0: ["rest"]})}, r"unknown token names \[\['rest'\]\]"),
        ({"note2index_dict": _object({"rest": None})}, "not the inverse of index2note_dict"),
    ],
)
def test_verify_names_inconsistent_dictionaries(tmp_path, changes, message):
    path = _savez(tmp_path / "bad.npz", **_small_layout(**changes))
    with pytest.raises(ValueError, match=message) as error:
        release.verify_npz(path, trust=True)
    assert "\n" not in str(error.value) and " at 0x" not in str(error.value)


def test_verify_names_a_member_that_is_not_npy(tmp_path):
    """np.load hands a member without the .npy suffix back as raw bytes; that used to be a traceback."""
    good = _savez(tmp_path / "good.npz", **_small_layout())
    for renamed in ("score_array", "index2note_dict"):
        path = tmp_path / f"{renamed}.npz"
        with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
            for name in source.namelist():
                target.writestr(renamed if name == f"{renamed}.npy" else name, source.read(name))
        with pytest.raises(ValueError, match=f"member '{renamed}' is not a .npy array"):
            release.verify_npz(path, trust=True)


def test_verify_refuses_a_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"{tmp_path} is a folder, not a .npz file"):
        release.verify_npz(tmp_path, trust=True)


def test_verify_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        release.verify_npz(tmp_path / "absent.npz", trust=True)


def test_export_refuses_an_existing_path_unless_overwrite(tmp_path, big_file):
    big_file.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="already exists"):
        release.export_npz(big_file)
    assert big_file.read_bytes() == b"keep me"
    release.export_npz(big_file, overwrite=True)
    assert release.verify_npz(big_file, trust=True).token_order == "project"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npz"]  # no temporary left behind


class _Foreign:
    pass


def test_verify_names_a_pickle_of_unknown_classes(tmp_path):
    path = _savez(tmp_path / "foreign.npz", **_small_layout(metadata=_object(_Foreign())))
    # Rename the pickled class to one that does not exist, as in a file made by another program.
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name).replace(b"_Foreign", b"_Missing") for name in archive.namelist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, member in members.items():
            archive.writestr(name, member)
    with pytest.raises(ValueError, match="member 'metadata' holds objects this package cannot load"):
        release.verify_npz(path, trust=True)
