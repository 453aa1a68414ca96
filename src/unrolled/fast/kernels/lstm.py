"""Compiled LSTM gate math for the fast schedule (the equations of ``unrolled.nn.cells.lstm``).

Per step, with ``xw = W_ih x + b_ih`` and ``hw = W_hh h_prev`` already formed by GEMMs::

    i, f, o = sigmoid(xw + hw + b_hh)        g = tanh(...)        (rows i | f | g | o)
    c = f * c_prev + i * g                   h = o * tanh(c)

``cache`` (B, 5H) keeps i, f, g, o, tanh(c) for the backward. Only the rows still running are
given (rows lo:hi); the time loop (``kernels.loops``) keeps the state of the others.

The gate math works on one batch row at a time, on contiguous 1-D slices: in that form LLVM
turns the loop into SIMD code (indexing the 2-D arrays directly, it does not).
"""

from __future__ import annotations

from numba import njit

from unrolled.fast.kernels._math import JIT, ONE, ZERO, sigmoid, tanh


@njit(**JIT)
def _row_forward(x, w, b, cp, h, c, k):
    """The gates first, then the cell: two loops, each with short chains of dependent
    operations, run faster than one (a loop step that waits on tanh(g) for c, then on tanh(c)
    for h, leaves the core idle)."""
    H = cp.shape[0]
    for j in range(H):
        k[j] = sigmoid(x[j] + w[j] + b[j])  # i
        k[H + j] = sigmoid(x[H + j] + w[H + j] + b[H + j])  # f
        k[2 * H + j] = tanh(x[2 * H + j] + w[2 * H + j] + b[2 * H + j])  # g
        k[3 * H + j] = sigmoid(x[3 * H + j] + w[3 * H + j] + b[3 * H + j])  # o
    for j in range(H):
        cj = k[H + j] * cp[j] + k[j] * k[2 * H + j]  # c = f * c_prev + i * g
        tc = tanh(cj)
        c[j] = cj
        h[j] = k[3 * H + j] * tc  # h = o * tanh(c)
        k[4 * H + j] = tc


@njit(**JIT)
def _row_backward(dh_rec, dh_carry, dy, dc, k, cp, a):
    H = cp.shape[0]
    for j in range(H):
        i, f, g, o, tc = k[j], k[H + j], k[2 * H + j], k[3 * H + j], k[4 * H + j]
        dhj = dh_rec[j] + dh_carry[j] + dy[j]
        dcj = dc[j] + dhj * o * (ONE - tc * tc)  # through h = o * tanh(c)
        a[j] = dcj * g * i * (ONE - i)  # di, through sigmoid
        a[H + j] = dcj * cp[j] * f * (ONE - f)  # df
        a[2 * H + j] = dcj * i * (ONE - g * g)  # dg, through tanh
        a[3 * H + j] = dhj * tc * o * (ONE - o)  # do
        dc[j] = dcj * f  # c = f * c_prev + i * g
        dh_carry[j] = ZERO


@njit(**JIT)
def forward_step(xw, hw, b, h_prev, c_prev, h, c, cache, flag, lo, hi):
    for r in range(lo, hi):
        _row_forward(xw[r], hw[r], b, c_prev[r], h[r], c[r], cache[r])


@njit(**JIT)
def backward_step(dh_rec, dh_carry, dy, dc, cache, h, h_prev, c_prev, da, da_h, flag, lo, hi):
    """dh = dh_rec (through W_hh, from step t+1) + dh_carry + dy. Writes da (B, 4H), the
    gradient of the pre-activations (the recurrent ones, da_h, are the same array here);
    updates dh_carry (the part of dh_prev that bypasses W_hh) and dc (-> dc_prev) in place."""
    for r in range(lo, hi):
        _row_backward(dh_rec[r], dh_carry[r], dy[r], dc[r], cache[r], c_prev[r], da[r])
