"""The whole time loop compiled: per step, the recurrent product and the cell's gate math.

The product is taken one of two ways (``how``): ``SMALL``, the kernels' own ``matmul_into``
(tiny steps, where any call costs more than it saves); ``PACKED``, the register-tiled product
on weights packed once per call (``packed.gemm``).

One loop serves every cell: ``code`` picks the cell's step (numba caches neither closures nor
functions passed as arguments, so the choice is a branch, not a parameter).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from unrolled.fast.kernels import gru, lstm, packed, rnn
from unrolled.fast.kernels._math import JIT, matmul_into

LSTM, GRU, RNN = 0, 1, 2
SMALL, PACKED = 0, 1


@njit(**JIT)
def _product(A, M, P, out, lo, hi, how):
    """out[lo:hi] = A[lo:hi] @ M; P is M packed (``packed.pack``) when how is PACKED."""
    if how == PACKED:
        packed.gemm(A, P, out, lo, hi)
    else:
        matmul_into(A, M, out, lo, hi)


@njit(**JIT)
def _forward_step(code, xw, hw, b, h_prev, c_prev, h, c, cache, m, flag, lo, hi):
    if code == LSTM:
        lstm.forward_step(xw, hw, b, h_prev, c_prev, h, c, cache, m, flag, lo, hi)
    elif code == GRU:
        gru.forward_step(xw, hw, b, h_prev, c_prev, h, c, cache, m, flag, lo, hi)
    else:
        rnn.forward_step(xw, hw, b, h_prev, c_prev, h, c, cache, m, flag, lo, hi)


@njit(**JIT)
def _backward_step(code, dh_rec, dh_carry, dy, dc, cache, h, h_prev, c_prev, m, da, da_h, flag, lo, hi):
    if code == LSTM:
        lstm.backward_step(dh_rec, dh_carry, dy, dc, cache, h, h_prev, c_prev, m, da, da_h, flag, lo, hi)
    elif code == GRU:
        gru.backward_step(dh_rec, dh_carry, dy, dc, cache, h, h_prev, c_prev, m, da, da_h, flag, lo, hi)
    else:
        rnn.backward_step(dh_rec, dh_carry, dy, dc, cache, h, h_prev, c_prev, m, da, da_h, flag, lo, hi)


@njit(**JIT)
def forward_loop(code, xw, W_hhT, P, b, hs, cs, cache, masks, reverse, flag, lo, hi, how):
    """xw (T, B, GH), W_hhT (H, GH) and P, its packed form; hs / cs (T+1, B, H) in processing
    order; cache is (T, B, width) or (1, B, width) when nothing is kept. Only batch rows lo:hi
    are computed (rows never interact)."""
    T = xw.shape[0]
    hw = np.empty((xw.shape[1], xw.shape[2]), dtype=xw.dtype)
    for s in range(T):
        t = T - 1 - s if reverse else s
        _product(hs[s], W_hhT, P, hw, lo, hi, how)  # (B, GH): the recurrent product
        _forward_step(code, xw[t], hw, b, hs[s], cs[s], hs[s + 1], cs[s + 1],
                      cache[min(s, cache.shape[0] - 1)], masks[t], flag, lo, hi)


@njit(**JIT)
def backward_loop(code, dy, dh_rec, dh_carry, dc, cache, hs, cs, W_hh, P, masks, reverse, da, da_h, flag, lo, hi,
                  how):
    """BPTT for ``forward_loop``: W_hh (GH, H) and P, its packed form."""
    T = dy.shape[0]
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        _backward_step(code, dh_rec, dh_carry, dy[t], dc, cache[s], hs[s + 1], hs[s], cs[s], masks[t],
                       da[t], da_h[t], flag, lo, hi)
        _product(da_h[t], W_hh, P, dh_rec, lo, hi, how)  # (B, H): back through the recurrent product
