"""Recurrent layers: ``Recurrent`` runs any registered cell; ``RNN``, ``LSTM`` and ``GRU`` are it
with ``torch.nn``'s signatures and state dicts; ``LAYERS`` / ``make_layer`` by the cell's name.

A layer stacks ``num_layers`` of one cell, each in one or two directions, and unrolls them over
time with the compiled schedule of ``unrolled.fast.schedule`` (``schedule="reference"`` runs the
reference loop of ``unrolled.nn.loop`` instead: the cell's plain step-by-step equations; a cell
without a compiled kernel always runs there). Shapes, as everywhere in unrolled: ``T`` time,
``B`` batch, ``D`` input size, ``H`` hidden size, ``G`` gates::

    y, state   = m.forward(x, state=None, lengths=None)   x (T, B, D) -> y (T, B, dirs*H)
    dx, dstate = m.backward(dy, dstate=None)             parameter gradients add into m.grads

``state`` is ``h_n`` (num_layers*dirs, B, H), or ``(h_n, c_n)`` for the LSTM. Between stacked
layers: dropout (training only, as PyTorch) and optional residual connections
(``y_l = layer_l(y_{l-1}) + y_{l-1}`` for l >= 1, seed 004's remedy for deep stacks).
``m.forward_observed(x, observer)`` runs the same stack with an observer on every step
(``unrolled.inside.record``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np

from unrolled.fast import schedule, threads
from unrolled.nn import loop
from unrolled.nn.checks import check_finite, check_lengths, check_positive_int, check_state, resolve_dtype
from unrolled.nn.cells import CELLS, get_cell
from unrolled.nn.module import Module
from unrolled.fast.workspace import Workspace

# (forward, backward) of one direction, and whether a layer runs its two directions side by side,
# one on each of our two threads (``unrolled.fast.threads.pair``; never on the reference loop)
_SCHEDULES = {
    "fast": (schedule.forward_fast, schedule.backward_fast, schedule.side_by_side),
    "reference": (loop.forward, loop.backward, None),
}


class Recurrent(Module):
    """``num_layers`` of ``cell`` (a name in ``unrolled.nn.cells.CELLS``, or a ``Cell``) over time,
    in one or two directions; arguments and state dict as ``torch.nn.LSTM``'s."""

    def __init__(self, cell, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, residual=False, dtype=np.float32, seed=None):
        super().__init__()
        name = type(self).__name__
        self.input_size = check_positive_int(input_size, "input_size", name)
        self.hidden_size = check_positive_int(hidden_size, "hidden_size", name)
        self.num_layers = check_positive_int(num_layers, "num_layers", name)
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ValueError(f"{name}: dropout={dropout!r} must be a probability in [0, 1)")
        self.cell = get_cell(cell)
        self.mode = self.cell.name
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.residual = bool(residual)
        self.dtype = resolve_dtype(dtype, name)
        self.schedule = "fast"
        # One Generator for initialisation, then for dropout masks: same seed, same run.
        self.rng = np.random.default_rng(seed)
        self._cache = None
        # per layer and direction: the fast schedule's buffers, reused from call to call
        self._work = [Workspace() for _ in range(self.num_layers * self.num_directions)]
        H, G, D = self.hidden_size, self.cell.G, self.input_size
        k = 1.0 / np.sqrt(H)  # PyTorch's U(-1/sqrt(H), 1/sqrt(H)) for every parameter
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                sfx = self._suffix(layer, direction)
                d_in = D if layer == 0 else self.num_directions * H
                shapes = [("weight_ih", (G * H, d_in)), ("weight_hh", (G * H, H))]
                if self.bias:
                    shapes += [("bias_ih", (G * H,)), ("bias_hh", (G * H,))]
                shapes += [(pname, (rows * H,)) for pname, rows in self.cell.extra_params]  # e.g. peepholes
                for pname, shape in shapes:
                    value = self.rng.uniform(-k, k, size=shape).astype(self.dtype)
                    self._add_param(pname + sfx, value)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _weights(self, store, layer, direction):
        sfx = self._suffix(layer, direction)
        return tuple(store.get(n + sfx) for n in self.cell.param_names)

    def __repr__(self) -> str:
        extra = f", num_layers={self.num_layers}" if self.num_layers > 1 else ""
        extra += ", bidirectional=True" if self.bidirectional else ""
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"

    def _schedules(self):
        """(forward, backward, side_by_side) of ``self.schedule``, the reference loop's for a cell
        without a compiled kernel."""
        return _SCHEDULES[self.schedule if self.cell.kernel is not None else "reference"]

    # -- forward ---------------------------------------------------------------------------------
    def forward(self, x, state=None, lengths=None):
        """x (T, B, D), or (B, T, D) with batch_first -> y (same layout, dirs*H features), state."""
        forward_dir, backward_dir, side_by_side = self._schedules()
        out, state, cache = self._unroll(x, state, lengths, forward_dir, self.training, side_by_side)
        self._cache = None if cache is None else (*cache, backward_dir)
        return out, state

    def forward_observed(self, x, observer, state=None, lengths=None):
        """``forward`` as in eval mode, on the reference loop, with an observer on every step;
        the layer is only read (no cache for backward, no dropout mask, its generator untouched).

        ``observer(part, x, params)`` is called as each layer and direction starts (``part`` as
        in the state dict: ``"l0"``, ``"l1_reverse"``, ...; ``x`` its input (T, B, D or dirs*H);
        ``params`` its ``(W_ih, W_hh, b_ih, b_hh)``) and returns that direction's step observer,
        ``observe(t, cache, h, c, m)`` of ``unrolled.nn.loop.forward``. Returns y, state.
        """
        out, state, _ = self._unroll(x, state, lengths, loop.forward, False, observer=observer)
        return out, state

    def _unroll(self, x, state, lengths, forward_dir, training, side_by_side=None, observer=None):
        """The stack: -> y, state, and with ``training`` what backward needs (the directions'
        caches, the dropout masks, which layers ran their two directions side by side, T, B), else
        None. ``side_by_side(x, params, mask)``: does a layer run its two directions at once, one on
        each of our two threads (``threads.pair``)?"""
        name = type(self).__name__
        x = self._check_input(x)  # (T, B, D), time-major, self.dtype
        T, B, _ = x.shape
        mask = check_lengths(lengths, T, B, self.dtype, name)  # (T, B, 1) or None
        LD, H = self.num_layers * self.num_directions, self.hidden_size
        h0, c0 = check_state(state, (LD, B, H), self.cell.has_cell_state, self.dtype, name)
        h_n, c_n = np.empty_like(h0), (None if c0 is None else np.empty_like(c0))
        caches, drop_masks, paired, inp = [], [], [], x
        # one direction over whole sequences in inference: the schedule returns y (the fast one as a
        # view of its states, written once); else each direction writes its half of y, every step of
        # it, and with lengths the padded steps stay 0
        own = self.num_directions == 1 and mask is None and not training
        for layer in range(self.num_layers):
            y = None if own else (np.empty if mask is None else np.zeros)((T, B, self.num_directions * H),
                                                                          dtype=self.dtype)
            both = (side_by_side is not None and self.num_directions == 2
                    and side_by_side(inp, self._weights(self.params, layer, 0), mask))

            def direction(d, inp=inp, layer=layer, both=both, y=y):
                j = layer * self.num_directions + d
                params = self._weights(self.params, layer, d)
                run = forward_dir
                if observer is not None:
                    run = partial(forward_dir, observe=observer(self._suffix(layer, d)[1:], inp, params))
                if both:
                    run = partial(run, alone=True)
                return run(self.cell, inp, params, h0[j], None if c0 is None else c0[j], mask, bool(d), training,
                           self._work[j], out=None if y is None else y[:, :, d * H:(d + 1) * H])

            if both:
                results = threads.pair(partial(direction, 0), partial(direction, 1))
            else:
                results = [direction(d) for d in range(self.num_directions)]
            if own:
                y = results[0][0]  # (T, B, H)
            for d, (_, h_T, c_T, cache) in enumerate(results):  # y: (T, B, dirs*H), written
                j = layer * self.num_directions + d
                h_n[j] = h_T
                if c_n is not None:
                    c_n[j] = c_T
                caches.append(cache)
            paired.append(both)
            if self.residual and layer > 0:
                y = y + inp
            drop = None
            if training and self.dropout > 0 and layer < self.num_layers - 1:
                keep_p = 1.0 - self.dropout  # inverted dropout: scale at train time
                drop = (self.rng.random(y.shape) < keep_p).astype(self.dtype) / keep_p
                y = y * drop
            drop_masks.append(drop)
            inp = y
        out = y.transpose(1, 0, 2) if self.batch_first else y
        cache = (caches, drop_masks, paired, T, B) if training else None
        return out, (h_n if c_n is None else (h_n, c_n)), cache

    # -- backward --------------------------------------------------------------------------------
    def backward(self, dy, dstate=None):
        """dy like y -> dx like x, dstate like state; parameter gradients add into ``self.grads``."""
        name = type(self).__name__
        if self._cache is None:
            raise RuntimeError(
                f"{name}.backward needs a forward pass in training mode first "
                "(call .train() before forward; each forward allows one backward)")
        caches, drop_masks, paired, T, B, backward_dir = self._cache  # the schedule of the forward
        dirs, H = self.num_directions, self.hidden_size
        shape = (B, T, dirs * H) if self.batch_first else (T, B, dirs * H)
        dy = np.asarray(dy, dtype=self.dtype)
        if dy.shape != shape:
            raise ValueError(f"{name}.backward: dy has shape {dy.shape}, expected {shape} (the shape of y)")
        if self.batch_first:
            dy = dy.transpose(1, 0, 2)
        LD = self.num_layers * dirs
        dh_n, dc_n = check_state(dstate, (LD, B, H), self.cell.has_cell_state, self.dtype,
                                 name + ".backward (dstate)")
        dh0, dc0 = np.empty_like(dh_n), (None if dc_n is None else np.empty_like(dc_n))
        for layer in reversed(range(self.num_layers)):
            if drop_masks[layer] is not None:
                dy = dy * drop_masks[layer]

            def direction(d, dy=dy, layer=layer):
                j = layer * dirs + d
                return backward_dir(
                    self.cell, dy[:, :, d * H:(d + 1) * H], dh_n[j],
                    None if dc_n is None else dc_n[j], caches[j],
                    self._weights(self.params, layer, d), self._weights(self.grads, layer, d), self._work[j])

            if paired[layer]:  # as the forward ran
                results = threads.pair(partial(direction, 0), partial(direction, 1))
            else:
                results = [direction(d) for d in range(dirs)]
            dinp = None
            for d, (dx_d, dh_0, dc_0) in enumerate(results):
                j = layer * dirs + d
                dh0[j] = dh_0
                if dc0 is not None:
                    dc0[j] = dc_0
                dinp = dx_d if dinp is None else dinp + dx_d
            if self.residual and layer > 0:
                dinp = dinp + dy  # y_l = layer_l(y_{l-1}) + y_{l-1}
            dy = dinp
        self._cache = None
        dx = dy.transpose(1, 0, 2) if self.batch_first else dy
        return dx, (dh0 if dc0 is None else (dh0, dc0))

    # -- checks ----------------------------------------------------------------------------------
    def _check_input(self, x):
        name = type(self).__name__
        layout = "(B, T, D)" if self.batch_first else "(T, B, D)"
        try:
            x = np.asarray(x, dtype=self.dtype)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name}: input must be a numeric array of shape {layout}; {e}") from None
        if x.ndim != 3:
            raise ValueError(
                f"{name}: expected a 3-D input {layout} with D={self.input_size}, got shape "
                f"{x.shape}; add the missing axis, e.g. x[:, None, :] for one sequence")
        if x.shape[2] != self.input_size:
            raise ValueError(
                f"{name}: input has {x.shape[2]} features in its last axis, expected "
                f"D=input_size={self.input_size} for layout {layout}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{name}: input of shape {x.shape} is empty; need T >= 1 and B >= 1")
        check_finite(x, "input", name)
        return x.transpose(1, 0, 2) if self.batch_first else x


