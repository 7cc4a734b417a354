"""resnet_mnist: a small residual network on the course's MNIST digits, to set beside LeNet's cnn_mnist.

The network is the package's own :func:`dlcourse.torch.resnet.resnet`: a ResNet-20 of the CIFAR kind
(a stem convolution, three stages of three basic blocks with 8, 16 and 32 channels, global average
pooling, a linear layer), trained as cnn_mnist trains LeNet so that the two rows compare: the same
split, inputs standardised by the training set's mean and standard deviation, random shifts of up to
two pixels (here :func:`dlcourse.augment.random_shift`, a shift per image), Adam with a one-cycle
schedule, six epochs, one CPU thread (see ``bench_cnn.py`` for why one).

Settings are chosen on validation accuracy only: the benchmark first trains every entry of
:data:`CANDIDATES` (changes to :data:`RECIPE`) with seed 0 and scores each on the 1,000 validation
digits; the best one is then trained with the other seeds, and the 2,000 test digits are scored once,
for the chosen settings only. The row records what was tried (``params["selection"]``).

Registered in ``run.py`` as ``resnet_mnist``. Run it alone with ``python benchmarks/run.py -k
resnet_mnist``; ``--quick`` is a smoke test of the row's format (one epoch on 500 images, both
candidates, one seed), whose accuracies mean nothing: eight steps do not train a ResNet, nor settle
its running statistics.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from bench_cnn import DATASET, N_TEST, N_VAL, THREADS
from bench_common import Result, median, torch_devices, torch_threads
from tqdm.auto import tqdm

from dlcourse.augment import random_shift
from dlcourse.data import load_mnist
from dlcourse.device import synchronize
from dlcourse.torch import resnet as TR
from dlcourse.torch import train as TT

QUICK_EPOCHS, QUICK_TRAIN = 1, 500  # --quick: a smoke test
SEEDS = [0, 1, 2]  # each seeds the weights, the shuffling and the shifts
RECIPE = {
    "channels": (8, 16, 32),  # channels of the three stages
    "blocks_per_stage": 3,  # 1 + 2 * 9 + 1 = 20 layers with weights
    "lr": 3e-3,  # Adam's peak learning rate (one-cycle schedule)
    "batch": 64,
    "shift": 2,  # largest random shift, in pixels, of the augmentation
    "epochs": 6,  # passes over the training set
}
CANDIDATES = ({}, {"lr": 1e-2})  # changes to RECIPE, each trained with seed 0 and scored on validation


def _standardised(data: dict[str, np.ndarray], part: str, mean: float, std: float, device: torch.device) -> tuple:
    """One split as tensors on ``device``: images standardised with the training statistics, labels."""
    return torch.from_numpy((data[f"x_{part}"] - mean) / std).to(device), torch.from_numpy(data[f"y_{part}"]).to(device)


def _augmented_batches(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, recipe: dict, fill: float, desc: str, progress: bool
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images, labels) of every training step: a new order each epoch, each image its own random
    shift (pixels entering the frame are ``fill``), as CPU tensors."""
    for _ in tqdm(range(recipe["epochs"]), desc=desc, disable=not progress, leave=False):
        order = rng.permutation(len(x))
        for i in range(0, len(x), recipe["batch"]):
            idx = order[i : i + recipe["batch"]]
            images = random_shift(x[idx], rng, recipe["shift"], fill=fill)  # (B, 1, 28, 28)
            yield torch.from_numpy(images), torch.from_numpy(y[idx])


