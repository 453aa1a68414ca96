"""The point process's network: a recurrent stack reads the events one by one; after each it gives
the distribution of the next inter-event time (and the next mark)::

    x_0 = 0                                           the window's start, before any event
    x_j = [ (log tau_j - m) / s , (t_j / c) , E[k_j] ]  event j: its inter-event time, (with ``clock``)
                                                      its time since the window's start over the typical
                                                      window length c, and its mark's embedding
    h_j = rnn(x_0 .. x_j)                             (T = N + 1, B, H)
    theta_j = time_head(h_j)                          the parameters of tau_{j+1}'s distribution
    z_j     = mark_head(h_j)                          the logits of k_{j+1}

``h_N`` (after the last event) scores the silence up to the window's end. The time head gives one
number per step for RMTPP (``a_j = v . h_j + b``, with ``w`` the network's own scalar parameter)
or 3K for the log-normal mixture (K logits, K means, K log-scales, in that order).

Padded steps (past a sequence's N + 1) output 0 and get no gradient (``unrolled.nn.loop``).
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.layers import Embedding, Linear
from unrolled.nn.module import Module
from unrolled.nn.recurrent import make_layer

MODELS = ("lognormmix", "rmtpp")


class PointProcessNetwork(Module):
    """Mark embedding (marked data only) -> ``cell`` stack -> time head (+ ``w`` for RMTPP) and
    mark head. Input: log_tau (T, B) standardised, marks (T, B) ints (``n_marks``, the start's own
    row, at the start step and padding), lengths (B,) = N + 1."""

    def __init__(self, model, cell, n_marks, mark_dim, hidden_size, num_layers=1, dropout=0.0, n_components=8,
                 time_features=1, *, dtype=np.float32, seed=None):
        super().__init__()
        if model not in MODELS:
            raise ValueError(f"model={model!r} is unknown; use one of {MODELS}")
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
        self.model, self.n_marks, self.dtype = model, n_marks, np.dtype(dtype)
        self.n_params = 1 if model == "rmtpp" else 3 * n_components
        if model == "rmtpp":
            # w: how the intensity changes since the last event; Du et al. start it small
            self._add_param("w", np.full(1, -0.1, dtype=dtype))
        self.time_features = time_features  # 1: log tau; 2: and the clock
        width = time_features + (mark_dim if n_marks else 0)
        # one row per mark and a last one, START, for the window's start (and padding)
        self.marks = Embedding(n_marks + 1, mark_dim, dtype=dtype, seed=rngs[0]) if n_marks else None
        self.rnn = make_layer(cell, width, hidden_size, num_layers=num_layers, dropout=dropout, dtype=dtype,
                              seed=rngs[1])
        self.time_head = Linear(hidden_size, self.n_params, dtype=dtype, seed=rngs[2])
        self.mark_head = Linear(hidden_size, n_marks, dtype=dtype, seed=rngs[3]) if n_marks > 1 else None
        self._x = None

    def inputs(self, time_x, marks):
        """x (T, B, F + E): the time features (T, B, F) -- or the standardised log tau alone, (T, B)
        -- beside the mark's embedding."""
        time_x = np.asarray(time_x, dtype=self.dtype)
        parts = [time_x[:, :, None] if time_x.ndim == 2 else time_x]
        if self.marks is not None:
            parts.append(self.marks.forward(np.asarray(marks, dtype=np.int64)))
        return np.concatenate(parts, axis=2)

    def forward(self, time_x, marks, lengths):
        """time_x (T, B, F) (or (T, B) for F = 1), marks (T, B), lengths (B,) -> theta (T, B, P) the
        time head's outputs and mark logits (T, B, C) or None."""
        x = self.inputs(time_x, marks)  # (T, B, F + E)
        h, _ = self.rnn.forward(x, lengths=np.asarray(lengths, dtype=np.int64))  # (T, B, H)
        theta = self.time_head.forward(h)  # (T, B, P)
        logits = None if self.mark_head is None else self.mark_head.forward(h)  # (T, B, C)
        return theta, logits

    def backward(self, dtheta, dlogits=None, dw=0.0):
        """dtheta (T, B, P), dlogits (T, B, C) or None, dw (RMTPP's w) -> parameter gradients;
        returns dx (T, B, F + E), the gradient of the stack's input."""
        dh = self.time_head.backward(np.asarray(dtheta, dtype=self.dtype))
        if self.mark_head is not None and dlogits is not None:
            dh = dh + self.mark_head.backward(np.asarray(dlogits, dtype=self.dtype))
        if self.model == "rmtpp":
            self.grads["w"] += dw
        dx, _ = self.rnn.backward(dh)  # (T, B, F + E)
        if self.marks is not None:
            self.marks.backward(dx[:, :, self.time_features:])
        return dx

    @property
    def w(self) -> float:
        return float(self.params["w"][0]) if self.model == "rmtpp" else 0.0
