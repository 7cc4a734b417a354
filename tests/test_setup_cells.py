"""Every chapter starts with the setup cell that ``tests/setup_cells.py`` makes from ``_config.yml``,
and a chapter copied alone into an empty folder runs in a fresh venv that lacks ``dlcourse``: its
setup cell installs the package from a wheel, offline, and nbval passes on its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import fresh_venv, setup_cells

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", setup_cells.CHAPTERS, ids=lambda p: p.name)
def test_first_code_cell_is_the_setup_cell_from_config(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    first = cells[0]
    assert "".join(first["source"]) == setup_cells.source(path), "run: python -m tests.setup_cells"
    assert first["metadata"].get("tags") == [setup_cells.TAG]  # not in the HTML book
    assert first["outputs"] == []  # in the course's venv it does nothing
    url, branch = setup_cells.repository()
    assert f"git+{url}@{branch}" in "".join(first["source"])


def test_repository_comes_from_config():
    url, branch = setup_cells.repository()
    assert url.startswith("https://") and branch


def test_a_chapter_alone_runs_in_a_fresh_venv_from_the_wheel(tmp_path):
    """The way a learner who downloaded one notebook runs it: a venv without dlcourse, the notebook
    in an empty folder. Offline: the dependencies come from the course's venv, the package from a
    wheel built here (tests/fresh_venv.py)."""
    wheel = fresh_venv.build_wheel(tmp_path)
    venv = tmp_path / "venv"
    python = fresh_venv.make_venv(venv)
    proc = fresh_venv.nbval_alone(python, tmp_path, "03_loss_functions.ipynb", DLCOURSE_SOURCE=str(wheel))
    # The setup cell printed nothing and installed the wheel; every cell's output matched.
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    installed = fresh_venv.run(
        python, "import dlcourse, pathlib; print(pathlib.Path(dlcourse.__file__).parent)", tmp_path
    )
    assert Path(installed.stdout.strip()).is_relative_to(venv), installed.stdout
