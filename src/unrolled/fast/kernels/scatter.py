"""A compiled scatter-add of rows, ``out[ids[n]] += rows[n]``: the gradient of an embedding lookup.

``np.add.at`` does the same, repeated ids adding up, but goes through NumPy's generic indexed
loop one element at a time: on the sentence classifier's batches (1,300 ids of 64 floats) it
takes about 1.2 ms, this loop about 0.03 ms.
"""

from __future__ import annotations

from numba import njit

from unrolled.fast.kernels._math import JIT


@njit(**JIT)
def add_rows(out, ids, rows):
    """out (V, E) += rows (N, E) at rows ``ids`` (N,) of out, in order (ids in [0, V))."""
    for n in range(ids.shape[0]):
        o, r = out[ids[n]], rows[n]
        for e in range(r.shape[0]):
            o[e] += r[e]
