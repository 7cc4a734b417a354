"""Hostile inputs a reviewer found beyond the fuzz test's kinds: each gets one sentence, or works."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcourse.numpy import conv as NC
from dlcourse.numpy import layers as NL
from dlcourse.numpy import optim as NO
from dlcourse.numpy import train as NT
from dlcourse.torch import activations as TA
from dlcourse.torch import conv as TC
from dlcourse.torch import layers as TL
from dlcourse.torch import optim as TO
from dlcourse.torch import train as TT

rng = np.random.default_rng(0)


def test_a_numpy_layer_cannot_appear_twice_in_a_network():
    """Its one cache would hold the second call's input and the gradients would be silently wrong."""
    shared = NL.Linear(2, 2, rng)
    with pytest.raises(ValueError, match=r"^layer 3 is layer 1 again; a NumPy layer keeps one cache"):
        NL.Sequential(NL.Linear(2, 2, rng), shared, NL.Tanh(), shared)


@pytest.mark.parametrize(
    "layer", [NL.Linear(3, 2, rng), NL.ReLU(), NC.Conv2d(1, 1, 3, rng), NC.MaxPool2d(2), NC.Flatten()], ids=type
)
def test_backward_before_forward_is_a_sentence(layer):
    with pytest.raises(ValueError, match=r"\.backward was called before forward; call the layer on a batch first\.$"):
        layer.backward(np.ones((4, 2)))


def test_train_mode_must_be_a_bool():
    with pytest.raises(TypeError, match=r"^mode must be True or False, got 'False'\.$"):
        NL.Sequential(NL.Dropout(0.5, rng)).train("False")


@pytest.mark.parametrize("tree", [NC, TC], ids=["numpy", "torch"])
def test_a_convolution_too_large_to_allocate_is_refused_before_allocating(tree):
    x = np.ones((1, 1, 4, 4)) if tree is NC else torch.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match=r"would hold [\d,]+ values .* more than the 268,435,456 allowed\.$"):
        tree.Conv2d(1, 1, 3, rng, padding=10**5)(x)
    big = [np.ones(s, dtype=np.float32) for s in ((1, 1, 600, 600), (1, 1, 300, 300), (1,))]
    with pytest.raises(ValueError, match=r"^the im2col matrix would hold"):
        tree.conv2d_forward(*(big if tree is NC else [torch.from_numpy(a) for a in big]))


@pytest.mark.parametrize("tree", [NC, TC], ids=["numpy", "torch"])
def test_a_convolution_needs_a_channel_and_a_kernel(tree):
    to = np.asarray if tree is NC else torch.as_tensor
    for x, w, b in (((1, 0, 4, 4), (1, 0, 3, 3), (1,)), ((1, 1, 4, 4), (0, 1, 3, 3), (0,))):
        with pytest.raises(ValueError, match=r"^x and weight must have at least one channel and one kernel"):
            tree.conv2d_forward(to(np.ones(x)), to(np.ones(w)), to(np.ones(b)))


@pytest.mark.parametrize("tree", ["numpy", "torch"])
def test_an_empty_validation_set_is_refused_alike(tree):
    train, layers, optim = (NT, NL, NO) if tree == "numpy" else (TT, TL, TO)
    to = np.asarray if tree == "numpy" else torch.as_tensor
    model = layers.Sequential(layers.Linear(3, 2, rng))
    with pytest.raises(ValueError, match=r"^x_val is empty; give at least one validation example"):
        train.fit(
            model,
            optim.SGD(model.parameters(), lr=0.1),
            to(np.ones((4, 3))),
            to(np.zeros(4, dtype=np.int64)),
            1,
            2,
            rng,
            x_val=to(np.ones((0, 3))),
            y_val=to(np.zeros(0, dtype=np.int64)),
            progress=False,
        )


def test_messages_stay_short_whatever_the_value():
    with pytest.raises(TypeError) as caught:
        NO.Adam([NL.Parameter(np.ones(2))], betas=[0.5] * 10**5)
    assert len(str(caught.value)) < 120

    class BadRepr:
        def __repr__(self) -> str:
            raise RuntimeError("boom")

    with pytest.raises(TypeError, match=r"^rng must be a numpy.random.Generator, .* got a BadRepr\.$"):
        NL.Linear(3, 2, BadRepr())


def test_torch_takes_negative_strides_as_numpy_does():
    x = np.arange(6.0)[::-1] - 2
    np.testing.assert_array_equal(TA.relu(x).numpy(), np.maximum(x, 0))


def test_parameters_check_their_gradients_and_their_tree():
    p = NL.Parameter(np.ones(3))
    with pytest.raises(ValueError, match=r"^grad must have shape \(3,\), got \(2,\)\.$"):
        p.accumulate([1.0, 2.0])
    with pytest.raises(TypeError, match=r"^params\[0\] must be a torch tensor"):
        TO.SGD([NL.Parameter(np.ones(3))], lr=0.1)
    with pytest.raises(TypeError, match=r"^params\[0\] must be a NumPy-tree Parameter"):
        NO.SGD([torch.nn.Parameter(torch.ones(3))], lr=0.1)
    frozen = np.ones(3)
    frozen.setflags(write=False)
    q = NL.Parameter(frozen)
    q.grad = np.ones(3)
    NO.SGD([q], lr=0.5).step()  # a read-only array is copied, so the step works
    np.testing.assert_array_equal(q.data, 0.5)
    with pytest.raises(ValueError, match=r"^state has keys \['1', 'bias'\], expected \['bias', 'weight'\]\.$"):
        NL.Linear(1, 1, rng).load_state_dict({1: 0, "bias": 0})
