"""LSTM cell: one step forward and its backward, in PyTorch's layout and gate order ``i, f, g, o``.

Seed 003 (and seed 000, sec. III), with ``[h_{t-1}, x_t]`` split into the two matrices
PyTorch keeps, ``W_ih`` (4H, D) and ``W_hh`` (4H, H)::

    a = W_ih x + b_ih + W_hh h_prev + b_hh        pre-activations, rows i | f | g | o
    i = sigmoid(a_i)                              input gate
    f = sigmoid(a_f)                              forget gate
    g = tanh(a_g)                                 candidate, the seeds' C~
    o = sigmoid(a_o)                              output gate
    c = f * c_prev + i * g                        cell state (long-term memory)
    h = o * tanh(c)                               hidden state (short-term memory)

Two forms live here. ``forward`` / ``backward`` are the reference: one step, every line one
equation, weights included. ``step`` / ``step_backward`` are the gate math alone, for the
fast schedule in ``recurrent.py`` that hoists the GEMMs out of the time loop; a test pins the
two forms together.
"""

from __future__ import annotations

import numpy as np

from ..activations import dsigmoid, dtanh, sigmoid, tanh

G = 4  # gates: i, f, g, o
CACHE_WIDTH = 5  # fast-path cache per step: i, f, g, o, tanh(c), each (B, H)
SHARED_DA = True  # the input and recurrent pre-activations get the same gradient


def forward(x, h_prev, c_prev, W_ih, W_hh, b_ih=None, b_hh=None):
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


def backward(dh, dc, cache):
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


# --- fused gate math for the fast schedule ------------------------------------------------------


def step(xw, hw, b_hh, h_prev, c_prev, cache):
    """Gate math of one step, the GEMMs already done.

    xw = W_ih x + b_ih (B, 4H); hw = W_hh h_prev (B, 4H), no bias; ``cache`` (B, 5H) is
    filled with i, f, g, o, tanh(c). Returns (h, c).
    """
    H = h_prev.shape[1]
    a = xw + hw  # (B, 4H)
    if b_hh is not None:
        a += b_hh
    i = cache[:, 0 * H:1 * H]
    f = cache[:, 1 * H:2 * H]
    g = cache[:, 2 * H:3 * H]
    o = cache[:, 3 * H:4 * H]
    tc = cache[:, 4 * H:5 * H]
    i[...] = sigmoid(a[:, 0 * H:1 * H])
    f[...] = sigmoid(a[:, 1 * H:2 * H])
    g[...] = tanh(a[:, 2 * H:3 * H])
    o[...] = sigmoid(a[:, 3 * H:4 * H])
    c = f * c_prev + i * g
    tc[...] = tanh(c)
    return o * tc, c


def step_backward(dh, dc, cache, h, h_prev, c_prev, dxw, dhw):
    """Backward of ``step``: fills dxw (B, 4H) (= dhw, the same array here) and returns
    (the part of dh_prev that bypasses W_hh, dc_prev); for the LSTM the first is None."""
    H = dh.shape[1]
    i, f, g, o, tc = (cache[:, k * H:(k + 1) * H] for k in range(5))
    dc = dc + dh * o * dtanh(tc)  # through h = o * tanh(c)
    dxw[:, 0 * H:1 * H] = dc * g * dsigmoid(i)  # di, through sigmoid
    dxw[:, 1 * H:2 * H] = dc * c_prev * dsigmoid(f)  # df
    dxw[:, 2 * H:3 * H] = dc * i * dtanh(g)  # dg, through tanh
    dxw[:, 3 * H:4 * H] = dh * tc * dsigmoid(o)  # do
    return None, dc * f
