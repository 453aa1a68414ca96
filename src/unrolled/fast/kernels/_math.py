"""Scalar math for the compiled kernels: a tanh that vectorises, and the small matrix product.

``tanh`` in float32 is a rational approximation (the one Eigen uses, max relative error
3.4e-7 on all of float32), branch-free so that LLVM turns the gate loops into SIMD code; in
float64, the checking precision, it is libm's exact ``tanh``. The sigmoid is written through
it, ``sigmoid(a) = 0.5 * tanh(0.5 a) + 0.5``, so one function serves every gate.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic, overload

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
    if x == types.float64:
        return _tanh64
    return lambda x: np.tanh(x)


# float64 tanh, branch-free so that it vectorises (libm's tanh is a call per element, and it was
# what float64 inference spent most of its time on: ``python bench/bench_rnn.py --dtype float64``).
# |x| < 0.625: Cephes' rational form x + x z P(z) / Q(z), z = x^2; above: 1 - 2 / (exp(2|x|) + 1),
# with exp(y) = 2^k exp(r), |r| <= ln(2) / 2, exp(r) by its Taylor series to r^13 and 2^k built
# from k's bits. Both branches share one division (the numerators and denominators are picked
# before it). Relative error about 2e-16 (tests/fast/test_kernels.py).
_TANH_P = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
_TANH_Q = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)
_EXP_TAYLOR = tuple(1.0 / np.prod(np.arange(1.0, n + 1)) for n in range(13, -1, -1))  # 1/13!, ..., 1/0!
_LOG2E, _LN2_HI, _LN2_LO = 1.4426950408889634, 6.93145751953125e-1, 1.42860682030941723212e-6
_ROUND = 6755399441055744.0  # 1.5 * 2^52
_ROUND_BITS = np.int64(np.float64(_ROUND).view(np.int64))


def _bitcast(source, target):
    """An intrinsic reinterpreting the bits of a ``source`` scalar as a ``target`` one of the same width."""

    @intrinsic
    def cast(typingctx, value):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(target))
        return target(source), codegen

    return cast


_as_int64 = _bitcast(types.float64, types.int64)
_as_float64 = _bitcast(types.int64, types.float64)
_as_float32 = _bitcast(types.int32, types.float32)

# float32 exp (Cephes' expf), branch-free so that it vectorises: exp(x) = 2^k exp(r) with
# k = round(x / ln 2), |r| <= ln(2) / 2, exp(r) = 1 + r + r^2 P(r) (degree 5); 2^k written into
# the exponent field. x is clamped to [-87.3, 88], where 2^k stays a normal number: below,
# the result is 1e-38 instead of a subnormal or 0 (a softmax's share of 1e-38 is 0 to float32).
_EXPF_P = tuple(np.float32(v) for v in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                                        1.6666665459e-1, 5.0000001201e-1))
_EXPF_LO, _EXPF_HI = np.float32(-87.3), np.float32(88.0)
_LOG2EF, _LN2F_HI, _LN2F_LO = np.float32(1.44269504088896341), np.float32(0.693359375), np.float32(-2.12194440e-4)


@njit(inline="always", **JIT)
def expf(x):
    """exp of a float32, to about 1 ulp (tests/fast/test_kernels.py)."""
    x = min(max(x, _EXPF_LO), _EXPF_HI)
    kf = np.floor(x * _LOG2EF + HALF)
    r = (x - kf * _LN2F_HI) - kf * _LN2F_LO
    c = _EXPF_P
    p = ((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]
    e = (p * r) * r + r + ONE
    return e * _as_float32((np.int32(kf) + np.int32(127)) << np.int32(23))


def _tanh64(x):
    a = min(abs(x), 20.0)  # tanh(20) is 1 to float64's precision
    z = a * a
    p_small = ((_TANH_P[0] * z + _TANH_P[1]) * z + _TANH_P[2]) * z * a
    q_small = ((z + _TANH_Q[0]) * z + _TANH_Q[1]) * z + _TANH_Q[2]
    y = 2.0 * a
    kf = np.floor(y * _LOG2E + 0.5)
    r = (y - kf * _LN2_HI) - kf * _LN2_LO
    c = _EXP_TAYLOR
    e = ((((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) * r + c[6]) * r + c[7]
    e = (((((e * r + c[8]) * r + c[9]) * r + c[10]) * r + c[11]) * r + c[12]) * r + c[13]
    # 2^k for 0 <= k <= 58 by its bits: k lies in the low bits of kf + 1.5 * 2^52, then goes to
    # the exponent field (integer adds and shifts vectorise; a conversion to int64 does not on AVX2)
    e *= _as_float64((_as_int64(kf + _ROUND) - _ROUND_BITS + 1023) << 52)
    small = a < 0.625
    t = (p_small if small else 2.0) / (q_small if small else e + 1.0)
    m = a + t if small else 1.0 - t
    return m if x >= 0.0 else -m


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
