"""Chapter 8 exercises: every solution passes, typical wrong answers get their hints, checkers never raise."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import torch

from dlcourse.exercises import ch08, ch08_more, core, running, tracking
from dlcourse.gradcheck import numerical_gradient
from dlcourse.numpy import lstm, optim, rnn
from dlcourse.numpy.layers import Parameter
from dlcourse.text import softmax_with_temperature

from .exercise_suite import discover, raises_boom, standard_tests

SOLUTIONS = discover(ch08, ch08_more)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]
MORE = [(c, s) for c, s in SOLUTIONS if c.__module__ == ch08_more.__name__]


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


@pytest.mark.parametrize("n, d, hidden", [(2, 3, 2), (1, 5, 4), (4, 2, 3)])
def test_gru_solution_agrees_with_torch_gru_cell(n, d, hidden):
    """The exercise's equations are torch.nn.GRUCell's: same layout (r, z, n), same place of the reset gate."""
    torch.manual_seed(n + d + hidden)
    cell = torch.nn.GRUCell(d, hidden).double()
    params = {name: p.detach().numpy() for name, p in cell.named_parameters()}
    rng = np.random.default_rng(hidden)
    x, h = rng.normal(size=(n, d)), rng.normal(size=(n, hidden))
    want = cell(torch.tensor(x), torch.tensor(h)).detach().numpy()
    np.testing.assert_allclose(ch08.solution_gru_step(x, h, params), want, rtol=1e-12, atol=1e-14)


def test_the_fixed_lstm_agrees_with_torch_and_the_package():
    torch.manual_seed(3)
    layer = torch.nn.LSTM(3, 4).double()
    w = {name.removesuffix("_l0"): p.detach().numpy() for name, p in layer.named_parameters()}
    rng = np.random.default_rng(3)
    x, h0, c0 = rng.normal(size=(5, 2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    out, (h_t, c_t) = layer(torch.tensor(x), (torch.tensor(h0)[None], torch.tensor(c0)[None]))
    h, c = ch08.solution_fix_lstm(x, h0, c0, w["weight_ih"], w["weight_hh"], w["bias_ih"], w["bias_hh"])
    np.testing.assert_allclose(h, h_t[0].detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c, c_t[0].detach().numpy(), rtol=1e-12, atol=1e-14)
    h_pkg, c_pkg = _lstm_with_the_package(x, h0, c0, w["weight_ih"], w["weight_hh"], w["bias_ih"], w["bias_hh"])
    np.testing.assert_allclose(h, h_pkg, rtol=1e-10)
    np.testing.assert_allclose(c, c_pkg, rtol=1e-10)


def test_grad_norm_after_matches_backpropagation_through_a_linear_rnn():
    """The exercise's formula is what autograd computes through the linear recurrence, and what
    float64 finite differences of the loss <grad, h_T> give."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(3, 3)) * 0.5
    g = rng.normal(size=3)
    hs = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    h = hs
    for _ in range(4):
        h = h @ torch.tensor(w).T
    h.backward(torch.tensor(g)[None])
    assert ch08.solution_grad_norm_after(g, w, 4) == pytest.approx(np.linalg.norm(hs.grad.numpy()), rel=1e-12)

    def loss(start):
        out = start
        for _ in range(4):
            out = out @ w.T
        return float(out @ g)

    numeric = numerical_gradient(loss, np.zeros(3))
    assert ch08.solution_grad_norm_after(g, w, 4) == pytest.approx(np.linalg.norm(numeric), rel=1e-6)


def test_other_correct_answers_pass():
    assert ch08.check_lstm_parameters(lambda d, h: 4 * h * (d + h + 2)).passed
    assert ch08.check_grad_norm_after(
        lambda g, w, k: np.linalg.norm(np.asarray(g) @ np.linalg.matrix_power(w, k))
    ).passed
    assert ch08.check_clip_by_norm(
        lambda gs, m: [g * min(1, m / np.sqrt(sum((a**2).sum() for a in gs))) for g in gs]
    ).passed
    assert ch08.check_softmax_temperature(lambda z, t: np.exp(z / t - np.logaddexp.reduce(z / t))).passed
    assert ch08.check_lstm_parameters(lambda d, h: np.int64(4) * h * (d + h + 2)).passed


