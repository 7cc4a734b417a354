"""Activations: NumPy against its torch twin, against autograd, and against finite differences.

One table of ops drives every test (as in tinygrad's test_ops): add an activation to
OPS and it is checked everywhere.
"""

from __future__ import annotations

import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from dlcourse.gradcheck import relative_error
from dlcourse.numpy import activations as npa
from dlcourse.torch import activations as tha

from .helpers import assert_backward, assert_twins

# name -> the torch reference for the forward pass.
OPS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}

finite = st.floats(-1e3, 1e3, allow_nan=False, width=64)
extreme = st.sampled_from([-1e4, -1000.0, -50.0, -1e-12, 0.0, 1e-12, 50.0, 1000.0, 1e4])
arrays = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6), elements=st.one_of(finite, extreme)
)


@pytest.mark.parametrize("name", OPS)
@given(x=arrays)
def test_forward_matches_torch(name, x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning, even at ±1e4
        ours = getattr(npa, name)(x)
    twin = getattr(tha, name)(torch.from_numpy(x))
    reference = OPS[name](torch.from_numpy(x))
    assert ours.shape == x.shape and ours.dtype == np.float64
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, reference.numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(twin.numpy(), reference.numpy(), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", OPS)
@given(x=arrays, seed=st.integers(0, 2**16))
def test_backward_matches_autograd(name, x, seed):
    dout = np.random.default_rng(seed).normal(size=x.shape)
    _, cache = getattr(npa, f"{name}_forward")(x)
    _, tcache = getattr(tha, f"{name}_forward")(torch.from_numpy(x))

    # 1 - y**2 and y(1 - y) cancel where the curve saturates: compare with an absolute floor
    # at a few ulps of 1 (gradients there are ~1e-8 and rounding differs in the last bits).
    # The NumPy backward, then the PyTorch tree's hand-written one, against autograd of torch's own op.
    numpy_backward = lambda g: getattr(npa, f"{name}_backward")(g, cache)  # noqa: E731
    assert_twins(getattr(npa, name), OPS[name], x, numpy_backward=numpy_backward, upstream=dout)
    twin = lambda v: getattr(tha, name)(torch.from_numpy(v)).numpy()  # noqa: E731
    twin_backward = lambda g: getattr(tha, f"{name}_backward")(torch.from_numpy(g), tcache).numpy()  # noqa: E731
    assert_twins(twin, OPS[name], x, numpy_backward=twin_backward, upstream=dout)


@pytest.mark.parametrize("name", OPS)
@given(
    x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=5), elements=st.floats(-6, 6)),
    seed=st.integers(0, 2**16),
)
def test_backward_matches_finite_differences(name, x, seed):
    if name == "relu":
        x = np.where(np.abs(x) < 1e-3, 0.5, x)  # the kink at 0 has no derivative
    g = np.random.default_rng(seed).normal(size=x.shape)  # upstream gradient
    _, cache = getattr(npa, f"{name}_forward")(x)
    analytic = getattr(npa, f"{name}_backward")(g, cache)
    # centred differences in float64: error ~ eps**2 plus rounding ~ 1e-16 / eps
    (numeric,) = assert_backward(getattr(npa, name), lambda _: analytic, x, upstream=g, rtol=1e-6, atol=1e-8)
    assert relative_error(analytic, numeric) < 1e-3


@pytest.mark.parametrize("value, expected", [(-1000.0, 0.0), (1000.0, 1.0), (0.0, 0.5)])
def test_sigmoid_extremes_are_exact_and_quiet(value, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert npa.sigmoid(np.array([value]))[0] == expected


@pytest.mark.parametrize("name", [*OPS, "step"])
def test_float32_stays_float32(name):
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    assert getattr(npa, name)(x).dtype == np.float32
    assert getattr(tha, name)(torch.from_numpy(x)).dtype == torch.float32


def test_step_matches_between_trees():
    x = np.array([-2.0, -0.0, 0.0, 1e-9, 3.0])
    np.testing.assert_array_equal(npa.step(x), [0, 1, 1, 1, 1])
    np.testing.assert_array_equal(tha.step(torch.from_numpy(x)).numpy(), npa.step(x))


def test_relu_gradient_at_zero_is_zero_like_torch():
    _, cache = npa.relu_forward(np.array([0.0]))
    assert npa.relu_backward(np.array([1.0]), cache)[0] == 0.0
    x = torch.zeros(1, requires_grad=True)
    torch.relu(x).backward(torch.ones(1))
    assert x.grad.item() == 0.0
