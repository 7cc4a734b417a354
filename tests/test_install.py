"""The ways into the course that are not a clone, each tried offline in a fresh venv outside the
repository (tests/fresh_venv.py):

- ``pip install dlcourse[all]`` from the wheel: every module imports, the NumPy tree without torch,
  the data, its licences and the benchmark results ship, and appendix A1 (which reads those
  results) runs from an empty folder with nbval passing;
- Binder: what repo2docker runs (``binder/requirements.txt``, then ``binder/postBuild``), then the
  first two code cells of every chapter (the setup cell and the imports).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests import fresh_venv

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The wheel, installed with every extra into a fresh venv: (wheel, venv python, work folder)."""
    tmp = tmp_path_factory.mktemp("install")
    wheel = fresh_venv.build_wheel(tmp)
    python = fresh_venv.make_venv(tmp / "venv")
    env = fresh_venv.offline_env(python, tmp)
    cmd = [str(python), "-m", "pip", "install", "--quiet", f"dlcourse[all] @ {wheel.as_uri()}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return wheel, python, tmp


def test_the_wheel_holds_the_data_its_licences_and_the_benchmark_results(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("datasets/README.md", "datasets/mnist10k.npz", "datasets/moby_dick.txt.gz"):
        assert f"dlcourse/{name}" in names, name
    results = {p.name for p in (ROOT / "dlcourse" / "bench_data").glob("*.json")}
    assert results and {f"dlcourse/bench_data/{n}" for n in results} <= names
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    extras = set(re.findall(r"^Provides-Extra: (\S+)", metadata, flags=re.MULTILINE))
    assert {"data", "rl", "book", "all"} <= extras, extras
    assert re.search(r"^Requires-Dist: torch>=", metadata, flags=re.MULTILINE)


def test_every_module_imports_from_the_installed_wheel(installed):
    _, python, tmp = installed
    code = (
        "import importlib, pathlib, pkgutil, sys, dlcourse\n"
        "names = [m.name for m in pkgutil.walk_packages(dlcourse.__path__, 'dlcourse.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(len(names), pathlib.Path(dlcourse.__file__).parent)\n"
    )
    out = fresh_venv.run(python, code, tmp, env=fresh_venv.offline_env(python, tmp)).stdout.split()
    count = sum(1 for p in (ROOT / "dlcourse").rglob("*.py") if p.name != "__init__.py")
    count += sum(1 for p in (ROOT / "dlcourse").rglob("__init__.py")) - 1  # subpackages, not dlcourse itself
    assert int(out[0]) == count, (out, count)
    assert Path(out[1]).is_relative_to(tmp / "venv"), out  # the installed copy, not the repository's


def test_the_numpy_tree_imports_from_the_wheel_with_torch_unavailable(installed):
    _, python, tmp = installed
    code = (
        "import importlib, pkgutil, sys\n"
        "sys.modules['torch'] = None  # any import of torch now fails\n"
        "import dlcourse.numpy\n"
        "for m in pkgutil.iter_modules(dlcourse.numpy.__path__):\n"
        "    importlib.import_module('dlcourse.numpy.' + m.name)\n"
        "from dlcourse import bench_results, data, gradcheck, seed_everything\n"
        "print(seed_everything(1).integers(10**6), len(bench_results.load_results()) > 0)\n"
    )
    out = fresh_venv.run(python, code, tmp, env=fresh_venv.offline_env(python, tmp)).stdout.split()
    assert out[1] == "True", out


def test_appendix_a1_alone_reads_the_results_shipped_in_the_package(installed):
    """A1 reads every committed results file; copied alone into an empty folder it must still run,
    and print what it prints in the repository (nbval on its stored outputs)."""
    _, python, tmp = installed
    proc = fresh_venv.nbval_alone(python, tmp, "a1_benchmarks.ipynb")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def _pins(path: Path) -> dict[str, str]:
    """name -> exact version of every ``==`` line of a requirements file (local labels dropped)."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line and not line.startswith("-"):
            req = Requirement(line)
            pins[req.name.lower()] = next(iter(req.specifier)).version.split("+")[0]
    return pins


def test_binder_installs_the_course_pins_with_cpu_torch_on_a_tested_python():
    binder, course = _pins(ROOT / "binder" / "requirements.txt"), _pins(ROOT / "requirements.txt")
    assert binder and all(course.get(name) == version for name, version in binder.items()), (binder, course)
    needed = {"torch", "numpy", "matplotlib", "scikit-learn", "threadpoolctl", "tqdm", "ipywidgets", "gymnasium"}
    assert needed | {"pygame-ce"} <= set(binder)
    text = (ROOT / "binder" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text and "torch==2.13.0+cpu" in text
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert runtime in ("python-3.11", "python-3.12"), runtime
    assert os.access(ROOT / "binder" / "postBuild", os.X_OK)


@pytest.mark.skipif(
    not __import__("torch").__version__.endswith("+cpu"),
    reason="offline, binder/requirements.txt's torch==2.13.0+cpu is satisfied only by a course venv with the CPU build",
)
def test_binder_steps_in_a_clean_venv_then_every_chapter_starts(tmp_path):
    """What repo2docker runs, in a fresh venv, from a copy of the repository's files: the
    requirements (offline: every pin is already satisfied by the course's venv, and no index is
    asked), then postBuild. Then each chapter's setup cell (which must do nothing) and its imports.
    That Binder gets the CPU build is the explicit ``+cpu`` pin's doing; here the venv it resolved
    against is checked to hold no CUDA library."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, checkout / name)
    for name in ("dlcourse", "binder"):
        shutil.copytree(ROOT / name, checkout / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    python = fresh_venv.make_venv(tmp_path / "venv")
    # PIP_NO_BUILD_ISOLATION=0 turns isolation off: the build backend comes from the venv, not an index.
    env = fresh_venv.offline_env(python, tmp_path, PIP_NO_BUILD_ISOLATION="0")
    steps = [
        [str(python), "-m", "pip", "install", "--quiet", "-r", "binder/requirements.txt"],
        ["bash", "binder/postBuild"],
    ]
    for step in steps:
        proc = subprocess.run(step, capture_output=True, text=True, cwd=checkout, env=env, timeout=600)
        assert proc.returncode == 0, (step, proc.stdout[-2000:], proc.stderr[-3000:])
    assert "dlcourse installed for Binder" in proc.stdout

    first_cells = {}
    for path in CHAPTERS:
        code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        first_cells[path.name] = ["".join(c["source"]) for c in code[:2]]
    program = (
        "import json, sys, matplotlib\n"
        "matplotlib.use('Agg')\n"
        "cells = json.loads(sys.stdin.read())\n"
        "for name, (setup, imports) in cells.items():\n"
        "    namespace = {}\n"
        "    exec(compile(setup, name + ' setup cell', 'exec'), namespace)\n"
        "    exec(compile(imports, name + ' imports', 'exec'), namespace)\n"
        "    print('started', name)\n"
        "import dlcourse; print(dlcourse.__file__)\n"
    )
    proc = subprocess.run(
        [str(python), "-c", program],
        input=json.dumps(first_cells),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert [line for line in lines if line.startswith("started")] == [f"started {p.name}" for p in CHAPTERS]
    assert Path(lines[-1]).is_relative_to(tmp_path / "venv")  # postBuild's install, not the repository
    cpu = (
        "import importlib.metadata as m, torch\n"
        "names = [d.metadata['Name'] for d in m.distributions()]\n"
        "print(torch.version.cuda, [n for n in names if n.lower().startswith(('nvidia-', 'cuda-'))])\n"
    )
    assert fresh_venv.run(python, cpu, tmp_path, env=env).stdout.split() == ["None", "[]"]


def test_the_cpu_torch_path_is_the_same_everywhere_it_is_given():
    """The README's CPU install, Binder and the GitHub workflows name one CPU index and one torch."""
    url = "https://download.pytorch.org/whl/cpu"
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"pip install torch=={_pins(ROOT / 'requirements.txt')['torch']} --index-url {url}" in readme
    assert url in (ROOT / "binder" / "requirements.txt").read_text()
    for workflow in (ROOT / ".github" / "workflows").glob("*.yml"):
        assert f"PIP_EXTRA_INDEX_URL: {url}" in workflow.read_text(), workflow.name


def test_the_fresh_venv_helper_does_not_see_the_course_package(tmp_path):
    """The premise of every test above: without an install, dlcourse is not importable there."""
    python = fresh_venv.make_venv(tmp_path / "venv")
    proc = fresh_venv.run(python, "import numpy, torch; import dlcourse", tmp_path, check=False)
    assert "No module named 'dlcourse'" in proc.stderr
    assert sys.prefix not in str(python)
