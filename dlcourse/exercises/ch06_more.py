"""Chapter 6 exercises that debug, train or experiment with something the chapter does not show:
``keep_best`` (fix an early-stopping loop), ``deep_tanh_settings`` (an initial scale and a learning
rate for a deep tanh network, tuned on validation, graded on test points) and ``decay_choice`` (a
weight decay chosen on validation, its test accuracy reported once). Re-exported by ``ch06``."""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcourse.exercises.compare import fmt
from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker, solution_value
from dlcourse.numpy import layers as L
from dlcourse.numpy import losses
from dlcourse.numpy import optim as O

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "keep_best": ["net.eval()", "predict(net, x_val)"],
    "deep_tanh_settings": ["sqrt(1 / 32)", "2 / (32 + 32)", "0.177"],
    "decay_choice": ["min(runs, key=", "min(DECAYS, key=", "argmin(val_losses)"],
}

FEATURES, CLASSES = 32, 4  # the synthetic data: 32 features, 4 classes


def blobs(seed: int, n: int, noise: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy points of 4 classes around 4 fixed centres in 32 dimensions.

    Args:
        seed: draws the labels and the noise; the centres are the same for every seed.
        n: the number of points.
        noise: the standard deviation of the noise around each centre.

    Returns: ``x`` (n, 32) float32 and ``y`` (n,) int64.
    """
    centres = np.random.default_rng(1234).normal(0.0, 1.0, (CLASSES, FEATURES))  # (4, 32)
    r = np.random.default_rng(seed)
    y = r.integers(0, CLASSES, n)
    x = centres[y] + r.normal(0.0, noise, (n, FEATURES))  # (n, 32)
    return x.astype(np.float32), y.astype(np.int64)


# Debug: early stopping that measures the wrong thing


def solution_keep_best(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, epochs: int, seed: int
) -> tuple[list[float], int]:
    """Train a small dropout network and find the epoch that early stopping keeps.

    Args:
        x_train, y_train: (N, D) training inputs and their (N,) labels; x_val, y_val: (M, D) and (M,).
        epochs: passes over the training set.
        seed: seeds the weights, the shuffling and the dropout masks (one generator).

    Returns:
        ``(val_losses, best_epoch)``: the validation loss after every epoch, measured in
        evaluation mode, and the epoch (from 0) with the lowest one.
    """
    rng = np.random.default_rng(seed)
    d, c = x_train.shape[1], int(y_train.max()) + 1
    net = L.Sequential(L.Linear(d, 64, rng), L.ReLU(), L.Dropout(0.5, rng), L.Linear(64, c, rng))
    opt = O.SGD(net.parameters(), lr=0.1)
    val_losses, best_loss, best_epoch = [], np.inf, -1
    for epoch in range(epochs):
        net.train()  # dropout on for the updates...
        order = rng.permutation(len(x_train))
        for start in range(0, len(x_train), 32):
            idx = order[start : start + 32]
            loss, cache = losses.cross_entropy_forward(net(x_train[idx]), y_train[idx])
            opt.zero_grad()
            net.backward(losses.cross_entropy_backward(1.0, cache))
            opt.step()
        net.eval()  # ...and off for the measurement
        val_loss = losses.cross_entropy(net(x_val), y_val)
        val_losses.append(val_loss)
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
    return val_losses, best_epoch


def _keep_best_variant(eval_mode: bool, train_each_epoch: bool, measure_on_train: bool = False) -> Any:
    """The loop of :func:`solution_keep_best` with a typical mistake (the stub: both flags False)."""

    def loop(x_train, y_train, x_val, y_val, epochs, seed):
        rng = np.random.default_rng(seed)
        d, c = x_train.shape[1], int(y_train.max()) + 1
        net = L.Sequential(L.Linear(d, 64, rng), L.ReLU(), L.Dropout(0.5, rng), L.Linear(64, c, rng))
        opt = O.SGD(net.parameters(), lr=0.1)
        val_losses, best_loss, best_epoch = [], np.inf, -1
        net.train()
        for epoch in range(epochs):
            if train_each_epoch:
                net.train()
            order = rng.permutation(len(x_train))
            for start in range(0, len(x_train), 32):
                idx = order[start : start + 32]
                loss, cache = losses.cross_entropy_forward(net(x_train[idx]), y_train[idx])
                opt.zero_grad()
                net.backward(losses.cross_entropy_backward(1.0, cache))
                opt.step()
            if eval_mode:
                net.eval()
            x_m, y_m = (x_train, y_train) if measure_on_train else (x_val, y_val)
            val_loss = losses.cross_entropy(net(x_m), y_m)
            val_losses.append(val_loss)
            if val_loss < best_loss:
                best_loss, best_epoch = val_loss, epoch
        return val_losses, best_epoch

    return loop


broken_keep_best = _keep_best_variant(eval_mode=False, train_each_epoch=False)
"""The exercise's stub: measures the validation loss with dropout still on."""


@checker
def check_keep_best(answer: Any) -> Feedback:
    """Exercise 6.6: fix ``keep_best(x_train, y_train, x_val, y_val, epochs, seed) -> (val_losses, best_epoch)``."""
    cases = []
    for seed, (n_train, n_val, epochs) in enumerate([(200, 100, 12), (160, 120, 10)]):
        x_train, y_train = blobs(10 + seed, n_train)
        x_val, y_val = blobs(20 + seed, n_val)
        label = f"{n_train} training and {n_val} validation points of 4 classes, {epochs} epochs, seed {seed}"
        cases.append(Case((x_train, y_train, x_val, y_val, epochs, seed), label))
    return check_function(
        "keep_best",
        answer,
        solution_keep_best,
        cases,
        hint=(
            "Compare your validation losses with the expected ones, epoch by epoch: where do they start to "
            "differ, and are yours higher or lower? The training steps themselves are written correctly.",
            "The mistake is in how the network is run when the validation loss is measured, not in the updates "
            "or in the choice of the best epoch. Which layer of this network behaves differently while training?",
        ),
        parts=("val_losses", "best_epoch"),
        time_factor=5,  # a training loop: 15 s per case, where about 0.2 s are needed
        mistakes=[
            Mistake(
                broken_keep_best,
                (
                    "Your validation losses are higher than a correct loop's, at every epoch. Measure the "
                    "validation loss twice in a row, with no training step between: should the two numbers differ?",
                    "The network is not measured in the state in which it will be used. Does every layer of this "
                    "network compute the same thing during training and during measurement?",
                    "Dropout is still switching units off while the validation loss is measured, so each "
                    "measurement is a noisy, thinned network. Put the network into evaluation mode for the "
                    "measurement (see the chapter's Dropout section).",
                ),
            ),
            Mistake(
                _keep_best_variant(eval_mode=True, train_each_epoch=False),
                (
                    "Closer: the first epoch is right now, the later ones are not. A switch to evaluation mode (by the "
                    "eval method, or by a helper such as predict that calls it) stays in force afterwards.",
                    "After the first measurement the network stays in evaluation mode, so from the second epoch on "
                    "it trains without dropout. Switch it back to training mode at the start of every epoch.",
                ),
            ),
        ],
    )


# Train: choose the scale and the step size that let a deep tanh network learn

WIDTH, DEPTH = 32, 6  # six tanh layers of 32 units: 32 -> 32 x 6 -> 4
STEPS, BATCH, TARGET = 150, 32, 0.93  # the step budget, the batch size, the test accuracy to reach
SEEDS = (0, 1)  # the checker trains once per seed and wants the target both times


@dataclass
class DeepRun:
    """What one training run of the deep tanh network measured.

    Attributes:
        train_loss: (STEPS,) the minibatch loss at every step.
        val_acc: accuracy on the validation points (the ones to tune on) after the last step.
        saturated: share of hidden units with |h| > 0.99 at the start, over all six layers.
        last_std: standard deviation of the last hidden layer's activations at the start.
    """

    train_loss: np.ndarray
    val_acc: float
    saturated: float
    last_std: float

    def __repr__(self) -> str:
        first, last = self.train_loss[0], self.train_loss[-1]
        return (
            f"DeepRun(training loss {first:.3g} -> {last:.3g} in {len(self.train_loss)} steps, validation accuracy "
            f"{self.val_acc:.3f}; at the start: {self.saturated:.0%} of hidden units saturated, last hidden layer "
            f"std {self.last_std:.3g})"
        )


def train_deep_tanh(weight_std: float, lr: float, seed: int = 0) -> DeepRun:
    """Train the exercise's deep tanh network (32 -> 32 x 6 -> 4) with plain SGD for ``STEPS`` steps.

    Every weight is drawn from N(0, weight_std^2) (every layer has fan_in 32), biases start at 0;
    the 400 training and 400 validation points are fixed, and ``seed`` seeds the weights and the
    minibatch order. Returns a :class:`DeepRun`: the losses, the validation accuracy and the
    state at the start."""
    return _train_deep_tanh(weight_std, lr, seed)[0]


def _train_deep_tanh(weight_std: float, lr: float, seed: int) -> tuple[DeepRun, L.Sequential]:
    """The run of :func:`train_deep_tanh` and the trained network, left in evaluation mode."""
    x_train, y_train = blobs(1, 400)
    x_val, y_val = blobs(2, 400)
    r = np.random.default_rng(seed)
    sizes = [FEATURES] + [WIDTH] * DEPTH + [CLASSES]
    layers: list[L.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        linear = L.Linear(n_in, n_out, r, init="zeros")
        linear.weight.data[...] = weight_std * r.standard_normal((n_in, n_out))  # (n_in, n_out)
        layers += [linear, L.Tanh()] if i < DEPTH else [linear]
    net = L.Sequential(*layers)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h, hidden = x_train, []
        for layer in net.layers:  # the activations at the start, layer by layer
            h = layer(h)
            if isinstance(layer, L.Tanh):
                hidden.append(h)
        opt = O.SGD(net.parameters(), lr=lr)
        net.train()
        train_loss = []
        while len(train_loss) < STEPS:
            order = r.permutation(len(x_train))
            for start in range(0, len(x_train) - BATCH + 1, BATCH):
                idx = order[start : start + BATCH]
                loss, cache = losses.cross_entropy_forward(net(x_train[idx]), y_train[idx])
                opt.zero_grad()
                net.backward(losses.cross_entropy_backward(1.0, cache))
                opt.step()
                train_loss.append(float(loss))
                if len(train_loss) == STEPS:
                    break
        net.eval()
        val_acc = float(np.mean(net(x_val).argmax(axis=1) == y_val))
    saturated = float(np.mean([np.mean(np.abs(a) > 0.99) for a in hidden]))
    return DeepRun(np.array(train_loss), val_acc, saturated, float(hidden[-1].std())), net


solution_deep_tanh_settings = (math.sqrt(2 / (WIDTH + WIDTH)), 0.1)
"""Xavier's variance for fan_in = fan_out = 32 (fan_in * Var(w) = 1) and a mid-range learning rate."""


def _pair(answer: Any, names: tuple[str, str], low: float = 0.0) -> tuple[float, float] | str:
    """The learner's pair as two floats, each in [``low``, 100], or a sentence saying what is wrong."""
    if isinstance(answer, np.ndarray) and answer.shape == (2,):
        answer = tuple(answer)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        what = f"a {type(answer).__name__} of {len(answer)} items" if isinstance(answer, (tuple, list)) else fmt(answer)
        return f"as your answer the checker expected a pair ({names[0]}, {names[1]}), got {what}."
    values = []
    for name, value in zip(names, answer, strict=True):
        try:
            if isinstance(value, (bool, str, bytes, complex)) or np.ndim(value) != 0:
                raise TypeError
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return f"for {name} the checker expected one real number, got {type(value).__name__} {fmt(value)}."
        if not (math.isfinite(number) and low <= number <= 100):
            sign = "positive" if low > 0 else "non-negative"
            return f"for {name} the checker expected a {sign} number of at most 100, got {fmt(value)}."
        values.append(number)
    return values[0], values[1]


@checker
def check_deep_tanh_settings(answer: Any) -> Feedback:
    """Exercise 6.7: a pair ``(weight_std, lr)`` with which the deep tanh network reaches the target
    accuracy on test points (not the validation points tuned on) within the step budget, for two seeds."""
    general = (
        "Two things can stop a deep tanh network: the initial scale (a signal that fades or saturates "
        "through six layers) and the step size. Call ch06.train_deep_tanh(weight_std, lr) and read what "
        "it measured at the start and during training.",
        "Choose weight_std from the chapter's variance argument for tanh layers (every layer here has "
        "fan_in 32), then try learning rates a factor of about 3 apart and keep one the validation accuracy "
        "likes for both seeds.",
    )
    settings = _pair(answer, ("weight_std", "lr"), low=1e-300)
    if isinstance(settings, str):
        return Feedback("deep_tanh_settings", False, settings, general)
    weight_std, lr = settings
    trained = [_train_deep_tanh(weight_std, lr, seed) for seed in SEEDS]
    x_test, y_test = blobs(3, 400)  # graded on points that played no part in the choice
    with np.errstate(all="ignore"):
        tests = [float(np.mean(net(x_test).argmax(axis=1) == y_test)) for _, net in trained]
    runs = [run for run, _ in trained]
    where = f"with weight_std = {fmt(weight_std)} and lr = {fmt(lr)}, after {STEPS} steps the"
    if all(acc >= TARGET for acc in tests):
        accs = " and ".join(f"{acc:.3f} (seed {seed})" for seed, acc in zip(SEEDS, tests, strict=True))
        return Feedback("deep_tanh_settings", True, f"{where} accuracy on {len(y_test)} test points is {accs}.")
    accs = " and ".join(f"{run.val_acc:.3f} (seed {seed})" for seed, run in zip(SEEDS, runs, strict=True))
    message = f"{where} validation accuracy is {accs}; on the test points it is too low for the target {TARGET}."
    run = runs[int(np.argmin(tests))]
    losses_ = run.train_loss
    unstable = not np.all(np.isfinite(losses_)) or losses_.max() > 2 * losses_[0] + 1
    if run.last_std < 0.02:
        hint: tuple[str, ...] = (
            "At the start the last hidden layer's activations are almost zero: the signal fades on its way "
            "through the six layers, and the gradients fade with it.",
            "The initial weights are too small. By the chapter's argument, fan_in * Var(w) should be close "
            "to 1 for a tanh layer to pass the signal on at its own size.",
        )
    elif run.saturated > 0.25:
        hint = (
            "At the start many hidden units are saturated (|h| close to 1): the weights are so large that tanh "
            "sits on its flat tails, where the gradient vanishes and nearby inputs get scrambled.",
            "The initial weights are too large. By the chapter's argument, fan_in * Var(w) should be close "
            "to 1 for a tanh layer.",
        )
    elif unstable:
        hint = (
            "The training loss shot up during training (or became inf or NaN): the steps are too large.",
            "Lower the learning rate, by a factor of about 3 at a time, until the training loss falls steadily.",
        )
    else:
        hint = (
            "The initial scale looks healthy and the loss falls, but not far enough within the step budget.",
            "Take larger steps: raise the learning rate by a factor of about 3 at a time, and watch that the "
            "training loss still falls steadily.",
        )
    return Feedback("deep_tanh_settings", False, message, hint)


# Experiment: choose the weight decay on the validation set, report the test accuracy once

DECAYS = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)  # the weight decays to compare


@dataclass
class DecayRun:
    """The final losses and accuracies of one run of :func:`decay_run`."""

    train_loss: float
    val_loss: float
    val_acc: float
    test_acc: float


@functools.lru_cache(maxsize=16)
def decay_run(weight_decay: float, seed: int = 0) -> DecayRun:
    """Train a 32-128-4 ReLU network on 48 noisy points with momentum SGD and weight decay.

    Sixty epochs of minibatches of 16 (lr 0.05, momentum 0.9), then the losses on the training
    points and on 200 validation points, and the accuracy on 200 validation and 200 test points.
    Every number is fixed by ``weight_decay`` and ``seed``; the results are cached.
    """
    weight_decay = float(weight_decay)
    (x, y), (x_val, y_val), (x_test, y_test) = (blobs(s, n, noise=2.5) for s, n in ((31, 48), (32, 200), (33, 200)))
    r = np.random.default_rng(seed)
    net = L.Sequential(L.Linear(FEATURES, 128, r), L.ReLU(), L.Linear(128, CLASSES, r))
    opt = O.Momentum(net.parameters(), lr=0.05, momentum=0.9, weight_decay=weight_decay)
    with np.errstate(all="ignore"):
        for _ in range(60):
            net.train()
            order = r.permutation(len(x))
            for start in range(0, len(x), 16):
                idx = order[start : start + 16]
                _, cache = losses.cross_entropy_forward(net(x[idx]), y[idx])
                opt.zero_grad()
                net.backward(losses.cross_entropy_backward(1.0, cache))
                opt.step()
        net.eval()
        z_val = net(x_val)
        return DecayRun(
            float(losses.cross_entropy(net(x), y)),
            float(losses.cross_entropy(z_val, y_val)),
            float(np.mean(z_val.argmax(axis=1) == y_val)),
            float(np.mean(net(x_test).argmax(axis=1) == y_test)),
        )


@solution_value
def solution_decay_choice() -> tuple[float, float]:
    """The weight decay with the lowest validation loss, and the test accuracy of that one model."""
    runs = {decay: decay_run(decay) for decay in DECAYS}
    chosen = min(DECAYS, key=lambda decay: runs[decay].val_loss)  # chosen on validation only
    return chosen, runs[chosen].test_acc  # the test set is looked at once, for the chosen model


@checker
def check_decay_choice(answer: Any) -> Feedback:
    """Exercise 6.8: a pair ``(weight_decay, test_accuracy)``: the weight decay of ``DECAYS`` with the
    lowest validation loss, and the test accuracy (a fraction) of the model trained with it."""
    name = "decay_choice"
    general = (
        "Run ch06.decay_run(d) for every d in ch06.DECAYS and look at all four numbers of each run. Which "
        "set is there to choose a setting with, and which one only to report the final result?",
        "Choose the weight decay with the lowest validation loss; then report the test accuracy of the run "
        "with that weight decay, whatever the other runs scored on the test set.",
    )
    pair = _pair(answer, ("weight_decay", "test_accuracy"))
    if isinstance(pair, str):
        return Feedback(name, False, pair, general)
    decay, test_acc = pair
    if not any(math.isclose(decay, d, rel_tol=1e-6, abs_tol=1e-12) for d in DECAYS):
        return Feedback(name, False, f"weight_decay {fmt(decay)} is not right: it is not in ch06.DECAYS.", general)
    decay = min(DECAYS, key=lambda d: abs(d - decay))
    runs = {d: decay_run(d) for d in DECAYS}
    chosen, chosen_acc = solution_decay_choice()
    if decay != chosen:
        message = f"your weight_decay, {fmt(decay)}, is not right."
        if decay == max(DECAYS, key=lambda d: runs[d].test_acc):
            hint: tuple[str, ...] = (
                "That weight decay has the best test accuracy, but a setting chosen on the test set makes the "
                "test accuracy an optimistic estimate: the test set is only for the final report.",
                "Choose on the validation loss; the test accuracy is then read once, for the chosen model.",
            )
        elif decay == min(DECAYS, key=lambda d: runs[d].train_loss):
            hint = (
                "That weight decay has the lowest training loss, but the training loss rewards memorising: "
                "it always prefers the weakest regularisation.",
                "Choose the setting on data the network was not trained on: the validation set.",
            )
        else:
            hint = general
        return Feedback(name, False, message, hint)
    if math.isclose(test_acc, chosen_acc, abs_tol=5e-4):
        return Feedback(name, True, f"your weight_decay, {fmt(decay)}, and its test accuracy are right.")
    message = f"your weight_decay, {fmt(decay)}, is right, but the test accuracy {fmt(test_acc)} is not right for it."
    if any(math.isclose(test_acc, v, abs_tol=5e-4) for v in (runs[decay].val_acc, runs[decay].val_loss)):
        hint = (
            "That is a validation number of the chosen run, not its test accuracy.",
            "Report the test_acc of the run you chose.",
        )
    elif math.isclose(test_acc, 100 * chosen_acc, abs_tol=0.05):
        hint = (
            "That looks like the right accuracy as a percentage; give it as a fraction, between 0 and 1.",
            "Report the test_acc of the run you chose as decay_run returns it.",
        )
    elif math.isclose(test_acc, max(r.test_acc for r in runs.values()), abs_tol=5e-4):
        hint = (
            "That is the best test accuracy of the whole sweep, not the test accuracy of the model you chose.",
            "Report the test_acc of the run with your weight decay, even where another run scored higher.",
        )
    else:
        hint = general
    return Feedback(name, False, message, hint)
