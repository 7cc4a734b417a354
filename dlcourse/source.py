"""Show the package's own source in a notebook, highlighted, so the book never copies it."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent


class Source:
    """The source of a function, class or module, displayed as a highlighted code block.

    In Jupyter and in the book it renders as Markdown (a fenced ``python`` block with the
    file name and line numbers above it); ``str()`` gives the plain code.
    """

    def __init__(self, obj: Any) -> None:
        obj = inspect.unwrap(obj)  # a decorated function: its own file and lines
        lines, start = inspect.getsourcelines(obj)
        self.code = textwrap.dedent("".join(lines)).rstrip() + "\n"
        path = Path(inspect.getsourcefile(obj) or "?").resolve()
        try:
            path = path.relative_to(_ROOT)
        except ValueError:
            pass
        self.where = f"{path.as_posix()}, lines {max(start, 1)}-{max(start, 1) + len(lines) - 1}"

    def __str__(self) -> str:
        return self.code

    def __repr__(self) -> str:
        return f"# {self.where}\n{self.code}"

    def _repr_markdown_(self) -> str:
        return f"`{self.where}`\n\n```python\n{self.code}```\n"


def show_source(*objs: Any) -> Source | list[Source]:
    """Return the source of each object, for display as the last expression of a cell.

    Example:
        >>> from dlcourse.numpy import activations
        >>> show_source(activations.sigmoid)  # doctest: +SKIP
    """
    sources = [Source(obj) for obj in objs]
    if len(sources) == 1:
        return sources[0]
    from IPython.display import display

    for source in sources[:-1]:
        display(source)
    return sources[-1]
