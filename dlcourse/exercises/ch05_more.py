"""Chapter 5's exercises that build, debug and train what the chapter did not show: the backward
pass of the GELU activation, a two-layer network's backward pass with a bug in it, and a learning
rate and initial weight scale that train a small network in a fixed budget of steps.

Re-exported by :mod:`dlcourse.exercises.ch05`, so the book calls ``ch05.check_gelu_backward``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from dlcourse.data import load_digits
from dlcourse.exercises import routes, running
from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker
from dlcourse.numpy import layers as L
from dlcourse.numpy import losses, optim, train

KEY_EXPRESSIONS = {
    "gelu_backward": ["0.5 * x * (1 - t ** 2)", "3 * 0.044715 * x ** 2"],
    "two_layer_backward": ["x.T @ dz1"],
    "train_mlp": ["sqrt(2 / 64)", "lr = 0.5"],
}

C_GELU = np.sqrt(2 / np.pi)  # the constant inside the tanh approximation of GELU


def gelu(x: np.ndarray) -> np.ndarray:
    r"""GELU, tanh approximation: :math:`\tfrac12 x\,(1 + \tanh(c\,(x + 0.044715\,x^3)))`, :math:`c = \sqrt{2/\pi}`."""
    x = np.asarray(x, dtype=float)
    return 0.5 * x * (1 + np.tanh(C_GELU * (x + 0.044715 * x**3)))


def solution_gelu_backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dL/dx for out = gelu(x), given dout = dL/dout of the shape of x (any shape)."""
    x = np.asarray(x, dtype=float)
    t = np.tanh(C_GELU * (x + 0.044715 * x**3))  # tanh(u), u = c (x + 0.044715 x^3)
    du_dx = C_GELU * (1 + 3 * 0.044715 * x**2)  # the inner derivative
    local = 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * du_dx  # product rule: (x/2)' (1 + t) + (x/2) t'
    return dout * local


