"""docs/walkthrough.ipynb runs from top to bottom on the bundled sample, in under a minute, and its
committed copy carries no outputs (what it shows is made by whoever runs it)."""
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
NOTEBOOK = ROOT / "docs" / "walkthrough.ipynb"


def test_the_walkthrough_runs_on_the_sample():
    nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat and nbclient (.[dev])")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") and not cell.get("execution_count") for cell in notebook.cells
               if cell.cell_type == "code"), "commit the notebook without outputs"
    started = time.monotonic()
    nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    assert time.monotonic() - started < 60
    printed = "".join(out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", []))
    assert "parameters: 13002" in printed
    (by_hand,) = [float(line.split()[-1]) for line in printed.splitlines() if "from net.backprop" in line]
    assert by_hand < 1e-15  # the four equations, written out in the notebook, are net.backprop
    errors = [float(line.split()[-1]) for line in printed.splitlines() if line.startswith("W") and "relative" in line]
    assert len(errors) == 3 and max(errors) < 1e-12  # autograd agrees to rounding
    assert "the network reads a" in printed
