"""Chapter 5 exercises: every solution passes, typical wrong answers get their hints, checkers never
raise, and every gradient a checker compares with is itself checked against float64 finite
differences and torch.autograd."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.autograd import Value
from dlcourse.exercises import ch05, ch05_autograd, ch05_more, tracking
from dlcourse.gradcheck import numerical_gradient
from dlcourse.numpy import activations
from dlcourse.numpy import layers as L

from .exercise_suite import Args, discover, raises_boom, standard_tests

SOLUTIONS = discover(ch05, ch05_more, ch05_autograd)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS] + [ch05.check_train_mlp]
NOTEBOOK = Path(__file__).resolve().parents[1] / "chapters" / "05_backpropagation.ipynb"


def test_linear_solutions_agree_with_the_package_and_with_torch():
    rng = np.random.default_rng(0)
    x, w, b, g = rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(5, 4))
    out, _ = L.linear_forward(x, w, b)
    np.testing.assert_allclose(ch05.solution_linear_forward(x, w, b), out)
    assert ch05.solution_weight_shape(2, 3) == L.Linear(2, 3, rng).weight.shape
    # torch.nn.Linear stores the weight (D_out, D_in): the transposed exercise's layout
    layer = torch.nn.Linear(3, 4).double()
    xt = torch.tensor(x, requires_grad=True)
    layer(xt).backward(torch.from_numpy(g))
    dx, dw, db = ch05.solution_linear_backward_transposed(g, x, layer.weight.detach().numpy())
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(dw, layer.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(db, layer.bias.grad.numpy(), rtol=1e-12)


def test_linear_backward_transposed_matches_finite_differences():
    rng = np.random.default_rng(1)
    x, w, b, g = rng.normal(size=(4, 2)), rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=(4, 3))
    dx, dw, db = ch05.solution_linear_backward_transposed(g, x, w)
    for got, value, loss in [
        (dx, x, lambda v: np.sum(g * (v @ w.T + b))),
        (dw, w, lambda v: np.sum(g * (x @ v.T + b))),
        (db, b, lambda v: np.sum(g * (x @ w.T + v))),
    ]:
        np.testing.assert_allclose(got, numerical_gradient(loss, value.copy()), rtol=1e-7, atol=1e-10)


def test_sigmoid_chain_matches_finite_differences():
    x, w, eps = np.array([-2.0, 0.5, 3.0]), 0.7, 1e-6
    numeric = (activations.sigmoid((w + eps) * x) - activations.sigmoid((w - eps) * x)) / (2 * eps)
    np.testing.assert_allclose(ch05.solution_sigmoid_chain(x, w), numeric, rtol=1e-7)


def test_gelu_backward_matches_finite_differences_and_torch():
    x = np.concatenate([np.linspace(-5, 5, 41), [-30.0, 30.0]])
    g = np.random.default_rng(2).normal(size=x.shape)
    ours = ch05.solution_gelu_backward(g, x)
    numeric = numerical_gradient(lambda v: float(np.sum(g * ch05.gelu(v))), x.copy())
    np.testing.assert_allclose(ours, numeric, rtol=1e-7, atol=1e-9)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.gelu(xt, approximate="tanh").backward(torch.from_numpy(g))
    np.testing.assert_allclose(ours, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ch05.gelu(x), torch.nn.functional.gelu(xt, approximate="tanh").detach().numpy())


def test_two_layer_backward_matches_finite_differences_and_torch():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 4)), rng.integers(0, 3, size=5)
    params = [rng.normal(size=(4, 6)), rng.normal(size=6), rng.normal(size=(6, 3)), rng.normal(size=3)]
    grads = ch05.solution_two_layer_backward(x, y, *params)
    for k, (got, value) in enumerate(zip(grads, params, strict=True)):

        def loss(v, k=k):
            return ch05.two_layer_loss(x, y, *params[:k], v, *params[k + 1 :])

        np.testing.assert_allclose(got, numerical_gradient(loss, value.copy()), rtol=1e-6, atol=1e-9)
    tparams = [torch.tensor(p, requires_grad=True) for p in params]
    hidden = torch.relu(torch.from_numpy(x) @ tparams[0] + tparams[1])
    torch.nn.functional.cross_entropy(hidden @ tparams[2] + tparams[3], torch.from_numpy(y)).backward()
    for got, p in zip(grads, tparams, strict=True):
        np.testing.assert_allclose(got, p.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_the_notebooks_stub_holds_the_bug_the_hints_are_written_for():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    stub = next(
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code" and "def two_layer_backward" in "".join(c["source"])
    )
    namespace = {"np": np, "ch05": ch05}
    exec(stub.split("ch05.check_two_layer_backward")[0], namespace)  # the definition, not the call
    broken = namespace["two_layer_backward"]
    bugged = functools.partial(ch05_more._two_layer_variant, bug="stub")
    for case in [ch05_more._two_layer_case(np.random.default_rng(k), 5, 3, 4, 2) for k in range(3)]:
        for ours, theirs in zip(broken(*case.args), bugged(*case.args), strict=True):
            np.testing.assert_allclose(ours, theirs)
    feedback = ch05.check_two_layer_backward(broken)
    assert not feedback.passed and "numerical_gradient" in feedback.hints[0], str(feedback)
    assert "only dW1" not in feedback.hints[0] and "only dW1" in feedback.hints[1], str(feedback)


def test_a_forgotten_transpose_gets_a_targeted_hint_not_a_numpy_error():
    for answer, words in [
        (lambda g, x, w: (g @ w, x.T @ g, g.sum(axis=0)), "dW is transposed"),
        (lambda g, x, w: (g @ w.T, g.T @ x, g.sum(axis=0)), "dx is not"),
    ]:
        feedback = ch05.check_linear_backward_transposed(answer)
        assert not feedback.passed and words in " ".join(feedback.hints), str(feedback)
        assert "gufunc" not in feedback.message and "mismatch" not in feedback.message


def test_a_wrong_shape_is_named_part_by_part():
    feedback = ch05.check_linear_backward_transposed(lambda g, x, w: (g @ w, g.T @ x, g.sum(axis=0, keepdims=True)))
    assert not feedback.passed and "db of shape (2,), got shape (1, 2)" in feedback.message, str(feedback)


def test_train_mlp_solution_passes_and_numbers_of_any_kind_are_accepted():
    assert ch05.check_train_mlp(*ch05.solution_train_mlp).passed
    lr, scale = ch05.solution_train_mlp
    for answer in (Args((np.asarray(lr), np.asarray(scale))), Args((np.float32(lr), torch.tensor(scale)))):
        feedback = ch05.check_train_mlp(*answer)
        assert feedback.passed, str(feedback)
    assert ch05.check_train_mlp(1, scale).passed  # an int learning rate is a number too
    for bad in (Args((str(lr), scale)), Args(([lr], scale)), Args((lr, complex(scale))), Args((True, scale))):
        feedback = ch05.check_train_mlp(*bad)
        assert not feedback.passed and feedback.message.endswith(".") and feedback.hint, str(feedback)


def test_train_mlp_is_seeded_and_tuned_on_validation_not_test():
    losses, val_accuracy = ch05.train_mlp(*ch05.solution_train_mlp)
    again, _ = ch05.train_mlp(*ch05.solution_train_mlp)
    np.testing.assert_array_equal(losses, again)
    assert losses.shape == (ch05.TRAIN_STEPS,) and losses[-1] < losses[0] / 5
    _, net = ch05_more._train(*ch05.solution_train_mlp)
    assert val_accuracy == ch05_more._accuracy(net, "val") != ch05_more._accuracy(net, "test")


@pytest.mark.parametrize("lr", [1e-3, 3.0])
def test_train_mlp_fails_for_learning_rates_far_off(lr):
    assert not ch05.check_train_mlp(lr, ch05.solution_train_mlp[1]).passed


def _outer(x, w):
    s = activations.sigmoid(np.asarray(w * np.asarray(x, dtype=float)))
    return s * (1 - s)


def gelu_by_autograd(dout, x):
    """Right numbers by the route the exercise forbids."""
    xt = torch.tensor(np.asarray(x, dtype=float), requires_grad=True)
    torch.nn.functional.gelu(xt, approximate="tanh").backward(torch.tensor(np.asarray(dout, dtype=float)))
    return xt.grad.numpy()


def own_gelu(x):
    """The learner's own GELU forward (a name the learner binds is not refused)."""
    return 0.5 * x * (1 + np.tanh(ch05.C_GELU * (x + 0.044715 * x**3)))


