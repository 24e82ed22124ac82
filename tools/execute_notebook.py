r"""Executes the tour notebook in place, leaving the small, stable outputs that are committed with it.

    python tools/execute_notebook.py [notebooks/dmelodies_tour.ipynb]

Needs the ``test`` extras (nbclient, nbformat, ipykernel). The tour takes its own path: it builds
``dmelodies/tiny`` and trains its tiny model (``DMELODIES_MODEL_DIR``, ``DMELODIES_DATA_DIR`` and
``DMELODIES_POINTS`` are unset for the run), in a temporary folder that is removed afterwards. So that
the saved outputs do not change from one run to the next:

- the kernel runs in that folder with ``DMELODIES_WORK_DIR=tour``, a relative path, so the outputs
  name ``tour/…`` rather than a random temporary path;
- cells carry no execution times (nbclient's ``record_timing`` is off);
- the kernel does not forward what TensorFlow's C++ code writes straight to its stderr (ipykernel's
  ``capture_fd_output`` is off): the start-up lines no setting silences, with their timestamps and
  process ids (README.md, "Troubleshooting"), go to this script's stderr instead.

``jupyter nbconvert --to notebook --execute`` (the ``test`` extras install nbconvert) runs the
notebook the ordinary way; its outputs then hold that run's paths and times.
"""
from __future__ import annotations

import os
import sys
import tempfile

import nbformat
from nbclient import NotebookClient

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(REPO, "notebooks", "dmelodies_tour.ipynb")
# The tour's own settings (see its first cell): unset, so that it trains and scores its tiny model.
_UNSET = ("DMELODIES_MODEL_DIR", "DMELODIES_DATA_DIR", "DMELODIES_POINTS")


def execute(path: str = NOTEBOOK, timeout: int = 900) -> nbformat.NotebookNode:
    """Runs every cell of the notebook at ``path`` and writes it back with its outputs."""
    notebook = nbformat.read(path, as_version=4)
    saved = {name: os.environ.get(name) for name in (*_UNSET, "DMELODIES_WORK_DIR", "PYTHONPATH")}
    with tempfile.TemporaryDirectory(prefix="dmelodies_notebook_") as folder:
        try:
            for name in _UNSET:
                os.environ.pop(name, None)
            os.environ["DMELODIES_WORK_DIR"] = "tour"  # relative to the kernel's folder below
            # The checkout's packages even where it is not installed (the kernel starts in `folder`).
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, saved["PYTHONPATH"]) if p)
            NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                           extra_arguments=["--IPKernelApp.capture_fd_output=False"],
                           resources={"metadata": {"path": folder}}).execute()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    temporary = f"{path}.tmp-{os.getpid()}"
    nbformat.write(notebook, temporary)
    os.replace(temporary, path)
    return notebook


def main(argv: list[str]) -> int:
    path = argv[0] if argv else NOTEBOOK
    execute(path)
    print(f"wrote {path} ({os.path.getsize(path):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
