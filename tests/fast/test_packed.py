"""The packed recurrent product (``kernels.packed``) equals ``A @ M`` on any shape and row range."""

import numpy as np
from hypothesis import given, settings, strategies as st

from unrolled.fast.kernels import packed


def test_pack_lays_out_panels_of_two_vectors_of_columns_padded_with_zeros():
    NR = packed.NR  # 16 columns with AVX, 32 with AVX-512
    assert NR == packed._VECTOR_BYTES // 2 and NR in (16, 32)
    M = np.arange(3 * (NR + 4), dtype=np.float32).reshape(3, NR + 4)
    P = packed.pack(M)
    assert P.shape == (2, 3, NR)
    assert np.array_equal(P[0], M[:, :NR]) and np.array_equal(P[1, :, :4], M[:, NR:])
    assert not P[1, :, 4:].any()


def test_pack_of_a_transposed_matrix_reads_its_rows_and_lays_out_the_same_panels():
    """W_hh.T (a view, not contiguous) packs to the same P as its contiguous copy, padding included."""
    NR = packed.NR
    for N in (NR, 2 * NR + 5, 3):
        W = np.random.default_rng(N).standard_normal((N, 7)).astype(np.float32)  # (N, K), as W_hh (G*H, H)
        assert np.array_equal(packed.pack(W.T), packed.pack(np.ascontiguousarray(W.T)))


@settings(max_examples=60, deadline=None)
@given(B=st.integers(1, 11), K=st.integers(1, 40), N=st.integers(1, 70), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]), data=st.data())
def test_packed_product_equals_matmul(B, K, N, seed, dtype, data):
    lo = data.draw(st.integers(0, B))
    hi = data.draw(st.integers(lo, B))
    r = np.random.default_rng(seed)
    A, M = r.standard_normal((B, K)).astype(dtype), r.standard_normal((K, N)).astype(dtype)
    out = np.full((B, N), 7, dtype=dtype)
    packed.gemm(A, packed.pack(M), out, lo, hi)
    expect = np.full((B, N), 7, dtype=dtype)
    expect[lo:hi] = A[lo:hi] @ M
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.allclose(out, expect, rtol=tol, atol=tol * np.sqrt(K))  # rows outside lo:hi untouched


@settings(max_examples=25, deadline=None)
@given(K=st.integers(1, 700), rows=st.integers(1, 19), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_products_over_many_blocks_of_k_and_every_row_remainder(K, rows, dtype, seed):
    """K past the first-level-cache block (``L1_BYTES``: 256 float32 or 128 float64 per block),
    and row counts that leave every remainder of a tile (8 + 4 + 2 + 1 rows), on a last panel
    narrower than NR: the partial sums carried between blocks are summed in order, as one pass
    over K would."""
    r = np.random.default_rng(seed)
    N = packed.NR + 5
    A, M = r.standard_normal((rows + 2, K)).astype(dtype), r.standard_normal((K, N)).astype(dtype)
    out = np.full((rows + 2, N), 7, dtype=dtype)
    packed.gemm(A, packed.pack(M), out, 1, rows + 1)
    expect = out.copy()
    expect[1:rows + 1] = A[1:rows + 1] @ M
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.allclose(out, expect, rtol=tol, atol=tol * np.sqrt(K))
    assert (out[0] == 7).all() and (out[-1] == 7).all()


def test_rows_per_tile_fill_half_of_the_vector_registers():
    per_row = {4: packed.NR * 4 // packed._VECTOR_BYTES, 8: packed.NR * 8 // packed._VECTOR_BYTES}
    for itemsize in (4, 8):
        assert packed.rows_per_tile(itemsize) * per_row[itemsize] == packed.ACCUMULATORS
    assert packed.rows_per_tile(4) == (8 if packed._VECTOR_BYTES == 64 else 4)


def test_packed_product_at_a_layer_size():
    """A step of the (64, 100, 256, 256) benchmark: 32 rows of one thread, W_hh^T (256, 1024)."""
    r = np.random.default_rng(0)
    A, M = r.standard_normal((64, 256)).astype(np.float32), r.standard_normal((256, 1024)).astype(np.float32)
    out = np.zeros((64, 1024), dtype=np.float32)
    packed.gemm(A, packed.pack(M), out, 32, 64)
    exact = A[32:].astype(np.float64) @ M.astype(np.float64)
    assert np.max(np.abs(out[32:] - exact)) / np.max(np.abs(exact)) < 1e-5 and not out[:32].any()
