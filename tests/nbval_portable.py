"""Portable nbval: stored outputs that validate on any CPU, and say why where they may move.

nbval compares every output of every code cell with the stored one, character for character.
That is right for most cells, and wrong for a few: a number computed by a long float32 training
run depends on the order in which BLAS, MKL and oneDNN add things up, and that order depends on
the CPU. This pytest plugin, loaded next to nbval with ``-p tests.nbval_portable``, keeps exact
comparison as the default and lets a cell declare, in its metadata, what else it needs::

    "metadata": {"portable": {"compare": "tolerance", "atol": 0.005, "only": "(0\\.\\d{3})$",
                              "reason": "..."}}

``compare`` is one of:

``"tolerance"``
    The text around the numbers is compared exactly (but for the spaces that pad a number to a
    width); each number that ``only`` (a regular expression) covers is compared with
    the stored one within ``atol + rtol * |stored| + last_digit * unit``, where ``unit`` is one
    unit in the last place the stored number was printed with (0.001 for ``0.964``, 1 for
    ``73``, 1e-16 for ``1.8e-15``); every other number exactly. ``rtol``, ``atol`` and
    ``last_digit`` default to 0; ``tests/test_portable_nbval.py`` checks that no covered number in
    the book may move by more than 15 % of itself.
``"timing"``
    The output reports wall-clock time. The text is compared exactly, and the numbers that ``only``
    covers (the times and the rates computed from them) not at all; other numbers exactly.
    The cell must use a timer (``perf_counter``, ``median_time``, a ``*_seconds`` or ``*_s`` value).
``"exempt"``
    The output follows a chaotic trajectory (an RL run, the order of misclassified images), so
    its text is not compared with the stored one; the cell must assert the property the chapter
    teaches instead: this plugin fails it unless an ``assert`` (or ``np.testing.assert_*`` call)
    runs at its top level on a condition that is not a constant. That it is the right property is
    for review to check; ``census`` prints every exempt cell's assertions.

Every declaration carries a ``reason`` (a sentence). ``tests/test_portable_nbval.py`` counts them
and fails above the caps given in the README.

Images are never compared, as nbval itself skips ``image/png``: a PNG embedded in HTML (an
explorer's frames, an animation) is replaced by a placeholder on both sides before comparing.

Options:

``--nbval-portable-strict``
    Compare ``tolerance`` cells exactly, against the stored outputs.
``--nbval-portable-record DIR``
    Write the outputs of every compared cell to ``DIR/<notebook>.json``.
``--nbval-portable-reference DIR``
    Compare with the outputs recorded in ``DIR`` instead of the stored ones: strict, and exempt
    cells are compared too (a second run on the same machine must print the same).
"""

from __future__ import annotations

import ast
import copy
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

KEY = "portable"  # the cell-metadata key
KINDS = ("tolerance", "timing", "exempt")
# What a timing cell must show: a timer, or a variable that holds seconds (lm_seconds, ddp_s, seconds[...]).
TIMER_NAMES = ("perf_counter", "median_time", "monotonic")
SECONDS_NAME = re.compile(r"\w*seconds|\w+_s")

# A number as the course prints them: 73, -0.5, 54,314, 1.8e-15, .5; not the digits inside a
# name such as float32 or conv2d.
NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?"
    r"|(?<![\w.])[-+]?\.\d+(?:[eE][-+]?\d+)?"
)
# base64 of a PNG file: its signature, then data; Matplotlib's animations break the lines with "\" + newline
PNG = re.compile(r"iVBORw0KGgo[A-Za-z0-9+/=\\\n]*")
PNG_PLACEHOLDER = "<PNG image: not compared, as nbval skips image/png>"
MAX_RELATIVE = 0.15  # no declared tolerance may let a covered number move by more than this fraction of itself


@dataclass(frozen=True)
class Declaration:
    """What a cell declares about the comparison of its outputs.

    ``only`` is a regular expression searched in the stored text: the tolerance (or, in a timing
    cell, the freedom) covers the numbers inside its matches (inside its first group, if it has
    one); every other number in the output is compared exactly.
    """

    compare: str = "exact"
    reason: str = ""
    rtol: float = 0.0
    atol: float = 0.0
    last_digit: int = 0
    only: str = ""


