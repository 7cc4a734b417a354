"""Losses: worked example, stability at ±1e4, finite differences, torch agreement, bad input."""

from __future__ import annotations

import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from dlcourse.numpy import losses as npl
from dlcourse.torch import losses as thl

from .helpers import assert_backward

logit_values = st.one_of(st.floats(-50, 50), st.sampled_from([-1e4, 1e4, 0.0]))


@st.composite
def logits_and_labels(draw):
    n, c = draw(st.integers(1, 6)), draw(st.integers(2, 6))
    z = draw(hnp.arrays(np.float64, (n, c), elements=logit_values))
    y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return z, y


def test_worked_example_from_the_seed():
    """Predicted [0.3, 0.4, 0.3] with true class B: loss -log(0.4) = 0.916."""
    probs, target = np.array([0.3, 0.4, 0.3]), npl.one_hot(np.array(1), 3)
    assert round(npl.categorical_cross_entropy(probs, target), 3) == 0.916
    assert round(thl.categorical_cross_entropy(torch.tensor(probs), torch.tensor(target)), 3) == 0.916
    assert npl.categorical_cross_entropy(probs, target) == pytest.approx(-np.log(0.4))


@given(logits_and_labels())
def test_extremes_give_no_nan_inf_or_warning(zy):
    z, y = zy
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p, logp = npl.softmax(z), npl.log_softmax(z)
        loss = npl.cross_entropy(z, y)
    assert np.isfinite(p).all() and np.isfinite(logp).all() and np.isfinite(loss)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


