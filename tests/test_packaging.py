"""The package as a library: its dependencies are ranges with extras, the NumPy tree needs no
PyTorch, and the data's licences ship with the data."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import dlcourse.exercises
import dlcourse.numpy

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# The NumPy tree and the helpers it uses; none of them may import torch.
NUMPY_SIDE = ["dlcourse", "dlcourse.numpy"]
NUMPY_SIDE += [f"dlcourse.numpy.{m.name}" for m in pkgutil.iter_modules(dlcourse.numpy.__path__)]
NUMPY_SIDE += [f"dlcourse.{m}" for m in ("gradcheck", "validation", "data", "text", "plotting", "widgets", "source")]
NUMPY_SIDE += ["dlcourse.seeding", "dlcourse.timing", "dlcourse.results", "dlcourse.rl", "dlcourse.bench_results"]
NUMPY_SIDE += ["dlcourse.exercises", "dlcourse.exercises.core"]
NUMPY_SIDE += [f"dlcourse.exercises.{m.name}" for m in pkgutil.iter_modules(dlcourse.exercises.__path__)]


def test_numpy_tree_imports_with_torch_unavailable():
    code = (
        "import importlib, sys\n"
        "sys.modules['torch'] = None  # any import of torch now fails\n"
        f"for name in {NUMPY_SIDE!r}:\n"
        "    importlib.import_module(name)\n"
        "import dlcourse\n"
        "rng = dlcourse.seed_everything(3)  # seeds what there is\n"
        "print(rng.integers(100), 'torch' in sys.modules and sys.modules['torch'] is not None)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[1] == "False"


def test_the_top_level_helpers_still_import_from_dlcourse():
    from dlcourse import get_device, seed_everything, show_source

    assert callable(get_device) and callable(seed_everything) and callable(show_source)
    import dlcourse

    assert sorted(dlcourse.__all__) == ["get_device", "seed_everything", "show_source"]
    try:
        dlcourse.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("an unknown name must raise AttributeError")


def test_dependencies_are_ranges_and_extras_cover_the_optional_parts():
    deps = PYPROJECT["project"]["dependencies"]
    assert not [d for d in deps if "==" in d], "the library gives ranges; exact pins live in requirements.txt"
    assert any(d.startswith("torch>=") for d in deps)
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(d.startswith("scikit-learn") for d in extras["data"])
    assert any(d.startswith("gymnasium[classic-control,toy-text]") for d in extras["rl"])
    assert any(d.startswith("pygame-ce") for d in extras["rl"])
    assert any(d.startswith("jupyter-book>=1.0,<2") for d in extras["book"])
    assert extras["all"] == ["dlcourse[data,rl,book]"]


def test_course_venv_pins_satisfy_the_library_ranges():
    """requirements.txt (the course's venv) must be a valid install of the library's ranges."""
    from packaging.requirements import Requirement

    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            req = Requirement(line)
            pins[req.name.lower()] = next(iter(req.specifier)).version
    deps = PYPROJECT["project"]["dependencies"] + sum(PYPROJECT["project"]["optional-dependencies"].values(), [])
    for dep in deps:
        req = Requirement(dep)
        if req.name.lower() in pins:
            assert req.specifier.contains(pins[req.name.lower()]), (dep, pins[req.name.lower()])


def test_the_data_licences_ship_in_the_wheel():
    data = PYPROJECT["tool"]["setuptools"]["package-data"]["dlcourse.datasets"]
    assert "README.md" in data
    readme = (ROOT / "dlcourse" / "datasets" / "README.md").read_text()
    assert "licen" in readme.lower()


def test_submodules_are_attributes_of_the_package_on_first_use():
    code = "import dlcourse; print(dlcourse.device.__name__, dlcourse.timing.__name__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.stdout.split() == ["dlcourse.device", "dlcourse.timing"], proc.stderr


def test_every_third_party_import_of_the_package_is_a_declared_dependency():
    """What the wheel installs is what the package imports: each third-party module imported anywhere
    in dlcourse/ belongs to a distribution named in pyproject's dependencies or extras."""
    import ast
    import importlib.metadata
    from pathlib import Path

    from packaging.requirements import Requirement

    declared = PYPROJECT["project"]["dependencies"] + sum(PYPROJECT["project"]["optional-dependencies"].values(), [])
    names = {Requirement(d).name.lower() for d in declared}
    providers = importlib.metadata.packages_distributions()
    missing = set()
    for path in (ROOT / "dlcourse").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in ("dlcourse", "__future__"):
                    continue
                dists = {d.lower() for d in providers.get(top, [])}
                if not dists & names:
                    missing.add(f"{top} ({', '.join(sorted(dists)) or 'no distribution'}) in {Path(path).name}")
    # IPython comes with ipywidgets (a declared dependency), which needs it.
    missing = {m for m in missing if not m.startswith("IPython ")}
    assert not missing, sorted(missing)