def declaration(cell: dict) -> Declaration:
    """Read and check a cell's ``portable`` metadata.

    Raises:
        ValueError: the declaration is malformed, in one sentence that names the cell's problem.
    """
    spec = cell.get("metadata", {}).get(KEY)
    if spec is None:
        return Declaration()
    if not isinstance(spec, dict):
        raise ValueError(f"metadata {KEY!r} must be a dict, got {type(spec).__name__}.")
    keys = {"compare", "reason", "rtol", "atol", "last_digit", "only"}
    if set(spec) - keys:
        raise ValueError(f"metadata {KEY!r} has unknown keys {sorted(set(spec) - keys)}; expected {sorted(keys)}.")
    kind = spec.get("compare")
    if kind not in KINDS:
        raise ValueError(f"metadata {KEY!r}: compare must be one of {KINDS}, got {kind!r}.")
    reason = spec.get("reason")
    if not isinstance(reason, str) or len({w.lower() for w in re.findall(r"[A-Za-z]+", reason)}) < 5:
        raise ValueError(f"metadata {KEY!r}: reason must be a sentence saying why, got {reason!r}.")
    numbers = {k: spec.get(k, 0) for k in ("rtol", "atol", "last_digit")}
    for name, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e6:
            raise ValueError(f"metadata {KEY!r}: {name} must be a number in [0, 1e6), got {value!r}.")
    if not isinstance(numbers["last_digit"], int):
        raise ValueError(f"metadata {KEY!r}: last_digit must be a whole number, got {numbers['last_digit']!r}.")
    only = spec.get("only", "")
    if kind == "tolerance" and not any(numbers.values()):
        raise ValueError(f"metadata {KEY!r}: a tolerance cell must set rtol, atol or last_digit above 0.")
    if kind != "tolerance" and any(numbers.values()):
        raise ValueError(
            f"metadata {KEY!r}: rtol, atol and last_digit belong to compare='tolerance' only, not {kind!r}."
        )
    if kind in ("tolerance", "timing"):
        if not isinstance(only, str) or not only:
            raise ValueError(
                f"metadata {KEY!r}: a {kind} cell must name the numbers it covers in 'only' (a regex), got {only!r}."
            )
        try:
            re.compile(only)
        except re.error as err:
            raise ValueError(f"metadata {KEY!r}: 'only' is not a regular expression ({err}), got {only!r}.") from None
    elif "only" in spec:
        raise ValueError(f"metadata {KEY!r}: 'only' belongs to tolerance and timing cells, not {kind!r}.")
    source = "".join(cell.get("source", ""))
    if kind == "exempt" and not asserts(source):
        raise ValueError(
            "an exempt cell must assert what the chapter teaches: an assert statement (or np.testing.assert_* call) "
            "that runs at the cell's top level, on a condition that is not a constant."
        )
    if kind == "timing" and not times(source):
        raise ValueError(
            "a timing cell must print what a timer measured (perf_counter, median_time or a *_seconds / *_s value)."
        )
    return Declaration(kind, reason, float(numbers["rtol"]), float(numbers["atol"]), int(numbers["last_digit"]), only)


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements that run whenever the cell runs: the top level and the bodies of its loops and
    with-blocks (not of if-blocks, functions or classes)."""
    found = []
    for node in body:
        found.append(node)
        if isinstance(node, (ast.For, ast.While, ast.With)):
            found += _top_level(node.body)
    return found


def asserts(source: str) -> bool:
    """True if ``source`` asserts something whenever it runs: a top-level ``assert`` on a condition that
    is not a constant or a tuple, or a top-level call of an ``assert_*`` function it does not define."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for node in _top_level(tree.body):
        if isinstance(node, ast.Assert) and not isinstance(node.test, (ast.Constant, ast.Tuple)):
            return True
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.startswith("assert_") and name not in defined:
                return True
    return False


