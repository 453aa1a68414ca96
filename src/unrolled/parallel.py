"""Running the time loop on two halves of the batch at once.

Batch rows never interact in a recurrent layer, so each half can run its whole time loop on
its own core with no synchronisation per step; only the weight-gradient GEMMs after the loop
need the whole batch. Meanwhile BLAS is held to one thread, so that its own pool does not
compete with ours for the same two cores. ``THREADS = 1`` turns this off.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

THREADS = min(2, os.cpu_count() or 1)
MIN_ROWS = 8  # fewer batch rows per thread than this and the handoff costs more than it saves

_pool = None
_blas = None


def _blas_one_thread():
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas = ThreadpoolController().select(user_api="blas")
        except Exception:  # no threadpoolctl or no BLAS it knows: run as is
            _blas = False
    return _blas.limit(limits=1) if _blas else nullcontext()


def over_batch(work, B: int) -> None:
    """Call ``work(lo, hi)`` over batch rows [0, B): in two threads when the batch is big enough."""
    global _pool
    if THREADS < 2 or B < 2 * MIN_ROWS:
        work(0, B)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unrolled")
    half = B // 2
    with _blas_one_thread():
        other = _pool.submit(work, half, B)
        work(0, half)
        other.result()
