"""Bad input gets one clear sentence that names the argument, in both trees."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlcourse.numpy import activations as npa
from dlcourse.numpy import linalg as npl
from dlcourse.numpy import perceptron as npp
from dlcourse.torch import activations as tha
from dlcourse.torch import linalg as thl
from dlcourse.torch import perceptron as thp

TREES = [
    pytest.param(npa, npl, npp, np.asarray, id="numpy"),
    pytest.param(tha, thl, thp, torch.as_tensor, id="torch"),
]


def _one_sentence(message: str) -> None:
    assert message.count(". ") == 0 and message.endswith("."), f"not one sentence: {message!r}"


@pytest.mark.parametrize("act, lin, per, arr", TREES)
def test_wrong_shape_names_argument_got_and_expected(act, lin, per, arr):
    with pytest.raises(ValueError) as err:
        lin.matmul(arr(np.ones((2, 3))), arr(np.ones((4, 2))))
    assert str(err.value) == "b must have shape (3, any), got (4, 2)."
    with pytest.raises(ValueError) as err:
        per.neuron(arr(np.ones((5, 4))), arr(np.ones(3)), 0.0)
    assert str(err.value) == "x must have shape (any, 3), got (5, 4)."
    _one_sentence(str(err.value))


@pytest.mark.parametrize("act, lin, per, arr", TREES)
def test_nan_where_none_is_allowed(act, lin, per, arr):
    x = np.ones((3, 2))
    x[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"^x contains NaN at 1 position\(s\); NaN is not allowed here\.$"):
        per.perceptron_train(arr(x), arr(np.array([0.0, 1.0, 0.0])))


@pytest.mark.parametrize("act, lin, per, arr", TREES)
def test_labels_and_learning_rate(act, lin, per, arr):
    x = arr(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"^y must hold only the labels 0 and 1\.$"):
        per.perceptron_train(x, arr(np.array([0.0, 2.0])))
    with pytest.raises(ValueError, match=r"^lr must be a positive number, got -1\.0\.$"):
        per.perceptron_train(x, arr(np.array([0.0, 1.0])), lr=-1.0)


def test_wrong_dtype():
    with pytest.raises(TypeError, match=r"^x must hold real numbers, got an array of dtype <U1\.$"):
        npa.sigmoid(np.array(["a", "b"]))
    with pytest.raises(TypeError, match=r"^x must hold real numbers, got a tensor of dtype torch\.complex64\.$"):
        tha.sigmoid(torch.zeros(2, dtype=torch.complex64))


def test_backward_shape_mismatch():
    _, cache = npa.sigmoid_forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"^dout must have shape \(2, 3\), got \(3, 2\)\.$"):
        npa.sigmoid_backward(np.zeros((3, 2)), cache)


def test_integers_are_accepted_as_floats():
    assert npa.relu([-1, 2]).tolist() == [0.0, 2.0]
    assert tha.relu(torch.tensor([-1, 2])).tolist() == [0.0, 2.0]


def test_an_int_beyond_float_range_gets_one_sentence_even_past_the_str_digit_limit():
    from dlcourse.validation import as_real

    for digits in (401, 5001):  # str() of an int of over 4300 digits raises in Python >= 3.11
        with pytest.raises(
            ValueError, match=rf"^lr is too large to be a float, got an int of about {digits} digits\.$"
        ):
            as_real(10 ** (digits - 1), "lr")
