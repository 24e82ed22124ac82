"""Atomic output: the final name holds the old file, the whole new file, or nothing."""
import os
import re
import subprocess
import sys

import pytest

from dmelodies_tfds.atomic import atomic_output, atomic_path, write_text


def test_writes_the_whole_file_with_ordinary_permissions(tmp_path):
    path = tmp_path / "out.bin"
    with atomic_output(path) as file:
        file.write(b"abc")
        assert not path.exists()  # nothing under the final name until the write has finished
    assert path.read_bytes() == b"abc"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_error_leaves_no_file_and_no_temporary(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "out.bin") as file:
            file.write(b"half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_an_error_keeps_the_old_file_when_overwriting(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(path, overwrite=True) as file:
            file.write(b"new")
            raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old" and list(tmp_path.iterdir()) == [path]


def test_refuses_an_existing_path_unless_overwrite(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(FileExistsError, match="already exists"):
        with atomic_output(path):
            pass
    with atomic_output(path, overwrite=True) as file:
        file.write(b"new")
    assert path.read_bytes() == b"new" and list(tmp_path.iterdir()) == [path]


def test_a_file_appearing_during_the_write_is_not_replaced(tmp_path):
    path = tmp_path / "out.bin"
    with pytest.raises(FileExistsError, match="already exists"):
        with atomic_output(path) as file:
            file.write(b"mine")
            path.write_bytes(b"theirs")
    assert path.read_bytes() == b"theirs" and list(tmp_path.iterdir()) == [path]


def test_refuses_a_missing_folder_and_a_folder_as_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        with atomic_output(tmp_path / "missing" / "out.bin"):
            pass
    with pytest.raises(IsADirectoryError, match="is a folder"):
        with atomic_output(tmp_path, overwrite=True):
            pass


# Starts a release-sized write and waits to be killed half way (an interrupted export-npz).
WRITER = """
import sys, time
from dmelodies_tfds.atomic import atomic_output
with atomic_output(sys.argv[1]) as file:
    file.write(b"half")
    file.flush()
    print("written", flush=True)
    time.sleep(600)
"""


def _writer(path):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline() == "written\n"
    return process


def test_a_killed_writers_temporary_is_removed_by_the_next_writer(tmp_path):
    killed = _writer(tmp_path / "dMelodies_dataset.npz")
    killed.kill()
    killed.wait()
    (leftover,) = os.listdir(tmp_path)  # what an interrupted export leaves
    assert re.fullmatch(rf"\.tmp-{killed.pid}-[0-9a-f]{{8}}-dMelodies_dataset\.npz", leftover)
    alive = _writer(tmp_path / "other.npz")  # the next writer removes it
    try:
        (temporary,) = os.listdir(tmp_path)
        assert re.fullmatch(rf"\.tmp-{alive.pid}-[0-9a-f]{{8}}-other\.npz", temporary)
        with atomic_output(tmp_path / "dMelodies_dataset.npz") as file:  # a live writer's file is kept
            file.write(b"whole")
        assert sorted(os.listdir(tmp_path)) == sorted(["dMelodies_dataset.npz", temporary])
    finally:
        alive.kill()
        alive.wait()


def test_atomic_path_keeps_the_extension_and_replaces_by_default(tmp_path):
    """A model save infers its format from the name: the temporary ends with the target's name."""
    path = tmp_path / "encoder.keras"
    path.write_text("old")
    with atomic_path(path) as temporary:
        assert temporary.endswith("-encoder.keras") and not os.path.exists(temporary)
        with open(temporary, "w") as file:
            file.write("new")
        assert path.read_text() == "old"
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["encoder.keras"]


def test_other_hidden_files_are_kept(tmp_path):
    for name in (".tmp-notapid-x", ".tmp-1", ".hidden", ".tmp-x-123-y", ".tmp-99999999-zz-y", ".x.99999999.abc.tmp"):
        (tmp_path / name).write_text("keep")
    write_text(tmp_path / "out.txt", "done")
    assert sorted(os.listdir(tmp_path)) == [".hidden", ".tmp-1", ".tmp-99999999-zz-y", ".tmp-notapid-x",
                                            ".tmp-x-123-y", ".x.99999999.abc.tmp", "out.txt"]
    assert (tmp_path / "out.txt").read_text() == "done"