def train_resnet(
    data: dict[str, np.ndarray], seed: int, recipe: dict, device: torch.device, n_train: int, progress: bool = False
) -> dict:
    """Train one network with ``recipe`` (keys as :data:`RECIPE`) on the first ``n_train`` training
    images; return its validation accuracy, training seconds, parameter count, and the model with the
    standardisation, so that the test set can be scored later for the chosen recipe only."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    x_train, y_train = data["x_train"][:n_train], data["y_train"][:n_train]
    mean, std = float(x_train.mean()), float(x_train.std())
    x = (x_train - mean) / std  # (N, 1, 28, 28) standardised, NumPy: the augmentation's input
    background = (0.0 - mean) / std  # a blank pixel after standardising
    model = TR.resnet(rng, channels=recipe["channels"], blocks_per_stage=recipe["blocks_per_stage"]).to(device)
    total = recipe["epochs"] * -(-len(x) // recipe["batch"])  # steps: ceil(N / batch) per epoch
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe["lr"], total_steps=total)
    batches = _augmented_batches(x, y_train, rng, recipe, background, f"resnet_mnist seed {seed}", progress)
    synchronize(device)
    start = time.perf_counter()
    model.train()
    for images, labels in batches:
        loss = F.cross_entropy(model(images.to(device)), labels.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    synchronize(device)
    train_s = time.perf_counter() - start
    val_acc = TT.accuracy(model, *_standardised(data, "val", mean, std, device))
    params = sum(p.numel() for p in model.parameters())
    return {"val_acc": val_acc, "train_s": train_s, "parameters": params, "model": model, "stats": (mean, std)}


def describe(recipe: dict) -> dict:
    """The params of a row: the recipe spelled out."""
    c, b = recipe["channels"], recipe["blocks_per_stage"]
    depth = 2 + 2 * b * len(c)
    return {
        "dataset": DATASET,
        "model": f"resnet(channels={tuple(c)}, blocks_per_stage={b}): {depth} layers with weights",
        "layers": f"conv 1->{c[0]} 3x3, BN, ReLU; {len(c)} stages of {b} basic blocks (conv3x3-BN-ReLU-conv3x3-BN "
        f"+ skip, ReLU; 1x1 projection where the shape changes) with {', '.join(map(str, c))} channels, "
        f"stride 2 entering each stage after the first; global average pooling; linear {c[-1]}->10",
        "optimizer": f"Adam, OneCycleLR max_lr {recipe['lr']}",
        "batch": recipe["batch"],
        "augmentation": f"dlcourse.augment.random_shift, up to {recipe['shift']} pixels (one shift per image)",
        "inputs": "standardised by the training mean and std",
        "epochs": recipe["epochs"],
        "split": f"load_mnist(seed=0, n_test={N_TEST}, n_val={N_VAL}): settings chosen on validation "
        "(CANDIDATES, seed 0), test scored once, for the chosen settings",
        "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.items()},
    }


def _fraction(values: list[float]) -> dict:
    return {"median": round(float(np.median(values)), 4), "min": round(min(values), 4)}


def resnet_mnist_rows(seeds: list[int], quick: bool = False) -> list[Result]:
    """One row per device: every candidate trained with ``seeds[0]`` and scored on validation, the best
    trained with the other seeds; median (and minimum) accuracies over ``seeds``, test scored once."""
    data = load_mnist(seed=0, n_test=N_TEST, n_val=N_VAL)
    n_train = QUICK_TRAIN if quick else len(data["y_train"])
    epochs = {"epochs": QUICK_EPOCHS} if quick else {}
    rows = []
    with torch_threads(min(THREADS, torch.get_num_threads())):
        for impl, device in torch_devices():
            tried = []
            for change in CANDIDATES:
                recipe = {**RECIPE, **change, **epochs}
                tried.append((change, recipe, train_resnet(data, seeds[0], recipe, device, n_train, not quick)))
            change, recipe, first = max(tried, key=lambda t: t[2]["val_acc"])  # validation only
            runs = [first] + [train_resnet(data, s, recipe, device, n_train, not quick) for s in seeds[1:]]
            tests = [TT.accuracy(r["model"], *_standardised(data, "test", *r["stats"], device)) for r in runs]
            vals, times = [r["val_acc"] for r in runs], [r["train_s"] for r in runs]
            params = {**describe(recipe), "seeds": seeds, "chosen_change": change}
            params["selection"] = [{"change": c, "val_acc_seed0": round(r["val_acc"], 4)} for c, _, r in tried]
            params["torch_threads"] = torch.get_num_threads() if device.type == "cpu" else None
            val, test = _fraction(vals), _fraction(tests)
            metrics = {
                "val_acc": val["median"],
                "val_acc_min": val["min"],
                "val_acc_per_seed": [round(a, 4) for a in vals],
                "test_acc": test["median"],
                "test_acc_min": test["min"],
                "test_acc_per_seed": [round(a, 4) for a in tests],
                "train_s": round(median(times), 2),
                "train_s_max": round(max(times), 2),
                "train_s_per_epoch": round(median(times) / recipe["epochs"], 2),
                "selection_train_s": round(sum(r["train_s"] for _, _, r in tried), 2),
                "epochs": recipe["epochs"],
                "n_train": n_train,
                "n_val": len(data["y_val"]),
                "n_test": len(data["y_test"]),
                "parameters": first["parameters"],
            }
            rows.append(Result("resnet_mnist", impl, median(times), len(seeds), params, metrics))
    return rows


def bench_resnet_mnist(quick: bool) -> list[Result]:
    """Validation and test accuracy and training time of a ResNet-20 on the MNIST digits, settings chosen
    on validation, one row per device; median (and minimum) over the seeds."""
    return resnet_mnist_rows(SEEDS[:1] if quick else SEEDS, quick=quick)
