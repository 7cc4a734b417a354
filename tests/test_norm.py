"""Normalisation layers: every backward passes finite differences in float64, in training and in
evaluation mode; the layers match torch.nn.BatchNorm1d, BatchNorm2d and LayerNorm from copied weights
(outputs, gradients, running statistics after several steps); the two trees agree, take the same
optimiser step and refuse bad input with the same sentence."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from dlcourse.numpy import layers as L
from dlcourse.numpy import losses
from dlcourse.numpy import norm as N
from dlcourse.numpy import optim as O
from dlcourse.torch import layers as TL
from dlcourse.torch import norm as TN
from dlcourse.torch import optim as TO

from .helpers import assert_backward, assert_parameter_gradients, assert_twins

TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-5}, np.float64: {"rtol": 1e-10, "atol": 1e-12}}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def _stats(c: int) -> tuple[np.ndarray, np.ndarray]:
    """Running statistics that are not the defaults, so that evaluation mode is really tested."""
    rng = np.random.default_rng(c)
    return rng.normal(size=c), rng.uniform(0.5, 2.0, size=c)


# ---------------------------------------------------------------- finite differences


@pytest.mark.parametrize("shape", [(5, 4), (3, 2, 4), (3, 2, 3, 4)])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm_backward_matches_finite_differences(shape, training):
    rng = np.random.default_rng(len(shape))
    c = shape[1]
    x, weight, bias = 2 * rng.normal(size=shape) + 1, rng.normal(size=c), rng.normal(size=c)
    mean, var = _stats(c)

    def forward(x_, w_, b_):
        return N.batchnorm_forward(x_, w_, b_, mean.copy(), var.copy(), training, 0.1, 1e-5)

    out, cache = forward(x, weight, bias)
    assert_backward(
        forward,
        lambda g: N.batchnorm_backward(g, cache),
        x,
        weight,
        bias,
        rtol=1e-6,
        atol=1e-8,
        names=["dx", "dweight", "dbias"],
    )


@pytest.mark.parametrize(
    ("shape", "normalized"), [((5, 4), (4,)), ((2, 3, 4), (3, 4)), ((2, 3, 4), (4,)), ((4,), (4,))]
)
def test_layernorm_backward_matches_finite_differences(shape, normalized):
    rng = np.random.default_rng(len(shape) + len(normalized))
    x, weight, bias = 3 * rng.normal(size=shape) - 1, rng.normal(size=normalized), rng.normal(size=normalized)
    out, cache = N.layernorm_forward(x, weight, bias, 1e-5)
    assert out.shape == x.shape
    assert_backward(
        lambda x_, w_, b_: N.layernorm_forward(x_, w_, b_, 1e-5),
        lambda g: N.layernorm_backward(g, cache),
        x,
        weight,
        bias,
        rtol=1e-6,
        atol=1e-8,
        names=["dx", "dweight", "dbias"],
    )


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("kind", ["batch", "layer"])
def test_a_network_with_a_norm_layer_passes_finite_differences(kind, training):
    """Linear -> norm -> ReLU -> Linear in float64: parameter and input gradients of the loss."""
    rng = np.random.default_rng(7)
    norm_layer = N.BatchNorm1d(5, momentum=0.3) if kind == "batch" else N.LayerNorm(5)
    net = L.Sequential(L.Linear(4, 5, rng), norm_layer, L.ReLU(), L.Linear(5, 3, rng))
    for p in net.parameters():
        p.data = rng.normal(size=p.shape)  # float64, and a scale and shift that are not 1 and 0
    if kind == "batch":
        norm_layer.running_mean, norm_layer.running_var = _stats(5)
    net[0].input_grad = True
    net.train(training)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    loss, cache = losses.cross_entropy_forward(net(x), y)
    net.zero_grad()
    dx = net.backward(losses.cross_entropy_backward(1.0, cache))
    assert_parameter_gradients(net.named_parameters(), lambda: losses.cross_entropy(net(x), y), rtol=1e-6, atol=1e-9)
    assert_backward(lambda v: losses.cross_entropy(net(v), y), lambda _: dx, x, upstream=1.0, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- against torch.nn

PAIRS = {  # ours (NumPy), ours (torch), torch.nn, input shape
    "BatchNorm1d (N, C)": (N.BatchNorm1d, TN.BatchNorm1d, torch.nn.BatchNorm1d, (8, 5)),
    "BatchNorm1d (N, C, L)": (N.BatchNorm1d, TN.BatchNorm1d, torch.nn.BatchNorm1d, (4, 5, 3)),
    "BatchNorm2d": (N.BatchNorm2d, TN.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 6)),
}


def _three_layers(name: str, dtype, momentum: float = 0.1):
    """The same layer three times (NumPy tree, torch tree, torch.nn), with torch.nn's random-looking
    weight and bias copied into ours."""
    ours_cls, twin_cls, ref_cls, shape = PAIRS[name]
    c = shape[1]
    ref = ref_cls(c, momentum=momentum).to(TORCH_DTYPE[dtype])
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(0))
        ref.bias.normal_(generator=torch.Generator().manual_seed(1))
    ours, twin = ours_cls(c, momentum=momentum), twin_cls(c, momentum=momentum).to(TORCH_DTYPE[dtype])
    twin.load_state_dict(ref.state_dict())  # the same names: parameters and buffers
    ours.weight.data = ref.weight.detach().numpy().copy()
    ours.bias.data = ref.bias.detach().numpy().copy()
    ours.running_mean, ours.running_var = ref.running_mean.numpy().copy(), ref.running_var.numpy().copy()
    return ours, twin, ref, shape


def _run_torch(layer, x: np.ndarray, dout: np.ndarray) -> tuple:
    xt = torch.from_numpy(x).requires_grad_()
    layer.zero_grad()
    out = layer(xt)
    out.backward(torch.from_numpy(dout))
    return out.detach().numpy(), xt.grad.numpy(), layer.weight.grad.numpy(), layer.bias.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", PAIRS)
def test_batchnorm_matches_torch_nn_over_several_steps_and_in_eval_mode(name, dtype):
    ours, twin, ref, shape = _three_layers(name, dtype, momentum=0.3)
    rng = np.random.default_rng(3)
    tol = TOL[dtype]
    for mode in ["train"] * 4 + ["eval"] * 2:
        for layer in (ours, twin, ref):
            layer.train(mode == "train")
        offset = rng.normal(size=shape[1]).reshape(1, -1, *[1] * (len(shape) - 2))  # (1, C, 1, ...)
        x, dout = (3 * rng.normal(size=shape) + offset).astype(dtype), rng.normal(size=shape).astype(dtype)
        expected = _run_torch(ref, x, dout)
        ours.zero_grad()
        got = (ours(x), ours.backward(dout), ours.weight.grad, ours.bias.grad)
        for label, mine, theirs in zip(("out", "dx", "dweight", "dbias"), got, expected, strict=True):
            assert mine.dtype == dtype, label
            np.testing.assert_allclose(mine, theirs, err_msg=f"{mode} {label}", **tol)
        for label, mine, theirs in zip(
            ("out", "dx", "dweight", "dbias"), _run_torch(twin, x, dout), expected, strict=True
        ):
            np.testing.assert_allclose(mine, theirs, err_msg=f"torch tree {mode} {label}", **tol)
        buffers = dict(ref.named_buffers())
        for label, value in ours.named_buffers():
            np.testing.assert_allclose(value, buffers[label].numpy(), err_msg=label, **tol)
            np.testing.assert_allclose(dict(twin.named_buffers())[label].numpy(), buffers[label].numpy(), **tol)
    assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked) == int(twin.num_batches_tracked) == 4
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in ref.named_buffers()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()] == ["weight", "bias"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("shape", "normalized"), [((6, 5), 5), ((2, 3, 4), (3, 4))])
def test_layernorm_matches_torch_nn(shape, normalized, dtype):
    rng = np.random.default_rng(1)
    ref = torch.nn.LayerNorm(normalized).to(TORCH_DTYPE[dtype])
    with torch.no_grad():
        ref.weight.normal_(generator=torch.Generator().manual_seed(0))
        ref.bias.normal_(generator=torch.Generator().manual_seed(1))
    ours, twin = N.LayerNorm(normalized), TN.LayerNorm(normalized).to(TORCH_DTYPE[dtype])
    twin.load_state_dict(ref.state_dict())
    ours.weight.data, ours.bias.data = ref.weight.detach().numpy().copy(), ref.bias.detach().numpy().copy()
    for mode in (True, False):  # the same in both modes
        x, dout = (2 * rng.normal(size=shape) + 1).astype(dtype), rng.normal(size=shape).astype(dtype)
        expected = _run_torch(ref.train(mode), x, dout)
        ours.train(mode).zero_grad()
        got = (ours(x), ours.backward(dout), ours.weight.grad, ours.bias.grad)
        for mine, theirs, twins in zip(got, expected, _run_torch(twin.train(mode), x, dout), strict=True):
            np.testing.assert_allclose(mine, theirs, **TOL[dtype])
            np.testing.assert_allclose(twins, theirs, **TOL[dtype])


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_the_numpy_functions_equal_their_torch_twins_and_autograd(training):
    rng = np.random.default_rng(11)
    x, weight, bias = 2 * rng.normal(size=(4, 3, 2, 5)), rng.normal(size=3), rng.normal(size=3)
    mean, var = _stats(3)
    _, cache = N.batchnorm_forward(x, weight, bias, mean.copy(), var.copy(), training)
    assert_twins(
        lambda *a: N.batchnorm_forward(*a, mean.copy(), var.copy(), training),
        lambda *a: TN.batchnorm_forward(*a, torch.tensor(mean), torch.tensor(var), training),
        x,
        weight,
        bias,
        numpy_backward=lambda g: N.batchnorm_backward(g, cache),
    )
    g = rng.normal(size=x.shape)  # the torch tree's hand-written backward against the NumPy one
    _, tcache = TN.batchnorm_forward(*map(torch.tensor, (x, weight, bias, mean, var)), training)
    for mine, twin in zip(N.batchnorm_backward(g, cache), TN.batchnorm_backward(torch.tensor(g), tcache), strict=True):
        np.testing.assert_allclose(twin.numpy(), mine, rtol=1e-10, atol=1e-12)

    x, weight, bias = 2 * rng.normal(size=(3, 2, 4)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    _, cache = N.layernorm_forward(x, weight, bias)
    assert_twins(
        N.layernorm_forward,
        TN.layernorm_forward,
        x,
        weight,
        bias,
        numpy_backward=lambda g: N.layernorm_backward(g, cache),
    )
    g = rng.normal(size=x.shape)
    _, tcache = TN.layernorm_forward(*map(torch.tensor, (x, weight, bias)))
    for mine, twin in zip(N.layernorm_backward(g, cache), TN.layernorm_backward(torch.tensor(g), tcache), strict=True):
        np.testing.assert_allclose(twin.numpy(), mine, rtol=1e-10, atol=1e-12)


@st.composite
def batches(draw):
    """A BatchNorm input of 2, 3 or 4 axes with more than one value per channel, and a momentum."""
    ndim = draw(st.sampled_from([2, 3, 4]))
    shape = (draw(st.integers(2, 4)), draw(st.integers(1, 3)), *(draw(st.integers(1, 3)) for _ in range(ndim - 2)))
    seed = draw(st.integers(0, 2**16))
    momentum = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    return shape, momentum, np.random.default_rng(seed)


@given(batches())
def test_batchnorm_matches_torch_for_any_shape_and_momentum(problem):
    shape, momentum, rng = problem
    cls, ref_cls = (N.BatchNorm2d, torch.nn.BatchNorm2d) if len(shape) == 4 else (N.BatchNorm1d, torch.nn.BatchNorm1d)
    ours, ref = cls(shape[1], momentum=momentum), ref_cls(shape[1], momentum=momentum).double()
    ours.weight.data, ours.bias.data = ours.weight.data.astype(np.float64), ours.bias.data.astype(np.float64)
    ours.running_mean, ours.running_var = ours.running_mean.astype(np.float64), ours.running_var.astype(np.float64)
    for training in (True, True, False):
        ours.train(training), ref.train(training)
        x, dout = rng.normal(size=shape) * rng.uniform(0.1, 10), rng.normal(size=shape)
        expected = _run_torch(ref, x, dout)
        ours.zero_grad()
        for mine, theirs in zip(
            (ours(x), ours.backward(dout), ours.weight.grad, ours.bias.grad), expected, strict=True
        ):
            np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(ours.running_mean, ref.running_mean.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.running_var, ref.running_var.numpy(), rtol=1e-10, atol=1e-12)


@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(1, 2), st.integers(0, 2**16))
def test_layernorm_matches_torch_for_any_shape(sizes, normalised_axes, seed):
    rng = np.random.default_rng(seed)
    normalized = tuple(sizes[-normalised_axes:])
    x, dout = rng.normal(size=sizes) * rng.uniform(0.1, 10), rng.normal(size=sizes)
    weight, bias = rng.normal(size=normalized), rng.normal(size=normalized)
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    reference = torch.nn.functional.layer_norm(tensors[0], normalized, tensors[1], tensors[2], 1e-5)
    reference.backward(torch.tensor(dout))
    out, cache = N.layernorm_forward(x, weight, bias)
    np.testing.assert_allclose(out, reference.detach().numpy(), rtol=1e-9, atol=1e-10)
    for mine, t in zip(N.layernorm_backward(dout, cache), tensors, strict=True):
        np.testing.assert_allclose(mine, t.grad.numpy(), rtol=1e-8, atol=1e-9)


# ---------------------------------------------------------------- what batch normalisation does


def test_running_statistics_follow_torchs_convention():
    """Normalise with the biased batch variance; track the unbiased one; eval uses the running ones."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3)) * [1.0, 2.0, 5.0] + [0.0, -1.0, 3.0]  # (N, C)
    weight, bias = np.ones(3), np.zeros(3)
    mean, var = np.zeros(3), np.ones(3)
    out, _ = N.batchnorm_forward(x, weight, bias, mean, var, True, 0.25, 1e-5)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=0), x.var(axis=0) / (x.var(axis=0) + 1e-5), rtol=1e-12)  # biased
    np.testing.assert_allclose(mean, 0.25 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(var, 0.75 + 0.25 * x.var(axis=0, ddof=1), rtol=1e-12)  # unbiased: n / (n - 1)
    frozen = mean.copy(), var.copy()
    out, _ = N.batchnorm_forward(x, weight, bias, mean, var, False, 0.25, 1e-5)
    np.testing.assert_allclose(out, (x - frozen[0]) / np.sqrt(frozen[1] + 1e-5), rtol=1e-12)
    assert np.array_equal(mean, frozen[0]) and np.array_equal(var, frozen[1])  # eval changes nothing


@pytest.mark.parametrize("tree", [N, TN], ids=["numpy", "torch"])
def test_training_outputs_depend_on_the_batch_and_eval_outputs_do_not(tree):
    rng = np.random.default_rng(2)
    to = np.asarray if tree is N else torch.from_numpy
    layer = tree.BatchNorm1d(4)
    batch_a, batch_b = rng.normal(size=(8, 4)).astype(np.float32), rng.normal(size=(8, 4)).astype(np.float32)
    batch_b[0] = batch_a[0]  # one example in two batches
    first = [np.asarray(layer(to(b)).detach() if tree is TN else layer(b))[0] for b in (batch_a, batch_b)]
    assert not np.allclose(first[0], first[1])
    layer.eval()
    first = [np.asarray(layer(to(b)).detach() if tree is TN else layer(b))[0] for b in (batch_a, batch_b)]
    np.testing.assert_array_equal(first[0], first[1])
    layer_norm = tree.LayerNorm(4)  # LayerNorm: per example, in every mode
    outs = [np.asarray(layer_norm(to(b)).detach() if tree is TN else layer_norm(b))[0] for b in (batch_a, batch_b)]
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("tree", [N, TN], ids=["numpy", "torch"])
def test_an_empty_batch_maps_to_an_empty_batch_and_leaves_the_statistics(tree):
    to = np.asarray if tree is N else torch.from_numpy
    layer = tree.BatchNorm2d(3)
    out = layer(to(np.zeros((0, 3, 2, 2), dtype=np.float32)))
    assert tuple(out.shape) == (0, 3, 2, 2)
    np.testing.assert_array_equal(np.asarray(layer.running_mean), 0)
    np.testing.assert_array_equal(np.asarray(layer.running_var), 1)
    if tree is N:
        dx = layer.backward(np.zeros((0, 3, 2, 2), dtype=np.float32))
        assert dx.shape == (0, 3, 2, 2) and np.array_equal(layer.weight.grad, np.zeros(3))


def test_a_first_layer_skips_its_input_gradient():
    rng = np.random.default_rng(0)
    net = L.Sequential(N.BatchNorm1d(3), L.Linear(3, 2, rng))
    x = rng.normal(size=(4, 3)).astype(np.float32)
    assert net.backward(net(x) * 0 + 1) is None and net[0].weight.grad is not None


@pytest.mark.parametrize("optimizer", ["SGD", "Momentum", "Adam"])
def test_one_optimiser_step_numpy_equals_torch_from_the_same_weights(optimizer):
    """Linear -> BatchNorm1d -> ReLU -> Linear in both trees, the package's optimisers on each; also
    torch.nn.BatchNorm1d in the torch network, to tie both to PyTorch's own layer."""
    nets = []
    for tree, bn in ((L, N.BatchNorm1d), (TL, TN.BatchNorm1d), (TL, torch.nn.BatchNorm1d)):
        r = np.random.default_rng(5)
        nets.append(tree.Sequential(tree.Linear(6, 5, r), bn(5, momentum=0.2), tree.ReLU(), tree.Linear(5, 3, r)))
    net, twin, reference = nets
    gamma, beta = np.linspace(0.5, 1.5, 5, dtype=np.float32), np.linspace(-0.2, 0.2, 5, dtype=np.float32)
    net[1].weight.data[...], net[1].bias.data[...] = gamma, beta
    for model in (twin, reference):
        with torch.no_grad():
            model[1].weight.copy_(torch.from_numpy(gamma))
            model[1].bias.copy_(torch.from_numpy(beta))
    make = {"SGD": dict(lr=0.1), "Momentum": dict(lr=0.1, momentum=0.9), "Adam": dict(lr=0.01)}[optimizer]

    # The bias of the layer before a BatchNorm cannot change the loss (the mean is subtracted): its
    # gradient is rounding noise, which Adam would scale up to full steps. It stays out of the update.
    def trained(model):
        return [p for name, p in model.named_parameters() if name != "0.bias"]

    opt = getattr(O, optimizer)(trained(net), **make)
    topts = [getattr(TO, optimizer)(trained(m), **make) for m in (twin, reference)]
    rng = np.random.default_rng(6)
    for _ in range(3):
        x, y = rng.normal(size=(8, 6)).astype(np.float32), rng.integers(0, 3, size=8)
        _, cache = losses.cross_entropy_forward(net(x), y)
        opt.zero_grad()
        net.backward(losses.cross_entropy_backward(1.0, cache))
        opt.step()
        for model, topt in zip((twin, reference), topts, strict=True):
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
            topt.zero_grad()
            loss.backward()
            topt.step()
    for model in (twin, reference):
        state = {k: v.numpy() for k, v in model.state_dict().items()}
        for name, p in net.named_parameters():
            np.testing.assert_allclose(p.data, state[name], rtol=1e-5, atol=1e-6, err_msg=name)
        for name, value in net[1].named_buffers():
            np.testing.assert_allclose(value, state[f"1.{name}"], rtol=1e-5, atol=1e-6, err_msg=name)
    assert not np.allclose(net[1].weight.data, gamma)  # it did move
    assert np.abs(net[0].bias.grad).max() < 1e-6 and np.abs(reference[0].bias.grad.numpy()).max() < 1e-6


# ---------------------------------------------------------------- bad input, refused alike


def _call(tree, make):
    try:
        make(tree, np.asarray if tree is N else torch.as_tensor)
    except (ValueError, TypeError) as exc:
        return type(exc).__name__, str(exc)
    return None


def _frozen() -> np.ndarray:
    """A read-only NumPy running variance: the NumPy tree cannot update it in place, the torch tree
    does not take NumPy arrays there, and both must say so in the same sentence."""
    frozen = np.ones(3)
    frozen.setflags(write=False)
    return frozen


BAD = {  # what -> (how to call it, the sentence both trees say; None: same type, messages may name the tree)
    "wrong number of features": (
        lambda t, to: t.BatchNorm1d(3)(to(np.zeros((4, 5), np.float32))),
        "x must have 3 channels on axis 1 (the layer's num_features), got shape (4, 5).",
    ),
    "wrong number of channels": (
        lambda t, to: t.BatchNorm2d(3)(to(np.zeros((4, 2, 5, 5), np.float32))),
        "x must have 3 channels on axis 1 (the layer's num_features), got shape (4, 2, 5, 5).",
    ),
    "a batch of one in training": (
        lambda t, to: t.BatchNorm1d(3)(to(np.zeros((1, 3), np.float32))),
        "Expected more than 1 value per channel when training, got x of shape (1, 3); train on a batch of at "
        "least 2, or call eval() first.",
    ),
    "a 1x1 image batch of one": (
        lambda t, to: t.BatchNorm2d(2)(to(np.zeros((1, 2, 1, 1), np.float32))),
        "Expected more than 1 value per channel when training, got x of shape (1, 2, 1, 1); train on a batch of "
        "at least 2, or call eval() first.",
    ),
    "momentum above 1": (lambda t, to: t.BatchNorm1d(3, momentum=1.5), "momentum must be in [0, 1], got 1.5."),
    "negative momentum": (lambda t, to: t.BatchNorm2d(3, momentum=-0.1), "momentum must be in [0, 1], got -0.1."),
    "eps of zero": (lambda t, to: t.BatchNorm1d(3, eps=0.0), "eps must be a positive number, got 0.0."),
    "negative eps in LayerNorm": (
        lambda t, to: t.LayerNorm(3, eps=-1e-5),
        "eps must be a positive number, got -1e-05.",
    ),
    "4-D input to BatchNorm1d": (
        lambda t, to: t.BatchNorm1d(3)(to(np.zeros((2, 3, 4, 4), np.float32))),
        "x must have shape (N, C) or (N, C, L) for this layer, got (2, 3, 4, 4).",
    ),
    "2-D input to BatchNorm2d": (
        lambda t, to: t.BatchNorm2d(3)(to(np.zeros((2, 3), np.float32))),
        "x must have shape (N, C, H, W) for this layer, got (2, 3).",
    ),
    "zero features": (lambda t, to: t.BatchNorm1d(0), "num_features must be a positive integer, got 0."),
    "LayerNorm of the wrong shape": (
        lambda t, to: t.LayerNorm((3, 4))(to(np.zeros((2, 4, 3), np.float32))),
        "x must end with the normalized shape, shape (*, 3, 4), got (2, 4, 3).",
    ),
    "an empty normalized_shape": (
        lambda t, to: t.LayerNorm(()),
        "normalized_shape must be a positive integer or a non-empty tuple of them, got ().",
    ),
    "weight of the wrong size": (
        lambda t, to: t.batchnorm_forward(
            to(np.zeros((4, 3))), to(np.ones(2)), to(np.zeros(3)), to(np.zeros(3)), to(np.ones(3))
        ),
        "weight must have shape (3,), got (2,).",
    ),
    "running_var of the wrong size": (
        lambda t, to: t.batchnorm_forward(
            to(np.zeros((4, 3))), to(np.ones(3)), to(np.zeros(3)), to(np.zeros(3)), to(np.ones(4))
        ),
        "running_var must have shape (3,), got (4,).",
    ),
    "a 1-D batch": (
        lambda t, to: t.batchnorm_forward(
            to(np.zeros(3)), to(np.ones(3)), to(np.zeros(3)), to(np.zeros(3)), to(np.ones(3))
        ),
        "x must have a batch axis and a channel axis, shape (N, C, ...), got (3,).",
    ),
    "training as a string": (
        lambda t, to: t.batchnorm_forward(
            to(np.ones((4, 3))), to(np.ones(3)), to(np.zeros(3)), to(np.zeros(3)), to(np.ones(3)), "no"
        ),
        "training must be True or False, got 'no'.",
    ),
    "functional momentum above 1": (
        lambda t, to: t.batchnorm_forward(
            to(np.ones((4, 3))), to(np.ones(3)), to(np.zeros(3)), to(np.zeros(3)), to(np.ones(3)), True, 2.0
        ),
        "momentum must be in [0, 1], got 2.0.",
    ),
    "layernorm bias of another shape": (
        lambda t, to: t.layernorm_forward(to(np.ones((2, 3))), to(np.ones(3)), to(np.zeros(2))),
        "bias must have shape (3,), got (2,).",
    ),
    "dout of the wrong shape": (
        lambda t, to: t.batchnorm_backward(
            to(np.ones((4, 2))),
            t.batchnorm_forward(to(np.ones((4, 3))), to(np.ones(3)), to(np.zeros(3)), to(np.zeros(3)), to(np.ones(3)))[
                1
            ],
        ),
        "dout must have shape (4, 3), got (4, 2).",
    ),
    "running_mean as a list": (
        lambda t, to: t.batchnorm_forward(
            to(np.ones((4, 3))), to(np.ones(3)), to(np.zeros(3)), [0.0, 0.0, 0.0], to(np.ones(3))
        ),
        "running_mean must be a writeable float array of this tree, which training updates in place, got "
        "[0.0, 0.0, 0.0].",
    ),
    "a read-only running_var in training": (
        lambda t, to: t.batchnorm_forward(
            to(np.ones((4, 3))), to(np.ones(3)), to(np.zeros(3)), to(np.zeros(3)), _frozen()
        ),
        "running_var must be a writeable float array of this tree, which training updates in place, got a read-only "
        "ndarray of dtype float64 and shape (3,).",
    ),
    "a NaN batch in training": (
        lambda t, to: t.BatchNorm1d(3)(to(np.array([[1.0, 2.0, np.nan], [0.0, 1.0, 2.0]], np.float32))),
        "x holds 1 NaN or infinite value(s), which in training mode would poison the running statistics.",
    ),
    "an infinite batch in functional training": (
        lambda t, to: t.batchnorm_forward(
            to(np.array([[np.inf, 1.0], [0.0, -np.inf]])),
            to(np.ones(2)),
            to(np.zeros(2)),
            to(np.zeros(2)),
            to(np.ones(2)),
        ),
        "x holds 2 NaN or infinite value(s), which in training mode would poison the running statistics.",
    ),
    "eps that is 0 in float32": (
        lambda t, to: t.BatchNorm2d(3, eps=1e-50),
        "eps must stay positive in float32 (1e-45 or more), got 1e-50, which rounds to 0.",
    ),
    "functional eps that is 0 in float32": (
        lambda t, to: t.batchnorm_forward(
            to(np.ones((4, 3))), to(np.ones(3)), to(np.zeros(3)), to(np.zeros(3)), to(np.ones(3)), True, 0.1, 1e-300
        ),
        "eps must stay positive in float32 (1e-45 or more), got 1e-300, which rounds to 0.",
    ),
    "LayerNorm eps that is 0 in float32": (
        lambda t, to: t.LayerNorm(3, eps=5e-46),
        "eps must stay positive in float32 (1e-45 or more), got 5e-46, which rounds to 0.",
    ),
    "too many features": (
        lambda t, to: t.BatchNorm1d(2**30),
        "the weight of num_features=1073741824 would hold 1,073,741,824 values (shape (1073741824,)), more than the "
        "268,435,456 allowed.",
    ),
    "too large a normalized_shape": (
        lambda t, to: t.LayerNorm((2**15, 2**14)),
        "the weight of normalized_shape=(32768, 16384) would hold 536,870,912 values (shape (32768, 16384)), more "
        "than the 268,435,456 allowed.",
    ),
    "complex x": (lambda t, to: t.BatchNorm1d(2)(to(np.ones((3, 2)) + 1j)), None),
    "x of strings": (lambda t, to: t.LayerNorm(2)("ab"), None),
    "x of None": (lambda t, to: t.BatchNorm2d(2)(None), None),
    "momentum as a string": (
        lambda t, to: t.BatchNorm1d(2, momentum="0.1"),
        "momentum must be a real number, got '0.1'.",
    ),
}


@pytest.mark.parametrize("what", BAD)
def test_both_trees_refuse_bad_input_with_the_same_sentence(what):
    make, sentence = BAD[what]
    numpy_verdict, torch_verdict = _call(N, make), _call(TN, make)
    assert numpy_verdict is not None and torch_verdict is not None, (numpy_verdict, torch_verdict)
    assert numpy_verdict[0] == torch_verdict[0]
    if sentence is not None:
        assert numpy_verdict[1] == torch_verdict[1] == sentence
    for _, message in (numpy_verdict, torch_verdict):
        assert "\n" not in message and len(message) < 300 and message.endswith(".")


def test_a_backward_before_any_forward_is_explained():
    for layer in (N.BatchNorm1d(2), N.LayerNorm(2)):
        with pytest.raises(ValueError, match=re.escape(f"{type(layer).__name__}.backward was called before forward")):
            layer.backward(np.zeros((3, 2)))


def test_torch_tree_layers_load_torch_nn_state_and_print_like_it():
    reference = torch.nn.BatchNorm2d(4, momentum=0.2)
    reference.train()(torch.randn(3, 4, 2, 2, generator=torch.Generator().manual_seed(0)))
    twin = TN.BatchNorm2d(4, momentum=0.2)
    twin.load_state_dict(reference.state_dict())
    assert int(twin.num_batches_tracked) == 1
    assert repr(twin) == "BatchNorm2d(4, eps=1e-05, momentum=0.2)" == repr(N.BatchNorm2d(4, momentum=0.2))
    assert repr(N.LayerNorm(3)) == "LayerNorm((3,), eps=1e-05)" == repr(TN.LayerNorm(3))


def test_a_networks_state_holds_the_running_statistics_as_torchs_does():
    """Module.state_dict() carries BatchNorm's buffers, so keeping the best network (early stopping)
    keeps its running statistics too; the keys are torch's."""
    rng = np.random.default_rng(0)
    net = L.Sequential(L.Linear(3, 4, rng), N.BatchNorm1d(4), L.ReLU())
    twin = TL.Sequential(TL.Linear(3, 4, np.random.default_rng(0)), TN.BatchNorm1d(4), TL.ReLU())
    assert list(net.state_dict()) == list(twin.state_dict())
    net(rng.normal(size=(8, 3)).astype(np.float32))
    saved = net.state_dict()
    assert saved["1.num_batches_tracked"] == 1 and not np.allclose(saved["1.running_mean"], 0)
    net(rng.normal(size=(8, 3)).astype(np.float32) + 5)  # moves the running statistics on
    net.load_state_dict(saved)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, saved[name])
    assert net.state_dict()["1.num_batches_tracked"].dtype == np.int64


