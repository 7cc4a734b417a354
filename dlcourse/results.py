"""Result records shared by the NumPy and PyTorch trees."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PerceptronResult:
    """What :func:`perceptron_train` learned.

    Attributes:
        weight: (D,) the learned weights (array or tensor, as given).
        bias: the learned bias.
        errors: misclassified training points in each epoch; ends in 0 when the data were separated.
    """

    weight: Any
    bias: float
    errors: list[int] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """True if the last epoch made no mistakes."""
        return bool(self.errors) and self.errors[-1] == 0
