"""Compiled passes over a whole parameter or gradient: the optimizer's and the gradient clip's.

A training step of a word-level language model touches every one of its ~5M parameters and
gradients several times after the backward: the gradient norm, the clip and the update. In
NumPy each is one or more passes over memory and a temporary as large as the array (``np.sum(np.square(g), dtype=np.float64)`` writes the squares,
then reads them; ``p -= lr * g`` writes ``lr * g`` first): on Zaremba's small PTB model those
passes took about 10 ms of a 57 ms step (``python bench/ptb_torch.py``, profiled).
Here each is one pass with no temporary, over a 1-D range lo:hi so that two threads can share
an array (``unrolled.fast.elementwise``).

Sums run in eight float64 partial sums, one per lane, so that LLVM vectorises them (a single
running sum is a chain it must not reorder), in a fixed order: the same number for the same range
(``elementwise`` always cuts a large array into the same two halves, whatever the threads).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from unrolled.fast.kernels._math import JIT

LANES = 8


@njit(**JIT)
def sum_squares(a, lo, hi):
    """sum of a[k]^2 for k in lo:hi, in float64 (a 1-D)."""
    acc = np.zeros(LANES, dtype=np.float64)
    n = lo + (hi - lo) // LANES * LANES
    for k in range(lo, n, LANES):
        for j in range(LANES):
            v = np.float64(a[k + j])
            acc[j] += v * v
    total = 0.0
    for k in range(n, hi):
        v = np.float64(a[k])
        total += v * v
    for j in range(LANES):
        total += acc[j]
    return total


@njit(**JIT)
def add_scaled(y, alpha, x, lo, hi):
    """y[lo:hi] += alpha * x[lo:hi] in place (y, x 1-D of one dtype; alpha in their dtype), each a
    fused multiply-add (``contract``)."""
    for k in range(lo, hi):
        y[k] += alpha * x[k]


@njit(**JIT)
def scale(y, alpha, lo, hi):
    """y[lo:hi] *= alpha in place."""
    for k in range(lo, hi):
        y[k] *= alpha


@njit(**JIT)
def add_scaled_sum(y, alpha, a, b, lo, hi):
    """y[lo:hi] += alpha * (a[lo:hi] + b[lo:hi]) in place: two arrays added in one pass over y."""
    for k in range(lo, hi):
        y[k] += alpha * (a[k] + b[k])


@njit(**JIT)
def all_finite(a, lo, hi):
    """Is every a[k], k in lo:hi, finite? ``x * 0`` is 0 for a finite x and nan for inf or nan,
    so the lanes' sums of it are 0 exactly when all are: a vectorised read with no temporary
    (NumPy's ``np.isfinite(a).all()`` writes a boolean array as large as a, then reads it)."""
    zero = a.dtype.type(0)
    acc = np.zeros(LANES, dtype=a.dtype)
    n = lo + (hi - lo) // LANES * LANES
    for k in range(lo, n, LANES):
        for j in range(LANES):
            acc[j] += a[k + j] * zero
    total = zero
    for k in range(n, hi):
        total += a[k] * zero
    for j in range(LANES):
        total += acc[j]
    return total == 0


@njit(**JIT)
def add_scaled_finite(y, alpha, x, lo, hi):
    """``add_scaled`` that also says whether every y[k] it wrote is finite (``all_finite``'s
    test on the values as they are written): an optimizer's update and the engine's check of
    its result in one pass over the parameter."""
    zero = y.dtype.type(0)
    acc = np.zeros(LANES, dtype=y.dtype)
    n = lo + (hi - lo) // LANES * LANES
    for k in range(lo, n, LANES):
        for j in range(LANES):
            v = y[k + j] + alpha * x[k + j]
            y[k + j] = v
            acc[j] += v * zero
    total = zero
    for k in range(n, hi):
        v = y[k] + alpha * x[k]
        y[k] = v
        total += v * zero
    for j in range(LANES):
        total += acc[j]
    return total == 0


@njit(**JIT)
def zero(y, lo, hi):
    """y[lo:hi] = 0 in place."""
    z = y.dtype.type(0)
    for k in range(lo, hi):
        y[k] = z
