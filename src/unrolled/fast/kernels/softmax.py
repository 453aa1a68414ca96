"""Compiled softmax cross-entropy over rows of logits, in place: the elementwise half of the fused
output layer (``unrolled.nn.linear_cross_entropy``, whose docstring has the equations).

Per row n of logits z (V,) already formed by BLAS (z_n = W h_n), with bias b and target c_n::

    z_n += b;  m_n = max_v z_n,v
    e = exp(z_n - m_n) (into z_n);  s_n = sum_v e_v
    l_n = log s_n - (z_n,c_n - m_n)
    training: dz_n = (e / s_n - onehot(c_n)) * scale (into z_n);  db += dz_n

A row of V = 10,000 floats (40 kB) stays in the first- or second-level cache across these
passes, so a chunk of logits is read from memory once and written once; NumPy's version made
seven passes over the whole chunk, out of cache (``python bench/ptb_torch.py``). Each pass is a
loop LLVM vectorises: maxima and sums over eight partial results written out (a single running
maximum or sum is a chain it may not reorder), so their order is fixed; exp is ``_math.expf``
in float32 (np.exp, libm's, in float64). The float32 sums of exp over V = 10,000 terms are off
by about 1e-6 relative at most: 1e-6 nats in l_n.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from unrolled.fast.kernels._math import JIT, expf


def _exp(x):  # pragma: no cover - replaced by the overload inside compiled code
    return np.exp(x)


@overload(_exp, jit_options=JIT)
def _exp_impl(x):
    if x == types.float32:
        return lambda x: expf(x)
    return lambda x: np.exp(x)


@njit(inline="always", **JIT)
def _max(row):
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = row[0]
    n = row.shape[0] // 8 * 8
    for v in range(0, n, 8):
        m0, m1, m2, m3 = max(m0, row[v]), max(m1, row[v + 1]), max(m2, row[v + 2]), max(m3, row[v + 3])
        m4, m5, m6, m7 = max(m4, row[v + 4]), max(m5, row[v + 5]), max(m6, row[v + 6]), max(m7, row[v + 7])
    m = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
    for v in range(n, row.shape[0]):
        m = max(m, row[v])
    return m


@njit(inline="always", **JIT)
def _sum(row):
    zero = row.dtype.type(0)
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
    n = row.shape[0] // 8 * 8
    for v in range(0, n, 8):
        s0, s1, s2, s3 = s0 + row[v], s1 + row[v + 1], s2 + row[v + 2], s3 + row[v + 3]
        s4, s5, s6, s7 = s4 + row[v + 4], s5 + row[v + 5], s6 + row[v + 6], s7 + row[v + 7]
    s = np.float64(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)))
    for v in range(n, row.shape[0]):
        s += np.float64(row[v])
    return s


@njit(**JIT)
def cross_entropy_rows(z, b, targets, nll, scale, db):
    """z (C, V) logits without bias; b (V,) the bias, or (0,) for none; targets (C,) in [0, V);
    nll (C,) float64 gets l_n. With ``scale`` > 0 (training) z becomes dz = (softmax - onehot)
    * scale and db (V,) += its column sums; with scale = 0, z is left as exp(z - m), db untouched."""
    C, V = z.shape
    for n in range(C):
        row = z[n]
        if b.shape[0] > 0:
            for v in range(V):
                row[v] += b[v]
        m = _max(row)
        zc = np.float64(row[targets[n]] - m)
        for v in range(V):
            row[v] = _exp(row[v] - m)
        s = _sum(row)
        nll[n] = np.log(s) - zc
        if scale > 0:
            k = row.dtype.type(scale / s)
            for v in range(V):
                row[v] *= k
            row[targets[n]] -= row.dtype.type(scale)
            for v in range(V):
                db[v] += row[v]
