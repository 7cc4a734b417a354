"""Twins refuse alike: for every bad argument the fuzz test builds, a NumPy function and its torch
twin both accept it or both refuse it, with the same kind of error.

The bad values come from tests/test_fuzz.py (one of each kind, built from each tree's valid value),
so this test covers what the fuzz test covers. Kinds that cannot mean the same in both trees are
left out: a bfloat16 tensor has no NumPy dtype.
"""

from __future__ import annotations

import pytest

from .fuzz_table import ENTRIES
from .test_fuzz import Bad, Chooser, Ctx, applicable_kinds, call

DIFFERENT_BY_NATURE = frozenset({"bfloat16"})

_BY_ID = {e.id: e for e in ENTRIES}
PAIRS = [
    (e, _BY_ID["torch." + e.id.removeprefix("numpy.")])
    for e in ENTRIES
    if e.tree == "numpy" and "torch." + e.id.removeprefix("numpy.") in _BY_ID
]


def _verdict(entry, arg: str, kind) -> tuple[str, str]:
    func, kwargs = entry.make()
    bad = Bad(kind.name, kind.build(kwargs[arg], Ctx(entry.tree, arg), Chooser()), kind.must_reject)
    outcome = call(func, {**kwargs, arg: bad.value}, bad)
    return ("refused", outcome.exc_type) if outcome.exc_type else ("accepted", "")


@pytest.mark.parametrize(
    ("np_entry", "th_entry"), [pytest.param(a, b, id=a.id.removeprefix("numpy.")) for a, b in PAIRS]
)
def test_twins_accept_and_refuse_the_same_arguments(np_entry, th_entry) -> None:
    disagreements = []
    for arg in (a for a in np_entry.perturb if a in th_entry.perturb):  # torch.nn names some arguments "input"
        _, np_probe = np_entry.make()
        _, th_probe = th_entry.make()
        skip = np_entry.skip.get(arg, frozenset()) | th_entry.skip.get(arg, frozenset()) | DIFFERENT_BY_NATURE
        th_kinds = {k.name for k in applicable_kinds(th_probe[arg], skip)}
        for kind in applicable_kinds(np_probe[arg], skip):
            if kind.name not in th_kinds:
                continue
            a, b = _verdict(np_entry, arg, kind), _verdict(th_entry, arg, kind)
            if a != b:
                disagreements.append(f"{arg}={kind.name}: numpy {a[0]} {a[1]}, torch {b[0]} {b[1]}".rstrip())
    assert not disagreements, "\n".join(disagreements)
