"""Portable nbval: stored outputs that validate on any CPU, and say why where they may move.

nbval compares every output of every code cell with the stored one, character for character.
That is right for most cells, and wrong for a few: a number computed by a long float32 training
run depends on the order in which BLAS, MKL and oneDNN add things up, and that order depends on
the CPU. This pytest plugin, loaded next to nbval with ``-p tests.nbval_portable``, keeps exact
comparison as the default and lets a cell declare, in its metadata, what else it needs::

    "metadata": {"portable": {"compare": "tolerance", "atol": 0.002, "reason": "..."}}

``compare`` is one of:

``"tolerance"``
    The text around the numbers is compared exactly (but for the spaces that pad a number to a
    width); each number in the output is compared with
    the stored one within ``atol + rtol * |stored| + last_digit * unit``, where ``unit`` is one
    unit in the last place the stored number was printed with (0.001 for ``0.964``, 1 for
    ``73``, 1e-16 for ``1.8e-15``). ``rtol``, ``atol`` and ``last_digit`` default to 0.
``"timing"``
    The output reports wall-clock time. The text is compared exactly, the numbers not at all.
    The cell must show a timer's result (``perf_counter``, ``median_time``, a ``*_seconds`` or
    ``*_s`` value), and should print nothing but times and what is derived from them.
``"exempt"``
    The output follows a chaotic trajectory (an RL run, the order of misclassified images), so
    its text is not compared; the cell must assert the property the chapter teaches instead
    (an ``assert`` statement or an ``np.testing.assert_*`` call), or this plugin fails it.

Every declaration carries a ``reason`` (a sentence). ``tests/test_portable_nbval.py`` counts them
and fails above the caps given in the README.

Images are never compared, as nbval itself skips ``image/png``: a PNG embedded in HTML (an
explorer's frames, an animation) is replaced by a placeholder on both sides before comparing.

Options:

``--nbval-portable-strict``
    Compare ``tolerance`` cells exactly: the determinism check, two runs on one machine.
``--nbval-portable-record DIR``
    Write the outputs of every compared cell to ``DIR/<notebook>.json``.
``--nbval-portable-reference DIR``
    Compare with the outputs recorded in ``DIR`` instead of the stored ones (implies strict).
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
# A timing cell must name a timer or a variable holding seconds (lm_seconds, ddp_s, seconds[...]).
TIME_NAME = re.compile(r"perf_counter|median_time|\b\w*seconds\b|\b\w+_s\b")

# A number as the course prints them: 73, -0.5, 54,314, 1.8e-15, .5; not the digits inside a
# name such as float32 or conv2d.
NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?"
    r"|(?<![\w.])[-+]?\.\d+(?:[eE][-+]?\d+)?"
)
PNG = re.compile(r"iVBORw0KGgo[A-Za-z0-9+/=]*")  # base64 of a PNG file (its 8-byte signature, then data)
PNG_PLACEHOLDER = "<PNG image: not compared, as nbval skips image/png>"


@dataclass(frozen=True)
class Declaration:
    """What a cell declares about the comparison of its outputs."""

    compare: str = "exact"
    reason: str = ""
    rtol: float = 0.0
    atol: float = 0.0
    last_digit: int = 0


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
    unknown = set(spec) - {"compare", "reason", "rtol", "atol", "last_digit"}
    if unknown:
        raise ValueError(
            f"metadata {KEY!r} has unknown keys {sorted(unknown)}; expected compare, reason, rtol, atol, last_digit."
        )
    kind = spec.get("compare")
    if kind not in KINDS:
        raise ValueError(f"metadata {KEY!r}: compare must be one of {KINDS}, got {kind!r}.")
    reason = spec.get("reason")
    if not isinstance(reason, str) or len(reason.split()) < 4:
        raise ValueError(f"metadata {KEY!r}: reason must be a sentence saying why, got {reason!r}.")
    numbers = {k: spec.get(k, 0) for k in ("rtol", "atol", "last_digit")}
    for name, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise ValueError(f"metadata {KEY!r}: {name} must be a finite number >= 0, got {value!r}.")
    if kind == "tolerance" and not any(numbers.values()):
        raise ValueError(f"metadata {KEY!r}: a tolerance cell must set rtol, atol or last_digit above 0.")
    if kind != "tolerance" and any(numbers.values()):
        raise ValueError(
            f"metadata {KEY!r}: rtol, atol and last_digit belong to compare='tolerance' only, not {kind!r}."
        )
    source = "".join(cell.get("source", ""))
    if kind == "exempt" and not asserts(source):
        raise ValueError(
            "an exempt cell must assert what the chapter teaches (an assert statement or np.testing.assert_*)."
        )
    if kind == "timing" and not TIME_NAME.search(source):
        raise ValueError(
            "a timing cell must print what a timer measured (perf_counter, median_time or a *_seconds / *_s value)."
        )
    return Declaration(kind, reason, float(numbers["rtol"]), float(numbers["atol"]), int(numbers["last_digit"]))


def asserts(source: str) -> bool:
    """True if ``source`` has an ``assert`` statement or calls an ``assert_*`` function."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.startswith("assert_"):
                return True
    return False


def _unit(token: str) -> float:
    """One unit in the last printed place of ``token``: 0.001 for 0.964, 1 for 73, 1e-16 for 1.8e-15."""
    mantissa, _, exponent = token.replace(",", "").lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _skeleton(text: str) -> str:
    """The text with every number replaced by a mark, and the spaces that pad a number dropped:
    a number printed to a width (``{t:9.2f}``) takes more or fewer spaces as it grows."""
    return re.sub(r"[ \t]*\x00[ \t]*", "\x00", NUMBER.sub("\x00", text))