def times(source: str) -> bool:
    """True if ``source`` uses a timer or a value named for seconds (in code, not in comments or strings)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
        if name and (name in TIMER_NAMES or SECONDS_NAME.fullmatch(name)):
            return True
    return False


def _unit(token: str) -> float:
    """One unit in the last printed place of ``token``: 0.001 for 0.964, 1 for 73, 1e-16 for 1.8e-15."""
    mantissa, _, exponent = token.replace(",", "").lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    try:
        return 10.0 ** (int(exponent or 0) - decimals)
    except OverflowError:
        return math.inf


def _value(token: str) -> float:
    return float(token.replace(",", ""))


def allowed(token: str, spec: Declaration) -> float:
    """How far a covered number printed as ``token`` may move under ``spec``."""
    return spec.atol + spec.rtol * abs(_value(token)) + spec.last_digit * _unit(token)


def _skeleton(text: str) -> str:
    """The text with every number replaced by a mark, and the spaces that pad a number dropped:
    a number printed to a width (``{t:9.2f}``) takes more or fewer spaces as it grows."""
    return re.sub(r"[ \t]*\x00[ \t]*", "\x00", NUMBER.sub("\x00", text))


def covered(text: str, spec: Declaration) -> list[bool]:
    """For each number in ``text`` (a stored output), whether the declaration's ``only`` covers it."""
    pattern = re.compile(spec.only, re.MULTILINE)
    spans = [m.span(1) if pattern.groups else m.span() for m in pattern.finditer(text)]
    return [any(a <= m.start() and m.end() <= b for a, b in spans) for m in NUMBER.finditer(text)]


def numbers_match(stored: str, new: str, spec: Declaration) -> bool:
    """True if ``new`` reads as ``stored`` with every covered number within the declared tolerance.

    The text between the numbers must be identical, but for the spaces that pad a number to a
    width, and so must the count of numbers. Numbers that ``spec.only`` does not cover must be
    printed identically; in a timing cell the covered ones may be anything.
    """
    if stored == new:
        return True
    if _skeleton(stored) != _skeleton(new):
        return False
    pairs = zip(NUMBER.findall(stored), NUMBER.findall(new), covered(stored, spec), strict=True)
    for x, y, free in pairs:
        if x == y or (free and spec.compare == "timing"):
            continue
        if not free:
            return False
        try:
            if not abs(_value(x) - _value(y)) <= allowed(x, spec) * (1 + 1e-9):  # 1e-9: the bound's own rounding
                return False
        except OverflowError:
            return False
    return True


def mask_images(text: str) -> str:
    """Replace every base64 PNG inside a string by a placeholder (nbval does not compare images)."""
    return PNG.sub(PNG_PLACEHOLDER, text)


def _text(value: Any) -> Any:
    """A text as a notebook file may store it (a list of lines), joined into one string."""
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    return value


def _masked(outputs: list) -> list:
    """Copies of ``outputs`` with texts joined and PNG data masked (text outputs only, not JSON data)."""
    result = []
    for out in outputs:
        out = copy.deepcopy(out)
        if "text" in out:
            out["text"] = mask_images(_text(out["text"]))
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/") or mime == "image/svg+xml":
                value = _text(value)
                out["data"][mime] = mask_images(value) if isinstance(value, str) else value
        result.append(out)
    return result


def _json_safe(outputs: list) -> list:
    return json.loads(json.dumps(outputs, default=str))


def align(test: list, ref: list, spec: Declaration, sanitize: Callable[[Any], Any] = lambda s: s) -> list:
    """Return ``test`` with every text that matches its stored one within the declared tolerance
    replaced by the stored text, so that nbval's exact comparison passes there and reports the
    rest as usual. Streams are paired by name, other outputs in order, as nbval pairs them."""
    test = copy.deepcopy(test)
    streams = {o["name"]: o for o in ref if o.get("output_type") == "stream"}
    others = iter(o for o in ref if o.get("output_type") != "stream")
    for out in test:
        if out.get("output_type") == "stream":
            stored = streams.get(out.get("name"))
            if stored is not None and numbers_match(sanitize(stored["text"]), sanitize(out["text"]), spec):
                out["text"] = stored["text"]
            continue
        stored = next(others, None)
        if stored is None:
            continue
        for mime, value in out.get("data", {}).items():
            old = stored.get("data", {}).get(mime)
            if isinstance(value, str) and isinstance(old, str) and numbers_match(sanitize(old), sanitize(value), spec):
                out["data"][mime] = old
    return test


def outputs_match(test: list, ref: list, spec: Declaration) -> bool:
    """Whether new outputs pass against stored ones under a declaration (without nbval's sanitizer)."""
    if spec.compare == "exempt":
        return True
    test, ref = _masked(test), _masked(ref)
    if spec.compare != "exact":
        test = align(test, ref, spec)
    return _json_safe(test) == _json_safe(ref)