def gelu_by_finite_differences(dout, x):
    """A finite difference of the package's gelu: right numbers, but not the derivation asked for."""
    h = 1e-5
    return dout * (ch05.gelu(x + h) - ch05.gelu(x - h)) / (2 * h)


def gelu_by_own_finite_differences(dout, x):
    """A finite difference of the learner's own GELU: not refused by name, but wrong where x is large."""
    x, h = np.asarray(x, dtype=float), 1e-5
    return dout * (own_gelu(x + h) - own_gelu(x - h)) / (2 * h)


def gelu_by_numerical_gradient(dout, x):
    return numerical_gradient(lambda v: float(np.sum(dout * own_gelu(v))), np.array(x, dtype=float))


def _gelu_pieces(x):
    return ch05_more._gelu_parts(x)


def gelu_without_inner_derivative(dout, x):
    return ch05_more._gelu_wrong(dout, x, inner="none")


def gelu_inner_derivative_constant(dout, x):
    return ch05_more._gelu_wrong(dout, x, inner="constant")


def gelu_tanh_prime_without_square(dout, x):
    return ch05_more._gelu_wrong(dout, x, tanh_prime="linear")


def _variant(bug):
    return functools.partial(ch05_more._two_layer_variant, bug=bug)


# Exercise 5.8: sigmoid as a node of the autograd graph. Each answer below is one a learner might write.


