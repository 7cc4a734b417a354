"""Forbidden routes: an exercise that says "without NumPy" or "without silencing the warning" is
checked on the learner's source code, not only on the outputs, because the outputs of a forbidden
route are often right.

The source is read with :func:`inspect.getsource`, which works for functions and lambdas defined
in a notebook cell or a file. The learner's own helper functions that the answer calls (defined in
a notebook or a script, not in a library) are read too, so a forbidden call cannot hide one level
down. A name the learner binds themselves (a variable called ``parameters``, their own
``def softmax``) is theirs, not the library's, and is never refused for its name.

An answer whose source cannot be read (a built-in such as ``np.matmul``, a function made by
``exec``) is refused for an exercise that forbids a route: the checker cannot see how it works.
"""

from __future__ import annotations

import ast
import inspect
import sysconfig
import textwrap
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["SILENCERS", "forbid_names", "source_tree", "uses"]

SILENCERS = ("errstate", "seterr", "catch_warnings", "filterwarnings", "simplefilter", "suppress")
"""Names that hide a floating-point warning instead of avoiding it."""

_LIBRARIES = tuple(
    str(Path(p).resolve()) for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"]}
) + (str(Path(__file__).resolve().parents[1]),)  # site-packages, the standard library, dlcourse itself
_MOST_FUNCTIONS = 20  # helpers followed from one answer


def source_tree(answer: Any) -> ast.AST | None:
    """The parsed source of the learner's function, or None when it cannot be read.

    The source is read from the function's own code object (a ``__wrapped__`` attribute cannot
    point elsewhere), and a lambda is cut out of the line it shares with other code."""
    code = getattr(answer, "__code__", None)
    try:
        source = textwrap.dedent(inspect.getsource(code if isinstance(code, types.CodeType) else answer))
    except (OSError, TypeError):
        return None
    tree = None
    for text in (source, source.strip().rstrip(",")):
        try:
            tree = ast.parse(text)
            break
        except SyntaxError:
            continue
    if tree is None and "lambda" in source:  # a lambda inside a call cut across lines: from "lambda" on
        start = source.index("lambda")
        for end in range(len(source), start, -1):
            try:
                tree = ast.parse(source[start:end].strip(), mode="eval")
                break
            except SyntaxError:
                continue
    if tree is not None and getattr(answer, "__name__", "") == "<lambda>" and isinstance(code, types.CodeType):
        args = list(code.co_varnames[: code.co_argcount])
        lambdas = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda) and [a.arg for a in n.args.args] == args]
        if len(lambdas) == 1:  # only this lambda, not the code around it on the same line
            return ast.Expression(body=lambdas[0])
    return tree


def _bound_locally(tree: ast.AST) -> set[str]:
    """Names the code binds itself: assigned variables, arguments, its own functions and classes
    (not imports: an imported name is the library's)."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
    return bound


def uses(tree: ast.AST, names: Iterable[str], matmul: bool = False, own: Iterable[str] = ()) -> list[str]:
    """The forbidden names (and ``@`` when ``matmul``) that appear in ``tree``, sorted.

    A bare name bound in the code itself, or listed in ``own`` (the learner's own functions), is
    not a use of the library's name; attributes (``torch.softmax``) and imports always are.
    """
    wanted, found = set(names), set()
    mine = _bound_locally(tree) | set(own)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in wanted and node.id not in mine:
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in wanted:
            found.add(node.attr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
            found.update(m.split(".")[0] for m in modules if m.split(".")[0] in wanted)
            found.update(m.split(".")[-1] for m in modules if m.split(".")[-1] in wanted)
        elif matmul and isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, ast.MatMult):
            found.add("@")
    return sorted(found)


def _is_learners(fn: Any) -> bool:
    """Whether ``fn`` is a Python function the learner wrote (in a notebook or a script), not a library's."""
    if not isinstance(fn, types.FunctionType):
        return False
    try:
        path = str(Path(inspect.getsourcefile(fn) or "").resolve())
    except (TypeError, OSError):
        return False
    return not path.startswith(_LIBRARIES)


def _helpers(fn: Any, tree: ast.AST) -> dict[str, Any]:
    """The learner's own functions that ``fn`` calls by name, from its globals or its closure."""
    fn = getattr(fn, "__func__", fn)  # a bound method's function
    scope = dict(getattr(fn, "__globals__", {}))
    code = getattr(fn, "__code__", None)
    if code is not None and fn.__closure__:
        for name, cell in zip(code.co_freevars, fn.__closure__, strict=False):
            try:
                scope[name] = cell.cell_contents
            except ValueError:  # an empty cell
                continue
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return {name: scope[name] for name in names if name in scope and _is_learners(scope[name])}


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
        target = answer
        if not inspect.isroutine(answer) and not isinstance(answer, type) and inspect.ismethod(answer.__call__):
            target = answer.__call__  # an object with a __call__ method: read the method
        tree = source_tree(target)
        if tree is None:
            return (
                f"the checker cannot read the source of {getattr(answer, '__name__', 'your answer')}, so it cannot "
                f"tell how it works; write your own function in a cell ({why})."
            )
        queue, seen, found = [(target, tree)], {id(target)}, set()
        while queue and len(seen) <= _MOST_FUNCTIONS:
            fn, fn_tree = queue.pop()
            helpers = _helpers(fn, fn_tree)
            found.update(uses(fn_tree, names, matmul, own=helpers))
            for helper in helpers.values():
                if id(helper) not in seen:
                    seen.add(id(helper))
                    helper_tree = source_tree(helper)
                    if helper_tree is not None:
                        queue.append((helper, helper_tree))
        if found:
            return f"your function uses {', '.join(sorted(found))}, but {why}."
        return ""

    return forbid
