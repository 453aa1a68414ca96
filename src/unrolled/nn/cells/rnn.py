"""Elman RNN cell, seed 004 eq. 1-2 (and seed 000 eq. 1)::

    a = W_hx x + W_hh h_prev + b        here W_hx is PyTorch's W_ih and b = b_ih + b_hh
    h = tanh(a)                         or relu(a), seed 004's remedy for vanishing gradients

Backward, seed 004 eq. 6-8 and 10::

    delta = dL/dh * (1 - h^2)           the local gradient at the pre-activation (eq. 6)
    dW_hx = delta x^T, dW_hh = delta h_prev^T    (eq. 7, 8; summed over t by the layer)
    dL/dh_prev = W_hh^T delta           (eq. 10)
"""

from __future__ import annotations

from unrolled.nn.activations import ACTIVATIONS

G = 1
CACHE_WIDTH = 0  # the fast path needs only h, which the layer keeps anyway
SHARED_DA = True


def forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman step. x (B, D), h_prev (B, H) -> h (B, H), cache."""
    phi, _ = ACTIVATIONS[nonlinearity]
    a = x @ W_ih.T + h_prev @ W_hh.T  # (B, H)
    if b_ih is not None:
        a = a + b_ih + b_hh
    h = phi(a)
    return h, (x, h_prev, h, W_ih, W_hh, nonlinearity)


def backward(dh, cache):
    """Backward of ``forward``: dh (B, H) -> dx (B, D), dh_prev (B, H), weight gradients."""
    x, h_prev, h, W_ih, W_hh, nonlinearity = cache
    _, dphi = ACTIVATIONS[nonlinearity]
    delta = dh * dphi(h)  # eq. 6: backprop through tanh (or relu)
    db = delta.sum(axis=0)
    grads = {"weight_ih": delta.T @ x, "weight_hh": delta.T @ h_prev, "bias_ih": db, "bias_hh": db}
    return delta @ W_ih, delta @ W_hh, grads  # dx, eq. 10's W_hh^T delta
