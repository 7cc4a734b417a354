"""Your progress through the exercises, and the hints that grow more specific as you retry.

Every checker is wrapped by :func:`checker`, which

- never lets an exception out (a wrong number of answers included), only ``KeyboardInterrupt``;
- counts your failed attempts at each exercise in this kernel and shows the hint of that stage:
  a nudge on the first failure, a more specific hint from the second on;
- records a pass in a small local JSON file, so that :func:`progress` can show, per chapter,
  which exercises you have passed in this environment. Running the folded solution does not
  count as a pass.

The file is ``~/.dlcourse/progress.json``; set the environment variable ``DLCOURSE_PROGRESS`` to
another path to keep it elsewhere, or to ``off`` to record nothing. :func:`reset_progress` empties
it. If the file cannot be written (a read-only home), progress is simply not recorded.
"""

from __future__ import annotations

import datetime
import functools
import html
import importlib
import inspect
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlcourse.exercises import running
from dlcourse.exercises.core import Feedback

__all__ = [
    "CHAPTERS",
    "Progress",
    "checker",
    "progress",
    "progress_path",
    "reset_attempts",
    "reset_progress",
    "solution_value",
]

CHAPTERS = {
    "ch01": "What is deep learning",
    "ch02": "The perceptron",
    "ch03": "Loss functions",
    "ch04": "Gradient descent",
    "ch05": "Backpropagation",
    "ch06": "Training in practice",
    "ch07": "Convolutional networks",
    "ch08": "Recurrent networks",
    "ch09": "Attention and transformers",
    "ch10": "Deep reinforcement learning",
}
PROGRESS_ENV = "DLCOURSE_PROGRESS"

_REGISTRY: dict[str, list[str]] = {}  # chapter -> exercise names, in the order they are defined
_ATTEMPTS: dict[str, int] = {}  # "ch02.neuron" -> failed attempts since the last pass
_SOLUTION_VALUES: dict[str, Any] = {}  # "ch06.decay_choice" -> what its solution last returned


def progress_path() -> Path | None:
    """Where progress is kept: ``$DLCOURSE_PROGRESS``, or ``~/.dlcourse/progress.json``; None when off."""
    setting = os.environ.get(PROGRESS_ENV, "").strip()
    if setting.lower() == "off":
        return None
    return Path(setting).expanduser() if setting else Path.home() / ".dlcourse" / "progress.json"


def _load() -> dict[str, dict[str, str]]:
    path = progress_path()
    try:
        data = json.loads(path.read_text()) if path is not None and path.is_file() else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, dict)}


def _save(data: dict[str, dict[str, str]]) -> None:
    path = progress_path()
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(data, indent=1, sort_keys=True))
        partial.replace(path)
    except OSError:
        pass  # a read-only home: progress is not recorded, the checker still answers


def _record(chapter: str, exercise: str) -> None:
    data = _load()
    data.setdefault(chapter, {}).setdefault(exercise, datetime.date.today().isoformat())
    _save(data)


def reset_progress(chapter: str | None = None) -> None:
    """Forget the recorded passes: of one chapter (``"ch02"``), or of all when ``chapter`` is None."""
    data = {} if chapter is None else {k: v for k, v in _load().items() if k != chapter}
    _save(data)
    reset_attempts()


def reset_attempts() -> None:
    """Start every exercise's hints again at the first stage."""
    _ATTEMPTS.clear()


def _is_solution(args: tuple, solution: Any) -> bool:
    """Whether the answer is the folded solution itself (the same object, or its items)."""
    if solution is None or not args:
        return False
    if len(args) == 1:
        return args[0] is solution
    return (
        isinstance(solution, tuple)
        and len(solution) == len(args)
        and all(a is s for a, s in zip(args, solution, strict=True))
    )


