r"""The matrix product, the operation deep learning spends most of its time in.

:math:`C = AB` with :math:`C_{ij} = \sum_k A_{ik} B_{kj}` costs :math:`2nkm` floating-point
operations for :math:`A \in \mathbb{R}^{n \times k}`, :math:`B \in \mathbb{R}^{k \times m}`.
Chapter 1 times it three ways to show why hardware and software made deep learning practical.

Mirrored by :mod:`dlcourse.torch.linalg`.
"""

from __future__ import annotations

import numpy as np

from dlcourse.checks import check_matmul
from dlcourse.validation import as_count, as_float_array

__all__ = ["matmul", "matmul_flops", "matmul_naive"]


def matmul_flops(n: int, k: int, m: int) -> int:
    """Floating-point operations of an (n, k) @ (k, m) product: one multiply and one add per term."""
    n, k, m = (as_count(v, name, minimum=0) for v, name in ((n, "n"), (k, "k"), (m, "m")))
    return 2 * n * k * m


def matmul_naive(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Three nested Python loops: the textbook definition, one scalar at a time.

    Args:
        a: (n, k).
        b: (k, m).

    Returns:
        (n, m), float64.
    """
    a, b = check_matmul(a, b, as_float_array)
    n, k = a.shape
    m = b.shape[1]
    rows, cols = a.tolist(), b.T.tolist()  # Python floats; cols[j] is column j of b
    out = [[0.0] * m for _ in range(n)]
    for i in range(n):
        for j in range(m):
            total = 0.0
            for t in range(k):
                total += rows[i][t] * cols[j][t]
            out[i][j] = total
    return np.array(out, dtype=np.float64).reshape(n, m)  # the reshape keeps (0, m) when n is 0


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The same product through NumPy, which calls an optimised BLAS library.

    Args:
        a: (n, k).
        b: (k, m).

    Returns:
        (n, m), in the common dtype of ``a`` and ``b``.
    """
    a, b = check_matmul(a, b, as_float_array)
    return a @ b
