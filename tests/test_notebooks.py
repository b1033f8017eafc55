"""The teaching notebooks in docs/notebooks/ run from top to bottom (so they cannot rot),
and are committed without outputs.

Each notebook checks its own story with ``assert`` cells (a held fraction, patient i of a
cohort) and draws its figures; a failing cell fails the test with the cell's error.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

FOLDER = Path(__file__).resolve().parents[1] / "docs" / "notebooks"
# notebook -> figures it must draw (PNG outputs)
NOTEBOOKS = {"why-fractionate.ipynb": 4, "design-a-schedule.ipynb": 2}


def test_every_notebook_is_tested() -> None:
    assert sorted(p.name for p in FOLDER.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_is_committed_without_outputs(name: str) -> None:
    notebook = nbformat.read(FOLDER / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # no path-migration warning
    notebook = nbformat.read(FOLDER / name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(FOLDER)}},  # run in the notebook's folder
    )
    client.execute()
    figures = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]
    assert len(figures) >= NOTEBOOKS[name]
