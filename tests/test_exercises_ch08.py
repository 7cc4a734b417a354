"""Chapter 8 exercises: every solution passes, typical wrong answers get their hints, checkers never raise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcourse.exercises import ch08
from dlcourse.numpy import optim, rnn
from dlcourse.numpy.layers import Parameter
from dlcourse.text import softmax_with_temperature

from .exercise_suite import discover, raises_boom, standard_tests

SOLUTIONS = discover(ch08)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]


def test_solutions_agree_with_the_package_and_torch():
    rng = np.random.default_rng(0)
    x, h, wi, wh, bi, bh = (rng.normal(size=s) for s in [(3, 2), (3, 4), (4, 2), (4, 4), (4,), (4,)])
    np.testing.assert_allclose(
        ch08.solution_rnn_step(x, h, wi, wh, bi, bh), rnn.rnn_step_forward(x, h, wi, wh, bi, bh)[0]
    )
    for d, hidden in [(1, 1), (83, 256), (7, 3)]:
        count = sum(p.numel() for p in torch.nn.LSTM(d, hidden).parameters())
        assert ch08.solution_lstm_parameters(d, hidden) == count
    z = np.array([3.0, -1.0, 0.5])
    np.testing.assert_allclose(ch08.solution_softmax_temperature(z, 0.7), softmax_with_temperature(z, 0.7))
    grads = [rng.normal(size=(2, 3)) * 5, rng.normal(size=4) * 5]
    params = [Parameter(np.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.copy()
    optim.clip_grad_norm(params, 1.5)
    for ours, p in zip(ch08.solution_clip_by_norm(grads, 1.5), params, strict=True):
        np.testing.assert_allclose(ours, p.grad, rtol=1e-5)


def test_grad_norm_after_matches_backpropagation_through_a_linear_rnn():
    """The exercise's formula is what rnn_backward computes when tanh is (nearly) linear."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(3, 3)) * 0.5
    g = rng.normal(size=3)
    hs = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    h = hs
    for _ in range(4):
        h = h @ torch.tensor(w).T
    h.backward(torch.tensor(g)[None])
    assert ch08.solution_grad_norm_after(g, w, 4) == pytest.approx(np.linalg.norm(hs.grad.numpy()), rel=1e-12)


def test_other_correct_answers_pass():
    assert ch08.check_lstm_parameters(lambda d, h: 4 * h * (d + h + 2)).passed
    assert ch08.check_grad_norm_after(
        lambda g, w, k: np.linalg.norm(np.asarray(g) @ np.linalg.matrix_power(w, k))
    ).passed
    assert ch08.check_clip_by_norm(
        lambda gs, m: [g * min(1, m / np.sqrt(sum((a**2).sum() for a in gs))) for g in gs]
    ).passed
    assert ch08.check_softmax_temperature(lambda z, t: np.exp(z / t - np.logaddexp.reduce(z / t))).passed


def _no_max(z, t):
    e = np.exp(np.asarray(z) / t)
    return e / e.sum()


