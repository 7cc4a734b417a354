"""Forbidden routes: an exercise that says "without NumPy" or "without silencing the warning" is
checked on the learner's source code, not only on the outputs, because the outputs of a forbidden
route are often right.

The source is read with :func:`inspect.getsource`, which works for functions and lambdas defined
in a notebook cell or a file. The learner's own helper functions that the answer calls (defined in
a notebook or a script, not in a library) are read too, so a forbidden call cannot hide one level
down. A name the learner binds themselves (a variable called ``parameters``, their own
``def softmax``) is theirs, not the library's, and is never refused for its name.

An answer whose source cannot be read (a built-in such as ``np.matmul``, a function made by
``exec``) is refused for an exercise that forbids a route: the checker cannot see how it works. So
is an answer whose source cannot be read within :data:`READ_LIMIT_S` (an object whose ``__getattr__``
never returns): reading a learner's object can run the learner's code.
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

from dlcourse.exercises import running

__all__ = ["READ_LIMIT_S", "SILENCERS", "forbid_names", "read_limited", "source_tree", "uses"]

SILENCERS = ("errstate", "seterr", "catch_warnings", "filterwarnings", "simplefilter", "suppress")
"""Names that hide a floating-point warning instead of avoiding it."""

_LIBRARIES = tuple(
    str(Path(p).resolve()) for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"]}
) + (str(Path(__file__).resolve().parents[1]),)  # site-packages, the standard library, dlcourse itself
_MOST_FUNCTIONS = 20  # helpers followed from one answer
_EXERCISES = __name__.rpartition(".")[0] + "."  # "dlcourse.exercises."
READ_LIMIT_S = 1.0  # seconds that reading the source of one answer may take


def source_tree(answer: Any) -> ast.AST | None:
    """The parsed source of the learner's function, or None when it cannot be read.

    The source is read from the function's own code object (a ``__wrapped__`` attribute cannot
    point elsewhere), and a lambda is cut out of the line it shares with other code."""
    function = answer.__func__ if isinstance(answer, types.MethodType) else answer  # a bound method's function
    code = function.__code__ if isinstance(function, types.FunctionType) else None  # no learner's __getattr__
    try:
        source = textwrap.dedent(inspect.getsource(code if isinstance(code, types.CodeType) else answer))
    except Exception:  # OSError, TypeError, or whatever a learner's object raises when asked
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
    if tree is not None and isinstance(code, types.CodeType) and code.co_name == "<lambda>":
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


def uses(
    tree: ast.AST, names: Iterable[str], matmul: bool = False, own: Iterable[str] = (), imaginary: bool = False
) -> list[str]:
    """The forbidden names (``@`` too when ``matmul``, imaginary literals such as ``1e-20j`` when
    ``imaginary``) that appear in ``tree``, sorted.

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
        elif imaginary and isinstance(node, ast.Constant) and isinstance(node.value, complex):
            found.add("complex numbers")
        elif isinstance(node, ast.Call) and _called(node) in ("import_module", "__import__", "getattr"):
            found.update(_by_string(node, wanted))
    return sorted(found)


def _called(call: ast.Call) -> str:
    """The name of the function a call calls: ``f`` for ``f(...)`` and for ``m.f(...)``."""
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")


def _by_string(call: ast.Call, wanted: set[str]) -> set[str]:
    """The forbidden names that an ``import_module("...")``, ``__import__("...")`` or ``getattr(x, "...")``
    call names in its string; for an import, the call itself when the string is computed (a computed
    attribute name is ordinary code, a computed module name is not)."""
    name = _called(call)
    args = call.args[1:2] if name == "getattr" else call.args[:1]
    if not args or not wanted:
        return set()
    if not (isinstance(args[0], ast.Constant) and isinstance(args[0].value, str)):
        return set() if name == "getattr" else {name}
    parts = args[0].value.split(".")
    return {part for part in (parts[0], parts[-1]) if part in wanted}


