r"""Data-parallel training with ``torch.distributed``: several processes, one model.

Each process (a *rank*) holds a full copy of the model and takes its own share of every
batch. :class:`torch.nn.parallel.DistributedDataParallel` (DDP) averages the gradients over
the ranks during ``backward()``, so every copy takes the same optimiser step. With a loss
that is a mean over the batch, averaging the ranks' mean gradients gives the mean over the
whole batch:

.. math::

    \frac{1}{W} \sum_{r=1}^{W} \frac{1}{B/W} \sum_{i \in \text{shard}_r} \nabla \ell_i
    = \frac{1}{B} \sum_{i=1}^{B} \nabla \ell_i ,

so :math:`W` processes with :math:`B/W` examples each follow the same weights as one
process with :math:`B` examples (up to float rounding: the sums run in another order).

Two ways to start the processes:

- :func:`train_data_parallel` spawns them from Python (``torch.multiprocessing``), which is
  what the book and the tests do on the CPU with the ``gloo`` backend;
- ``torchrun`` starts them from the shell, one per GPU with the ``nccl`` backend::

      torchrun --standalone --nproc_per_node=2 -m dlcourse.distributed --steps 20
      torchrun --standalone --nproc_per_node=4 -m dlcourse.distributed --backend nccl

Every address used is the loopback one (127.0.0.1): the processes talk on this machine only.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from dlcourse.torch.conv import lenet

__all__ = [
    "DataParallelConfig",
    "cnn",
    "free_port",
    "max_weight_difference",
    "shard",
    "train_data_parallel",
    "train_single",
]


@dataclass
class DataParallelConfig:
    """What one data-parallel run does; the same config drives the 1-process reference."""

    steps: int = 5  # optimiser steps
    global_batch: int = 64  # examples per step, summed over all ranks
    lr: float = 0.05  # plain SGD learning rate
    seed: int = 0  # seeds the model's initial weights (identical on every rank)
    backend: str = "gloo"  # "gloo" (CPU) or "nccl" (one CUDA GPU per rank)


def cnn(seed: int = 0) -> torch.nn.Module:
    """Chapter 7's convolutional network (:func:`dlcourse.torch.conv.lenet`), small: 28x28 digits in, 10 logits out.

    Conv(1->8, 3x3, pad 1), ReLU, max-pool 2, Conv(8->16, 3x3, pad 1), ReLU, max-pool 2,
    Flatten, Linear(16*7*7 -> 32), ReLU, Linear(32 -> 10). The weights are drawn from a NumPy
    generator seeded with ``seed``, so every process that calls ``cnn(seed)`` builds the same network.
    """
    return lenet(np.random.default_rng(seed), channels=(8, 16), kernel_size=3, hidden=32)


def shard(batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """The rows of ``batch`` that ``rank`` trains on: the ``rank``-th of ``world_size`` equal slices.

    Args:
        batch: (B, ...) one global batch.
        rank: this process's index, 0 <= rank < world_size.
        world_size: how many processes share the batch; must divide B.

    Returns:
        (B / world_size, ...) a view of ``batch``.
    """
    size = batch.shape[0]
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}.")
    if size % world_size:
        raise ValueError(f"the global batch ({size} rows) must split evenly over world_size={world_size}.")
    per_rank = size // world_size
    return batch[rank * per_rank : (rank + 1) * per_rank]


def _batches(x: torch.Tensor, y: torch.Tensor, config: DataParallelConfig):
    """The same sequence of global batches on every rank: consecutive rows, wrapping around."""
    n = x.shape[0]
    for step in range(config.steps):
        rows = torch.arange(step * config.global_batch, (step + 1) * config.global_batch) % n
        yield x[rows], y[rows]


def _train(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: DataParallelConfig,
    rank: int,
    world_size: int,
    device: torch.device,
) -> list[float]:
    """SGD on this rank's shard of each global batch; returns the rank's losses."""
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    losses = []
    for xb, yb in _batches(x, y, config):
        xs, ys = shard(xb, rank, world_size).to(device), shard(yb, rank, world_size).to(device)
        loss = torch.nn.functional.cross_entropy(model(xs), ys)  # mean over this rank's shard
        optimizer.zero_grad()
        loss.backward()  # under DDP: gradients are averaged over the ranks here
        optimizer.step()
        losses.append(loss.item())
    return losses


def train_single(
    x: torch.Tensor, y: torch.Tensor, config: DataParallelConfig, model_fn: Callable[[int], torch.nn.Module] = cnn
) -> tuple[dict[str, torch.Tensor], list[float]]:
    """The reference: one process, the whole global batch each step, on the CPU.

    Args:
        x: (N, 1, 28, 28) float32 images; y: (N,) int64 labels.
        config: steps, batch, learning rate and seed.
        model_fn: builds the model from a seed (the ranks use the same one).

    Returns:
        The trained model's ``state_dict`` and its loss at every step (as :func:`train_data_parallel`).
    """
    torch.manual_seed(config.seed)
    model = model_fn(config.seed)
    losses = _train(model, x, y, config, rank=0, world_size=1, device=torch.device("cpu"))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, losses


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, for the ranks to meet at."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _device_for(rank: int, backend: str) -> torch.device:
    """NCCL runs one rank per GPU; gloo runs on the CPU."""
    if backend == "nccl":
        torch.cuda.set_device(rank)
        return torch.device("cuda", rank)
    return torch.device("cpu")


def _worker(
    rank: int,
    world_size: int,
    port: int,
    config: DataParallelConfig,
    x: torch.Tensor,
    y: torch.Tensor,
    model_fn: Callable[[int], torch.nn.Module],
    out: str,
) -> None:
    """One rank of :func:`train_data_parallel`: join the group, train, rank 0 saves the weights."""
    torch.set_num_threads(1)  # the ranks share the machine's cores
    dist.init_process_group(config.backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        device = _device_for(rank, config.backend)
        torch.manual_seed(config.seed)
        model = DistributedDataParallel(model_fn(config.seed).to(device))  # also broadcasts rank 0's weights
        losses = _train(model, x, y, config, rank, world_size, device)
        if rank == 0:
            state = {k: v.detach().cpu().clone() for k, v in model.module.state_dict().items()}
            torch.save({"state": state, "losses": losses}, out)
    finally:
        dist.destroy_process_group()


def train_data_parallel(
    x: torch.Tensor,
    y: torch.Tensor,
    config: DataParallelConfig,
    world_size: int = 2,
    model_fn: Callable[[int], torch.nn.Module] = cnn,
) -> tuple[dict[str, torch.Tensor], list[float]]:
    """Train with ``world_size`` processes under DDP, each on its share of every batch.

    Args:
        x: (N, 1, 28, 28) float32 images; y: (N,) int64 labels (the same on every rank).
        config: steps, global batch, learning rate, seed and backend.
        world_size: number of processes; must divide ``config.global_batch``. With the
            ``nccl`` backend, at most the number of GPUs.
        model_fn: builds the model from a seed; must be importable (a module-level function), since the
            ranks are new processes.

    Returns:
        Rank 0's trained ``state_dict`` (every rank holds the same) and rank 0's losses.
    """
    if config.global_batch % world_size:
        raise ValueError(f"config.global_batch ({config.global_batch}) must split evenly over world_size={world_size}.")
    if config.backend == "nccl" and torch.cuda.device_count() < world_size:
        raise ValueError(
            f"backend 'nccl' needs one GPU per rank: world_size={world_size}, GPUs={torch.cuda.device_count()}."
        )
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "rank0.pt")
        args = (world_size, free_port(), config, x, y, model_fn, out)
        mp.spawn(_worker, args=args, nprocs=world_size, join=True)
        result = torch.load(out)
    return result["state"], result["losses"]


def max_weight_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """The largest absolute difference between two state dicts with the same keys and shapes."""
    if a.keys() != b.keys():
        raise ValueError(f"the state dicts hold different tensors: {sorted(a)} against {sorted(b)}.")
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def _torchrun_main(argv: list[str] | None = None) -> None:
    """Entry point under ``torchrun``: RANK, WORLD_SIZE and LOCAL_RANK come from the environment.

    Every rank trains on its shard of the same MNIST batches; rank 0 then trains the
    1-process reference on whole batches and prints how far apart the weights are.
    """
    parser = argparse.ArgumentParser(description="DDP training of the CNN chapter's network on MNIST digits.")
    parser.add_argument("--steps", type=int, default=DataParallelConfig.steps)
    parser.add_argument("--global-batch", type=int, default=DataParallelConfig.global_batch)
    parser.add_argument("--lr", type=float, default=DataParallelConfig.lr)
    parser.add_argument("--backend", choices=("gloo", "nccl"), default="nccl" if torch.cuda.is_available() else "gloo")
    args = parser.parse_args(argv)
    config = DataParallelConfig(args.steps, args.global_batch, args.lr, 0, args.backend)
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))

    from dlcourse.data import load_mnist

    data = load_mnist(seed=0)
    x, y = torch.from_numpy(data["x_train"][:2048]), torch.from_numpy(data["y_train"][:2048])
    torch.set_num_threads(1)
    dist.init_process_group(config.backend)  # torchrun set MASTER_ADDR / MASTER_PORT
    try:
        device = _device_for(local_rank, config.backend)
        torch.manual_seed(config.seed)
        model = DistributedDataParallel(cnn(config.seed).to(device))
        losses = _train(model, x, y, config, rank, world_size, device)
        print(f"rank {rank}/{world_size} ({device}): loss {losses[0]:.4f} -> {losses[-1]:.4f}", flush=True)
        dist.barrier()
        if rank == 0:
            ddp_state = {k: v.detach().cpu() for k, v in model.module.state_dict().items()}
            single, _ = train_single(x, y, config)
            gap = max_weight_difference(ddp_state, single)
            print(f"config: {asdict(config)}")
            print(f"max |w_ddp - w_single| = {gap:.2e}: {'match' if gap < 1e-4 else 'MISMATCH'}", flush=True)
            if gap >= 1e-4:
                raise SystemExit(1)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    _torchrun_main()
