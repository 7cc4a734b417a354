"""A wheel of the package and a fresh venv without it, offline, for the install tests.

The venv is made ``--without-pip``: pip, like every dependency, comes from the course's venv through
a ``.pth`` line (a fresh venv's own old setuptools would shadow the one torch needs, and nothing may
be downloaded). Directories named in a ``.pth`` line are added to ``sys.path`` but their own
``.pth`` files are not read, so the course's editable ``dlcourse`` does not come along.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_wheel(tmp: Path) -> Path:
    """Build the package's wheel from a copy of its files (the repository is left alone)."""
    tree = tmp / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "dlcourse", tree / "dlcourse", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = tmp / "wheels"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)]
    build = subprocess.run([*cmd, str(tree)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    return next(wheels.glob("dlcourse-*.whl"))


def make_venv(where: Path) -> Path:
    """A venv at ``where`` that sees the course's dependencies but not ``dlcourse``; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    site = run(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=where).stdout.strip()
    Path(site, "course_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    lacks = run(python, "import dlcourse", cwd=where, check=False)
    assert lacks.returncode != 0 and "No module named 'dlcourse'" in lacks.stderr, lacks.stderr
    return python


def offline_env(venv_python: Path, home: Path, **extra: str) -> dict[str, str]:
    """Environment variables for commands in the fresh venv: no index, nothing from the repository."""
    return {
        "PATH": f"{venv_python.parent}:/usr/bin:/bin",
        "HOME": str(home),
        "PIP_NO_INDEX": "1",  # offline: nothing may come from an index
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONHASHSEED": "0",
        "CUDA_VISIBLE_DEVICES": "",
        **extra,
    }


def run(
    python: Path, code: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run ``code`` with ``python`` in ``cwd``; with ``check``, fail with its stderr."""
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def nbval_alone(python: Path, tmp: Path, notebook: str, **env: str) -> subprocess.CompletedProcess:
    """Copy ``chapters/<notebook>`` alone into an empty folder and run nbval on it with ``python``,
    offline, with the course's sanitize file and portable-comparison plugin beside it."""
    folder = tmp / f"{Path(notebook).stem}_alone"
    folder.mkdir()
    shutil.copy(ROOT / "chapters" / notebook, folder / notebook)
    shutil.copy(ROOT / "tests" / "nbval_sanitize.cfg", folder)
    shutil.copy(ROOT / "tests" / "nbval_portable.py", folder / "nbval_portable.py")
    cmd = [str(python), "-m", "pytest", "-p", "nbval_portable", "--nbval", "--nbval-current-env"]
    cmd += ["--nbval-sanitize-with", "nbval_sanitize.cfg", "-p", "no:cacheprovider", "-q", notebook]
    full_env = offline_env(python, tmp, PYTHONPATH=str(folder), **env)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=folder, env=full_env, timeout=600)
