"""Atomic outputs: every file a command writes appears whole or not at all (a temporary file beside the
target, renamed onto it), so an interrupted run never leaves a half-written result behind."""
from __future__ import annotations

import contextlib
import os
import re

from dmelodies_tfds.atomic import remove_stale_temporaries

# `.tmp-PID-NAME`: the temporary paths of :func:`atomic_path`.
TEMPORARY_NAME = re.compile(r"^\.tmp-(?P<pid>\d+)-.+$")


@contextlib.contextmanager
def atomic_path(path: str):
    """Yields a temporary path beside ``path`` (same extension, so writers that infer the format from it
    still work); renames it onto ``path`` when the block succeeds, removes it when the block fails.

    A killed process cannot remove its temporary (a half-saved ``.keras`` model, say); its process id
    is in the name, so the next :func:`atomic_path` in the same folder removes those of dead processes.
    """
    directory, name = os.path.split(os.path.abspath(path))
    remove_stale_temporaries(directory, TEMPORARY_NAME)
    temporary = os.path.join(directory, f".tmp-{os.getpid()}-{name}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
