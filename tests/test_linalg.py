"""The three matrix products agree, and the FLOP count is 2nkm."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from dlcourse.numpy import linalg as npl
from dlcourse.torch import linalg as thl


@given(n=st.integers(1, 6), k=st.integers(1, 6), m=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_all_products_agree(n, k, m, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, k)), rng.normal(size=(k, m))
    expected = a @ b
    np.testing.assert_allclose(npl.matmul_naive(a, b), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(npl.matmul(a, b), expected, rtol=1e-12, atol=1e-12)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    np.testing.assert_allclose(thl.matmul(ta, tb).numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(thl.matmul_naive(ta, tb).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_flops():
    assert npl.matmul_flops(2, 3, 4) == 48
    assert thl.matmul_flops is npl.matmul_flops