def numbers_match(stored: str, new: str, spec: Declaration) -> bool:
    """True if ``new`` reads as ``stored`` with every number within the declared tolerance.

    The text between the numbers must be identical, but for the spaces that pad a number to a
    width, and so must the count of numbers.
    """
    if stored == new:
        return True
    if _skeleton(stored) != _skeleton(new):
        return False
    a, b = NUMBER.findall(stored), NUMBER.findall(new)
    if spec.compare == "timing":
        return True
    for x, y in zip(a, b, strict=True):
        vx, vy = float(x.replace(",", "")), float(y.replace(",", ""))
        allowed = spec.atol + spec.rtol * abs(vx) + spec.last_digit * _unit(x)
        if not abs(vx - vy) <= allowed * (1 + 1e-9):  # 1e-9: the decimal printing of the bound itself
            return False
    return True


def mask_images(text: Any) -> Any:
    """Replace every base64 PNG inside a string by a placeholder (nbval does not compare images).

    A list of lines, as a notebook file stores a text, is joined first."""
    if isinstance(text, list) and all(isinstance(line, str) for line in text):
        text = "".join(text)
    return PNG.sub(PNG_PLACEHOLDER, text) if isinstance(text, str) else text


def _masked(outputs: list) -> list:
    result = []
    for out in outputs:
        out = copy.deepcopy(out)
        if "text" in out:
            out["text"] = mask_images(out["text"])
        for mime, value in out.get("data", {}).items():
            out["data"][mime] = mask_images(value)
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
            if spec.compare == "exempt":
                return True
            test, ref = _masked(test), _masked(ref)
            strict = option.nbval_portable_strict or option.nbval_portable_reference
            if spec.compare in ("tolerance", "timing") and not (strict and spec.compare == "tolerance"):
                test = align(test, ref, spec, self.sanitize)
            return super().compare_outputs(test, ref, skip_compare)

    return PortableCell


def _record(folder: Path, notebook: str, cell_num: int, outputs: list) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{notebook}.json"
    recorded = json.loads(path.read_text()) if path.exists() else {}
    recorded[str(cell_num)] = _json_safe(outputs)
    path.write_text(json.dumps(recorded, indent=1, sort_keys=True))


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
    },
    # an older x86-64 without AVX2 (SSE4.2 and AVX kernels), as seen from an AVX2 or AVX-512 one
    "generic": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "OPENBLAS_CORETYPE": "Sandybridge",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
    },
    # the generic kernels with four threads for every library (a laptop with more cores)
    "generic-4-threads": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "AVX",
        "OPENBLAS_CORETYPE": "Nehalem",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "OMP_NUM_THREADS": "4",
        "OPENBLAS_NUM_THREADS": "4",
        "MKL_NUM_THREADS": "4",
    },
}


def native_capability() -> str:
    """ATen's vectorisation level on this machine: 'AVX512', 'AVX2', 'DEFAULT', ..."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def simulated_profile(name: str = "auto") -> str:
    """The profile to simulate: 'auto' picks kernels that differ from this machine's own."""
    if name == "auto":
        return "avx2" if native_capability().upper().startswith("AVX512") else "generic"
    if name not in PROFILES:
        raise SystemExit(f"MACHINE must be 'auto' or one of {sorted(PROFILES)}, got {name!r}.")
    return name


def kernels() -> str:
    """One line naming the kernels in use: ATen's level and OpenBLAS's core type."""
    import numpy  # noqa: F401 - loads OpenBLAS, so that threadpoolctl sees it
    from threadpoolctl import threadpool_info

    blas = [f"{i['internal_api']} {i.get('architecture', '?')} x{i['num_threads']}" for i in threadpool_info()]
    return f"ATen {native_capability()}; " + "; ".join(blas)


def census(paths: list[Path]) -> tuple[int, dict[str, list[tuple[str, int, str]]]]:
    """Count the code cells of ``paths`` and list the cells compared other than exactly.

    Returns:
        (number of code cells, {kind: [(notebook, nbval cell number, reason), ...]}).
    """
    total, listed = 0, {kind: [] for kind in KINDS}
    for path in paths:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        for number, cell in enumerate(cells):
            spec = declaration(cell)
            if spec.compare != "exact":
                listed[spec.compare].append((path.name, number, spec.reason))
        total += len(cells)
    return total, listed


def main(argv: list[str]) -> int:
    import os
    import sys

    command, args = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "simulate":  # VAR=value pairs for env(1)
        name = simulated_profile(args[0] if args else "auto")
        print(
            f"simulating another machine: profile {name!r} (this one runs ATen {native_capability()})", file=sys.stderr
        )
        print(" ".join(f"{k}={v}" for k, v in PROFILES[name].items()))
    elif command == "kernels":
        forced = {k: os.environ[k] for p in PROFILES.values() for k in p if k in os.environ}
        print(f"kernels: {kernels()}; forced: {forced or 'nothing'}")
    elif command == "tolerant":  # the notebooks that have a tolerance cell
        print(" ".join(a for a in args if census([Path(a)])[1]["tolerance"]))
    elif command == "census":
        total, listed = census([Path(a) for a in args])
        for kind, cells in listed.items():
            print(f"{kind}: {len(cells)} of {total} code cells ({100 * len(cells) / total:.1f} %)")
            for name, number, reason in cells:
                print(f"  {name} cell {number}: {reason}")
    else:
        print("usage: python -m tests.nbval_portable simulate [auto|PROFILE] | kernels | tolerant NB... | census NB...")
        return 2
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
