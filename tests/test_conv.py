"""Convolution and pooling: loop, im2col and PyTorch versions agree; every backward passes
finite differences and matches autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from dlcourse.gradcheck import numerical_gradient
from dlcourse.numpy import conv as npc
from dlcourse.torch import conv as thc


@st.composite
def conv_problems(draw):
    """Small random convolutions: shapes, stride and padding drawn so that the kernel fits."""
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, padding = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * padding), 7))
    w = draw(st.integers(max(1, kw - 2 * padding), 7))
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x, weight, bias = rng.normal(size=(n, c, h, w)), rng.normal(size=(f, c, kh, kw)), rng.normal(size=f)
    return x, weight, bias, stride, padding, rng


@given(conv_problems())
def test_all_convolutions_agree_forward_and_backward(problem):
    x, weight, bias, stride, padding, rng = problem
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    reference = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    dout = rng.normal(size=tuple(reference.shape))
    reference.backward(torch.tensor(dout))
    expected = [xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]

    versions = [
        (npc.conv2d_naive_forward, npc.conv2d_naive_backward, lambda a: a, np.asarray),
        (npc.conv2d_forward, npc.conv2d_backward, lambda a: a, np.asarray),
        (thc.conv2d_forward, thc.conv2d_backward, torch.tensor, lambda t: t.numpy()),
        (thc.conv2d_naive_forward, thc.conv2d_naive_backward, torch.tensor, lambda t: t.numpy()),
    ]
    for forward, backward, to_input, to_numpy in versions:
        out, cache = forward(to_input(x), to_input(weight), to_input(bias), stride, padding)
        np.testing.assert_allclose(to_numpy(out), reference.detach().numpy(), rtol=1e-10, atol=1e-12)
        for ours, theirs in zip(backward(to_input(dout), cache), expected, strict=True):
            np.testing.assert_allclose(to_numpy(ours), theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 1)])
@pytest.mark.parametrize("version", ["naive", "im2col"])
def test_conv_backward_matches_finite_differences(version, stride, padding):
    forward, backward = {
        "naive": (npc.conv2d_naive_forward, npc.conv2d_naive_backward),
        "im2col": (npc.conv2d_forward, npc.conv2d_backward),
    }[version]
    rng = np.random.default_rng(stride * 10 + padding)
    x, weight, bias = rng.normal(size=(2, 2, 5, 6)), rng.normal(size=(3, 2, 3, 2)), rng.normal(size=3)
    out, cache = forward(x, weight, bias, stride, padding)
    g = rng.normal(size=out.shape)
    dx, dw, db = backward(g, cache)

    def loss(x_, w_, b_):
        return float(np.sum(forward(x_, w_, b_, stride, padding)[0] * g))

    np.testing.assert_allclose(dx, numerical_gradient(lambda v: loss(v, weight, bias), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, numerical_gradient(lambda v: loss(x, v, bias), weight), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, numerical_gradient(lambda v: loss(x, weight, v), bias), rtol=1e-6, atol=1e-8)


POOLS = {
    "max": (npc.maxpool2d_forward, npc.maxpool2d_backward, thc.maxpool2d_forward, thc.maxpool2d_backward, F.max_pool2d),
    "avg": (npc.avgpool2d_forward, npc.avgpool2d_backward, thc.avgpool2d_forward, thc.avgpool2d_backward, F.avg_pool2d),
}


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 1), (3, 2), (2, 3)])
def test_pooling_matches_torch_and_finite_differences(pool, kernel, stride):
    np_fwd, np_bwd, th_fwd, th_bwd, reference_fn = POOLS[pool]
    rng = np.random.default_rng(kernel * 10 + stride)
    x = rng.normal(size=(2, 3, 7, 6))  # continuous values: no ties for the maximum
    xt = torch.tensor(x, requires_grad=True)
    reference = reference_fn(xt, kernel, stride)
    g = rng.normal(size=tuple(reference.shape))
    reference.backward(torch.tensor(g))

    out, cache = np_fwd(x, kernel, stride)
    np.testing.assert_allclose(out, reference.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(np_bwd(g, cache), xt.grad.numpy(), rtol=1e-12)
    tout, tcache = th_fwd(torch.tensor(x), kernel, stride)
    np.testing.assert_allclose(tout.numpy(), reference.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(th_bwd(torch.tensor(g), tcache).numpy(), xt.grad.numpy(), rtol=1e-12)
    numeric = numerical_gradient(lambda v: float(np.sum(np_fwd(v, kernel, stride)[0] * g)), x)
    np.testing.assert_allclose(np_bwd(g, cache), numeric, rtol=1e-6, atol=1e-8)


def test_output_size_formula_and_errors():
    assert npc.conv2d_output_size(28, 5) == 24  # LeNet's first layer
    assert npc.conv2d_output_size(32, 3, stride=1, padding=1) == 32  # "same" padding
    assert npc.conv2d_output_size(7, 3, stride=2) == 3
    assert thc.conv2d_output_size is npc.conv2d_output_size
    with pytest.raises(ValueError, match=r"^the kernel \(5\) is larger than the padded input \(4\)\.$"):
        npc.conv2d_output_size(4, 5)
    with pytest.raises(ValueError, match=r"^stride must be >= 1 and padding >= 0, got stride=0, padding=0\.$"):
        npc.conv2d_output_size(4, 2, stride=0)


@pytest.mark.parametrize("module", [npc, thc], ids=["numpy", "torch"])
def test_bad_input_names_the_argument(module):
    to = np.asarray if module is npc else torch.tensor
    x, w, b = to(np.zeros((1, 3, 5, 5))), to(np.zeros((2, 4, 3, 3))), to(np.zeros(2))
    with pytest.raises(ValueError, match=r"^weight must have shape \(any, 3, any, any\), got \(2, 4, 3, 3\)\.$"):
        module.conv2d_forward(x, w, b)
    with pytest.raises(ValueError, match=r"^x must have shape \(any, any, any, any\), got \(3, 5, 5\)\.$"):
        module.maxpool2d_forward(to(np.zeros((3, 5, 5))))


def test_one_by_one_convolution_mixes_channels_only():
    """A 1x1 convolution is a matrix product over channels at every pixel."""
    rng = np.random.default_rng(0)
    x, weight, bias = rng.normal(size=(2, 4, 3, 3)), rng.normal(size=(5, 4, 1, 1)), np.zeros(5)
    out, _ = npc.conv2d_forward(x, weight, bias)
    np.testing.assert_allclose(out, np.einsum("fc,nchw->nfhw", weight[:, :, 0, 0], x), rtol=1e-12)
