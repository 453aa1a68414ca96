"""Compiled Elman RNN step for the fast schedule (seed 004 eq. 1-2, 6 and 10)::

    h = phi(xw + hw + b_hh)           phi = tanh (flag 0) or relu (flag 1)
    delta = dh * phi'(h)              from the output: 1 - h^2, or 1[h > 0]

No cache: the backward needs only h, which the layer keeps.
"""

from __future__ import annotations

from numba import njit

from unrolled.fast.kernels._math import JIT, ONE, ZERO, tanh


@njit(**JIT)
def _row_forward(x, w, b, h, flag):
    if flag == 0:
        for j in range(h.shape[0]):
            h[j] = tanh(x[j] + w[j] + b[j])
    else:
        for j in range(h.shape[0]):
            h[j] = max(x[j] + w[j] + b[j], ZERO)


@njit(**JIT)
def _row_backward(dh_rec, dh_carry, dy, h, a, flag):
    for j in range(h.shape[0]):
        dhj = dh_rec[j] + dh_carry[j] + dy[j]
        if flag == 0:
            a[j] = dhj * (ONE - h[j] * h[j])  # eq. 6: backprop through tanh
        else:
            a[j] = dhj if h[j] > ZERO else ZERO  # through relu
        dh_carry[j] = ZERO


@njit(**JIT)
def forward_step(xw, hw, b, h_prev, c_prev, h, c, cache, flag, lo, hi):
    for r in range(lo, hi):
        _row_forward(xw[r], hw[r], b, h[r], flag)


@njit(**JIT)
def backward_step(dh_rec, dh_carry, dy, dc, cache, h, h_prev, c_prev, da, da_h, flag, lo, hi):
    for r in range(lo, hi):
        _row_backward(dh_rec[r], dh_carry[r], dy[r], h[r], da[r], flag)
