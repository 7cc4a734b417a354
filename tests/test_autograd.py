"""The scalar autograd engine (dlcourse/autograd.py) and its tiny network (dlcourse/autograd_nn.py).

Its twin is torch.autograd itself: hypothesis draws random expression graphs, every one is built
twice, from Values and from float64 tensors, and the values and every leaf's gradient must agree.
One table of operations drives the random graphs (as in tinygrad's test_ops).
"""

from __future__ import annotations

import math
import re
import sys
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcourse.autograd import Value
from dlcourse.autograd_nn import MLP, Layer, Neuron
from dlcourse.data import xor
from dlcourse.gradcheck import numerical_gradient

# name -> (the operation, written once for Values and tensors alike; where its input is valid)
UNARY = {
    "neg": (lambda a: -a, lambda a: True),
    "exp": (lambda a: a.exp(), lambda a: a < 4),
    "log": (lambda a: a.log(), lambda a: a > 0.05),
    "tanh": (lambda a: a.tanh(), lambda a: True),
    "relu": (lambda a: a.relu(), lambda a: abs(a) > 1e-6),
    "square": (lambda a: a**2, lambda a: True),
    "cube": (lambda a: a**3, lambda a: True),
    "sqrt": (lambda a: a**0.5, lambda a: a > 0.05),
    "pow 1.5": (lambda a: a**1.5, lambda a: a > 0.05),
    "reciprocal": (lambda a: a**-1, lambda a: abs(a) > 0.1),
}
BINARY = {  # two nodes, possibly the same one
    "a + b": (lambda a, b: a + b, lambda a, b: True),
    "a - b": (lambda a, b: a - b, lambda a, b: True),
    "a * b": (lambda a, b: a * b, lambda a, b: True),
    "a / b": (lambda a, b: a / b, lambda a, b: abs(b) > 0.1),
}
WITH_NUMBER = {  # a node and a plain number c, in both orders
    "a + c": (lambda a, c: a + c, lambda a, c: True),
    "c + a": (lambda a, c: c + a, lambda a, c: True),
    "a - c": (lambda a, c: a - c, lambda a, c: True),
    "c - a": (lambda a, c: c - a, lambda a, c: True),
    "a * c": (lambda a, c: a * c, lambda a, c: True),
    "c * a": (lambda a, c: c * a, lambda a, c: True),
    "a / c": (lambda a, c: a / c, lambda a, c: abs(c) > 0.1),
    "c / a": (lambda a, c: c / a, lambda a, c: abs(a) > 0.1),
}
LARGEST = 1e3  # a step whose result is larger is dropped: the graphs stay where float64 is exact enough

leaf_values = st.floats(-2.0, 2.0, allow_nan=False)


@st.composite
def programs(draw):
    """Leaf values and a list of steps (op name, operand indices, number), every step valid on the
    values it meets. Operands are drawn from every node so far, so nodes are reused."""
    leaves = draw(st.lists(leaf_values, min_size=1, max_size=4))
    data, steps = list(leaves), []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["unary", "binary", "number"]))
        i, j = draw(st.integers(0, len(data) - 1)), draw(st.integers(0, len(data) - 1))
        c = draw(st.floats(-3.0, 3.0, allow_nan=False))
        table = {"unary": UNARY, "binary": BINARY, "number": WITH_NUMBER}[kind]
        name = draw(st.sampled_from(sorted(table)))
        op, valid = table[name]
        args = {"unary": (data[i],), "binary": (data[i], data[j]), "number": (data[i], c)}[kind]
        if not valid(*args):
            continue
        operands = [Value(args[0]), Value(args[1]) if kind == "binary" else c][: len(args)]
        result = op(*operands).data
        if abs(result) > LARGEST:
            continue
        data.append(result)
        steps.append((kind, name, i, j, c))
    return leaves, steps


def run(program, leaf):
    """Build the program's graph from ``leaf(x)`` for each leaf value; the leaves and the output."""
    values, steps = program
    leaves = [leaf(x) for x in values]
    nodes = list(leaves)
    for kind, name, i, j, c in steps:
        if kind == "unary":
            nodes.append(UNARY[name][0](nodes[i]))
        elif kind == "binary":
            nodes.append(BINARY[name][0](nodes[i], nodes[j]))
        else:
            nodes.append(WITH_NUMBER[name][0](nodes[i], c))
    return leaves, nodes[-1]