def lstm_parameters(input_size, hidden_size):
    """A correct answer with a variable named like a forbidden attribute (issue 16 review)."""
    d, h = input_size, hidden_size
    parameters = 4 * h * (d + h + 2)
    return parameters


def softmax(z):
    """The learner's own softmax helper: a name of theirs, not the package's."""
    e = np.exp(z - np.max(z))
    return e / e.sum()


def softmax_temperature(logits, temperature):
    return softmax(np.asarray(logits, dtype=float) / temperature)


def clip_by_norm(grads, max_norm):
    """Correct, with no guard for a zero norm: max_norm / 0 is inf, and min(1, inf) is 1."""
    total = np.sqrt(sum(np.sum(g * g) for g in grads))
    with np.errstate(divide="ignore"):
        scale = min(1.0, max_norm / total)
    return [g * scale for g in grads]


@pytest.mark.parametrize(
    "checker, answer",
    [
        (ch08.check_lstm_parameters, lstm_parameters),
        (ch08.check_softmax_temperature, softmax_temperature),
        (ch08.check_clip_by_norm, clip_by_norm),
    ],
    ids=["a variable named parameters", "own softmax helper", "no zero guard"],
)
def test_correct_answers_with_names_of_their_own_pass(checker, answer):
    feedback = checker(answer)
    assert feedback.passed, str(feedback)


def test_an_answer_that_calls_the_folded_clip_fails(monkeypatch):
    """clip_by_norm has its own flow around check_function: it too refuses an answer that is right only
    because it calls the solution, and still passes the solution itself."""
    monkeypatch.setattr(core, "REFUSE_WRAPPED_SOLUTIONS", True)

    def wrapper(grads, max_norm):
        return ch08.solution_clip_by_norm(grads, max_norm)

    feedback = ch08.check_clip_by_norm(wrapper)
    assert not feedback.passed and "folded solution" in feedback.message, str(feedback)
    assert ch08.check_clip_by_norm(ch08.solution_clip_by_norm).passed
    assert ch08.check_clip_by_norm(clip_by_norm).passed


def _softmax_max_first(logits, temperature):
    e = np.exp((logits - np.max(logits)) / temperature)  # underflows to 0 for the smallest score of 800
    return e / np.sum(e)


def _softmax_logaddexp(logits, temperature):
    scaled = np.asarray(logits) / temperature
    return np.exp(scaled - np.logaddexp.reduce(scaled))


@pytest.mark.parametrize("answer", [_softmax_max_first, _softmax_logaddexp, ch08.solution_softmax_temperature])
def test_a_correct_softmax_passes_whatever_the_learners_error_settings(answer):
    """Issue 16: under np.seterr(all="raise") and warnings raised as errors, a correct answer whose
    exp underflows (e ** -1600) still passes, with no hint."""
    old = np.seterr(all="raise")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            feedback = ch08.check_softmax_temperature(answer)
    finally:
        np.seterr(**old)
    assert feedback.passed and feedback.hint == "", str(feedback)


def test_no_softmax_case_has_temperature_one():
    """At temperature 1 multiplying by the temperature is the right answer, so its hint would blame a
    correct answer that failed for another reason: no case uses it, and the mistake refuses it."""
    seen = []

    def spy(logits, temperature):
        seen.append(float(temperature))
        return ch08.solution_softmax_temperature(logits, temperature)

    assert ch08.check_softmax_temperature(spy).passed
    assert seen and 1.0 not in seen
    with pytest.raises(ValueError):
        ch08._times_temperature(np.array([1.0, 2.0]), 1.0)
    tracking.reset_attempts()
    feedback = ch08.check_softmax_temperature(lambda z, t: ch08.solution_softmax_temperature(z, t)[None])
    assert not feedback.passed and "multiplied" not in " ".join(feedback.hints), str(feedback)


