"""The whole time loop compiled: per step, the recurrent product and the cell's gate math.

The product is taken one of two ways (``how``): ``SMALL``, the kernels' own ``matmul_into``
(tiny steps, where any call costs more than it saves); ``PACKED``, the register-tiled product
on weights packed once per call (``packed.gemm``).

One loop serves every cell: ``code`` picks the cell's step and ``how`` the product, as branches
on constants of the compiled loop (``_make``): numba caches neither functions passed as arguments
nor closures over compiled functions, but it does cache a closure over plain numbers, and it
compiles only the branch those numbers take.

Rows whose sequence has ended (or, in reverse, not yet begun) cost nothing: the batch comes
sorted by length, longest first (``unrolled.fast.schedule``), so the rows running at time ``t``
are the first ``counts[t]``; only they take the product and the gate math, the others keep their
state (forward) or pass their gradient straight through (backward), as the reference loop's
masks do. What is stored per step for the running rows only -- the projected inputs
``xw``, the cache, ``dy``, ``da`` -- is packed by time, as PyTorch packs a sequence: the rows of
time ``t`` are ``starts[t] : starts[t] + counts[t]``.
"""

from __future__ import annotations

import hashlib
import pathlib

import numpy as np
from numba import njit

from unrolled.fast.kernels import gru, lstm, packed, rnn
from unrolled.fast.kernels._math import JIT, copy_into, matmul_into

LSTM, GRU, RNN = 0, 1, 2
SMALL, PACKED = 0, 1


def forward_loop(code, xw, W_hhT, P, b, hs, cs, cache, y, order, counts, starts, reverse, keep, flag, lo, hi,
                 how):
    """xw (N, GH) packed by time; W_hhT (H, GH) and P, its packed form; hs / cs (T+1, B, H), the
    states in processing order, rows sorted; cache (N, width) packed by time when ``keep``, else
    (B, width) for one step; y (T, B, H) the outputs by time, rows in the caller's order
    (``order[r]`` is sorted row r's), written only where a row runs. Only rows lo:hi.

    A row's state is written only while it runs: in reverse a row starts from hs[0] at the step
    where it begins (its state is copied there once), and going forward a row that has ended
    has its last state copied once to hs[T], so that hs[T] holds every row's final state."""
    _loops(code, how)[0](xw, W_hhT, P, b, hs, cs, cache, y, order, counts, starts, reverse, keep, flag, lo, hi)


def backward_loop(code, dy, dh_rec, dh_carry, dc, cache, hs, cs, W_hh, P, counts, starts, reverse, da, da_h, flag,
                  lo, hi, how):
    """BPTT for ``forward_loop``: dy, cache, da and da_h (N, .) packed by time; W_hh (GH, H) and
    P, its packed form; dh_rec, dh_carry, dc (B, H), rows sorted. A row that does not run at a
    step passes its gradient straight through: dh_rec, dh_carry and dc stay as they are (their
    sum is the reference loop's dh)."""
    _loops(code, how)[1](dy, dh_rec, dh_carry, dc, cache, hs, cs, W_hh, P, counts, starts, reverse, da, da_h, flag,
                         lo, hi)


_MADE: dict = {}


