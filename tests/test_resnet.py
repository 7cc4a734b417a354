"""Residual networks: the NumPy blocks' backward passes agree with float64 finite differences (input and
every parameter, with and without a projection, in training and evaluation mode); the NumPy blocks and
networks match their torch twins and a torchvision-style block of torch.nn layers from the same weights
(outputs, gradients, running statistics, optimiser steps); the skip carries the gradient; and both trees
refuse bad input with the same sentence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.numpy import losses
from dlcourse.numpy import optim as O
from dlcourse.numpy import resnet as R
from dlcourse.torch import optim as TO
from dlcourse.torch import resnet as TR

from .helpers import assert_backward, assert_parameter_gradients

F32 = {"rtol": 1e-5, "atol": 1e-5}


def _norms(model) -> list:
    """The BatchNorm2d layers of a NumPy block or network."""
    blocks = model.layers if hasattr(model, "layers") else [model]
    found = []
    for b in blocks:
        if isinstance(b, R.BasicBlock | R.PlainBlock):
            found += [b.bn1, b.bn2] + ([b.downsample[1]] if b.downsample is not None else [])
        elif hasattr(b, "running_mean"):
            found.append(b)
    return found


def _float64(model, rng: np.random.Generator):
    """The model in float64, with scales and shifts that are not 1 and 0 and running statistics that
    are not the defaults, so that every parameter and both modes are really tested."""
    for name, p in model.named_parameters():
        p.data = p.data.astype(np.float64)
        if name.endswith(("bn1.weight", "bn2.weight", "1.weight")) and p.data.ndim == 1:
            p.data = rng.uniform(0.5, 1.5, size=p.shape)
        elif name.endswith("bias"):
            p.data = 0.3 * rng.normal(size=p.shape)
    for bn in _norms(model):
        bn.running_mean = rng.normal(size=bn.num_features)
        bn.running_var = rng.uniform(0.5, 2.0, size=bn.num_features)
    return model


# ---------------------------------------------------------------- finite differences

BLOCKS = {  # name -> (class, in_channels, out_channels, stride)
    "identity": (R.BasicBlock, 3, 3, 1),
    "projection, stride 2": (R.BasicBlock, 2, 3, 2),
    "projection, channels only": (R.BasicBlock, 2, 3, 1),
    "plain, stride 2": (R.PlainBlock, 2, 3, 2),
}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", BLOCKS)
def test_block_backward_matches_finite_differences(name, training):
    cls, c_in, c_out, stride = BLOCKS[name]
    for seed in range(50):  # a point where no ReLU input is within a finite-difference step of its kink
        rng = np.random.default_rng(seed)
        block = _float64(cls(c_in, c_out, rng, stride), rng).train(training)
        x = rng.normal(size=(3, c_in, 5, 5))
        out = block(x)
        if min(np.abs(block.relu1.cache).min(), np.abs(block.relu2.cache).min()) > 1e-3:
            break
    assert out.shape == (3, c_out, 3 if stride == 2 else 5, 3 if stride == 2 else 5) and out.dtype == np.float64
    g = rng.normal(size=out.shape)
    block.zero_grad()
    dx = block.backward(g)
    assert_backward(block, lambda _: dx, x, upstream=g, rtol=1e-6, atol=1e-9, names=["dx"])
    assert_parameter_gradients(block.named_parameters(), lambda: np.sum(block(x) * g), rtol=1e-6, atol=1e-9)
    expected = {"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias"}
    if cls is R.BasicBlock and (stride, c_in) != (1, c_out):
        expected |= {"downsample.0.weight", "downsample.1.weight", "downsample.1.bias"}
    assert {n for n, _ in block.named_parameters()} == expected


def test_a_small_network_passes_finite_differences_through_the_loss():
    """Stem, an identity block, a projection block, pooling and the head: input and parameter gradients."""
    rng = np.random.default_rng(4)
    net = _float64(R.resnet(rng, channels=(2, 3), blocks_per_stage=1), rng)
    net[0].input_grad = True  # the images' gradient, which training skips, for the check
    x, y = rng.normal(size=(3, 1, 5, 5)), rng.integers(0, 10, size=3)
    _, cache = losses.cross_entropy_forward(net(x), y)
    net.zero_grad()
    dx = net.backward(losses.cross_entropy_backward(1.0, cache))
    assert_parameter_gradients(net.named_parameters(), lambda: losses.cross_entropy(net(x), y), rtol=1e-6, atol=1e-9)
    assert_backward(lambda v: losses.cross_entropy(net(v), y), lambda _: dx, x, upstream=1.0, rtol=1e-6, atol=1e-9)


def test_global_average_pooling_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    pool, x = R.GlobalAvgPool2d(), rng.normal(size=(2, 3, 4, 5))
    out = pool(x)
    np.testing.assert_allclose(out, x.mean(axis=(2, 3)))
    g = rng.normal(size=out.shape)
    assert_backward(pool, lambda _: pool.backward(g), x, upstream=g)


# ---------------------------------------------------------------- what the skip does


@pytest.mark.parametrize("tree", ["numpy", "torch"])
def test_a_block_whose_branch_is_silenced_passes_its_input_and_its_gradient(tree):
    """With bn2's scale and shift at 0, F(x) = 0: the residual block is ReLU(x), and the gradient reaches x
    through the skip alone; the plain block outputs 0 and passes no gradient at all."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
    g = rng.normal(size=x.shape).astype(np.float32)
    for cls_name in ("BasicBlock", "PlainBlock"):
        if tree == "numpy":
            block = getattr(R, cls_name)(3, 3, rng)
            block.bn2.weight.data[...], block.bn2.bias.data[...] = 0, 0
            out, dx = block(x), block.backward(g)
        else:
            block = getattr(TR, cls_name)(3, 3, rng)
            with torch.no_grad():
                block.bn2.weight.zero_(), block.bn2.bias.zero_()
            xt = torch.from_numpy(x).requires_grad_()
            out = block(xt)
            out.backward(torch.from_numpy(g))
            out, dx = out.detach().numpy(), xt.grad.numpy()
        if cls_name == "BasicBlock":
            np.testing.assert_array_equal(out, np.maximum(x, 0))
            np.testing.assert_array_equal(dx, g * (x > 0))
        else:
            np.testing.assert_array_equal(out, 0)
            np.testing.assert_array_equal(dx, 0)


