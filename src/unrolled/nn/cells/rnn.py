"""The Elman RNN cell, with tanh or ReLU, one step forward and its backward."""

from __future__ import annotations

from unrolled.fast.kernels import loops
from unrolled.nn.activations import ACTIVATIONS
from unrolled.nn.cells.base import TANH, Cell, projections, register


class ElmanCell(Cell):
    """Elman RNN, seed 004 eq. 1-2 (and seed 000 eq. 1)::

        a = W_hx x + W_hh h_prev + b        here W_hx is PyTorch's W_ih and b = b_ih + b_hh
        h = tanh(a)                         or relu(a), seed 004's remedy for vanishing gradients

    Backward, seed 004 eq. 6-8 and 10::

        delta = dL/dh * (1 - h^2)           the local gradient at the pre-activation (eq. 6)
        dW_hx = delta x^T, dW_hh = delta h_prev^T    (eq. 7, 8; summed over t by the layer)
        dL/dh_prev = W_hh^T delta           (eq. 10)

    One instance per nonlinearity: ``rnn_tanh`` and ``rnn_relu``, both ``RNN`` (family ``rnn``).
    """

    family = "rnn"
    G = 1
    gates = ("a", "h")
    panels = {"h": ("h  hidden state", TANH)}
    cache_width = 0  # the compiled step needs only h, which the layer keeps anyway
    shared_da = True

    def __init__(self, nonlinearity: str):
        self.nonlinearity = nonlinearity
        self.name = f"rnn_{nonlinearity}"
        self.layer_options = {"nonlinearity": nonlinearity}
        self.labels = {"a": "a = W_ih x + W_hh h_prev + b", "h": f"h = {nonlinearity}(a)    hidden state"}
        self.kernel = (loops.RNN, ("tanh", "relu").index(nonlinearity))  # the compiled step's flag
        self.phi, self.dphi = ACTIVATIONS[nonlinearity]

    def forward(self, x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None):
        """One Elman step. x (B, D), h_prev (B, H) -> h (B, H), cache."""
        a = x @ W_ih.T + h_prev @ W_hh.T  # (B, H)
        if b_ih is not None:
            a = a + b_ih + b_hh
        h = self.phi(a)
        return h, (x, h_prev, h, W_ih, W_hh)

    def backward(self, dh, cache):
        """Backward of ``forward``: dh (B, H) -> dx (B, D), dh_prev (B, H), weight gradients."""
        x, h_prev, h, W_ih, W_hh = cache
        delta = dh * self.dphi(h)  # eq. 6: backprop through tanh (or relu)
        db = delta.sum(axis=0)
        grads = {"weight_ih": delta.T @ x, "weight_hh": delta.T @ h_prev, "bias_ih": db, "bias_hh": db}
        return delta @ W_ih, delta @ W_hh, grads  # dx, eq. 10's W_hh^T delta

    def step_values(self, cache) -> dict:
        return {"h_prev": cache[1]}

    def pre_activations(self, x, values, params) -> dict:
        ax, ah = projections(x, values["h_prev"], params)  # (T, B, H) each
        return {"a": ax + ah}


register(ElmanCell("tanh"))
register(ElmanCell("relu"))
