"""Compiled LSTM gate math for the fast schedule (the equations of ``unrolled.cells.lstm``).

Per step, with ``xw = W_ih x + b_ih`` and ``hw = W_hh h_prev`` already formed by GEMMs::

    i, f, o = sigmoid(xw + hw + b_hh)        g = tanh(...)        (rows i | f | g | o)
    c = f * c_prev + i * g                   h = o * tanh(c)

``cache`` (B, 5H) keeps i, f, g, o, tanh(c) for the backward. A row whose mask is 0 (its
sequence has ended) keeps its state and passes its gradient straight through.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._math import JIT, matmul_into, sigmoid, tanh


@njit(**JIT)
def forward_step(xw, hw, b, h_prev, c_prev, h, c, cache, m, flag):
    B, H = h_prev.shape
    for r in range(B):
        if m[r] == 0:
            h[r] = h_prev[r]
            c[r] = c_prev[r]
            continue
        x, w, k, cp, hr, cr = xw[r], hw[r], cache[r], c_prev[r], h[r], c[r]
        for j in range(H):
            i = sigmoid(x[j] + w[j] + b[j])
            f = sigmoid(x[H + j] + w[H + j] + b[H + j])
            g = tanh(x[2 * H + j] + w[2 * H + j] + b[2 * H + j])
            o = sigmoid(x[3 * H + j] + w[3 * H + j] + b[3 * H + j])
            cj = f * cp[j] + i * g
            tc = tanh(cj)
            cr[j] = cj
            hr[j] = o * tc
            k[j], k[H + j], k[2 * H + j], k[3 * H + j], k[4 * H + j] = i, f, g, o, tc


@njit(**JIT)
def backward_step(dh_rec, dh_carry, dy, dc, cache, h, h_prev, c_prev, m, da, da_h, flag):
    """dh = dh_rec (through W_hh, from step t+1) + dh_carry + dy. Writes da (B, 4H), the
    gradient of the pre-activations (the recurrent ones, da_h, are the same array here);
    updates dh_carry (the part of dh_prev that bypasses W_hh) and dc (-> dc_prev) in place."""
    B, H = dc.shape
    for r in range(B):
        if m[r] == 0:  # an ended sequence: gradient passes straight through
            for j in range(H):
                dh_carry[r, j] += dh_rec[r, j]
            da[r] = 0.0
            continue
        k, cp, a = cache[r], c_prev[r], da[r]
        for j in range(H):
            i, f, g, o, tc = k[j], k[H + j], k[2 * H + j], k[3 * H + j], k[4 * H + j]
            dhj = dh_rec[r, j] + dh_carry[r, j] + dy[r, j]
            dcj = dc[r, j] + dhj * o * (1.0 - tc * tc)  # through h = o * tanh(c)
            a[j] = dcj * g * i * (1.0 - i)  # di, through sigmoid
            a[H + j] = dcj * cp[j] * f * (1.0 - f)  # df
            a[2 * H + j] = dcj * i * (1.0 - g * g)  # dg, through tanh
            a[3 * H + j] = dhj * tc * o * (1.0 - o)  # do
            dc[r, j] = dcj * f  # c = f * c_prev + i * g
            dh_carry[r, j] = 0.0


@njit(**JIT)
def forward_loop(xw, W_hhT, b, hs, cs, cache, masks, reverse, flag):
    """The whole time loop compiled, for shapes where per-step Python overhead dominates.
    cache is (T, B, 5H), or (1, B, 5H) when nothing is kept."""
    T = xw.shape[0]
    hw = np.empty((xw.shape[1], xw.shape[2]), dtype=xw.dtype)
    for s in range(T):
        t = T - 1 - s if reverse else s
        matmul_into(hs[s], W_hhT, hw)  # (B, 4H)
        forward_step(xw[t], hw, b, hs[s], cs[s], hs[s + 1], cs[s + 1], cache[min(s, cache.shape[0] - 1)],
                     masks[t], flag)


@njit(**JIT)
def backward_loop(dy, dh_rec, dh_carry, dc, cache, hs, cs, W_hh, masks, reverse, da, da_h, flag):
    T = dy.shape[0]
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        backward_step(dh_rec, dh_carry, dy[t], dc, cache[s], hs[s + 1], hs[s], cs[s], masks[t],
                      da[t], da_h[t], flag)
        matmul_into(da_h[t], W_hh, dh_rec)  # (B, H): back through the recurrent GEMM

