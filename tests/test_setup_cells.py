"""Every chapter starts with the setup cell that ``tests/setup_cells.py`` makes from ``_config.yml``,
and a chapter copied alone into an empty folder runs in a fresh venv that lacks ``dlcourse``: its
setup cell installs the package from a wheel, offline, and nbval passes on its outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests import setup_cells

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
    in an empty folder. Offline: the dependencies come from the course's venv (a .pth line, which
    does not bring the editable dlcourse along), the package from a wheel built here."""
    tree = tmp_path / "tree"  # the package's files, so that the build leaves the repository alone
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "dlcourse", tree / "dlcourse", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    wheel = next(wheels.glob("dlcourse-*.whl"))

    venv = tmp_path / "venv"
    # --without-pip: pip, like every dependency, comes from the course's venv (a fresh venv's own old
    # setuptools would shadow the one torch needs, and nothing may be downloaded)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "course_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    lacks = subprocess.run([str(python), "-c", "import dlcourse"], capture_output=True, text=True, cwd=tmp_path)
    assert lacks.returncode != 0 and "No module named 'dlcourse'" in lacks.stderr

    folder = tmp_path / "alone"
    folder.mkdir()
    notebook = folder / "03_loss_functions.ipynb"
    shutil.copy(ROOT / "chapters" / notebook.name, notebook)
    shutil.copy(ROOT / "tests" / "nbval_sanitize.cfg", folder)
    shutil.copy(ROOT / "tests" / "nbval_portable.py", folder / "nbval_portable.py")
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DLCOURSE_SOURCE": str(wheel),
        "PIP_NO_INDEX": "1",  # offline: nothing may come from an index
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONHASHSEED": "0",
    }
    cmd = [str(python), "-m", "pytest", "-p", "nbval_portable", "--nbval", "--nbval-current-env"]
    cmd += ["--nbval-sanitize-with", "nbval_sanitize.cfg", "-p", "no:cacheprovider", "-q", notebook.name]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=folder, env={**env, "PYTHONPATH": str(folder)}, timeout=600
    )
    # The setup cell printed nothing and installed the wheel; every cell's output matched.
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    installed = subprocess.run(
        [str(python), "-c", "import dlcourse, pathlib; print(pathlib.Path(dlcourse.__file__).parent)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert Path(installed.stdout.strip()).is_relative_to(venv), installed.stdout
