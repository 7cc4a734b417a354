"""The PyTorch tree: the same concepts as :mod:`dlcourse.numpy`, with the same names.

Functions take and return ``torch.Tensor`` and run on whatever device their input is on
(see :func:`dlcourse.get_device`). Backward functions are written by hand here too, so that
they can be compared with ``torch.autograd``.
"""

from dlcourse.torch import activations, conv, init, layers, linalg, losses, norm, optim, perceptron, resnet, train

__all__ = [
    "activations",
    "attention",
    "chargpt",
    "charlm",
    "conv",
    "dqn",
    "init",
    "layers",
    "linalg",
    "losses",
    "lstm",
    "norm",
    "optim",
    "perceptron",
    "reinforce",
    "resnet",
    "rnn",
    "train",
    "transformer",
]
