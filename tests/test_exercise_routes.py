"""Forbidden routes are read from the learner's source (dlcourse/exercises/routes.py), and the
checkers' conversion and time limit hold against answers that try to slip past them."""

from __future__ import annotations

import operator
import time

import numpy as np
import pytest

from dlcourse.exercises import compare, running
from dlcourse.exercises.routes import forbid_names

NO_NUMPY = forbid_names(("np", "numpy", "torch", "dot", "matmul", "matmul_naive", "dlcourse"), "no NumPy", matmul=True)


def loops(a, b):
    dot = 0.0  # the learner's own accumulator may be called dot
    out = []
    for row in a:
        out.append([])
        for col in zip(*b, strict=False):
            dot = sum(x * y for x, y in zip(row, col, strict=True))
            out[-1].append(dot)
    return out


def hidden_numpy(a, b):
    return np.matmul(a, b)


def calls_a_helper(a, b):
    return hidden_numpy(a, b)


def imports_inside(a, b):
    import numpy as n

    return n.dot(a, b)


def imports_the_package(a, b):
    from dlcourse.numpy.linalg import matmul_naive

    return matmul_naive(a, b)


def uses_operator(a, b):
    return operator.matmul(a, b)


class Callable:
    def __call__(self, a, b):
        return a @ b


def test_the_learners_own_names_are_theirs():
    assert NO_NUMPY(loops) == ""

    def own_dot(u, v):
        return sum(x * y for x, y in zip(u, v, strict=True))

    def uses_own_dot(a, b):
        return [[own_dot(r, c) for c in zip(*b, strict=False)] for r in a]

    assert NO_NUMPY(uses_own_dot) == ""


@pytest.mark.parametrize(
    ("answer", "names"),
    [
        (calls_a_helper, "matmul, np"),  # one level down, in the learner's own helper
        (imports_inside, "dot, numpy"),
        (imports_the_package, "dlcourse, matmul_naive"),
        (uses_operator, "matmul"),
        (Callable(), "@"),
    ],
    ids=["helper", "import-as", "package", "operator", "call-method"],
)
def test_forbidden_routes_are_found_wherever_they_hide(answer, names):
    assert NO_NUMPY(answer) == f"your function uses {names}, but no NumPy."


def test_a_lambda_is_read_alone_from_its_line_and_wrapped_cannot_redirect():
    answer = lambda a, b: [[sum(x * y for x, y in zip(r, c, strict=True)) for c in zip(*b, strict=True)] for r in a]; z = np.zeros(2)  # noqa: E702, E731  # fmt: skip
    assert NO_NUMPY(answer) == "" and z.shape == (2,)

    def innocent(a, b):
        return a

    def cheat(a, b):
        return np.matmul(a, b)

    cheat.__wrapped__ = innocent
    assert "matmul" in NO_NUMPY(cheat)


def test_an_unreadable_answer_is_refused_for_a_route_exercise():
    assert "cannot read the source" in NO_NUMPY(np.matmul)


def test_outputs_are_converted_strictly_and_described():
    assert compare.kind_of([[1, 2], [3]]) == "a list whose rows have different lengths"
    torch = pytest.importorskip("torch")
    values = [v * 1 for v in torch.tensor([1.0, 2.0], requires_grad=True)]
    np.testing.assert_array_equal(compare.to_array(values), [1.0, 2.0])
    assert isinstance(compare.clean("3"), compare.Unreadable)
    assert compare.clean(None) is None and compare.clean((np.ones(2), [1, 2]), parts=2)[1].tolist() == [1.0, 2.0]


def test_the_timer_fires_again_when_the_learner_catches_it_once():
    def swallows_once():
        try:
            while True:
                pass
        except BaseException:  # a learner's bare except catches the first TimeUp
            pass
        while True:
            pass

    start = time.perf_counter()
    status, _, _ = running.call_limited(swallows_once, 0.3)
    assert status == "timeout" and time.perf_counter() - start < 3


def test_an_exception_whose_message_never_returns_is_still_described():
    class Sleepy(Exception):
        def __str__(self):
            time.sleep(30)
            return "late"

    start = time.perf_counter()
    assert running.describe_error(Sleepy()) == "Sleepy: a message that could not be read"
    assert time.perf_counter() - start < 5
