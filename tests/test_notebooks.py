"""Every notebook in notebooks/ runs top to bottom without an error, and is stored stripped.

Exercise check cells are tagged ``raises-exception``: they run against the student's unfinished
answer, so they must fail (with an AssertionError, proving the check can fail); the solution cell
tagged ``solution`` right after each one must then pass the same check.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds for one cell (a cold Numba cache compiles the core first)


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def execute(path: Path, cwd: Path) -> tuple[nbformat.NotebookNode, float]:
    """Run a notebook with nbclient in a fresh kernel; returns it with outputs, and the seconds."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    t0 = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - t0


def test_there_are_notebooks() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert "00-start-here.ipynb" in names and "01-the-machine.ipynb" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"cell {i} has outputs: clear them before committing"
            assert cell["execution_count"] is None, f"cell {i} has an execution count"
    assert "widgets" not in nb["metadata"], "saved widget state: clear it before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_links_to_notebooks_that_exist(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for target in re.findall(r"\]\(([^)#]+\.ipynb)\)", text):
        assert (path.parent / target).is_file(), f"{path.name} links to missing {target}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path: Path) -> None:
    nb, seconds = execute(path, cwd=path.parent)
    errors = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        failed = [o for o in cell.outputs if o.output_type == "error"]
        if "raises-exception" in tags(cell):
            assert failed, f"cell {i} is an exercise check but passed on the unfinished answer"
            assert failed[0].ename == "AssertionError", (i, failed[0].ename, failed[0].evalue)
            assert failed[0].evalue.strip(), f"cell {i}: a failing check must say what is wrong"
        elif failed:
            errors.append(f"cell {i}: {failed[0].ename}: {failed[0].evalue}")
        if "solution" in tags(cell):
            assert "raises-exception" in tags(nb.cells[i - 1]), (
                f"cell {i}: a solution follows a check"
            )
            assert any("✓" in o.get("text", "") for o in cell.outputs), f"cell {i}: no ✓"
    assert not errors, "\n".join(errors)
    print(f"{path.name}: {seconds:.1f} s")  # reported with -s; no timing assertion (noisy host)