def _no_max(z, t):
    e = np.exp(np.asarray(z) / t)
    return e / e.sum()


def _silenced(z, t):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(np.asarray(z) / t)
        return np.nan_to_num(e / e.sum())


def _rnn_from_package(x, h, wi, wh, bi, bh):
    return rnn.rnn_step_forward(x, h, wi, wh, bi, bh)[0]


def _count_with_torch(d, h):
    return sum(p.numel() for p in torch.nn.LSTM(d, h).parameters())


def _count_with_the_package(d, h):
    layer = lstm.LSTM(d, h)
    return sum(int(np.size(p.data)) for p in layer.parameters())


def _count_off_a_little(d, h):
    return 4 * h * (d + h + 2) + 0.05


def _grad_with_autograd(g, w, k):
    start = torch.zeros(1, len(g), dtype=torch.float64, requires_grad=True)
    h = start
    for _ in range(k):
        h = h @ torch.tensor(w).T
    (h * torch.tensor(g)).sum().backward()
    return float(start.grad.norm())


def _grad_with_finite_differences(g, w, k):
    def loss(start):
        out = start
        for _ in range(k):
            out = out @ w.T
        return float(out @ g)

    return float(np.linalg.norm(numerical_gradient(loss, np.zeros(len(g)))))


def _clip_zero_over_zero(grads, max_norm):
    total = np.sqrt(sum(np.sum(g * g) for g in grads))
    return [g * min(total, max_norm) / total for g in grads]


