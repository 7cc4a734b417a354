"""Chapter 7 exercises: every solution passes, typical wrong answers get their hints, checkers never raise,
and the reference gradients agree with float64 finite differences and with torch.autograd."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcourse.exercises import ch07, ch07_more, running, tracking
from dlcourse.gradcheck import numerical_gradient
from dlcourse.numpy import conv as npc

from . import test_exercise_hostile as hostile
from .exercise_suite import discover, raises_boom, standard_tests

SOLUTIONS = discover(ch07, ch07_more)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]


def test_solutions_agree_with_the_package_and_torch():
    rng = np.random.default_rng(0)
    for size, kernel, stride, padding in [(28, 5, 1, 2), (9, 3, 2, 0), (10, 4, 3, 1)]:
        assert ch07.solution_output_size(size, kernel, stride, padding) == npc.conv2d_output_size(
            size, kernel, stride, padding
        )
    image, kernel = rng.normal(size=(6, 7)), rng.normal(size=(3, 2))
    expected = F.conv2d(torch.tensor(image)[None, None], torch.tensor(kernel)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ch07.solution_conv2d_single(image, kernel), expected, rtol=1e-12)
    x, dout = rng.normal(size=(6, 4)), rng.normal(size=(3, 2))
    _, cache = npc.maxpool2d_forward(x[None, None], 2)
    np.testing.assert_allclose(
        ch07.solution_maxpool_backward(x, dout), npc.maxpool2d_backward(dout[None, None], cache)[0, 0]
    )
    layer = npc.Conv2d(6, 16, 5, rng)
    assert ch07.solution_conv_params(6, 16, 5) == sum(p.data.size for p in layer.parameters())


def test_receptive_field_matches_autograd():
    """The input pixels that one output unit depends on, found by backpropagating from that unit.

    Average pooling has the receptive field of max pooling, and every pixel of it gets a gradient."""
    x = torch.zeros(1, 1, 40, 40, requires_grad=True)
    h = F.conv2d(x, torch.ones(1, 1, 3, 3))
    h = F.avg_pool2d(h, 2)
    h = F.conv2d(h, torch.ones(1, 1, 3, 3))
    h = F.avg_pool2d(h, 2)
    h[0, 0, 3, 3].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    assert int(rows.max() - rows.min() + 1) == ch07.solution_receptive_field([3, 2, 3, 2], [1, 2, 1, 2])


def test_conv1d_reference_matches_torch_and_finite_differences():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 3, 7)), rng.normal(size=(4, 3, 3)), rng.normal(size=4)
    out = ch07.solution_conv1d_forward(x, w, b)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    reference = F.conv1d(xt, wt, bt)
    np.testing.assert_allclose(out, reference.detach().numpy(), rtol=1e-12, atol=1e-12)

    dout = rng.normal(size=out.shape)  # L = sum(out * dout) has dL/dout = dout
    reference.backward(torch.tensor(dout))
    dx, dw, db = ch07.solution_conv1d_backward(dout, x, w)
    for ours, autograd in zip((dx, dw, db), (xt.grad, wt.grad, bt.grad), strict=True):
        np.testing.assert_allclose(ours, autograd.numpy(), rtol=1e-10, atol=1e-12)

    def loss(x_, w_, b_):
        return float(np.sum(ch07.solution_conv1d_forward(x_, w_, b_) * dout))

    numeric = (
        numerical_gradient(lambda v: loss(v, w, b), x),
        numerical_gradient(lambda v: loss(x, v, b), w),
        numerical_gradient(lambda v: loss(x, w, v), b),
    )
    for ours, estimate in zip((dx, dw, db), numeric, strict=True):
        np.testing.assert_allclose(ours, estimate, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_strided_backward_matches_torch_and_finite_differences(stride):
    rng = np.random.default_rng(stride)
    x, w = rng.normal(size=(8, 7)), rng.normal(size=(2, 3))
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    out = F.conv2d(xt[None, None], wt[None, None], stride=stride)[0, 0]
    dout = rng.normal(size=tuple(out.shape))
    out.backward(torch.tensor(dout))
    dx, dw = ch07.solution_conv_backward_strided(dout, x, w, stride)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-10, atol=1e-12)

    def loss(x_, w_):
        forward = F.conv2d(torch.tensor(x_)[None, None], torch.tensor(w_)[None, None], stride=stride)[0, 0]
        return float(np.sum(forward.numpy() * dout))

    np.testing.assert_allclose(dx, numerical_gradient(lambda v: loss(v, w), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, numerical_gradient(lambda v: loss(x, v), w), rtol=1e-6, atol=1e-8)


def test_the_broken_backward_is_right_at_stride_one_only():
    rng = np.random.default_rng(2)
    dout, x, w = rng.normal(size=(3, 3)), rng.normal(size=(4, 4)), rng.normal(size=(2, 2))
    for got, want in zip(
        ch07.broken_conv_backward_strided(dout, x, w, 1),
        ch07.solution_conv_backward_strided(dout, x, w, 1),
        strict=True,
    ):
        np.testing.assert_allclose(got, want)
    dout, x5, w3 = rng.normal(size=(2, 2)), rng.normal(size=(5, 5)), rng.normal(size=(3, 3))
    broken_dx, broken_dw = ch07.broken_conv_backward_strided(dout, x5, w3, 2)
    dx, dw = ch07.solution_conv_backward_strided(dout, x5, w3, 2)
    np.testing.assert_allclose(broken_dw, dw)
    assert not np.allclose(broken_dx, dx)


def test_the_notebook_stub_is_the_broken_code():
    """The chapter's debug stub holds exactly the body the checker recognises as the bug."""
    path = Path(__file__).resolve().parents[1] / "chapters" / "07_convolutional_networks.ipynb"
    cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    stub = next(s for s in cells if "def conv_backward_strided(" in s)
    body = inspect.getsource(ch07.broken_conv_backward_strided)
    body = body[body.index('"""The exercise') :].split("\n", 1)[1]

    def lines(text):
        return [re.sub(r"\s+#.*$", "", line).strip() for line in text.splitlines() if line.strip()]

    assert all(line in lines(stub) for line in lines(body))


