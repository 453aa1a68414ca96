"""Stream batching for stateful truncated BPTT (Zaremba, Sutskever and Vinyals, 2014).

The token sequence is cut into B equal, contiguous streams laid side by side, ``(N, B)``;
column b is the text from ``b * N`` to ``(b + 1) * N``. Training walks down the rows T at a
time: segment k is ``x = streams[kT : kT+T]``, ``y = streams[kT+1 : kT+T+1]`` (the next
token of each). Because segment k+1 starts exactly where segment k stopped, in every column,
the hidden state at the end of segment k is the right initial state for segment k+1: it is
carried forward as a value, and backpropagation stops at the segment boundary (truncation).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from unrolled.nn.checks import check_positive_int


def batchify(ids, B: int) -> np.ndarray:
    """Ids (L,) -> B contiguous streams (N, B), ``N = L // B``; the last ``L % B`` ids are dropped."""
    B = check_positive_int(B, "B", "batchify")
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ValueError(f"batchify: expected a 1-D array of integer token ids, got shape {ids.shape} "
                         f"and dtype {ids.dtype}")
    N = len(ids) // B
    if N < 2:
        raise ValueError(f"batchify: {len(ids)} tokens make streams of {N} token(s) each for B={B}; "
                         "each stream needs at least 2 (an input and its next token): use fewer streams "
                         "or more text")
    return ids[: N * B].reshape(B, N).T  # (N, B): column b is ids[b*N : (b+1)*N]


def num_segments(streams: np.ndarray, T: int) -> int:
    """How many segments ``segments(streams, T)`` yields: ceil((N - 1) / T)."""
    T = check_positive_int(T, "T", "num_segments")
    return -(-(len(streams) - 1) // T)


def segments(streams: np.ndarray, T: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Consecutive ``(x, y)`` segments of T steps, each (T, B), y one step ahead of x.

    The last segment is shorter when ``N - 1`` is not a multiple of T; together the x's cover
    rows 0..N-2 and the y's rows 1..N-1 of every stream, each exactly once and in order.
    """
    T = check_positive_int(T, "T", "segments")
    streams = np.asarray(streams)
    if streams.ndim != 2 or len(streams) < 2:
        raise ValueError(f"segments: expected streams (N, B) with N >= 2 from batchify, got shape {streams.shape}")
    N = len(streams)
    for start in range(0, N - 1, T):
        stop = min(start + T, N - 1)
        yield streams[start:stop], streams[start + 1 : stop + 1]  # (T, B), (T, B)
