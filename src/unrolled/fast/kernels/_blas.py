"""NumPy's own BLAS: its thread count, held to one while our own two threads use the cores.

OpenBLAS keeps a pool of worker threads that spin for a while after each multi-thread call. A
thread of ours started beside a spinning worker gets half a core (``unrolled.fast.threads``), so a
layer that splits its batch over our two threads holds BLAS to one thread (``one_thread``)
for its duration. The library is found next to NumPy (the OpenBLAS that NumPy's wheels
bundle); where it is not found, ``CAN_HOLD`` is False and batches are not split.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os

import numpy as np

# (get, set) thread-count symbols: NumPy's scipy-openblas builds carry a prefix and, as ILP64
# builds, a "64_" suffix.
_SYMBOLS = [("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
            ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
            ("openblas_get_num_threads", "openblas_set_num_threads")]


def _find():
    root = os.path.dirname(np.__file__)
    patterns = [os.path.join(root, os.pardir, "numpy.libs", "*openblas*"),
                os.path.join(root, ".dylibs", "*openblas*")]
    for path in sorted(p for pattern in patterns for p in glob.glob(pattern)):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get, set_ in _SYMBOLS:
            if hasattr(lib, get) and hasattr(lib, set_):
                _get, _set = getattr(lib, get), getattr(lib, set_)
                _get.restype, _set.argtypes = ctypes.c_int, [ctypes.c_int]
                return _get, _set
    return None, None


_get_threads, _set_threads = _find()
CAN_HOLD = _set_threads is not None  # can one_thread() hold BLAS to one thread?
DEFAULT = _get_threads() if CAN_HOLD else None  # BLAS's own count, before anything here changed it


@contextlib.contextmanager
def one_thread():
    """Hold NumPy's BLAS to one thread inside the block (process-wide: OpenBLAS keeps one
    count), so that its pool stays asleep while threads of our own use the cores."""
    if _set_threads is None:
        yield
        return
    n = _get_threads()
    _set_threads(1)
    try:
        yield
    finally:
        _set_threads(n)


def set_threads(n: int) -> None:
    """Set NumPy's BLAS thread count for good (not only inside a block, as ``one_thread``)."""
    if _set_threads is not None:
        _set_threads(int(n))