def test_counts_must_be_whole_numbers():
    def right(n, k, s, p):
        return (n + 2 * p - k) // s + 1

    for whole in (np.int64, np.int32, np.array, torch.tensor, int):
        feedback = ch07.check_output_size(lambda n, k, s, p, whole=whole: whole(right(n, k, s, p)))
        assert feedback.passed, str(feedback)
    floats = [
        lambda n, k, s, p: float(right(n, k, s, p)),
        lambda n, k, s, p: (n + 2 * p - k) / s + 1,
        lambda n, k, s, p: np.float64(right(n, k, s, p)),
        lambda n, k, s, p: torch.tensor(float(right(n, k, s, p))),
        lambda n, k, s, p: np.array(right(n, k, s, p), dtype=float),
        lambda n, k, s, p: True,
    ]
    for answer in floats:
        feedback = ch07.check_output_size(answer)
        assert not feedback.passed and "whole number" in feedback.message, str(feedback)
        assert "whole number" in feedback.hints[0]
    assert not ch07.check_conv_params(lambda c, f, k: float(f * (c * k * k + 1))).passed
    assert not ch07.check_receptive_field(lambda ks, ss: ch07.solution_receptive_field(ks, ss) + 0.0).passed
    assert ch07.check_receptive_field(lambda ks, ss: np.int64(ch07.solution_receptive_field(ks, ss))).passed


def test_other_correct_answers_pass():
    assert ch07.check_output_size(lambda n, k, s, p: int(np.floor((n + 2 * p - k) / s)) + 1).passed
    assert ch07.check_conv_params(lambda c, f, k: f * c * k * k + f).passed
    assert ch07.check_conv2d_single(
        lambda im, k: npc.conv2d_forward(im[None, None], k[None, None], np.zeros(1))[0][0, 0]
    ).passed
    assert ch07.check_conv1d_forward(_conv1d_by_correlate).passed
    assert ch07.check_conv1d_backward(_conv1d_backward_by_loops).passed


def _conv1d_by_correlate(x, w, b):
    """A learner's forward built from np.correlate, one (image, kernel, channel) at a time."""
    out = np.zeros((x.shape[0], w.shape[0], x.shape[2] - w.shape[2] + 1))
    for n in range(x.shape[0]):
        for f in range(w.shape[0]):
            out[n, f] = b[f] + sum(np.correlate(x[n, c], w[f, c], "valid") for c in range(x.shape[1]))
    return out


