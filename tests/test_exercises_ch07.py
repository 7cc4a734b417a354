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

from dlcourse.exercises import ch07, ch07_more, ch07_resnet, running, tracking
from dlcourse.gradcheck import numerical_gradient
from dlcourse.numpy import conv

from . import test_exercise_hostile as hostile
from .exercise_suite import discover, raises_boom, standard_tests

SOLUTIONS = discover(ch07, ch07_more, ch07_resnet)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]


def test_solutions_agree_with_the_package_and_torch():
    rng = np.random.default_rng(0)
    for size, kernel, stride, padding in [(28, 5, 1, 2), (9, 3, 2, 0), (10, 4, 3, 1)]:
        assert ch07.solution_output_size(size, kernel, stride, padding) == conv.conv2d_output_size(
            size, kernel, stride, padding
        )
    image, kernel = rng.normal(size=(6, 7)), rng.normal(size=(3, 2))
    expected = F.conv2d(torch.tensor(image)[None, None], torch.tensor(kernel)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ch07.solution_conv2d_single(image, kernel), expected, rtol=1e-12)
    x, dout = rng.normal(size=(6, 4)), rng.normal(size=(3, 2))
    _, cache = conv.maxpool2d_forward(x[None, None], 2)
    np.testing.assert_allclose(
        ch07.solution_maxpool_backward(x, dout), conv.maxpool2d_backward(dout[None, None], cache)[0, 0]
    )
    layer = conv.Conv2d(6, 16, 5, rng)
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


@pytest.mark.parametrize(("stride", "dilation"), [(1, 1), (2, 1), (1, 3), (2, 2), (3, 2)])
def test_conv1d_reference_matches_torch_and_finite_differences(stride, dilation):
    rng = np.random.default_rng(10 * stride + dilation)
    x, w, b = rng.normal(size=(2, 3, 13)), rng.normal(size=(4, 3, 3)), rng.normal(size=4)
    out = ch07.solution_conv1d_forward(x, w, b, stride, dilation)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    reference = F.conv1d(xt, wt, bt, stride=stride, dilation=dilation)
    np.testing.assert_allclose(out, reference.detach().numpy(), rtol=1e-12, atol=1e-12)

    dout = rng.normal(size=out.shape)  # L = sum(out * dout) has dL/dout = dout
    reference.backward(torch.tensor(dout))
    dx, dw, db = ch07.solution_conv1d_backward(dout, x, w, stride, dilation)
    for ours, autograd in zip((dx, dw, db), (xt.grad, wt.grad, bt.grad), strict=True):
        np.testing.assert_allclose(ours, autograd.numpy(), rtol=1e-10, atol=1e-12)

    def loss(x_, w_, b_):
        return float(np.sum(ch07.solution_conv1d_forward(x_, w_, b_, stride, dilation) * dout))

    numeric = (
        numerical_gradient(lambda v: loss(v, w, b), x),
        numerical_gradient(lambda v: loss(x, v, b), w),
        numerical_gradient(lambda v: loss(x, w, v), b),
    )
    assert x.dtype == w.dtype == np.float64
    for ours, estimate in zip((dx, dw, db), numeric, strict=True):
        np.testing.assert_allclose(ours, estimate, rtol=1e-6, atol=1e-8)


def test_the_checkers_cases_separate_stride_and_dilation():
    """Every conv1d case set has a case with a stride above 1, one with a dilation above 1, one where they
    differ, and one where windows overlap (stride below the span), so the typical mistakes show."""
    for cases in (ch07_more._conv1d_cases(), ch07_more._conv1d_backward_cases()):
        pairs = [case.args[-2:] for case in cases]
        assert any(s > 1 for s, _ in pairs) and any(d > 1 for _, d in pairs) and any(s != d for s, d in pairs)
        assert any(s > 1 and d > 1 for s, d in pairs)


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
    assert ch07.check_conv_params(_own_parameters).passed  # a local variable named parameters is the learner's
    assert not ch07.check_conv1d_backward(_conv1d_backward_by_finite_differences).passed
    assert ch07.check_conv1d_forward(_conv1d_by_correlate).passed
    assert ch07.check_conv1d_backward(_conv1d_backward_by_loops).passed


