"""A new cell is one class: the minimal gated unit below, registered, runs through the recurrent
layer (stacked, bidirectional, lengths; the reference loop, as it has no compiled kernel), its
backward passes finite differences, and ``record`` / ``trace_table`` read it by its own names."""

import copy
import pickle

import numpy as np
import pytest
from conftest import as_list, make_layer, random_state
from test_tier1_gradcheck import CONFIGS, layer_check

from unrolled.inside import record
from unrolled.inside.trace import trace_table
from unrolled.nn import loop
from unrolled.nn.activations import dsigmoid, dtanh, sigmoid, tanh
from unrolled.nn.cells import CELLS, Cell, get_cell, register
from unrolled.nn.cells.base import SIGMOID, TANH, projections
from unrolled.nn.recurrent import LAYERS, Recurrent
from unrolled.train.gradcheck import gradcheck


class MinimalGatedUnit(Cell):
    """Minimal gated unit: the GRU with one gate ``f`` for both reset and update, rows f | n::

        f = sigmoid(W_if x + b_if + W_hf h_prev + b_hf)       forget gate
        n = tanh(W_in x + b_in + f * (W_hn h_prev + b_hn))    candidate
        h = (1 - f) * h_prev + f * n
    """

    name = "mgu"
    G = 2
    gates = ("a_f", "f", "n", "h")
    labels = {"f": "f = sigmoid(a_f)  forget gate", "n": "n = tanh(a_n)     candidate",
              "h": "h = (1-f)*h_prev + f*n"}
    panels = {"f": ("f  forget gate", SIGMOID), "n": ("n  candidate", TANH), "h": ("h  hidden state", TANH)}

    def forward(self, x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None):
        H = h_prev.shape[1]
        ax = x @ W_ih.T  # (B, 2H)
        ah = h_prev @ W_hh.T  # (B, 2H)
        if b_ih is not None:
            ax, ah = ax + b_ih, ah + b_hh
        f = sigmoid(ax[:, :H] + ah[:, :H])  # (B, H)
        ah_n = ah[:, H:]
        n = tanh(ax[:, H:] + f * ah_n)
        h = (1.0 - f) * h_prev + f * n
        return h, (x, h_prev, f, n, ah_n, W_ih, W_hh)

    def backward(self, dh, cache):
        x, h_prev, f, n, ah_n, W_ih, W_hh = cache
        # h = (1 - f) * h_prev + f * n
        dn = dh * f
        df = dh * (n - h_prev)
        dh_prev = dh * (1.0 - f)
        # n = tanh(ax_n + f * ah_n)
        dan = dn * dtanh(n)
        df = df + dan * ah_n
        # f = sigmoid(ax_f + ah_f)
        daf = df * dsigmoid(f)
        dax = np.concatenate([daf, dan], axis=1)  # (B, 2H)
        dah = np.concatenate([daf, dan * f], axis=1)  # (B, 2H)
        grads = {"weight_ih": dax.T @ x, "weight_hh": dah.T @ h_prev,
                 "bias_ih": dax.sum(axis=0), "bias_hh": dah.sum(axis=0)}
        return dax @ W_ih, dh_prev + dah @ W_hh, grads

    def step_values(self, cache):
        _, h_prev, f, n, _, _, _ = cache
        return {"f": f, "n": n, "h_prev": h_prev}

    def pre_activations(self, x, values, params):
        ax, ah = projections(x, values["h_prev"], params)  # (T, B, 2H) each
        H = params[1].shape[1]
        return {"a_f": ax[..., :H] + ah[..., :H]}


@pytest.fixture
def mgu():
    """The unit, registered for one test (the registry is global: other tests never see it)."""
    register(MinimalGatedUnit)
    yield CELLS["mgu"]
    del CELLS["mgu"]


def test_registered_cell_is_a_layer_name(mgu):
    assert "mgu" in LAYERS and list(LAYERS)[:3] == ["rnn", "lstm", "gru"]
    m = make_layer("mgu", 3, 4, num_layers=2)
    assert isinstance(m, Recurrent) and m.cell is mgu and m.cell.kernel is None
    assert m.params["weight_hh_l1"].shape == (2 * 4, 4)  # G = 2 gates stacked, as torch stacks them
    for twin in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert twin.cell is mgu  # copies refer to the registered cell


