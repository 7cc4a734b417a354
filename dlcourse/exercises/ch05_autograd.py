"""Chapter 5's exercise on the scalar autograd engine of :mod:`dlcourse.autograd`: a new operation,
sigmoid, written as one node of the graph with its own local backward function.

The checker builds small graphs around the learner's node, runs ``backward()`` on each and compares
the node's value and the gradient of every leaf with the reference. The graphs use the node, and the
Value it is applied to, more than once, so a backward function that overwrites a gradient instead of
adding to it fails, and so does one that ignores the gradient arriving from the rest of the graph. The
last two cases put the node at x = -1000 and x = 1000, where sigmoid is 0 and 1 to double precision
but ``math.exp`` of the wrong sign of x overflows: a formula that is right only for moderate x fails.

Re-exported by :mod:`dlcourse.exercises.ch05`, so the book calls ``ch05.check_value_sigmoid``.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcourse.autograd import Value
from dlcourse.exercises import core, routes, running
from dlcourse.exercises.core import Case, Feedback, Hint, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS = {"value_sigmoid": ["s * (1 - s) * dout", "v.grad +="]}


def solution_value_sigmoid(v: Value) -> Value:
    """sigmoid(v) as one new node of the graph, whose local backward passes the gradient on to v."""
    x = v.data
    s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))  # exp sees only -|x|: no overflow
    out = Value(s, (v,), "sigmoid")

    def local_backward(dout: float) -> None:
        v.grad += s * (1 - s) * dout  # sigmoid'(x) = s (1 - s), times the gradient arriving at out

    out.local_backward = local_backward
    return out


_SOLUTION = solution_value_sigmoid  # the reference, bound at import: a learner's reassignment does not reach it


@dataclass(frozen=True)
class _Graph:
    """A graph around the sigmoid node: ``v = node(x, y)``, ``s = sigmoid(v)``, ``L = rest(s, v, x, y)``."""

    label: str  # with {x} and {y} for the leaves' values
    node: Callable[[Value, Value], Value]
    rest: Callable[[Value, Value, Value, Value], Value]


def _random_graph(seed: int) -> _Graph:
    """Four operations drawn at random after s, each on the result of the one before: the first
    combines s with x, y or v, the second uses s again, the last two any node so far."""
    rng = np.random.default_rng(seed)
    exprs, steps = ["x", "y", "v", "s"], []
    for k in range(4):
        op = str(rng.choice(["+", "-", "*"] if k < 2 else ["+", "-", "*", "tanh"]))
        a = 3 if k == 0 else len(exprs) - 1
        b = {0: int(rng.integers(0, 3)), 1: 3}.get(k, int(rng.integers(0, len(exprs))))
        steps.append((op, a, b))
        exprs.append(f"tanh({exprs[a]})" if op == "tanh" else f"{_wrap(exprs[a])} {op} {_wrap(exprs[b])}")
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "tanh": lambda a, b: a.tanh()}

    def rest(s: Value, v: Value, x: Value, y: Value) -> Value:
        nodes = [x, y, v, s]
        for op, a, b in steps:
            nodes.append(ops[op](nodes[a], nodes[b]))
        return nodes[-1]

    return _Graph(f"L = {exprs[-1]}, s = sigmoid(v), v = x * y", lambda x, y: x * y, rest)


def _wrap(expr: str) -> str:
    """An operand, in parentheses unless it is a name or a call."""
    return (
        expr
        if " " not in expr or (expr.startswith("tanh(") and expr.endswith(")") and "tanh(" not in expr[5:])
        else f"({expr})"
    )


GRAPHS = [
    _Graph("L = sigmoid(x)", lambda x, y: x, lambda s, v, x, y: s),
    _Graph("L = sigmoid(x) * x", lambda x, y: x, lambda s, v, x, y: s * x),
    _Graph("L = s * tanh(s) + y, s = sigmoid(x * y)", lambda x, y: x * y, lambda s, v, x, y: s * s.tanh() + y),
    _Graph(
        "L = (s - y) ** 2 + 3 v, s = sigmoid(v), v = x + 2 y",
        lambda x, y: x + 2 * y,
        lambda s, v, x, y: (s - y) ** 2 + 3 * v,
    ),
    _random_graph(4),
    _random_graph(10),
]


def _run(fn: Any, graph: int, x: float, y: float, problems: list[tuple[str, Hint]]) -> Any:
    """Build graph ``graph`` with ``fn`` as sigmoid, run backward(); (sigmoid's value, (dL/dx, dL/dy)),
    or None after noting in ``problems`` why the graph could not be built or differentiated."""
    leaf_x, leaf_y = Value(x), Value(y)
    g = GRAPHS[graph]
    v = g.node(leaf_x, leaf_y)
    try:
        out = fn(v)
    except OverflowError as exc:
        if abs(x) < _HUGE:
            raise
        problems.append(_overflow(x, f"your function raised {running.describe_error(exc)}"))
        return None
    problem = _structure(out, v)
    if not problem:
        loss = g.rest(out, v, leaf_x, leaf_y)
        try:
            loss.backward()
        except OverflowError as exc:
            problem = _overflow(x, f"your node's local_backward raised {running.describe_error(exc)}")
        except Exception as exc:
            problem = (
                f"running backward() on the graph called your node's local_backward, which raised {running.describe_error(exc)}.",
                (
                    "backward() calls each node's local_backward with one argument, dout: the gradient of the output "
                    "with respect to that node. Check that your function takes it and runs on a number.",
                    "Write it as def local_backward(dout): ... inside value_sigmoid, and attach it with "
                    "out.local_backward = local_backward.",
                ),
            )
    if not problem and abs(x) >= _HUGE and not _finite(out.data, leaf_x.grad, leaf_y.grad):
        problem = _overflow(x, "your node's value or the gradients are not finite numbers")
    if problem:
        problems.append(problem)
        return None
    return np.float64(out.data), np.array([leaf_x.grad, leaf_y.grad])


_HUGE = 1000.0  # the |x| of the last two cases: math.exp(1000) is larger than any float

_OVERFLOW_HINT = (
    "sigmoid(x) lies between 0 and 1 for every x, but math.exp raises OverflowError once its argument passes "
    "about 709. For which sign of x does your formula hand math.exp a large positive number, and can sigmoid be "
    "written so that math.exp never sees one?",
    "Multiplying the top and the bottom of 1 / (1 + exp(-x)) by exp(x) gives exp(x) / (1 + exp(x)), the same "
    "function: the first form needs exp of a number <= 0 only when x >= 0, the second only when x < 0. Choose "
    "by the sign of x, and write the local derivative with the output s, so that it needs no exp of its own.",
)


def _overflow(x: float, what: str) -> tuple[str, Hint]:
    """The problem of a sigmoid node that overflows at a large |x|."""
    return (
        f"for the sigmoid node at x = {x:g} {what}; expected finite numbers, as sigmoid and its derivative are "
        "for every finite x.",
        _OVERFLOW_HINT,
    )


def _finite(*numbers: Any) -> bool:
    """Whether every one of ``numbers`` is a finite real number."""
    try:
        return all(math.isfinite(float(n)) for n in numbers)
    except (TypeError, ValueError, OverflowError):
        return False


def _structure(out: Any, v: Value) -> tuple[str, Hint] | None:
    """What is wrong with the node the learner's function returned, before any gradient is compared."""
    if not isinstance(out, Value):
        if out is None:
            return (
                "your function returned None; expected a Value, the new node of the graph.",
                "Did you forget the `return` statement? value_sigmoid must return the node it creates.",
            )
        return (
            f"your function returned a {type(out).__name__}; expected a Value, the new node of the graph.",
            "Return the node you created, out = Value(...), not only its number: the graph goes on from it.",
        )
    if len(out.parents) == 1 and out.parents[0] is v:
        if getattr(out.local_backward, "__code__", None) is _LEAF_BACKWARD:
            return (
                "your node lists v as its parent but has no local backward function of its own, so backward() "
                "passes nothing on to v; expected one attached to it.",
                (
                    "backward() calls out.local_backward(dout) for every node: where does yours get set?",
                    "Define a function of dout inside value_sigmoid and assign it to out.local_backward before "
                    "returning out.",
                ),
            )
        return None
    if any(node is v for node in out.topological_order()):
        return (
            f"your sigmoid is built from existing Value operations (the node you return was made by "
            f"{out.op or 'a leaf'!r}), so their backward functions do the work; expected one new node with v as "
            "its only parent and a local backward function that you write.",
            (
                "The exercise is about writing a backward function, so build the node yourself: compute the number "
                "with math, make one Value from it, and give it its own local_backward.",
                "Make the node as Value(number, (v,), 'sigmoid') and attach your function of dout to it.",
            ),
        )
    return (
        "the node your function returns does not have v among its parents, so backward() never reaches v; "
        "expected v to be its only parent.",
        (
            "backward() finds its way back through each node's parents: what are your node's?",
            "Create the node as Value(number, (v,), 'sigmoid'): the tuple of parents is the graph's edge to v.",
        ),
    )


_LEAF_BACKWARD = Value(0.0).local_backward.__code__  # what a node without its own backward function has


def _reference(graph: int, x: float, y: float, solution: Callable[[Value], Value] = _SOLUTION) -> Any:
    return _run(solution, graph, x, y, [])


def _wrong(slope: Callable[[float, float, float], float], overwrite: bool = False) -> Callable[..., Any]:
    """The graph's outputs for a sigmoid node whose backward adds ``slope(x, s, dout)`` to v.grad
    (or overwrites v.grad with it)."""

    def sigmoid(v: Value) -> Value:
        s = _SOLUTION(v).data
        out = Value(s, (v,), "sigmoid")

        def local_backward(dout: float) -> None:
            v.grad = slope(v.data, s, dout) + (0.0 if overwrite else v.grad)

        out.local_backward = local_backward
        return out

    return lambda graph, x, y: _run(sigmoid, graph, x, y, [])


_BY_HAND = "this exercise asks for the derivative worked out by hand"


def _calls_backward(answer: Any) -> str:
    """A refusal when the answer differentiates with the engine itself (``something.backward()``); the
    answer is read under a time limit, as reading a learner's object may run its code."""

    def read(answer: Any) -> str:
        tree = routes.source_tree(answer)
        calls = tree is not None and any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "backward"
            for n in ast.walk(tree)
        )
        return f"your function calls backward(), but {_BY_HAND}." if calls else ""

    return routes.read_limited(read, answer, _BY_HAND)


