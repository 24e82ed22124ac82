"""Atomic file output: a reader sees the old file, the whole new file, or nothing.

Every file either package writes (MIDI, MusicXML, the release ``.npz``, a run's models, results and
metrics) goes through :func:`atomic_path`, so an interrupted export or run never leaves a half-written
file under the name the user asked for.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
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


# `.tmp-PID-TOKEN-NAME`: every temporary of :func:`atomic_path`. The writer's process id is in the name, so
# a later writer can tell a dead writer's leftover; the token tells apart two writers of one process; the
# target's name comes last, so the temporary keeps its extension (Keras infers the format from it).
TEMPORARY_NAME = re.compile(r"^\.tmp-(?P<pid>\d+)-(?P<token>[0-9a-f]{8})-.+$")


@contextlib.contextmanager
def atomic_path(path, overwrite: bool = True) -> Iterator[str]:
    """A temporary path beside ``path`` to write through; renamed onto ``path`` when the block succeeds,
    removed when it fails. For writers that need a path (a Keras model's ``save``); the one writer of both
    packages, :func:`atomic_output` and :func:`write_text` included.

    Without ``overwrite`` the final step is a hard link, which fails if ``path`` appeared meanwhile, so an
    existing file is never replaced behind the caller's back. A killed process cannot remove its temporary
    (a half-saved model, a half-written release ``.npz``); the next writer into the same folder does.
    """
    path = check_output_path(path, overwrite)
    parent, name = os.path.split(os.path.abspath(path))
    remove_stale_temporaries(parent, TEMPORARY_NAME)
    temporary = os.path.join(parent, f".tmp-{os.getpid()}-{secrets.token_hex(4)}-{name}")
    try:
        yield temporary
        if overwrite:
            os.replace(temporary, path)
        else:
            _link_no_clobber(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


@contextlib.contextmanager
def atomic_output(path, overwrite: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through (:func:`atomic_path`), flushed to disk before it takes the
    name, with the permissions of an ordinary new file."""
    with atomic_path(path, overwrite) as temporary:
        with open(temporary, "xb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())


def write_text(path, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically, replacing what was there."""
    with atomic_output(path, overwrite=True) as file:
        file.write(text.encode("utf-8"))


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (one owned by another user counts as alive)."""
    if pid <= 0:
        return True  # not a process id a writer has: leave its file alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temporaries(directory, pattern: re.Pattern) -> list[str]:
    """Removes entries of ``directory`` named by ``pattern`` whose writer (group ``pid``) is gone.

    A killed writer cannot remove its own temporary file (up to the size of a whole release ``.npz``
    or a saved model); the next writer into the same folder does. Files of live processes, including
    this one's, are kept. Returns the removed paths; entries that vanish meanwhile are skipped.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if not match:
            continue
        pid = int(match.group("pid"))
        if pid == os.getpid() or process_alive(pid):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue
        removed.append(entry.path)
    return removed


def _link_no_clobber(temp: str, path: str) -> None:
    try:
        os.link(temp, path)
    except FileExistsError:
        raise _exists(path) from None
    except OSError:  # a file system without hard links: check, then rename
        check_output_path(path, overwrite=False)
        os.replace(temp, path)


class OutputExistsError(FileExistsError):
    """An output path that exists and may not be replaced: the message says how to allow it.

    The Python API's message names ``overwrite=True``; the command line shows :meth:`cli_message`,
    the same words with ``--overwrite``, so both say the same thing in their own terms.
    """

    def __init__(self, path: str):
        super().__init__(f"output path {path} already exists; pass overwrite=True to replace it")
        self.path = path

    def __str__(self) -> str:
        return self.args[0]

    def cli_message(self) -> str:
        return f"output path {self.path} already exists; pass --overwrite to replace it"


def _exists(path: str) -> OutputExistsError:
    return OutputExistsError(path)