def torch_leaf(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


@settings(max_examples=300, deadline=None)
@given(program=programs())
def test_random_graphs_agree_with_torch_autograd(program):
    leaves, out = run(program, Value)
    out.backward()
    tleaves, tout = run(program, torch_leaf)
    tout.backward()
    np.testing.assert_allclose(out.data, tout.item(), rtol=1e-9, atol=1e-12)
    ours = np.array([v.grad for v in leaves])
    theirs = np.array([0.0 if t.grad is None else t.grad.item() for t in tleaves])
    scale = max(1.0, float(np.max(np.abs(theirs), initial=0.0)))  # two paths may cancel to ~0
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12 * scale)


def test_the_random_graphs_use_every_operation_and_reuse_nodes():
    """The strategy reaches every row of the tables and a node used twice (hypothesis finds them)."""
    from hypothesis import find

    for kind, table in (("unary", UNARY), ("binary", BINARY), ("number", WITH_NUMBER)):
        for name in table:
            find(programs(), lambda p, kind=kind, name=name: any(s[:2] == (kind, name) for s in p[1]))
    find(programs(), lambda p: any(s[0] == "binary" and s[2] == s[3] for s in p[1]))


def fixed_graph(a, b, c):
    """Every operation at least once, on nodes that are used more than once."""
    u = a * b + c / 2
    w = (u.tanh() - a) ** 2 + (c * c + 1).log()
    return (w / (1 + b.exp())) * (3 - a) ** 3 + (u + 0.5).relu() + 1 / (c**2 + 1) ** 0.5 - (-a)


def test_a_fixed_graph_against_finite_differences():
    point = np.array([0.7, -1.3, 0.4])
    leaves = [Value(x) for x in point]
    out = fixed_graph(*leaves)
    out.backward()
    numeric = numerical_gradient(lambda p: fixed_graph(*(Value(x) for x in p)).data, point)
    np.testing.assert_allclose([v.grad for v in leaves], numeric, rtol=1e-7, atol=1e-10)


def test_a_node_used_twice_gets_both_contributions():
    a = Value(3.0)
    (a * a).backward()
    assert a.grad == 6.0  # d(a^2)/da = 2a: one a from each factor
    b = Value(3.0)
    (b + b).backward()
    assert b.grad == 2.0
    x = Value(1.5)
    h = x * 2  # h used three times: y = h^2 + h, dy/dx = (2h + 1) * 2
    (h * h + h).backward()
    assert x.grad == (2 * 3.0 + 1) * 2 and h.grad == 2 * 3.0 + 1


def test_the_topological_order_visits_each_node_once_parents_first():
    a, b = Value(1.0), Value(2.0)
    shared = a * b  # a diamond: shared feeds two branches that meet again
    out = (shared + a).tanh() * (shared - b).exp()
    order = out.topological_order()
    assert len(order) == len({id(n) for n in order}) and order[-1] is out
    position = {id(n): k for k, n in enumerate(order)}
    assert all(position[id(p)] < position[id(n)] for n in order for p in n.parents)
    # a, b, shared, the constant -1 of (shared - b), -b, shared + a, shared - b, tanh, exp, out
    assert len(order) == 10 and sum(not n.parents for n in order) == 3


def test_a_long_chain_needs_no_recursion():
    x = Value(0.5)
    y = x
    for _ in range(3 * sys.getrecursionlimit()):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0


def test_backward_twice_accumulates_in_the_leaves_only():
    a, b = Value(2.0), Value(-1.0)
    out = (a * b).tanh()
    out.backward()
    first = a.grad, b.grad
    out.backward()
    assert (a.grad, b.grad) == (2 * first[0], 2 * first[1])  # as torch accumulates into .grad
    assert out.grad == 1.0


def test_numbers_of_every_kind_combine_with_values():
    v = Value(2.0)
    for number in (3, 3.0, np.float64(3.0), np.float32(3.0), np.int64(3)):
        assert (number * v).data == 6.0 and (v * number).data == 6.0 and isinstance(number - v, Value)
        assert (number / v).data == 1.5 and (v - number).data == -1.0 and (number + v).data == 5.0
    assert (-v).data == -2.0 and (v**0).data == 1.0 and Value(0.0).relu().data == 0.0


