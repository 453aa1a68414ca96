"""Compiled Elman RNN step for the fast schedule (seed 004 eq. 1-2, 6 and 10)::

    h = phi(xw + hw + b_hh)           phi = tanh (flag 0) or relu (flag 1)
    delta = dh * phi'(h)              from the output: 1 - h^2, or 1[h > 0]

No cache: the backward needs only h, which the layer keeps. The loop functions repeat those
of ``kernels.lstm`` (see ``kernels.gru`` for why).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._math import JIT, matmul_into, tanh


@njit(**JIT)
def forward_step(xw, hw, b, h_prev, c_prev, h, c, cache, m, flag):
    B, H = h_prev.shape
    for r in range(B):
        if m[r] == 0:
            h[r] = h_prev[r]
            continue
        x, w, hr = xw[r], hw[r], h[r]
        if flag == 0:
            for j in range(H):
                hr[j] = tanh(x[j] + w[j] + b[j])
        else:
            for j in range(H):
                hr[j] = max(x[j] + w[j] + b[j], 0.0)


@njit(**JIT)
def backward_step(dh_rec, dh_carry, dy, dc, cache, h, h_prev, c_prev, m, da, da_h, flag):
    B, H = h_prev.shape
    for r in range(B):
        if m[r] == 0:
            for j in range(H):
                dh_carry[r, j] += dh_rec[r, j]
            da[r] = 0.0
            continue
        hr, a = h[r], da[r]
        for j in range(H):
            dhj = dh_rec[r, j] + dh_carry[r, j] + dy[r, j]
            if flag == 0:
                a[j] = dhj * (1.0 - hr[j] * hr[j])  # eq. 6: backprop through tanh
            else:
                a[j] = dhj if hr[j] > 0 else 0.0  # through relu
            dh_carry[r, j] = 0.0


@njit(**JIT)
def forward_loop(xw, W_hhT, b, hs, cs, cache, masks, reverse, flag):
    T = xw.shape[0]
    hw = np.empty((xw.shape[1], xw.shape[2]), dtype=xw.dtype)
    for s in range(T):
        t = T - 1 - s if reverse else s
        matmul_into(hs[s], W_hhT, hw)
        forward_step(xw[t], hw, b, hs[s], cs[s], hs[s + 1], cs[s + 1], cache[min(s, cache.shape[0] - 1)],
                     masks[t], flag)


@njit(**JIT)
def backward_loop(dy, dh_rec, dh_carry, dc, cache, hs, cs, W_hh, masks, reverse, da, da_h, flag):
    T = dy.shape[0]
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        backward_step(dh_rec, dh_carry, dy[t], dc, cache[s], hs[s + 1], hs[s], cs[s], masks[t],
                      da[t], da_h[t], flag)
        matmul_into(da_h[t], W_hh, dh_rec)