def sigmoid_overwriting_the_gradient(v):
    s = 1 / (1 + math.exp(-v.data))
    out = Value(s, (v,), "sigmoid")

    def local_backward(dout):
        v.grad = s * (1 - s) * dout  # = where += belongs: a second path's share is lost

    out.local_backward = local_backward
    return out


def sigmoid_without_dout(v):
    s = 1 / (1 + math.exp(-v.data))
    out = Value(s, (v,), "sigmoid")

    def local_backward(dout):
        v.grad += s * (1 - s)  # the chain factor dout is missing

    out.local_backward = local_backward
    return out


def sigmoid_slope_at_the_input(v):
    s = 1 / (1 + math.exp(-v.data))
    out = Value(s, (v,), "sigmoid")

    def local_backward(dout):
        v.grad += v.data * (1 - v.data) * dout  # s (1 - s) evaluated at x instead of at s

    out.local_backward = local_backward
    return out


def sigmoid_with_the_wrong_sign(v):
    e = math.exp(-v.data)
    out = Value(1 / (1 + e), (v,), "sigmoid")

    def local_backward(dout):
        v.grad += -e / (1 + e) ** 2 * dout  # d/dx of exp(-x) forgot its own minus sign

    out.local_backward = local_backward
    return out


def sigmoid_without_parents(v):
    s = 1 / (1 + math.exp(-v.data))
    out = Value(s)

    def local_backward(dout):
        v.grad += s * (1 - s) * dout

    out.local_backward = local_backward
    return out


def sigmoid_backward_never_attached(v):
    s = 1 / (1 + math.exp(-v.data))
    out = Value(s, (v,), "sigmoid")

    def local_backward(dout):
        v.grad += s * (1 - s) * dout

    return out


def sigmoid_micrograd_style(v):
    s = 1 / (1 + math.exp(-v.data))
    out = Value(s, (v,), "sigmoid")

    def local_backward():  # micrograd's closures take no argument; this engine hands them dout
        v.grad += s * (1 - s) * out.grad

    out.local_backward = local_backward
    return out


