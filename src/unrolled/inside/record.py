"""Recording: every gate of every layer and direction at every step, from a layer's own weights.

``record(layer, x)`` runs the weights of an ``RNN`` / ``LSTM`` / ``GRU`` through the reference
cells (``unrolled.nn.cells``), one step at a time, and keeps what the layer's fast path never
materialises: each gate's pre-activation ``a`` and activation, the candidate, ``c`` and ``h``.
The layer itself is only read: its forward path, its cached state for ``backward`` and its
random generator are untouched, so recording costs the ordinary path nothing::

    rec = record(lstm, x)                 # x (T, B, D) as for lstm.forward
    rec["l0"]["f"]                        # (T, B, H): forget gate of layer 0 at every step
    rec["l1_reverse"]["a_g"]              # (T, B, H): candidate pre-activation, layer 1, reverse
    rec["y"], rec["state"]                # equal to lstm.forward(x) in eval mode

Per layer and direction (keys ``l0``, ``l0_reverse``, ``l1``, ... as in the state dict), arrays
by time ``(T, B, H)``; a step past a sequence's ``lengths`` is NaN (it does not exist):

====  ==========================================================================================
LSTM  ``a_i a_f a_g a_o`` pre-activations; ``i f g o`` gates (``g`` is the candidate C~);
      ``c``, ``tanh_c``, ``h``; ``h_prev``, ``c_prev`` (the state each step starts from)
GRU   ``a_r a_z a_n`` pre-activations (``a_n = ax_n + r * ah_n``); ``ah_n = W_hn h_prev + b_hn``;
      ``r z n`` gates (``n`` is the candidate); ``h``, ``h_prev``
RNN   ``a`` pre-activation, ``h``, ``h_prev``
====  ==========================================================================================

Recording follows eval mode: no dropout between stacked layers (residual connections are kept).
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.checks import check_lengths, check_state

# What each cell's recording holds, in the order a trace prints it (seed 003's order for the LSTM).
GATES = {
    "lstm": ("a_f", "f", "a_i", "i", "a_g", "g", "c", "a_o", "o", "tanh_c", "h"),
    "gru": ("a_r", "r", "a_z", "z", "ah_n", "a_n", "n", "h"),
    "rnn": ("a", "h"),
}
# The activations drawn as heatmap panels (values in a known range; pre-activations are not).
PANELS = {"lstm": ("i", "f", "g", "o", "c", "h"), "gru": ("r", "z", "n", "h"), "rnn": ("h",)}


def kind(layer) -> str:
    """``"lstm"``, ``"gru"`` or ``"rnn"`` (either nonlinearity) for a recurrent layer."""
    return "rnn" if layer.mode.startswith("rnn") else layer.mode


def _step_values(mode: str, cache) -> dict:
    """The gate values a reference cell keeps in its cache, by name (each (B, H))."""
    if mode == "lstm":
        _, h_prev, c_prev, i, f, g, o, tc, _, _ = cache
        return {"i": i, "f": f, "g": g, "o": o, "tanh_c": tc, "h_prev": h_prev, "c_prev": c_prev}
    if mode == "gru":
        _, h_prev, r, z, n, ah_n, _, _ = cache
        return {"r": r, "z": z, "n": n, "ah_n": ah_n, "h_prev": h_prev}
    _, h_prev, _, _, _, _ = cache
    return {"h_prev": h_prev}


def run_direction(cell, x, params, h0, c0=None, mask=None, reverse=False, keep_caches=False):
    """One layer, one direction, step by step through ``cell.forward`` (the reference).

    x (T, B, D), h0 / c0 (B, H), mask (T, B, 1) or None. Returns ``(values, y, h_T, c_T,
    caches)``: ``values`` maps names to (T, B, H) arrays by time, ``y`` (T, B, H) is the layer's
    output (0 past a sequence's end), ``caches`` the cells' caches in processing order (only with
    ``keep_caches``; the hand-derived backward of ``unrolled.inside.gradflow`` walks them).
    """
    mode = "rnn" if cell.name.startswith("rnn") else cell.name
    T = x.shape[0]
    h, c = h0, c0
    values: dict[str, np.ndarray] = {}
    y = np.zeros((T,) + h0.shape, dtype=x.dtype)  # (T, B, H)
    caches = []
    for k in range(T):
        t = T - 1 - k if reverse else k
        m = None if mask is None else mask[t]  # (B, 1)
        if cell.has_cell_state:
            (h_new, c_new), cache = cell.forward(x[t], h, c, *params)
            c = c_new if m is None else c + m * (c_new - c)  # frozen past the sequence's end
        else:
            h_new, cache = cell.forward(x[t], h, *params)
        h = h_new if m is None else h + m * (h_new - h)
        y[t] = h if m is None else h * m
        step = _step_values(mode, cache)
        step["h"] = h_new
        if c is not None:
            step["c"] = c_new
        for name, v in step.items():
            if name not in values:
                values[name] = np.empty((T,) + v.shape, dtype=x.dtype)  # (T, B, H)
            values[name][t] = v
        if keep_caches:
            caches.append(cache)
    values.update(_pre_activations(mode, x, values, params))
    if mask is not None:
        for v in values.values():
            v[mask[:, :, 0] == 0] = np.nan  # steps past a sequence's end do not exist
    return values, y, h, c, caches


def _pre_activations(mode, x, values, params) -> dict:
    """``a = W_ih x + b_ih + W_hh h_prev + b_hh`` for every step at once, split by gate."""
    W_ih, W_hh, b_ih, b_hh = params
    ax = x @ W_ih.T  # (T, B, G*H)
    ah = values["h_prev"] @ W_hh.T  # (T, B, G*H)
    if b_ih is not None:
        ax, ah = ax + b_ih, ah + b_hh
    H = W_hh.shape[1]
    if mode == "lstm":
        a = ax + ah
        return {f"a_{gate}": a[..., k * H:(k + 1) * H] for k, gate in enumerate("ifgo")}
    if mode == "gru":
        return {"a_r": ax[..., :H] + ah[..., :H], "a_z": ax[..., H:2 * H] + ah[..., H:2 * H],
                "a_n": ax[..., 2 * H:] + values["r"] * ah[..., 2 * H:]}
    return {"a": ax + ah}


def record(layer, x, state=None, lengths=None) -> dict:
    """Every gate of every layer and direction of ``layer`` at every step (module docstring).

    Arguments as ``layer.forward``. Returns ``{"l0": {name: (T, B, H)}, ..., "y": output,
    "state": final state}``; ``y`` and ``state`` equal ``layer.forward(x, state, lengths)`` in
    eval mode. ``batch_first`` layers take and give ``y`` batch-first; the per-gate arrays are
    always time-major (T, B, H).
    """
    name = f"record({type(layer).__name__})"
    x = layer._check_input(x)  # (T, B, D), time-major, the layer's dtype
    T, B, _ = x.shape
    mask = check_lengths(lengths, T, B, layer.dtype, name)  # (T, B, 1) or None
    dirs, H = layer.num_directions, layer.hidden_size
    h0, c0 = check_state(state, (layer.num_layers * dirs, B, H), layer.cell.has_cell_state,
                         layer.dtype, name)
    h_n, c_n = np.empty_like(h0), (None if c0 is None else np.empty_like(c0))
    rec: dict = {}
    inp = x
    for ell in range(layer.num_layers):
        outs = []
        for d in range(dirs):
            j = ell * dirs + d
            values, y_d, h_n[j], c_T, _ = run_direction(
                layer.cell, inp, layer._weights(layer.params, ell, d), h0[j],
                None if c0 is None else c0[j], mask, bool(d))
            if c_n is not None:
                c_n[j] = c_T
            rec[layer._suffix(ell, d)[1:]] = values
            outs.append(y_d)  # (T, B, H)
        y = outs[0] if dirs == 1 else np.concatenate(outs, axis=2)  # (T, B, dirs*H)
        if layer.residual and ell > 0:
            y = y + inp
        inp = y
    rec["y"] = y.transpose(1, 0, 2) if layer.batch_first else y
    rec["state"] = h_n if c_n is None else (h_n, c_n)
    return rec


def flatten(rec: dict) -> dict[str, np.ndarray]:
    """``{"l0/f": array, ..., "y": array, "h_n": ..., "c_n": ...}``: a recording for ``np.savez``."""
    flat = {f"{part}/{k}": v for part, values in rec.items() if isinstance(values, dict)
            for k, v in values.items()}
    flat["y"] = rec["y"]
    state = rec["state"]
    flat.update({"h_n": state[0], "c_n": state[1]} if isinstance(state, tuple) else {"h_n": state})
    return flat


def parts(rec: dict) -> list[str]:
    """The layer / direction keys of a recording, in order: ``["l0", "l0_reverse", "l1", ...]``."""
    return [k for k, v in rec.items() if isinstance(v, dict)]
