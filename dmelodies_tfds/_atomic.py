"""Atomic file output: a reader sees the old file, the whole new file, or nothing (issue 2, item 5).

Every writer in the package (MIDI, MusicXML, the release ``.npz``) goes through :func:`atomic_output`,
so an interrupted export never leaves a half-written file under the name the user asked for.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import BinaryIO, Iterator


def check_output_path(path, overwrite: bool = False) -> str:
    """``path`` as a string, or an error if its folder is missing or it exists and ``overwrite`` is off."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"output folder {parent} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"output path {path} is a folder")
    if not overwrite and os.path.lexists(path):
        raise _exists(path)
    return path


@contextlib.contextmanager
def atomic_output(path, overwrite: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: a temporary file in the same folder, renamed on success.

    Without ``overwrite`` the final step is a hard link, which fails if ``path`` appeared meanwhile, so an
    existing file is never replaced behind the caller's back. On any error the temporary file is removed.
    """
    path = check_output_path(path, overwrite)
    parent, name = os.path.split(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=parent, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(file.fileno(), 0o666 & ~umask)  # mkstemp's 0600 would make exports private
            yield file
            file.flush()
            os.fsync(file.fileno())
        if overwrite:
            os.replace(temp, path)
        else:
            _link_no_clobber(temp, path)
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)


def _link_no_clobber(temp: str, path: str) -> None:
    try:
        os.link(temp, path)
    except FileExistsError:
        raise _exists(path) from None
    except OSError:  # a file system without hard links: check, then rename
        check_output_path(path, overwrite=False)
        os.replace(temp, path)


def _exists(path: str) -> FileExistsError:
    return FileExistsError(f"output path {path} already exists (overwrite=True, or --overwrite, replaces it)")