@pytest.mark.parametrize("tree", [N, TN], ids=["numpy", "torch"])
def test_a_refused_nan_batch_leaves_the_running_statistics_as_they_were(tree):
    """The check runs before the running averages move: one NaN batch must not poison them for good."""
    to = np.asarray if tree is N else torch.as_tensor
    back = np.array if tree is N else lambda t: t.detach().numpy().copy()
    layer = tree.BatchNorm1d(2)
    layer(to(np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)))
    before = {k: back(v) for k, v in layer.state_dict().items()}
    with pytest.raises(ValueError, match="would poison the running statistics"):
        layer(to(np.array([[np.nan, 2.0], [3.0, 5.0]], np.float32)))
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(back(value), before[name], err_msg=name)
    layer.eval()  # evaluation reads the statistics only: a NaN passes through, as in torch.nn
    assert np.isnan(back(layer(to(np.array([[np.nan, 2.0]], np.float32))))[0, 0])


def test_a_read_only_running_statistic_is_fine_in_evaluation():
    frozen_mean, frozen_var = np.zeros(2), _frozen()[:2]
    frozen_mean.setflags(write=False)
    out, _ = N.batchnorm_forward(np.ones((3, 2)), np.ones(2), np.zeros(2), frozen_mean, frozen_var, training=False)
    np.testing.assert_allclose(out, 1 / np.sqrt(1 + 1e-5))
