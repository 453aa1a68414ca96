"""A layer's work buffers are reused only when nothing else holds them."""

import numpy as np
import pytest

from unrolled.fast.workspace import Workspace

from conftest import make_layer


def test_a_free_buffer_is_reused_and_a_held_one_is_not():
    w = Workspace()
    a = w.empty(0, (10, 3), np.float32)
    first = a.ctypes.data
    del a
    b = w.empty(0, (10, 3), np.float32)
    assert b.ctypes.data == first  # nothing held it: the same memory again
    view = b[2:]
    del b
    c = w.empty(0, (10, 3), np.float32)
    assert c.ctypes.data != first and view.ctypes.data == first + 2 * 3 * 4  # a view holds it
    assert w.empty(1, (7,), np.float64).ctypes.data % 4096 != c.ctypes.data % 4096  # slots stagger


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_outputs_kept_from_an_earlier_call_stay_intact(mode):
    """y is a view of the layer's state buffer: holding it makes the next call take new memory."""
    m = make_layer(mode, 3, 5, seed=0)  # one direction: y is a view of the state buffer
    r = np.random.default_rng(0)
    x1, x2 = r.standard_normal((6, 4, 3)), r.standard_normal((6, 4, 3))
    y1, _ = m.forward(x1)
    kept = y1.copy()
    y2, _ = m.forward(x2)
    assert np.array_equal(y1, kept) and not np.allclose(y1, y2)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_repeated_training_steps_equal_a_fresh_layer(mode):
    """Reused buffers carry nothing from one call into the next."""
    r = np.random.default_rng(1)
    x, dy = r.standard_normal((7, 3, 4)), r.standard_normal((7, 3, 5))
    warm = make_layer(mode, 4, 5, seed=2)
    for _ in range(3):  # buffers filled by other inputs first
        y, _ = warm.forward(r.standard_normal((7, 3, 4)))
        warm.backward(r.standard_normal(y.shape))
    warm.zero_grad()
    fresh = make_layer(mode, 4, 5, seed=2)
    for m in (warm, fresh):
        y, _ = m.forward(x)
        dx, _ = m.backward(dy)
        m.result = (y.copy(), dx.copy(), {k: g.copy() for k, g in m.grads.items()})
    assert np.array_equal(warm.result[0], fresh.result[0]) and np.array_equal(warm.result[1], fresh.result[1])
    for k in fresh.grads:
        assert np.array_equal(warm.result[2][k], fresh.result[2][k]), k


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("H", [5, 128])  # the small product and the packed one
def test_inference_reuses_packed_weights_only_while_they_are_unchanged(mode, H):
    """In eval mode a layer keeps W_hh packed from call to call (schedule._recurrent_weights);
    a change in place -- a user's, an optimizer's, a state dict loaded -- is seen at the next call."""
    m = make_layer(mode, 3, H, num_layers=2, dtype=np.float32, seed=0).eval()
    x = np.random.default_rng(1).standard_normal((7, 6, 3)).astype(np.float32)
    y1, _ = m.forward(x)
    kept = m._work[1].kept["W_hh"][3]
    assert np.array_equal(m.forward(x)[0], y1) and m._work[1].kept["W_hh"][3] is kept  # reused, same numbers
    m.params["weight_hh_l1"][...] *= 0.5  # in place, the array the layer holds
    fresh = make_layer(mode, 3, H, num_layers=2, dtype=np.float32, seed=0).eval()
    fresh.load_state_dict(m.state_dict())
    y2, _ = m.forward(x)
    assert not np.array_equal(y2, y1) and np.array_equal(y2, fresh.forward(x)[0])
    assert m._work[1].kept["W_hh"][3] is not kept  # packed anew
    m.train()
    m.forward(x)  # a training call between two inference calls
    m.eval()
    m.params["weight_hh_l0"][0, 0] += 1.0
    fresh.load_state_dict(m.state_dict())
    assert np.array_equal(m.forward(x)[0], fresh.forward(x)[0])
