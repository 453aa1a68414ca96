"""The compiled scatter-add (``kernels.scatter.add_rows``) equals ``np.add.at``: the same sums in
the same order, so the same bits."""

import numpy as np
import pytest

from unrolled.fast.kernels.scatter import add_rows


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_rows_equals_add_at(dtype):
    r = np.random.default_rng(0)
    ids = r.integers(0, 7, size=50)  # repeated ids add up
    rows = r.standard_normal((50, 5)).astype(dtype)
    start = r.standard_normal((7, 5)).astype(dtype)
    want, got = start.copy(), start.copy()
    np.add.at(want, ids, rows)
    add_rows(got, ids, rows)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    add_rows(got, ids[:0], rows[:0])  # nothing to add
    np.testing.assert_array_equal(got, want)
