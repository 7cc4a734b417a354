"""Shared pieces of the exercise tests: what a learner might hand a checker, and the standard tests."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st


def raises_boom(*args):
    """A learner function that crashes."""
    raise RuntimeError("boom")


garbage = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
    st.just(raises_boom),
    st.just(lambda *a: "not a number"),
    st.just(lambda *a: np.full(17, np.nan)),
    st.just(lambda *a: [[1, 2], [3]]),  # ragged
    st.just(lambda *a: {"a": 1}),
    st.just(lambda *a: np.ones((7, 7, 7))),
    st.just(lambda: 0),  # wrong arity
)


class Args(tuple):
    """Several answers for a checker that takes more than one, e.g. ``Args(weight, bias)`` for
    ``check_and_gate``: ``call(checker, Args(w, b))`` is ``checker(w, b)``."""


def call(checker, answer):
    """Call a checker on one answer, or on several wrapped in :class:`Args`."""
    return checker(*answer) if isinstance(answer, Args) else checker(answer)


def companions(chapter: ModuleType) -> list[ModuleType]:
    """The modules that hold the rest of a chapter's checkers: ``chNN_more.py``, ``chNN_<topic>.py``."""
    package, name = chapter.__name__.rsplit(".", 1)
    path = importlib.import_module(package).__path__
    return [
        importlib.import_module(f"{package}.{m.name}")
        for m in sorted(pkgutil.iter_modules(path), key=lambda m: m.name)
        if m.name.startswith(f"{name}_")
    ]


def discover(*modules: ModuleType) -> list[tuple]:
    """Every (``check_X``, ``solution_X``) pair that the chapters' exercise modules define, for
    checkers that take one answer (a function or a value; a solution of no arguments is called for
    its value). A checker of several answers (chapter
    2's ``check_and_gate(weights, bias)``) is tested by its chapter's own module."""
    pairs = []
    for module in modules:
        for name, checker in sorted(vars(module).items()):
            if not (name.startswith("check_") and callable(checker) and checker.__module__ == module.__name__):
                continue
            solution_name = "solution_" + name.removeprefix("check_")
            if hasattr(module, solution_name) and len(inspect.signature(checker).parameters) == 1:
                solution = getattr(module, solution_name)
                if callable(solution) and not inspect.signature(solution).parameters:
                    solution = solution()  # the answer is a number the solution computes (5.2's count)
                pairs.append((checker, solution))
    return pairs


def standard_tests(solutions: list, wrong: list, checkers: list) -> tuple:
    """The three tests every chapter's checkers must pass, built from that chapter's tables.

    Args:
        solutions: (checker, solution) pairs: each solution passes with no hint.
        wrong: (checker, typical wrong answer, words its hint contains at some stage) triples; an
            answer wrapped in :class:`Args` is several answers.
        checkers: every checker taking one answer: garbage never makes it raise.

    Returns:
        Three test functions; bind them to ``test_*`` names in the chapter's test module.
    """

    @pytest.mark.parametrize("checker, solution", solutions, ids=lambda f: getattr(f, "__name__", ""))
    def test_solution_passes(checker, solution):
        feedback = checker(solution)
        assert feedback.passed, str(feedback)
        assert feedback.hint == ""

    @pytest.mark.parametrize("checker, answer, hint", wrong, ids=[w[2][:40] for w in wrong])
    def test_typical_wrong_answer_gets_its_hint(checker, answer, hint):
        feedback = call(checker, answer)
        assert not feedback.passed
        assert hint in " ".join(feedback.hints), str(feedback)
        words = (
            "expected",
            "returned",
            "warned",
            "too",
            "not right",
            "uses",
            "source",
            "raised",
            "belong",
            "missing",
            "not the right",
            "calls",
        )
        assert any(word in feedback.message.lower() for word in words), str(feedback)

    @pytest.mark.parametrize("checker", checkers, ids=lambda f: f.__name__)
    @given(answer=garbage)
    def test_checker_never_raises(checker, answer):
        feedback = checker(answer)
        assert not feedback.passed
        assert feedback.message and feedback.hint
        assert "Not yet" in str(feedback) and "Not yet" in feedback._repr_html_()

    return test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises
