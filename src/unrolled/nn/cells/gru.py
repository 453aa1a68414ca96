"""The GRU cell in PyTorch's form, one step forward and its backward, gate order ``r, z, n``."""

from __future__ import annotations

import numpy as np

from unrolled.fast.kernels import loops
from unrolled.nn.activations import dsigmoid, dtanh, sigmoid, tanh
from unrolled.nn.cells.base import SIGMOID, TANH, Cell, projections, register


@register
class GRUCell(Cell):
    """GRU, gate order ``r, z, n``. Seed 001 names the GRU as the LSTM's lighter variant;
    PyTorch's equations are::

        r = sigmoid(W_ir x + b_ir + W_hr h_prev + b_hr)       reset gate
        z = sigmoid(W_iz x + b_iz + W_hz h_prev + b_hz)       update gate
        n = tanh(W_in x + b_in + r * (W_hn h_prev + b_hn))    candidate
        h = (1 - z) * n + z * h_prev

    The reset gate multiplies the recurrent part of ``n`` *after* its matrix product, so the
    input and the recurrent pre-activations are kept apart: ``ax = W_ih x + b_ih`` and
    ``ah = W_hh h_prev + b_hh`` (each (B, 3H), rows r | z | n).
    """

    name = "gru"
    G = 3  # gates: r, z, n
    gates = ("a_r", "r", "a_z", "z", "ah_n", "a_n", "n", "h")
    labels = {"a_r": "a_r = W_r [h_prev, x] + b_r", "r": "r = sigmoid(a_r)     reset gate",
              "a_z": "a_z = W_z [h_prev, x] + b_z", "z": "z = sigmoid(a_z)     update gate",
              "ah_n": "ah_n = W_hn h_prev + b_hn", "a_n": "a_n = W_in x + b_in + r*ah_n",
              "n": "n = tanh(a_n)        candidate", "h": "h = (1-z)*n + z*h_prev"}
    panels = {"r": ("r  reset gate", SIGMOID), "z": ("z  update gate", SIGMOID), "n": ("n  candidate", TANH),
              "h": ("h  hidden state", TANH)}
    kernel = (loops.GRU, 0)
    cache_width = 4  # the compiled step's cache: r, z, n, ah_n (= W_hn h_prev + b_hn)
    shared_da = False  # the n rows differ: d(ah_n) = d(a_n) * r

    def forward(self, x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None):
        """One GRU step. x (B, D), h_prev (B, H) -> h, cache."""
        H = h_prev.shape[1]
        ax = x @ W_ih.T  # (B, 3H)
        ah = h_prev @ W_hh.T  # (B, 3H)
        if b_ih is not None:
            ax = ax + b_ih
            ah = ah + b_hh
        r = sigmoid(ax[:, 0 * H:1 * H] + ah[:, 0 * H:1 * H])  # (B, H)
        z = sigmoid(ax[:, 1 * H:2 * H] + ah[:, 1 * H:2 * H])
        ah_n = ah[:, 2 * H:3 * H]
        n = tanh(ax[:, 2 * H:3 * H] + r * ah_n)
        h = (1.0 - z) * n + z * h_prev
        cache = (x, h_prev, r, z, n, ah_n, W_ih, W_hh)
        return h, cache

    def backward(self, dh, cache):
        """Backward of ``forward``: dh (B, H) -> dx (B, D), dh_prev (B, H), weight gradients."""
        x, h_prev, r, z, n, ah_n, W_ih, W_hh = cache
        # h = (1 - z) * n + z * h_prev
        dn = dh * (1.0 - z)
        dz = dh * (h_prev - n)
        dh_prev = dh * z
        # n = tanh(ax_n + r * ah_n)
        dan = dn * dtanh(n)
        dr = dan * ah_n
        # r, z = sigmoid(ax + ah)
        dar = dr * dsigmoid(r)
        daz = dz * dsigmoid(z)
        dax = np.concatenate([dar, daz, dan], axis=1)  # (B, 3H)
        dah = np.concatenate([dar, daz, dan * r], axis=1)  # (B, 3H)
        dx = dax @ W_ih  # (B, D)
        dh_prev = dh_prev + dah @ W_hh  # (B, H)
        grads = {
            "weight_ih": dax.T @ x,
            "weight_hh": dah.T @ h_prev,
            "bias_ih": dax.sum(axis=0),
            "bias_hh": dah.sum(axis=0),
        }
        return dx, dh_prev, grads

    def step_values(self, cache) -> dict:
        _, h_prev, r, z, n, ah_n, _, _ = cache
        return {"r": r, "z": z, "n": n, "ah_n": ah_n, "h_prev": h_prev}

    def pre_activations(self, x, values, params) -> dict:
        """``a_r``, ``a_z`` as the LSTM's; ``a_n = W_in x + b_in + r * (W_hn h_prev + b_hn)``."""
        ax, ah = projections(x, values["h_prev"], params)  # (T, B, 3H) each
        H = params[1].shape[1]
        return {"a_r": ax[..., :H] + ah[..., :H], "a_z": ax[..., H:2 * H] + ah[..., H:2 * H],
                "a_n": ax[..., 2 * H:] + values["r"] * ah[..., 2 * H:]}


