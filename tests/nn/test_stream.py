"""Streaming (``unrolled.nn.stream``): a stack stepped one observation at a time ends where the
layer's forward over the sequence does, and the single-step cells are ``torch.nn``'s."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unrolled import GRU, LSTM, RNN
from unrolled.nn.stream import GRUCell, LSTMCell, RNNCell, Stepper

LAYERS = [(LSTM, {}), (GRU, {}), (RNN, {}), (RNN, {"nonlinearity": "relu"}), (LSTM, {"residual": True}),
          (GRU, {"bias": False})]


@pytest.mark.parametrize("reference", [False, True], ids=["compiled", "reference"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind, options", LAYERS)
def test_stepping_a_sequence_gives_the_layers_forward(kind, options, dtype, reference):
    m = kind(5, 7, num_layers=3, dtype=dtype, seed=0, **options).eval()
    r = np.random.default_rng(1)
    x = r.standard_normal((9, 4, 5)).astype(dtype)
    h0 = r.standard_normal((3, 4, 7)).astype(dtype)
    state0 = (h0, 0.5 * h0) if kind is LSTM else h0
    y, state = m.forward(x, state0)
    s = Stepper(m)
    s._reference = reference  # the cell's own equations: what a cell without a compiled step runs
    s.reset(state0)
    ys = np.stack([s(x[t]) for t in range(9)])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.allclose(ys, y, atol=tol, rtol=tol)
    for a, b in zip(state if kind is LSTM else (state,), s.state if kind is LSTM else (s.state,)):
        assert np.allclose(a, b, atol=tol, rtol=tol)


def test_one_stream_takes_a_vector_and_the_state_starts_at_zero():
    m = LSTM(3, 4, num_layers=2, seed=2).eval()
    x = np.random.default_rng(0).standard_normal((6, 1, 3)).astype(np.float32)
    y, (h, c) = m.forward(x)
    s = Stepper(m)
    assert s.state is None
    out = [s(x[t, 0]) for t in range(6)]
    assert out[-1].shape == (4,) and np.allclose(out[-1], y[-1, 0], atol=1e-6)
    assert np.allclose(s.state[1], c, atol=1e-6)
    s.reset()
    assert np.allclose(s(x[0, 0]), out[0])  # reset: zeros again


def test_streaming_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="bidirectional"):
        Stepper(LSTM(3, 4, bidirectional=True))
    s = Stepper(GRU(3, 4))
    with pytest.raises(ValueError, match="input_size=3"):
        s(np.ones(5))
    s(np.ones((2, 3)))
    with pytest.raises(ValueError, match="batch size 2"):
        s(np.ones((3, 3)))
    with pytest.raises(ValueError, match="num_layers=1"):
        s.reset(np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match=r"\(h_n, c_n\)"):
        Stepper(LSTM(3, 4)).reset(np.zeros((1, 2, 4)))


CELLS = [(LSTMCell, torch.nn.LSTMCell, {}), (GRUCell, torch.nn.GRUCell, {}), (RNNCell, torch.nn.RNNCell, {}),
         (RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"})]


@pytest.mark.parametrize("ours, theirs, options", CELLS)
def test_the_cells_are_torchs_forward_and_backward(ours, theirs, options):
    """Three steps of a loop written by hand, then BPTT by calling backward last call first:
    outputs, input gradients and parameter gradients against torch.nn's cells and autograd."""
    cell = ours(4, 5, seed=3, dtype=np.float64, **options)
    ref = theirs(4, 5, **options).double()
    assert sorted(cell.state_dict()) == sorted(ref.state_dict())
    ref.load_state_dict({k: torch.tensor(v) for k, v in cell.state_dict().items()})
    r = np.random.default_rng(0)
    xs = r.standard_normal((3, 2, 4))
    lstm = ours is LSTMCell
    state, ref_state = None, None
    outs, ref_outs, xts = [], [], []
    for x in xs:
        xt = torch.tensor(x, requires_grad=True)
        xts.append(xt)
        state = cell(x, state)
        ref_state = ref(xt, ref_state)
        outs.append(state[0] if lstm else state)
        ref_outs.append(ref_state[0] if lstm else ref_state)
    for a, b in zip(outs, ref_outs):
        assert np.allclose(a, b.detach().numpy(), atol=1e-12)
    dys = r.standard_normal((3, 2, 5))
    sum((o * torch.tensor(d)).sum() for o, d in zip(ref_outs, dys)).backward()
    dh = np.zeros((2, 5))
    dc = np.zeros((2, 5))
    dxs = []
    for t in (2, 1, 0):  # last call first
        if lstm:
            dx, dh, dc = cell.backward(dys[t] + dh, dc)
        else:
            dx, dh = cell.backward(dys[t] + dh)
        dxs.append(dx)
    for dx, xt in zip(reversed(dxs), xts):
        assert np.allclose(dx, xt.grad.numpy(), atol=1e-10)
    for name, p in ref.named_parameters():
        assert np.allclose(cell.grads[name], p.grad.numpy(), atol=1e-10), name
    with pytest.raises(ValueError, match="no forward left"):
        cell.backward(np.zeros((2, 5)))


