"""Make targets for people: a too-old Python is refused in one sentence, and clean says what it removes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _project_copy(tmp_path: Path) -> Path:
    for name in ("Makefile", "requirements.txt", "requirements-test.txt", "constraints.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_an_old_python_is_refused_before_any_venv_is_made(tmp_path):
    fake = tmp_path / "python3.10"
    fake.write_text(  # a Python that says it is 3.10
        f'#!/bin/sh\nexec {sys.executable} -c "import sys; sys.version_info = (3, 10, 4); exec(sys.argv[1])" "$2"\n'
    )
    fake.chmod(0o755)
    (tmp_path / "project").mkdir()
    project = _project_copy(tmp_path / "project")
    proc = subprocess.run(["make", f"PYTHON={fake}", "venv"], cwd=project, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "is Python 3.10.4, but the course needs 3.11 or newer" in proc.stdout
    assert not (project / ".venv").exists()


def test_clean_says_what_it_removes_and_keeps_the_venv(tmp_path):
    project = _project_copy(tmp_path)
    for folder in ("_build", ".nbval-runs", ".venv"):
        (project / folder).mkdir()
    proc = subprocess.run(["make", "clean"], cwd=project, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "removing the built book" in proc.stdout
    assert not (project / "_build").exists() and not (project / ".nbval-runs").exists()
    assert (project / ".venv").exists()
    proc = subprocess.run(["make", "distclean"], cwd=project, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "removing the virtual environment" in proc.stdout
    assert not (project / ".venv").exists()


def test_lab_passes_allow_root_only_to_root():
    proc = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    is_root = subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() == "0"
    assert ("--allow-root" in proc.stdout) == is_root
