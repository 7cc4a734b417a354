"""Hints in stages that never give the answer away, a table of at least three wrong answers per
checker, and the progress file (dlcourse/exercises/tracking.py)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re

import numpy as np
import pytest

from dlcourse.exercises import ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10, tracking
from dlcourse.exercises.core import Feedback

from .exercise_suite import call, companions, garbage

CHAPTER_MODULES = [ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10]
# a chapter whose checkers outgrow one module keeps the rest in chNN_more.py or chNN_<topic>.py
MORE = [extra for m in CHAPTER_MODULES for extra in companions(m)]
MODULES = CHAPTER_MODULES + MORE
TABLES = {
    "ch01": "tests.test_exercises",
    "ch02": "tests.test_exercises",
    **{f"ch{i:02d}": f"tests.test_exercises_ch{i:02d}" for i in range(3, 11)},
}


def checkers(module):
    return [f for n, f in sorted(vars(module).items()) if n.startswith("check_") and f.__module__ == module.__name__]


def wrong_table(module):
    table = importlib.import_module(TABLES[module.__name__.rsplit(".", 1)[-1][:4]]).WRONG
    return [(c, a) for c, a, _ in table if c.__module__ == module.__name__]


def normal(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


ALL = [(m, c) for m in MODULES for c in checkers(m)]
IDS = [f"{m.__name__.rsplit('.', 1)[-1]}.{c.__name__}" for m, c in ALL]


@pytest.mark.parametrize(("module", "checker"), ALL, ids=IDS)
def test_each_checker_has_at_least_three_typical_wrong_answers(module, checker):
    count = sum(c is checker for c, _ in wrong_table(module))
    assert count >= 3, f"{checker.__name__} has {count} wrong answers in its chapter's WRONG table"


@pytest.mark.parametrize(("module", "checker"), ALL, ids=IDS)
def test_no_first_stage_hint_contains_the_answer(module, checker):
    """Every first-stage hint a wrong answer (typical or garbage) can reach is free of the
    solution's key expressions, which each chapter lists in KEY_EXPRESSIONS."""
    name = checker.__name__.removeprefix("check_")
    keys = module.KEY_EXPRESSIONS.get(name)
    assert keys, f"{module.__name__}.KEY_EXPRESSIONS has no entry for {name}"
    answers = [a for c, a in wrong_table(module) if c is checker]
    answers += [None, 0, "x", raises_value_error, lambda *a: np.full(3, np.nan)]
    for answer in answers:
        tracking.reset_attempts()
        feedback = call(checker, answer)
        assert not feedback.passed
        first = normal(feedback.hints[0] if feedback.hints else "") + normal(feedback.message)
        for key in keys:
            assert normal(key) not in first, (
                f"{checker.__name__}: the first hint or message gives away {key!r}: {feedback}"
            )


def raises_value_error(*args):
    raise ValueError("no")


def test_hints_grow_more_specific_with_each_failure_and_restart_after_a_pass():
    def no_bias(x, w, b):
        return ch02.activations.sigmoid(np.dot(x, w))

    first, second, third = (ch02.check_neuron(no_bias) for _ in range(3))
    assert first.stage == 0 and second.stage == 1 and third.stage == len(third.hints) - 1
    assert first.hint != second.hint and len(first.hints) >= 2
    assert "Hint (1 of" in str(first) and "Hint (2 of" in str(second)
    assert ch02.check_neuron(lambda x, w, b: ch02.solution_neuron(x, w, b)).passed
    assert ch02.check_neuron(no_bias).stage == 0  # a pass starts the hints again


def test_a_feedback_of_one_hint_shows_it_without_a_stage():
    feedback = Feedback("q", False, "wrong.", "look again")
    feedback.show_stage(5)
    assert feedback.hint == "look again" and str(feedback).endswith("Hint: look again")


@pytest.fixture
def progress_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv("DLCOURSE_PROGRESS", str(path))
    return path


def test_a_learners_pass_is_recorded_but_the_folded_solution_is_not(progress_file):
    assert ch02.check_neuron(ch02.solution_neuron).passed
    assert not progress_file.exists() or "neuron" not in progress_file.read_text()
    assert ch02.check_neuron(lambda x, w, b: ch02.solution_neuron(x, w, b)).passed
    assert "neuron" in json.loads(progress_file.read_text())["ch02"]
    assert ch02.check_and_gate(*ch02.solution_and_gate).passed
    assert "and_gate" not in json.loads(progress_file.read_text())["ch02"]
    assert not ch02.check_sigmoid(None).passed
    assert "sigmoid" not in json.loads(progress_file.read_text())["ch02"]


def test_progress_lists_every_chapter_and_exercise_and_can_be_reset(progress_file):
    ch02.check_neuron(lambda x, w, b: ch02.solution_neuron(x, w, b))
    report = tracking.progress()
    assert [row[0] for row in report.rows] == list(tracking.CHAPTERS)
    total = sum(len(checkers(m)) for m in MODULES)
    assert report.total == total and report.passed == 1
    assert f"1 of {total}" in str(report) and "✔ neuron" in str(report) and "<table" in report._repr_html_()
    only = tracking.progress("ch02")
    assert [row[0] for row in only.rows] == ["ch02"] and [n for n, _ in only.rows[0][2]][0] == "neuron"
    tracking.reset_progress("ch03")
    assert tracking.progress().passed == 1
    tracking.reset_progress()
    assert tracking.progress().passed == 0


def test_progress_refuses_an_unknown_chapter_in_one_sentence():
    with pytest.raises(ValueError, match="chapter must be one of ch01"):
        tracking.progress("chapter 2")


def test_progress_can_be_off_and_survives_an_unwritable_or_corrupt_file(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_PROGRESS", "off")
    assert ch02.check_neuron(lambda x, w, b: ch02.solution_neuron(x, w, b)).passed
    assert tracking.progress().passed == 0
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("DLCOURSE_PROGRESS", str(blocked / "progress.json"))  # its parent is a file
    assert ch02.check_neuron(lambda x, w, b: ch02.solution_neuron(x, w, b)).passed
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{not json")
    monkeypatch.setenv("DLCOURSE_PROGRESS", str(corrupt))
    assert tracking.progress().passed == 0
    assert ch02.check_neuron(lambda x, w, b: ch02.solution_neuron(x, w, b)).passed
    assert tracking.progress().passed == 1


@pytest.mark.parametrize(("module", "checker"), ALL, ids=IDS)
def test_a_wrong_number_of_answers_is_feedback(module, checker):
    for args in [(), (1, 2, 3, 4, 5)]:
        feedback = checker(*args)
        assert not feedback.passed and "takes" in feedback.message and feedback.hint


def test_the_garbage_strategy_is_shared():
    assert garbage is not None
