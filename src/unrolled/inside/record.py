"""Recording: every gate of every layer and direction at every step, from a layer's own weights.

``record(layer, x)`` runs the weights of a recurrent layer (``RNN``, ``LSTM``, ``GRU``, any
``Recurrent``) through its reference cell (``unrolled.nn.cells``), one step at a time, and
keeps what the layer's fast path never materialises: each gate's pre-activation ``a`` and
activation, the candidate, ``c`` and ``h``.
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
What is recorded is the cell's to say (``unrolled.nn.cells.base``): ``step_values`` of every
step's cache, the state, then ``pre_activations``; ``layer.cell.gates`` orders them for a trace.
The time loop is the layer's own reference loop (``layer.forward_observed``), watched step by step.
"""

from __future__ import annotations

import numpy as np


class _Direction:
    """What one layer and direction records: ``step`` observes the reference loop
    (``unrolled.nn.loop.forward``), ``values`` gives the arrays once the loop is done."""

    def __init__(self, cell, x, params):
        self.cell, self.x, self.params = cell, x, params  # x (T, B, D_in): this layer's input
        self.recorded: dict[str, np.ndarray] = {}
        self.missing = None  # (T, B): True where a step lies past its sequence's end

    def step(self, t, cache, h, c, m):
        T = self.x.shape[0]
        now = self.cell.step_values(cache)
        now.update(zip(self.cell.states, (h, c)))  # h, and c with a cell state
        for name, v in now.items():
            if name not in self.recorded:
                self.recorded[name] = np.empty((T,) + v.shape, dtype=self.x.dtype)  # (T, B, H)
            self.recorded[name][t] = v
        if m is not None:
            if self.missing is None:
                self.missing = np.zeros((T, m.shape[0]), dtype=bool)
            self.missing[t] = m[:, 0] == 0

    def values(self) -> dict:
        values = self.recorded
        values.update(self.cell.pre_activations(self.x, values, self.params))
        if self.missing is not None:
            for v in values.values():
                v[self.missing] = np.nan  # steps past a sequence's end do not exist
        return values


def record(layer, x, state=None, lengths=None) -> dict:
    """Every gate of every layer and direction of ``layer`` at every step (module docstring).

    Arguments as ``layer.forward``. Returns ``{"l0": {name: (T, B, H)}, ..., "y": output,
    "state": final state}``; ``y`` and ``state`` equal ``layer.forward(x, state, lengths)`` in
    eval mode. ``batch_first`` layers take and give ``y`` batch-first; the per-gate arrays are
    always time-major (T, B, H).
    """
    directions: dict[str, _Direction] = {}

    def observer(part, inp, params):  # called as each layer and direction starts
        directions[part] = _Direction(layer.cell, inp, params)
        return directions[part].step

    y, state = layer.forward_observed(x, observer, state, lengths)
    rec: dict = {part: direction.values() for part, direction in directions.items()}
    rec["y"], rec["state"] = y, state
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
