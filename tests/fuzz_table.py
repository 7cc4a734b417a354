"""The table of public functions that tests/test_fuzz.py feeds bad arguments.

Every entry names one public function, class or method, builds a fresh set of VALID keyword
arguments for it (small sizes, so a call takes milliseconds), and lists the arguments the fuzz
test may replace with a bad value, one at a time. ``test_valid_call_succeeds`` checks that the
valid call works, so the table cannot drift from the package; ``test_table_covers_public_api``
checks that every name in the ``__all__`` of the modules below has an entry (or a reason in
``EXCLUDED``).

Arguments that are not perturbed: caches of backward functions (they come from the matching
forward, nobody builds them by hand), and arguments whose valid value is None.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import dlcourse.numpy
import dlcourse.torch
from dlcourse import augment, data, policy_gradient, replay, rl, text, windows
from dlcourse.validation import as_float_array

TREE_MODULES = (
    "activations",
    "layers",
    "losses",
    "conv",
    "rnn",
    "lstm",
    "optim",
    "train",
    "perceptron",
    "linalg",
    "init",
    "charlm",
    "dqn",
    "norm",
    "resnet",
    "attention",
    "transformer",
    "chargpt",
    "reinforce",
)
SHARED_MODULES = (data, text, rl, replay, augment, windows, policy_gradient)


def tree_modules(tree: str) -> list[Any]:
    """The modules of one tree among TREE_MODULES that exist (found with pkgutil)."""
    package = {"numpy": dlcourse.numpy, "torch": dlcourse.torch}[tree]
    present = {m.name for m in pkgutil.iter_modules(package.__path__)}
    return [importlib.import_module(f"dlcourse.{tree}.{m}") for m in TREE_MODULES if m in present]


@dataclass(frozen=True)
class Entry:
    """One public callable: ``make()`` returns a fresh ``(callable, valid kwargs)``.

    Attributes:
        id: "tree.module.name" (methods: "tree.module.Class.method").
        target: the public object the entry covers (the class, for its methods).
        make: builds the callable and its valid keyword arguments, afresh for every call.
        perturb: the arguments that get bad values, one at a time.
        tree: "numpy", "torch" or "shared" (the top-level modules, which take NumPy arrays).
        skip: argument -> bad kinds that are VALID values there (a huge loop count is slow, not wrong).
    """

    id: str
    target: Any
    make: Callable[[], tuple[Callable[..., Any], dict[str, Any]]]
    perturb: tuple[str, ...]
    tree: str
    skip: Mapping[str, frozenset[str]] = field(default_factory=dict)


ENTRIES: list[Entry] = []

# Public names that are not called: with the reason.
EXCLUDED: dict[str, str] = {
    "dlcourse.text.LMTrainer": "a typing.Protocol, which cannot be instantiated",
}

LOOP_COUNT = frozenset({"huge"})  # a huge epoch/step/episode count is valid, only slow


# ---------------------------------------------------------------- valid values


class Gen:
    """Valid arrays of one tree: float64 NumPy arrays, or float32 tensors (torch's default dtype)."""

    def __init__(self, tree: str, seed: int = 0) -> None:
        self.tree = tree
        self.rng = np.random.default_rng(seed)

    def arr(self, a: Any) -> Any:
        a = np.asarray(a)
        if self.tree != "torch":
            return a.copy()
        if a.dtype.kind == "f":
            a = a.astype(np.float32)
        return torch.from_numpy(a.copy())

    def randn(self, *shape: int) -> Any:
        return self.arr(self.rng.standard_normal(shape))

    def ints(self, high: int, *shape: int) -> Any:
        return self.arr(self.rng.integers(0, high, shape).astype(np.int64))

    def zeros(self, *shape: int) -> Any:
        return self.arr(np.zeros(shape))


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _mod(tree: str, name: str) -> Any:
    return importlib.import_module(f"dlcourse.{tree}.{name}")


def _name(obj: Any) -> str:
    module = obj.__module__.removeprefix("dlcourse.")
    return f"{module}.{obj.__qualname__}"


def add_function(
    tree: str,
    func: Callable[..., Any],
    kwargs: Callable[[], dict[str, Any]],
    perturb: tuple[str, ...] | str = (),
    skip: Mapping[str, frozenset[str]] | None = None,
    id: str | None = None,
) -> None:
    """A function or a constructor, called as ``func(**kwargs())``."""
    perturb = tuple(perturb.split()) if isinstance(perturb, str) else perturb
    ENTRIES.append(Entry(id or _name(func), func, lambda: (func, kwargs()), perturb, tree, dict(skip or {})))


def add_method(
    tree: str,
    cls: type,
    method: str,
    make: Callable[[], tuple[Any, dict[str, Any]]],
    perturb: tuple[str, ...] | str = (),
    skip: Mapping[str, frozenset[str]] | None = None,
) -> None:
    """A method: ``make()`` returns the instance and the method's valid kwargs."""
    perturb = tuple(perturb.split()) if isinstance(perturb, str) else perturb

    def build() -> tuple[Callable[..., Any], dict[str, Any]]:
        obj, kwargs = make()
        return getattr(obj, method), kwargs

    ENTRIES.append(Entry(f"{_name(cls)}.{method}", cls, build, perturb, tree, dict(skip or {})))


def construct_then_step(cls: type) -> Callable[..., Any]:
    """An optimiser's constructor followed by one ``step()``: a bad hyperparameter that the
    constructor lets through must not crash the step either."""

    def call(**kwargs: Any) -> Any:
        optimizer = cls(**kwargs)
        optimizer.step()
        return optimizer

    call.__module__, call.__qualname__ = cls.__module__, f"{cls.__qualname__}(...).step"
    return call


# ---------------------------------------------------------------- both trees


def _tree_entries(tree: str) -> None:
    A, Lm, Lo, C = (_mod(tree, m) for m in ("activations", "layers", "losses", "conv"))
    R, S, Op, T = (_mod(tree, m) for m in ("rnn", "lstm", "optim", "train"))
    P, Li, In, CL, D = (_mod(tree, m) for m in ("perceptron", "linalg", "init", "charlm", "dqn"))
    is_np = tree == "numpy"

    def g() -> Gen:
        return Gen(tree)

    # activations
    for name in ("sigmoid", "tanh", "relu", "step", "sigmoid_forward", "tanh_forward", "relu_forward"):
        add_function(tree, getattr(A, name), lambda: {"x": g().randn(3, 4)}, "x")
    for name in ("sigmoid", "tanh", "relu"):
        forward, backward = getattr(A, f"{name}_forward"), getattr(A, f"{name}_backward")

        def bwd(forward=forward) -> dict[str, Any]:
            gen = g()
            _, cache = forward(gen.randn(3, 4))
            return {"dout": gen.randn(3, 4), "cache": cache}

        add_function(tree, backward, bwd, "dout")

    # layers
    add_function(
        tree,
        Lm.linear_forward,
        lambda: {"x": g().randn(4, 3), "weight": g().randn(3, 2), "bias": g().randn(2)},
        "x weight bias",
    )

    def linear_bwd() -> dict[str, Any]:
        gen = g()
        _, cache = Lm.linear_forward(gen.randn(4, 3), gen.randn(3, 2), gen.randn(2))
        return {"dout": gen.randn(4, 2), "cache": cache, "input_grad": True}

    add_function(tree, Lm.linear_backward, linear_bwd, "dout input_grad")
    add_function(
        tree,
        Lm.Linear,
        lambda: {"in_features": 3, "out_features": 2, "rng": rng(), "init": "he"},
        "in_features out_features rng init",
    )
    add_function(tree, Lm.Dropout, lambda: {"p": 0.5, "rng": rng()}, "p rng")
    add_function(tree, Lm.Module, dict, id=f"{tree}.layers.Module")  # torch: torch.nn.Module
    add_function(tree, Lm.Parameter, lambda: {"data": g().randn(3, 2)}, "data", id=f"{tree}.layers.Parameter")
    for cls in (Lm.ReLU, Lm.Sigmoid, Lm.Tanh):
        add_function(tree, cls, dict)
        add_method(tree, cls, "forward", lambda cls=cls: (cls(), {"x": g().randn(3, 4)}), "x")
    add_method(tree, Lm.Linear, "forward", lambda: (Lm.Linear(3, 2, rng()), {"x": g().randn(4, 3)}), "x")
    add_method(tree, Lm.Dropout, "forward", lambda: (Lm.Dropout(0.5, rng()), {"x": g().randn(4, 3)}), "x")

    def two_layers(layer0: Any, layer1: Any) -> Any:
        return Lm.Sequential(layer0, layer1)  # Sequential(*layers): each layer is an argument

    ENTRIES.append(
        Entry(
            f"{tree}.layers.Sequential",
            Lm.Sequential,
            lambda: (two_layers, {"layer0": Lm.Linear(3, 2, rng()), "layer1": Lm.ReLU()}),
            ("layer0", "layer1"),
            tree,
        )
    )
    x_name = "x" if is_np else "input"  # torch.nn.Sequential.forward(input)
    add_method(
        tree,
        Lm.Sequential,
        "forward",
        lambda: (Lm.Sequential(Lm.Linear(3, 2, rng()), Lm.ReLU()), {x_name: g().randn(4, 3)}),
        x_name,
    )
    if is_np:

        def after_forward(layer: Any, x: Any) -> Any:
            layer.forward(x)
            return layer

        for cls in (Lm.ReLU, Lm.Sigmoid, Lm.Tanh):
            add_method(
                tree,
                cls,
                "backward",
                lambda cls=cls: (after_forward(cls(), g().randn(3, 4)), {"dout": g().randn(3, 4)}),
                "dout",
            )
        add_method(
            tree,
            Lm.Linear,
            "backward",
            lambda: (after_forward(Lm.Linear(3, 2, rng()), g().randn(4, 3)), {"dout": g().randn(4, 2)}),
            "dout",
        )
        add_method(
            tree,
            Lm.Dropout,
            "backward",
            lambda: (after_forward(Lm.Dropout(0.5, rng()), g().randn(4, 3)), {"dout": g().randn(4, 3)}),
            "dout",
        )
        add_method(
            tree,
            Lm.Sequential,
            "backward",
            lambda: (
                after_forward(Lm.Sequential(Lm.Linear(3, 2, rng()), Lm.ReLU()), g().randn(4, 3)),
                {"dout": g().randn(4, 2)},
            ),
            "dout",
        )
        add_method(
            tree,
            Lm.Module,
            "load_state_dict",
            lambda: (Lm.Linear(3, 2, rng()), {"state": Lm.Linear(3, 2, np.random.default_rng(1)).state_dict()}),
            "state",
        )

    # losses
    add_function(tree, Lo.one_hot, lambda: {"labels": g().ints(3, 5), "num_classes": 3}, "labels num_classes")
    for name in ("mse", "mse_forward"):
        add_function(
            tree, getattr(Lo, name), lambda: {"pred": g().randn(4, 3), "target": g().randn(4, 3)}, "pred target"
        )

    def mse_bwd() -> dict[str, Any]:
        _, cache = Lo.mse_forward(g().randn(4, 3), g().randn(4, 3))
        return {"dout": 1.0, "cache": cache}

    add_function(tree, Lo.mse_backward, mse_bwd, "dout")
    for name in ("softmax", "log_softmax", "softmax_forward"):
        add_function(tree, getattr(Lo, name), lambda: {"logits": g().randn(4, 3)}, "logits")

    def softmax_bwd() -> dict[str, Any]:
        _, cache = Lo.softmax_forward(g().randn(4, 3))
        return {"dout": g().randn(4, 3), "cache": cache}

    add_function(tree, Lo.softmax_backward, softmax_bwd, "dout")
    for name in ("cross_entropy", "cross_entropy_forward"):
        add_function(
            tree, getattr(Lo, name), lambda: {"logits": g().randn(4, 3), "target": g().ints(3, 4)}, "logits target"
        )

    def ce_bwd() -> dict[str, Any]:
        _, cache = Lo.cross_entropy_forward(g().randn(4, 3), g().ints(3, 4))
        return {"dout": 1.0, "cache": cache}

    add_function(tree, Lo.cross_entropy_backward, ce_bwd, "dout")
    add_function(
        tree,
        Lo.categorical_cross_entropy,
        lambda: {"probs": Lo.softmax(g().randn(4, 3)), "target": Lo.one_hot(g().ints(3, 4), 3)},
        "probs target",
    )

    # conv
    def conv_args() -> dict[str, Any]:
        gen = g()
        return {
            "x": gen.randn(2, 2, 4, 4),
            "weight": gen.randn(3, 2, 3, 3),
            "bias": gen.randn(3),
            "stride": 1,
            "padding": 1,
        }

    for fwd, bwd, grad_flag in (
        (C.conv2d_forward, C.conv2d_backward, True),
        (C.conv2d_naive_forward, C.conv2d_naive_backward, False),
    ):
        add_function(tree, fwd, conv_args, "x weight bias stride padding")

        def conv_bwd(fwd=fwd, grad_flag=grad_flag) -> dict[str, Any]:
            out, cache = fwd(**conv_args())
            kwargs = {"dout": g().randn(*out.shape), "cache": cache}
            return kwargs | ({"input_grad": True} if grad_flag else {})

        add_function(tree, bwd, conv_bwd, "dout input_grad" if grad_flag else "dout")
    if is_np:  # the torch tree re-exports the NumPy function
        add_function(
            tree,
            C.conv2d_output_size,
            lambda: {"size": 6, "kernel": 3, "stride": 1, "padding": 0},
            "size kernel stride padding",
        )
    for fwd, bwd in ((C.maxpool2d_forward, C.maxpool2d_backward), (C.avgpool2d_forward, C.avgpool2d_backward)):
        add_function(tree, fwd, lambda: {"x": g().randn(2, 3, 4, 4), "kernel": 2, "stride": 2}, "x kernel stride")

        def pool_bwd(fwd=fwd) -> dict[str, Any]:
            _, cache = fwd(g().randn(2, 3, 4, 4), 2, 2)
            return {"dout": g().randn(2, 3, 2, 2), "cache": cache}

        add_function(tree, bwd, pool_bwd, "dout")
    add_function(
        tree,
        C.Conv2d,
        lambda: {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "rng": rng(), "stride": 1, "padding": 1},
        "in_channels out_channels kernel_size rng stride padding",
    )
    add_method(
        tree, C.Conv2d, "forward", lambda: (C.Conv2d(2, 3, 3, rng(), padding=1), {"x": g().randn(2, 2, 4, 4)}), "x"
    )
    for cls in (C.MaxPool2d, C.AvgPool2d):
        add_function(tree, cls, lambda: {"kernel_size": 2, "stride": 2}, "kernel_size stride")
        add_method(tree, cls, "forward", lambda cls=cls: (cls(2), {"x": g().randn(2, 3, 4, 4)}), "x")
    add_function(tree, C.Flatten, dict)
    add_method(tree, C.Flatten, "forward", lambda: (C.Flatten(), {"x": g().randn(2, 3, 2, 2)}), "x")
    if is_np:

        def forwarded(layer: Any, x: Any) -> Any:
            layer.forward(x)
            return layer

        add_method(
            tree,
            C.Conv2d,
            "backward",
            lambda: (
                forwarded(C.Conv2d(2, 3, 3, rng(), padding=1), g().randn(2, 2, 4, 4)),
                {"dout": g().randn(2, 3, 4, 4)},
            ),
            "dout",
        )
        for cls in (C.MaxPool2d, C.AvgPool2d):
            add_method(
                tree,
                cls,
                "backward",
                lambda cls=cls: (forwarded(cls(2), g().randn(2, 3, 4, 4)), {"dout": g().randn(2, 3, 2, 2)}),
                "dout",
            )
        add_method(
            tree,
            C.Flatten,
            "backward",
            lambda: (forwarded(C.Flatten(), g().randn(2, 3, 2, 2)), {"dout": g().randn(2, 12)}),
            "dout",
        )
    add_function(
        tree,
        C.lenet,
        lambda: {
            "rng": rng(),
            "channels": (2,),
            "kernel_size": 3,
            "hidden": 4,
            "dropout": 0.0,
            "in_channels": 1,
            "image_size": 8,
            "n_classes": 3,
        },
        "rng channels kernel_size hidden dropout in_channels image_size n_classes",
    )

    # rnn and lstm: x (T=5, N=3, D=2), H=4
    def cell(gates: int, step: bool, with_c: bool) -> dict[str, Any]:
        gen = g()
        kwargs = {"x": gen.randn(3, 2) if step else gen.randn(5, 3, 2)}
        kwargs["h_prev" if step else "h0"] = gen.randn(3, 4)
        if with_c:
            kwargs["c_prev" if step else "c0"] = gen.randn(3, 4)
        rows = gates * 4
        return kwargs | {
            "weight_ih": gen.randn(rows, 2),
            "weight_hh": gen.randn(rows, 4),
            "bias_ih": gen.randn(rows),
            "bias_hh": gen.randn(rows),
        }

    weights = "weight_ih weight_hh bias_ih bias_hh"
    add_function(tree, R.rnn_step_forward, lambda: cell(1, True, False), f"x h_prev {weights}")
    add_function(tree, R.rnn_forward, lambda: cell(1, False, False), f"x h0 {weights}")
    add_function(tree, S.lstm_step_forward, lambda: cell(4, True, True), f"x h_prev c_prev {weights}")
    add_function(tree, S.lstm_forward, lambda: cell(4, False, True), f"x h0 c0 {weights}")

    def rnn_step_bwd() -> dict[str, Any]:
        _, cache = R.rnn_step_forward(**cell(1, True, False))
        return {"dh": g().randn(3, 4), "cache": cache}

    def rnn_bwd() -> dict[str, Any]:
        _, cache = R.rnn_forward(**cell(1, False, False))
        return {"dhs": g().randn(5, 3, 4), "cache": cache}

    def lstm_step_bwd() -> dict[str, Any]:
        _, _, cache = S.lstm_step_forward(**cell(4, True, True))
        return {"dh": g().randn(3, 4), "dc": g().randn(3, 4), "cache": cache}

    def lstm_bwd() -> dict[str, Any]:
        _, _, cache = S.lstm_forward(**cell(4, False, True))
        return {"dhs": g().randn(5, 3, 4), "cache": cache}

    add_function(tree, R.rnn_step_backward, rnn_step_bwd, "dh")
    add_function(tree, R.rnn_backward, rnn_bwd, "dhs")
    add_function(tree, S.lstm_step_backward, lstm_step_bwd, "dh dc")
    add_function(tree, S.lstm_backward, lstm_bwd, "dhs")
    for cls in (R.Recurrent, R.RNN, S.LSTM):
        add_function(tree, cls, lambda: {"input_size": 2, "hidden_size": 4, "rng": rng()}, "input_size hidden_size rng")
    add_method(
        tree, R.RNN, "forward", lambda: (R.RNN(2, 4, rng()), {"x": g().randn(5, 3, 2), "h0": g().randn(3, 4)}), "x h0"
    )
    add_method(
        tree,
        S.LSTM,
        "forward",
        lambda: (S.LSTM(2, 4, rng()), {"x": g().randn(5, 3, 2), "state": (g().randn(3, 4), g().randn(3, 4))}),
        "x state",
    )
    if is_np:

        def run(layer: Any) -> Any:
            layer.forward(g().randn(5, 3, 2))
            return layer

        for cls in (R.RNN, S.LSTM):
            add_method(
                tree, cls, "backward", lambda cls=cls: (run(cls(2, 4, rng())), {"dout": g().randn(5, 3, 4)}), "dout"
            )

    # optim
    def params() -> list[Any]:
        gen = g()
        out = []
        for shape in ((3,), (2, 2)):
            p = Lm.Parameter(gen.randn(*shape))
            p.grad = gen.randn(*shape)
            out.append(p)
        return out

    add_function(
        tree, Op.Optimizer, lambda: {"params": params(), "lr": 0.1, "weight_decay": 0.0}, "params lr weight_decay"
    )
    ENTRIES.append(
        Entry(
            f"{_name(Op.SGD)}+step",
            Op.SGD,
            lambda: (construct_then_step(Op.SGD), {"params": params(), "lr": 0.1, "weight_decay": 0.01}),
            ("params", "lr", "weight_decay"),
            tree,
        )
    )
    ENTRIES.append(
        Entry(
            f"{_name(Op.Momentum)}+step",
            Op.Momentum,
            lambda: (
                construct_then_step(Op.Momentum),
                {"params": params(), "lr": 0.1, "momentum": 0.9, "weight_decay": 0.01},
            ),
            ("params", "lr", "momentum", "weight_decay"),
            tree,
        )
    )
    ENTRIES.append(
        Entry(
            f"{_name(Op.Adam)}+step",
            Op.Adam,
            lambda: (
                construct_then_step(Op.Adam),
                {"params": params(), "lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01},
            ),
            ("params", "lr", "betas", "eps", "weight_decay"),
            tree,
        )
    )
    add_function(tree, Op.clip_grad_norm, lambda: {"params": params(), "max_norm": 1.0}, "params max_norm")

    # train
    def mlp() -> Any:
        return Lm.Sequential(Lm.Linear(3, 4, rng()), Lm.ReLU(), Lm.Linear(4, 2, rng()))

    add_function(tree, T.predict, lambda: {"model": mlp(), "x": g().randn(5, 3), "batch_size": 2}, "model x batch_size")
    add_function(tree, T.accuracy, lambda: {"model": mlp(), "x": g().randn(5, 3), "y": g().ints(2, 5)}, "model x y")

    def fit_args() -> dict[str, Any]:
        model, gen = mlp(), g()
        return {
            "model": model,
            "optimizer": Op.SGD(list(model.parameters()), lr=0.1),
            "x": gen.randn(6, 3),
            "y": gen.ints(2, 6),
            "epochs": 2,
            "batch_size": 3,
            "rng": rng(),
            "x_val": gen.randn(4, 3),
            "y_val": gen.ints(2, 4),
            "progress": False,
        }

    add_function(
        tree,
        T.fit,
        fit_args,
        "model optimizer x y epochs batch_size rng x_val y_val progress",
        skip={"epochs": LOOP_COUNT},
    )
    if is_np:  # dlcourse.results.History, re-exported by both trees
        add_function(tree, T.History, dict)

    # perceptron
    sigmoid = A.sigmoid
    add_function(
        tree,
        P.neuron,
        lambda: {"x": g().randn(4, 3), "weight": g().randn(3), "bias": 0.5, "activation": sigmoid},
        "x weight bias activation",
    )
    add_function(
        tree, P.perceptron_predict, lambda: {"x": g().randn(4, 3), "weight": g().randn(3), "bias": 0.5}, "x weight bias"
    )
    add_function(
        tree,
        P.perceptron_update,
        lambda: {"weight": g().randn(3), "bias": 0.5, "x": g().randn(3), "y": 1.0, "lr": 1.0},
        "weight bias x y lr",
    )

    def blobs() -> dict[str, Any]:
        x, y = data.two_blobs(n=4, seed=0)
        return {"x": Gen(tree).arr(x), "y": Gen(tree).arr(y), "lr": 1.0, "epochs": 5, "seed": 0}

    add_function(tree, P.perceptron_train, blobs, "x y lr epochs seed", skip={"epochs": LOOP_COUNT})
    if is_np:  # dlcourse.results.PerceptronResult, re-exported by both trees
        add_function(tree, P.PerceptronResult, lambda: {"weight": g().randn(2), "bias": 0.0})

    # linalg
    for func in (Li.matmul, Li.matmul_naive):
        add_function(tree, func, lambda: {"a": g().randn(3, 4), "b": g().randn(4, 2)}, "a b")
    if is_np:  # the torch tree re-exports it
        add_function(tree, Li.matmul_flops, lambda: {"n": 3, "k": 4, "m": 2}, "n k m")

    # init
    for func in (In.zeros, In.xavier_uniform, In.he_normal):
        add_function(tree, func, lambda: {"fan_in": 3, "fan_out": 2, "rng": rng()}, "fan_in fan_out rng")
    add_function(
        tree,
        In.he_kernels,
        lambda: {"in_channels": 2, "out_channels": 3, "kh": 3, "kw": 3, "rng": rng()},
        "in_channels out_channels kh kw rng",
    )
    add_function(tree, In.uniform, lambda: {"rng": rng(), "bound": 0.5, "shape": (3, 2)}, "rng bound shape")

    # charlm: V=5, H=4, E=3
    def char_lm() -> Any:
        return CL.CharLM(5, 4, rng(), embedding_dim=3)

    add_function(
        tree,
        CL.CharLM,
        lambda: {"vocab_size": 5, "hidden_size": 4, "rng": rng(), "embedding_dim": 3, "num_layers": 1, "dropout": 0.1},
        "vocab_size hidden_size rng embedding_dim num_layers dropout",
        skip={"num_layers": LOOP_COUNT},
    )

    def lm_forward() -> tuple[Any, dict[str, Any]]:
        model = char_lm()
        ids = g().ints(5, 6, 2)
        _, state = model(ids)
        return model, {"ids": ids, "state": state}

    add_method(tree, CL.CharLM, "forward", lm_forward, "ids state")
    np_ids = Gen("numpy")
    add_function(
        tree,
        CL.evaluate_char_lm,
        lambda: {"model": char_lm(), "ids": np_ids.ints(5, 30), "batch_size": 2, "seq_len": 5},
        "model ids batch_size seq_len",
    )
    add_function(
        tree,
        CL.generate,
        lambda: {"model": char_lm(), "prompt_ids": np_ids.ints(5, 3), "length": 4, "temperature": 0.8, "rng": rng()},
        "model prompt_ids length temperature rng",
    )
    add_function(
        tree,
        CL.train_char_lm,
        lambda: {
            "model": char_lm(),
            "train_ids": np_ids.ints(5, 60),
            "steps": 2,
            "budget_s": 0.2,
            "batch_size": 2,
            "seq_len": 4,
            "lr": 0.01,
            "clip": 1.0,
            "val_ids": np_ids.ints(5, 20),
            "eval_every": 1,
            "log_every": 1,
            "seed": 0,
            "progress": False,
        },
        "model train_ids steps budget_s batch_size seq_len lr clip val_ids eval_every log_every seed progress",
        skip={"steps": LOOP_COUNT},
    )

    # dqn: D=4, A=2
    config = rl.DQNConfig(hidden=(8,), batch_size=4, buffer_size=32, learning_starts=8, train_every=8, gradient_steps=2)
    add_function(
        tree,
        D.q_network,
        lambda: {"obs_dim": 4, "n_actions": 2, "hidden": (8,), "rng": rng()},
        "obs_dim n_actions hidden rng",
    )
    add_function(
        tree,
        D.td_target,
        lambda: {
            "rewards": g().randn(5),
            "next_q": g().randn(5, 2),
            "terminated": g().arr([0.0, 1.0, 0.0, 0.0, 1.0]),
            "gamma": 0.9,
            "next_q_online": g().randn(5, 2),
        },
        "rewards next_q terminated gamma next_q_online",
    )
    add_function(
        tree,
        D.q_loss_forward,
        lambda: {"q_values": g().randn(5, 2), "actions": g().ints(2, 5), "targets": g().randn(5), "kind": "huber"},
        "q_values actions targets kind",
    )

    def q_loss_bwd() -> dict[str, Any]:
        _, cache = D.q_loss_forward(g().randn(5, 2), g().ints(2, 5), g().randn(5), "huber")
        return {"dout": 1.0, "cache": cache}

    add_function(tree, D.q_loss_backward, q_loss_bwd, "dout")
    add_function(
        tree,
        D.DQNAgent,
        lambda: {"obs_dim": 4, "n_actions": 2, "rng": rng(), "config": config, "device": "cpu"},
        "obs_dim n_actions rng config device",
    )

    def agent() -> Any:
        return D.DQNAgent(4, 2, rng(), config, device="cpu")

    def batch() -> rl.Batch:
        buffer = replay.ReplayBuffer(16, 4, rng())
        gen = np.random.default_rng(3)
        for k in range(8):
            obs = gen.standard_normal(4).astype(np.float32)
            buffer.add(obs, k % 2, 1.0, obs + 0.1, k == 7)
        return buffer.sample(4)

    obs = Gen("numpy").rng.standard_normal(4).astype(np.float32)
    add_method(tree, D.DQNAgent, "q_values", lambda: (agent(), {"obs": obs.copy()}), "obs")
    add_method(tree, D.DQNAgent, "greedy", lambda: (agent(), {"obs": obs.copy()}), "obs")
    add_method(tree, D.DQNAgent, "act", lambda: (agent(), {"obs": obs.copy(), "epsilon": 0.1}), "obs epsilon")
    add_method(tree, D.DQNAgent, "update", lambda: (agent(), {"batch": batch()}), "batch")
    add_method(tree, D.DQNAgent, "load_state_dict", lambda: (agent(), {"state": agent().state_dict()}), "state")

    # norm
    Nm = _mod(tree, "norm")

    def bn_args() -> dict[str, Any]:
        gen = g()
        return {
            "x": gen.randn(4, 3, 2, 2),
            "weight": gen.randn(3),
            "bias": gen.randn(3),
            "running_mean": gen.zeros(3),
            "running_var": gen.arr(np.ones(3)),
            "training": True,
            "momentum": 0.1,
            "eps": 1e-5,
        }

    add_function(tree, Nm.batchnorm_forward, bn_args, "x weight bias running_mean running_var training momentum eps")

    def bn_bwd() -> dict[str, Any]:
        out, cache = Nm.batchnorm_forward(**bn_args())
        return {"dout": g().randn(*out.shape), "cache": cache}

    add_function(tree, Nm.batchnorm_backward, bn_bwd, "dout")

    def ln_args() -> dict[str, Any]:
        gen = g()
        return {"x": gen.randn(4, 3), "weight": gen.randn(3), "bias": gen.randn(3), "eps": 1e-5}

    add_function(tree, Nm.layernorm_forward, ln_args, "x weight bias eps")

    def ln_bwd() -> dict[str, Any]:
        out, cache = Nm.layernorm_forward(**ln_args())
        return {"dout": g().randn(*out.shape), "cache": cache}

    add_function(tree, Nm.layernorm_backward, ln_bwd, "dout")
    for cls, shape in ((Nm.BatchNorm1d, (4, 3)), (Nm.BatchNorm2d, (4, 3, 2, 2))):
        add_function(tree, cls, lambda: {"num_features": 3, "eps": 1e-5, "momentum": 0.1}, "num_features eps momentum")
        add_method(tree, cls, "forward", lambda cls=cls, shape=shape: (cls(3), {"x": g().randn(*shape)}), "x")
    add_function(tree, Nm.LayerNorm, lambda: {"normalized_shape": 3, "eps": 1e-5}, "normalized_shape eps")
    add_method(tree, Nm.LayerNorm, "forward", lambda: (Nm.LayerNorm(3), {"x": g().randn(4, 3)}), "x")
    if is_np:

        def norm_forwarded(layer: Any, x: Any) -> Any:
            layer.forward(x)
            return layer

        for cls, shape in ((Nm.BatchNorm1d, (4, 3)), (Nm.BatchNorm2d, (4, 3, 2, 2)), (Nm.LayerNorm, (4, 3))):
            add_method(
                tree,
                cls,
                "backward",
                lambda cls=cls, shape=shape: (norm_forwarded(cls(3), g().randn(*shape)), {"dout": g().randn(*shape)}),
                "dout",
            )

    # resnet
    Rn = _mod(tree, "resnet")
    for cls in (Rn.BasicBlock, Rn.PlainBlock):
        add_function(
            tree,
            cls,
            lambda: {"in_channels": 2, "out_channels": 3, "rng": rng(), "stride": 2},
            "in_channels out_channels rng stride",
        )
        add_method(tree, cls, "forward", lambda cls=cls: (cls(2, 3, rng(), 2), {"x": g().randn(2, 2, 4, 4)}), "x")
    add_function(tree, Rn.GlobalAvgPool2d, dict)
    add_method(tree, Rn.GlobalAvgPool2d, "forward", lambda: (Rn.GlobalAvgPool2d(), {"x": g().randn(2, 3, 2, 2)}), "x")
    add_function(
        tree,
        Rn.resnet,
        lambda: {
            "rng": rng(),
            "channels": (2, 3),
            "blocks_per_stage": 1,
            "residual": True,
            "in_channels": 1,
            "n_classes": 3,
        },
        "rng channels blocks_per_stage residual in_channels n_classes",
    )
    if is_np:
        for cls in (Rn.BasicBlock, Rn.PlainBlock):
            add_method(
                tree,
                cls,
                "backward",
                lambda cls=cls: (
                    forwarded(cls(2, 3, rng(), 2), g().randn(2, 2, 4, 4)),
                    {"dout": g().randn(2, 3, 2, 2)},
                ),
                "dout",
            )
        add_method(
            tree,
            Rn.GlobalAvgPool2d,
            "backward",
            lambda: (forwarded(Rn.GlobalAvgPool2d(), g().randn(2, 3, 2, 2)), {"dout": g().randn(2, 3)}),
            "dout",
        )


# ---------------------------------------------------------------- the top-level modules (NumPy in, NumPy out)


def _shared_entries() -> None:
    tree = "shared"
    gen = Gen("numpy")

    # data
    add_function(
        tree, data.two_blobs, lambda: {"n": 5, "seed": 0, "gap": 1.0, "center": (0.5, -0.5)}, "n seed gap center"
    )
    add_function(tree, data.xor, dict)
    add_function(
        tree,
        data.load_digits,
        lambda: {"seed": 0, "val_fraction": 0.15, "test_fraction": 0.2},
        "seed val_fraction test_fraction",
    )
    add_function(tree, data.load_mnist, lambda: {"seed": 0, "n_test": 100, "n_val": 100}, "seed n_test n_val")
    add_function(tree, data.load_moby_dick, dict)

    # augment
    add_function(
        tree,
        augment.random_crop,
        lambda: {"x": gen.randn(2, 1, 5, 5), "rng": rng(), "size": 3, "padding": 1, "fill": 0.0},
        "x rng size padding fill",
    )
    add_function(
        tree,
        augment.random_shift,
        lambda: {"x": gen.randn(2, 1, 5, 5), "rng": rng(), "max_shift": 1, "fill": 0.0},
        "x rng max_shift fill",
    )

    # text
    add_function(tree, text.Vocabulary, lambda: {"chars": "abc"}, "chars")
    add_method(tree, text.Vocabulary, "from_text", lambda: (text.Vocabulary, {"text": "hello world"}), "text")
    add_method(
        tree, text.Vocabulary, "encode", lambda: (text.Vocabulary.from_text("hello world"), {"text": "hello"}), "text"
    )
    add_method(
        tree,
        text.Vocabulary,
        "decode",
        lambda: (text.Vocabulary.from_text("hello world"), {"ids": gen.ints(8, 5)}),
        "ids",
    )
    add_function(tree, text.split, lambda: {"ids": gen.ints(5, 20), "val_fraction": 0.1}, "ids val_fraction")
    add_function(
        tree,
        text.split_three,
        lambda: {"ids": gen.ints(5, 40), "val_fraction": 0.1, "test_fraction": 0.1},
        "ids val_fraction test_fraction",
    )
    add_function(tree, text.stream_batches, lambda: {"ids": gen.ints(5, 20), "batch_size": 3}, "ids batch_size")
    add_function(tree, text.chunks, lambda: {"streams": gen.ints(5, 6, 3), "seq_len": 2}, "streams seq_len")
    add_function(tree, text.evaluation_streams, lambda: {"ids": gen.ints(5, 20), "batch_size": 3}, "ids batch_size")
    add_function(
        tree, text.softmax_with_temperature, lambda: {"logits": gen.randn(5), "temperature": 0.7}, "logits temperature"
    )
    add_function(
        tree,
        text.sample_from_logits,
        lambda: {"logits": gen.randn(5), "temperature": 0.7, "rng": rng()},
        "logits temperature rng",
    )
    add_function(tree, text.cosine_lr, lambda: {"lr": 0.01, "fraction": 0.3}, "lr fraction")

    def lm_trainer() -> Any:
        from dlcourse.numpy import charlm

        return charlm._Trainer(charlm.CharLM(5, 4, rng(), embedding_dim=3), 0.01, 1.0)

    add_function(
        tree,
        text.train_language_model,
        lambda: {
            "trainer": lm_trainer(),
            "train_ids": gen.ints(5, 60),
            "steps": 2,
            "budget_s": 0.2,
            "batch_size": 2,
            "seq_len": 4,
            "lr": 0.01,
            "val_ids": gen.ints(5, 20),
            "eval_every": 1,
            "log_every": 1,
            "seed": 0,
            "progress": False,
        },
        "trainer train_ids steps budget_s batch_size seq_len lr val_ids eval_every log_every seed progress",
        skip={"steps": LOOP_COUNT},
    )
    from dlcourse.results import LMHistory

    add_function(tree, LMHistory, dict)

    # replay
    add_function(tree, replay.ReplayBuffer, lambda: {"capacity": 8, "obs_dim": 4, "rng": rng()}, "capacity obs_dim rng")

    def filled() -> replay.ReplayBuffer:
        buffer = replay.ReplayBuffer(8, 4, rng())
        for k in range(5):
            buffer.add(np.full(4, k, np.float32), k % 2, 1.0, np.full(4, k + 1, np.float32), False)
        return buffer

    add_method(
        tree,
        replay.ReplayBuffer,
        "add",
        lambda: (
            replay.ReplayBuffer(8, 4, rng()),
            {
                "obs": gen.randn(4).astype(np.float32),
                "action": 1,
                "reward": 0.5,
                "next_obs": gen.randn(4).astype(np.float32),
                "terminated": False,
            },
        ),
        "obs action reward next_obs terminated",
    )
    add_method(tree, replay.ReplayBuffer, "sample", lambda: (filled(), {"batch_size": 3}), "batch_size")
    add_method(tree, replay.ReplayBuffer, "states", lambda: (filled(), {}))
    add_function(
        tree,
        replay.Batch,
        lambda: {
            "obs": gen.randn(2, 4),
            "actions": gen.ints(2, 2),
            "rewards": gen.randn(2),
            "next_obs": gen.randn(2, 4),
            "terminated": gen.zeros(2),
        },
    )

    # rl
    add_function(tree, rl.discounted_return, lambda: {"rewards": [1.0, 0.0, 2.0], "gamma": 0.9}, "rewards gamma")
    add_function(
        tree,
        rl.epsilon_greedy,
        lambda: {"q_values": gen.randn(4), "epsilon": 0.1, "rng": rng()},
        "q_values epsilon rng",
    )
    add_function(
        tree,
        rl.linear_schedule,
        lambda: {"step": 5, "total_steps": 100, "start": 1.0, "end": 0.05, "fraction": 0.5},
        "step total_steps start end fraction",
    )
    add_function(
        tree,
        rl.q_learning_update,
        lambda: {
            "q": gen.zeros(16, 4),
            "state": 0,
            "action": 1,
            "reward": 1.0,
            "next_state": 4,
            "terminated": False,
            "alpha": 0.5,
            "gamma": 0.9,
        },
        "q state action reward next_state terminated alpha gamma",
    )

    def frozen_lake() -> Any:
        return rl.make_env("FrozenLake-v1", is_slippery=False)

    add_function(
        tree,
        rl.q_learning,
        lambda: {
            "env": frozen_lake(),
            "episodes": 3,
            "alpha": 0.5,
            "gamma": 0.9,
            "epsilon": 0.1,
            "seed": 0,
            "q": gen.zeros(16, 4),
        },
        "env episodes alpha gamma epsilon seed q",
        skip={"episodes": LOOP_COUNT},
    )
    add_function(tree, rl.make_env, lambda: {"name": "FrozenLake-v1", "render": False}, "name render")

    def right(obs: Any) -> int:
        return 2

    add_function(
        tree,
        rl.run_episode,
        lambda: {"env": frozen_lake(), "policy": right, "seed": 0, "render": False, "max_steps": 20},
        "env policy seed render max_steps",
    )
    add_function(
        tree,
        rl.evaluate,
        lambda: {"env": frozen_lake(), "policy": right, "episodes": 2, "seed": 0},
        "env policy episodes seed",
        skip={"episodes": LOOP_COUNT},
    )

    def dqn_args() -> dict[str, Any]:
        from dlcourse.numpy.dqn import DQNAgent

        config = rl.DQNConfig(
            hidden=(8,), batch_size=4, buffer_size=32, learning_starts=8, train_every=8, gradient_steps=2
        )
        return {
            "agent": DQNAgent(4, 2, rng(), config),
            "env": rl.make_env("CartPole-v1"),
            "total_steps": 16,
            "seed": 0,
            "eval_env": rl.make_env("CartPole-v1", max_episode_steps=20),
            "eval_every": 8,
            "eval_episodes": 1,
            "stop_at": 1e9,
            "progress": False,
        }

    add_function(
        tree,
        rl.train_dqn,
        dqn_args,
        "agent env total_steps seed eval_env eval_every eval_episodes stop_at progress",
        skip={"total_steps": LOOP_COUNT, "eval_episodes": LOOP_COUNT},
    )
    add_function(tree, rl.DQNConfig, dict)
    for record in (rl.DQNHistory, rl.QLearningResult):
        add_function(tree, record, dict if record is rl.DQNHistory else lambda: {"q": gen.zeros(2, 2)})
    add_function(tree, rl.Episode, lambda: {"total_reward": 1.0, "length": 3})


def _attention_entries(tree: str) -> None:
    """Attention, the transformer block and the character transformer of one tree."""
    At, Tf, Cg = (_mod(tree, m) for m in ("attention", "transformer", "chargpt"))
    is_np = tree == "numpy"

    def g() -> Gen:
        return Gen(tree)

    # attention: x (B=2, T=3, D=4), 2 heads of 2
    add_function(tree, At.gelu_forward, lambda: {"x": g().randn(3, 4)}, "x")

    def gelu_bwd() -> dict[str, Any]:
        return {"dout": g().randn(3, 4), "cache": At.gelu_forward(g().randn(3, 4))[1]}

    add_function(tree, At.gelu_backward, gelu_bwd, "dout")
    add_function(tree, At.causal_mask, lambda: {"queries": 3, "keys": 4}, "queries keys")

    def sdpa_args() -> dict[str, Any]:
        gen = g()
        return {"q": gen.randn(2, 3, 4), "k": gen.randn(2, 5, 4), "v": gen.randn(2, 5, 2), "causal": True}

    add_function(tree, At.scaled_dot_product_attention_forward, sdpa_args, "q k v causal")

    def sdpa_bwd() -> dict[str, Any]:
        _, cache = At.scaled_dot_product_attention_forward(**sdpa_args())
        return {"dout": g().randn(2, 3, 2), "cache": cache}

    add_function(tree, At.scaled_dot_product_attention_backward, sdpa_bwd, "dout")

    def mha_args() -> dict[str, Any]:
        gen = g()
        return {
            "x": gen.randn(2, 3, 4),
            "in_proj_weight": gen.randn(12, 4),
            "in_proj_bias": gen.randn(12),
            "out_proj_weight": gen.randn(4, 4),
            "out_proj_bias": gen.randn(4),
            "num_heads": 2,
            "causal": True,
            "past": (gen.randn(2, 2, 1, 2), gen.randn(2, 2, 1, 2)),
        }

    add_function(
        tree,
        At.multi_head_attention_forward,
        mha_args,
        "x in_proj_weight in_proj_bias out_proj_weight out_proj_bias num_heads causal past",
    )

    def mha_bwd() -> dict[str, Any]:
        _, cache = At.multi_head_attention_forward(**mha_args())
        return {"dout": g().randn(2, 3, 4), "cache": cache}

    add_function(tree, At.multi_head_attention_backward, mha_bwd, "dout")
    add_function(tree, At.normal, lambda: {"rng": rng(), "std": 0.02, "shape": (3, 2)}, "rng std shape")
    add_function(tree, At.sinusoidal_positions, lambda: {"length": 5, "dim": 4}, "length dim")
    add_function(
        tree,
        At.MultiheadAttention,
        lambda: {"embed_dim": 4, "num_heads": 2, "rng": rng(), "causal": True, "out_std": 0.02},
        "embed_dim num_heads rng causal out_std",
    )
    add_method(
        tree,
        At.MultiheadAttention,
        "forward",
        lambda: (At.MultiheadAttention(4, 2, rng()), {"x": g().randn(2, 3, 4)}),
        "x",
    )

    # transformer: a block of width 4 (2 heads, MLP 8), a character model over V=5 with context 6
    def block_args() -> dict[str, Any]:
        gen = g()
        block = Tf.TransformerBlock(4, 2, rng(), mlp_ratio=2)
        weights = {n: gen.randn(*p.shape) for n, p in block.named_parameters()}
        past = (gen.randn(2, 2, 1, 2), gen.randn(2, 2, 1, 2))
        return {"x": gen.randn(2, 3, 4), "weights": weights, "num_heads": 2, "causal": True, "past": past}

    add_function(tree, Tf.transformer_block_forward, block_args, "x weights num_heads causal past")

    def block_bwd() -> dict[str, Any]:
        _, cache = Tf.transformer_block_forward(**block_args())
        return {"dout": g().randn(2, 3, 4), "cache": cache}

    add_function(tree, Tf.transformer_block_backward, block_bwd, "dout")
    add_function(
        tree,
        Tf.TransformerBlock,
        lambda: {"embed_dim": 4, "num_heads": 2, "rng": rng(), "mlp_ratio": 2, "causal": True, "num_layers": 2},
        "embed_dim num_heads rng mlp_ratio causal num_layers",
    )

    def block_forward() -> tuple[Any, dict[str, Any]]:
        gen = g()
        return Tf.TransformerBlock(4, 2, rng()), {"x": gen.randn(2, 3, 4), "past": (gen.randn(2, 2, 1, 2),) * 2}

    add_method(tree, Tf.TransformerBlock, "forward", block_forward, "x past")

    def char_transformer() -> Any:
        return Tf.CharTransformer(5, 4, rng(), num_heads=2, num_layers=1, context_size=6)

    add_function(
        tree,
        Tf.CharTransformer,
        lambda: {
            "vocab_size": 5,
            "embed_dim": 4,
            "rng": rng(),
            "num_heads": 2,
            "num_layers": 1,
            "context_size": 6,
            "positions": "learned",
            "mlp_ratio": 2,
        },
        "vocab_size embed_dim rng num_heads num_layers context_size positions mlp_ratio",
    )

    def transformer_forward() -> tuple[Any, dict[str, Any]]:
        model = char_transformer()
        _, past = model(Gen("numpy").ints(5, 2, 2))
        return model, {"ids": g().ints(5, 2, 3), "past": past}

    add_method(tree, Tf.CharTransformer, "forward", transformer_forward, "ids past")
    np_ids = Gen("numpy")
    add_method(
        tree, Tf.CharTransformer, "attention_maps", lambda: (char_transformer(), {"ids": np_ids.ints(5, 4)}), "ids"
    )
    add_function(
        tree,
        Cg.evaluate_char_transformer,
        lambda: {"model": char_transformer(), "ids": np_ids.ints(5, 30), "batch_size": 2, "stride": 3},
        "model ids batch_size stride",
    )
    add_function(
        tree,
        Cg.generate,
        lambda: {
            "model": char_transformer(),
            "prompt_ids": np_ids.ints(5, 3),
            "length": 5,
            "temperature": 0.8,
            "rng": rng(),
            "use_cache": True,
        },
        "model prompt_ids length temperature rng use_cache",
    )
    add_function(
        tree,
        Cg.train_char_transformer,
        lambda: {
            "model": char_transformer(),
            "train_ids": np_ids.ints(5, 60),
            "steps": 2,
            "budget_s": 0.2,
            "batch_size": 2,
            "seq_len": 4,
            "lr": 0.01,
            "clip": 1.0,
            "warmup": 1,
            "val_ids": np_ids.ints(5, 20),
            "eval_every": 1,
            "log_every": 1,
            "seed": 0,
            "progress": False,
        },
        "model train_ids steps budget_s batch_size seq_len lr clip warmup val_ids eval_every log_every seed progress",
        skip={"steps": LOOP_COUNT},
    )
    if is_np:

        def forwarded(layer: Any, *args: Any) -> Any:
            layer.forward(*args)
            return layer

        add_method(
            tree,
            At.MultiheadAttention,
            "backward",
            lambda: (forwarded(At.MultiheadAttention(4, 2, rng()), g().randn(2, 3, 4)), {"dout": g().randn(2, 3, 4)}),
            "dout",
        )
        add_method(
            tree,
            Tf.TransformerBlock,
            "backward",
            lambda: (forwarded(Tf.TransformerBlock(4, 2, rng()), g().randn(2, 3, 4)), {"dout": g().randn(2, 3, 4)}),
            "dout",
        )
        add_method(
            tree,
            Tf.CharTransformer,
            "backward",
            lambda: (forwarded(char_transformer(), np_ids.ints(5, 2, 3)), {"dlogits": g().randn(2, 3, 5)}),
            "dlogits",
        )


def _window_entries() -> None:
    """The context windows and the sampler shared by both trees' character models."""
    tree, gen = "shared", Gen("numpy")
    add_function(
        tree,
        windows.evaluation_windows,
        lambda: {"ids": gen.ints(5, 30), "context_size": 8, "stride": 3},
        "ids context_size stride",
    )
    add_function(
        tree, windows.window_start, lambda: {"start": 2, "end": 12, "context_size": 8}, "start end context_size"
    )

    def sampler() -> dict[str, Any]:
        def next_logits(ids: np.ndarray, past: Any) -> tuple[np.ndarray, Any]:
            return np.arange(5.0), None

        return {
            "next_logits": next_logits,
            "prompt_ids": gen.ints(5, 3),
            "length": 4,
            "context_size": 4,
            "temperature": 0.8,
            "rng": rng(),
            "use_cache": True,
        }

    add_function(
        tree,
        windows.sample_text,
        sampler,
        "next_logits prompt_ids length context_size temperature rng use_cache",
        skip={"length": LOOP_COUNT},
    )


def _reinforce_entries(tree: str) -> None:
    """REINFORCE: both trees' networks, loss and agent, and the shared policy-gradient module."""
    Rf = _mod(tree, "reinforce")
    pg = policy_gradient

    def g() -> Gen:
        return Gen(tree)

    add_function(
        tree,
        Rf.policy_network,
        lambda: {"obs_dim": 4, "n_actions": 2, "hidden": (8,), "rng": rng()},
        "obs_dim n_actions hidden rng",
    )
    add_function(tree, Rf.value_network, lambda: {"obs_dim": 4, "hidden": (8,), "rng": rng()}, "obs_dim hidden rng")
    add_function(
        tree,
        Rf.policy_loss_forward,
        lambda: {"logits": g().randn(5, 2), "actions": g().ints(2, 5), "advantages": g().randn(5)},
        "logits actions advantages",
    )

    def loss_bwd() -> dict[str, Any]:
        _, cache = Rf.policy_loss_forward(g().randn(5, 2), g().ints(2, 5), g().randn(5))
        return {"dout": 1.0, "cache": cache}

    add_function(tree, Rf.policy_loss_backward, loss_bwd, "dout")
    config = pg.ReinforceConfig(hidden=(8,), value_hidden=(8,), episodes_per_update=2)
    add_function(
        tree,
        Rf.ReinforceAgent,
        lambda: {"obs_dim": 4, "n_actions": 2, "rng": rng(), "config": config},
        "obs_dim n_actions rng config",
    )

    def agent() -> Any:
        return Rf.ReinforceAgent(4, 2, rng(), config)

    def episodes() -> list[Any]:
        gen = np.random.default_rng(3)
        return [
            pg.Trajectory(
                gen.standard_normal((t, 4)).astype(np.float32), gen.integers(0, 2, t), np.ones(t, dtype=np.float64)
            )
            for t in (3, 5)
        ]

    obs = Gen("numpy").rng.standard_normal(4).astype(np.float32)
    add_method(tree, Rf.ReinforceAgent, "probs", lambda: (agent(), {"obs": obs.copy()}), "obs")
    add_method(tree, Rf.ReinforceAgent, "act", lambda: (agent(), {"obs": obs.copy()}), "obs")
    add_method(tree, Rf.ReinforceAgent, "greedy", lambda: (agent(), {"obs": obs.copy()}), "obs")
    add_method(tree, Rf.ReinforceAgent, "update", lambda: (agent(), {"episodes": episodes()}), "episodes")
    add_method(
        tree,
        Rf.ReinforceAgent,
        "load_state_dict",
        lambda: (agent(), {"state": agent().state_dict()}),
        "state",
    )
    if tree != "numpy":
        return
    shared = "shared"
    add_function(shared, pg.ReinforceConfig, dict)
    add_function(shared, pg.ReinforceHistory, dict)
    add_function(
        shared,
        pg.Trajectory,
        lambda: {"obs": np.zeros((2, 4), np.float32), "actions": np.zeros(2, np.int64), "rewards": np.ones(2)},
    )
    add_function(shared, pg.reward_to_go, lambda: {"rewards": [1.0, 0.0, 2.0], "gamma": 0.9}, "rewards gamma")
    add_function(shared, pg.episode_batch, lambda: {"episodes": episodes(), "gamma": 0.9}, "episodes gamma")
    add_function(
        shared,
        pg.advantages,
        lambda: {"returns": np.array([1.0, 2.0, 3.0]), "values": np.array([0.5, 1.0, 1.0]), "normalize": True},
        "returns values normalize",
    )
    add_function(shared, pg.check_probs, lambda: {"probs": np.array([0.25, 0.75])}, "probs")
    add_function(shared, pg.sample_action, lambda: {"probs": np.array([0.25, 0.75]), "rng": rng()}, "probs rng")
    add_function(shared, pg.check_reinforce_config, lambda: {"config": config}, "config")
    add_function(
        shared,
        pg.check_policy_loss,
        lambda: {
            "logits": np.zeros((3, 2)),
            "actions": np.array([0, 1, 1]),
            "advantages": np.ones(3),
            "to_array": as_float_array,
        },
        "logits actions advantages",
    )
    add_function(
        shared,
        pg.check_episodes,
        lambda: {"episodes": episodes(), "obs_dim": 4, "n_actions": 2},
        "episodes obs_dim n_actions",
    )
    add_function(
        shared,
        pg.collect_episode,
        lambda: {"env": rl.make_env("CartPole-v1"), "policy": lambda o: 0, "seed": 0, "max_steps": 20},
        "env policy seed max_steps",
    )
    add_function(
        shared,
        pg.train_reinforce,
        lambda: {
            "agent": Rf.ReinforceAgent(4, 2, rng(), config),
            "env": rl.make_env("CartPole-v1", max_episode_steps=10),
            "max_env_steps": 40,
            "eval_env": rl.make_env("CartPole-v1", max_episode_steps=10),
            "eval_every": 20,
            "eval_episodes": 1,
            "seed": 0,
            "stop_at": 1e9,
            "progress": False,
        },
        "agent env max_env_steps eval_env eval_every eval_episodes seed stop_at progress",
        skip={"max_env_steps": LOOP_COUNT, "eval_episodes": LOOP_COUNT},
    )


_tree_entries("numpy")
_tree_entries("torch")
_attention_entries("numpy")
_attention_entries("torch")
_reinforce_entries("numpy")
_reinforce_entries("torch")
_shared_entries()
_window_entries()

assert len({e.id for e in ENTRIES}) == len(ENTRIES), "duplicate entry ids"


def public_objects() -> dict[str, Any]:
    """Every public name the table must cover: ``module.name`` -> object."""
    out: dict[str, Any] = {}
    for tree in ("numpy", "torch"):
        for module in tree_modules(tree):
            for name in module.__all__:
                out[f"{module.__name__}.{name}"] = getattr(module, name)
    for module in SHARED_MODULES:
        names = getattr(module, "__all__", None)
        if names is None:  # dlcourse.data has no __all__: its public functions
            names = [
                n
                for n, v in vars(module).items()
                if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == module.__name__
            ]
        for name in names:
            out[f"{module.__name__}.{name}"] = getattr(module, name)
    return out