# (checker, typical wrong answer, words the targeted hint must contain)
WRONG = [
    (ch08.check_rnn_step, lambda x, h, wi, wh, bi, bh: x @ wi.T + bi + h @ wh.T + bh, "applies tanh"),
    (ch08.check_rnn_step, lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi.T + bi + bh), "no feedback loop"),
    (ch08.check_rnn_step, lambda x, h, wi, wh, bi, bh: 1 / (1 + np.exp(-(x @ wi.T + bi + h @ wh.T + bh))), "sigmoid"),
    (ch08.check_rnn_step, lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi.T + h @ wh.T + bi), "bias_hh is missing"),
    (ch08.check_rnn_step, lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi.T + h @ wh.T + bh), "bias_ih is missing"),
    (ch08.check_rnn_step, lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi + bi + h @ wh + bh), "transposes"),
    (ch08.check_lstm_parameters, lambda d, h: h * d + h * h + 2 * h, "four blocks"),
    (ch08.check_lstm_parameters, lambda d, h: 3 * (h * d + h * h + 2 * h), "the candidate g"),
    (ch08.check_lstm_parameters, lambda d, h: 4 * (h * d + h * h + h), "two bias vectors"),
    (ch08.check_lstm_parameters, lambda d, h: 4 * (h * d + 2 * h), "recurrent weights"),
    (ch08.check_lstm_parameters, lambda d, h: 4 * (h * d + h * h), "Add the biases"),
    (ch08.check_softmax_temperature, lambda z, t: np.exp(z * t) / np.exp(z * t).sum(), "Divide by it"),
    (ch08.check_softmax_temperature, lambda z, t: np.exp(np.asarray(z) / t), "add up to 1"),
    (ch08.check_softmax_temperature, _no_max, "overflow"),
    (ch08.check_grad_norm_after, lambda g, w, k: np.linalg.norm(g @ np.linalg.matrix_power(w.T, k)), "transposed"),
    (ch08.check_grad_norm_after, lambda g, w, k: np.linalg.norm(g @ np.linalg.matrix_power(w, k + 1)), "too many"),
    (ch08.check_grad_norm_after, lambda g, w, k: g @ np.linalg.matrix_power(w, k), "Euclidean norm"),
    (ch08.check_grad_norm_after, lambda g, w, k: np.linalg.norm(k * (g @ w)), "a power"),
    (ch08.check_clip_by_norm, lambda gs, m: [np.clip(g, -m, m) for g in gs], "direction"),
    (ch08.check_clip_by_norm, lambda gs, m: [g * min(1, m / np.linalg.norm(g)) for g in gs], "each array on its own"),
    (ch08.check_clip_by_norm, lambda gs, m: [g * m / np.sqrt(sum((a**2).sum() for a in gs)) for g in gs], "left alone"),
]


def _clip_in_place(grads, max_norm):
    total = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
    for g in grads:
        g *= min(1.0, max_norm / total)
    return grads


def _clip_flattened(grads, max_norm):
    return [g.ravel() for g in ch08.solution_clip_by_norm(grads, max_norm)]


def _clip_replaces_entries(grads, max_norm):
    grads[:] = ch08.solution_clip_by_norm(grads, max_norm)
    return grads


@pytest.mark.parametrize(
    "answer, words",
    [
        (_clip_in_place, "changed the gradients"),
        (_clip_replaces_entries, "changed the gradients"),
        (_clip_flattened, "shapes"),
        (lambda grads, m: ch08.solution_clip_by_norm(grads, m)[:1] if len(grads) > 1 else grads, "one per gradient"),
    ],
    ids=["in place", "replaces list entries", "flattened", "drops an array"],
)
def test_clip_checks_shapes_and_leaves_the_inputs_alone(answer, words):
    """Right values are not enough: the arrays keep their shapes and the caller's gradients stay unchanged."""
    feedback = ch08.check_clip_by_norm(answer)
    assert not feedback.passed and words in feedback.message, str(feedback)
    assert "expected" in feedback.message and feedback.hint


def test_clip_accepts_returning_the_inputs_when_no_clipping_is_needed():
    def lazy(grads, max_norm):
        total = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
        return grads if total <= max_norm else [g * (max_norm / total) for g in grads]

    assert ch08.check_clip_by_norm(lazy).passed


def test_notebook_stub_for_lstm_parameters_gets_a_targeted_hint():
    """The chapter's stub counts a vanilla RNN layer; its stored feedback must be the targeted hint."""
    feedback = ch08.check_lstm_parameters(lambda d, h: h * d + h**2 + 2 * h)
    assert not feedback.passed and "vanilla RNN" in feedback.hint, str(feedback)


def test_one_step_short_gets_its_hint():
    def short(g, w, k):
        out = np.asarray(g, dtype=float)
        for _ in range(k - 1):
            out = out @ w
        return np.linalg.norm(out)

    feedback = ch08.check_grad_norm_after(short)
    assert not feedback.passed and "One step short" in feedback.hint, str(feedback)


def test_feedback_never_gives_the_answer_away():
    feedback = ch08.check_lstm_parameters(lambda d, h: 0)
    assert not feedback.passed and "4 * (" not in feedback.hint
    for checker in CHECKERS:
        assert "np.tanh(x @ weight_ih.T" not in checker(lambda *a: None).hint


def test_exception_inside_learner_code_is_reported():
    feedback = ch08.check_rnn_step(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message and "x (2, 3)" in feedback.message


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)