def _conv1d_backward_by_loops(dout, x, w):
    """A learner's backward by plain loops over images, kernels and positions."""
    dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros(w.shape[0])
    k = w.shape[2]
    for n in range(x.shape[0]):
        for f in range(w.shape[0]):
            for i in range(dout.shape[2]):
                dw[f] += dout[n, f, i] * x[n, :, i : i + k]
                dx[n, :, i : i + k] += dout[n, f, i] * w[f]
                db[f] += dout[n, f, i]
    return dx, dw, db


def _conv1d_by_convolve(x, w, b):
    """A learner's forward with np.convolve, which reverses the kernel."""
    out = np.zeros((x.shape[0], w.shape[0], x.shape[2] - w.shape[2] + 1))
    for n in range(x.shape[0]):
        for f in range(w.shape[0]):
            out[n, f] = b[f] + sum(np.convolve(x[n, c], w[f, c], "valid") for c in range(x.shape[1]))
    return out


def _conv1d_by_torch(x, w, b):
    """The right values through PyTorch: a forbidden route."""
    return F.conv1d(torch.tensor(x), torch.tensor(w), torch.tensor(b)).numpy()


def _conv1d_backward_by_autograd(dout, x, w):
    """The right gradients through torch.autograd: a forbidden route."""
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
    F.conv1d(xt, wt, bt).backward(torch.tensor(dout))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def _strided_by_autograd(dout, x, w, stride):
    """The right gradients through torch.autograd: a forbidden route."""
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    F.conv2d(xt[None, None], wt[None, None], stride=stride)[0, 0].backward(torch.tensor(dout))
    return xt.grad.numpy(), wt.grad.numpy()


def _stride_first(kernels, strides):
    """A learner's loop that multiplies the spacing by the stride before widening the field."""
    field, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        jump = jump * s
        field = field + (k - 1) * jump
    return field


