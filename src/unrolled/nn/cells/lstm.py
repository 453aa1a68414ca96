"""The LSTM cell (seed 003), one step forward and its backward, in PyTorch's layout and gate order."""

from __future__ import annotations

import numpy as np

from unrolled.fast.kernels import loops
from unrolled.nn.activations import dsigmoid, dtanh, sigmoid, tanh
from unrolled.nn.cells.base import SIGMOID, TANH, UNBOUNDED, Cell, projections, register


@register
class LSTMCell(Cell):
    """LSTM, gate order ``i, f, g, o``. Seed 003 (and seed 000, sec. III), with ``[h_{t-1}, x_t]``
    split into the two matrices PyTorch keeps, ``W_ih`` (4H, D) and ``W_hh`` (4H, H)::

        a = W_ih x + b_ih + W_hh h_prev + b_hh        pre-activations, rows i | f | g | o
        i = sigmoid(a_i)                              input gate
        f = sigmoid(a_f)                              forget gate
        g = tanh(a_g)                                 candidate, the seeds' C~
        o = sigmoid(a_o)                              output gate
        c = f * c_prev + i * g                        cell state (long-term memory)
        h = o * tanh(c)                               hidden state (short-term memory)

    ``forward`` / ``backward`` are the reference: one step, every line one equation, weights
    included. The fast schedule (``unrolled.fast.schedule``) hoists the GEMMs out of the time loop
    and runs the same gate math compiled (``unrolled.fast.kernels.lstm``); a test pins the two.
    """

    name = "lstm"
    G = 4  # gates: i, f, g, o
    states = ("h", "c")
    # seed 003's order
    gates = ("a_f", "f", "a_i", "i", "a_g", "g", "c", "a_o", "o", "tanh_c", "h")
    labels = {"a_f": "a_f = W_f [h_prev, x] + b_f", "f": "f = sigmoid(a_f)    forget gate",
              "a_i": "a_i = W_i [h_prev, x] + b_i", "i": "i = sigmoid(a_i)    input gate",
              "a_g": "a_g = W_g [h_prev, x] + b_g", "g": "g = tanh(a_g)       candidate C~",
              "c": "c = f*c_prev + i*g  cell state",
              "a_o": "a_o = W_o [h_prev, x] + b_o", "o": "o = sigmoid(a_o)    output gate",
              "tanh_c": "tanh(c)", "h": "h = o*tanh(c)       hidden state"}
    panels = {"i": ("i  input gate", SIGMOID), "f": ("f  forget gate", SIGMOID), "g": ("g  candidate C~", TANH),
              "o": ("o  output gate", SIGMOID), "c": ("c  cell state", UNBOUNDED), "h": ("h  hidden state", TANH)}
    kernel = (loops.LSTM, 0)
    cache_width = 5  # the compiled step's cache: i, f, g, o, tanh(c), each (B, H)
    shared_da = True  # the input and recurrent pre-activations get the same gradient

    def forward(self, x, h_prev, c_prev, W_ih, W_hh, b_ih=None, b_hh=None):
        """One LSTM step. x (B, D), h_prev and c_prev (B, H) -> (h, c), cache."""
        H = h_prev.shape[1]
        a = x @ W_ih.T + h_prev @ W_hh.T  # (B, 4H)
        if b_ih is not None:
            a = a + b_ih + b_hh
        i = sigmoid(a[:, 0 * H:1 * H])  # (B, H)
        f = sigmoid(a[:, 1 * H:2 * H])
        g = tanh(a[:, 2 * H:3 * H])
        o = sigmoid(a[:, 3 * H:4 * H])
        c = f * c_prev + i * g
        tc = tanh(c)
        h = o * tc
        cache = (x, h_prev, c_prev, i, f, g, o, tc, W_ih, W_hh)
        return (h, c), cache

    def backward(self, dh, dc, cache):
        """Backward of ``forward``. dh, dc (B, H): gradients reaching h and c of this step.

        Returns dx (B, D), dh_prev, dc_prev (B, H) and the weight gradients of this step as a
        dict ``{"weight_ih", "weight_hh", "bias_ih", "bias_hh"}``.
        """
        x, h_prev, c_prev, i, f, g, o, tc, W_ih, W_hh = cache
        # h = o * tanh(c)
        do = dh * tc
        dc = dc + dh * o * dtanh(tc)  # backprop through tanh(c), added to the carried dc
        # c = f * c_prev + i * g
        di = dc * g
        dg = dc * i
        df = dc * c_prev
        dc_prev = dc * f
        # through the gate nonlinearities, back to the pre-activation a
        da = np.concatenate(
            [di * dsigmoid(i), df * dsigmoid(f), dg * dtanh(g), do * dsigmoid(o)], axis=1
        )  # (B, 4H)
        # a = W_ih x + W_hh h_prev + b
        dx = da @ W_ih  # (B, D)
        dh_prev = da @ W_hh  # (B, H)
        db = da.sum(axis=0)  # (4H,)
        grads = {"weight_ih": da.T @ x, "weight_hh": da.T @ h_prev, "bias_ih": db, "bias_hh": db}
        return dx, dh_prev, dc_prev, grads

    def step_values(self, cache) -> dict:
        _, h_prev, c_prev, i, f, g, o, tc, _, _ = cache
        return {"i": i, "f": f, "g": g, "o": o, "tanh_c": tc, "h_prev": h_prev, "c_prev": c_prev}

    def pre_activations(self, x, values, params) -> dict:
        """``a = W_ih x + b_ih + W_hh h_prev + b_hh`` (T, B, 4H), split into ``a_i a_f a_g a_o``."""
        ax, ah = projections(x, values["h_prev"], params)  # (T, B, 4H) each
        a, H = ax + ah, params[1].shape[1]
        return {f"a_{gate}": a[..., k * H:(k + 1) * H] for k, gate in enumerate("ifgo")}