def _gelu_parts(x: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    return x, np.tanh(C_GELU * (x + 0.044715 * x**3)), C_GELU * (1 + 3 * 0.044715 * x**2)


def _gelu_wrong(dout: Any, x: Any, first: bool = True, tanh_prime: str = "right", inner: str = "right") -> np.ndarray:
    """A typical wrong GELU derivative (times dout): a term missing, tanh' wrong, or no inner derivative."""
    x, t, du_dx = _gelu_parts(x)
    slope = {"right": 1 - t**2, "linear": 1 - t}[tanh_prime]
    inner_factor = {"right": du_dx, "none": 1.0, "constant": C_GELU}[inner]
    return dout * ((0.5 * (1 + t) if first else 0.0) + 0.5 * x * slope * inner_factor)


@checker
def check_gelu_backward(answer: Any) -> Feedback:
    """Exercise 5.5: ``gelu_backward(dout, x)``, the gradient through GELU (tanh approximation), by hand."""
    rng = np.random.default_rng(55)
    cases = [
        Case((np.ones(5), np.array([-3.0, -1.0, 0.0, 0.5, 2.0])), "dout = 1, x = [-3, -1, 0, 0.5, 2]"),
        Case((rng.normal(size=(3, 4)), 2 * rng.normal(size=(3, 4))), "dout and x of shape (3, 4)"),
        Case(
            (np.array([1.0, -2.0, 0.5, 3.0]), np.array([-30.0, -8.0, 8.0, 30.0])),
            "dout = [1, -2, 0.5, 3], x = [-30, -8, 8, 30]",
        ),
        Case((np.array([1.0, 2.0]), np.array([1e8, 3e8])), "dout = [1, 2], x = [1e8, 3e8]"),  # no finite difference
    ]
    return check_function(
        "gelu_backward",
        answer,
        solution_gelu_backward,
        cases,
        hint=(
            "Split GELU into pieces you can differentiate: a product of x/2 and (1 + tanh(u)), where u itself "
            "depends on x. Check each piece against a finite difference at one x.",
            "Three rules are at work: the product rule for (x/2)(1 + tanh u), tanh'(u) = 1 - tanh(u)^2, and the "
            "chain rule through u = c (x + 0.044715 x^3). Then multiply by dout, entry by entry. For large |x| "
            "use np.tanh, which does not overflow.",
        ),
        forbid=routes.forbid_names(  # ch05.gelu and numerical_gradient give finite differences, not the derivative
            ("torch", "autograd", "jax", "tensorflow", "gelu", "numerical_gradient", "gradcheck"),
            "this exercise asks for the derivative worked out by hand, not a finite difference or autograd",
        ),
        mistakes=[
            Mistake(
                lambda g, x: g * gelu(x),
                (
                    "That is the GELU's output times dout, the forward pass, not its derivative.",
                    "The backward pass multiplies dout by the local derivative d gelu/dx, evaluated at x.",
                ),
            ),
            Mistake(
                lambda g, x: _gelu_wrong(1.0, x),
                (
                    "The shape of your output is right and so is its pattern for dout = 1, but dout is ignored.",
                    "The chain rule multiplies the upstream gradient dout by the local derivative, entry by entry.",
                ),
            ),
            Mistake(
                lambda g, x: g * 0.5 * (1 + _gelu_parts(x)[1]),
                (
                    "GELU is a product, (x/2) times (1 + tanh u), and you differentiated only one factor.",
                    "The product rule: (fg)' = f'g + fg'. The second term needs the derivative of tanh(u) with "
                    "respect to x.",
                ),
            ),
            Mistake(
                lambda g, x: _gelu_wrong(g, x, inner="none"),
                (
                    "The derivative of tanh(u) with respect to x needs one more factor.",
                    "u = c (x + 0.044715 x^3) depends on x: multiply tanh'(u) by du/dx (the chain rule).",
                ),
            ),
            Mistake(
                lambda g, x: _gelu_wrong(g, x, inner="constant"),
                (
                    "du/dx is not the constant c alone: u also holds a cubic term in x.",
                    "Differentiate c (x + 0.044715 x^3) term by term.",
                ),
            ),
            Mistake(
                lambda g, x: _gelu_wrong(g, x, tanh_prime="linear"),
                (
                    "Check your derivative of tanh.",
                    "tanh'(u) = 1 - tanh(u)^2, the square included.",
                ),
            ),
        ],
    )


def _two_layer_forward(
    x: np.ndarray, y: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z1 = x @ W1 + b1  # (N, H)
    h1 = np.maximum(z1, 0)  # (N, H)
    scores = h1 @ W2 + b2  # (N, C)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)  # softmax, (N, C)
    return z1, h1, p


def two_layer_loss(
    x: np.ndarray, y: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray
) -> float:
    """The mean softmax cross-entropy of the network linear -> ReLU -> linear on a batch."""
    *_, p = _two_layer_forward(x, y, W1, b1, W2, b2)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def solution_two_layer_backward(
    x: np.ndarray, y: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gradients (dW1, db1, dW2, db2) of the mean cross-entropy of linear -> ReLU -> linear.

    x (N, D), y (N,) class indices, W1 (D, H), b1 (H,), W2 (H, C), b2 (C,).
    """
    z1 = x @ W1 + b1  # (N, H)
    h1 = np.maximum(z1, 0)  # (N, H)
    scores = h1 @ W2 + b2  # (N, C)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)  # softmax, (N, C)

    dscores = p.copy()  # dL/dscores for the mean cross-entropy
    dscores[np.arange(len(y)), y] -= 1
    dscores /= len(y)
    dW2 = h1.T @ dscores  # (H, C)
    db2 = dscores.sum(axis=0)  # (C,)
    dh1 = dscores @ W2.T  # (N, H)
    dz1 = dh1 * (z1 > 0)  # the ReLU lets the gradient through where its input was positive
    dW1 = x.T @ dz1  # (D, H)
    db1 = dz1.sum(axis=0)  # (H,)
    return dW1, db1, dW2, db2


def _two_layer_variant(
    x: np.ndarray, y: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, *, bug: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The backward pass with one typical bug: the book's stub ("stub"), no ReLU mask, averaged bias
    gradients, or a batch mean left out."""
    z1, h1, p = _two_layer_forward(x, y, W1, b1, W2, b2)
    dscores = p.copy()
    dscores[np.arange(len(y)), y] -= 1
    if bug != "sum":
        dscores /= len(y)
    reduce = np.mean if bug == "mean" else np.sum
    dW2, db2 = h1.T @ dscores, reduce(dscores, axis=0)
    dh1 = dscores @ W2.T
    dz1 = dh1 if bug == "nomask" else dh1 * (z1 > 0)
    dW1 = x.T @ (dh1 if bug == "stub" else dz1)  # the stub masks dh1 in place after dW1 has read it
    return dW1, reduce(dz1, axis=0), dW2, db2


def _two_layer_case(rng: np.random.Generator, n: int, d: int, h: int, c: int) -> Case:
    args = (
        rng.normal(size=(n, d)),
        rng.integers(0, c, size=n),
        rng.normal(size=(d, h)),
        0.5 * rng.normal(size=h),
        rng.normal(size=(h, c)),
        0.5 * rng.normal(size=c),
    )
    return Case(args, f"x ({n}, {d}), W1 ({d}, {h}), W2 ({h}, {c})")


@checker
def check_two_layer_backward(answer: Any) -> Feedback:
    """Exercise 5.6 (debug): ``two_layer_backward(x, y, W1, b1, W2, b2)`` returning ``(dW1, db1, dW2, db2)``."""
    rng = np.random.default_rng(57)
    cases = [_two_layer_case(rng, 4, 3, 5, 2), _two_layer_case(rng, 6, 4, 3, 5), _two_layer_case(rng, 1, 2, 4, 3)]
    return check_function(
        "two_layer_backward",
        answer,
        solution_two_layer_backward,
        cases,
        hint=(
            "Find the first gradient that is wrong, then read the lines that lead to it: compare each of the four "
            "with a finite-difference estimate (numerical_gradient on two_layer_loss), or with torch.autograd.",
            "Walk the backward pass from the loss to the input and write beside each line the shape and the "
            "meaning of its array: each gradient must be built from the array that belongs to its own layer.",
        ),
        parts=("dW1", "db1", "dW2", "db2"),
        mistakes=[
            Mistake(
                functools.partial(_two_layer_variant, bug="stub"),
                (
                    "Compare each of the four gradients with numerical_gradient on ch05.two_layer_loss (or with "
                    "torch.autograd) to see which are right; then read the lines that build the wrong ones.",
                    "dW2, db2 and db1 are right; only dW1 is not. The output layer is fine, so the error enters "
                    "between the hidden layer's gradient and dW1.",
                    "db1 and dW1 must both be built from the gradient at z1, after the ReLU has blocked it where "
                    "z1 was not positive. Check what the array each of the two lines reads holds when that line runs.",
                ),
            ),
            Mistake(
                functools.partial(_two_layer_variant, bug="nomask"),
                (
                    "The output layer's gradients are right, but both of the hidden layer's are off: the "
                    "gradient does not pass through the ReLU correctly.",
                    "A ReLU passes the gradient only where its input was positive and blocks it elsewhere.",
                ),
            ),
            Mistake(
                functools.partial(_two_layer_variant, bug="mean"),
                (
                    "The bias gradients are off by a factor of the batch size.",
                    "Every example adds its share to a bias gradient; the mean over the batch has already "
                    "been taken once, in the loss's gradient.",
                ),
            ),
            Mistake(
                functools.partial(_two_layer_variant, bug="sum"),
                (
                    "Every gradient is too large by the same factor: compare that factor with the batch size.",
                    "The loss is the mean over the batch, so its gradient with respect to the scores carries "
                    "a factor 1/N.",
                ),
            ),
        ],
    )


# Training: a learning rate and an initial weight scale for plain SGD in a fixed budget.
TRAIN_STEPS = 150  # updates, each on a minibatch of TRAIN_BATCH images
TRAIN_BATCH = 32
TARGET_ACCURACY = 0.9  # on the test split, which neither the learner nor train_mlp trains or tunes on


@functools.lru_cache(maxsize=1)
def _digits() -> dict[str, np.ndarray]:
    return load_digits(seed=0)


def _train(lr: float, init_scale: float, seed: int = 0) -> tuple[np.ndarray, L.Sequential]:
    """The losses of every step, and the trained 64-32-10 network."""
    data, rng = _digits(), np.random.default_rng(seed)
    net = L.Sequential(L.Linear(64, 32, rng, init="zeros"), L.ReLU(), L.Linear(32, 10, rng, init="zeros"))
    with np.errstate(all="ignore"):  # a huge scale overflows float32: the run reports it
        for name, p in net.named_parameters():
            if name.endswith("weight"):
                p.data[...] = init_scale * rng.standard_normal(p.shape)  # biases stay 0
    opt = optim.SGD(net.parameters(), lr=lr)
    x, y = data["x_train"], data["y_train"]
    epochs = -(-TRAIN_STEPS * TRAIN_BATCH // len(x))  # ceiling division
    order = np.concatenate([rng.permutation(len(x)) for _ in range(epochs)])
    history = np.full(TRAIN_STEPS, np.nan)
    with np.errstate(all="ignore"):
        for step in range(TRAIN_STEPS):
            idx = order[step * TRAIN_BATCH : (step + 1) * TRAIN_BATCH]
            net.zero_grad()
            loss, cache = losses.cross_entropy_forward(net(x[idx]), y[idx])
            history[step] = loss
            if not np.isfinite(loss):
                break
            net.backward(losses.cross_entropy_backward(1.0, cache))
            opt.step()
    return history, net


def _accuracy(net: L.Sequential, split: str) -> float:
    data = _digits()
    with np.errstate(all="ignore"):
        return train.accuracy(net, data[f"x_{split}"], data[f"y_{split}"])


def train_mlp(lr: float, init_scale: float) -> tuple[np.ndarray, float]:
    """Train the exercise's 64-32-10 ReLU network on the digits with plain SGD.

    Both weight matrices are drawn from a normal distribution of standard deviation ``init_scale``
    (biases start at 0); then ``TRAIN_STEPS`` SGD updates of learning rate ``lr``, each on a
    shuffled minibatch of ``TRAIN_BATCH`` training images, minimise the cross-entropy. Seeded: the
    same arguments give the same run.

    Returns:
        The training loss of every step (NaN after a step whose loss was not finite) and the
        accuracy on the validation split.

    Raises:
        ValueError: ``lr`` or ``init_scale`` is not a finite number, ``lr`` is not positive or
            ``init_scale`` is negative.
    """
    lr_value, scale, problem = _settings(lr, init_scale)
    if problem:
        raise ValueError(running.sentence(problem))
    history, net = _train(lr_value, scale)
    return history, _accuracy(net, "val")


def _number(value: Any, name: str) -> tuple[float | None, str]:
    """A real number from an int, a float, a NumPy or torch scalar, or a 0-d array; else a sentence."""
    if hasattr(value, "detach") and hasattr(value, "numel"):  # a torch tensor
        try:
            value = value.detach().cpu().numpy()
        except Exception:
            return None, f"the tensor given for {name} could not be read; expected a number."
    if value is None:
        return None, f"the value given for {name} is still None; expected a number."
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number, np.ndarray)):
        return None, f"the value given for {name} is a {type(value).__name__}; expected a number."
    array = np.asarray(value)
    if array.ndim != 0 or array.dtype.kind not in "iuf":
        return None, f"the value given for {name} is an array of shape {array.shape}; expected one real number."
    number = float(array)
    if not np.isfinite(number):
        return None, f"the value given for {name} is {number}; expected a finite number."
    return number, ""


def _settings(lr: Any, init_scale: Any) -> tuple[float, float, str]:
    """``lr`` and ``init_scale`` as floats, or a sentence saying what is wrong with them."""
    lr_value, lr_problem = _number(lr, "lr")
    scale, scale_problem = _number(init_scale, "init_scale")
    if lr_problem or scale_problem or lr_value is None or scale is None:
        return 0.0, 0.0, lr_problem or scale_problem
    if lr_value <= 0:
        return 0.0, 0.0, f"the learning rate lr is {lr_value:g}; expected a positive number."
    if scale < 0:
        return 0.0, 0.0, f"init_scale is {scale:g}, but it is a standard deviation: expected 0 or more."
    return lr_value, scale, ""


solution_train_mlp = (0.5, float(np.sqrt(2 / 64)))  # (lr, init_scale): He's scale for 64 inputs


@checker
def check_train_mlp(lr: Any, init_scale: Any) -> Feedback:
    """Exercise 5.7 (train): a learning rate and an initial weight scale with which :func:`train_mlp`'s
    network reaches ``TARGET_ACCURACY`` on the held-out test split within ``TRAIN_STEPS`` steps."""
    general = (
        "Run ch05.train_mlp(lr, init_scale) for a few values on a log scale and look at the loss curve it returns "
        "as well as the accuracy: where it starts, whether it falls, and whether it is still falling at the end.",
        "Fix init_scale and vary lr by factors of ten, then fix the best lr and vary init_scale by factors of "
        "three; the first loss should be close to ln 10 (a uniform guess over 10 digits).",
    )
    lr_value, scale, problem = _settings(lr, init_scale)
    if problem:
        return Feedback("train_mlp", False, problem, general)
    history, net = _train(lr_value, scale)
    fail = functools.partial(Feedback, "train_mlp", False)
    first, last = history[0], history[-1]
    said = f"with learning rate {lr_value:g} and init_scale {scale:g}"
    if not np.isfinite(first):
        return fail(
            f"{said} the loss of the first batch is not a finite number: the weights start far too large.",
            (
                "The network's first scores overflow before any training step.",
                "Shrink init_scale by factors of ten until the first loss is close to ln 10 ≈ 2.3.",
            ),
        )
    if not np.all(np.isfinite(history)):
        return fail(
            f"{said} the training loss was no longer a finite number at step {int(np.argmin(np.isfinite(history))) + 1}"
            " of the run: the steps are too large.",
            (
                "The loss blew up instead of falling: the updates overshoot.",
                "Lower the learning rate by factors of ten until the loss falls from the first steps on; if the "
                "first loss is far above ln 10, shrink init_scale too.",
            ),
        )
    if not any(np.any(p.data) for name, p in net.named_parameters() if name.endswith("weight")):
        return fail(
            f"{said} every weight is still exactly zero after {TRAIN_STEPS} steps: the network returned the same "
            "scores for every image.",
            (
                "Work out what the hidden layer outputs when W1 is all zeros, and what the gradients of W2 and "
                "W1 then are.",
                "With all weights zero every hidden unit computes the same thing, zero, and each weight matrix's "
                "gradient is a product with the other layer's weights or activations, both zero: nothing breaks "
                "the symmetry, so the weights never leave zero. They must start random, at a scale that is not 0.",
            ),
        )
    message = f"{said}, {TRAIN_STEPS} steps took the training loss from {first:.3f} to {last:.3f}"
    if history.max() > 1.5 * first:
        message += f" (on the way it rose as high as {history.max():.3f})"
    test_accuracy = _accuracy(net, "test")  # only a verdict unless it passes: no tuning on the test split
    if test_accuracy >= TARGET_ACCURACY:
        n_test = len(_digits()["y_test"])
        message += f", and the accuracy on the {n_test} test images is {test_accuracy:.3f}"
        return Feedback("train_mlp", True, f"{message}, at least the target {TARGET_ACCURACY:g}.")
    message += (
        f"; the validation accuracy is {_accuracy(net, 'val'):.3f}, and on the test images the network does "
        f"not reach the target {TARGET_ACCURACY:g}."
    )
    if first > 2 * np.log(10):
        hint = (
            "The loss of the very first batch is far above ln 10 ≈ 2.3, the loss of a uniform guess: the network "
            "starts out confidently wrong.",
            "The first scores are too large: each layer sums 64 or 32 inputs, so the more inputs a neuron sums, "
            "the smaller its weights must start. Shrink init_scale.",
        )
    elif history.max() > 1.5 * first or last > first:
        hint = (
            "The loss rose above where it started at some point: the updates overshoot.",
            "Lower the learning rate by factors of ten until the loss falls from the first steps on.",
        )
    elif last > 0.8 * first:
        hint = (
            "The loss barely moved in the budget of steps.",
            "Either the steps are too small (raise lr by factors of ten) or the weights start so small that both "
            "layers' gradients are tiny (each layer's weight gradient is proportional to the other layer's "
            "weights): try a larger init_scale.",
        )
    else:
        hint = general
    return fail(message, hint)
