r"""The matrix product in PyTorch, mirroring :mod:`dlcourse.numpy.linalg`.

On a GPU, :func:`matmul` runs on thousands of cores; :func:`matmul_naive` shows that
looping over tensor elements from Python is as slow as looping over lists.
"""

from __future__ import annotations

import torch

from dlcourse.checks import check_matmul
from dlcourse.numpy.linalg import matmul_flops
from dlcourse.validation import as_float_tensor

__all__ = ["matmul", "matmul_flops", "matmul_naive"]


def matmul_naive(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Three nested Python loops over tensor elements; (n, k) @ (k, m) -> (n, m)."""
    a, b = check_matmul(a, b, as_float_tensor)
    n, k = a.shape
    m = b.shape[1]
    out = torch.zeros(n, m, dtype=torch.promote_types(a.dtype, b.dtype), device=a.device)
    for i in range(n):
        for j in range(m):
            total = 0.0
            for t in range(k):
                total += a[i, t] * b[t, j]
            out[i, j] = total
    return out


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` on the device of the inputs; (n, k) @ (k, m) -> (n, m)."""
    a, b = check_matmul(a, b, as_float_tensor)
    return a @ b
