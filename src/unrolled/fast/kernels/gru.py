"""Compiled GRU gate math for the fast schedule (the equations of ``unrolled.nn.cells.gru``).

With ``xw = W_ih x + b_ih`` and ``hw = W_hh h_prev`` from GEMMs, ``ah = hw + b_hh``::

    r = sigmoid(xw_r + ah_r)     z = sigmoid(xw_z + ah_z)     n = tanh(xw_n + r * ah_n)
    h = (1 - z) * n + z * h_prev

``cache`` (B, 4H) keeps r, z, n, ah_n. Rows are processed as 1-D slices (see ``kernels.lstm``). The input and recurrent pre-activations get different
gradients in the n rows (``d ah_n = d a_n * r``), so backward writes both ``da`` and ``da_h``.
"""

from __future__ import annotations

from numba import njit

from unrolled.fast.kernels._math import JIT, ONE, sigmoid, tanh


@njit(**JIT)
def _row_forward(x, w, b, hp, h, k):
    H = hp.shape[0]
    for j in range(H):
        rj = sigmoid(x[j] + w[j] + b[j])
        zj = sigmoid(x[H + j] + w[H + j] + b[H + j])
        ahn = w[2 * H + j] + b[2 * H + j]
        nj = tanh(x[2 * H + j] + rj * ahn)
        h[j] = nj + zj * (hp[j] - nj)
        k[j] = rj
        k[H + j] = zj
        k[2 * H + j] = nj
        k[3 * H + j] = ahn


@njit(**JIT)
def _row_backward(dh_rec, dh_carry, dy, k, hp, a, ah):
    H = hp.shape[0]
    for j in range(H):
        rj, zj, nj, ahn = k[j], k[H + j], k[2 * H + j], k[3 * H + j]
        dhj = dh_rec[j] + dh_carry[j] + dy[j]
        dan = dhj * (ONE - zj) * (ONE - nj * nj)  # through h = (1-z) n + z h_prev, then tanh
        dar = dan * ahn * rj * (ONE - rj)  # through n's r * ah_n, then sigmoid
        daz = dhj * (hp[j] - nj) * zj * (ONE - zj)
        a[j] = dar
        a[H + j] = daz
        a[2 * H + j] = dan
        ah[j] = dar
        ah[H + j] = daz
        ah[2 * H + j] = dan * rj
        dh_carry[j] = dhj * zj  # h's direct dependence on h_prev


@njit(**JIT)
def forward_step(xw, hw, b, h_prev, c_prev, h, c, cache, flag, lo, hi):
    for r in range(lo, hi):
        _row_forward(xw[r], hw[r], b, h_prev[r], h[r], cache[r])


@njit(**JIT)
def backward_step(dh_rec, dh_carry, dy, dc, cache, h, h_prev, c_prev, da, da_h, flag, lo, hi):
    for r in range(lo, hi):
        _row_backward(dh_rec[r], dh_carry[r], dy[r], cache[r], h_prev[r], da[r], da_h[r])
