"""Stream batching for stateful truncated BPTT: segments continue each stream exactly."""

import numpy as np
import pytest

import unrolled
from unrolled.tasks.lm.batching import batchify, num_segments, segments


def test_batchify_lays_contiguous_streams_side_by_side():
    ids = np.arange(23)
    s = batchify(ids, 4)  # N = 5, the last 3 ids dropped
    assert s.shape == (5, 4)
    assert s[:, 1].tolist() == [5, 6, 7, 8, 9]
    assert s.T.ravel().tolist() == list(range(20))


@pytest.mark.parametrize("N, B, T", [(50, 3, 7), (50, 3, 49), (50, 1, 100), (11, 2, 5)])
def test_segments_continue_every_stream_exactly(N, B, T):
    streams = batchify(np.arange(N * B), B)
    pieces = list(segments(streams, T))
    assert len(pieces) == num_segments(streams, T)
    for (x, y), (x_next, _) in zip(pieces, pieces[1:]):
        assert x.shape == y.shape and len(x) == T
        np.testing.assert_array_equal(y[:-1], x[1:])      # y is x shifted by one step
        np.testing.assert_array_equal(x_next[0], y[-1])   # the next segment starts where this one stopped
    xs = np.concatenate([x for x, _ in pieces])
    ys = np.concatenate([y for _, y in pieces])
    np.testing.assert_array_equal(xs, streams[:-1])  # every input exactly once, in order
    np.testing.assert_array_equal(ys, streams[1:])


def test_carrying_the_state_across_segments_equals_one_long_pass():
    """What makes stateful TBPTT correct: the final state of segment k, fed as the initial state
    of segment k + 1, gives the outputs of one unbroken pass over the streams."""
    rng = np.random.default_rng(0)
    V, D, H, B, T = 7, 4, 5, 3, 4
    table = rng.standard_normal((V, D))
    streams = batchify(rng.integers(0, V, 3 * 19), B)  # (19, 3)
    lstm = unrolled.LSTM(D, H, num_layers=2, dtype=np.float64, seed=0).eval()
    whole, _ = lstm.forward(table[streams[:-1]])  # (N - 1, B, H)
    state, outs = None, []
    for x, _ in segments(streams, T):
        y, state = lstm.forward(table[x], state)
        state = tuple(s.copy() for s in state)  # carried as values: the graph is cut here
        outs.append(y)
    np.testing.assert_allclose(np.concatenate(outs), whole, rtol=0, atol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="fewer streams or more text"):
        batchify(np.arange(5), 3)
    with pytest.raises(ValueError, match="integer token ids"):
        batchify(np.zeros(10), 2)
    with pytest.raises(ValueError, match="B="):
        batchify(np.arange(10), 0)
