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

Who decides: by default the library, at every layer call -- two threads where the work is wide
enough and two cores are free (``cores.free``: another program keeping a core busy makes a
split wait at every product for that core), else one, with BLAS held to one thread too (its
second thread would wait for the same busy core). ``set_threads(n)`` (``unrolled.set_num_threads``),
the environment variable ``UNROLLED_NUM_THREADS`` or the CLI's ``--threads`` fix the count
instead; ``set_threads(None)`` gives the choice back. No pool of ours spins: our one extra thread
sleeps on a queue between jobs.

The two directions of a bidirectional layer never interact either: ``pair`` runs one on each
thread (``PAIR``), each whole -- its time loop and its products, on one core with BLAS held to
one thread -- so the threads meet once per layer, not at every product, and a narrow batch,
whose rows are too few to split, still uses both cores.
"""

from __future__ import annotations

import numbers
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from contextlib import nullcontext

from unrolled.fast import cores
from unrolled.fast.kernels import _blas

THREADS = min(2, os.cpu_count() or 1)  # the most threads a layer uses (set_threads lowers it)
MIN_ROWS = 2  # batch rows per thread below which one thread runs the whole batch faster
MIN_WORK = 1 << 23  # multiply-adds below which handing half to the other thread does not pay
PAIR = True  # the two directions of a layer, one on each thread, where their work is MIN_WORK or more

_pool: ThreadPoolExecutor | None = None


FREE_ENOUGH = 0.3  # a core counts as free when other programs use less than this share of it
ENVIRONMENT = "UNROLLED_NUM_THREADS"
_chosen: int | None = None  # a count fixed by set_threads or the environment; None: follow the free cores


def set_threads(n: int | None) -> None:
    """Use ``n`` compute threads from now on, whatever the load: 1 runs every loop and product on
    one core, with NumPy's BLAS held to one thread for good (K processes on one host: each its
    share of the cores); 2 (the most this module uses) splits wide batches and pairs directions
    as above. None (the default) decides at every layer call from the cores free."""
    global THREADS, _chosen
    if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1):
        raise ValueError(f"threads={n!r} is invalid; use a whole number >= 1, or None to follow the free cores")
    _chosen = None if n is None else int(n)
    THREADS = min(2, os.cpu_count() or 1) if n is None else min(2, int(n))
    if _blas.CAN_HOLD:
        _blas.set_threads(1 if THREADS == 1 else _blas.DEFAULT)  # 2 or None: BLAS's own count back


def threads_from_environment() -> int | None:
    """The count ``UNROLLED_NUM_THREADS`` fixes (None: unset), or ValueError naming the fix."""
    value = os.environ.get(ENVIRONMENT, "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise ValueError(f"{ENVIRONMENT}={value!r} is invalid; set a whole number of threads >= 1, or unset it")
    return int(value)


def threads_now() -> int:
    """How many threads a layer called now uses: the count fixed by ``set_threads``, else 2 when
    two cores are free (``cores.free``) and 1 when another program holds one."""
    if _chosen is not None or THREADS < 2:
        return THREADS
    return THREADS if cores.free() >= THREADS - FREE_ENOUGH else 1


def wide(rows: int, work: float) -> bool:
    """Does a job of ``rows`` independent rows and ``work`` multiply-adds in all run on our two
    threads (``over_rows``)?"""
    return _blas.CAN_HOLD and rows >= 2 * MIN_ROWS and work >= MIN_WORK and threads_now() >= 2


def apart(work: float) -> bool:
    """Do two independent jobs of ``work`` multiply-adds in all run one on each of our two
    threads (``pair``)?"""
    return PAIR and _blas.CAN_HOLD and work >= MIN_WORK and threads_now() >= 2


def held(split: bool):
    """The BLAS setting for one layer call: held to one thread when the call splits over our
    threads (``split``) or when one core is all we have now; else BLAS's own threads."""
    if _blas.CAN_HOLD and (split or threads_now() < 2):
        return _blas.one_thread()
    return nullcontext()


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
    split = wide(a.shape[0], a.shape[0] * a.shape[1] * b.shape[1])
    with held(split):
        return matmul(a, b) if split else a @ b


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (2-D), into ``out`` if given, the rows of ``a`` split over the two threads (call
    inside ``_blas.one_thread()``)."""
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))

    def rows(lo, hi):
        np.matmul(a[lo:hi], b, out=out[lo:hi])

    over_rows(rows, a.shape[0])
    return out


try:
    if threads_from_environment() is not None:
        set_threads(threads_from_environment())
except ValueError:
    pass  # not at import: the CLI says it in one line (cli._processes), and set_threads(n) overrides it