def sigmoid_composed(v):
    return 1 / (1 + (-v).exp())  # right numbers, but the existing operations do the backward pass


def sigmoid_by_finite_differences(v):
    def f(x):
        return 1 / (1 + math.exp(-x))

    out = Value(f(v.data), (v,), "sigmoid")

    def local_backward(dout, h=1e-5):
        v.grad += (f(v.data + h) - f(v.data - h)) / (2 * h) * dout

    out.local_backward = local_backward
    return out


def sigmoid_by_torch(v):
    x = torch.tensor(v.data, dtype=torch.float64, requires_grad=True)
    s = torch.sigmoid(x)
    (slope,) = torch.autograd.grad(s, x)
    out = Value(s.item(), (v,), "sigmoid")

    def local_backward(dout):
        v.grad += slope.item() * dout

    out.local_backward = local_backward
    return out


def sigmoid_by_the_engine(v):
    x = Value(v.data)
    s = 1 / (1 + (-x).exp())
    s.backward()  # the engine differentiates: x.grad is the slope
    out = Value(s.data, (v,), "sigmoid")

    def local_backward(dout):
        v.grad += x.grad * dout

    out.local_backward = local_backward
    return out


def sigmoid_returning_a_float(v):
    return 1 / (1 + math.exp(-v.data))


def sigmoid_overflowing_below(v):
    s = 1 / (1 + math.exp(-v.data))  # right, but math.exp(1000) overflows at x = -1000
    out = Value(s, (v,), "sigmoid")

    def local_backward(dout):
        v.grad += s * (1 - s) * dout

    out.local_backward = local_backward
    return out


def sigmoid_overflowing_above(v):
    e = math.exp(v.data)  # the other form, e^x / (1 + e^x): overflows at x = 1000
    s = e / (1 + e)
    out = Value(s, (v,), "sigmoid")

    def local_backward(dout):
        v.grad += s * (1 - s) * dout

    out.local_backward = local_backward
    return out


def sigmoid_overflowing_in_backward(v):
    x = v.data
    s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
    out = Value(s, (v,), "sigmoid")

    def local_backward(dout):
        e = math.exp(-x)  # a stable forward pass, but the derivative written with exp(-x) overflows
        v.grad += e / (1 + e) ** 2 * dout

    out.local_backward = local_backward
    return out


def sigmoid_with_numpy_nan(v):
    e = np.exp(-v.data)  # np.exp(1000) is inf with a warning; inf / inf is nan
    out = Value(float(1 / (1 + e)), (v,), "sigmoid")

    def local_backward(dout):
        v.grad += float(e / (1 + e) ** 2) * dout

    out.local_backward = local_backward
    return out