_NOT_BY_MACHINE = routes.forbid_names(
    ("torch", "autograd", "jax", "tensorflow", "numerical_gradient", "gradcheck", "derivative", "approx_fprime")
    + ("_unary", "sigmoid_backward", "sigmoid_forward")
    + ("sympy", "symengine", "lambdify")  # symbolic differentiation
    + ("cmath", "complex", "complex64", "complex128", "imag"),  # the complex step, f(x + ih).imag / h
    f"{_BY_HAND}, not a finite difference, a complex step, symbolic or automatic differentiation",
    imaginary=True,
)


@checker
def check_value_sigmoid(answer: Any) -> Feedback:
    """Exercise 5.8: ``value_sigmoid(v)``, sigmoid as a new node of the autograd graph with its own backward."""
    rng = np.random.default_rng(58)
    cases = []
    for k, graph in enumerate(GRAPHS):
        x, y = np.round(rng.normal(size=2), 2)
        cases.append(Case((k, float(x), float(y)), f"{graph.label}, x = {x:g}, y = {y:g}"))
    cases.insert(1, Case((0, 20.0, 0.0), "L = sigmoid(x), x = 20"))  # no finite difference is this accurate
    cases.append(Case((0, -_HUGE, 0.0), f"L = sigmoid(x), x = {-_HUGE:g}"))  # exp(-x) overflows here
    cases.append(Case((1, _HUGE, 0.0), f"L = sigmoid(x) * x, x = {_HUGE:g}"))  # and exp(x) here
    refused = (_NOT_BY_MACHINE(answer) or _calls_backward(answer)) if callable(answer) else ""
    problems: list[tuple[str, Hint]] = []
    wrapped: list[bool] = []

    def watched(graph: int, x: float, y: float) -> Any:
        stop = core.watch_solution_calls(answer, _SOLUTION)
        try:
            return _run(answer, graph, x, y, problems)
        finally:
            wrapped.append(stop())

    hint = (
        "Build the node in three steps: compute sigmoid of v.data as a float, make a Value of it whose only parent "
        "is v, and attach a function of dout that passes the gradient on to v. Value.__mul__ in the chapter does "
        "the same for a product.",
        "sigmoid's derivative can be written with its own output s. The amount your function adds to v's gradient "
        "is that local derivative times dout, the gradient that arrives at your node. Work it out on paper: a "
        "finite-difference estimate is not accurate enough at x = 20.",
    )
    feedback = check_function(
        "value_sigmoid",
        watched if callable(answer) and not refused else answer,
        _reference,
        cases,
        hint=hint,
        forbid=(lambda a: refused) if refused else None,
        parts=("sigmoid(v)", "(dL/dx, dL/dy)"),
        rtol=1e-6,
        atol=1e-13,  # the gradients at x = 20 are about 2e-9: an absolute slack would hide a finite difference
        mistakes=[
            Mistake(
                _wrong(lambda x, s, g: s * (1 - s) * g, overwrite=True),
                (
                    "Your gradients are right where v reaches the output only through your node, and wrong where "
                    "the graph uses v again.",
                    "v can receive gradient along several paths, and backward() runs each path's function in turn: "
                    "add your share to v.grad rather than replacing what is already there.",
                ),
            ),
            Mistake(
                _wrong(lambda x, s, g: s * (1 - s)),
                (
                    "Your gradients are right when your node is the output itself, and wrong when the graph goes "
                    "on after it.",
                    "The chain rule multiplies the local derivative by dout, the gradient of the output with "
                    "respect to your node, which backward() hands to your function.",
                ),
            ),
            Mistake(
                _wrong(lambda x, s, g: x * (1 - x) * g),
                (
                    "Your local derivative is evaluated at the wrong number.",
                    "sigmoid'(x) = sigmoid(x) (1 - sigmoid(x)) is written with the sigmoid's output, not its input x.",
                ),
            ),
            Mistake(
                _wrong(lambda x, s, g: -s * (1 - s) * g),
                (
                    "Your gradients have the wrong sign.",
                    "sigmoid is increasing: its derivative is positive everywhere.",
                ),
            ),
        ],
    )
    if problems and not feedback.passed:  # the graph could not be built or run: say why, then the general hints
        message, first = problems[0]
        stages = (first,) if isinstance(first, str) else first
        return Feedback("value_sigmoid", False, message, stages if len(stages) > 1 else (*stages, *hint))
    if feedback.passed and any(wrapped) and core.REFUSE_WRAPPED_SOLUTIONS:
        return Feedback(
            "value_sigmoid",
            False,
            "your function calls the exercise's folded solution; the checker wants your own code.",
            ("Rewrite your function without it: the exercise is about writing the backward function yourself.", *hint),
        )
    return feedback
