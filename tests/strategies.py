"""Hypothesis strategies shared by the exercise tests: anything a learner might hand a checker."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


def raises_boom(*args):
    """A learner function that crashes."""
    raise RuntimeError("boom")


garbage = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
    st.just(raises_boom),
    st.just(lambda *a: "not a number"),
    st.just(lambda *a: np.full(17, np.nan)),
    st.just(lambda *a: [[1, 2], [3]]),  # ragged
    st.just(lambda *a: {"a": 1}),
    st.just(lambda *a: np.ones((7, 7, 7))),
    st.just(lambda: 0),  # wrong arity
)