def test_unregistered_cell_is_gone():
    assert "mgu" not in LAYERS
    with pytest.raises(ValueError, match="unknown cell 'mgu'; registered cells: .*lstm"):
        get_cell("mgu")
    with pytest.raises(ValueError, match="not a Cell"):
        register(object())


def test_step_gradcheck(mgu, rng):
    """The one-step backward against finite differences, every input and parameter."""
    B, D, H = 2, 4, 5
    x, h = rng.standard_normal((B, D)), rng.standard_normal((B, H)) * 0.5
    params = dict(weight_ih=rng.standard_normal((2 * H, D)) * 0.5, weight_hh=rng.standard_normal((2 * H, H)) * 0.5,
                  bias_ih=rng.standard_normal(2 * H) * 0.5, bias_hh=rng.standard_normal(2 * H) * 0.5)
    dh = rng.standard_normal((B, H))
    h1, cache = mgu.forward(x, h, *params.values())
    dx, dh_prev, grads = mgu.backward(dh, cache)
    gradcheck(lambda: (mgu.forward(x, h, *params.values())[0] * dh).sum(), dict(params, x=x, h=h),
              dict(grads, x=dx, h=dh_prev), tol=1e-6)


@pytest.mark.parametrize("schedule", ["fast", "reference"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_layer_gradcheck(mgu, config, schedule, rng):
    """Stacked, bidirectional, lengths, residual, dropout: BPTT against finite differences. With no
    compiled kernel, ``schedule="fast"`` runs the reference loop rather than fail."""
    layer_check("mgu", config, schedule, rng)


def test_record_and_trace(mgu, rng):
    """``record`` keeps the cell's own values, which obey its equations; ``trace_table`` prints its
    labels; the layer is left as it was."""
    m = make_layer("mgu", 3, 4, num_layers=2, bidirectional=True)
    x = rng.standard_normal((5, 2, 3))
    state = random_state(m, 2, rng)
    lengths = [5, 3]
    m.eval()
    y, s = m.forward(x, state, lengths=lengths)
    rec = record(m, x, state, lengths=lengths)
    np.testing.assert_allclose(rec["y"], y, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(rec["state"], s, rtol=1e-12, atol=1e-14)
    part = rec["l1_reverse"]
    assert set(mgu.gates) <= set(part) and np.isnan(part["f"][3:, 1]).all()
    np.testing.assert_allclose(part["f"][:3], sigmoid(part["a_f"][:3]), rtol=1e-12)
    f, n, h_prev = part["f"][:3], part["n"][:3], part["h_prev"][:3]
    np.testing.assert_allclose(part["h"][:3], (1 - f) * h_prev + f * n, rtol=1e-12, atol=1e-14)
    assert m.schedule == "fast" and m._cache is None
    table = trace_table(make_layer("mgu", 1, 1), np.full((2, 1, 1), 0.5))
    assert "f = sigmoid(a_f)  forget gate" in table and "h = (1-f)*h_prev + f*n" in table


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_loop_observers_see_every_step(mode, rng):
    """The reference loop's observers: forward sees each step's cache and state in processing
    order, backward the gradient reaching each step's starting state, the last one dh_0."""
    m = make_layer(mode, 3, 4)
    cell, params = m.cell, m._weights(m.params, 0, 0)
    x = rng.standard_normal((4, 2, 3))
    state = as_list(random_state(m, 2, rng))  # [h0] or [h0, c0], each (1, B, H)
    h0, c0 = state[0][0], (state[1][0] if cell.has_cell_state else None)
    seen, back = [], []
    y, _, _, cache = loop.forward(cell, x, params, h0, c0, None, True, True,
                                  observe=lambda t, step, h, c, mask: seen.append((t, step, h)))
    assert [t for t, _, _ in seen] == [3, 2, 1, 0]  # reverse: processing order
    for t, step, h in seen:
        np.testing.assert_array_equal(h, y[t])
        assert cell.step_values(step)["h_prev"] is not None
    dx, dh0, _ = loop.backward(cell, rng.standard_normal(y.shape), np.zeros_like(h0),
                               None if c0 is None else np.zeros_like(c0), cache, params, (None,) * 4,
                               observe=lambda t, dh, dc: back.append((t, dh)))
    assert [t for t, _ in back] == [0, 1, 2, 3] and back[-1][1] is dh0
