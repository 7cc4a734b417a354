"""The setup cell at the top of every chapter: it installs the course's package where it is missing.

One source of truth: the repository URL and branch in ``_config.yml`` (the same that the launch
buttons use). ``python -m tests.setup_cells`` writes the cell into every chapter notebook;
``tests/test_setup_cells.py`` fails when a notebook's cell differs from what this module makes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))  # the chapters and the appendices (a1_, a2_)
MARK = "# Setup for Colab, Binder or a notebook downloaded alone"
TAG = "remove-cell"  # the HTML book leaves the cell out

# What each chapter needs beyond the core package (pyproject.toml's extras).
EXTRAS = {
    "01": ["data"],
    "03": ["data"],
    "04": ["data"],
    "05": ["data"],
    "06": ["data"],
    "09": ["data"],
    "10": ["data", "rl"],
}


def repository() -> tuple[str, str]:
    """The repository URL and branch, read from ``_config.yml``."""
    config = (ROOT / "_config.yml").read_text()
    block = re.search(r"^repository:\n((?:[ \t]+.*\n)+)", config, flags=re.MULTILINE)
    if block is None:
        raise ValueError("_config.yml has no repository: block with url and branch.")
    fields = dict(re.findall(r"^\s+(\w+):\s*(\S+)", block.group(1), flags=re.MULTILINE))
    return fields["url"], fields.get("branch", "main")


def source(chapter: Path) -> str:
    """The setup cell's code for ``chapter``."""
    url, branch = repository()
    extras = EXTRAS.get(chapter.name[:2], [])
    requirement = "dlcourse" + (f"[{','.join(extras)}]" if extras else "")
    return f'''{MARK}: installs the course's package
# when it is missing. In a clone (make lab) it is installed already and this cell does nothing.
# DLCOURSE_SOURCE may name another source: a wheel, a folder or a URL.
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

if importlib.util.find_spec("dlcourse") is None:
    where = os.environ.get("DLCOURSE_SOURCE", "git+{url}@{branch}")
    if Path(where).exists():
        where = Path(where).resolve().as_uri()
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    f"{requirement} @ {{where}}"], check=True)'''


def write(paths: list[Path]) -> None:
    """Put (or refresh) the setup cell as the first code cell of each notebook."""
    import nbformat

    for path in paths:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        if code and code[0].source.startswith(MARK):
            code[0].source = source(path)
            code[0].metadata["tags"] = [TAG]
        else:
            cell = nbformat.v4.new_code_cell(source(path), metadata={"tags": [TAG]})
            nb.cells.insert(nb.cells.index(code[0]) if code else len(nb.cells), cell)
        nbformat.write(nb, path)


if __name__ == "__main__":
    write([Path(a) for a in sys.argv[1:]] or CHAPTERS)