# (checker, typical wrong answer, words its hint contains at some stage)
WRONG = [
    (ch05.check_weight_shape, lambda n_in, n_out: (n_out, n_in), "torch.nn.Linear"),
    (ch05.check_weight_shape, lambda n_in, n_out: n_in * n_out, "number of weights"),
    (ch05.check_weight_shape, lambda n_in, n_out: (n_in, n_in), "inner sizes"),
    (ch05.check_linear_forward, lambda x, w, b: x @ w.T + b, "transposed weight"),
    (ch05.check_linear_forward, lambda x, w, b: x @ w, "bias is missing"),
    (ch05.check_linear_forward, lambda x, w, b: x @ w.T, "Two things"),
    (ch05.check_linear_forward, lambda x, w, b: None, "return"),
    (ch05.check_linear_backward_transposed, lambda g, x, w: (g @ w.T, x.T @ g, g.sum(axis=0)), "book's layout"),
    (ch05.check_linear_backward_transposed, lambda g, x, w: (g @ w, x.T @ g, g.sum(axis=0)), "dW is transposed"),
    (ch05.check_linear_backward_transposed, lambda g, x, w: (g @ w.T, g.T @ x, g.sum(axis=0)), "dx is not"),
    (ch05.check_linear_backward_transposed, lambda g, x, w: (g @ w, g.T @ x, g.mean(axis=0)), "batch size"),
    (ch05.check_linear_backward_transposed, lambda g, x, w: (g @ w, g.T @ x, g), "one number per output"),
    (ch05.check_sigmoid_chain, _outer, "inner derivative"),
    (ch05.check_sigmoid_chain, lambda x, w: _outer(x, w) * w, "with respect to w"),
    (ch05.check_sigmoid_chain, lambda x, w: activations.sigmoid(w * np.asarray(x)) * x, "not its own derivative"),
    (ch05.check_gelu_backward, lambda g, x: g * own_gelu(np.asarray(x, dtype=float)), "forward pass"),
    (ch05.check_gelu_backward, gelu_by_finite_differences, "Split GELU"),
    (ch05.check_gelu_backward, gelu_by_numerical_gradient, "Split GELU"),
    (ch05.check_gelu_backward, gelu_by_own_finite_differences, "Split GELU"),
    (ch05.check_gelu_backward, lambda g, x: ch05.solution_gelu_backward(1.0, x), "dout is ignored"),
    (ch05.check_gelu_backward, lambda g, x: g * 0.5 * (1 + _gelu_pieces(x)[1]), "product rule"),
    (ch05.check_gelu_backward, gelu_without_inner_derivative, "du/dx"),
    (ch05.check_gelu_backward, gelu_inner_derivative_constant, "cubic"),
    (ch05.check_gelu_backward, gelu_tanh_prime_without_square, "the square"),
    (ch05.check_gelu_backward, gelu_by_autograd, "Split GELU"),
    (ch05.check_two_layer_backward, _variant("stub"), "only dW1"),
    (ch05.check_two_layer_backward, _variant("nomask"), "ReLU"),
    (ch05.check_two_layer_backward, _variant("mean"), "batch size"),
    (ch05.check_two_layer_backward, _variant("sum"), "same factor"),
    (ch05.check_train_mlp, Args((1e-3, 0.18)), "barely moved"),
    (ch05.check_train_mlp, Args((3.0, 0.18)), "overshoot"),
    (ch05.check_train_mlp, Args((0.3, 3.0)), "confidently wrong"),
    (ch05.check_train_mlp, Args((1e30, 0.18)), "blew up"),
    (ch05.check_train_mlp, Args((0.5, 1e200)), "overflow"),
    (ch05.check_train_mlp, Args(("0.5", 0.18)), "log scale"),
    (ch05.check_train_mlp, Args((0.5, 0.0)), "never leave zero"),
    (ch05.check_value_sigmoid, sigmoid_overwriting_the_gradient, "rather than replacing"),
    (ch05.check_value_sigmoid, sigmoid_without_dout, "the graph goes on after it"),
    (ch05.check_value_sigmoid, sigmoid_slope_at_the_input, "wrong number"),
    (ch05.check_value_sigmoid, sigmoid_with_the_wrong_sign, "wrong sign"),
    (ch05.check_value_sigmoid, sigmoid_without_parents, "what are your node's"),
    (ch05.check_value_sigmoid, sigmoid_backward_never_attached, "where does yours get set"),
    (ch05.check_value_sigmoid, sigmoid_micrograd_style, "one argument, dout"),
    (ch05.check_value_sigmoid, sigmoid_composed, "build the node yourself"),
    (ch05.check_value_sigmoid, sigmoid_by_finite_differences, "not accurate enough at x = 20"),
    (ch05.check_value_sigmoid, sigmoid_by_torch, "Rewrite your function without it"),
    (ch05.check_value_sigmoid, sigmoid_by_the_engine, "Rewrite your function without it"),
    (ch05.check_value_sigmoid, sigmoid_returning_a_float, "not only its number"),
    (ch05.check_value_sigmoid, sigmoid_overflowing_below, "math.exp raises OverflowError"),
    (ch05.check_value_sigmoid, sigmoid_overflowing_above, "math.exp raises OverflowError"),
    (ch05.check_value_sigmoid, sigmoid_overflowing_in_backward, "needs no exp of its own"),
    (ch05.check_value_sigmoid, sigmoid_with_numpy_nan, "math.exp never sees one"),
]


