"""A step's recurrent product, ``out = A @ M``, with M packed once for the whole time loop.

A BLAS GEMM packs its operands into its own layout at every call; in a time loop that means
packing the same weight matrix again at every step (``python bench/packed.py`` times a
step's product both ways).
Here M (K, N) -- ``W_hh^T`` forward, ``W_hh`` in backward -- is packed once per call into
panels of ``NR`` columns, two vector registers' worth of float32 (16 with AVX, 32 with AVX-512:
``_vector_bytes``),

    P[p, k, :] = M[k, NR p : NR p + NR]        (the last panel padded with zeros)

and every step's product reads it in the order the register tile consumes it:

    C[r : r+4, NR p : NR p+NR] = sum_k  A[r : r+4, k] (outer) P[p, k, :]

The tile keeps its 4 x NR outputs in vector registers (eight in float32, sixteen in float64) while
k runs over all of K: per k, two vector loads of P, four broadcasts of A and eight fused
multiply-adds. LLVM does not find this register blocking in plain loops, so the tile is
written in LLVM's vector IR (``numba.extending.intrinsic``); the loops around it are plain
numba. Panels run in the outer loop, so a panel (K x 16) is read from cache by every row
block while it is hot. The sum over k is taken in order, as in the reference.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from unrolled.fast.kernels._math import JIT

def _vector_bytes() -> int:
    """The widest vector register of this CPU: 64 bytes with AVX-512, else 32 (AVX)."""
    try:
        import llvmlite.binding as llvm

        return 64 if "+avx512f" in llvm.get_host_cpu_features().flatten().split(",") else 32
    except Exception:  # no feature list: the AVX width every x86-64 CPU numba targets has
        return 32


_VECTOR_BYTES = _vector_bytes()  # one vector register
NR = _VECTOR_BYTES // 2  # columns per panel: two float32 vectors (16 with AVX, 32 with AVX-512)
MR = 4  # rows per register tile


def pack(M: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """M (K, N) -> P (ceil(N / NR), K, NR): panels of NR columns, zero-padded (into ``out``)."""
    K, N = M.shape
    panels = -(-N // NR)
    P = np.empty((panels, K, NR), dtype=M.dtype) if out is None else out
    full = N // NR
    P[:full] = M[:, :full * NR].reshape(K, full, NR).transpose(1, 0, 2)
    if full < panels:
        P[full] = 0
        P[full, :, :N - full * NR] = M[:, full * NR:]
    return P


def _make_tile(rows: int):
    """An intrinsic ``tile(A, a, P, p, C, c, n)``: C[c : c+rows, n : n+16] = A[a : a+rows] @ P[p]
    (A (., K), P (., K, 16), C (., ldc), all C-contiguous, one dtype; K >= 1)."""

    @intrinsic
    def tile(typingctx, A, a, P, p, C, c, n):
        sig = types.void(A, a, P, p, C, c, n)

        def codegen(context, builder, signature, args):
            At, _, Pt, _, Ct, _, _ = signature.args
            A_, a_, P_, p_, C_, c_, n_ = args
            A_ = context.make_array(At)(context, builder, A_)
            P_ = context.make_array(Pt)(context, builder, P_)
            C_ = context.make_array(Ct)(context, builder, C_)
            K = cgutils.unpack_tuple(builder, A_.shape)[1]
            ldc = cgutils.unpack_tuple(builder, C_.shape)[1]
            real = context.get_data_type(At.dtype)
            size = context.get_abi_sizeof(real)
            lanes = _VECTOR_BYTES // size
            per_row = NR // lanes  # vectors per tile row
            vec = ir.VectorType(real, lanes)
            i64 = K.type

            def const(v):
                return ir.Constant(i64, v)

            def vector_at(pointer):  # an unaligned vector view of the memory at ``pointer``
                return builder.bitcast(pointer, vec.as_pointer())

            a_rows = [builder.gep(A_.data, [builder.mul(builder.add(a_, const(r)), K)]) for r in range(rows)]
            panel = builder.gep(P_.data, [builder.mul(p_, builder.mul(K, const(NR)))])
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3),
                                                 f"llvm.fma.v{lanes}{'f32' if size == 4 else 'f64'}")
            zero = ir.Constant(vec, [0.0] * lanes)
            lane0 = ir.Constant(ir.IntType(32), 0)
            splat = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)

            before = builder.block
            loop = builder.function.append_basic_block("tile.k")
            done = builder.function.append_basic_block("tile.done")
            builder.branch(loop)
            builder.position_at_end(loop)
            k = builder.phi(i64)
            acc = [builder.phi(vec) for _ in range(rows * per_row)]
            pk = builder.gep(panel, [builder.mul(k, const(NR))])  # P[p, k, :]
            w = [builder.load(vector_at(builder.gep(pk, [const(q * lanes)])), align=size) for q in range(per_row)]
            new = []
            for r in range(rows):
                s = builder.load(builder.gep(a_rows[r], [k]), align=size)  # A[a + r, k], broadcast
                s = builder.shuffle_vector(builder.insert_element(ir.Constant(vec, ir.Undefined), s, lane0),
                                           ir.Constant(vec, ir.Undefined), splat)
                new += [builder.call(fma, [s, w[q], acc[r * per_row + q]]) for q in range(per_row)]
            k1 = builder.add(k, const(1))
            builder.cbranch(builder.icmp_signed("<", k1, K), loop, done)
            k.add_incoming(const(0), before)
            k.add_incoming(k1, loop)
            for phi, value in zip(acc, new):
                phi.add_incoming(zero, before)
                phi.add_incoming(value, loop)

            builder.position_at_end(done)
            for r in range(rows):
                row = builder.gep(C_.data, [builder.add(builder.mul(builder.add(c_, const(r)), ldc), n_)])
                for q in range(per_row):
                    builder.store(new[r * per_row + q], vector_at(builder.gep(row, [const(q * lanes)])), align=size)
            return context.get_dummy_value()

        return sig, codegen

    return tile


_tile1, _tile2, _tile3, _tile4 = (_make_tile(r) for r in range(1, MR + 1))


@njit(**JIT)
def _tile(rows, A, a, P, p, C, c, n):
    if rows >= 4:
        _tile4(A, a, P, p, C, c, n)
    elif rows == 3:
        _tile3(A, a, P, p, C, c, n)
    elif rows == 2:
        _tile2(A, a, P, p, C, c, n)
    else:
        _tile1(A, a, P, p, C, c, n)


@njit(**JIT)
def gemm(A, P, out, lo, hi):
    """out[lo:hi] = A[lo:hi] @ M with P = pack(M): A (B, K), out (B, N), C-contiguous."""
    K, N = A.shape[1], out.shape[1]
    if K == 0:
        for r in range(lo, hi):
            for n in range(N):
                out[r, n] = 0
        return
    edge = np.empty((MR, NR), dtype=out.dtype)  # the last panel's tile, when N is not a multiple of 16
    for p in range(P.shape[0]):
        n = p * NR
        width = min(NR, N - n)
        for r in range(lo, hi, MR):
            rows = min(MR, hi - r)
            if width == NR:
                _tile(rows, A, r, P, p, out, r, n)
            else:
                _tile(rows, A, r, P, p, edge, 0, 0)
                for i in range(rows):  # loops, not an array assignment: see _math.copy_into
                    for j in range(width):
                        out[r + i, n + j] = edge[i, j]
