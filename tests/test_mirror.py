"""The NumPy and PyTorch trees mirror each other: same modules, public names and signatures."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import dlcourse.numpy
import dlcourse.torch

MODULES = sorted(m.name for m in pkgutil.iter_modules(dlcourse.numpy.__path__))


def test_same_modules():
    assert MODULES == sorted(m.name for m in pkgutil.iter_modules(dlcourse.torch.__path__))
    assert MODULES, "the NumPy tree is empty"


@pytest.mark.parametrize("module", MODULES)
def test_same_public_names_and_signatures(module):
    np_mod = importlib.import_module(f"dlcourse.numpy.{module}")
    th_mod = importlib.import_module(f"dlcourse.torch.{module}")
    assert np_mod.__all__ == th_mod.__all__
    for name in np_mod.__all__:
        a, b = getattr(np_mod, name), getattr(th_mod, name)
        assert callable(a) and callable(b), name
        if inspect.isfunction(a):
            pa = [(p.name, p.kind, p.default) for p in inspect.signature(a).parameters.values()]
            pb = [(p.name, p.kind, p.default) for p in inspect.signature(b).parameters.values()]
            # Defaults that are functions (activation=sigmoid) differ by tree; compare their names.
            norm = lambda ps: [(n, k, getattr(d, "__name__", d)) for n, k, d in ps]  # noqa: E731
            assert norm(pa) == norm(pb), f"{module}.{name}: {pa} != {pb}"
        assert (a.__doc__ or "").strip(), f"dlcourse.numpy.{module}.{name} has no docstring"
        assert (b.__doc__ or "").strip(), f"dlcourse.torch.{module}.{name} has no docstring"
