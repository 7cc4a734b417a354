"""The GitHub workflows: one runs the tests exactly as CI does (``bash .ci/run``), one publishes the
built book to GitHub Pages the way Jupyter Book documents it. ``make lint`` validates both against
the GitHub workflow schema (check-jsonschema's vendored copy, offline); this also checks that the
check rejects a broken workflow."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
CHECK = [str(Path(sys.executable).with_name("check-jsonschema")), "--builtin-schema", "vendor.github-workflows"]


def _load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_ci_runs_the_same_script_as_ci_here():
    ci = _load("ci.yml")
    assert any(step.get("run") == "bash .ci/run" for step in _steps(ci))
    assert ci["permissions"] == {"contents": "read"}
    python = next(s for s in _steps(ci) if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["python-version"] in ("3.11", "3.12")


def test_pages_builds_the_book_and_deploys_build_html():
    pages = _load("pages.yml")
    steps = _steps(pages)
    assert any(step.get("run") == "make book" for step in steps)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in steps)
    assert pages["permissions"]["pages"] == "write" and pages["permissions"]["id-token"] == "write"
    assert pages["jobs"]["deploy"]["needs"] == "build"
    # published only after the tests passed on main
    trigger = pages[True]["workflow_run"]  # YAML 1.1 reads the key `on` as True
    assert trigger == {"workflows": ["ci"], "types": ["completed"], "branches": ["main"]}
    assert "workflow_run.conclusion == 'success'" in pages["jobs"]["build"]["if"]


def test_the_schema_check_passes_ours_and_rejects_a_broken_workflow(tmp_path):
    ours = subprocess.run([*CHECK, *map(str, sorted(WORKFLOWS.glob("*.yml")))], capture_output=True, text=True)
    assert ours.returncode == 0, ours.stdout + ours.stderr
    broken = tmp_path / "broken.yml"
    shutil.copy(WORKFLOWS / "ci.yml", broken)
    broken.write_text(broken.read_text().replace("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04"))
    proc = subprocess.run([*CHECK, str(broken)], capture_output=True, text=True)
    assert proc.returncode != 0 and "runs-on" in proc.stdout + proc.stderr
