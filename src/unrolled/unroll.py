"""The time loop: one layer, one direction, any cell, forward and backpropagation through time.

Two schedules compute the same numbers:

* the **reference** calls the cell's own one-step ``forward`` / ``backward`` at every step, the
  weight gradients summed step by step exactly as seed 004 eq. 7-8 write them;
* the **fast** schedule does the work that does not depend on the recurrence outside the loop:
  one GEMM projects every input step, ``XW = X W_ih^T + b_ih`` (T*B, G*H); inside the loop only
  the recurrent GEMM ``h_prev W_hh^T`` and the fused gate math remain; after the backward loop
  the sums over time of eq. 7-8 become one GEMM each, ``dW_ih = dA^T X``, ``dW_hh = dA^T H_prev``.

``lengths`` enter as a mask ``m`` (T, B, 1): a sequence's state is frozen past its last step
(``h = h_prev + m (h_step - h_prev)``) and its outputs there are 0, so the forward direction
ends at its last step and the reverse direction starts there from the initial state, as with
PyTorch's packed sequences. In backward a masked step passes the gradient straight through.

State is kept in processing order: ``hs[k]`` is the state before the k-th step processed, which
is time ``t = k`` going forward and ``t = T-1-k`` in reverse.
"""

from __future__ import annotations

import numpy as np


def _time(k: int, T: int, reverse: bool) -> int:
    return T - 1 - k if reverse else k


def _by_time(a: np.ndarray, reverse: bool) -> np.ndarray:
    """Processing order -> time order for a (T, ...) array."""
    return a[::-1] if reverse else a


def _freeze(new, old, m):
    """Keep the old state where the sequence has ended (m = 0)."""
    return new if m is None else old + m * (new - old)


# --- fast schedule ---------------------------------------------------------------------------------


def forward_fast(cell, x, params, h0, c0, mask, reverse, keep):
    """x (T, B, D) -> y (T, B, H), h_T, c_T, cache (None unless ``keep``)."""
    W_ih, W_hh, b_ih, b_hh = params
    T, B, D = x.shape
    H = h0.shape[1]
    xw = x.reshape(T * B, D) @ W_ih.T  # (T*B, G*H): one GEMM for every input step
    if b_ih is not None:
        xw += b_ih
    xw = xw.reshape(T, B, -1)  # (T, B, G*H)
    hs = np.empty((T + 1, B, H), dtype=x.dtype)  # (T+1, B, H)
    hs[0] = h0
    cs = None
    if c0 is not None:
        cs = np.empty((T + 1, B, H), dtype=x.dtype)
        cs[0] = c0
    caches = np.empty((T if keep else 1, B, cell.cache_width * H), dtype=x.dtype)
    W_hhT = W_hh.T
    for k in range(T):
        t = _time(k, T, reverse)
        m = None if mask is None else mask[t]
        hw = hs[k] @ W_hhT  # (B, G*H): the recurrent GEMM
        c_prev = None if cs is None else cs[k]
        h, c = cell.step(xw[t], hw, b_hh, hs[k], c_prev, caches[k if keep else 0])
        hs[k + 1] = _freeze(h, hs[k], m)
        if cs is not None:
            cs[k + 1] = _freeze(c, cs[k], m)
    y = _by_time(hs[1:], reverse)  # (T, B, H)
    if mask is not None:
        y = y * mask
    cache = (x, hs, cs, caches, mask, reverse) if keep else None
    return y, hs[T], (None if cs is None else cs[T]), cache


