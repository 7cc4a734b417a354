"""The course's prose is its own: no markdown sentence of a chapter, the introduction or the README
shares a run of more than 8 consecutive words with a seed article (../shared/seeds/, read when
present; DLCOURSE_SEEDS may name another folder)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = 9  # a shared run of more than 8 words


def seeds_dir() -> Path:
    return Path(os.environ.get("DLCOURSE_SEEDS", ROOT.parent / "shared" / "seeds"))


def words(text: str) -> list[str]:
    """Lower-case words, with markup, maths and code removed."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)  # code and directive blocks
    text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " ", text, flags=re.S)  # maths
    text = re.sub(r"`[^`]*`", " ", text)  # inline code
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their words
    text = text.replace("’", "'")
    return re.findall(r"[a-z0-9']+", text.lower())


def runs(tokens: list[str], n: int = RUN) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def prose() -> dict[str, str]:
    """Every piece of prose the course publishes: markdown cells, the introduction, the README."""
    texts = {}
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown":
                texts[f"{path.name} cell {i}"] = cell.source
    for name in ("intro.md", "README.md"):
        texts[name] = (ROOT / name).read_text()
    return texts


def shared_runs(texts: dict[str, str], seeds: list[str]) -> list[str]:
    seed_runs = set().union(*(runs(words(s)) for s in seeds))
    found = []
    for where, text in texts.items():
        tokens = words(text)
        for i in range(len(tokens) - RUN + 1):
            if tuple(tokens[i : i + RUN]) in seed_runs:
                found.append(f"{where}: ... {' '.join(tokens[max(0, i - 3) : i + RUN + 3])} ...")
                break
    return found


def load_seeds() -> list[str]:
    folder = seeds_dir()
    files = sorted(folder.glob("*.txt")) + sorted(folder.glob("*.md")) if folder.is_dir() else []
    if not files:
        pytest.skip(f"no seed articles at {folder} (set DLCOURSE_SEEDS to their folder to run this test)")
    return [f.read_text(errors="replace") for f in files]


def test_no_sentence_shares_more_than_eight_words_with_a_seed():
    found = shared_runs(prose(), load_seeds())
    assert not found, "prose shares a run of more than 8 words with a seed:\n" + "\n".join(found)


def test_a_planted_seed_sentence_is_caught():
    seeds = load_seeds()
    seed_words = max((words(s) for s in seeds), key=len)
    planted = " ".join(seed_words[100 : 100 + RUN])  # nine consecutive words of a seed
    assert shared_runs({"planted": f"Our own words, then {planted}, and more."}, seeds)
    assert not shared_runs({"eight": " ".join(seed_words[100 : 100 + RUN - 1])}, seeds)