class RNN(Recurrent):
    """Elman RNN, ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (seed 004 eq. 1-2).

    ``nonlinearity="relu"`` swaps tanh for ReLU. Same signature as ``torch.nn.RNN``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, *, residual=False,
                 dtype=np.float32, seed=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity={nonlinearity!r}; use 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, residual=residual, dtype=dtype,
                         seed=seed)


class LSTM(Recurrent):
    """LSTM (seed 003): gates ``i, f, g, o`` stacked in that order in ``weight_ih_l*`` (4H, D).

    ``state`` is ``(h, c)``. Same signature as ``torch.nn.LSTM`` (without ``proj_size``);
    ``peephole=True`` adds ONNX's peephole weights ``weight_peephole_l*`` (cell ``lstm_peephole``).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, peephole=False, residual=False, dtype=np.float32,
                 seed=None):
        super().__init__("lstm_peephole" if peephole else "lstm", input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, residual=residual, dtype=dtype, seed=seed)


class GRU(Recurrent):
    """GRU in PyTorch's form: gates ``r, z, n`` stacked in that order in ``weight_ih_l*`` (3H, D).

    ``reset_after=False`` applies the reset gate before the recurrent product, ``W_hn (r * h_prev)``
    (cell ``gru_reset_before``, ONNX's default ``linear_before_reset=0``)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, reset_after=True, residual=False, dtype=np.float32,
                 seed=None):
        super().__init__("gru" if reset_after else "gru_reset_before", input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, residual=residual, dtype=dtype, seed=seed)




class _Layers(Mapping):
    """User-facing cell name -> layer constructor ``(input_size, hidden_size, ...)``: ``"rnn"``,
    ``"lstm"``, ``"gru"`` -> ``RNN``, ``LSTM``, ``GRU``, and every other registered cell's
    family -> ``Recurrent`` on it. Read live from ``CELLS``: a cell registered later is here."""

    _CLASSES = {"rnn": RNN, "lstm": LSTM, "gru": GRU}

    def __getitem__(self, name):
        if name in self._CLASSES:
            return self._CLASSES[name]
        cell = _first_of_family(name)
        if cell is None:
            raise KeyError(name)
        return partial(Recurrent, cell.name)

    def __iter__(self):
        return iter(dict.fromkeys([*self._CLASSES, *(cell.family for cell in CELLS.values())]))

    def __len__(self):
        return sum(1 for _ in self)

    def __repr__(self):
        return f"LAYERS({', '.join(self)})"


LAYERS = _Layers()


def _first_of_family(family):
    return next((cell for cell in CELLS.values() if cell.family == family), None)


def cell_named(name):
    """The ``Cell`` a name stands for: a registered cell's own name (``"rnn_relu"``), or a name of
    ``LAYERS``, the first cell registered in that family (``"rnn"``: ``rnn_tanh``, as ``RNN``)."""
    return CELLS.get(name) or _first_of_family(name) or get_cell(name)  # get_cell: the error


def make_layer(cell, input_size, hidden_size, **kw):
    """A recurrent layer on ``cell``: a name of ``LAYERS`` (``"rnn"``, ``"lstm"``, ``"gru"``, ...)
    or of a registered cell (``"rnn_relu"`` is ``RNN(..., nonlinearity="relu")``); keyword
    arguments as ``Recurrent``'s."""
    if cell in LAYERS:
        return LAYERS[cell](input_size, hidden_size, **kw)
    spec = get_cell(cell)
    return LAYERS[spec.family](input_size, hidden_size, **spec.layer_options, **kw)
