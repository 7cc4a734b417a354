"""Structure of the chapter notebooks: stored outputs, exercises, and a kernel name that does not matter."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))  # the appendices (a1_, a2_) have no exercises


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_every_notebook_is_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    assert NOTEBOOKS
    for nb in NOTEBOOKS:
        assert f"chapters/{nb.stem}" in toc, f"{nb.name} is not in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_top_to_bottom_with_outputs(path):
    """Execution counts run 1, 2, 3, ... in cell order: one fresh kernel, top to bottom."""
    cells = [c for c in _load(path)["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), f"{path.name}: run `make execute` (counts {counts})"
    assert sum(bool(c["outputs"]) for c in cells) >= len(cells) // 2
    for cell in cells:
        for out in cell["outputs"]:
            assert out["output_type"] != "error", f"{path.name}: a cell's stored output is an error"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_exercises_have_checker_and_dropdown_solution(path):
    cells = _load(path)["cells"]
    text = ["".join(c["source"]) for c in cells]
    starts = [i for i, t in enumerate(text) if "{exercise-start}" in t]
    assert len(starts) >= 4, f"{path.name}: {len(starts)} exercises, expected at least 4"
    for i in starts:
        label = re.search(r":label:\s*(\S+)", text[i]).group(1)
        solution = next(
            (j for j, t in enumerate(text) if re.search(r"\{solution-start\}\s*" + re.escape(label), t)), None
        )
        assert solution is not None, f"{path.name}: exercise {label} has no solution"
        assert ":class: dropdown" in text[solution], f"{path.name}: solution of {label} is not a dropdown"
        between = "\n".join(text[i:solution])
        assert re.search(r"check_\w+\(", between), f"{path.name}: exercise {label} calls no checker"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_is_stored(path):
    """A cell that shows a Matplotlib figure stores it as a PNG, or the book has no picture.

    (A non-interactive backend in the kernel's environment, such as MPLBACKEND=Agg, makes
    plt.show() draw nothing at all.)
    """
    missing = []
    for index, cell in enumerate(_load(path)["cells"]):
        if cell["cell_type"] == "code" and "plt.show()" in "".join(cell["source"]):
            if not any("image/png" in out.get("data", {}) for out in cell["outputs"]):
                missing.append(index)
    assert not missing, f"{path.name}: cells {missing} call plt.show() but stored no image"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_imports_the_package_and_seeds(path):
    source = "\n".join("".join(c["source"]) for c in _load(path)["cells"] if c["cell_type"] == "code")
    assert "dlcourse" in source and "seed_everything(" in source


def test_unknown_kernel_name_does_not_break_nbval(tmp_path):
    """A notebook saved with a kernelspec that is not installed still validates."""
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": 1,
                "id": "a",
                "metadata": {},
                "source": "print(6 * 7)",
                "outputs": [{"name": "stdout", "output_type": "stream", "text": "42\n"}],
            },
        ],
        "metadata": {"kernelspec": {"name": "no-such-kernel-anywhere", "display_name": "?", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "odd_kernel.ipynb"
    path.write_text(json.dumps(nb))
    shutil.copy(ROOT / "tests" / "nbval_sanitize.cfg", tmp_path)
    cmd = [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider", "-q", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_book_maps_any_kernel_name_to_python3():
    config = (ROOT / "_config.yml").read_text()
    assert re.search(r'nb_kernel_rgx_aliases:\s*\{"\.\*":\s*python3\}', config)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_solutions_are_folded_in_jupyter_too(path):
    """The HTML book folds solutions in a dropdown; JupyterLab (jupyter.source_hidden / outputs_hidden)
    and the classic notebook (collapsed) fold the solution cells by their metadata, the written
    answers (markdown cells) as well as the code."""
    inside, folded = False, 0
    for index, cell in enumerate(_load(path)["cells"]):
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and "{solution-start}" in text:
            inside = True
        elif cell["cell_type"] == "markdown" and "{solution-end}" in text:
            inside = False
        elif inside and cell["cell_type"] == "markdown":  # a written answer: folded in JupyterLab too
            assert cell["metadata"].get("jupyter", {}).get("source_hidden") is True, (path.name, index)
        elif inside and cell["cell_type"] == "code":
            meta = cell["metadata"]
            assert meta.get("jupyter") == {"source_hidden": True, "outputs_hidden": True}, (path.name, index)
            assert meta.get("collapsed") is True, (path.name, index)
            folded += 1
        elif cell["cell_type"] == "code":
            assert not cell["metadata"].get("jupyter", {}).get("source_hidden"), (
                f"{path.name} cell {index} is no solution"
            )
    assert folded >= 4