@register
class ResetBeforeGRUCell(Cell):
    """GRU with the reset gate applied *before* the recurrent product (Cho et al. 2014; ONNX's
    ``GRU`` with its default ``linear_before_reset=0``), gate order ``r, z, n`` as ``GRUCell``::

        r = sigmoid(W_ir x + b_ir + W_hr h_prev + b_hr)       reset gate
        z = sigmoid(W_iz x + b_iz + W_hz h_prev + b_hz)       update gate
        n = tanh(W_in x + b_in + W_hn (r * h_prev) + b_hn)    candidate: reset, then multiplied
        h = (1 - z) * n + z * h_prev

    The n rows of ``W_hh`` multiply ``r * h_prev``, not ``h_prev``, so they cannot share the r and
    z rows' product. ``GRU(..., reset_after=False)``; reference loop only (no compiled kernel).
    """

    name, family = "gru_reset_before", "gru"
    layer_options = {"reset_after": False}
    G = 3  # gates: r, z, n
    gates = ("a_r", "r", "a_z", "z", "a_n", "n", "h")
    labels = {"a_r": "a_r = W_r [h_prev, x] + b_r", "r": "r = sigmoid(a_r)     reset gate",
              "a_z": "a_z = W_z [h_prev, x] + b_z", "z": "z = sigmoid(a_z)     update gate",
              "a_n": "a_n = W_in x + W_hn (r*h_prev) + b_n", "n": "n = tanh(a_n)        candidate",
              "h": "h = (1-z)*n + z*h_prev"}
    panels = GRUCell.panels

    def forward(self, x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None):
        """One step. x (B, D), h_prev (B, H) -> h, cache."""
        H = h_prev.shape[1]
        ax = x @ W_ih.T  # (B, 3H)
        ah = h_prev @ W_hh[:2 * H].T  # (B, 2H): the r and z rows only
        if b_ih is not None:
            ax = ax + b_ih
            ah = ah + b_hh[:2 * H]
        r = sigmoid(ax[:, 0 * H:1 * H] + ah[:, 0 * H:1 * H])  # (B, H)
        z = sigmoid(ax[:, 1 * H:2 * H] + ah[:, 1 * H:2 * H])
        rh = r * h_prev  # (B, H): the reset state the candidate reads
        a_n = ax[:, 2 * H:] + rh @ W_hh[2 * H:].T  # (B, H)
        if b_ih is not None:
            a_n = a_n + b_hh[2 * H:]
        n = tanh(a_n)
        h = (1.0 - z) * n + z * h_prev
        cache = (x, h_prev, r, z, n, rh, W_ih, W_hh)
        return h, cache

    def backward(self, dh, cache):
        """Backward of ``forward``: dh (B, H) -> dx (B, D), dh_prev (B, H), weight gradients."""
        x, h_prev, r, z, n, rh, W_ih, W_hh = cache
        H = h_prev.shape[1]
        # h = (1 - z) * n + z * h_prev
        dn = dh * (1.0 - z)
        dz = dh * (h_prev - n)
        dh_prev = dh * z
        # n = tanh(W_in x + b_in + W_hn rh + b_hn), rh = r * h_prev
        da_n = dn * dtanh(n)
        drh = da_n @ W_hh[2 * H:]  # (B, H)
        dr = drh * h_prev
        dh_prev = dh_prev + drh * r
        # r, z = sigmoid(W_i x + b_i + W_h h_prev + b_h)
        da_r = dr * dsigmoid(r)
        da_z = dz * dsigmoid(z)
        da_rz = np.concatenate([da_r, da_z], axis=1)  # (B, 2H)
        dax = np.concatenate([da_rz, da_n], axis=1)  # (B, 3H): the input side's pre-activations
        dx = dax @ W_ih  # (B, D)
        dh_prev = dh_prev + da_rz @ W_hh[:2 * H]  # (B, H)
        grads = {
            "weight_ih": dax.T @ x,
            "weight_hh": np.concatenate([da_rz.T @ h_prev, da_n.T @ rh], axis=0),  # (3H, H)
            "bias_ih": dax.sum(axis=0),
            "bias_hh": dax.sum(axis=0),  # b_hh sits beside b_ih in every row
        }
        return dx, dh_prev, grads

    def step_values(self, cache) -> dict:
        _, h_prev, r, z, n, _, _, _ = cache
        return {"r": r, "z": z, "n": n, "h_prev": h_prev}

    def pre_activations(self, x, values, params) -> dict:
        """``a_r``, ``a_z`` as ``GRUCell``'s; ``a_n = W_in x + b_in + W_hn (r * h_prev) + b_hn``."""
        W_ih, W_hh, b_ih, b_hh = params
        H = W_hh.shape[1]
        ax, ah = projections(x, values["h_prev"], (W_ih, W_hh[:2 * H], b_ih,
                                                   None if b_hh is None else b_hh[:2 * H]))  # (T, B, 3H), (T, B, 2H)
        a_n = ax[..., 2 * H:] + (values["r"] * values["h_prev"]) @ W_hh[2 * H:].T
        if b_hh is not None:
            a_n = a_n + b_hh[2 * H:]
        return {"a_r": ax[..., :H] + ah[..., :H], "a_z": ax[..., H:2 * H] + ah[..., H:], "a_n": a_n}
