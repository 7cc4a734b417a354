"""dlcourse: the companion package of the deep-learning course.

Every concept exists twice, in mirrored trees with the same module and function names:

- :mod:`dlcourse.numpy`, the reference implementation, forward and backward by hand;
- :mod:`dlcourse.torch`, the same in PyTorch, on the GPU when there is one.

Helpers shared by both live at the top level: :func:`get_device`, :func:`seed_everything`,
:func:`show_source`, plotting, widgets and the exercise checkers.
"""

from dlcourse.device import get_device
from dlcourse.seeding import seed_everything
from dlcourse.source import show_source

__all__ = ["get_device", "seed_everything", "show_source"]
__version__ = "0.1.0"
