"""dlcourse: the companion package of the deep-learning course.

Every concept exists twice, in mirrored trees with the same module and function names:

- :mod:`dlcourse.numpy`, the reference implementation, forward and backward by hand;
- :mod:`dlcourse.torch`, the same in PyTorch, on the GPU when there is one.

Helpers shared by both live at the top level: :func:`get_device`, :func:`seed_everything`,
:func:`show_source`, plotting, widgets and the exercise checkers.
"""

from typing import Any

__all__ = ["get_device", "seed_everything", "show_source"]
__version__ = "0.1.0"

_HOMES = {"get_device": "dlcourse.device", "seed_everything": "dlcourse.seeding", "show_source": "dlcourse.source"}


def __getattr__(name: str) -> Any:
    """Import the helpers and submodules on first use (``dlcourse.get_device``, ``dlcourse.device``),
    so that ``import dlcourse.numpy`` never needs PyTorch."""
    import importlib
    import importlib.util

    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    if not name.startswith("_") and importlib.util.find_spec(f"dlcourse.{name}") is not None:
        return importlib.import_module(f"dlcourse.{name}")
    raise AttributeError(f"module 'dlcourse' has no attribute {name!r}")
