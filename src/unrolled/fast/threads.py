"""A batch on two cores: our own two threads, BLAS held to one thread in each.

Batch rows never interact in a recurrent layer, so each half of a batch runs its whole time
loop -- its recurrent products and its gate math -- on its own core, with no synchronisation
per step. The GEMMs before and after the loop are split the same way (by rows of the product),
so that in a split layer every BLAS call is a one-thread call from one of our threads.

Why hold BLAS to one thread: after each multi-thread call OpenBLAS's worker keeps spinning for
a while, waiting for the next call, and a thread of ours started beside a spinning worker
shares its core with it and runs at about half speed. So a layer either takes all of the
parallelism (``wide``: at least ``MIN_ROWS`` rows per thread and ``MIN_WORK`` multiply-adds in
all, enough to pay for handing half of it to the other thread) or runs its loop on one core.
The other layers of a model take their products through ``dot``, split the same way, so that
a recurrent layer does not start beside a worker that the layer before it woke (on the
character LM of ``bench/lm_torch_reference.py`` that is what let a batch of 32 split).
``THREADS = 1`` turns the split off.

The two directions of a bidirectional layer never interact either: ``pair`` runs one on each
thread (``PAIR``), each whole -- its time loop and its products, on one core with BLAS held to
one thread -- so the threads meet once per layer, not at every product, and a narrow batch,
whose rows are too few to split, still uses both cores.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from unrolled.fast.kernels import _blas

THREADS = min(2, os.cpu_count() or 1)
MIN_ROWS = 2  # batch rows per thread below which one thread runs the whole batch faster
MIN_WORK = 1 << 23  # multiply-adds below which handing half to the other thread does not pay
PAIR = True  # the two directions of a layer, one on each thread, where their work is MIN_WORK or more

_pool: ThreadPoolExecutor | None = None


def set_threads(n: int) -> None:
    """Use ``n`` compute threads: 1 runs every loop and product on one core, with NumPy's BLAS
    held to one thread for good (K processes on one host: each its share of the cores); 2 (at
    most, the most this module uses) splits wide batches and pairs directions as above."""
    global THREADS
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads={n!r} is invalid; use a whole number >= 1")
    THREADS = min(2, n)
    if THREADS == 1 and _blas.CAN_HOLD:
        _blas.set_threads(1)


def wide(rows: int, work: float) -> bool:
    """Does a job of ``rows`` independent rows and ``work`` multiply-adds in all run on our two
    threads (``over_rows``)?"""
    return THREADS >= 2 and _blas.CAN_HOLD and rows >= 2 * MIN_ROWS and work >= MIN_WORK


def apart(work: float) -> bool:
    """Do two independent jobs of ``work`` multiply-adds in all run one on each of our two
    threads (``pair``)?"""
    return PAIR and THREADS >= 2 and _blas.CAN_HOLD and work >= MIN_WORK


def _submit(job, *args):
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unrolled")
    return _pool.submit(job, *args)


def pair(first, second):
    """``(first(), second())``, the first on our other thread, the second on this one, BLAS held
    to one thread. Neither may use the other thread itself (``over_rows``); both must release
    the GIL for their heavy parts."""
    with _blas.one_thread():
        other = _submit(first)
        try:
            b = second()
        finally:
            a = other.result()
    return a, b


def over_rows(work, n: int, half: int | None = None) -> None:
    """``work(lo, hi)`` over rows [0, n) in two parts, [0, half) and [half, n) (two halves unless
    told), one per thread; BLAS calls inside it run on one thread each. ``work`` must release the
    GIL (compiled loops, NumPy products do)."""
    half = n // 2 if half is None else half
    other = _submit(work, half, n)
    try:
        work(0, half)
    finally:
        other.result()


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (2-D) for the other layers of a model (``parts.Linear``): split by rows over our
    two threads with BLAS held to one thread, as the recurrent layers' products are, so that no
    two-thread BLAS call leaves OpenBLAS's worker spinning beside the next recurrent layer."""
    if not wide(a.shape[0], a.shape[0] * a.shape[1] * b.shape[1]):
        return a @ b
    with _blas.one_thread():
        return matmul(a, b)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (2-D), into ``out`` if given, the rows of ``a`` split over the two threads (call
    inside ``_blas.one_thread()``)."""
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))

    def rows(lo, hi):
        np.matmul(a[lo:hi], b, out=out[lo:hi])

    over_rows(rows, a.shape[0])
    return out