def _column_major(x, dout):
    """A learner's max-pool backward that reads argmax's flat index as (column, row)."""
    dx = np.zeros_like(x)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            flat = np.argmax(x[2 * i : 2 * i + 2, 2 * j : 2 * j + 2])
            dx[2 * i + flat % 2, 2 * j + flat // 2] = dout[i, j]
    return dx


def _strided(rows, cols, dw_stride, flip=False):
    """A learner's attempt at the repair: dx's window moves by (rows, cols) strides, dw's by dw_stride."""

    def attempt(dout, x, w, stride):
        kh, kw = w.shape
        dx, dw = np.zeros(x.shape), np.zeros(w.shape)
        back = w[::-1, ::-1] if flip else w
        for i in range(dout.shape[0]):
            for j in range(dout.shape[1]):
                r, c = i * dw_stride(stride), j * dw_stride(stride)
                dw += dout[i, j] * x[r : r + kh, c : c + kw]
                r, c = i * rows(stride), j * cols(stride)
                dx[r : r + kh, c : c + kw] += dout[i, j] * back
        return dx, dw

    return attempt


def _same(s):
    return s


def _one(s):
    return 1


def _overwrite_dx(dout, x, w):
    """A learner's backward that writes dx with = where windows overlap."""
    dx, dw, db = ch07.solution_conv1d_backward(dout, x, w)
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        dx[:, :, i : i + w.shape[2]] = np.einsum("nf,fck->nck", dout[:, :, i], w)
    return dx, dw, db


def _mean_over_batch(dout, x, w):
    dx, dw, db = ch07.solution_conv1d_backward(dout, x, w)
    return dx, dw / len(x), db / len(x)


def _last_position_dw(dout, x, w):
    dx, _, db = ch07.solution_conv1d_backward(dout, x, w)
    k, last = w.shape[2], dout.shape[2] - 1
    return dx, np.einsum("nf,nck->fck", dout[:, :, last], x[:, :, last : last + k]), db


def _reversed_dx(dout, x, w):
    _, dw, db = ch07.solution_conv1d_backward(dout, x, w)
    return ch07.solution_conv1d_backward(dout, x, w[:, :, ::-1])[0], dw, db


# (checker, typical wrong answer, words its hint contains at some stage)
WRONG = [
    (ch07.check_output_size, lambda n, k, s, p: (n + 2 * p - k) // s, "One short"),
    (ch07.check_output_size, lambda n, k, s, p: (n + p - k) // s + 1, "both sides"),
    (ch07.check_output_size, lambda n, k, s, p: (n + 2 * p - k) / s + 1, "round the number of steps down"),
    (ch07.check_output_size, lambda n, k, s, p: float((n + 2 * p - k) // s + 1), "whole number"),
    (ch07.check_output_size, lambda n, k, s, p: n + 2 * p - k + 1, "ignored the stride"),
    (ch07.check_output_size, lambda n, k, s, p: (n - k) // s + 1, "left out the padding"),
    (ch07.check_output_size, lambda n, k, s, p: int(np.ceil((n + 2 * p - k) / s)) + 1, "rounded up"),
    (ch07.check_output_size, lambda n, k, s, p: n - k, "One short"),  # the stub
    (ch07.check_conv2d_single, lambda im, k: ch07.solution_conv2d_single(im, k[::-1, ::-1]), "flipped"),
    (
        ch07.check_conv2d_single,
        lambda im, k: ch07.solution_conv2d_single(np.pad(im, ((k.shape[0] // 2,) * 2, (k.shape[1] // 2,) * 2)), k),
        "no padding",
    ),
    (ch07.check_conv2d_single, lambda im, k: ch07.solution_conv2d_single(im, k)[:-1, :-1], "one row and one column"),
    (ch07.check_maxpool_backward, lambda x, d: np.kron(d, np.ones((2, 2))) / 4, "average pooling"),
    (ch07.check_maxpool_backward, lambda x, d: np.kron(d, np.ones((2, 2))), "their gradient is 0"),
    (ch07.check_maxpool_backward, lambda x, d: ch07.solution_maxpool_backward(-x, d), "smallest value"),
    (ch07.check_maxpool_backward, _column_major, "mirrored places"),
    (ch07.check_maxpool_backward, lambda x, d: d, "returned dout itself"),
    (ch07.check_conv_params, lambda c, f, k: f * c * k * k, "weights only"),
    (ch07.check_conv_params, lambda c, f, k: f * (k * k + 1), "spans every input channel"),
    (ch07.check_conv_params, lambda c, f, k: f * c * (k * k + 1), "One bias per kernel"),
    (ch07.check_conv_params, lambda c, f, k: f * (c * k**2 + 1.0), "whole number"),
    (ch07.check_receptive_field, lambda ks, ss: 1 + sum(k - 1 for k in ks), "ignored the strides"),
    (ch07.check_receptive_field, lambda ks, ss: sum(ks), "counts some pixels twice"),
    (ch07.check_receptive_field, lambda ks, ss: int(np.prod(ks)), "do not multiply"),
    (ch07.check_receptive_field, _stride_first, "stride applied too early"),
    (ch07.check_receptive_field, lambda ks, ss: ch07.solution_receptive_field(ks, ss) - 1, "Off by one"),
    (ch07.check_receptive_field, lambda ks, ss: float(ch07.solution_receptive_field(ks, ss)), "whole number"),
    (ch07.check_conv1d_forward, _conv1d_by_convolve, "reversed"),
    (ch07.check_conv1d_forward, lambda x, w, b: ch07.solution_conv1d_forward(x, w, 0 * b), "its own bias"),
    (ch07.check_conv1d_forward, lambda x, w, b: ch07.solution_conv1d_forward(x, w, b)[:, :, :-1], "one position"),
    (
        ch07.check_conv1d_forward,
        lambda x, w, b: ch07.solution_conv1d_forward(
            np.pad(x, ((0, 0), (0, 0), (w.shape[2] // 2, w.shape[2] - 1 - w.shape[2] // 2))), w, b
        ),
        "no padding",
    ),
    (
        ch07.check_conv1d_forward,
        lambda x, w, b: ch07.solution_conv1d_forward(x.sum(axis=1, keepdims=True), w[:, :1], b),
        "its own slice",
    ),
    (ch07.check_conv1d_forward, _conv1d_by_torch, "which entries of x and w"),  # forbidden route
    (ch07.check_conv1d_backward, _overwrite_dx, "do not overwrite"),
    (ch07.check_conv1d_backward, _last_position_dw, "accumulate"),
    (ch07.check_conv1d_backward, _reversed_dx, "nothing is reversed"),
    (ch07.check_conv1d_backward, _mean_over_batch, "batch size"),
    (ch07.check_conv1d_backward, _conv1d_backward_by_autograd, "Follow one output value"),  # forbidden route
    (ch07.check_conv_backward_strided, ch07.broken_conv_backward_strided, "same window"),  # the stub
    (ch07.check_conv_backward_strided, _strided(_one, _one, _one), "dw is wrong too"),
    (ch07.check_conv_backward_strided, _strided(_same, _one, _same), "along the columns"),
    (ch07.check_conv_backward_strided, _strided(_one, _same, _same), "along the rows"),
    (ch07.check_conv_backward_strided, _strided(_same, _same, _same, flip=True), "180 degrees"),
    (ch07.check_conv_backward_strided, _strided_by_autograd, "Follow one output value"),  # forbidden route
]


# A wrong answer of the right shape that matches no typical mistake: it gets the general hint.
GENERIC_WRONG = [
    (ch07.check_output_size, lambda n, k, s, p: 0),
    (ch07.check_conv2d_single, lambda im, k: np.zeros((im.shape[0] - k.shape[0] + 1, im.shape[1] - k.shape[1] + 1))),
    (ch07.check_maxpool_backward, lambda x, d: np.zeros_like(x)),
    (ch07.check_conv_params, lambda c, f, k: 0),
    (ch07.check_receptive_field, lambda ks, ss: 0),
    (ch07.check_conv1d_forward, lambda x, w, b: np.zeros((x.shape[0], w.shape[0], x.shape[2] - w.shape[2] + 1))),
    (ch07.check_conv1d_backward, lambda d, x, w: (np.zeros(x.shape), np.zeros(w.shape), np.zeros(w.shape[0]))),
    (ch07.check_conv_backward_strided, lambda d, x, w, s: (np.zeros(x.shape), np.zeros(w.shape))),
]
KEYS = {**ch07.KEY_EXPRESSIONS, **ch07_more.KEY_EXPRESSIONS}


def _normal(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def test_no_hint_at_any_stage_gives_the_answer_away():
    """Stricter than tests/test_exercise_hints.py, which reads first stages: every stage of every hint a
    wrong answer reaches is free of its exercise's key expressions."""
    answers = [(checker, answer) for checker, answer, _ in WRONG] + GENERIC_WRONG
    for checker, answer in answers:
        tracking.reset_attempts()
        feedback = checker(answer)
        assert not feedback.passed and feedback.hints, str(feedback)
        keys = KEYS[checker.__name__.removeprefix("check_")]
        for hint in feedback.hints:
            assert not any(_normal(key) in _normal(hint) for key in keys), hint
    general = {checker(answer).hints for checker, answer in GENERIC_WRONG}
    assert len(general) == len(GENERIC_WRONG)
    assert all(len(hints) >= 2 for hints in general)  # staged: a nudge, then more specific


MORE = discover(ch07_more)  # tests/test_exercise_hostile.py discovers the chNN modules only
HOSTILE = [
    hostile.test_a_hanging_answer_gets_a_verdict_in_time,
    hostile.test_system_exit_and_huge_messages_become_feedback,
    hostile.test_complex_or_string_outputs_never_pass,
    hostile.test_the_learners_global_settings_cannot_fail_a_correct_answer,
    hostile.test_close_answers_and_restructured_answers_never_pass,
    hostile.test_the_learners_function_runs_once_per_case,
]


@pytest.mark.parametrize("test", HOSTILE, ids=lambda t: t.__name__.removeprefix("test_")[:30])
@pytest.mark.parametrize(("checker", "solution"), MORE, ids=lambda f: getattr(f, "__name__", ""))
def test_hostile_answers_against_the_checkers_in_ch07_more(test, checker, solution, monkeypatch):
    monkeypatch.setattr(running, "TIME_LIMIT_S", 0.3)
    test(checker, solution)


def test_exception_inside_learner_code_is_reported():
    feedback = ch07.check_conv2d_single(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message
    assert "4x4 image" in feedback.message  # which input failed


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)
