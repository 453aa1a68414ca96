"""The compiled kernels' scalar math (``kernels._math``) against NumPy's."""

import numpy as np
import pytest
from numba import njit

from unrolled.fast.kernels._math import sigmoid, tanh


@njit
def _apply(f, x):  # pragma: no cover - compiled
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = f(x[i])
    return out


@njit
def _tanh(x):  # pragma: no cover - compiled
    return tanh(x)


@njit
def _sigmoid(x):  # pragma: no cover - compiled
    return sigmoid(x)


def _points(dtype):
    grid = np.linspace(-30, 30, 600_001)
    tiny = np.logspace(-300 if dtype == np.float64 else -30, 1.5, 20_000)  # float32: clear of subnormals
    return np.concatenate([grid, tiny, -tiny, [0.0, 0.625, np.nextafter(0.625, 0), 19.0, 20.0, 21.0]]).astype(dtype)


@pytest.mark.parametrize("dtype, bound", [(np.float64, 1e-15), (np.float32, 4e-7)])
def test_tanh_to_a_few_units_in_the_last_place(dtype, bound):
    """float64: Cephes' rational form below |x| = 0.625, 1 - 2 / (exp(2|x|) + 1) above, both
    branch-free; float32: Eigen's rational approximation. Relative to float64 libm's tanh."""
    x = _points(dtype)
    got = _apply(_tanh, x).astype(np.float64)
    want = np.tanh(x.astype(np.float64))
    rel = np.abs(got - want) / np.maximum(np.abs(want), np.finfo(dtype).tiny)
    assert rel.max() < bound, f"worst at x = {x[rel.argmax()]!r}: {rel.max():.2e}"
    assert np.array_equal(np.sign(got), np.sign(want)) and np.all(np.abs(got) <= 1)


def test_sigmoid_in_float64_to_round_off_where_it_is_not_tiny():
    x = np.linspace(-30, 30, 100_001)
    want = 1 / (1 + np.exp(-x))
    assert np.allclose(_apply(_sigmoid, x), want, rtol=1e-14, atol=1e-16)
