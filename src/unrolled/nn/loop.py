"""The reference time loop: one layer, one direction, any cell, forward and BPTT, one step at a time.

Every step calls the cell's own one-step ``forward`` / ``backward`` (``unrolled.nn.cells``); the
weight gradients are summed step by step exactly as seed 004 eq. 7-8 write them. The compiled
schedule of ``unrolled.fast.schedule`` computes the same numbers and tests pin it to this one.

``lengths`` enter as a mask ``m`` (T, B, 1): a sequence's state is frozen past its last step
(``h = h_prev + m (h_step - h_prev)``) and its outputs there are 0, so the forward direction
ends at its last step and the reverse direction starts there from the initial state, as with
PyTorch's packed sequences. In backward a masked step passes the gradient straight through.

Either direction takes an optional ``observe``, called after every step with what the loop
holds there; this is how ``unrolled.inside`` records gates and Jacobian products without a
time loop of its own:

* forward: ``observe(t, cache, h, c, m)``: ``t`` the time index, ``cache`` the cell's step
  cache, ``h`` (and ``c``, else None) the state the cell computed at step t (before ``lengths``
  freeze it), ``m`` the (B, 1) mask of step t or None;
* backward: ``observe(t, dh, dc)``: the gradients reaching the state step t started from
  (``dc`` None without a cell state).
"""

from __future__ import annotations

import numpy as np


def time_index(k: int, T: int, reverse: bool) -> int:
    """The time of the k-th step processed: ``k`` going forward, ``T-1-k`` in reverse."""
    return T - 1 - k if reverse else k


def by_time(a: np.ndarray, reverse: bool) -> np.ndarray:
    """Processing order -> time order for a (T, ...) array."""
    return a[::-1] if reverse else a


def freeze(new, old, m):
    """Keep the old state where the sequence has ended (m = 0)."""
    return new if m is None else old + m * (new - old)


def forward(cell, x, params, h0, c0, mask, reverse, keep, work=None, observe=None, out=None):
    """x (T, B, D) -> y (T, B, H), h_T, c_T, cache (None unless ``keep``); y into ``out`` when
    given (e.g. this direction's half of the layer's output; every step is written)."""
    T = x.shape[0]
    y = np.zeros((T,) + h0.shape, dtype=x.dtype) if out is None else out
    h, c = h0, c0
    caches = []
    for k in range(T):
        t = time_index(k, T, reverse)
        m = None if mask is None else mask[t]
        if cell.has_cell_state:
            (h_new, c_new), step_cache = cell.forward(x[t], h, c, *params)
            c = freeze(c_new, c, m)
        else:
            h_new, step_cache = cell.forward(x[t], h, *params)
        h = freeze(h_new, h, m)
        y[t] = h if m is None else h * m
        if observe is not None:
            observe(t, step_cache, h_new, c_new if cell.has_cell_state else None, m)
        if keep:
            caches.append(step_cache)
    cache = (caches, mask, reverse) if keep else None
    return y, h, c, cache


def backward(cell, dy, dh_T, dc_T, cache, params, grads, work=None, observe=None):
    """BPTT for ``forward``: dy (T, B, H) -> dx (T, B, D), dh_0, dc_0; weight gradients add into
    ``grads`` = (dW_ih, dW_hh, db_ih, db_hh, then the cell's ``extra_params``), an entry None skips it."""
    caches, mask, reverse = cache
    T = dy.shape[0]
    if mask is not None:
        dy = dy * mask
    dx = None
    dh, dc = dh_T, dc_T
    for k in reversed(range(T)):
        t = time_index(k, T, reverse)
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
        for g, name in zip(grads, cell.param_names):
            if g is not None:
                g += step_grads[name]  # eq. 7-8: the sum over t, one step at a time
        if observe is not None:
            observe(t, dh, dc)
    return dx, dh, dc