def solution_value(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Mark a solution that computes the answer (a function of no arguments): the value it returns
    is remembered, so that handing it to the checker does not count as the learner's pass."""
    key = f"{fn.__module__.rsplit('.', 1)[-1][:4]}.{fn.__name__.removeprefix('solution_')}"

    @functools.wraps(fn)
    def wrapper() -> Any:
        _SOLUTION_VALUES[key] = value = fn()
        return value

    return wrapper


def checker(fn: Callable[..., Feedback]) -> Callable[..., Feedback]:
    """Wrap a chapter's ``check_X``: staged hints, recorded passes, and no exception ever."""
    module = sys.modules.get(fn.__module__)
    chapter = fn.__module__.rsplit(".", 1)[-1][:4]  # "ch08" for ch08.py and for ch08_more.py
    name = fn.__name__.removeprefix("check_")
    if name not in _REGISTRY.setdefault(chapter, []):
        _REGISTRY[chapter].append(name)
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Feedback:
        key = f"{chapter}.{name}"
        try:
            signature.bind(*args, **kwargs)
        except TypeError:
            wanted, count = ", ".join(signature.parameters), len(signature.parameters)
            given = f"{len(args)} by position" + (f" and {', '.join(kwargs)} by name" if kwargs else "")
            return Feedback(
                name,
                False,
                f"the checker {fn.__name__} takes {count} answer{'s' * (count != 1)} ({wanted}), "
                f"given by position; it was given {given}.",
                "Call the checker with your answer as in the exercise's cell.",
            )
        try:
            feedback = fn(*args, **kwargs)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a checker must never crash in front of a learner
            feedback = Feedback(
                name,
                False,
                f"the checker could not evaluate your answer ({type(exc).__name__}: {running.short(exc)}).",
                "Check that your answer has the form the exercise asks for.",
            )
        if feedback.passed:
            _ATTEMPTS.pop(key, None)
            solutions = (getattr(module, "solution_" + name, None), _SOLUTION_VALUES.get(key))
            if not any(_is_solution(args, solution) for solution in solutions):
                _record(chapter, name)
        else:
            feedback.show_stage(_ATTEMPTS.get(key, 0))
            _ATTEMPTS[key] = _ATTEMPTS.get(key, 0) + 1
        return feedback

    return wrapper


class Progress:
    """What :func:`progress` returns: a table in Jupyter, plain text elsewhere."""

    def __init__(self, rows: list[tuple[str, str, list[tuple[str, bool]]]]) -> None:
        self.rows = rows  # (chapter, title, [(exercise, passed)])

    @property
    def passed(self) -> int:
        return sum(done for _, _, items in self.rows for _, done in items)

    @property
    def total(self) -> int:
        return sum(len(items) for _, _, items in self.rows)

    def __str__(self) -> str:
        lines = [f"Exercises passed in this environment: {self.passed} of {self.total}"]
        for chapter, title, items in self.rows:
            done = sum(d for _, d in items)
            marks = "  ".join(("✔ " if d else "· ") + n for n, d in items)
            lines.append(f"{chapter} {title} ({done}/{len(items)}): {marks}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><td>{html.escape(chapter)}</td><td>{html.escape(title)}</td>"
            f"<td>{sum(d for _, d in items)}/{len(items)}</td><td>"
            + " ".join(
                f"<span title='{'passed' if d else 'not yet'}'>{'✔' if d else '·'}&nbsp;<code>{html.escape(n)}</code></span>"
                for n, d in items
            )
            + "</td></tr>"
            for chapter, title, items in self.rows
        )
        return (
            f"<p>Exercises passed in this environment: <strong>{self.passed} of {self.total}</strong></p>"
            f"<table class='dlc-progress'><tr><th>chapter</th><th></th><th>passed</th><th>exercises</th></tr>{body}</table>"
        )


def progress(chapter: str | None = None) -> Progress:
    """Which exercises you have passed in this environment: all chapters, or one (``"ch02"``)."""
    if chapter is not None and chapter not in CHAPTERS:
        raise ValueError(f"chapter must be one of {', '.join(CHAPTERS)}; got {chapter!r}.")
    for name in CHAPTERS:
        importlib.import_module(f"dlcourse.exercises.{name}")  # registers the checkers
    data = _load()
    rows = [
        (c, CHAPTERS[c], [(n, n in data.get(c, {})) for n in _REGISTRY.get(c, [])])
        for c in CHAPTERS
        if chapter in (None, c)
    ]
    return Progress(rows)
