"""Normalisation benchmark: the forward and backward pass of a BatchNorm2d layer at a ResNet-like
shape, the NumPy tree's ``BatchNorm2d`` against ``torch.nn.BatchNorm2d`` with autograd.

Registered in ``run.py`` as ``batchnorm_step``. Run alone with ``python benchmarks/run.py -k
batchnorm_step`` (add ``--quick`` for a smoke test).
"""

from __future__ import annotations

import numpy as np
import torch
from bench_common import Result, median, torch_devices

from dlcourse.device import synchronize
from dlcourse.timing import time_interleaved

# The timed layer: a middle stage of a ResNet on small images.
BATCHNORM = {"batch": 32, "channels": 64, "height": 16, "width": 16}
QUICK = {"batch": 8, "channels": 16, "height": 8, "width": 8}


def bench_batchnorm_step(quick: bool) -> list[Result]:
    """Forward plus backward of BatchNorm2d in training mode (batch statistics, running averages
    updated) on a float32 (N 32, C 64, 16 x 16) batch: the NumPy tree's layer (``numpy``: element-wise
    work and reductions, which NumPy runs on one thread) against ``torch.nn.BatchNorm2d`` with
    autograd on the CPU (``torch-cpu``) and on a GPU when there is one, timed in alternation.
    ``--quick`` times a small batch a few times."""
    from dlcourse.numpy import norm

    sizes = QUICK if quick else BATCHNORM
    repeats = 5 if quick else 50
    shape = (sizes["batch"], sizes["channels"], sizes["height"], sizes["width"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    dout = rng.normal(size=shape).astype(np.float32)
    layer = norm.BatchNorm2d(sizes["channels"])

    def numpy_step():
        layer.zero_grad()
        layer(x)
        return layer.backward(dout)

    fns, syncs = {"numpy": numpy_step}, {}
    for impl, device in torch_devices():
        model = torch.nn.BatchNorm2d(sizes["channels"]).to(device).train()
        xt = torch.from_numpy(x).to(device).requires_grad_()
        dt = torch.from_numpy(dout).to(device)

        def torch_step(model=model, xt=xt, dt=dt):
            model.zero_grad()
            xt.grad = None
            model(xt).backward(dt)

        fns[impl], syncs[impl] = torch_step, (lambda d=device: synchronize(d))
    times = time_interleaved(fns, repeats=repeats, warmup=3, syncs=syncs, block=5)
    rows = [Result("batchnorm_step", impl, median(t), repeats) for impl, t in times.items()]
    reference = next(r.median_s for r in rows if r.impl == "torch-cpu")
    values = int(np.prod(shape))
    for row in rows:
        row.params = {
            **sizes,
            "dtype": "float32",
            "pass": "forward+backward",
            "mode": "train",
            "threads": 1 if row.impl == "numpy" else torch.get_num_threads(),
        }
        row.metrics = {
            "speed_vs_torch_cpu": round(reference / row.median_s, 3),
            "mvalues_per_s": round(values / row.median_s / 1e6, 1),
        }
    return rows