def test_edge_values_give_what_torch_gives():
    x = Value(0.0)
    (x**0.5).backward()  # the slope of sqrt at 0 is infinite
    assert x.grad == math.inf
    big = Value(800.0).exp()
    assert big.data == math.inf
    assert (Value(10.0) ** 400).data == math.inf and (Value(-10.0) ** 401).data == -math.inf
    z = Value(0.0)
    (z**0).backward()
    assert z.grad == 0.0  # torch: d(x^0)/dx = 0, not 0 * 0^-1
    r = Value(0.0)
    r.relu().backward()
    assert r.grad == 0.0  # torch.relu's slope at 0 is 0
    assert Value(709.7).exp().data == math.exp(709.7)  # the largest exponents stay finite


ERRORS = [
    (lambda: Value(1.0) + "2", TypeError, r"^the other operand of \+ must be a number or a Value, got '2'\.$"),
    (lambda: "2" * Value(1.0), TypeError, r"^the other operand of \* must be a number or a Value, got '2'\.$"),
    (lambda: Value(1.0) - None, TypeError, r"^the other operand of - must be a number or a Value, got None\.$"),
    (lambda: Value(1.0) / [2], TypeError, r"^the divisor of / must be a number or a Value, got \[2\]\.$"),
    (lambda: Value(1.0) * True, TypeError, r"got True\.$"),
    (lambda: Value("1"), TypeError, r"^data must be a number, got '1'\.$"),
    (lambda: Value(math.nan), ValueError, r"^data must be a finite number, got nan\.$"),
    (lambda: Value(-math.inf), ValueError, r"^data must be a finite number, got -inf\.$"),
    (lambda: Value(np.float32("nan")), ValueError, r"^data must be a finite number, got nan \(float32"),
    (lambda: Value(10**400), ValueError, r"^data is too large to be a float, got an int of about 401 digits\.$"),
    (lambda: Value(10**5000), ValueError, r"^data is too large to be a float, got an int of about 5001 digits\.$"),
    (lambda: Value(1.0) + math.nan, ValueError, r"^the other operand of \+ must be a finite number, got nan\.$"),
    (lambda: Value(2.0) ** math.inf, ValueError, r"^the exponent of \*\* must be a finite number, got inf\.$"),
    (lambda: 10**400 - Value(1.0), ValueError, r"^the other operand of - is too large to be a float"),
    (lambda: Value(1.0, (2.0,)), TypeError, r"^parents must be a tuple of Values, such as \(v,\), got \(2\.0,\)\.$"),
    (lambda: Value(-2.0).log(), ValueError, r"^log needs a positive Value, got one of data -2\.$"),
    (lambda: Value(0.0).log(), ValueError, r"^log needs a positive Value, got one of data 0\.$"),
    (
        lambda: Value(2.0) ** Value(3.0),
        TypeError,
        r"^the exponent of \*\* must be a plain number, got a Value \(data 3\)\.$",
    ),
    (lambda: 2 ** Value(3.0), TypeError, r"^the exponent of \*\* must be a plain number, got a Value \(data 3\)\.$"),
    (lambda: Value(2.0) ** "3", TypeError, r"^the exponent of \*\* must be a number, got '3'\.$"),
    (
        lambda: Value(-2.0) ** 0.5,
        ValueError,
        r"^the base of \*\* is -2 < 0, so the exponent must be whole; got 0\.5\.$",
    ),
    (lambda: Value(0.0) ** -2, ZeroDivisionError, r"^0 \*\* -2 divides by 0"),
    (lambda: Value(1.0) / 0, ZeroDivisionError, r"divisor of /\) must not be 0\.$"),
    (lambda: 1 / Value(0.0), ZeroDivisionError, r"divisor of /\) must not be 0\.$"),
]


