"""The tour notebook executes top to bottom on a tiny model it trains itself."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = os.path.join(os.path.dirname(__file__), "..", "..", "notebooks", "dmelodies_tour.ipynb")


def test_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("DMELODIES_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("DMELODIES_POINTS", "1000")  # explicitness needs every label in its test half
    monkeypatch.delenv("DMELODIES_MODEL_DIR", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)
    assert "discrete_mig" in outputs and "MIDI files in" in outputs
    images = [o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the piano rolls and the factor-wise MIG
