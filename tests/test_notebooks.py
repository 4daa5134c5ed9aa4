"""The notebook contract (DESIGN §5), checked on every numbered notebook in notebooks/."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from helpers.config import NOTEBOOKS_DIR

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
PARAMETERS = {"brand": "demo", "period": "latest", "run_dir": "", "params_path": "", "language": ""}


def test_there_are_numbered_notebooks():
    assert NOTEBOOKS, "no numbered notebooks in notebooks/"
    assert NOTEBOOKS[0].name == "01_data_audit.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; run `make strip` before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_of_literals(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one cell tagged 'parameters'"
    values = {}
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant), \
            f"{path.name}: the parameters cell must hold literal assignments only"
        values[node.targets[0].id] = node.value.value
    assert values == PARAMETERS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_narrative_shape(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and re.match(r"# \d\d · ", first.source), "opens with a numbered title"
    assert "question" in first.source.lower(), "the opening says which question the notebook answers"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "open_run(" in code[1].source, "the cell after the parameters opens the run context"
    assert "provenance()" in code[-1].source, "the notebook ends with its provenance"
    headings = [c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## ")]
    assert len(headings) >= 3
    # notebooks stay thin: no function or class definitions (they belong in helpers)
    for cell in code:
        tree = ast.parse(cell.source)
        assert not any(isinstance(n, ast.FunctionDef | ast.ClassDef) for n in ast.walk(tree)), \
            f"{path.name}: define functions in helpers, not in the notebook"
