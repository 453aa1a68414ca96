"""The optimizers' whole-array passes (``fast.elementwise``) against NumPy, on one thread and two."""

import numpy as np
import pytest

from unrolled.fast import elementwise, threads


@pytest.fixture(params=[1, 2], ids=["one thread", "two threads"])
def thread_count(request):
    threads.set_threads(request.param)
    yield request.param
    threads.set_threads(None)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 1000, elementwise.MIN_SPLIT + 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_squares_in_float64(n, dtype, thread_count):
    a = np.random.default_rng(n).standard_normal(n).astype(dtype)
    want = float(np.sum(np.square(a.astype(np.float64))))
    assert elementwise.sum_squares(a) == pytest.approx(want, rel=1e-13, abs=0)
    assert elementwise.norm2([a, 2 * a]) == pytest.approx(np.sqrt(5 * want), rel=1e-13)


@pytest.mark.parametrize("n", [1, 9, elementwise.MIN_SPLIT + 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_scaled_and_scale_in_place(n, dtype, thread_count):
    r = np.random.default_rng(n)
    y, x = r.standard_normal(n).astype(dtype), r.standard_normal(n).astype(dtype)
    want = y - dtype(0.3) * x
    elementwise.add_scaled(y, -0.3, x)
    tol = 1e-6 if dtype == np.float32 else 1e-15
    assert y.dtype == dtype and np.allclose(y, want, rtol=tol, atol=tol)
    elementwise.scale(y, 0.5)
    assert np.allclose(y, want * dtype(0.5), rtol=tol, atol=tol)


def test_a_large_sum_is_the_same_number_on_one_thread_and_two():
    a = np.random.default_rng(3).standard_normal(3 * elementwise.MIN_SPLIT + 1).astype(np.float32)
    sums = []
    for n in (1, 2):
        threads.set_threads(n)
        sums.append(elementwise.sum_squares(a))
    threads.set_threads(None)
    assert sums[0] == sums[1]


def test_other_arrays_go_through_numpy():
    """A strided view and an integer array: the NumPy fallbacks, same results."""
    a = np.arange(40, dtype=np.float32).reshape(8, 5)[:, ::2]  # not contiguous
    assert elementwise.sum_squares(a) == float(np.sum(a.astype(np.float64) ** 2))
    y = a.copy(order="F")
    elementwise.add_scaled(y, 2.0, a)
    assert np.array_equal(y, 3 * a)
    elementwise.scale(y, 0.5)
    assert np.array_equal(y, 1.5 * a)
    assert elementwise.sum_squares(np.arange(4)) == 14.0
    with pytest.raises(ValueError):  # same size, other shape: refused as NumPy refuses it
        elementwise.add_scaled(np.zeros((2, 3), np.float32), 1.0, np.ones((3, 2), np.float32))


@pytest.mark.parametrize("n", [1, 9, elementwise.MIN_SPLIT + 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_scaled_sum_adds_two_arrays_in_one_pass(n, dtype, thread_count):
    r = np.random.default_rng(n)
    y, a, b = (r.standard_normal(n).astype(dtype) for _ in range(3))
    want = y + dtype(2.0) * (a + b)
    elementwise.add_scaled_sum(y, 2.0, a, b)
    tol = 1e-6 if dtype == np.float32 else 1e-15
    assert y.dtype == dtype and np.allclose(y, want, rtol=tol, atol=tol)
    z = np.zeros(n, dtype)
    elementwise.add_scaled_sum(z, 1.0, a, b)
    assert np.array_equal(z, a + b)  # onto zeros with alpha 1: exactly the sum


@pytest.mark.parametrize("n", [1, 8, 9, 1000, elementwise.MIN_SPLIT + 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan, None])
def test_all_finite_finds_one_bad_entry_anywhere(n, dtype, bad, thread_count):
    a = np.random.default_rng(n).standard_normal(n).astype(dtype) * dtype(1e30 if dtype == np.float32 else 1e300)
    assert elementwise.all_finite(a)  # huge but finite: x * 0 is 0, no overflow
    if bad is None:
        return
    for k in {0, n // 2, n - 1}:  # the first, a middle one (a lane, or the other half), the last (the tail)
        b = a.copy()
        b[k] = bad
        assert not elementwise.all_finite(b)
    assert not elementwise.all_finite(np.full((3, 2), bad, dtype)[:, ::2])  # a strided view: NumPy's check


@pytest.mark.parametrize("n", [1, 9, elementwise.MIN_SPLIT + 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_scaled_finite_is_add_scaled_and_the_check(n, dtype, thread_count):
    r = np.random.default_rng(n)
    y, x = r.standard_normal(n).astype(dtype), r.standard_normal(n).astype(dtype)
    want = y.copy()
    elementwise.add_scaled(want, -0.3, x)
    assert elementwise.add_scaled_finite(y, -0.3, x) and np.array_equal(y, want)  # the same values, bit for bit
    x[n - 1] = np.inf
    assert not elementwise.add_scaled_finite(y, -0.3, x)
    x[n - 1], y[0] = 0.0, np.nan
    assert not elementwise.add_scaled_finite(y, 1.0, x)


@pytest.mark.parametrize("n", [0, 1, 9, elementwise.MIN_SPLIT + 3])
def test_zero_fills_every_entry(n, thread_count):
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    elementwise.zero(y)
    assert not y.any()
    a = np.ones((4, 6))[:, ::2]  # strided: NumPy's fill
    elementwise.zero(a)
    assert not a.any()