@pytest.mark.parametrize(("n", "d", "hidden"), [(1, 2, 3), (4, 3, 5), (6, 4, 4)])
def test_residual_backward_matches_autograd_and_finite_differences(n, d, hidden):
    rng = np.random.default_rng(n + d + hidden)
    dout, x = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    w1, w2 = rng.normal(size=(d, hidden)), rng.normal(size=(hidden, d))
    ours = ch07.solution_residual_backward(dout, x, w1, w2)
    for mine, theirs in zip(ours, _residual_by_autograd(dout, x, w1, w2), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)

    def loss(x_, w1_, w2_):
        return float(np.sum(np.maximum(x_ + np.maximum(x_ @ w1_, 0) @ w2_, 0) * dout))

    numeric = (
        numerical_gradient(lambda v: loss(v, w1, w2), x),
        numerical_gradient(lambda v: loss(x, v, w2), w1),
        numerical_gradient(lambda v: loss(x, w1, v), w2),
    )
    for mine, estimate in zip(ours, numeric, strict=True):
        np.testing.assert_allclose(mine, estimate, rtol=1e-6, atol=1e-8)
    assert ch07.check_residual_backward(_residual_by_hand).passed  # a learner's own right answer


def _own_parameters(in_channels, out_channels, kernel_size):
    parameters = out_channels * in_channels * kernel_size**2
    return parameters + out_channels