def backward_fast(cell, dy, dh_T, dc_T, cache, params, grads):
    """BPTT for ``forward_fast``: dy (T, B, H) -> dx (T, B, D), dh_0, dc_0.

    Parameter gradients are added into ``grads`` = (dW_ih, dW_hh, db_ih, db_hh).
    """
    x, hs, cs, caches, mask, reverse = cache
    W_ih, W_hh, b_ih, _ = params
    T, B, D = x.shape
    dxw = np.empty((T, B, W_hh.shape[0]), dtype=x.dtype)  # (T, B, G*H), by time
    dhw = dxw if cell.shared_da else np.empty_like(dxw)
    if mask is not None:
        dy = dy * mask  # outputs past a sequence's end are constant 0
    dh = dh_T.copy()
    dc = None if dc_T is None else dc_T.copy()
    for k in reversed(range(T)):
        t = _time(k, T, reverse)
        dh = dh + dy[t]  # the output's gradient joins the one carried from step t+1
        dh_in, dc_in = dh, dc
        if mask is not None:
            m = mask[t]
            dh_in = dh * m
            dc_in = None if dc is None else dc * m
        c_prev = None if cs is None else cs[k]
        dh_direct, dc_prev = cell.step_backward(
            dh_in, dc_in, caches[k], hs[k + 1], hs[k], c_prev, dxw[t], dhw[t]
        )
        dh_prev = dhw[t] @ W_hh  # (B, H): back through the recurrent GEMM
        if dh_direct is not None:
            dh_prev += dh_direct
        if mask is not None:  # an ended sequence passes its gradient straight through
            dh_prev += dh - dh_in
            if dc is not None:
                dc_prev += dc - dc_in
        dh, dc = dh_prev, dc_prev
    # Sums over time of seed 004 eq. 7-8, each one GEMM over all T*B rows.
    dW_ih, dW_hh, db_ih, db_hh = grads
    GH = dxw.shape[2]
    h_prev = _by_time(hs[:-1], reverse).reshape(T * B, -1)  # (T*B, H), by time
    dW_ih += dxw.reshape(T * B, GH).T @ x.reshape(T * B, D)
    dW_hh += dhw.reshape(T * B, GH).T @ h_prev
    if b_ih is not None:
        db_ih += dxw.sum(axis=(0, 1))
        db_hh += dhw.sum(axis=(0, 1))
    dx = (dxw.reshape(T * B, GH) @ W_ih).reshape(T, B, D)  # one GEMM for every input step
    return dx, dh, dc


# --- reference schedule: the cell's own step, one at a time ---------------------------------------


def forward_reference(cell, x, params, h0, c0, mask, reverse, keep):
    T = x.shape[0]
    y = np.zeros((T,) + h0.shape, dtype=x.dtype)
    h, c = h0, c0
    caches = []
    for k in range(T):
        t = _time(k, T, reverse)
        m = None if mask is None else mask[t]
        if cell.has_cell_state:
            (h_new, c_new), step_cache = cell.forward(x[t], h, c, *params)
            c = _freeze(c_new, c, m)
        else:
            h_new, step_cache = cell.forward(x[t], h, *params)
        h = _freeze(h_new, h, m)
        y[t] = h if m is None else h * m
        if keep:
            caches.append(step_cache)
    cache = (caches, mask, reverse) if keep else None
    return y, h, c, cache


def backward_reference(cell, dy, dh_T, dc_T, cache, params, grads):
    caches, mask, reverse = cache
    T = dy.shape[0]
    if mask is not None:
        dy = dy * mask
    dx = None
    dh, dc = dh_T, dc_T
    for k in reversed(range(T)):
        t = _time(k, T, reverse)
        dh = dh + dy[t]
        m = 1.0 if mask is None else mask[t]
        if cell.has_cell_state:
            dx_t, dh_prev, dc_prev, step_grads = cell.backward(dh * m, dc * m, caches[k])
            dc = dc_prev + dc * (1 - m)
        else:
            dx_t, dh_prev, step_grads = cell.backward(dh * m, caches[k])
        dh = dh_prev + dh * (1 - m)
        if dx is None:
            dx = np.zeros((T,) + dx_t.shape, dtype=dx_t.dtype)
        dx[t] = dx_t
        for g, name in zip(grads, ("weight_ih", "weight_hh", "bias_ih", "bias_hh")):
            if g is not None:
                g += step_grads[name]  # eq. 7-8: the sum over t, one step at a time
    return dx, dh, dc
