"""Forbidden routes: an exercise that says "without NumPy" or "without silencing the warning" is
checked on the learner's source code, not only on the outputs, because the outputs of a forbidden
route are often right.

The source is read with :func:`inspect.getsource`, which works for functions and lambdas defined
in a notebook cell or a file. An answer whose source cannot be read (a built-in such as
``np.matmul``, a function made by ``exec``) is refused for an exercise that forbids a route: the
checker cannot see how it works.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["forbid_names", "source_tree", "uses"]

SILENCERS = ("errstate", "seterr", "catch_warnings", "filterwarnings", "simplefilter", "suppress")
"""Names that hide a floating-point warning instead of avoiding it."""


def source_tree(answer: Any) -> ast.AST | None:
    """The parsed source of the learner's function, or None when it cannot be read."""
    try:
        source = textwrap.dedent(inspect.getsource(answer))
    except (OSError, TypeError):
        return None
    for text in (source, source.strip().rstrip(",")):  # a lambda cut out of a longer line
        try:
            return ast.parse(text)
        except SyntaxError:
            continue
    try:  # a lambda inside a call, e.g. check(lambda x: ...): parse from "lambda" on
        start = source.index("lambda")
        for end in range(len(source), start, -1):
            try:
                return ast.parse(source[start:end].strip(), mode="eval")
            except SyntaxError:
                continue
    except ValueError:
        pass
    return None


def uses(tree: ast.AST, names: Iterable[str], matmul: bool = False) -> list[str]:
    """The forbidden names (and ``@`` when ``matmul``) that appear in ``tree``, sorted."""
    wanted, found = set(names), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in wanted:
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in wanted:
            found.add(node.attr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
            found.update(m.split(".")[0] for m in modules if m.split(".")[0] in wanted)
        elif matmul and isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, ast.MatMult):
            found.add("@")
    return sorted(found)


def forbid_names(names: Iterable[str], why: str, matmul: bool = False) -> Callable[[Any], str]:
    """A ``forbid`` argument for :func:`~dlcourse.exercises.core.check_function`.

    Args:
        names: names the answer may not use (modules, functions or attributes).
        why: the end of the sentence a learner reads, e.g. "this exercise asks for plain loops".
        matmul: forbid the ``@`` operator too.

    Returns:
        A function of the answer that gives the refusal, or "" when the answer may be run.
    """
    names = tuple(names)

    def forbid(answer: Any) -> str:
        if not callable(answer):
            return ""  # check_function reports it
        tree = source_tree(answer)
        if tree is None:
            return (
                f"the checker cannot read the source of {getattr(answer, '__name__', 'your answer')}, so it cannot "
                f"tell how it works; write your own function in a cell ({why})."
            )
        found = uses(tree, names, matmul)
        if found:
            return f"your function uses {', '.join(found)}, but {why}."
        return ""

    return forbid