def _sources() -> int:
    """A number that changes whenever the source of any kernel does. numba checks only the file
    of the function it caches, so a loop cached before ``packed.py`` (say) changed would run
    the old product; the loops hold this number as a constant, which is part of their cache key."""
    digest = hashlib.sha1()
    for path in sorted(pathlib.Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return int.from_bytes(digest.digest()[:7], "little")


SOURCES = _sources()


def _loops(code: int, how: int):
    """The compiled (forward, backward) loops of one cell and one way of taking the product.

    ``code`` and ``how`` are constants inside them, so numba drops the branches of the other
    cells and the other product before compiling: a program that trains an LSTM with the small
    product compiles neither the GRU's nor the RNN's step nor the register-tiled product (the
    largest compile: ``python bench/first_run.py``). Each specialisation is cached on disk apart.
    """
    if (code, how) not in _MADE:
        _MADE[code, how] = _make(code, how)
    return _MADE[code, how]


def _make(code: int, how: int, sources: int = SOURCES):
    @njit(**JIT)
    def forward(xw, W_hhT, P, b, hs, cs, cache, y, order, counts, starts, reverse, keep, flag, lo, hi):
        if sources < 0:  # never: ``sources`` is here to key the cache (``_sources``)
            return
        T = counts.shape[0]
        hw = np.empty((hs.shape[1], xw.shape[1]), dtype=xw.dtype)
        before = counts[T - 1] if reverse else counts[0]  # rows running at the previous step
        for s in range(T):
            t = T - 1 - s if reverse else s
            n, k = counts[t], starts[t]
            for r in range(max(lo, before), min(hi, n)):  # (reverse) rows that begin here start from hs[0]
                copy_into(hs[s, r], hs[0, r])
                if code == LSTM:
                    copy_into(cs[s, r], cs[0, r])
            for r in range(max(lo, n), min(hi, before)):  # (forward) rows that ended at the last step
                copy_into(hs[T, r], hs[s, r])
                if code == LSTM:
                    copy_into(cs[T, r], cs[s, r])
            before = n
            run = min(hi, n)  # rows lo:run take the step
            if lo < run:
                if how == PACKED:  # (B, GH): the recurrent product
                    packed.gemm(hs[s], P, hw, lo, run)
                else:
                    matmul_into(hs[s], W_hhT, hw, lo, run)
                kc = k if keep else 0
                args = (xw[k:k + n], hw, b, hs[s], cs[s], hs[s + 1], cs[s + 1], cache[kc:kc + n], flag, lo, run)
                if code == LSTM:
                    lstm.forward_step(*args)
                elif code == GRU:
                    gru.forward_step(*args)
                else:
                    rnn.forward_step(*args)
                if y.shape[0] > 0:  # else y is hs[1:] itself (schedule: inference, forward, whole sequences)
                    for r in range(lo, run):
                        copy_into(y[t, order[r]], hs[s + 1, r])

    @njit(**JIT)
    def backward(dy, dh_rec, dh_carry, dc, cache, hs, cs, W_hh, P, counts, starts, reverse, da, da_h, flag, lo, hi):
        if sources < 0:
            return
        T = counts.shape[0]
        for s in range(T - 1, -1, -1):
            t = T - 1 - s if reverse else s
            n, k = counts[t], starts[t]
            run = min(hi, n)
            if lo < run:
                args = (dh_rec, dh_carry, dy[k:k + n], dc, cache[k:k + n], hs[s + 1], hs[s], cs[s], da[k:k + n],
                        da_h[k:k + n], flag, lo, run)
                if code == LSTM:
                    lstm.backward_step(*args)
                elif code == GRU:
                    gru.backward_step(*args)
                else:
                    rnn.backward_step(*args)
                if how == PACKED:  # (B, H): back through the recurrent product
                    packed.gemm(da_h[k:k + n], P, dh_rec, lo, run)
                else:
                    matmul_into(da_h[k:k + n], W_hh, dh_rec, lo, run)

    return forward, backward


@njit(**JIT)
def pack_by_time(m):
    """m (T, B), the mask of lengths (nonzero up to each sequence's end, then 0) -> the layout the
    loops read: ``order`` (B,), the rows by length, longest first, ties in their order;
    ``counts`` (T,), the rows running at time t; ``starts`` (T+1,), where time t's rows begin
    when packed by time; ``rows`` (N,), the position t*B + order[r] of each packed row; ``half``,
    where to cut the sorted rows into two parts of about half of the steps each (1 <= half < B
    when B >= 2)."""
    T, B = m.shape
    lengths = np.zeros(B, dtype=np.int64)
    for b in range(B):
        n = 0
        while n < T and m[n, b] != 0:
            n += 1
        for t in range(n, T):
            if m[t, b] != 0:
                raise ValueError("the fast schedule takes a mask of lengths: 1 up to each sequence's end, then 0")
        lengths[b] = n
    order = np.argsort(-lengths, kind="mergesort")  # mergesort: stable
    counts = np.zeros(T, dtype=np.int64)
    for b in range(B):
        for t in range(lengths[b]):
            counts[t] += 1
    starts = np.zeros(T + 1, dtype=np.int64)
    for t in range(T):
        starts[t + 1] = starts[t] + counts[t]
    rows = np.empty(starts[T], dtype=np.int64)
    for t in range(T):
        for r in range(counts[t]):
            rows[starts[t] + r] = t * B + order[r]
    half, done = 1, lengths[order[0]]
    while half < B - 1 and 2 * done < starts[T]:
        done += lengths[order[half]]
        half += 1
    return order, counts, starts, rows, half