def _bound_to(fn: Any, tree: ast.AST, wanted: set[str], mine: set[str]) -> set[str]:
    """The forbidden names that the free names of ``fn`` are bound to, in its globals or its closure.

    An alias (``import dlcourse.rl as r``, ``from numpy import einsum as e``, ``m = import_module(...)``)
    is the module or function it names, and a library's function belongs to its module too (a class
    counts by its own name only: an exercise may build on the package's classes). The checkers' own
    modules count by name only, and their folded solutions not at all: calling one is caught when it
    runs (:func:`core.watch_solution_calls`). Run under a time limit: this asks the values' attributes."""
    scope = _scope(fn)
    found = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)) or node.id in mine | wanted:
            continue  # the learner's own name, or one refused by its name already
        value = scope.get(node.id, None)
        if isinstance(value, types.ModuleType):
            names = [value.__name__]
        elif isinstance(value, type) or (inspect.isroutine(value) and not _is_learners(value)):
            names = [getattr(value, "__name__", None)]
            if not isinstance(value, type):
                names.append(getattr(value, "__module__", None))
        else:
            continue
        if isinstance(names[-1], str) and names[-1].startswith(_EXERCISES):  # a checkers' module or function
            first = str(names[0])
            names = [] if isinstance(value, types.ModuleType) or first.startswith("solution_") else [first]
        found.update({part for name in names if isinstance(name, str) for part in name.split(".")} & wanted)
    return found


def _is_learners(fn: Any) -> bool:
    """Whether ``fn`` is a Python function the learner wrote (in a notebook or a script), not a library's."""
    if not isinstance(fn, types.FunctionType):
        return False
    try:
        path = str(Path(inspect.getsourcefile(fn) or "").resolve())
    except (TypeError, OSError):
        return False
    return not path.startswith(_LIBRARIES)


def _scope(fn: Any) -> dict[str, Any]:
    """The names ``fn`` can see besides its own: its globals, and its closure over them."""
    fn = fn.__func__ if isinstance(fn, types.MethodType) else fn  # a bound method's function
    if not isinstance(fn, types.FunctionType):
        return {}
    scope = dict(fn.__globals__)
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
        try:
            scope[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    return scope


def _helpers(fn: Any, tree: ast.AST) -> dict[str, Any]:
    """The learner's own functions that ``fn`` calls by name, from its globals or its closure."""
    scope = _scope(fn)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return {name: scope[name] for name in names if name in scope and _is_learners(scope[name])}


def read_limited(read: Callable[[Any], str], answer: Any, why: str) -> str:
    """``read(answer)`` (a route check that looks into the learner's object) under
    :data:`READ_LIMIT_S`; a refusal when it does not finish or raises."""
    status, said, _ = running.call_limited(lambda: read(answer), READ_LIMIT_S)
    if status == "ok":
        return said
    return (
        "the checker cannot read the source of your answer, so it cannot tell how it works; write your own "
        f"function in a cell ({why})."
    )


def forbid_names(names: Iterable[str], why: str, matmul: bool = False, imaginary: bool = False) -> Callable[[Any], str]:
    """A ``forbid`` argument for :func:`~dlcourse.exercises.core.check_function`.

    Args:
        names: names the answer may not use (modules, functions or attributes).
        why: the end of the sentence a learner reads, e.g. "this exercise asks for plain loops".
        matmul: forbid the ``@`` operator too.
        imaginary: forbid imaginary literals (``1e-20j``), the mark of complex-step differentiation.

    Returns:
        A function of the answer that gives the refusal, or "" when the answer may be run.
    """
    names = tuple(names)

    def forbid(answer: Any) -> str:
        return read_limited(read, answer, why) if callable(answer) else ""  # check_function reports the rest

    def read(answer: Any) -> str:
        target = answer
        method = inspect.getattr_static(type(answer), "__call__", None)
        if not isinstance(answer, (types.FunctionType, types.MethodType, type)) and isinstance(
            method, types.FunctionType
        ):
            target = method  # an object with a __call__ method: read the method
        tree = source_tree(target)
        if tree is None:
            name = inspect.getattr_static(answer, "__name__", None)
            return (
                f"the checker cannot read the source of {name if isinstance(name, str) else 'your answer'}, so it "
                f"cannot tell how it works; write your own function in a cell ({why})."
            )
        queue, seen, found = [(target, tree)], {id(target)}, set()
        while queue and len(seen) <= _MOST_FUNCTIONS:
            fn, fn_tree = queue.pop()
            helpers = _helpers(fn, fn_tree)
            found.update(uses(fn_tree, names, matmul, own=helpers, imaginary=imaginary))
            if _is_learners(
                fn.__func__ if isinstance(fn, types.MethodType) else fn
            ):  # the library's own code (a folded solution) may use the library's helpers
                found.update(_bound_to(fn, fn_tree, set(names), _bound_locally(fn_tree) | set(helpers)))
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
