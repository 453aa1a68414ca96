"""One time step of a whole stack, compiled: for streaming, one observation at a time.

A layer's ``forward`` is built for sequences: its GEMMs are hoisted out of the time loop, which
pays off over T steps and costs a dozen array allocations and calls per layer when T = 1. A
stream of single observations wants the opposite: every layer's step in one compiled call on
weights laid out once, the state updated in place::

    for l in 0 .. L-1:
        in_l   = x                        (l = 0)
               = out_{l-1}                (l > 0)
        xw     = in_l W_ih_l^T + b_x      (B, G*H)   b_x = b_ih (GRU), else 0
        hw     = h_l W_hh_l^T             (B, G*H)
        h_l, c_l <- the cell's gate math (kernels.lstm / gru / rnn ``forward_step``, bias b_h)
        out_l  = h_l (+ in_l in a residual stack, l > 0)

The gate math is the time loop's own (``forward_step``), so a stream and a sequence give the
same numbers; the products are the kernels' small product (``matmul_into``), fastest at the
batch of one a stream has. One compiled function per cell, as in ``loops``.
"""

from __future__ import annotations

from numba import njit

from unrolled.fast.kernels import gru, loops, lstm, rnn
from unrolled.fast.kernels._math import JIT, copy_into, matmul_into

_MADE: dict = {}


def stack_step(code: int):
    """The compiled step of a stack of cell ``code`` (``loops.LSTM`` / ``GRU`` / ``RNN``)::

        step(x, W0T, WT, WhT, xb, hb, h, c, out, xw, hw, h_new, c_new, cache, flag, residual)

    x (B, D); W0T (D, GH) the first layer's W_ih^T; WT (max(L-1, 1), H, GH) the others';
    WhT (L, H, GH); xb, hb (L, GH); h, c (L, B, H), updated in place (c unused without a cell
    state); out (B, H), the top layer's output; xw, hw (B, GH), h_new, c_new (B, H) and cache
    (B, width) scratch."""
    if code not in _MADE:
        _MADE[code] = _make(code)
    return _MADE[code]


def _make(code: int, sources: int = loops.SOURCES):
    @njit(**JIT)
    def step(x, W0T, WT, WhT, xb, hb, h, c, out, xw, hw, h_new, c_new, cache, flag, residual):
        if sources < 0:  # never: it keys the cache (``loops._sources``)
            return
        B, GH = xw.shape
        for layer in range(h.shape[0]):
            if layer == 0:
                matmul_into(x, W0T, xw, 0, B)
            else:
                matmul_into(out, WT[layer - 1], xw, 0, B)  # out: the layer below's output, this step
            matmul_into(h[layer], WhT[layer], hw, 0, B)
            for r in range(B):
                for j in range(GH):
                    xw[r, j] += xb[layer, j]
            args = (xw, hw, hb[layer], h[layer], c[layer], h_new, c_new, cache, flag, 0, B)
            if code == loops.LSTM:
                lstm.forward_step(*args)
            elif code == loops.GRU:
                gru.forward_step(*args)
            else:
                rnn.forward_step(*args)
            for r in range(B):
                copy_into(h[layer, r], h_new[r])
                if code == loops.LSTM:
                    copy_into(c[layer, r], c_new[r])
                if residual and layer > 0:
                    for j in range(out.shape[1]):
                        out[r, j] += h_new[r, j]
                else:
                    copy_into(out[r], h_new[r])

    return step