def _clip_with_the_package(grads, max_norm):
    params = [Parameter(np.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.copy()
    optim.clip_grad_norm(params, max_norm)
    return [p.grad for p in params]


def _gru_with_torch(x, h, params):
    cell = torch.nn.GRUCell(x.shape[1], h.shape[1]).double()
    cell.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    return cell(torch.tensor(x), torch.tensor(h)).detach().numpy()


def _gru_with_a_torch_function(x, h, params):
    p = {k: torch.tensor(v) for k, v in params.items()}
    out = torch.gru_cell(torch.tensor(x), torch.tensor(h), p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
    return out.numpy()


def _gru_through_importlib(x, h, params):
    import importlib

    library = importlib.import_module("tor" + "ch")
    p = {k: library.tensor(v) for k, v in params.items()}
    args = (library.tensor(x), library.tensor(h), p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
    return library.gru_cell(*args).numpy()


def broken_lstm(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh):
    """The chapter's stub, with its bug: the row blocks unpacked in the wrong order."""
    h, c = h0, c0
    for x_t in x:  # x: (T, N, D)
        z = x_t @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh  # (N, 4H)
        i, f, o, g = np.split(z, 4, axis=1)  # four (N, H) blocks
        i, f, o = (1 / (1 + np.exp(-a)) for a in (i, f, o))
        g = np.tanh(g)
        c = f * c + i * g
        h = o * np.tanh(c)
    return h, c


def _lstm_with_the_package(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = h0, c0
    for x_t in x:
        h, c, _ = lstm.lstm_step_forward(x_t, h, c, weight_ih, weight_hh, bias_ih, bias_hh)
    return h, c


# (checker, typical wrong answer, words its hint contains at some stage)
WRONG = [
    (ch08.check_rnn_step, lambda x, h, wi, wh, bi, bh: x @ wi.T + bi + h @ wh.T + bh, "applies tanh"),
    (ch08.check_rnn_step, lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi.T + bi + bh), "no feedback loop"),
    (ch08.check_rnn_step, lambda x, h, wi, wh, bi, bh: 1 / (1 + np.exp(-(x @ wi.T + bi + h @ wh.T + bh))), "sigmoid"),
    (ch08.check_rnn_step, lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi.T + h @ wh.T + bi), "bias_hh is missing"),
    (ch08.check_rnn_step, lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi.T + h @ wh.T + bh), "bias_ih is missing"),
    (ch08.check_rnn_step, lambda x, h, wi, wh, bi, bh: np.tanh(x @ wi + bi + h @ wh + bh), "transposes"),
    (ch08.check_rnn_step, _rnn_from_package, "squashing function"),
    (ch08.check_lstm_parameters, lambda d, h: h * d + h * h + 2 * h, "four blocks"),
    (ch08.check_lstm_parameters, lambda d, h: 3 * (h * d + h * h + 2 * h), "the candidate g"),
    (ch08.check_lstm_parameters, lambda d, h: 4 * (h * d + h * h + h), "two bias vectors"),
    (ch08.check_lstm_parameters, lambda d, h: 4 * (h * d + 2 * h), "recurrent weights"),
    (ch08.check_lstm_parameters, lambda d, h: 4 * (h * d + h * h), "Add the biases"),
    (ch08.check_lstm_parameters, _count_with_torch, "sum of their sizes"),
    (ch08.check_lstm_parameters, _count_with_the_package, "sum of their sizes"),
    (ch08.check_lstm_parameters, lambda d, h: 4.0 * h * (d + h + 2), "whole number"),
    (ch08.check_lstm_parameters, _count_off_a_little, "keep to integers"),
    (ch08.check_softmax_temperature, lambda z, t: np.exp(z * t) / np.exp(z * t).sum(), "multiplied by the temperature"),
    (ch08.check_softmax_temperature, lambda z, t: np.exp(np.asarray(z) / t), "add up to 1"),
    (ch08.check_softmax_temperature, _no_max, "overflow"),
    (ch08.check_softmax_temperature, ch08._ignores_temperature, "plain softmax"),
    (ch08.check_softmax_temperature, softmax_with_temperature, "ordinary softmax"),
    (ch08.check_softmax_temperature, _silenced, "ordinary softmax"),
    (
        ch08.check_grad_norm_after,
        lambda g, w, k: np.linalg.norm(g @ np.linalg.matrix_power(w.T, k)),
        "first index of W",
    ),
    (ch08.check_grad_norm_after, lambda g, w, k: np.linalg.norm(g @ np.linalg.matrix_power(w, k + 1)), "too many"),
    (ch08.check_grad_norm_after, lambda g, w, k: g @ np.linalg.matrix_power(w, k), "Euclidean norm"),
    (ch08.check_grad_norm_after, lambda g, w, k: np.linalg.norm(k * (g @ w)), "a power"),
    (ch08.check_grad_norm_after, _grad_with_autograd, "differentiate it"),
    (ch08.check_grad_norm_after, _grad_with_finite_differences, "chain rule"),
    (ch08.check_clip_by_norm, lambda gs, m: [np.clip(g, -m, m) for g in gs], "direction"),
    (ch08.check_clip_by_norm, lambda gs, m: [g * min(1, m / np.linalg.norm(g)) for g in gs], "each array on its own"),
    (ch08.check_clip_by_norm, lambda gs, m: [g * m / np.sqrt(sum((a**2).sum() for a in gs)) for g in gs], "left alone"),
    (ch08.check_clip_by_norm, _clip_with_the_package, "one norm over all the gradients"),
    (ch08.check_clip_by_norm, _clip_zero_over_zero, "0 / 0 is NaN"),
    (ch08.check_gru_step, ch08_more._gru_wrong("update swapped"), "z weighs the old state"),
    (ch08.check_gru_step, ch08_more._gru_wrong("reset outside the bias"), "bias b_hn included"),
    (ch08.check_gru_step, ch08_more._gru_wrong("reset before the product"), "original GRU paper"),
    (ch08.check_gru_step, ch08_more._gru_wrong("blocks"), "read each other's rows"),
    (ch08.check_gru_step, ch08_more._gru_wrong("sigmoid candidate"), "the candidate tanh"),
    (ch08.check_gru_step, _gru_with_torch, "which rows of the weights"),
    (ch08.check_gru_step, _gru_with_a_torch_function, "which rows of the weights"),
    (ch08.check_gru_step, _gru_through_importlib, "which rows of the weights"),
    (ch08.check_fix_lstm, broken_lstm, "order of the row blocks"),
    (ch08.check_fix_lstm, ch08_more._lstm_wrong("figo"), "input and forget gates"),
    (ch08.check_fix_lstm, ch08_more._lstm_wrong(h_reads_c=True), "squashed by tanh"),
    (ch08.check_fix_lstm, ch08_more._lstm_wrong(swap_outputs=True), "hidden state first"),
    (ch08.check_fix_lstm, _lstm_with_the_package, "first quantity that differs"),
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
        (_clip_flattened, "of shape (1, 1), got shape (1,)"),
        (lambda grads, m: ch08.solution_clip_by_norm(grads, m)[:1], "got a list of 1 item."),
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


def test_notebook_stubs_get_their_targeted_first_hints():
    """The chapter's stubs are wrong on purpose; their stored feedback is a first-stage nudge."""
    tracking.reset_attempts()
    feedback = ch08.check_lstm_parameters(lambda d, h: h * d + h**2 + 2 * h)  # a vanilla RNN's count
    assert not feedback.passed and feedback.stage == 0 and "quarter" not in feedback.hint, str(feedback)
    assert "quarter" in feedback.hints[1]
    feedback = ch08.check_fix_lstm(broken_lstm)
    assert not feedback.passed and feedback.stage == 0 and "inside the step" in feedback.hint, str(feedback)
    assert "T = 1" in feedback.message
    for stage in (1, 2):
        assert ch08.check_fix_lstm(broken_lstm).stage == stage
    for checker in (
        ch08.check_gru_step,
        ch08.check_rnn_step,
        ch08.check_lstm_parameters,
        ch08.check_softmax_temperature,
    ):
        feedback = checker(lambda *a: None)
        assert not feedback.passed and "return" in feedback.hint, str(feedback)


def test_one_step_short_gets_its_hint():
    def short(g, w, k):
        out = np.asarray(g, dtype=float)
        for _ in range(k - 1):
            out = out @ w
        return np.linalg.norm(out)

    feedback = ch08.check_grad_norm_after(short)
    assert not feedback.passed and "One step short" in " ".join(feedback.hints), str(feedback)


def test_feedback_never_gives_the_answer_away():
    feedback = ch08.check_lstm_parameters(lambda d, h: 0)
    assert not feedback.passed and "4 * (" not in " ".join(feedback.hints)
    for checker in CHECKERS:
        hints = " ".join(checker(lambda *a: None).hints)
        assert "np.tanh(x @ weight_ih.T" not in hints and "(1 - z) * n" not in hints


def test_exception_inside_learner_code_is_reported():
    feedback = ch08.check_rnn_step(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message and "x (2, 3)" in feedback.message


# tests/test_exercise_hostile.py discovers the checkers defined in ch01 ... ch10 only; the same
# hostile answers for those defined in ch08_more:


def _busy_loop(*args):
    while True:
        pass


@pytest.mark.parametrize(("checker", "solution"), MORE, ids=[c.__name__ for c, _ in MORE])
def test_more_checkers_survive_hostile_answers(checker, solution, monkeypatch):
    monkeypatch.setattr(running, "TIME_LIMIT_S", 0.3)
    start = time.perf_counter()
    feedback = checker(_busy_loop)
    assert not feedback.passed and time.perf_counter() - start < 3.5
    for answer in (
        lambda *a: (_ for _ in ()).throw(SystemExit(1)),
        lambda *a: [np.asarray(p) + 0.5j for p in solution(*a)] if isinstance(solution(*a), (tuple, list)) else 1j,
        lambda *a: np.asarray(solution(*a), dtype=float) * 1.01 + 0.01,
        lambda *a: [np.asarray(solution(*a), dtype=float)],
    ):
        feedback = checker(answer)
        assert not feedback.passed and feedback.message[0].isupper() and feedback.hint, str(feedback)
    calls = []

    def counted(*args):
        calls.append(1)
        return solution(*args)

    old = np.seterr(all="raise")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            feedback = checker(counted)
    finally:
        np.seterr(**old)
    assert feedback.passed, str(feedback)
    assert f"All {len(calls)} test cases pass" in feedback.message  # the answer runs once per case


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)
