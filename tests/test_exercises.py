"""Every solution passes its checker, each typical wrong answer gets its hint, and a checker never raises."""

from __future__ import annotations

import numpy as np
from hypothesis import given

from dlcourse.exercises import ch01, ch02

from .exercise_suite import discover, garbage, raises_boom, standard_tests

SOLUTIONS = discover(ch01, ch02)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]


def test_and_gate_solution_and_any_valid_answer_pass():
    assert ch02.check_and_gate(*ch02.solution_and_gate).passed
    assert ch02.check_and_gate([2.0, 2.0], -3.0).passed  # another valid neuron


# (checker, typical wrong answer, words the targeted hint must contain)
WRONG = [
    (ch01.check_count_parameters, lambda s: sum(a * b for a, b in zip(s[:-1], s[1:], strict=False)), "weights only"),
    (ch01.check_count_parameters, lambda s: ch01.solution_count_parameters(s) + s[0], "input layer has no bias"),
    (ch01.check_matmul_flops, lambda n, k, m: n * k * m, "multiply and an add"),
    (ch01.check_matmul_loops, lambda a, b: (np.array(a) @ np.array(b)).T.tolist(), "swapped"),
    (ch01.check_matmul_loops, lambda a, b: None, "return"),
    (ch02.check_neuron, lambda x, w, b: ch02.activations.sigmoid(np.dot(x, w)), "bias is missing"),
    (ch02.check_neuron, lambda x, w, b: np.dot(x, w) + b, "through the sigmoid"),
    (ch02.check_sigmoid, lambda x: 1 / (1 + np.exp(-x)), "overflows"),
    (ch02.check_sigmoid, lambda x: 1 / (1 + np.exp(x)), "sign in the exponent"),
    (ch02.check_relu_derivative, lambda x: np.maximum(x, 0), "ReLU itself"),
    (ch02.check_relu_derivative, lambda x: (x >= 0).astype(float), "> 0, not >= 0"),
    (
        ch02.check_perceptron_update,
        lambda w, b, x, y, lr: (
            w - lr * (y - ch02.perceptron_predict(x, w, b)) * x,
            b - lr * (y - ch02.perceptron_predict(x, w, b)),
        ),
        "wrong way",
    ),
]


def test_wrong_answers_to_value_exercises():
    feedback = ch02.check_and_gate([1.0, 1.0], -0.5)
    assert not feedback.passed and "OR" in feedback.hint
    feedback = ch01.check_deep_models({"LSTM", "decision tree"})
    assert (
        not feedback.passed
        and "1 of your entries does not belong" in feedback.message
        and "3 right entries are missing" in feedback.message
    )
    assert "convolutional" not in str(feedback)  # the feedback never gives the answer away
    assert "decision tree" not in feedback.message  # nor which entries are wrong: submitting every name would
    everything = ch01.check_deep_models(set(ch01.MODELS))
    assert not everything.passed and not any(name.lower() in everything.message.lower() for name in ch01.MODELS)
    assert "set of one" in ch01.check_deep_models("LSTM").message


@given(weight=garbage, bias=garbage)
def test_and_gate_checker_never_raises(weight, bias):
    feedback = ch02.check_and_gate(weight, bias)
    assert not feedback.passed and feedback.hint


def test_exception_inside_learner_code_is_reported():
    feedback = ch02.check_sigmoid(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message
    assert "x = [-2, 0, 2]" in feedback.message  # which input failed


def test_check_value_never_reveals_the_answer():
    from dlcourse.exercises import check_value

    feedback = check_value("q", 7, 42, hint="think")
    assert not feedback.passed and "too low" in feedback.message and "42" not in str(feedback)
    feedback = check_value("q", [1.0, 2.0, 3.0], [1.0, 2.0, 4.0], hint="think")
    assert "1 of 3 entries are not right" in feedback.message and "4" not in feedback.message
    feedback = check_value("q", 40, 42, hint="think", mistakes=[(40, "off by two")])
    assert feedback.hint == "off by two"
    assert check_value("q", None, 42, hint="think").message.startswith("Your function returned None")


def test_a_mistake_that_cannot_apply_does_not_sink_the_feedback():
    from dlcourse.exercises import Case, Mistake, check_function

    def crashes(x):
        raise ValueError("shapes")

    feedback = check_function(
        "f",
        lambda x: x + 1,
        lambda x: 2 * x,
        [Case((np.array([1.0, 2.0]),), "x = [1, 2]")],
        hint="double it",
        mistakes=[Mistake(crashes, "never shown"), Mistake(lambda x: x + 1, "you added one")],
    )
    assert feedback.hint == "you added one"


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)


def test_discovery_finds_every_exercise_of_every_chapter():
    """Each chapter's checkers are found by name, so a new exercise is tested without being listed."""
    import importlib

    for n in range(1, 10):
        module = importlib.import_module(f"dlcourse.exercises.ch0{n}")
        found = {checker.__name__ for checker, _ in discover(module)}
        defined = {
            k
            for k, v in vars(module).items()
            if k.startswith("check_") and getattr(v, "__module__", "") == module.__name__
        }
        assert found == defined - {"check_and_gate"}, (n, sorted(defined - found))
        assert len(found) >= 4, n
