"""NumPy's own BLAS, called from compiled code.

With the GEMM callable from numba, the whole time loop -- recurrent GEMM and gate math, step
after step -- runs compiled, with no Python between steps; and it is the very library NumPy
uses, so the process keeps one BLAS thread pool (a second BLAS beside it would put two
spinning pools on the same cores). The library is found next to NumPy (the OpenBLAS that
NumPy's wheels bundle); where it is not found, ``AVAILABLE`` is False and the time loop takes
its products the other ways (``loops``).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os

import llvmlite.binding as llvm
import numpy as np
from numba import types
from numba.extending import overload

from ._math import JIT, matmul_into

# (sgemm symbol, dgemm symbol, integer type): ILP64 builds carry a "64_" suffix.
_SYMBOLS = [("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", types.int64),
            ("cblas_sgemm64_", "cblas_dgemm64_", types.int64),
            ("scipy_cblas_sgemm", "scipy_cblas_dgemm", types.int32),
            ("cblas_sgemm", "cblas_dgemm", types.int32)]


def _find():
    root = os.path.dirname(np.__file__)
    patterns = [os.path.join(root, os.pardir, "numpy.libs", "*openblas*"),
                os.path.join(root, ".dylibs", "*openblas*")]
    for path in sorted(p for pattern in patterns for p in glob.glob(pattern)):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for s, d, integer in _SYMBOLS:
            if hasattr(lib, s) and hasattr(lib, d):
                return lib, path, s, d, integer
    return None


_found = None if os.environ.get("UNROLLED_NO_BLAS_IN_LOOP") else _find()
AVAILABLE = _found is not None
_get_threads = _set_threads = None
if AVAILABLE:
    _lib, _path, _s, _d, _int = _found
    llvm.load_library_permanently(_path)
    for _get, _set in (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                       ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                       ("openblas_get_num_threads", "openblas_set_num_threads")):
        if hasattr(_lib, _get) and hasattr(_lib, _set):
            _get_threads, _set_threads = getattr(_lib, _get), getattr(_lib, _set)
            _get_threads.restype, _set_threads.argtypes = ctypes.c_int, [ctypes.c_int]
            break

    def _declare(name, real):
        # cblas_?gemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        return types.ExternalFunction(name, types.void(
            types.int32, types.int32, types.int32, _int, _int, _int, real,
            types.intp, _int, types.intp, _int, real, types.intp, _int))

    _sgemm = _declare(_s, types.float32)
    _dgemm = _declare(_d, types.float64)

_ROW_MAJOR, _NO_TRANS = 101, 111
CAN_HOLD = _set_threads is not None  # can one_thread() hold BLAS to one thread?


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


def gemm(A, M, out, lo, hi):  # pragma: no cover - replaced inside compiled code
    out[lo:hi] = A[lo:hi] @ M


@overload(gemm, jit_options=JIT)
def _gemm(A, M, out, lo, hi):
    """out[lo:hi] = A[lo:hi] @ M, all C-contiguous: A (B, K), M (K, N), out (B, N)."""
    if not AVAILABLE:
        return lambda A, M, out, lo, hi: matmul_into(A, M, out, lo, hi)
    f32 = A.dtype == types.float32
    f = _sgemm if f32 else _dgemm
    one, zero = (np.float32(1.0), np.float32(0.0)) if f32 else (1.0, 0.0)
    size = 4 if f32 else 8

    def impl(A, M, out, lo, hi):
        K, N = A.shape[1], M.shape[1]
        if hi > lo:
            f(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, hi - lo, N, K, one, A.ctypes.data + lo * K * size, K,
              M.ctypes.data, N, zero, out.ctypes.data + lo * N * size, N)
    return impl