def test_the_forbidden_route_is_named():
    feedback = ch05.check_gelu_backward(gelu_by_autograd)
    assert not feedback.passed and "uses" in feedback.message and "torch" in feedback.message, str(feedback)
    for route, name in [(gelu_by_finite_differences, "gelu"), (gelu_by_numerical_gradient, "numerical_gradient")]:
        feedback = ch05.check_gelu_backward(route)
        assert not feedback.passed and f"uses {name}" in feedback.message, str(feedback)


def test_a_float32_linear_layer_passes():
    def linear32(x, weight, bias):
        return x.astype(np.float32) @ weight.astype(np.float32) + bias.astype(np.float32)

    assert ch05.check_linear_forward(linear32).passed


def test_train_mlp_reports_the_test_accuracy_only_on_a_pass():
    failed = ch05.check_train_mlp(1e-3, 0.18)
    assert not failed.passed and "validation accuracy" in failed.message and "test images is" not in failed.message
    passed = ch05.check_train_mlp(*ch05.solution_train_mlp)
    assert passed.passed and "test images is" in passed.message, str(passed)


def test_exception_inside_learner_code_is_reported():
    feedback = ch05.check_linear_backward_transposed(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message
    assert "dout (3, 2)" in feedback.message  # which input failed


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)


def test_train_mlp_refuses_what_is_not_a_learning_rate_in_one_sentence():
    for args in [("0.5", 0.1), (0.0, 0.1), (0.5, -1.0), (None, 0.1)]:
        with pytest.raises(ValueError, match=r"^[A-Z].*\.$"):
            ch05.train_mlp(*args)


def _sigmoid_graph_in_torch(graph, x, y):
    """The exercise's graph with torch.sigmoid, in float64: (sigmoid's value, (dL/dx, dL/dy))."""
    tx, ty = (torch.tensor(t, dtype=torch.float64, requires_grad=True) for t in (x, y))
    g = ch05_autograd.GRAPHS[graph]
    v = g.node(tx, ty)
    s = torch.sigmoid(v)
    g.rest(s, v, tx, ty).backward()
    grads = [0.0 if t.grad is None else t.grad.item() for t in (tx, ty)]
    return s.item(), np.array(grads)


@settings(max_examples=60, deadline=None)
@given(
    graph=st.integers(0, len(ch05_autograd.GRAPHS) - 1),
    x=st.floats(-20, 20, allow_nan=False),
    y=st.floats(-3, 3, allow_nan=False),
)
def test_the_sigmoid_checkers_reference_agrees_with_torch_on_its_graphs(graph, x, y):
    value, grads = ch05_autograd.solution_value_sigmoid(Value(x)).data, ch05_autograd._reference(graph, x, y)[1]
    tvalue, tgrads = _sigmoid_graph_in_torch(graph, x, y)
    np.testing.assert_allclose(value, torch.sigmoid(torch.tensor(x, dtype=torch.float64)).item(), rtol=1e-13)
    assert ch05_autograd._reference(graph, x, y)[0] == pytest.approx(tvalue, rel=1e-13)
    np.testing.assert_allclose(grads, tgrads, rtol=1e-9, atol=1e-15 * max(1.0, np.abs(tgrads).max()))


@pytest.mark.parametrize("x", [-1000.0, -745.0, -710.0, -40.0, 40.0, 710.0, 1000.0])
def test_the_sigmoid_checkers_reference_is_finite_and_agrees_with_torch_far_from_zero(x):
    for graph in (0, 1):
        value, grads = ch05_autograd._reference(graph, x, 0.0)
        tvalue, tgrads = _sigmoid_graph_in_torch(graph, x, 0.0)
        assert math.isfinite(value) and np.isfinite(grads).all()
        assert value == pytest.approx(tvalue, rel=1e-12, abs=1e-300)
        np.testing.assert_allclose(grads, tgrads, rtol=1e-12, atol=1e-300)