def test_a_cell_takes_one_vector_like_torch():
    cell = LSTMCell(3, 2, seed=0)
    h, c = cell(np.ones(3))
    assert h.shape == (2,) and c.shape == (2,)
    with pytest.raises(ValueError, match=r"\(B, 3\) or \(3,\)"):
        cell(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"h must be \(2, 2\)"):
        cell(np.ones((2, 3)), (np.zeros(2), np.zeros(2)))


def test_streaming_refuses_bad_numbers_as_forward_does():
    """NaN / inf, complex or text observations and states are refused (forward refuses them too),
    not run on through every later step; lists are states as forward takes them."""
    m = LSTM(3, 4, seed=0)
    with pytest.raises(ValueError, match="recurrent layer"):
        Stepper(LSTMCell(3, 4))
    for bad, match in ((np.array([[np.nan, 0, 0]]), "NaN or inf"), (np.ones((1, 3)) + 1j, "complex"),
                       (np.full((1, 3), "a"), "real numbers"), (np.ones((0, 3)), "B >= 1")):
        with pytest.raises(ValueError, match=match):
            Stepper(m)(bad)
    h = np.zeros((1, 2, 4))
    with pytest.raises(ValueError, match="NaN or inf"):
        Stepper(m).reset((h + np.nan, h))
    listed = Stepper(m).reset([h + 0.5, h])(np.ones((2, 3)))  # a list (h, c), as forward takes it
    assert np.allclose(listed, Stepper(m).reset((h + 0.5, h))(np.ones((2, 3))))
    g = GRU(3, 4, seed=0)
    assert Stepper(g).reset((h + 0.5).tolist())(np.ones((2, 3))).shape == (2, 4)  # nested lists: an array


@pytest.mark.parametrize("kind, options", [(LSTM, {"peephole": True}), (GRU, {"reset_after": False})])
def test_the_reference_path_keeps_the_weights_it_was_made_with(kind, options):
    """A cell without a compiled step runs the cell's equations on the weights as they were when
    the stepper was made, like the compiled path: training the layer afterwards changes neither."""
    m = kind(3, 4, num_layers=2, seed=0, **options).eval()
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    y, _ = m.forward(x)
    s = Stepper(m)
    assert s._reference
    for p in m.params.values():
        p += 1.0  # an optimizer step, in place
    ys = np.stack([s(x[t]) for t in range(5)])
    assert np.allclose(ys, y, atol=1e-6)


@pytest.mark.parametrize("cell", [LSTMCell(3, 2, seed=0), GRUCell(3, 2, seed=0), RNNCell(3, 2, seed=0)],
                         ids=["lstm", "gru", "rnn"])
def test_a_cell_refuses_bad_states_and_gradients(cell):
    lstm = isinstance(cell, LSTMCell)
    bad_state = (np.full((2, 2), np.nan), np.zeros((2, 2))) if lstm else np.full((2, 2), np.nan)
    with pytest.raises(ValueError, match="NaN or inf"):
        cell(np.ones((2, 3)), bad_state)
    with pytest.raises(ValueError, match="complex"):
        cell(np.ones((2, 3)) + 1j)
    if lstm:
        with pytest.raises(ValueError, match=r"tuple \(h, c\)"):
            cell(np.ones(3), np.zeros((2, 2)))  # one array is not (h, c), even with two rows
    cell.train()
    cell(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"shape of the output it differentiates, \(2, 2\)"):
        cell.backward(np.ones((3, 2)))
    with pytest.raises(ValueError, match="NaN or inf"):
        cell.backward(np.full((2, 2), np.inf))
    cell.backward(np.ones((2, 2)))  # the refused calls left the call on the tape