def pytest_configure(config: pytest.Config) -> None:
    """The kernels nbval starts record exercise passes in a fresh file of their own, never the
    learner's ~/.dlcourse/progress.json: a chapter's stored progress table shows a fresh start."""
    import os
    import tempfile

    os.environ["DLCOURSE_PROGRESS"] = os.path.join(tempfile.mkdtemp(prefix="dlcourse-progress-"), "progress.json")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nbval-portable", "portable nbval (tests/nbval_portable.py)")
    group.addoption("--nbval-portable-strict", action="store_true", help="compare tolerance cells exactly")
    group.addoption("--nbval-portable-record", metavar="DIR", help="write each compared cell's outputs to DIR")
    group.addoption("--nbval-portable-reference", metavar="DIR", help="compare with outputs recorded in DIR (strict)")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    from nbval.plugin import IPyNbCell

    cls = _portable_cell_class(IPyNbCell)
    for item in items:
        if type(item) is IPyNbCell:
            item.__class__ = cls


def _portable_cell_class(base: type) -> type:
    class PortableCell(base):  # type: ignore[misc, valid-type]
        """An nbval cell that honours the cell's ``portable`` declaration."""

        def compare_outputs(self, test, ref, skip_compare=None):
            try:
                spec = declaration(self.cell)
            except ValueError as err:
                self.comparison_traceback = [f"{self.parent.path.name} cell {self.cell_num}: {err}"]
                return False
            option = self.config.option
            name = self.parent.path.stem
            if option.nbval_portable_record:
                _record(Path(option.nbval_portable_record), name, self.cell_num, test)
            if option.nbval_portable_reference:
                ref = _recorded(Path(option.nbval_portable_reference), name, self.cell_num)
                if ref is None:
                    self.comparison_traceback = [f"no recorded outputs for {name} cell {self.cell_num}"]
                    return False
            # Against another run on this machine (the determinism check) even an exempt cell must
            # print the same, and a tolerance cell exactly the same; timings are free everywhere.
            same_machine = bool(option.nbval_portable_reference)
            if spec.compare == "exempt" and not same_machine:
                return True
            test, ref = _masked(test), _masked(ref)
            strict = same_machine or option.nbval_portable_strict
            if spec.compare == "timing" or (spec.compare == "tolerance" and not strict):
                test = align(test, ref, spec, self.sanitize)
            return super().compare_outputs(test, ref, skip_compare)

    return PortableCell


def _record(folder: Path, notebook: str, cell_num: int, outputs: list) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{notebook}.json"
    recorded = json.loads(path.read_text()) if path.exists() else {}
    # masked and without image data, as they are compared: nbval skips image/png and image/jpeg
    kept = [
        {k: v for k, v in o.items() if k != "data"} | ({"data": _text_data(o)} if "data" in o else {})
        for o in _masked(outputs)
    ]
    recorded[str(cell_num)] = _json_safe(kept)
    path.write_text(json.dumps(recorded, indent=1, sort_keys=True))


def _text_data(output: dict) -> dict:
    return {mime: value for mime, value in output["data"].items() if not mime.startswith("image/")}


def _recorded(folder: Path, notebook: str, cell_num: int) -> list | None:
    import nbformat

    path = folder / f"{notebook}.json"
    if not path.exists():
        return None
    outputs = json.loads(path.read_text()).get(str(cell_num))
    return None if outputs is None else [nbformat.from_dict(o) for o in outputs]


# ---------------------------------------------------------------------------------------------
# The command line, for the Makefile: python -m tests.nbval_portable COMMAND ...

# Another machine, simulated by forcing the kernels that BLAS, MKL, oneDNN and ATen choose.
PROFILES: dict[str, dict[str, str]] = {
    # an AVX2 machine (Haswell to Zen 3), as seen from an AVX-512 one
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "OPENBLAS_CORETYPE": "Haswell",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4,AVX512_ICL,AVX512_SPR",
    },
    # an older x86-64 without AVX2 (SSE4.2 and AVX kernels), as seen from an AVX2 or AVX-512 one
    "generic": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "OPENBLAS_CORETYPE": "Sandybridge",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "NPY_DISABLE_CPU_FEATURES": "X86_V3,X86_V4,AVX512_ICL,AVX512_SPR",
    },
    # the generic kernels with four threads for every library (a laptop with more cores)
    "generic-4-threads": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "AVX",
        "OPENBLAS_CORETYPE": "Nehalem",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "NPY_DISABLE_CPU_FEATURES": "X86_V3,X86_V4,AVX512_ICL,AVX512_SPR",
        "OMP_NUM_THREADS": "4",
        "OPENBLAS_NUM_THREADS": "4",
        "MKL_NUM_THREADS": "4",
    },
}


