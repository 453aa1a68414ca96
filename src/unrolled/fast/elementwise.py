"""Whole-array passes for the optimizers and the gradient clip (``kernels.passes``), on our two threads
where an array is large enough to pay for it.

Each function takes any array; a C-contiguous one of float32 or float64 goes through the
compiled pass (as a flat view, cut in two halves over ``threads.over_rows`` when it holds
``MIN_SPLIT`` elements or more and two cores are free), anything else through NumPy.
"""

from __future__ import annotations

import math

import numpy as np

from unrolled.fast import threads
from unrolled.fast.kernels import passes

MIN_SPLIT = 1 << 18  # elements below which one thread does the pass faster than two


def _flat(a: np.ndarray) -> np.ndarray | None:
    """a as a 1-D view the passes take, or None (another dtype, or not contiguous)."""
    if a.dtype in (np.float32, np.float64) and a.flags.c_contiguous:
        return a.reshape(-1)
    return None


def _over(job, n: int) -> list:
    """[job(lo, hi)] over [0, n): one range below ``MIN_SPLIT``, else always the same two halves,
    on our two threads where two cores are free and one after the other where not, so that a sum
    is the same number whatever the load."""
    if n < MIN_SPLIT:
        return [job(0, n)]
    if threads.threads_now() < 2:
        return [job(0, n // 2), job(n // 2, n)]
    out = [None, None]

    def half(lo, hi):
        out[lo > 0] = job(lo, hi)

    threads.over_rows(half, n)
    return out


def sum_squares(a: np.ndarray) -> float:
    """sum of a's squares, summed in float64."""
    f = _flat(a)
    if f is None:
        return float(np.sum(np.square(a, dtype=np.float64)))
    return float(sum(_over(lambda lo, hi: passes.sum_squares(f, lo, hi), f.size)))


def add_scaled(y: np.ndarray, alpha: float, x: np.ndarray) -> None:
    """y += alpha * x in place, alpha rounded to y's dtype first; each entry one fused
    multiply-add (one rounding, where NumPy's ``y += alpha * x`` rounds the product too)."""
    fy, fx = _flat(y), _flat(x)
    if fy is None or fx is None or fx.dtype != fy.dtype or x.shape != y.shape:
        y += y.dtype.type(alpha) * x
        return
    a = fy.dtype.type(alpha)
    _over(lambda lo, hi: passes.add_scaled(fy, a, fx, lo, hi), fy.size)


def add_scaled_finite(y: np.ndarray, alpha: float, x: np.ndarray) -> bool:
    """``add_scaled``, then whether every entry of y is finite, in the same pass over y."""
    fy, fx = _flat(y), _flat(x)
    if fy is None or fx is None or fx.dtype != fy.dtype or x.shape != y.shape:
        add_scaled(y, alpha, x)
        return bool(np.isfinite(y).all())
    a = fy.dtype.type(alpha)
    return all(_over(lambda lo, hi: passes.add_scaled_finite(fy, a, fx, lo, hi), fy.size))


def add_scaled_sum(y: np.ndarray, alpha: float, a: np.ndarray, b: np.ndarray) -> None:
    """y += alpha * (a + b) in place, alpha rounded to y's dtype: one pass over y where two
    ``add_scaled`` calls would read and write it twice."""
    fy, fa, fb = _flat(y), _flat(a), _flat(b)
    if fy is None or fa is None or fb is None or not (fa.dtype == fb.dtype == fy.dtype) or \
            not (a.shape == b.shape == y.shape):
        y += y.dtype.type(alpha) * (a + b)
        return
    s = fy.dtype.type(alpha)
    _over(lambda lo, hi: passes.add_scaled_sum(fy, s, fa, fb, lo, hi), fy.size)


def all_finite(a: np.ndarray) -> bool:
    """Is every entry of a finite (no inf, no nan)? As ``np.isfinite(a).all()``, in one read."""
    f = _flat(a)
    if f is None:
        return bool(np.isfinite(a).all())
    return all(_over(lambda lo, hi: passes.all_finite(f, lo, hi), f.size))


def zero(y: np.ndarray) -> None:
    """y[...] = 0 in place (a gradient before the backward adds into it), both halves of a large
    array at once: one core alone does not fill memory as fast as two."""
    f = _flat(y)
    if f is None:
        y.fill(0)
        return
    _over(lambda lo, hi: passes.zero(f, lo, hi), f.size)


def scale(y: np.ndarray, alpha: float) -> None:
    """y *= alpha in place."""
    f = _flat(y)
    if f is None:
        y *= alpha
        return
    a = f.dtype.type(alpha)
    _over(lambda lo, hi: passes.scale(f, a, lo, hi), f.size)


def norm2(arrays) -> float:
    """The joint 2-norm of some arrays, their squares summed in float64."""
    return math.sqrt(sum(sum_squares(a) for a in arrays))
