"""The whole time loop compiled: the recurrent product by NumPy's BLAS called from compiled
code (``_blas.gemm``), or, with ``use_blas`` False, by the kernels' own small ``matmul_into``.

One loop serves every cell: ``code`` picks the cell's step (numba caches neither closures nor
functions passed as arguments, so the choice is a branch, not a parameter).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import gru, lstm, rnn
from ._blas import gemm
from ._math import JIT

LSTM, GRU, RNN = 0, 1, 2


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
def forward_loop(code, xw, W_hhT, b, hs, cs, cache, masks, reverse, flag, lo, hi, use_blas):
    """xw (T, B, GH), W_hhT (H, GH), hs / cs (T+1, B, H) in processing order; cache is
    (T, B, width) or (1, B, width) when nothing is kept. Only batch rows lo:hi are computed
    (rows never interact)."""
    T = xw.shape[0]
    hw = np.empty((xw.shape[1], xw.shape[2]), dtype=xw.dtype)
    for s in range(T):
        t = T - 1 - s if reverse else s
        gemm(hs[s], W_hhT, hw, lo, hi, use_blas)  # (B, GH)
        _forward_step(code, xw[t], hw, b, hs[s], cs[s], hs[s + 1], cs[s + 1],
                      cache[min(s, cache.shape[0] - 1)], masks[t], flag, lo, hi)


@njit(**JIT)
def backward_loop(code, dy, dh_rec, dh_carry, dc, cache, hs, cs, W_hh, masks, reverse, da, da_h, flag, lo, hi,
                  use_blas):
    T = dy.shape[0]
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        _backward_step(code, dh_rec, dh_carry, dy[t], dc, cache[s], hs[s + 1], hs[s], cs[s], masks[t],
                       da[t], da_h[t], flag, lo, hi)
        gemm(da_h[t], W_hh, dh_rec, lo, hi, use_blas)  # (B, H): back through the recurrent product