def test_the_sigmoid_checker_tries_both_signs_far_from_zero_and_says_where_it_overflowed():
    reached = []

    def recording(v):
        reached.append(v.data)
        return ch05_autograd.solution_value_sigmoid(v)

    assert ch05.check_value_sigmoid(recording).passed
    assert -1000.0 in reached and 1000.0 in reached
    for answer, where in [(sigmoid_overflowing_below, "x = -1000"), (sigmoid_overflowing_above, "x = 1000")]:
        tracking.reset_attempts()
        feedback = ch05.check_value_sigmoid(answer)
        assert not feedback.passed and where in feedback.message and "OverflowError" in feedback.message
        assert "709" in feedback.hint and "1 + exp" not in feedback.hint, str(feedback)  # a nudge, not the fix


def test_the_sigmoid_nodes_gradient_matches_finite_differences():
    for graph in range(len(ch05_autograd.GRAPHS)):
        point = np.array([0.3, -0.8])
        _, grads = ch05_autograd._reference(graph, *point)

        def loss(p, graph=graph):
            x, y = Value(p[0]), Value(p[1])
            g = ch05_autograd.GRAPHS[graph]
            v = g.node(x, y)
            return g.rest(ch05_autograd.solution_value_sigmoid(v), v, x, y).data

        np.testing.assert_allclose(grads, numerical_gradient(loss, point), rtol=1e-7, atol=1e-10)


def sigmoid_from_exp(v):
    e = math.exp(-abs(v.data))  # <= 1 for every x: sigmoid(-|x|) = e / (1 + e), sigmoid(|x|) = 1 / (1 + e)
    out = Value(1 / (1 + e) if v.data >= 0 else e / (1 + e), (v,), "sigmoid")

    def local_backward(dout):
        v.grad += e / (1 + e) ** 2 * dout  # the same derivative, written without s (sigmoid' is even)

    out.local_backward = local_backward
    return out


def sigmoid_reading_out(v):
    out = Value(0.5 * (1 + math.tanh(v.data / 2)), (v,), "sigmoid")  # sigmoid(x) = (1 + tanh(x / 2)) / 2

    def backward(dout):
        v.grad += out.data * (1 - out.data) * out.grad  # out.grad is dout when backward() calls it

    out.local_backward = backward
    return out


@pytest.mark.parametrize("answer", [sigmoid_from_exp, sigmoid_reading_out])
def test_right_answers_written_other_ways_pass(answer):
    feedback = ch05.check_value_sigmoid(answer)
    assert feedback.passed, str(feedback)


def test_the_sigmoid_checker_names_the_forbidden_route_and_the_overwrite():
    feedback = ch05.check_value_sigmoid(sigmoid_by_torch)
    assert not feedback.passed and "uses autograd, torch" in feedback.message, str(feedback)
    feedback = ch05.check_value_sigmoid(sigmoid_by_the_engine)
    assert not feedback.passed and "calls backward()" in feedback.message, str(feedback)
    feedback = ch05.check_value_sigmoid(sigmoid_overwriting_the_gradient)
    assert not feedback.passed and "dL/dx" in feedback.message and "sigmoid(x) * x" in feedback.message


def test_the_notebooks_sigmoid_stub_fails_with_the_first_hint():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    stub = next(
        "".join(c["source"]) for c in cells if c["cell_type"] == "code" and "def value_sigmoid" in "".join(c["source"])
    )
    namespace = {"Value": Value, "math": math, "ch05": ch05}
    exec(stub.split("ch05.check_value_sigmoid")[0], namespace)  # the definition, not the call
    tracking.reset_attempts()
    feedback = ch05.check_value_sigmoid(namespace["value_sigmoid"])
    assert not feedback.passed and feedback.hint == feedback.hints[0], str(feedback)


def _stable(z):
    """sigmoid of a real or complex z whose exponential never overflows."""
    import cmath

    return 1 / (1 + cmath.exp(-z)) if z.real >= 0 else cmath.exp(z) / (1 + cmath.exp(z))


