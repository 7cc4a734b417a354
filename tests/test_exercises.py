"""Every solution passes its checker, each typical wrong answer gets its hint, and a checker never raises."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from dlcourse.exercises import ch01, ch02

from .strategies import garbage, raises_boom

SOLUTIONS = [
    (ch01.check_count_parameters, ch01.solution_count_parameters),
    (ch01.check_matmul_flops, ch01.solution_matmul_flops),
    (ch01.check_matmul_loops, ch01.solution_matmul_loops),
    (ch01.check_deep_models, ch01.solution_deep_models),
    (ch02.check_neuron, ch02.solution_neuron),
    (ch02.check_sigmoid, ch02.solution_sigmoid),
    (ch02.check_relu_derivative, ch02.solution_relu_derivative),
    (ch02.check_perceptron_update, ch02.solution_perceptron_update),
]
CHECKERS = [checker for checker, _ in SOLUTIONS]


@pytest.mark.parametrize("checker, solution", SOLUTIONS, ids=lambda f: getattr(f, "__name__", ""))
def test_solution_passes(checker, solution):
    feedback = checker(solution)
    assert feedback.passed, str(feedback)
    assert feedback.hint == ""


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


@pytest.mark.parametrize("checker, wrong, hint", WRONG, ids=[w[2] for w in WRONG])
def test_typical_wrong_answer_gets_its_hint(checker, wrong, hint):
    feedback = checker(wrong)
    assert not feedback.passed
    assert hint in feedback.hint, str(feedback)
    assert "expected" in feedback.message or "returned" in feedback.message or "warned" in feedback.message


def test_wrong_answers_to_value_exercises():
    feedback = ch02.check_and_gate([1.0, 1.0], -0.5)
    assert not feedback.passed and "OR" in feedback.hint
    feedback = ch01.check_deep_models({"LSTM", "decision tree"})
    assert (
        not feedback.passed
        and "decision tree" in feedback.message
        and "3 right entries are missing" in feedback.message
    )
    assert "convolutional" not in str(feedback)  # the feedback never gives the answer away


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda f: f.__name__)
@given(answer=garbage)
def test_checker_never_raises(checker, answer):
    feedback = checker(answer)
    assert not feedback.passed
    assert feedback.message and feedback.hint
    assert "Not yet" in str(feedback) and "Not yet" in feedback._repr_html_()


@given(weight=garbage, bias=garbage)
def test_and_gate_checker_never_raises(weight, bias):
    feedback = ch02.check_and_gate(weight, bias)
    assert not feedback.passed and feedback.hint


def test_exception_inside_learner_code_is_reported():
    feedback = ch02.check_sigmoid(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message
    assert "x = [-2, 0, 2]" in feedback.message  # which input failed
