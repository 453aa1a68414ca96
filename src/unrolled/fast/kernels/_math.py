"""Scalar math for the compiled kernels: a tanh that vectorises, and the small matrix product.

``tanh`` in float32 is a rational approximation (the one Eigen uses, max relative error
3.4e-7 on all of float32), branch-free so that LLVM turns the gate loops into SIMD code; in
float64, the checking precision, it is libm's exact ``tanh``. The sigmoid is written through
it, ``sigmoid(a) = 0.5 * tanh(0.5 a) + 0.5``, so one function serves every gate.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

# numpy error model: no zero-division branches; contract: a * b + c as one fused multiply-add
JIT = dict(cache=True, error_model="numpy", nogil=True, fastmath={"contract"})

# Constants as float32 scalars: a Python float would promote float32 arithmetic to float64
# (and call float64 libm functions); float32 constants leave float64 code exact.
ZERO, HALF, ONE = np.float32(0.0), np.float32(0.5), np.float32(1.0)


def tanh(x):  # pragma: no cover - replaced by the overload inside compiled code
    return np.tanh(x)


@overload(tanh, jit_options=JIT)
def _tanh(x):
    if x == types.float32:
        a1, a3, a5, a7 = (np.float32(v) for v in (4.89352455891786e-03, 6.37261928875436e-04,
                                                   1.48572235717979e-05, 5.12229709037114e-08))
        a9, a11, a13 = (np.float32(v) for v in (-8.60467152213735e-11, 2.00018790482477e-13,
                                                -2.76076847742355e-16))
        b0, b2, b4, b6 = (np.float32(v) for v in (4.89352518554385e-03, 2.26843463243900e-03,
                                                   1.18534705686654e-04, 1.19825839466702e-06))
        clamp = np.float32(7.90531110763549805)

        def impl(x):
            x = min(max(x, -clamp), clamp)
            x2 = x * x
            p = x2 * (x2 * (x2 * (x2 * (x2 * (x2 * a13 + a11) + a9) + a7) + a5) + a3) + a1
            q = x2 * (x2 * (x2 * b6 + b4) + b2) + b0
            return x * p / q
        return impl
    return lambda x: np.tanh(x)


@njit(inline="always", **JIT)
def sigmoid(a):
    return HALF * tanh(HALF * a) + HALF


@njit(inline="always", **JIT)
def copy_into(dst, src):
    """dst[:] = src[:] for two 1-D arrays of one length, as a plain loop: numba compiles an array
    assignment with its shape-mismatch message, string formatting and all, which took seconds of
    a first run's compile (``python bench/first_run.py``)."""
    for j in range(src.shape[0]):
        dst[j] = src[j]


@njit(**JIT)
def matmul_into(A, M, out, lo, hi):
    """out[lo:hi] = A[lo:hi] @ M for small shapes: A (B, K), M (K, N) row-major, out (B, N).

    Row-axpy order (out[b, :] += A[b, k] * M[k, :]) keeps the inner loop contiguous and free
    of reductions, so it vectorises. Eight k at a time: each out[b, n] is loaded and stored
    once per eight products instead of once per product, and the eight products are summed as
    a tree before they join out[b, n], so that a step's product waits on one addition per
    eight k, not on a chain of K multiply-adds (at batch 1 that chain is what a step waits on;
    ``contract`` lets LLVM fuse each multiply with an addition).
    """
    K = A.shape[1]
    N = M.shape[1]
    K8 = K - K % 8
    for b in range(lo, hi):
        o = out[b]
        a = A[b]
        for n in range(N):
            o[n] = ZERO
        for k in range(0, K8, 8):
            a0, a1, a2, a3, a4, a5, a6, a7 = a[k], a[k + 1], a[k + 2], a[k + 3], a[k + 4], a[k + 5], a[k + 6], a[k + 7]
            M0, M1, M2, M3, M4, M5, M6, M7 = M[k], M[k + 1], M[k + 2], M[k + 3], M[k + 4], M[k + 5], M[k + 6], M[k + 7]
            for n in range(N):
                o[n] += (((a0 * M0[n] + a1 * M1[n]) + (a2 * M2[n] + a3 * M3[n]))
                         + ((a4 * M4[n] + a5 * M5[n]) + (a6 * M6[n] + a7 * M7[n])))
        for k in range(K8, K):
            ak = a[k]
            Mk = M[k]
            for n in range(N):
                o[n] += ak * Mk[n]
