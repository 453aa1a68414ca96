"""The compiled time loop: one layer, one direction, forward and backpropagation through time.

It computes the numbers of the reference loop (``unrolled.nn.loop``, the cell's own step at a
time) and tests pin the two together. It does the work that does not depend on the recurrence
outside the loop: one GEMM projects every input step, ``XW = X W_ih^T + b_ih`` (T*B, G*H); inside
the loop only the recurrent GEMM ``h_prev W_hh^T`` and the fused gate math remain; after the
backward loop the sums over time of eq. 7-8 become one GEMM each, ``dW_ih = dA^T X``,
``dW_hh = dA^T H_prev``. Masks for ``lengths`` work as in the reference loop.

State is kept in processing order: ``hs[k]`` is the state before the k-th step processed, which
is time ``t = k`` going forward and ``t = T-1-k`` in reverse.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from unrolled.fast import threads
from unrolled.fast.kernels import _blas, loops, packed
from unrolled.fast.workspace import Workspace
from unrolled.nn.loop import by_time

# How a step's recurrent product is taken inside the compiled time loop (``kernels.loops``): up
# to SMALL_PRODUCT_MACS multiply-adds, by the kernels' own small product (packing W_hh costs
# more than it saves there); above, by the register-tiled product on W_hh packed once per call
# (``kernels.packed``), which outruns a BLAS call per step (BLAS repacks W_hh at every call).
SMALL_PRODUCT_MACS = 1 << 16


def _product_mode(B: int, H: int, GH: int) -> int:
    return loops.SMALL if B * H * GH <= SMALL_PRODUCT_MACS else loops.PACKED


def _packed(M, how, work, slot):
    """M packed for ``kernels.packed.gemm`` (into the workspace), or a stand-in when unused."""
    if how != loops.PACKED:
        return np.empty((0, 0, packed.NR), dtype=M.dtype)
    K, N = M.shape
    return packed.pack(M, out=work.empty(slot, (-(-N // packed.NR), K, packed.NR), M.dtype))


def _step_masks(mask, T, B, dtype):
    """(T, B) row masks for the kernels: 1 where the sequence is running, 0 after its end."""
    return np.ones((T, B), dtype=dtype) if mask is None else np.ascontiguousarray(mask[:, :, 0])


def forward_fast(cell, x, params, h0, c0, mask, reverse, keep, work=None):
    """x (T, B, D) -> y (T, B, H), h_T, c_T, cache (None unless ``keep``).

    A wide batch (``threads.wide``) runs on our two threads, one half of the batch each, BLAS
    held to one thread; a narrow one runs on one (see ``unrolled.fast.threads``).
    ``work`` is the layer's ``Workspace``: its buffers serve again at the next call.
    """
    T, B, D = x.shape
    GH, H = params[1].shape
    wide = threads.wide(B, T * B * GH * (D + H))
    with _blas.one_thread() if wide else nullcontext():
        return _forward_fast(cell, x, params, h0, c0, mask, reverse, keep, wide, work or Workspace())


def _forward_fast(cell, x, params, h0, c0, mask, reverse, keep, wide, work):
    code, flag = cell.kernel
    W_ih, W_hh, b_ih, b_hh = params
    T, B, D = x.shape
    H, GH = h0.shape[1], W_hh.shape[0]
    how = _product_mode(B, H, GH)
    x2 = x.reshape(T * B, D)
    xw = work.empty(4, (T, B, GH), x.dtype)  # (T, B, G*H): every input step projected by one GEMM
    (threads.matmul if wide else np.matmul)(x2, W_ih.T, out=xw.reshape(T * B, GH))
    if b_ih is None:
        b = np.zeros(GH, dtype=x.dtype)
    elif cell.shared_da:  # both biases simply add: the kernel adds their sum, saving a pass over xw
        b = b_ih + b_hh
    else:  # the GRU's b_hn sits inside r * (W_hn h + b_hn), apart from b_in
        xw += b_ih
        b = b_hh
    hs = work.empty(0, (T + 1, B, H), x.dtype)  # (T+1, B, H), processing order
    hs[0] = h0
    cs = hs  # cells without a cell state never touch it
    if c0 is not None:
        cs = work.empty(1, (T + 1, B, H), x.dtype)
        cs[0] = c0
    cache = work.empty(2, (T if keep else 1, B, cell.cache_width * H), x.dtype)
    masks = _step_masks(mask, T, B, x.dtype)  # (T, B)
    W_hhT = np.ascontiguousarray(W_hh.T)  # (H, G*H)
    P = _packed(W_hhT, how, work, 7)

    def rows(lo, hi):  # the whole time loop for batch rows lo:hi (rows never interact)
        loops.forward_loop(code, xw, W_hhT, P, b, hs, cs, cache, masks, reverse, flag, lo, hi, how)

    threads.over_rows(rows, B) if wide else rows(0, B)
    y = by_time(hs[1:], reverse)  # (T, B, H)
    if mask is not None:
        y = y * mask
    saved = (x, hs, cs, cache, masks, reverse, how, wide) if keep else None
    return y, hs[T], (None if c0 is None else cs[T]), saved


def backward_fast(cell, dy, dh_T, dc_T, saved, params, grads, work=None):
    """BPTT for ``forward_fast``: dy (T, B, H) -> dx (T, B, D), dh_0, dc_0.

    Parameter gradients are added into ``grads`` = (dW_ih, dW_hh, db_ih, db_hh).
    """
    with _blas.one_thread() if saved[-1] else nullcontext():
        return _backward_fast(cell, dy, dh_T, dc_T, saved, params, grads, work or Workspace())


def _backward_fast(cell, dy, dh_T, dc_T, saved, params, grads, work):
    code, flag = cell.kernel
    x, hs, cs, cache, masks, reverse, how, wide = saved
    W_ih, W_hh, b_ih, _ = params
    T, B, D = x.shape
    GH = W_hh.shape[0]
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    da = work.empty(5, (T, B, GH), x.dtype)  # (T, B, G*H), by time: d pre-activation
    da_h = da if cell.shared_da else work.empty(6, (T, B, GH), x.dtype)
    dh_rec = np.array(dh_T, dtype=x.dtype)  # (B, H): the part of dh that came through W_hh
    dh_carry = np.zeros_like(dh_rec)  # the part that did not
    dc = dh_carry.copy() if dc_T is None else np.array(dc_T, dtype=x.dtype)
    W_hh = np.ascontiguousarray(W_hh)  # (G*H, H)
    P = _packed(W_hh, how, work, 8)

    def rows(lo, hi):  # BPTT for batch rows lo:hi
        loops.backward_loop(code, dy, dh_rec, dh_carry, dc, cache, hs, cs, W_hh, P, masks, reverse,
                            da, da_h, flag, lo, hi, how)

    threads.over_rows(rows, B) if wide else rows(0, B)
    # Sums over time of seed 004 eq. 7-8, each one GEMM over all T*B rows.
    dW_ih, dW_hh, db_ih, db_hh = grads
    h_prev = by_time(hs[:-1], reverse).reshape(T * B, -1)  # (T*B, H), by time
    da2 = da.reshape(T * B, GH)
    da_h2 = da2 if da_h is da else da_h.reshape(T * B, GH)
    sums = _weight_grads(x.reshape(T * B, D), h_prev, da2, da_h2, wide)
    dW_ih += sums[0]
    dW_hh += sums[1]
    if b_ih is not None:
        db_ih += sums[2]
        db_hh += sums[3]
    matmul = threads.matmul if wide else np.matmul
    dx = matmul(da2, W_ih).reshape(T, B, D)  # one GEMM for every input step
    return dx, dh_rec + dh_carry, (None if dc_T is None else dc)


def _weight_grads(x, h_prev, da, da_h, wide):
    """(dW_ih, dW_hh, db_ih, db_hh): dW_ih = dA^T X, dW_hh = dA_h^T H_prev and the column sums
    of dA and dA_h, over all T*B rows (x (T*B, D), h_prev (T*B, H), da / da_h (T*B, G*H), the
    same array where the cell shares them). Formed as (X^T dA)^T, which BLAS runs faster than
    dA^T X on a narrow X (``python bench/packed.py``); on two threads each sums half of the
    rows and the halves are added."""
    parts = []

    def rows(lo, hi):
        a, a_h = da[lo:hi], da_h[lo:hi]
        db = a.sum(axis=0)
        db_h = db if da_h is da else a_h.sum(axis=0)
        parts.append(((x[lo:hi].T @ a).T, (h_prev[lo:hi].T @ a_h).T, db, db_h))

    threads.over_rows(rows, x.shape[0]) if wide else rows(0, x.shape[0])
    if len(parts) == 1:
        return parts[0]
    return tuple(p + q for p, q in zip(*parts))
