"""Chapter 5 exercises: every solution passes, typical wrong answers get their hints, checkers never raise."""

from __future__ import annotations

import numpy as np

from dlcourse.exercises import ch05
from dlcourse.numpy import activations
from dlcourse.numpy import layers as L

from .exercise_suite import discover, raises_boom, standard_tests

SOLUTIONS = discover(ch05)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]


def test_count_parameters_solution_passes():
    feedback = ch05.check_count_parameters(ch05.solution_count_parameters())
    assert feedback.passed and feedback.hint == "", str(feedback)
    assert ch05.check_count_parameters(784 * 256 + 256 + 256 * 10 + 10).passed


def test_linear_solutions_agree_with_the_package():
    rng = np.random.default_rng(0)
    x, w, b, g = rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(5, 4))
    out, cache = L.linear_forward(x, w, b)
    np.testing.assert_allclose(ch05.solution_linear_forward(x, w, b), out)
    for ours, theirs in zip(ch05.solution_linear_backward(g, x, w), L.linear_backward(g, cache), strict=True):
        np.testing.assert_allclose(ours, theirs)
    assert ch05.solution_weight_shape(2, 3) == L.Linear(2, 3, rng).weight.shape


def test_sigmoid_chain_matches_finite_differences():
    x, w, eps = np.array([-2.0, 0.5, 3.0]), 0.7, 1e-6
    numeric = (activations.sigmoid((w + eps) * x) - activations.sigmoid((w - eps) * x)) / (2 * eps)
    np.testing.assert_allclose(ch05.solution_sigmoid_chain(x, w), numeric, rtol=1e-7)


def _outer(x, w):
    s = activations.sigmoid(np.asarray(w * np.asarray(x, dtype=float)))
    return s * (1 - s)


# (checker, typical wrong answer, words the targeted hint must contain)
WRONG = [
    (ch05.check_weight_shape, lambda n_in, n_out: (n_out, n_in), "transpose"),
    (ch05.check_linear_forward, lambda x, w, b: x @ w.T + b, "without transposing"),
    (ch05.check_linear_forward, lambda x, w, b: x @ w, "bias is missing"),
    (ch05.check_linear_forward, lambda x, w, b: x @ w.T, "Two things"),
    (ch05.check_linear_forward, lambda x, w, b: None, "return"),
    (ch05.check_linear_backward, lambda g, x, w: (g @ w.T, g.T @ x, g.sum(axis=0)), "dW is transposed"),
    (ch05.check_linear_backward, lambda g, x, w: (g @ w.T, x.T @ g, g), "add up their contributions"),
    (ch05.check_linear_backward, lambda g, x, w: (g @ w.T, x.T @ g, g.mean(axis=0)), "not average"),
    (ch05.check_sigmoid_chain, _outer, "inner derivative"),
    (ch05.check_sigmoid_chain, lambda x, w: _outer(x, w) * w, "with respect to w"),
    (ch05.check_sigmoid_chain, lambda x, w: activations.sigmoid(w * np.asarray(x)) * x, "not its own derivative"),
]


def test_transposed_dw_on_a_square_case_still_gets_its_hint():
    """The first case is not square, so the shape check fires; on square cases the values must."""
    feedback = ch05.check_linear_backward(
        lambda g, x, w: (g @ w.T, (g.T @ x) if w.shape[0] == w.shape[1] else x.T @ g, g.sum(axis=0))
    )
    assert not feedback.passed and "dW is transposed" in feedback.hint, str(feedback)


def test_dx_through_untransposed_weights_gets_its_hint():
    # Only the square case lets dout @ W run; on the others the answer raises and is reported.
    feedback = ch05.check_linear_backward(
        lambda g, x, w: (g @ w if w.shape[0] == w.shape[1] else g @ w.T, x.T @ g, g.sum(axis=0))
    )
    assert not feedback.passed and "transposed weights" in feedback.hint, str(feedback)


def test_wrong_answers_to_the_count():
    weights = 784 * 256 + 256 * 10
    feedback = ch05.check_count_parameters(weights)
    assert not feedback.passed and "weights only" in feedback.hint
    feedback = ch05.check_count_parameters(weights + 266 + 784)
    assert not feedback.passed and "input layer has no bias" in feedback.hint
    feedback = ch05.check_count_parameters(12)
    assert not feedback.passed and "expected" in feedback.message.lower()
    assert str(weights + 266) not in str(feedback)  # the feedback never gives the answer away


def test_hints_do_not_give_the_answer_away():
    for checker in CHECKERS:
        feedback = checker(lambda *a: None)
        assert "x.T @ dout" not in feedback.hint and "x @ weight + bias" not in feedback.hint


def test_exception_inside_learner_code_is_reported():
    feedback = ch05.check_linear_backward(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message
    assert "dout (4, 3)" in feedback.message  # which input failed


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)