def native_capability() -> str:
    """ATen's vectorisation level on this machine: 'AVX512', 'AVX2', 'DEFAULT', ..."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def simulated_profile(name: str = "auto") -> str | None:
    """The profile to simulate: 'auto' picks kernels that differ from this machine's own.

    Returns None where these variables cannot simulate another machine (a CPU that is not x86-64).
    """
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    if name == "auto":
        return "avx2" if native_capability().upper().startswith("AVX512") else "generic"
    if name not in PROFILES:
        raise SystemExit(f"MACHINE must be 'auto' or one of {sorted(PROFILES)}, got {name!r}.")
    return name


def kernels() -> str:
    """One line naming the kernels in use: ATen's level, OpenBLAS's core type, NumPy's SIMD level."""
    import numpy as np
    from numpy._core._multiarray_umath import __cpu_features__
    from threadpoolctl import threadpool_info

    blas = [f"{i['internal_api']} {i.get('architecture', '?')} x{i['num_threads']}" for i in threadpool_info()]
    simd = [f for f in ("X86_V4", "X86_V3", "X86_V2", "ASIMD") if __cpu_features__.get(f)]
    return f"ATen {native_capability()}; {'; '.join(blas)}; numpy {np.__version__} SIMD {simd[:1] or ['baseline']}"


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def census(paths: list[Path]) -> tuple[int, dict[str, list[tuple[str, int, str, str]]]]:
    """Count the code cells of ``paths`` and list the cells compared other than exactly.

    Returns:
        (number of code cells, {kind: [(notebook, nbval cell number, reason, source), ...]}).
    """
    total, listed = 0, {kind: [] for kind in KINDS}
    for path in paths:
        cells = _code_cells(path)
        for number, cell in enumerate(cells):
            spec = declaration(cell)
            if spec.compare != "exact":
                listed[spec.compare].append((path.name, number, spec.reason, "".join(cell["source"])))
        total += len(cells)
    return total, listed


def main(argv: list[str]) -> int:
    import os
    import sys

    command, args = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "simulate":  # VAR=value pairs for env(1); nothing where no other machine can be simulated
        name = simulated_profile(args[0] if args else "auto")
        if name is None:
            print(
                "no other machine to simulate on this CPU (not x86-64): the second nbval run is skipped",
                file=sys.stderr,
            )
            return 0
        print(
            f"simulating another machine: profile {name!r} (this one runs ATen {native_capability()})", file=sys.stderr
        )
        print(" ".join(f"{k}={v}" for k, v in PROFILES[name].items()))
    elif command == "kernels":  # with forced variables: fails if the kernels are this machine's own
        forced = {k: os.environ[k] for p in PROFILES.values() for k in p if k in os.environ}
        line = kernels()
        print(f"kernels: {line}; forced: {forced or 'nothing'}")
        if forced and "--differ" in args:
            import subprocess

            native_env = {k: v for k, v in os.environ.items() if k not in forced}
            code = "from tests.nbval_portable import kernels; print(kernels())"
            native = subprocess.run(
                [sys.executable, "-c", code], env=native_env, capture_output=True, text=True, check=True
            )
            if native.stdout.strip() == line:
                print("the forced kernels are this machine's own: nothing would be simulated", file=sys.stderr)
                return 1
    elif command == "varying":  # the notebooks with a tolerance or exempt cell
        paths = [a for a in args if any(census([Path(a)])[1][k] for k in ("tolerance", "exempt"))]
        if not paths:
            print("no notebook has a tolerance or exempt cell", file=sys.stderr)
            return 1
        print(" ".join(paths))
    elif command == "census":
        total, listed = census([Path(a) for a in args])
        for kind, cells in listed.items():
            print(f"{kind}: {len(cells)} of {total} code cells ({100 * len(cells) / total:.1f} %)")
            for name, number, reason, source in cells:
                print(f"  {name} cell {number}: {reason}")
                if kind == "exempt":
                    for line in source.splitlines():
                        if re.match(r"\s*(assert\b|\S*assert_\w+\()", line):
                            print(f"      {line.strip()}")
    else:
        print(
            "usage: python -m tests.nbval_portable simulate [auto|PROFILE] | kernels [--differ] | varying NB... | census NB..."
        )
        return 2
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