@register
class PeepholeLSTMCell(LSTMCell):
    """LSTM with peephole connections (Gers & Schmidhuber 2000), as ONNX's ``LSTM`` with ``P``: the
    gates also read the cell state through one diagonal weight each, ``p = (p_i | p_f | p_o)``
    (3H,), stored as ``weight_peephole`` (ONNX orders ``P`` as i, o, f)::

        a = W_ih x + b_ih + W_hh h_prev + b_hh        pre-activations, rows i | f | g | o
        i = sigmoid(a_i + p_i * c_prev)               input gate, peeking at the old cell state
        f = sigmoid(a_f + p_f * c_prev)               forget gate, the same
        g = tanh(a_g)
        c = f * c_prev + i * g
        o = sigmoid(a_o + p_o * c)                    output gate, peeking at the *new* cell state
        h = o * tanh(c)

    ``LSTM(..., peephole=True)``. Reference loop only: no compiled kernel (the plain LSTM's stays
    as it is); ``p = 0`` is the plain LSTM.
    """

    name, family = "lstm_peephole", "lstm"
    layer_options = {"peephole": True}
    extra_params = (("weight_peephole", 3),)
    kernel = None  # the reference loop: the compiled LSTM kernel has no peepholes
    labels = {**LSTMCell.labels, "a_i": "a_i = W_i [h_prev, x] + b_i + p_i*c_prev",
              "a_f": "a_f = W_f [h_prev, x] + b_f + p_f*c_prev", "a_o": "a_o = W_o [h_prev, x] + b_o + p_o*c"}

    def forward(self, x, h_prev, c_prev, W_ih, W_hh, b_ih=None, b_hh=None, w_peep=None):
        """One step. x (B, D), h_prev and c_prev (B, H), w_peep (3H,) or None (no peepholes) -> (h, c), cache."""
        H = h_prev.shape[1]
        p = np.zeros(3 * H, dtype=x.dtype) if w_peep is None else w_peep
        p_i, p_f, p_o = p[:H], p[H:2 * H], p[2 * H:]  # (H,) each
        a = x @ W_ih.T + h_prev @ W_hh.T  # (B, 4H)
        if b_ih is not None:
            a = a + b_ih + b_hh
        i = sigmoid(a[:, 0 * H:1 * H] + p_i * c_prev)  # (B, H)
        f = sigmoid(a[:, 1 * H:2 * H] + p_f * c_prev)
        g = tanh(a[:, 2 * H:3 * H])
        c = f * c_prev + i * g
        o = sigmoid(a[:, 3 * H:4 * H] + p_o * c)
        tc = tanh(c)
        h = o * tc
        cache = (x, h_prev, c_prev, c, i, f, g, o, tc, W_ih, W_hh, p)
        return (h, c), cache

    def backward(self, dh, dc, cache):
        """Backward of ``forward``: dh, dc (B, H) -> dx, dh_prev, dc_prev and the grads (with
        ``weight_peephole``). The cell state now also reaches the gates, so dc collects o's
        gradient before it flows into c_prev, and c_prev's gathers i's and f's."""
        x, h_prev, c_prev, c, i, f, g, o, tc, W_ih, W_hh, p = cache
        H = h_prev.shape[1]
        p_i, p_f, p_o = p[:H], p[H:2 * H], p[2 * H:]
        # h = o * tanh(c)
        do = dh * tc
        da_o = do * dsigmoid(o)
        # c reaches h through tanh(c) and o through p_o * c, besides the carried dc
        dc = dc + dh * o * dtanh(tc) + da_o * p_o
        # c = f * c_prev + i * g
        da_i = dc * g * dsigmoid(i)
        da_f = dc * c_prev * dsigmoid(f)
        da_g = dc * i * dtanh(g)
        # c_prev reaches c through f and the gates i, f through the peepholes
        dc_prev = dc * f + da_i * p_i + da_f * p_f
        da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)  # (B, 4H)
        # a = W_ih x + W_hh h_prev + b
        dx = da @ W_ih  # (B, D)
        dh_prev = da @ W_hh  # (B, H)
        db = da.sum(axis=0)  # (4H,)
        dp = np.concatenate([(da_i * c_prev).sum(axis=0), (da_f * c_prev).sum(axis=0),
                             (da_o * c).sum(axis=0)])  # (3H,): i, f against c_prev, o against c
        grads = {"weight_ih": da.T @ x, "weight_hh": da.T @ h_prev, "bias_ih": db, "bias_hh": db,
                 "weight_peephole": dp}
        return dx, dh_prev, dc_prev, grads

    def step_values(self, cache) -> dict:
        _, h_prev, c_prev, c, i, f, g, o, tc, _, _, _ = cache
        return {"i": i, "f": f, "g": g, "o": o, "tanh_c": tc, "h_prev": h_prev, "c_prev": c_prev, "c": c}

    def pre_activations(self, x, values, params) -> dict:
        """The plain LSTM's ``a`` plus the peephole terms: ``a_i + p_i c_prev``, ``a_f + p_f c_prev``,
        ``a_o + p_o c``."""
        out = super().pre_activations(x, values, params[:4])
        H = params[1].shape[1]
        p = params[4]
        out["a_i"] = out["a_i"] + p[:H] * values["c_prev"]
        out["a_f"] = out["a_f"] + p[H:2 * H] * values["c_prev"]
        out["a_o"] = out["a_o"] + p[2 * H:] * values["c"]
        return out