def sigmoid_by_complex_step(v):
    h = 1e-20
    slope = _stable(complex(v.data, h)).imag / h  # the complex step: exact to double precision
    out = Value(_stable(v.data).real, (v,), "sigmoid")

    def local_backward(dout):
        v.grad += slope * dout

    out.local_backward = local_backward
    return out


def sigmoid_by_an_imaginary_literal(v):
    h = 1e-20
    z = v.data + h * 1j
    slope = ((_own(z) - _own(z.conjugate())) / (2j * h)).real  # Im f(x + ih) / h, by literals only
    out = Value(float(_own(v.data + 0j).real), (v,), "sigmoid")

    def local_backward(dout):
        v.grad += slope * dout

    out.local_backward = local_backward
    return out


def _own(z):
    return 1 / (1 + np.exp(-z)) if z.real >= 0 else np.exp(z) / (1 + np.exp(z))


def sigmoid_by_sympy(v):
    import sympy

    x = sympy.Symbol("x")
    expression = 1 / (1 + sympy.exp(-x))
    s, slope = float(expression.subs(x, v.data)), float(sympy.diff(expression, x).subs(x, v.data))
    out = Value(s, (v,), "sigmoid")

    def local_backward(dout):
        v.grad += slope * dout

    out.local_backward = local_backward
    return out


@pytest.mark.parametrize(
    ("answer", "route"),
    [
        (sigmoid_by_complex_step, "cmath"),
        (sigmoid_by_an_imaginary_literal, "complex numbers"),
        (sigmoid_by_sympy, "sympy"),
    ],
    ids=["complex-step", "imaginary-literal", "sympy"],
)
def test_value_sigmoid_refuses_complex_step_and_symbolic_derivatives(answer, route):
    """Both give sigmoid's derivative to double precision, even at x = 20, without working it out by hand."""
    for k, x in [(0, 20.0), (1, -1000.0), (1, 1000.0), (3, 0.3)]:
        got, right = ch05_autograd._run(answer, k, x, 0.5, []), ch05_autograd._reference(k, x, 0.5)
        np.testing.assert_allclose(got[1], right[1], rtol=1e-9, atol=1e-13)  # right: only the route refuses it
    feedback = ch05.check_value_sigmoid(answer)
    assert not feedback.passed and f"uses {route}" in feedback.message, str(feedback)


def _stable_sigmoid_overwriting_the_gradient(v):
    x = v.data
    s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))  # finite for every x
    out = Value(s, (v,), "sigmoid")

    def local_backward(dout):
        v.grad = s * (1 - s) * dout  # overwrites what other paths added

    out.local_backward = local_backward
    return out


def test_value_sigmoid_compares_with_its_own_reference_whatever_the_learner_reassigns(monkeypatch):
    """A learner who replaces the module's solution with their own answer does not make that answer right."""
    monkeypatch.setattr(ch05_autograd, "solution_value_sigmoid", _stable_sigmoid_overwriting_the_gradient)
    feedback = ch05.check_value_sigmoid(_stable_sigmoid_overwriting_the_gradient)
    assert not feedback.passed and "rather than replacing" in " ".join(feedback.hints), str(feedback)


class _LoopingAttributes:
    """A callable whose every missing attribute (``__code__``, ``__wrapped__``) never comes back."""

    def __call__(self, v):
        return v

    def __getattr__(self, name):
        while True:
            pass


def test_value_sigmoid_reads_a_learners_object_under_a_time_limit(monkeypatch):
    import time

    from dlcourse.exercises import running

    monkeypatch.setattr(running, "TIME_LIMIT_S", 0.3)
    start = time.perf_counter()
    with running.time_limit(20):  # the test's own guard: without it a hang would stop the suite
        feedback = ch05.check_value_sigmoid(_LoopingAttributes())
    assert time.perf_counter() - start < 5
    assert not feedback.passed and feedback.message.endswith("."), str(feedback)
    assert "cannot read the source" in feedback.message, str(feedback)
