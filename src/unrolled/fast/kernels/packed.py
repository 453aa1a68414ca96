"""A step's recurrent product, ``out = A @ M``, with M packed once for the whole time loop.

A BLAS GEMM packs its operands into its own layout at every call; in a time loop that means
packing the same weight matrix again at every step (``python bench/packed.py`` times a
step's product both ways).
Here M (K, N) -- ``W_hh^T`` forward, ``W_hh`` in backward -- is packed once per call into
panels of ``NR`` columns, two vector registers' worth of float32 (16 with AVX, 32 with AVX-512:
``_vector_bytes``),

    P[p, k, :] = M[k, NR p : NR p + NR]        (the last panel padded with zeros)

and every step's product reads it in the order the register tile consumes it:

    C[r : r+MR, NR p : NR p+NR] = sum_k  A[r : r+MR, k] (outer) P[p, k, :]

The tile keeps its MR x NR outputs in vector registers while k runs: per k, the vector loads of
one row of P, MR broadcasts of A and MR times as many fused multiply-adds. Its sums take half
of the vector registers (``rows_per_tile``): with AVX-512's 32, MR = 8 rows of two float32
vectors, or 4 rows of four float64 ones; with AVX's 16, half as many rows. More rows per tile
read P fewer times for the same products (``python bench/packed.py``: 8 rows against 4 took the
step's product from 0.6-1.1 to 0.6-0.8 of BLAS's time on AVX-512). LLVM does not find this
register blocking in plain loops, so the tile is written in LLVM's vector IR
(``numba.extending.intrinsic``); the loops around it are plain numba. Panels run in the outer
loop and k in blocks that fit the first-level cache, so a block of a panel is read from there
by every row block. The sum over k is taken in order, as in the reference.
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
ACCUMULATORS = 16 if _VECTOR_BYTES == 64 else 8  # vector registers a tile's sums take: half of them


@njit(**JIT)
def rows_per_tile(itemsize: int) -> int:
    """MR: rows of a tile of NR columns whose sums fill ``ACCUMULATORS`` registers (1, 2, 4 or 8)."""
    return min(8, ACCUMULATORS // (NR * itemsize // _VECTOR_BYTES))


L1_BYTES = 1 << 15  # the share of the first-level data cache a block of a panel takes (of 32-48 KiB)


def pack(M: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """M (K, N) -> P (ceil(N / NR), K, NR): panels of NR columns, zero-padded (into ``out``).

    M may be the transpose of a C-contiguous W (N, K), as ``W_hh.T`` is: its panels are then read
    from W's rows, P[p] = W[NR p : NR p + NR].T, with no contiguous copy of M made first."""
    K, N = M.shape
    panels = -(-N // NR)
    P = np.empty((panels, K, NR), dtype=M.dtype) if out is None else out
    full = N // NR
    if not M.flags.c_contiguous and M.T.flags.c_contiguous:  # M = W.T
        P[:full] = M.T[:full * NR].reshape(full, NR, K).transpose(0, 2, 1)
    else:
        P[:full] = M[:, :full * NR].reshape(K, full, NR).transpose(1, 0, 2)
    if full < panels:
        P[full] = 0
        P[full, :, :N - full * NR] = M[:, full * NR:]
    return P


def _make_tile(rows: int):
    """An intrinsic ``tile(A, a, P, p, C, c, n, k0, k1)``: the terms k0 <= k < k1 of
    C[c : c+rows, n : n+NR] = A[a : a+rows] @ P[p], added to what C holds unless k0 = 0
    (A (., K), P (., K, NR), C (., ldc), all C-contiguous, one dtype; k0 < k1 <= K)."""

    @intrinsic
    def tile(typingctx, A, a, P, p, C, c, n, k0, k1):
        sig = types.void(A, a, P, p, C, c, n, k0, k1)

        def codegen(context, builder, signature, args):
            At, _, Pt, _, Ct, _, _, _, _ = signature.args
            A_, a_, P_, p_, C_, c_, n_, k0_, k1_ = args
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
            c_rows = [builder.gep(C_.data, [builder.add(builder.mul(builder.add(c_, const(r)), ldc), n_)])
                      for r in range(rows)]
            first = builder.icmp_signed("==", k0_, const(0))
            start = [builder.select(first, zero, builder.load(vector_at(builder.gep(c_rows[r], [const(q * lanes)])),
                                                              align=size))
                     for r in range(rows) for q in range(per_row)]  # C's partial sums (read, unused, at k0 = 0)
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
            k_next = builder.add(k, const(1))
            builder.cbranch(builder.icmp_signed("<", k_next, k1_), loop, done)
            k.add_incoming(k0_, before)
            k.add_incoming(k_next, loop)
            for phi, value, init in zip(acc, new, start):
                phi.add_incoming(init, before)
                phi.add_incoming(value, loop)

            builder.position_at_end(done)
            for r in range(rows):
                for q in range(per_row):
                    builder.store(new[r * per_row + q], vector_at(builder.gep(c_rows[r], [const(q * lanes)])),
                                  align=size)
            return context.get_dummy_value()

        return sig, codegen

    return tile


_tile1, _tile2, _tile4, _tile8 = (_make_tile(r) for r in (1, 2, 4, 8))


@njit(**JIT)
def _tile(rows, A, a, P, p, C, c, n, k0, k1):
    """Rows a : a+rows (at most 8) as one tile of 8, or as tiles of 4, 2 and 1: four tiles
    to compile instead of eight, at the cost of up to three passes over the panel at a batch's edge."""
    if rows >= 8:
        _tile8(A, a, P, p, C, c, n, k0, k1)
        return
    if rows & 4:
        _tile4(A, a, P, p, C, c, n, k0, k1)
        a, c = a + 4, c + 4
    if rows & 2:
        _tile2(A, a, P, p, C, c, n, k0, k1)
        a, c = a + 2, c + 2
    if rows & 1:
        _tile1(A, a, P, p, C, c, n, k0, k1)


@njit(**JIT)
def gemm(A, P, out, lo, hi):
    """out[lo:hi] = A[lo:hi] @ M with P = pack(M): A (B, K), out (B, N), C-contiguous.

    k runs in blocks of ``L1_BYTES`` of a panel: the block stays in the first-level cache while
    every row block reads it (a whole panel of a 650-wide K does not fit, and the tile then
    waits on the second level: half the rate, ``python bench/packed.py``). Each tile adds a
    block's terms to the partial sums in C, so the sum over k is still taken in order."""
    K, N = A.shape[1], out.shape[1]
    if K == 0:
        for r in range(lo, hi):
            for n in range(N):
                out[r, n] = 0
        return
    KC = max(1, L1_BYTES // (NR * A.itemsize))
    MR = rows_per_tile(A.itemsize)
    edge = np.empty((hi - lo + MR if N % NR else 0, NR), dtype=out.dtype)  # the last panel, when N is not a multiple of NR
    for p in range(P.shape[0]):
        n = p * NR
        width = min(NR, N - n)
        for k0 in range(0, K, KC):
            k1 = min(K, k0 + KC)
            for r in range(lo, hi, MR):
                rows = min(MR, hi - r)
                if width == NR:
                    _tile(rows, A, r, P, p, out, r, n, k0, k1)
                else:
                    _tile(rows, A, r, P, p, edge, r - lo, 0, k0, k1)
        if width < NR:
            for r in range(lo, hi):  # loops, not an array assignment: see _math.copy_into
                for j in range(width):
                    out[r, n + j] = edge[r - lo, j]