def test_the_plain_network_is_the_residual_one_without_skips():
    """One flag: the same layers, parameter names and initial weights, except the projections."""
    plain, res = (R.resnet(np.random.default_rng(0), (4, 8), 2, residual=flag) for flag in (False, True))
    plain_names = dict(plain.named_parameters())
    res_names = dict(res.named_parameters())
    assert set(res_names) - set(plain_names) == {
        "5.downsample.0.weight",
        "5.downsample.1.weight",
        "5.downsample.1.bias",
    }
    assert set(plain_names) <= set(res_names)
    conv_weights = [n for n, p in plain.named_parameters() if p.data.ndim == 4]
    assert len(conv_weights) == 1 + 2 * 4  # the stem, two per block
    x = np.random.default_rng(1).normal(size=(4, 1, 8, 8)).astype(np.float32)
    assert plain(x).shape == res(x).shape == (4, 10)
    # the projection is drawn last in its block, so only the weights drawn after it differ
    np.testing.assert_array_equal(plain_names["5.conv2.weight"].data, res_names["5.conv2.weight"].data)
    assert not np.array_equal(plain_names["6.conv1.weight"].data, res_names["6.conv1.weight"].data)


# ---------------------------------------------------------------- against torch


class TorchvisionBlock(torch.nn.Module):
    """torchvision.models.resnet.BasicBlock written with torch.nn layers (torchvision is not a dependency)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(c_out)
        self.conv2 = torch.nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = torch.nn.Sequential(
                torch.nn.Conv2d(c_in, c_out, 1, stride, bias=False), torch.nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


def _run_torch(model, x: np.ndarray, dout: np.ndarray) -> dict:
    xt = torch.from_numpy(x).requires_grad_()
    model.zero_grad()
    out = model(xt)
    out.backward(torch.from_numpy(dout))
    grads = {n: p.grad.numpy() for n, p in model.named_parameters()}
    return {"out": out.detach().numpy(), "dx": xt.grad.numpy(), **grads}


@pytest.mark.parametrize("shape", [(3, 3, 1), (2, 4, 2)], ids=["identity", "projection"])
def test_block_matches_its_twin_and_a_torchvision_style_block_over_steps_and_modes(shape):
    c_in, c_out, stride = shape
    ours = R.BasicBlock(c_in, c_out, np.random.default_rng(0), stride)
    twin = TR.BasicBlock(c_in, c_out, np.random.default_rng(0), stride)
    reference = TorchvisionBlock(c_in, c_out, stride)
    reference.load_state_dict(twin.state_dict())  # strict: the names are torchvision's
    assert list(reference.state_dict()) == list(twin.state_dict())
    assert set(ours.state_dict()) == set(twin.state_dict())
    for name, value in ours.state_dict().items():
        np.testing.assert_array_equal(value, twin.state_dict()[name].numpy(), err_msg=name)  # same draws
    rng = np.random.default_rng(1)
    for mode in ("train", "train", "eval"):
        for model in (ours, twin, reference):
            model.train(mode == "train")
        x = (2 * rng.normal(size=(4, c_in, 5, 5)) + 1).astype(np.float32)
        outs = ours(x)
        dout = rng.normal(size=outs.shape).astype(np.float32)
        ours.zero_grad()
        got = {"out": outs, "dx": ours.backward(dout), **{n: p.grad for n, p in ours.named_parameters()}}
        for label, model in (("twin", twin), ("torch.nn", reference)):
            expected = _run_torch(model, x, dout)
            assert set(expected) == set(got)
            for key, value in expected.items():
                np.testing.assert_allclose(got[key], value, err_msg=f"{label} {mode} {key}", **F32)
            for key, value in model.state_dict().items():
                np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), err_msg=f"{label} {key}", **F32)
    assert int(ours.bn1.num_batches_tracked) == 2


def _twin_networks(residual: bool):
    net = R.resnet(np.random.default_rng(3), channels=(3, 6), blocks_per_stage=2, residual=residual)
    twin = TR.resnet(np.random.default_rng(3), channels=(3, 6), blocks_per_stage=2, residual=residual)
    assert list(dict(net.named_parameters())) == [n for n, _ in twin.named_parameters()]
    assert set(net.state_dict()) == set(twin.state_dict())
    return net, twin


@pytest.mark.parametrize("residual", [True, False], ids=["residual", "plain"])
@pytest.mark.parametrize("optimizer", ["SGD", "Momentum", "Adam"])
def test_network_matches_its_twin_gradients_statistics_and_optimiser_steps(optimizer, residual):
    net, twin = _twin_networks(residual)
    make = {"SGD": {"lr": 0.1}, "Momentum": {"lr": 0.05, "momentum": 0.9}, "Adam": {"lr": 0.01}}[optimizer]
    opt, topt = getattr(O, optimizer)(net.parameters(), **make), getattr(TO, optimizer)(twin.parameters(), **make)
    before = net.state_dict()
    rng = np.random.default_rng(4)
    for step in range(2):
        x, y = rng.normal(size=(6, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, size=6)
        logits = net(x)
        loss, cache = losses.cross_entropy_forward(logits, y)
        opt.zero_grad()
        net.backward(losses.cross_entropy_backward(1.0, cache))
        tlogits = twin(torch.from_numpy(x))
        tloss = F.cross_entropy(tlogits, torch.from_numpy(y))
        topt.zero_grad()
        tloss.backward()
        np.testing.assert_allclose(logits, tlogits.detach().numpy(), **F32)
        np.testing.assert_allclose(loss, float(tloss.detach()), **F32)
        for (name, p), (_, t) in zip(net.named_parameters(), twin.named_parameters(), strict=True):
            np.testing.assert_allclose(p.grad, t.grad.numpy(), err_msg=f"step {step} {name}", **F32)
        opt.step()
        topt.step()
        state = twin.state_dict()
        for name, value in net.state_dict().items():  # parameters after the step, and the running statistics
            np.testing.assert_allclose(value, state[name].numpy(), err_msg=f"step {step} {name}", **F32)
    assert not np.allclose(net.state_dict()["3.conv1.weight"], before["3.conv1.weight"])  # it did move
    assert not np.allclose(net.state_dict()["1.running_mean"], before["1.running_mean"])
    net.eval(), twin.eval()  # evaluation uses the running statistics: still the same function
    x = rng.normal(size=(3, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(net(x), twin(torch.from_numpy(x)).detach().numpy(), **F32)


def test_a_trained_torch_state_loads_into_the_numpy_network():
    net, twin = _twin_networks(True)
    twin.train()(torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(0)))  # moves the statistics
    net.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})
    x = np.random.default_rng(0).normal(size=(5, 1, 8, 8)).astype(np.float32)
    net.eval(), twin.eval()
    np.testing.assert_allclose(net(x), twin(torch.from_numpy(x)).detach().numpy(), **F32)


@settings(max_examples=15, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(1, 4),
    st.sampled_from([1, 2, 3]),
    st.integers(1, 7),
    st.integers(0, 2**16),
)
def test_block_shapes_and_values_for_any_size(n, c_in, c_out, stride, size, seed):
    """Output size ceil(H / stride), the same in both trees, in evaluation mode (any batch, even of one)."""
    block = R.BasicBlock(c_in, c_out, np.random.default_rng(seed), stride).eval()
    twin = TR.BasicBlock(c_in, c_out, np.random.default_rng(seed), stride).eval()
    x = np.random.default_rng(seed).normal(size=(n, c_in, size, size)).astype(np.float32)
    out = block(x)
    assert out.shape == (n, c_out, -(-size // stride), -(-size // stride))
    np.testing.assert_allclose(out, twin(torch.from_numpy(x)).detach().numpy(), **F32)
    assert block.backward(np.ones_like(out)).shape == x.shape


def test_modes_reach_every_layer_and_the_first_layer_skips_its_input_gradient():
    net = R.resnet(np.random.default_rng(0), channels=(2, 4), blocks_per_stage=1)
    net.eval()
    assert all(not bn.training for bn in _norms(net)) and not net[4].downsample.training
    net.train()
    assert all(bn.training for bn in _norms(net))
    x = np.random.default_rng(1).normal(size=(3, 1, 6, 6)).astype(np.float32)
    assert net.backward(np.ones_like(net(x))) is None and net[0].weight.grad is not None
    block = R.BasicBlock(2, 4, np.random.default_rng(0), 2)
    block.input_grad = False  # a block first in a network: its parameters still get their gradients
    assert block.backward(np.ones_like(block(np.ones((2, 2, 4, 4))))) is None
    assert all(p.grad is not None for p in block.parameters())
    assert repr(block) == "BasicBlock(2, 4, stride=2)"


# ---------------------------------------------------------------- bad input, refused alike


def _verdict(tree, make):
    """(error type, message) of ``make(tree, to_array)``, or None when the call is accepted."""
    try:
        make(tree, np.asarray if tree is R else torch.as_tensor)
    except (ValueError, TypeError) as exc:
        return type(exc).__name__, str(exc)
    return None


def _rng():
    return np.random.default_rng(0)


BAD = {  # what -> (how to call it, the sentence both trees say; None: the same type of error)
    "wrong channels into a block": (
        lambda t, to: t.BasicBlock(3, 3, _rng())(to(np.zeros((2, 2, 4, 4), np.float32))),
        "x must have shape (any, 3, any, any), got (2, 2, 4, 4).",
    ),
    "a 3-D input to a block": (
        lambda t, to: t.PlainBlock(3, 3, _rng())(to(np.zeros((3, 4, 4), np.float32))),
        "x must have shape (any, 3, any, any), got (3, 4, 4).",
    ),
    "zero channels": (lambda t, to: t.BasicBlock(0, 3, _rng()), "in_channels must be a positive integer, got 0."),
    "a stride of 0": (lambda t, to: t.BasicBlock(3, 3, _rng(), 0), "stride must be a positive integer, got 0."),
    "a float stride": (lambda t, to: t.PlainBlock(3, 3, _rng(), 2.0), "stride must be an integer, got 2.0."),
    "a seed for rng": (
        lambda t, to: t.BasicBlock(3, 3, 0),
        "rng must be a numpy.random.Generator, such as np.random.default_rng(0), got 0.",
    ),
    "a batch of one 1x1 image in training": (
        lambda t, to: t.BasicBlock(2, 2, _rng())(to(np.zeros((1, 2, 1, 1), np.float32))),
        "Expected more than 1 value per channel when training, got x of shape (1, 2, 1, 1); train on a batch of "
        "at least 2, or call eval() first.",
    ),
    "channels as an int": (
        lambda t, to: t.resnet(_rng(), channels=16),
        "channels must be a non-empty tuple of positive integers, got 16.",
    ),
    "no stages": (lambda t, to: t.resnet(_rng(), channels=()), None),
    "a stage of zero blocks": (
        lambda t, to: t.resnet(_rng(), blocks_per_stage=(3, 0, 3)),
        "blocks_per_stage must be a positive integer, got 0.",
    ),
    "block counts for the wrong number of stages": (
        lambda t, to: t.resnet(_rng(), channels=(8, 16), blocks_per_stage=(2, 2, 2)),
        "blocks_per_stage must give one count per stage (2, as channels), got (2, 2, 2).",
    ),
    "residual as a string": (
        lambda t, to: t.resnet(_rng(), residual="yes"),
        "residual must be True or False, got 'yes'.",
    ),
    "n_classes of zero": (lambda t, to: t.resnet(_rng(), n_classes=0), "n_classes must be a positive integer, got 0."),
    "a network fed RGB images": (
        lambda t, to: t.resnet(_rng(), channels=(2,), blocks_per_stage=1)(to(np.zeros((2, 3, 4, 4), np.float32))),
        "x must have shape (any, 1, any, any), got (2, 3, 4, 4).",
    ),
    "pooling a 2-D batch": (
        lambda t, to: t.GlobalAvgPool2d()(to(np.zeros((2, 3), np.float32))),
        "x must have shape (any, any, any, any), got (2, 3).",
    ),
    "pooling maps with no positions": (
        lambda t, to: t.GlobalAvgPool2d()(to(np.zeros((2, 3, 0, 4), np.float32))),
        "x must have at least one position to average over, got shape (2, 3, 0, 4).",
    ),
    "complex images": (lambda t, to: t.BasicBlock(1, 1, _rng())(to(np.ones((2, 1, 3, 3)) + 1j)), None),
    "images of None": (lambda t, to: t.PlainBlock(1, 1, _rng())(None), None),
}


@pytest.mark.parametrize("what", BAD)
def test_both_trees_refuse_bad_input_with_the_same_sentence(what):
    make, sentence = BAD[what]
    verdicts = [_verdict(tree, make) for tree in (R, TR)]
    assert None not in verdicts, verdicts
    (numpy_type, numpy_message), (torch_type, torch_message) = verdicts
    assert numpy_type == torch_type, verdicts
    assert sentence is None or numpy_message == torch_message == sentence, verdicts
    assert all("\n" not in m and len(m) < 300 and m.endswith(".") for m in (numpy_message, torch_message))


def test_a_backward_before_any_forward_is_explained():
    for layer in (R.BasicBlock(2, 2, _rng()), R.GlobalAvgPool2d()):
        with pytest.raises(ValueError, match=f"{type(layer).__name__}.backward was called before forward"):
            layer.backward(np.zeros((2, 2, 3, 3)))
    pool = R.GlobalAvgPool2d()
    pool(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3\), got \(2, 4\)\."):
        pool.backward(np.zeros((2, 4)))
