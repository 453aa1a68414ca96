"""The compiled time loop: one layer, one direction, forward and backpropagation through time.

It computes the numbers of the reference loop (``unrolled.nn.loop``, the cell's own step at a
time) and tests pin the two together. It does the work that does not depend on the recurrence
outside the loop: one GEMM projects every input step, ``XW = X W_ih^T + b_ih`` (T*B, G*H); inside
the loop only the recurrent GEMM ``h_prev W_hh^T`` and the fused gate math remain; after the
backward loop the sums over time of eq. 7-8 become one GEMM each, ``dW_ih = dA^T X``,
``dW_hh = dA^T H_prev``.

Masks for ``lengths`` work as in the reference loop, and padding costs nothing: the batch is
read in order of length, longest first (``Packing``), so that at time ``t`` the rows still
running are the first ``counts[t]``. The time loop works only on those (``kernels.loops``), and
every product over all steps -- the input projection, ``dx``, the weight gradients -- takes only
their ``N = sum(lengths)`` rows, packed by time as PyTorch packs a sequence. The outputs come
back in the caller's order, 0 at padded steps.

State is kept in processing order, rows sorted: ``hs[k]`` is the state before the k-th step
processed, which is time ``t = k`` going forward and ``t = T-1-k`` in reverse.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from unrolled.fast import threads
from unrolled.fast.kernels import loops, packed
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


def _recurrent_weights(W_hh, how, work, reuse):
    """W_hh^T (H, G*H), contiguous (or an empty stand-in where the loop reads only P), and its
    packed form for the forward loop.

    With ``reuse`` (inference), the last call's pair serves again while W_hh equals the copy
    kept beside it: the comparison reads W_hh once, where the transpose and the packing read it
    twice and write it twice (5 ms of a 140 ms inference at H = 650, ``/bench``'s largest shape).
    Equality, not identity: an optimizer or a user changes W_hh in place."""
    kept = work.kept.get("W_hh")
    if reuse and kept is not None and kept[1] == how and kept[0].shape == W_hh.shape and \
            kept[0].dtype == W_hh.dtype and np.array_equal(kept[0], W_hh):
        return kept[2], kept[3]
    if how == loops.PACKED:  # the packed loop reads only P, packed from W_hh's rows: no transposed copy
        W_hhT = np.empty((0, 0), dtype=W_hh.dtype)
    else:
        W_hhT = np.ascontiguousarray(W_hh.T)
    if not reuse:
        work.kept.pop("W_hh", None)
        return W_hhT, _packed(W_hh.T, how, work, 7)
    P = _packed(W_hh.T, how, Workspace(), 7)  # its own array: the workspace's slot is reused by training calls
    work.kept["W_hh"] = (W_hh.copy(), how, W_hhT, P)
    return W_hhT, P


class Packing(NamedTuple):
    """How a batch with lengths is read: its rows sorted by length, the running ones packed by time.

    ``order`` (B,): the rows by length, longest first (ties in the caller's order); ``counts``
    (T,): the rows running at time t, the first ``counts[t]`` in that order; ``starts`` (T+1,):
    where time t's rows begin in an array packed by time (``starts[T] = N``); ``rows`` (N,): the
    position ``t*B + order[r]`` of each packed row in the caller's (T*B) layout, or None where no
    row is left out and none is moved (no lengths); ``half``: where our two threads cut the
    sorted rows, each part taking about half of the steps.
    """

    order: np.ndarray
    counts: np.ndarray
    starts: np.ndarray
    rows: np.ndarray | None
    half: int

    @classmethod
    def of(cls, mask, T, B):
        """From the mask of ``lengths`` (T, B, 1), 1 up to each sequence's end, or None."""
        if mask is None:
            return cls(np.arange(B), np.full(T, B), np.arange(T + 1) * B, None, B // 2)
        return cls(*loops.pack_by_time(np.ascontiguousarray(mask[:, :, 0])))

    def sort(self, a):
        """(B, ...) in the caller's order -> sorted (a new array)."""
        return np.array(a) if self.rows is None else a[self.order]

    def unsort(self, a):
        """(B, ...) sorted -> the caller's order (a new array)."""
        if self.rows is None:
            return np.array(a)
        out = np.empty_like(a)
        out[self.order] = a
        return out

    def pack(self, a, work, slot):
        """(T*B, K) in the caller's layout -> its running rows packed by time (N, K), into the
        workspace's ``slot`` (``a`` itself, made contiguous, where no row is left out)."""
        if self.rows is None:
            return np.ascontiguousarray(a)
        out = work.empty(slot, (len(self.rows), a.shape[1]), a.dtype)
        return np.take(a, self.rows, axis=0, out=out, mode="clip")

    def unpack(self, a, T, B):
        """(N, K) packed by time -> (T, B, K) in the caller's layout, 0 at padded steps."""
        if self.rows is None:
            return a.reshape(T, B, -1)
        out = np.zeros((T * B, a.shape[1]), dtype=a.dtype)
        out[self.rows] = a
        return out.reshape(T, B, -1)


def forward_fast(cell, x, params, h0, c0, mask, reverse, keep, work=None, alone=False, out=None):
    """x (T, B, D) -> y (T, B, H), h_T, c_T, cache (None unless ``keep``); y into ``out`` when
    given (e.g. this direction's half of the layer's output; zeros where lengths leave steps unwritten).

    A wide batch (``threads.wide``) runs on our two threads, each on rows that take half of the
    steps, BLAS held to one thread; a narrow one runs on one (see ``unrolled.fast.threads``), as
    does every batch with ``alone`` (the caller runs another job on the other thread and holds
    BLAS to one thread: ``side_by_side``); its backward follows.
    ``work`` is the layer's ``Workspace``: its buffers serve again at the next call.
    """
    T, B, D = x.shape
    GH, H = params[1].shape
    pack = Packing.of(mask, T, B)
    wide = not alone and threads.wide(B, pack.starts[-1] * GH * (D + H))
    with threads.held(wide or alone):
        return _forward_fast(cell, x, params, h0, c0, pack, reverse, keep, wide, work or Workspace(), out)


def _forward_fast(cell, x, params, h0, c0, pack, reverse, keep, wide, work, y):
    code, flag = cell.kernel
    W_ih, W_hh, b_ih, b_hh = params
    T, B, D = x.shape
    H, GH = h0.shape[1], W_hh.shape[0]
    N = int(pack.starts[-1])
    how = _product_mode(B, H, GH)
    xs = pack.pack(x.reshape(T * B, D), work, 3)  # (N, D): the running rows
    xw = work.empty(4, (N, GH), x.dtype)  # (N, G*H): every input step projected by one GEMM
    (threads.matmul if wide else np.matmul)(xs, W_ih.T, out=xw)
    if b_ih is None:
        b = np.zeros(GH, dtype=x.dtype)
    elif cell.shared_da:  # both biases simply add: the kernel adds their sum, saving a pass over xw
        b = b_ih + b_hh
    else:  # the GRU's b_hn sits inside r * (W_hn h + b_hn), apart from b_in
        xw += b_ih
        b = b_hh
    # In inference, going forward over whole sequences, y is the states themselves: y = hs[1:],
    # written once by the step (not copied after it), in memory of its own since y is returned
    alias = y is None and not keep and not reverse and pack.rows is None
    hs = np.empty((T + 1, B, H), x.dtype) if alias else work.empty(0, (T + 1, B, H), x.dtype)  # (T+1, B, H),
    hs[0] = pack.sort(h0)  # processing order, rows sorted
    cs = hs  # cells without a cell state never touch it
    if c0 is not None:
        cs = work.empty(1, (T + 1, B, H), x.dtype)
        cs[0] = pack.sort(c0)
    cache = work.empty(2, (N if keep else B, cell.cache_width * H), x.dtype)
    if alias:
        y, y_loop = hs[1:], np.empty((0, B, H), dtype=x.dtype)  # the loop copies nothing into y
    else:
        if y is None:
            y = (np.empty if pack.rows is None else np.zeros)((T, B, H), dtype=x.dtype)  # by time, caller's order
        y_loop = y
    W_hhT, P = _recurrent_weights(W_hh, how, work, reuse=not keep)  # (H, G*H) and its packed form

    def rows(lo, hi):  # the whole time loop for sorted rows lo:hi (rows never interact)
        loops.forward_loop(code, xw, W_hhT, P, b, hs, cs, cache, y_loop, pack.order, pack.counts, pack.starts,
                           reverse, keep, flag, lo, hi, how)

    threads.over_rows(rows, B, pack.half) if wide else rows(0, B)
    saved = (xs, hs, cs, cache, pack, reverse, how, wide) if keep else None
    return y, pack.unsort(hs[T]), (None if c0 is None else pack.unsort(cs[T])), saved


def side_by_side(x, params, mask) -> bool:
    """Do the two directions of a layer on x (T, B, D) run side by side, one on each of our two
    threads (``threads.pair``, ``forward_fast(..., alone=True)``)?"""
    T, B, D = x.shape
    GH, H = params[1].shape
    N = T * B if mask is None else int(np.count_nonzero(mask))
    return threads.apart(2 * N * GH * (D + H))


def backward_fast(cell, dy, dh_T, dc_T, saved, params, grads, work=None):
    """BPTT for ``forward_fast``: dy (T, B, H) -> dx (T, B, D), dh_0, dc_0.

    Parameter gradients are added into ``grads`` = (dW_ih, dW_hh, db_ih, db_hh).
    """
    with threads.held(saved[-1]):
        return _backward_fast(cell, dy, dh_T, dc_T, saved, params, grads, work or Workspace())


def _backward_fast(cell, dy, dh_T, dc_T, saved, params, grads, work):
    code, flag = cell.kernel
    xs, hs, cs, cache, pack, reverse, how, wide = saved
    W_ih, W_hh, b_ih, _ = params
    T, B, H = dy.shape
    N, D = xs.shape
    GH = W_hh.shape[0]
    dys = pack.pack(np.asarray(dy, dtype=xs.dtype).reshape(T * B, H), work, 9)  # (N, H): the running rows
    da = work.empty(5, (N, GH), xs.dtype)  # (N, G*H), packed by time: d pre-activation
    da_h = da if cell.shared_da else work.empty(6, (N, GH), xs.dtype)
    dh_rec = pack.sort(dh_T).astype(xs.dtype, copy=False)  # (B, H): the part of dh that came through W_hh
    dh_carry = np.zeros_like(dh_rec)  # the part that did not
    dc = dh_carry.copy() if dc_T is None else pack.sort(dc_T).astype(xs.dtype, copy=False)
    W_hh = np.ascontiguousarray(W_hh)  # (G*H, H)
    P = _packed(W_hh, how, work, 8)

    def rows(lo, hi):  # BPTT for sorted rows lo:hi
        loops.backward_loop(code, dys, dh_rec, dh_carry, dc, cache, hs, cs, W_hh, P, pack.counts, pack.starts,
                            reverse, da, da_h, flag, lo, hi, how)

    threads.over_rows(rows, B, pack.half) if wide else rows(0, B)
    # Sums over time of seed 004 eq. 7-8, each one GEMM over the N running rows.
    dW_ih, dW_hh, db_ih, db_hh = grads
    sums = _weight_grads(xs, _h_prev(hs, pack, reverse, work), da, da_h, wide, work)
    dW_ih += sums[0]
    dW_hh += sums[1]
    if b_ih is not None:
        db_ih += sums[2]
        db_hh += sums[3]
    matmul = threads.matmul if wide else np.matmul
    dx = pack.unpack(matmul(da, W_ih), T, B)  # one GEMM for every input step
    return dx, pack.unsort(dh_rec + dh_carry), (None if dc_T is None else pack.unsort(dc))


def _h_prev(hs, pack, reverse, work):
    """(N, H): the state each running row started its step from, packed by time."""
    T1, B, H = hs.shape
    T = T1 - 1
    if pack.rows is None:
        return by_time(hs[:-1], reverse).reshape(T * B, H)
    step = T - 1 - np.arange(T) if reverse else np.arange(T)  # (T,): the step that reads time t
    at = (step[:, None] * B + np.arange(B))[np.arange(B) < pack.counts[:, None]]  # (N,) in hs (T+1)*B
    return np.take(hs.reshape(T1 * B, H), at, axis=0, out=work.empty(10, (len(at), H), hs.dtype), mode="clip")


def _weight_grads(x, h_prev, da, da_h, wide, work=None):
    """(dW_ih, dW_hh, db_ih, db_hh): dW_ih = dA^T X, dW_hh = dA_h^T H_prev and the column sums
    of dA and dA_h, over the N running rows (x (N, D), h_prev (N, H), da / da_h (N, G*H), the
    same array where the cell shares them). Formed as (X^T dA)^T, which BLAS runs faster than
    dA^T X on a narrow X (``python bench/packed.py``); on two threads each sums half of the
    rows into buffers of its own in the workspace, and the second half is added into the first
    in place (fresh arrays for the products and a third for their sum each cost page faults)."""
    work = work or Workspace()
    D, H, GH = x.shape[1], h_prev.shape[1], da.shape[1]
    parts = [None, None]

    def rows(lo, hi):
        i = int(lo > 0)  # which half: its own slots
        a, a_h = da[lo:hi], da_h[lo:hi]
        sx = np.matmul(x[lo:hi].T, a, out=work.empty(11 + 4 * i, (D, GH), x.dtype))  # (D, G*H) = X^T dA
        sh = np.matmul(h_prev[lo:hi].T, a_h, out=work.empty(12 + 4 * i, (H, GH), x.dtype))  # (H, G*H)
        db = np.sum(a, axis=0, out=work.empty(13 + 4 * i, (GH,), x.dtype))
        db_h = db if da_h is da else np.sum(a_h, axis=0, out=work.empty(14 + 4 * i, (GH,), x.dtype))
        parts[i] = (sx, sh, db, db_h)

    threads.over_rows(rows, x.shape[0]) if wide and x.shape[0] >= 2 else rows(0, x.shape[0])  # halves: slots apart
    first, second = parts
    if second is not None:
        for mine, theirs in zip(first[:3] if da_h is da else first, second):
            mine += theirs  # db_h is db where the cell shares da: added once
    sx, sh, db, db_h = first
    return sx.T, sh.T, db, db_h
