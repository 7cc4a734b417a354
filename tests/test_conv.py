"""Convolution and pooling: loop, im2col and PyTorch versions agree; every backward passes
finite differences and matches autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from dlcourse.numpy import conv as npc
from dlcourse.numpy import losses
from dlcourse.numpy import optim as npo
from dlcourse.torch import conv as thc

from .helpers import assert_backward, assert_parameter_gradients


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
    assert_backward(
        lambda x_, w_, b_: forward(x_, w_, b_, stride, padding),
        lambda _: (dx, dw, db),
        x,
        weight,
        bias,
        upstream=g,
        rtol=1e-6,
        atol=1e-8,
        names=["dx", "dweight", "dbias"],
    )


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
    assert_backward(
        lambda v: np_fwd(v, kernel, stride), lambda g_: np_bwd(g_, cache), x, upstream=g, rtol=1e-6, atol=1e-8
    )


def test_output_size_formula_and_errors():
    assert npc.conv2d_output_size(28, 5) == 24  # LeNet's first layer
    assert npc.conv2d_output_size(32, 3, stride=1, padding=1) == 32  # "same" padding
    assert npc.conv2d_output_size(7, 3, stride=2) == 3
    assert thc.conv2d_output_size is npc.conv2d_output_size
    with pytest.raises(ValueError, match=r"^the kernel \(5\) is larger than the padded input \(4\)\.$"):
        npc.conv2d_output_size(4, 5)
    with pytest.raises(ValueError, match=r"^stride must be a positive integer, got 0\.$"):
        npc.conv2d_output_size(4, 2, stride=0)
    with pytest.raises(ValueError, match=r"^padding must be a non-negative integer, got -1\.$"):
        npc.conv2d_output_size(4, 2, padding=-1)
    with pytest.raises(TypeError, match=r"^size must be an integer, got '2'\.$"):
        npc.conv2d_output_size("2", 2)


@pytest.mark.parametrize("module", [npc, thc], ids=["numpy", "torch"])
def test_bad_input_names_the_argument(module):
    to = np.asarray if module is npc else torch.tensor
    x, w, b = to(np.zeros((1, 3, 5, 5))), to(np.zeros((2, 4, 3, 3))), to(np.zeros(2))
    with pytest.raises(ValueError, match=r"^weight must have shape \(any, 3, any, any\), got \(2, 4, 3, 3\)\.$"):
        module.conv2d_forward(x, w, b)
    with pytest.raises(ValueError, match=r"^x must have shape \(any, any, any, any\), got \(3, 5, 5\)\.$"):
        module.maxpool2d_forward(to(np.zeros((3, 5, 5))))
    with pytest.raises(
        ValueError, match=r"^the pooling window \(2\) is larger than the input's \(4, 1\) feature maps\.$"
    ):
        module.maxpool2d_forward(to(np.zeros((1, 1, 4, 1))), 2)  # the window fits in height, not in width
    with pytest.raises(ValueError, match=r"^stride must be a positive integer, got 0\.$"):
        module.avgpool2d_forward(to(np.zeros((1, 1, 4, 4))), 2, stride=0)  # not silently replaced by the kernel
    with pytest.raises(TypeError, match=r"^kernel must be an integer, got 1\.5\.$"):
        module.maxpool2d_forward(to(np.zeros((1, 1, 4, 4))), 1.5)
    with pytest.raises(ValueError, match=r"^stride must be a positive integer, got 0\.$"):
        module.MaxPool2d(2, stride=0)


def test_one_by_one_convolution_mixes_channels_only():
    """A 1x1 convolution is a matrix product over channels at every pixel."""
    rng = np.random.default_rng(0)
    x, weight, bias = rng.normal(size=(2, 4, 3, 3)), rng.normal(size=(5, 4, 1, 1)), np.zeros(5)
    out, _ = npc.conv2d_forward(x, weight, bias)
    np.testing.assert_allclose(out, np.einsum("fc,nchw->nfhw", weight[:, :, 0, 0], x), rtol=1e-12)


# ---------------------------------------------------------------- layer classes


@given(conv_problems())
def test_conv2d_layer_matches_torch_nn_from_copied_weights(problem):
    x, weight, bias, stride, padding, rng = problem
    f, c, kh, kw = weight.shape
    ours = npc.Conv2d(c, f, (kh, kw), rng, stride=stride, padding=padding)
    ours.load_state_dict({"weight": weight, "bias": bias})  # float32 parameters
    ours.weight.data, ours.bias.data = weight.copy(), bias.copy()  # float64 for a tight comparison
    theirs = torch.nn.Conv2d(c, f, (kh, kw), stride=stride, padding=padding).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(weight))  # the same (F, C, KH, KW) layout
        theirs.bias.copy_(torch.from_numpy(bias))
    xt = torch.tensor(x, requires_grad=True)
    reference = theirs(xt)
    dout = rng.normal(size=tuple(reference.shape))
    reference.backward(torch.tensor(dout))

    out = ours(x)
    np.testing.assert_allclose(out, reference.detach().numpy(), rtol=1e-10, atol=1e-12)
    dx = ours.backward(dout)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-10, atol=1e-12)

    twin = thc.Conv2d(c, f, (kh, kw), rng, stride=stride, padding=padding).double()
    with torch.no_grad():
        twin.weight.copy_(theirs.weight)
        twin.bias.copy_(theirs.bias)
    np.testing.assert_allclose(twin(torch.tensor(x)).detach().numpy(), reference.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["MaxPool2d", "AvgPool2d"])
@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 1), (3, 2)])
def test_pooling_layers_match_torch_nn(name, kernel, stride):
    rng = np.random.default_rng(kernel)
    x = rng.normal(size=(2, 3, 9, 8))
    reference_layer = getattr(torch.nn, name)(kernel, stride)
    xt = torch.tensor(x, requires_grad=True)
    reference = reference_layer(xt)
    dout = rng.normal(size=tuple(reference.shape))
    reference.backward(torch.tensor(dout))
    ours = getattr(npc, name)(kernel, stride)
    np.testing.assert_allclose(ours(x), reference.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.backward(dout), xt.grad.numpy(), rtol=1e-12)
    twin = getattr(thc, name)(kernel, stride)
    np.testing.assert_allclose(twin(torch.tensor(x)).numpy(), reference.detach().numpy(), rtol=1e-12)


def test_flatten_round_trip():
    x = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    layer = npc.Flatten()
    out = layer(x)
    assert out.shape == (2, 60)
    np.testing.assert_array_equal(out, torch.nn.Flatten()(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(thc.Flatten()(torch.tensor(x)).numpy(), out)
    np.testing.assert_array_equal(layer.backward(out * 2), x * 2)


def test_conv_backward_can_skip_the_input_gradient():
    rng = np.random.default_rng(0)
    x, weight, bias = rng.normal(size=(2, 3, 6, 6)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    dout = rng.normal(size=(2, 4, 6, 6))
    for module, to in ((npc, np.asarray), (thc, torch.tensor)):
        _, cache = module.conv2d_forward(to(x), to(weight), to(bias), 1, 1)
        full = module.conv2d_backward(to(dout), cache)
        skipped = module.conv2d_backward(to(dout), cache, input_grad=False)
        assert skipped[0] is None
        for a, b in zip(full[1:], skipped[1:], strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _tiny_lenets(dropout: float = 0.0):
    """The same small LeNet in both trees, from identical generators, for 8x8 images."""
    kwargs = dict(channels=(2, 3), kernel_size=3, hidden=5, dropout=dropout, image_size=8, n_classes=4)
    return npc.lenet(np.random.default_rng(1), **kwargs), thc.lenet(np.random.default_rng(1), **kwargs)


def test_lenet_shapes_names_and_identical_initial_weights():
    net, twin = _tiny_lenets()
    names = [type(layer).__name__ for layer in net.layers]
    assert names == [
        "Conv2d",
        "ReLU",
        "MaxPool2d",
        "Conv2d",
        "ReLU",
        "MaxPool2d",
        "Flatten",
        "Linear",
        "ReLU",
        "Linear",
    ]
    assert names == [type(layer).__name__ for layer in twin]
    ours, theirs = net.state_dict(), {k: v.numpy() for k, v in twin.state_dict().items()}
    assert list(ours) == list(theirs)
    for name, value in ours.items():
        np.testing.assert_array_equal(value, theirs[name])
    assert ours["0.weight"].shape == (2, 1, 3, 3) and ours["7.weight"].shape == (3 * 2 * 2, 5)
    fan_in_std = net[3].weight.data.std() * np.sqrt(2 * 3 * 3)  # He: std sqrt(2 / fan_in)
    assert 0.5 < fan_in_std / np.sqrt(2) < 1.6
    x = np.random.default_rng(2).random((5, 1, 8, 8)).astype(np.float32)
    assert net(x).shape == (5, 4) and twin(torch.from_numpy(x)).shape == (5, 4)
    big = npc.lenet(np.random.default_rng(0), channels=(32, 64), kernel_size=3, hidden=128, dropout=0.3)
    assert sum(p.data.size for p in big.parameters()) == 320 + 18496 + 3136 * 128 + 128 + 1290


def test_lenet_gradients_match_finite_differences():
    net, _ = _tiny_lenets()
    for p in net.parameters():
        p.data = p.data.astype(np.float64)
    net[0].input_grad = True  # check the input gradient too
    rng = np.random.default_rng(3)
    x, y = rng.random((3, 1, 8, 8)), rng.integers(0, 4, size=3)
    loss, cache = losses.cross_entropy_forward(net(x), y)
    net.zero_grad()
    dx = net.backward(losses.cross_entropy_backward(1.0, cache))

    assert_parameter_gradients(net.named_parameters(), lambda: losses.cross_entropy(net(x), y), rtol=1e-5, atol=1e-9)
    assert_backward(lambda v: losses.cross_entropy(net(v), y), lambda _: dx, x, upstream=1.0, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_one_training_step_numpy_equals_torch(optimizer):
    """From identical weights (and identical dropout masks): same loss, gradients and updated weights."""
    net, twin = _tiny_lenets(dropout=0.5)
    rng = np.random.default_rng(4)
    x, y = rng.random((6, 1, 8, 8)).astype(np.float32), rng.integers(0, 4, size=6)
    opt = getattr(npo, optimizer)(net.parameters(), lr=0.05)
    topt = getattr(torch.optim, optimizer)(twin.parameters(), lr=0.05)

    loss, cache = losses.cross_entropy_forward(net(x), y)
    opt.zero_grad()
    net.backward(losses.cross_entropy_backward(1.0, cache))
    opt.step()
    tloss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y))
    topt.zero_grad()
    tloss.backward()
    topt.step()

    np.testing.assert_allclose(loss, tloss.item(), rtol=1e-5)
    tparams = dict(twin.named_parameters())
    for name, p in net.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(p.data, tparams[name].detach().numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(net.state_dict()["0.weight"], _tiny_lenets()[0].state_dict()["0.weight"])


def test_layer_bad_input_names_the_argument():
    with pytest.raises(ValueError, match=r"^kernel_size must be a positive integer, got 0\.$"):
        npc.Conv2d(1, 2, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^x must have shape \(any, 3, any, any\), got \(2, 1, 5, 5\)\.$"):
        thc.Conv2d(3, 2, 3, np.random.default_rng(0))(torch.zeros(2, 1, 5, 5))
    with pytest.raises(ValueError, match=r"^x must have shape \(any, 3, any, any\), got \(2, 1, 5, 5\)\.$"):
        npc.Conv2d(3, 2, 3, np.random.default_rng(0))(np.zeros((2, 1, 5, 5)))
