"""The compiled kernels' scalar math (``kernels._math``) against NumPy's."""

import numpy as np
import pytest
from numba import njit

from unrolled.fast.kernels import softmax
from unrolled.fast.kernels._math import expf, sigmoid, tanh


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


@njit
def _expf(x):  # pragma: no cover - compiled
    return expf(x)


def test_expf_to_about_one_unit_in_the_last_place():
    x = np.concatenate([np.linspace(-87, 88, 1_000_001), np.linspace(-1e-3, 1e-3, 1001)]).astype(np.float32)
    got = _apply(_expf, x).astype(np.float64)
    want = np.exp(x.astype(np.float64))
    assert (np.abs(got - want) / want).max() < 2e-7
    assert _expf(np.float32(-1000.0)) < 2e-38 and _expf(np.float32(0.0)) == 1.0


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("V", [1, 13, 10_000])
def test_cross_entropy_rows_against_numpy(dtype, tol, bias, V):
    """l_n = logsumexp(z_n + b) - (z_n + b)_c; in training z -> (softmax - onehot) * scale and
    db += its column sums; in evaluation z -> exp(z - max), db untouched."""
    r = np.random.default_rng(V)
    C = 7
    z = (4 * r.standard_normal((C, V))).astype(dtype)
    b = r.standard_normal(V).astype(dtype) if bias else np.empty(0, dtype)
    t = r.integers(0, V, C)
    zz = z.astype(np.float64) + (b if bias else 0)
    m = zz.max(axis=1, keepdims=True)
    e = np.exp(zz - m)
    want_nll = np.log(e.sum(axis=1)) - (zz - m)[np.arange(C), t]
    want_dz = e / e.sum(axis=1, keepdims=True)
    want_dz[np.arange(C), t] -= 1
    want_dz *= 0.25
    db0 = r.standard_normal(V).astype(dtype)

    train, nll, db = z.copy(), np.empty(C), db0.copy()
    softmax.cross_entropy_rows(train, b, t, nll, 0.25, db)
    assert np.allclose(nll, want_nll, rtol=tol, atol=tol)
    assert np.allclose(train, want_dz, rtol=tol, atol=tol * 1e-2)
    assert np.allclose(db, db0 + want_dz.sum(axis=0), rtol=tol, atol=tol * 1e-2)

    evaluate, nll2, untouched = z.copy(), np.empty(C), db0.copy()
    softmax.cross_entropy_rows(evaluate, b, t, nll2, 0.0, untouched)
    assert np.array_equal(nll2, nll) and np.array_equal(untouched, db0)
    assert np.allclose(evaluate, e, rtol=tol, atol=tol)
