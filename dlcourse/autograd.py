"""A scalar reverse-mode autograd engine in the style of micrograd: ``loss.backward()`` from scratch.

A :class:`Value` holds one number, ``data``, and after ``output.backward()`` the derivative of that
output with respect to it, ``grad``. Each operation makes a new Value that remembers its inputs
(``parents``) and a closure, ``local_backward(dout)``: given the new node's gradient ``dout``, it
*adds* ``dout`` times the local derivative to each parent's ``grad``, as a layer's ``backward(dout)``
does. :meth:`Value.backward` runs these closures in reverse topological order. The network built on
Values is in :mod:`dlcourse.autograd_nn`.

This module has no twin in ``dlcourse/torch`` and lives outside the mirrored trees on purpose:
``torch.autograd`` *is* its twin, and tests/test_autograd.py builds every expression in both.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from dlcourse.validation import describe

__all__ = ["Value"]


def _number(value: Any, name: str, expected: str = "a number", finite: bool = True) -> float:
    """``value`` as a float: an int, a float or a NumPy scalar, never a boolean; with ``finite``,
    never NaN or infinite either (only an operation that overflows may make an infinite Value)."""
    if type(value) is float and (not finite or math.isfinite(value)):  # the common case, checked first
        return value
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be {expected}, got {describe(value)}.")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        raise ValueError(
            f"{name} is too large to be a float, got an int of about {int(int(value).bit_length() * math.log10(2)) + 1} digits."
        ) from None
    if finite and not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {describe(value)}.")
    return number


def _as_value(value: Any, name: str) -> Value:
    return value if isinstance(value, Value) else Value(_number(value, name, "a number or a Value"))


def _power(base: float, exponent: float) -> float:
    """``base ** exponent`` as a float: infinite where it overflows or divides by zero (0 ** -0.5)."""
    try:
        return float(base**exponent)
    except (OverflowError, ZeroDivisionError):
        return -math.inf if base < 0 and exponent % 2 == 1 else math.inf


class Value:
    """One scalar node of a computation graph, with the gradient that ``backward()`` leaves in it.

    Attributes:
        data: the number this node holds.
        grad: d(output) / d(this node) after ``output.backward()``; 0.0 before.
        parents: the nodes this one was computed from; empty for a leaf (an input or a parameter).
        op: the operation that made it ("+", "*", "**2", "exp", "log", "tanh", "relu"; "" for a leaf).
        local_backward: a closure called as ``local_backward(dout)`` with ``dout`` = this node's ``grad``:
            it adds ``dout`` times the local derivative to the ``grad`` of each parent.
    """

    __array_ufunc__ = None  # NumPy hands np.float64(2) * v to Value.__rmul__ instead of making an array

    def __init__(self, data: float, parents: tuple[Value, ...] = (), op: str = "") -> None:
        self.data = _number(data, "data", finite=not parents)  # a leaf must be finite; a result may overflow
        if not isinstance(parents, (tuple, list)) or not all([isinstance(p, Value) for p in parents]):
            raise TypeError(f"parents must be a tuple of Values, such as (v,), got {describe(parents)}.")
        self.grad = 0.0
        self.parents = tuple(parents)
        self.op = op
        self.local_backward: Callable[[float], None] = lambda dout: None  # a leaf has no parents to pass to

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    def _unary(self, data: float, op: str, slope: float) -> Value:
        """A node of one parent whose local derivative ``slope`` is known from the forward pass."""
        out = Value(data, (self,), op)

        def local_backward(dout: float) -> None:  # chain rule: dL/d(self) += d(out)/d(self) * dL/d(out)
            self.grad += slope * dout

        out.local_backward = local_backward
        return out

    def __add__(self, other: Value | float) -> Value:
        other = _as_value(other, "the other operand of +")
        out = Value(self.data + other.data, (self, other), "+")

        def local_backward(dout: float) -> None:  # d(a + b)/da = d(a + b)/db = 1
            self.grad += dout
            other.grad += dout

        out.local_backward = local_backward
        return out

    def __mul__(self, other: Value | float) -> Value:
        other = _as_value(other, "the other operand of *")
        out = Value(self.data * other.data, (self, other), "*")

        def local_backward(dout: float) -> None:  # d(ab)/da = b, d(ab)/db = a
            self.grad += other.data * dout
            other.grad += self.data * dout

        out.local_backward = local_backward
        return out

    def __pow__(self, exponent: float) -> Value:
        if isinstance(exponent, Value):
            raise TypeError(f"the exponent of ** must be a plain number, got a Value (data {exponent.data:.6g}).")
        n = _number(exponent, "the exponent of **")
        if self.data == 0 and n < 0:
            raise ZeroDivisionError(f"0 ** {n:g} divides by 0: the base of ** (or divisor of /) must not be 0.")
        if self.data < 0 and not n.is_integer():
            raise ValueError(f"the base of ** is {self.data:.6g} < 0, so the exponent must be whole; got {n:g}.")
        slope = n * _power(self.data, n - 1) if n != 0 else 0.0  # d(x^n)/dx = n x^(n-1)
        return self._unary(_power(self.data, n), f"**{n:g}", slope)

    def __rpow__(self, base: float) -> Value:
        raise TypeError(f"the exponent of ** must be a plain number, got a Value (data {self.data:.6g}).")

    def exp(self) -> Value:
        try:
            data = math.exp(self.data)
        except OverflowError:  # e^x beyond the largest float, from x = 709.78 on
            data = math.inf
        return self._unary(data, "exp", data)  # d(e^x)/dx = e^x

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError(f"log needs a positive Value, got one of data {self.data:.6g}.")
        return self._unary(math.log(self.data), "log", 1 / self.data)  # d(ln x)/dx = 1/x

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return self._unary(t, "tanh", 1 - t * t)  # d(tanh x)/dx = 1 - tanh(x)^2

    def relu(self) -> Value:
        return self._unary(max(self.data, 0.0), "relu", float(self.data > 0))  # slope 1 where x > 0, else 0

    __radd__ = __add__  # 2 + a is a + 2
    __rmul__ = __mul__  # 2 * a is a * 2

    def __neg__(self) -> Value:  # -a
        return self * -1

    def __sub__(self, other: Value | float) -> Value:  # a - b
        return self + -_as_value(other, "the other operand of -")

    def __rsub__(self, other: float) -> Value:  # 2 - a
        return -self + _number(other, "the other operand of -")

    def __truediv__(self, other: Value | float) -> Value:  # a / b = a * b^-1
        return self * _as_value(other, "the divisor of /") ** -1

    def __rtruediv__(self, other: float) -> Value:  # 2 / a
        return _number(other, "the dividend of /") * self**-1

    def topological_order(self) -> list[Value]:
        """Every node this one was computed from, each once, each after its parents; this node last."""
        order: list[Value] = []
        seen: set[Value] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]  # (node, its parents are already in order)
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack += [(parent, False) for parent in node.parents if parent not in seen]
        return order

    def backward(self) -> None:
        """Set each node's ``grad`` to d(self)/d(node), by the chain rule from here back. Inner nodes'
        gradients are recomputed; leaves' accumulate over calls, as in PyTorch (see ``MLP.zero_grad``)."""
        order = self.topological_order()
        for node in order:
            if node.parents:
                node.grad = 0.0
        self.grad += 1.0  # d(self)/d(self)
        for node in reversed(order):  # a node's grad is complete once all its children have run
            node.local_backward(node.grad)