@pytest.mark.parametrize(("make", "error", "pattern"), ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_bad_input_gets_one_sentence(make, error, pattern):
    with pytest.raises(error) as caught:
        make()
    message = str(caught.value)
    assert re.search(pattern, message), message
    assert message.endswith(".") and "\n" not in message


# ----------------------------------------------------------------- the network


def _mean_logistic_loss(net: MLP, x: np.ndarray, y: np.ndarray) -> Value:
    """mean of log(1 + exp(-y s)) over the examples, s the network's score and y in {-1, +1}."""
    return sum(((1 + (-yi * net(xi)).exp()).log() for xi, yi in zip(x, y, strict=True)), Value(0.0)) / len(y)


def test_the_mlp_learns_xor_in_a_few_hundred_steps():
    x, labels = xor()
    y = 2 * labels - 1  # {-1, +1}
    net = MLP(2, [4, 1], np.random.default_rng(0))
    start = time.perf_counter()
    losses = []
    for _ in range(300):
        loss = _mean_logistic_loss(net, x, y)
        net.zero_grad()
        loss.backward()
        for p in net.parameters():
            p.data -= 0.5 * p.grad
        losses.append(loss.data)
    assert time.perf_counter() - start < 5.0
    assert losses[0] > 0.6 and losses[-1] < 0.05, (losses[0], losses[-1])
    predictions = np.array([np.sign(net(xi).data) for xi in x])
    np.testing.assert_array_equal(predictions, y)  # 100 % on the four points


def test_the_mlp_matches_torch_nn_with_the_same_weights():
    rng = np.random.default_rng(4)
    net = MLP(3, [5, 4, 2], rng)
    layers = []
    for k, layer in enumerate(net.layers):
        linear = torch.nn.Linear(len(layer.neurons[0].weight), len(layer.neurons)).double()
        with torch.no_grad():
            linear.weight.copy_(torch.tensor([[w.data for w in n.weight] for n in layer.neurons], dtype=torch.float64))
            linear.bias.copy_(torch.tensor([n.bias.data for n in layer.neurons], dtype=torch.float64))
        layers += [linear, torch.nn.Tanh()] if k < len(net.layers) - 1 else [linear]
    tnet = torch.nn.Sequential(*layers)
    x = rng.normal(size=3)
    out = net(x)
    (out[0] * out[1]).backward()
    tout = tnet(torch.from_numpy(x))
    (tout[0] * tout[1]).backward()
    np.testing.assert_allclose([o.data for o in out], tout.detach().numpy(), rtol=1e-12)
    for layer, linear in zip(net.layers, layers[::2], strict=True):
        dw = [[w.grad for w in n.weight] for n in layer.neurons]
        np.testing.assert_allclose(dw, linear.weight.grad.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose([n.bias.grad for n in layer.neurons], linear.bias.grad.numpy(), rtol=1e-10)


def test_the_mlp_is_seeded_counts_its_parameters_and_zeroes_their_gradients():
    a, b = MLP(2, [3, 1], np.random.default_rng(7)), MLP(2, [3, 1], np.random.default_rng(7))
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]
    assert len(a.parameters()) == (2 + 1) * 3 + (3 + 1) * 1
    bound = 1 / math.sqrt(2)  # torch.nn.Linear's range for 2 inputs
    assert all(abs(p.data) <= bound for p in a.layers[0].parameters())
    a([0.5, -1.0]).backward()
    assert any(p.grad for p in a.parameters())
    a.zero_grad()
    assert all(p.grad == 0.0 for p in a.parameters())
    assert isinstance(Layer(2, 3, np.random.default_rng(0))([1.0, 2.0]), list)
    assert isinstance(MLP(2, [3, 2], np.random.default_rng(0))([1.0, 2.0]), list)


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: MLP(2, [3, 1], np.random.default_rng(0))([1.0, 2.0, 3.0]), ValueError, "n_in = 2 numbers"),
        (lambda: Neuron(2, np.random.default_rng(0))(1.0), ValueError, "x must hold n_in = 2 numbers"),
        (lambda: MLP(2, [3, 1], 0), TypeError, "numpy.random.Generator"),
        (lambda: MLP(2, [], np.random.default_rng(0)), TypeError, "non-empty list of layer widths"),
        (lambda: MLP(0, [1], np.random.default_rng(0)), ValueError, "n_in"),
        (lambda: MLP(2, [3, 0], np.random.default_rng(0)), ValueError, "sizes[1] must be a positive integer, got 0"),
        (lambda: MLP(2, [3, 2.0], np.random.default_rng(0)), TypeError, "sizes[1] must be an integer, got 2.0"),
        (lambda: Neuron(2, np.random.default_rng(0), "no"), TypeError, "nonlinear must be True or False, got 'no'"),
        (lambda: Layer(2, 3, np.random.default_rng(0), 1), TypeError, "nonlinear must be True or False, got 1"),
        (lambda: Layer(2, 3, None), TypeError, "rng must be a numpy.random.Generator"),
        (lambda: Layer(2**20, 2**10, np.random.default_rng(0)), ValueError, "the layer's weight would hold"),
    ],
)
def test_the_network_refuses_bad_input_in_one_sentence(make, error, words):
    with pytest.raises(error, match=re.escape(words)) as caught:
        make()
    assert str(caught.value).endswith(".")