def _conv1d_by_correlate(x, w, b, stride, dilation):
    """A learner's forward built from np.correlate on a kernel with zeros between its taps, then every
    stride-th value."""
    span = dilation * (w.shape[2] - 1) + 1
    out = np.zeros((x.shape[0], w.shape[0], (x.shape[2] - span) // stride + 1))
    for n in range(x.shape[0]):
        for f in range(w.shape[0]):
            for c in range(x.shape[1]):
                spread = np.zeros(span)
                spread[::dilation] = w[f, c]
                out[n, f] += np.correlate(x[n, c], spread, "valid")[::stride]
            out[n, f] += b[f]
    return out


def _conv1d_backward_by_loops(dout, x, w, stride, dilation):
    """A learner's backward by plain loops over images, kernels, positions and taps."""
    dx, dw, db = np.zeros_like(x), np.zeros_like(w), np.zeros(w.shape[0])
    for n in range(x.shape[0]):
        for f in range(w.shape[0]):
            for i in range(dout.shape[2]):
                for u in range(w.shape[2]):
                    t = i * stride + u * dilation
                    dw[f, :, u] += dout[n, f, i] * x[n, :, t]
                    dx[n, :, t] += dout[n, f, i] * w[f, :, u]
                db[f] += dout[n, f, i]
    return dx, dw, db


def _conv1d_by_convolve(x, w, b, stride, dilation):
    """A learner's forward with np.convolve, which reverses the kernel."""
    return _conv1d_by_correlate(x, w[:, :, ::-1], b, stride, dilation)


def _conv1d_by_torch(x, w, b, stride, dilation):
    """The right values through PyTorch: a forbidden route."""
    return F.conv1d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=stride, dilation=dilation).numpy()


def _dilated_kernel(w, dilation):
    """w with dilation - 1 zeros between its taps, as a (C_out, C_in, 1, span) 2-D kernel."""
    spread = np.zeros((*w.shape[:2], 1, dilation * (w.shape[2] - 1) + 1))
    spread[:, :, 0, ::dilation] = w
    return spread


def _conv1d_by_package(x, w, b, stride, dilation):
    """The right values through the package's 2-D convolution on a one-row image: a forbidden route."""
    return conv.conv2d_forward(x[:, :, None], _dilated_kernel(w, dilation), b, stride)[0][:, :, 0]


def _conv1d_backward_by_package(dout, x, w, stride, dilation):
    """The right gradients through the package's 2-D backward: a forbidden route."""
    _, cache = conv.conv2d_forward(x[:, :, None], _dilated_kernel(w, dilation), np.zeros(w.shape[0]), stride)
    dx, dw, db = conv.conv2d_backward(dout[:, :, None], cache)
    return dx[:, :, 0], dw[:, :, 0, ::dilation], db


def _conv1d_backward_by_finite_differences(dout, x, w, stride, dilation):
    """Gradients estimated with numerical_gradient instead of worked out: a forbidden route."""

    def loss(x_, w_, b_):
        return float(np.sum(_conv1d_by_correlate(x_, w_, b_, stride, dilation) * dout))

    b = np.zeros(w.shape[0])
    return tuple(
        numerical_gradient(f, v)
        for f, v in [(lambda v: loss(v, w, b), x), (lambda v: loss(x, v, b), w), (lambda v: loss(x, w, v), b)]
    )


def _conv1d_backward_by_autograd(dout, x, w, stride, dilation):
    """The right gradients through torch.autograd: a forbidden route."""
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
    F.conv1d(xt, wt, bt, stride=stride, dilation=dilation).backward(torch.tensor(dout))
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


def _learners_dx(dout, x, w, stride, dilation, step, gap, overwrite=False, flip=False):
    """A learner's backward whose dx loop moves its windows `step(stride)` apart and its taps `gap(dilation)` apart."""
    dx, dw, db = ch07.solution_conv1d_backward(dout, x, w, stride, dilation)
    dx, back, k = np.zeros_like(x), w[:, :, ::-1] if flip else w, w.shape[2]
    for i in range(dout.shape[2]):
        start, skip = i * step(stride), gap(dilation)
        share = np.einsum("nf,fck->nck", dout[:, :, i], back)
        if overwrite:
            dx[:, :, start : start + skip * (k - 1) + 1 : skip] = share
        else:
            dx[:, :, start : start + skip * (k - 1) + 1 : skip] += share
    return dx, dw, db


def _mean_over_batch(dout, x, w, stride, dilation):
    dx, dw, db = ch07.solution_conv1d_backward(dout, x, w, stride, dilation)
    return dx, dw / len(x), db / len(x)


def _same_padding(image, kernel):
    """A learner's "same" convolution, padded as PyTorch's padding="same" does: the output keeps the image's size."""
    pads = [((k - 1) // 2, k // 2) for k in kernel.shape]
    return ch07.solution_conv2d_single(np.pad(image, pads), kernel)


def _maxpool_by_package(x, dout):
    _, cache = conv.maxpool2d_forward(x[None, None], 2)
    return conv.maxpool2d_backward(dout[None, None], cache)[0, 0]


def _params_by_layer(c, f, k):
    layer = conv.Conv2d(c, f, k, np.random.default_rng(0))
    return sum(p.data.size for p in layer.parameters())


def _residual_by_hand(dout, x, w1, w2, *, skip="masked", last="sum", inner=True, mask_dx=False):
    """A learner's residual_backward, right or with one of the typical slips: the skip's gradient left
    out or taken from dout, the last ReLU's mask missing or read from the branch, the branch's ReLU
    forgotten, dx masked a second time."""
    h = x @ w1
    a = np.maximum(h, 0)
    f = a @ w2
    s = x + f
    if last == "sum":
        ds = np.where(s > 0, dout, 0.0)
    elif last == "branch":
        ds = np.where(f > 0, dout, 0.0)
    else:
        ds = dout.copy()
    dw2 = a.T @ ds
    da = ds @ w2.T
    dh = np.where(h > 0, da, 0.0) if inner else da
    dw1 = x.T @ dh
    dx = dh @ w1.T
    if skip == "masked":
        dx = dx + ds
    elif skip == "unmasked":
        dx = dx + dout
    if mask_dx:
        dx = np.where(s > 0, dx, 0.0)
    return dx, dw1, dw2


def _residual_by_autograd(dout, x, w1, w2):
    """The right gradients through torch.autograd: a forbidden route."""
    xt, w1t, w2t = (torch.tensor(v, requires_grad=True) for v in (x, w1, w2))
    torch.relu(xt + torch.relu(xt @ w1t) @ w2t).backward(torch.tensor(dout))
    return xt.grad.numpy(), w1t.grad.numpy(), w2t.grad.numpy()


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
    (ch07.check_output_size, lambda n, k, s, p: conv.conv2d_output_size(n, k, s, p), "draw it on paper"),  # forbidden
    (ch07.check_conv2d_single, lambda im, k: ch07.solution_conv2d_single(im, k[::-1, ::-1]), "flipped"),
    (
        ch07.check_conv2d_single,
        lambda im, k: ch07.solution_conv2d_single(np.pad(im, ((k.shape[0] // 2,) * 2, (k.shape[1] // 2,) * 2)), k),
        "no padding",
    ),
    (ch07.check_conv2d_single, lambda im, k: ch07.solution_conv2d_single(im, k)[:-1, :-1], "one row and one column"),
    (ch07.check_conv2d_single, _same_padding, "you padded it"),
    (
        ch07.check_conv2d_single,
        lambda im, k: conv.conv2d_forward(im[None, None], k[None, None], np.zeros(1))[0][0, 0],
        "which pixels of the image",
    ),  # forbidden route: the package
    (
        ch07.check_conv2d_single,
        lambda im, k: F.conv2d(torch.tensor(im)[None, None], torch.tensor(k)[None, None])[0, 0].numpy(),
        "which pixels of the image",
    ),  # forbidden route: torch
    (ch07.check_maxpool_backward, lambda x, d: np.kron(d, np.ones((2, 2))) / 4, "average pooling"),
    (ch07.check_maxpool_backward, lambda x, d: np.kron(d, np.ones((2, 2))), "their gradient is 0"),
    (ch07.check_maxpool_backward, lambda x, d: ch07.solution_maxpool_backward(-x, d), "smallest value"),
    (ch07.check_maxpool_backward, _column_major, "mirrored places"),
    (ch07.check_maxpool_backward, lambda x, d: d, "returned dout itself"),
    (ch07.check_maxpool_backward, _maxpool_by_package, "nudge each of its four inputs"),  # forbidden route
    (ch07.check_conv_params, lambda c, f, k: f * c * k * k, "weights only"),
    (ch07.check_conv_params, lambda c, f, k: f * (k * k + 1), "spans every input channel"),
    (ch07.check_conv_params, lambda c, f, k: f * c * (k * k + 1), "One bias per kernel"),
    (ch07.check_conv_params, lambda c, f, k: f * (c * k**2 + 1.0), "whole number"),
    (ch07.check_conv_params, _params_by_layer, "shapes of the layer's weight"),  # forbidden route
    (ch07.check_receptive_field, lambda ks, ss: 1 + sum(k - 1 for k in ks), "ignored the strides"),
    (ch07.check_receptive_field, lambda ks, ss: sum(ks), "counts some pixels twice"),
    (ch07.check_receptive_field, lambda ks, ss: int(np.prod(ks)), "do not multiply"),
    (ch07.check_receptive_field, _stride_first, "stride applied too early"),
    (ch07.check_receptive_field, lambda ks, ss: ch07.solution_receptive_field(ks, ss) - 1, "Off by one"),
    (ch07.check_receptive_field, lambda ks, ss: float(ch07.solution_receptive_field(ks, ss)), "whole number"),
    (ch07.check_conv1d_forward, _conv1d_by_convolve, "reversed"),
    (ch07.check_conv1d_forward, lambda x, w, b, s, d: ch07.solution_conv1d_forward(x, w, 0 * b, s, d), "its own bias"),
    (
        ch07.check_conv1d_forward,
        lambda x, w, b, s, d: ch07.solution_conv1d_forward(x, w, b, s, 1),
        "ignores the dilation",
    ),
    (
        ch07.check_conv1d_forward,
        lambda x, w, b, s, d: ch07.solution_conv1d_forward(x, w, b, 1, d),
        "ignores the stride",
    ),
    (ch07.check_conv1d_forward, lambda x, w, b, s, d: ch07.solution_conv1d_forward(x, w, b, d, s), "swaps"),
    (
        ch07.check_conv1d_forward,
        lambda x, w, b, s, d: _conv1d_by_correlate(x, w, b, s, 1)[
            :, :, : (x.shape[2] - d * (w.shape[2] - 1) - 1) // s + 1
        ],
        "neighbouring positions",
    ),
    (
        ch07.check_conv1d_forward,
        lambda x, w, b, s, d: ch07.solution_conv1d_forward(x.sum(axis=1, keepdims=True), w[:, :1], b, s, d),
        "its own slice",
    ),
    (ch07.check_conv1d_forward, _conv1d_by_torch, "which positions of x"),  # forbidden route
    (ch07.check_conv1d_forward, _conv1d_by_package, "which positions of x"),  # forbidden route: the package
    (ch07.check_conv1d_backward, lambda *a: _learners_dx(*a, _same, _same, overwrite=True), "do not overwrite"),
    (ch07.check_conv1d_backward, lambda *a: _learners_dx(*a, _same, _one), "not to neighbouring"),
    (ch07.check_conv1d_backward, lambda *a: _learners_dx(*a, _one, _same), "i * stride positions"),
    (ch07.check_conv1d_backward, lambda *a: _learners_dx(*a, _same, _same, flip=True), "nothing is reversed"),
    (ch07.check_conv1d_backward, _mean_over_batch, "batch size"),
    (ch07.check_conv1d_backward, _conv1d_backward_by_autograd, "Follow one output value"),  # forbidden route
    (ch07.check_conv1d_backward, _conv1d_backward_by_package, "Follow one output value"),  # forbidden: the package
    (ch07.check_conv1d_backward, _conv1d_backward_by_finite_differences, "Follow one output value"),  # forbidden
    (ch07.check_conv_backward_strided, ch07.broken_conv_backward_strided, "same window"),  # the stub
    (ch07.check_conv_backward_strided, _strided(_one, _one, _one), "dw is wrong too"),
    (ch07.check_conv_backward_strided, _strided(_same, _one, _same), "along the columns"),
    (ch07.check_conv_backward_strided, _strided(_one, _same, _same), "along the rows"),
    (ch07.check_conv_backward_strided, _strided(_same, _same, _same, flip=True), "180 degrees"),
    (ch07.check_conv_backward_strided, _strided_by_autograd, "Follow one output value"),  # forbidden route
    (ch07.check_residual_backward, lambda *a: _residual_by_hand(*a, skip="none"), "more than one path"),
    (ch07.check_residual_backward, lambda *a: _residual_by_hand(*a, skip="unmasked"), "through that ReLU too"),
    (ch07.check_residual_backward, lambda *a: _residual_by_hand(*a, last="none"), "ignore the last ReLU"),
    (ch07.check_residual_backward, lambda *a: _residual_by_hand(*a, last="branch"), "mask comes from the sum"),
    (ch07.check_residual_backward, lambda *a: _residual_by_hand(*a, inner=False), "a ReLU of its own"),
    (ch07.check_residual_backward, lambda *a: _residual_by_hand(*a, mask_dx=True), "a second time"),
    (ch07.check_residual_backward, _residual_by_autograd, "Go through the forward pass backwards"),  # forbidden
]


# A wrong answer of the right shape that matches no typical mistake: it gets the general hint.
GENERIC_WRONG = [
    (ch07.check_output_size, lambda n, k, s, p: 0),
    (ch07.check_conv2d_single, lambda im, k: np.zeros((im.shape[0] - k.shape[0] + 1, im.shape[1] - k.shape[1] + 1))),
    (ch07.check_maxpool_backward, lambda x, d: np.zeros_like(x)),
    (ch07.check_conv_params, lambda c, f, k: 0),
    (ch07.check_receptive_field, lambda ks, ss: 0),
    (ch07.check_conv1d_forward, lambda x, w, b, s, d: np.zeros(ch07.solution_conv1d_forward(x, w, b, s, d).shape)),
    (ch07.check_conv1d_backward, lambda d, x, w, s, g: (np.zeros(x.shape), np.zeros(w.shape), np.zeros(w.shape[0]))),
    (ch07.check_conv_backward_strided, lambda d, x, w, s: (np.zeros(x.shape), np.zeros(w.shape))),
    (ch07.check_residual_backward, lambda d, x, w1, w2: (np.zeros(x.shape), np.zeros(w1.shape), np.zeros(w2.shape))),
]
KEYS = {**ch07.KEY_EXPRESSIONS, **ch07_more.KEY_EXPRESSIONS, **ch07_resnet.KEY_EXPRESSIONS}


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


MORE = discover(ch07_more, ch07_resnet)  # also covered by tests/test_exercise_hostile.py (chNN_* companions)
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