@given(logits_and_labels())
def test_matches_torch_forward_and_gradient(zy):
    z, y = zy
    zt = torch.tensor(z, requires_grad=True)
    reference = F.cross_entropy(zt, torch.tensor(y))
    reference.backward()
    loss, cache = npl.cross_entropy_forward(z, y)
    np.testing.assert_allclose(loss, reference.item(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(npl.cross_entropy_backward(1.0, cache), zt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(npl.softmax(z), torch.softmax(torch.tensor(z), -1).numpy(), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(
        npl.log_softmax(z), torch.log_softmax(torch.tensor(z), -1).numpy(), rtol=1e-10, atol=1e-12
    )
    tloss, tcache = thl.cross_entropy_forward(torch.tensor(z), torch.tensor(y))
    np.testing.assert_allclose(tloss, reference.item(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(thl.cross_entropy_backward(1.0, tcache).numpy(), zt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_gradient_is_p_minus_y_over_n():
    z, y = np.array([[2.0, 1.0, 0.1], [0.5, 0.5, 3.0]]), np.array([0, 2])
    _, cache = npl.cross_entropy_forward(z, y)
    np.testing.assert_allclose(npl.cross_entropy_backward(1.0, cache), (npl.softmax(z) - npl.one_hot(y, 3)) / 2)


@pytest.mark.parametrize("seed", range(5))
def test_backwards_match_finite_differences(seed):
    rng = np.random.default_rng(seed)
    z, y = rng.normal(size=(4, 5)) * 3, rng.integers(0, 5, size=4)
    _, cache = npl.cross_entropy_forward(z, y)
    dz = npl.cross_entropy_backward(1.0, cache)
    assert_backward(lambda v: npl.cross_entropy(v, y), lambda _: dz, z, upstream=1.0, rtol=1e-6, atol=1e-9)

    g = rng.normal(size=(4, 5))
    _, pcache = npl.softmax_forward(z)
    (numeric,) = assert_backward(
        npl.softmax, lambda g_: npl.softmax_backward(g_, pcache), z, upstream=g, rtol=1e-6, atol=1e-9
    )
    tgrad = thl.softmax_backward(torch.tensor(g), thl.softmax_forward(torch.tensor(z))[1]).numpy()
    np.testing.assert_allclose(tgrad, numeric, rtol=1e-6, atol=1e-9)

    pred, target = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    _, mcache = npl.mse_forward(pred, target)
    dpred = npl.mse_backward(1.0, mcache)
    assert_backward(lambda v: npl.mse(v, target), lambda _: dpred, pred, upstream=1.0, rtol=1e-6, atol=1e-9)
    pt = torch.tensor(pred, requires_grad=True)
    F.mse_loss(pt, torch.tensor(target)).backward()
    np.testing.assert_allclose(npl.mse_backward(1.0, mcache), pt.grad.numpy(), rtol=1e-12)
    assert npl.mse(pred, target) == pytest.approx(thl.mse(torch.tensor(pred), torch.tensor(target)), rel=1e-12)


@pytest.mark.parametrize("tree", [npl, thl], ids=["numpy", "torch"])
def test_bad_input(tree):
    """Both trees refuse alike: shapes, labels (floats, booleans, out of range), empty batches, no classes."""
    to = np.asarray if tree is npl else torch.as_tensor
    with pytest.raises(ValueError, match=r"^target must have shape \(2,\), got \(3,\)\.$"):
        tree.cross_entropy(to(np.zeros((2, 3))), to(np.array([0, 1, 2])))
    with pytest.raises(ValueError, match=r"^target must hold labels in \[0, 3\), got values from 0 to 3\.$"):
        tree.cross_entropy(to(np.zeros((2, 3))), to(np.array([0, 3])))
    with pytest.raises(ValueError, match=r"^target must hold labels in \[0, 3\), got values from -1 to 0\.$"):
        tree.cross_entropy(to(np.zeros((2, 3))), to(np.array([0, -1])))
    with pytest.raises(TypeError, match=r"^target must hold integer class labels, got dtype .*float64\.$"):
        tree.cross_entropy(to(np.zeros((2, 3))), to(np.array([0.0, 1.0])))
    with pytest.raises(TypeError, match=r"^labels must hold integer class labels, got dtype .*bool\.$"):
        tree.one_hot(to(np.array([True, False])), 2)
    with pytest.raises(ValueError, match=r"^target must have shape \(2, 2\), got \(2,\)\.$"):
        tree.mse(to(np.zeros((2, 2))), to(np.zeros(2)))
    with pytest.raises(ValueError, match=r"^labels must hold labels in \[0, 3\), got values from 3 to 3\.$"):
        tree.one_hot(to(np.array([3])), 3)
    with pytest.raises(ValueError, match=r"^pred is empty \(shape \(0, 2\)\); a loss needs at least one value"):
        tree.mse(to(np.zeros((0, 2))), to(np.zeros((0, 2))))
    with pytest.raises(ValueError, match=r"^logits is empty \(shape \(0, 3\)\)"):
        tree.cross_entropy(to(np.zeros((0, 3))), to(np.zeros(0, dtype=np.int64)))
    for fn in (tree.softmax, tree.log_softmax):
        with pytest.raises(
            ValueError, match=r"^logits must have a last axis of at least one class, got shape \(2, 0\)\.$"
        ):
            fn(to(np.zeros((2, 0))))
    with pytest.raises(TypeError, match=r"^logits must hold real numbers"):
        tree.softmax(np.zeros(3) + 1j)
    with pytest.raises(TypeError, match=r"^dout must be a real number, got 'a'\.$"):
        tree.mse_backward("a", tree.mse_forward(to(np.zeros(2)), to(np.ones(2)))[1])


@pytest.mark.parametrize("tree", [npl, thl], ids=["numpy", "torch"])
def test_zero_probability_on_the_true_class_is_infinite(tree):
    """-log 0 is infinite: both trees return inf, with no warning (documented)."""
    to = np.asarray if tree is npl else torch.as_tensor
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tree.categorical_cross_entropy(to(np.array([[0.0, 1.0]])), to(np.array([[1.0, 0.0]]))) == np.inf
    assert tree.mse(to(np.array([1e200])), to(np.array([-1e200]))) == np.inf
