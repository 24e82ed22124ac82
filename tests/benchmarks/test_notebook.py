"""The tour notebook executes top to bottom on a tiny model it trains itself."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from helpers import NOTEBOOK, SYSTEM_TEMPDIR


@pytest.mark.integration
def test_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("DMELODIES_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("DMELODIES_POINTS", "1000")  # explicitness needs every label in its test half
    monkeypatch.delenv("DMELODIES_MODEL_DIR", raising=False)
    monkeypatch.delenv("DMELODIES_WORK_DIR", raising=False)  # the default: a temporary folder...
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))  # ...made here rather than in /tmp
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    # The tour's folder (model, MIDI files) went away with the kernel: runs leave no dmelodies_tour_* behind.
    assert not list(temporary.glob("dmelodies_tour_*"))
    outputs = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)
    assert "discrete_mig" in outputs and f"MIDI files in {temporary}{os.sep}dmelodies_tour_" in outputs
    images = [o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the piano rolls and the factor-wise MIG


def test_committed_outputs_are_small_and_stable():
    """The notebook is committed with the outputs of ``python tools/execute_notebook.py``, so a reader of the
    repository sees the figures: every cell run once, in order, and nothing that changes from run to run
    (temporary paths, execution times, TensorFlow's C++ log lines with their timestamps)."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert os.path.getsize(NOTEBOOK) < 1_000_000
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert not [cell for cell in code if "execution" in cell.metadata]  # nbclient's record_timing
    outputs = [o for cell in code for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "discrete_mig" in text and "MIDI files in tour\n" in text
    for volatile in (SYSTEM_TEMPDIR + os.sep, "dmelodies_tour_", "I0000", "E0000", "\x1b["):
        assert volatile not in text
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 2
