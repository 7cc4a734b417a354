"""Data-parallel training: 2 processes with half the batch each end on the same weights as 1 process
with the whole batch (gloo on the CPU, through both torch.multiprocessing and torchrun)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from dlcourse import distributed as D
from dlcourse.data import load_mnist


@pytest.fixture(scope="module")
def digits():
    data = load_mnist(seed=0)
    return torch.from_numpy(data["x_train"][:512]), torch.from_numpy(data["y_train"][:512])


def test_two_processes_with_half_batches_match_one_process(digits):
    x, y = digits
    config = D.DataParallelConfig(steps=4, global_batch=64, lr=0.1)
    ddp_state, losses = D.train_data_parallel(x, y, config, world_size=2)
    single, single_losses = D.train_single(x, y, config)
    assert D.max_weight_difference(ddp_state, single) < 1e-5
    # The runs moved the weights: a model that never trained is far from both.
    torch.manual_seed(config.seed)
    untrained = D.cnn(config.seed).state_dict()
    assert D.max_weight_difference(untrained, single) > 1e-3
    assert len(losses) == len(single_losses) == config.steps


def test_a_wrong_reduction_would_be_caught(digits):
    """The comparison can fail: one process on half the batch does not follow the same weights."""
    x, y = digits
    config = D.DataParallelConfig(steps=4, global_batch=64, lr=0.1)
    half = D.DataParallelConfig(steps=4, global_batch=32, lr=0.1)
    assert D.max_weight_difference(D.train_single(x, y, config)[0], D.train_single(x, y, half)[0]) > 1e-4


def test_torchrun_entry_point_matches_the_reference():
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "dlcourse.distributed", "--steps", "3", "--backend", "gloo"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "max |w_ddp - w_single|" in proc.stdout and ": match" in proc.stdout
    assert "rank 0/2" in proc.stdout and "rank 1/2" in proc.stdout


def test_shard_splits_evenly_and_refuses_otherwise():
    batch = torch.arange(12).reshape(6, 2)
    parts = [D.shard(batch, r, 3) for r in range(3)]
    assert torch.equal(torch.cat(parts), batch)
    with pytest.raises(ValueError, match=r"the global batch \(6 rows\) must split evenly over world_size=4"):
        D.shard(batch, 0, 4)
    with pytest.raises(ValueError, match=r"rank must be in \[0, 3\), got 3"):
        D.shard(batch, 3, 3)


def test_state_dicts_with_other_keys_are_refused():
    with pytest.raises(ValueError, match="the state dicts hold different tensors"):
        D.max_weight_difference({"a": torch.zeros(1)}, {"b": torch.zeros(1)})
