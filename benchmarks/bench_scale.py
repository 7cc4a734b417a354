"""cnn_train_step: one training step of chapter 7's convnet on each PyTorch device.

Forward, backward and Adam step of :func:`dlcourse.torch.conv.lenet` with the ``cnn_mnist``
architecture (32 and 64 kernels of 3x3, 128 hidden units, dropout 0.3) on a batch of 28x28
digits, float32. The CPU uses its two threads; a GPU (CUDA or MPS) gets the same batch, large
enough to keep it busy. The ratio ``speed_vs_torch_cpu`` is the issue's goal: at least 20x on a
GPU against 2 CPU cores.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from bench_cnn import ARCH
from bench_common import Result, median, torch_devices, torch_threads

from dlcourse.device import synchronize
from dlcourse.numpy.linalg import matmul_flops
from dlcourse.timing import time_interleaved
from dlcourse.torch import conv as TC

BATCH, QUICK_BATCH = 256, 32


def _step_flops(batch: int) -> int:
    """Multiply-add FLOPs of the step's convolutions and matrix products (forward, and twice that backward)."""
    c1, c2 = ARCH["channels"]
    k, hidden = ARCH["kernel_size"], ARCH["hidden"]
    forward = (
        matmul_flops(batch * 28 * 28, 1 * k * k, c1)  # conv 1 on 28x28 (padding keeps the size)
        + matmul_flops(batch * 14 * 14, c1 * k * k, c2)  # conv 2 on 14x14
        + matmul_flops(batch, c2 * 7 * 7, hidden)
        + matmul_flops(batch, hidden, 10)
    )
    return 3 * forward  # backward: one product for the weights' gradient, one for the inputs'


def bench_cnn_train_step(quick: bool) -> list[Result]:
    """Median time of one training step on every PyTorch device present, against the CPU."""
    batch = QUICK_BATCH if quick else BATCH
    repeats = 3 if quick else 30
    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=batch)
    with torch_threads(2):  # the reference: two CPU cores
        fns, syncs = {}, {}
        for impl, device in torch_devices():
            model = TC.lenet(np.random.default_rng(0), **ARCH).to(device)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

            def step(model=model, optimizer=optimizer, xt=xt, yt=yt):
                loss = F.cross_entropy(model(xt), yt)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

            fns[impl], syncs[impl] = step, (lambda d=device: synchronize(d))
        times = time_interleaved(fns, repeats=repeats, warmup=3, syncs=syncs, block=5)
    reference = median(times["torch-cpu"])
    flops = _step_flops(batch)
    params = {"batch": batch, "arch": ARCH, "dtype": "float32", "optimizer": "Adam", "cpu_threads": 2}
    return [
        Result(
            "cnn_train_step",
            impl,
            median(t),
            repeats,
            params,
            {"speed_vs_torch_cpu": round(reference / median(t), 2), "gflops": round(flops / median(t) / 1e9, 2)},
        )
        for impl, t in times.items()
    ]
