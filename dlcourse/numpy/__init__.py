"""The NumPy reference tree: every forward and backward written by hand.

Mirrors :mod:`dlcourse.torch` module for module and name for name.
"""

from dlcourse.numpy import activations, conv, init, layers, linalg, losses, norm, optim, perceptron, resnet, train

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
