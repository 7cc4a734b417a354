"""The package's architecture, as a newcomer reads it: each concept in one home, only public names
cross modules, no module too long to read, nothing changed at import."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dlcourse"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
LONGEST = 450


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def test_only_public_names_cross_modules():
    crossing = []
    for path in MODULES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dlcourse"):
                crossing += [f"{path.relative_to(PACKAGE)}: {a.name}" for a in node.names if a.name.startswith("_")]
    assert not crossing, crossing


def test_one_clip_grad_norm_per_tree_in_optim():
    homes = [
        str(path.relative_to(PACKAGE))
        for path in MODULES
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.FunctionDef) and node.name == "clip_grad_norm"
    ]
    assert sorted(homes) == ["numpy/optim.py", "torch/optim.py"], homes


def test_every_record_a_training_function_returns_lives_in_results():
    records = {"History", "LMHistory", "DQNHistory", "QLearningResult", "Episode", "PerceptronResult"}
    homes: dict[str, list[str]] = {}
    for path in MODULES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ClassDef) and node.name in records:
                homes.setdefault(node.name, []).append(str(path.relative_to(PACKAGE)))
    assert homes == {name: ["results.py"] for name in records}, homes


def test_no_module_is_longer_than_a_reader_can_hold():
    lengths = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in MODULES}
    assert max(lengths.values()) <= LONGEST, sorted(lengths.items(), key=lambda kv: -kv[1])[:3]


def test_no_module_changes_the_environment_at_import():
    """os.environ is written only inside functions (rl.make_env), never at a module's top level."""
    for path in MODULES:
        for node in _tree(path).body:
            assert "os.environ" not in ast.unparse(node) or isinstance(
                node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef
            ), f"{path.relative_to(PACKAGE)}: {ast.unparse(node)[:80]}"


def test_the_language_model_loop_has_one_home():
    """Each tree's train_char_lm hands its update to dlcourse.text.train_language_model."""
    for tree in ("numpy", "torch"):
        source = (PACKAGE / tree / "charlm.py").read_text()
        assert "textlib.train_language_model(" in source and "while True" not in source
