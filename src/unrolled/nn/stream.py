"""Streaming: a recurrent stack advanced one observation at a time, and ``torch.nn``'s cells.

``Stepper(layer)`` holds a stack's state and advances every layer by one step per call, in one
compiled call on weights laid out once (``unrolled.fast.kernels.step``): what a real-time use
wants, one observation at a time, where ``layer.forward`` on a sequence of length 1 would pay a
sequence's set-up at every step::

    stepper = Stepper(lstm)            # its weights as they are now; the state zeros
    y = stepper(x_t)                   x_t (B, D) or (D,) -> y (B, H) or (H,), the top layer's h
    stepper.state                      h_n (L, B, H), or (h_n, c_n): as ``lstm.forward`` returns
    stepper.reset(state)               start again from ``state`` (None: zeros)

Feeding a sequence step by step gives ``lstm.forward``'s outputs and final state (tests pin
them). The stepper reads the weights when it is made: make another after training.

``RNNCell``, ``LSTMCell`` and ``GRUCell`` are ``torch.nn``'s single-step modules, with their
signatures and state-dict keys (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``)::

    h' = cell(x, h)          RNNCell / GRUCell;   (h', c') = cell(x, (h, c))   LSTMCell

Their forward is the cell's reference step (``unrolled.nn.cells``), and in training mode each
call keeps its cache on a tape, so that a loop of calls can be backpropagated by calling
``backward`` in the reverse order (last call first): BPTT written out by hand.
"""

from __future__ import annotations

import numpy as np

from unrolled.fast.kernels.step import stack_step
from unrolled.nn.checks import as_numbers, check_finite, check_positive_int, resolve_dtype
from unrolled.nn.module import Module
from unrolled.nn.recurrent import LAYERS, Recurrent


def as_real(a, dtype, what: str, name: str) -> np.ndarray:
    """``a`` as a finite array of ``dtype``: numbers only (a complex or text value is refused, not
    cast), no NaN or inf, which would run through every later step (``forward`` refuses them too)."""
    arr = as_numbers(a, what, name)
    arr = arr.astype(dtype, copy=False)
    check_finite(arr, what, name)
    return arr


class Stepper:
    """One step at a time through ``layer`` (a one-way ``Recurrent``: RNN, LSTM, GRU, stacked,
    residual or not); see the module docstring."""

    def __init__(self, layer):
        if not isinstance(layer, Recurrent):
            raise ValueError(f"Stepper streams a recurrent layer (unrolled.RNN / LSTM / GRU), got a "
                             f"{type(layer).__name__}; step a single cell with RNNCell / LSTMCell / GRUCell")
        if getattr(layer, "bidirectional", False):
            raise ValueError("a bidirectional layer reads each sequence from its end too, so it cannot be streamed "
                             "one observation at a time; stream a one-way layer (bidirectional=False)")
        self.layer, self.cell = layer, layer.cell
        L, H, G = layer.num_layers, layer.hidden_size, layer.cell.G
        dt = layer.dtype
        # copies: the stepper keeps the weights as they are now on both paths (training changes the
        # layer's arrays in place)
        weights = [tuple(None if w is None else np.array(w) for w in layer._weights(layer.params, l, 0))
                   for l in range(L)]
        self._reference = layer.cell.kernel is None  # a cell without a compiled step: its own equations
        self._weights = weights
        self.W0T = np.ascontiguousarray(weights[0][0].T)  # (D, GH)
        self.WT = np.stack([np.ascontiguousarray(w[0].T) for w in weights[1:]] or [np.zeros((H, G * H), dt)])
        self.WhT = np.stack([np.ascontiguousarray(w[1].T) for w in weights])  # (L, H, GH)
        zeros = np.zeros(G * H, dt)
        b_ih = [zeros if w[2] is None else w[2] for w in weights]
        b_hh = [zeros if w[3] is None else w[3] for w in weights]
        if layer.cell.shared_da:  # both biases simply add
            self.xb, self.hb = np.zeros((L, G * H), dt), np.stack([a + b for a, b in zip(b_ih, b_hh)])
        else:  # the GRU's b_hn sits inside r * (W_hn h + b_hn)
            self.xb, self.hb = np.stack(b_ih), np.stack(b_hh)
        if not self._reference:
            self._step = stack_step(layer.cell.kernel[0])
            self._flag = layer.cell.kernel[1]
        self._B = None
        self.reset()

    def _buffers(self, B: int) -> None:
        layer, dt = self.layer, self.layer.dtype
        L, H, GH = layer.num_layers, layer.hidden_size, layer.cell.G * layer.hidden_size
        self.h = np.zeros((L, B, H), dt)
        self.c = np.zeros((L, B, H), dt)
        self._out = np.empty((B, H), dt)
        self._xw, self._hw = np.empty((B, GH), dt), np.empty((B, GH), dt)
        self._h_new, self._c_new = np.empty((B, H), dt), np.empty((B, H), dt)
        self._scratch = np.empty((B, max(self.cell.cache_width, 1) * H), dt)
        self._B = B

    def reset(self, state=None) -> "Stepper":
        """Start again from ``state`` (``h_n``, or ``(h_n, c_n)``, each (L, B, H)); None: zeros,
        with the batch size taken from the next observation."""
        if state is None:
            self._pending = None
            self._B = None
            return self
        layer = self.layer
        want = "(h_n, c_n)" if self.cell.has_cell_state else "h_n"
        if self.cell.has_cell_state:  # a tuple or a list (h_n, c_n), as forward takes it
            parts = tuple(state) if isinstance(state, (tuple, list)) and len(state) == 2 else (state,)
        else:  # h_n: an array, or nested lists of numbers; (h_n,) also
            parts = state if isinstance(state, tuple) else (state,)
        if len(parts) != len(self.cell.states):
            raise ValueError(f"a {layer.mode} stepper's state is {want}, each (num_layers, B, hidden_size)")
        parts = [as_real(p, layer.dtype, "state", "Stepper") for p in parts]
        shape = (layer.num_layers, parts[0].shape[1] if parts[0].ndim == 3 else -1, layer.hidden_size)
        for p in parts:
            if p.shape != shape:
                raise ValueError(f"state of shape {p.shape} does not fit: expected (num_layers={layer.num_layers}, "
                                 f"B, hidden_size={layer.hidden_size}), the same B for each part of {want}")
        if shape[1] == 0:
            raise ValueError("a state of batch size 0: give at least one stream (B >= 1)")
        self._buffers(shape[1])
        self.h[...] = parts[0]
        if len(parts) == 2:
            self.c[...] = parts[1]
        return self

    @property
    def state(self):
        """The state now (copies): ``h_n``, or ``(h_n, c_n)`` for an LSTM; None before any step."""
        if self._B is None:
            return None
        return (self.h.copy(), self.c.copy()) if self.cell.has_cell_state else self.h.copy()

    def __call__(self, x):
        """x (B, D), or (D,) for one stream -> the top layer's output (B, H), or (H,)."""
        x = as_real(x, self.layer.dtype, "observation", "Stepper")
        one = x.ndim == 1
        if one:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.layer.input_size:
            raise ValueError(f"an observation has shape (B, input_size={self.layer.input_size}) or (input_size,), "
                             f"got {x.shape}")
        if x.shape[0] == 0:
            raise ValueError("an observation of 0 rows: give at least one stream (B >= 1)")
        if self._B is None:
            self._buffers(x.shape[0])
        elif x.shape[0] != self._B:
            raise ValueError(f"this stream has batch size {self._B}; got an observation of {x.shape[0]} rows "
                             "(reset() first to start streams of another size)")
        x = np.ascontiguousarray(x)
        if self._reference:
            self._reference_step(x)
        else:
            self._step(x, self.W0T, self.WT, self.WhT, self.xb, self.hb, self.h, self.c, self._out, self._xw,
                       self._hw, self._h_new, self._c_new, self._scratch, self._flag, self.layer.residual)
        y = self._out.copy()
        return y[0] if one else y

    def _reference_step(self, x) -> None:
        """The same step through the cell's reference equations (a cell without a compiled kernel)."""
        inp = x
        for l, params in enumerate(self._weights):
            if self.cell.has_cell_state:
                (h, c), _ = self.cell.forward(inp, self.h[l], self.c[l], *params)
                self.c[l] = c
            else:
                h, _ = self.cell.forward(inp, self.h[l], *params)
            self.h[l] = h
            inp = h + inp if self.layer.residual and l > 0 else h
        self._out[...] = inp


class _StepCell(Module):
    """``torch.nn``'s single-step cell: one step of ``mode``'s equations (module docstring)."""

    mode = ""

    def __init__(self, input_size, hidden_size, bias=True, *, dtype=np.float32, seed=None, **options):
        super().__init__()
        name = type(self).__name__
        self.input_size = check_positive_int(input_size, "input_size", name)
        self.hidden_size = check_positive_int(hidden_size, "hidden_size", name)
        self.dtype = resolve_dtype(dtype, name)
        # the same initialisation as a one-layer layer of this cell (torch's U(-1/sqrt(H), 1/sqrt(H)))
        one = LAYERS[self.mode](input_size, hidden_size, bias=bias, dtype=dtype, seed=seed, **options)
        self.cell, self.bias = one.cell, bool(bias)
        for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            if key + "_l0" in one.params:
                self._add_param(key, one.params[key + "_l0"])
        self._tape: list = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size})"

    def _step_params(self):
        p = self.params
        return p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh")

    def _check(self, x, h, what):
        x = as_real(x, self.dtype, "input", type(self).__name__)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input must be (B, {self.input_size}) or ({self.input_size},), "
                             f"got {x.shape}")
        B = x.shape[0] if x.ndim == 2 else None
        shape = (self.hidden_size,) if B is None else (B, self.hidden_size)
        if h is None:
            h = np.zeros(shape, self.dtype)
        h = as_real(h, self.dtype, what, type(self).__name__)
        if h.shape != shape:
            raise ValueError(f"{type(self).__name__}: {what} must be {shape} for this input, got {h.shape}")
        return x, h

    def _gradient(self, d, shape, what):
        """``d`` (the gradient of an output of ``shape``) as a finite array of that shape."""
        d = as_real(d, self.dtype, what, f"{type(self).__name__}.backward")
        if d.shape != shape:
            raise ValueError(f"{type(self).__name__}.backward: {what} must have the shape of the output it "
                             f"differentiates, {shape}, got {d.shape}")
        return d

    def train(self, mode: bool = True):
        self._tape = []
        return super().train(mode)

    def _grads_from(self, grads) -> None:
        for key, g in grads.items():
            if key in self.grads:
                self.grads[key] += g


class RNNCell(_StepCell):
    """``torch.nn.RNNCell``: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or ReLU)."""

    mode = "rnn"

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *, dtype=np.float32, seed=None):
        super().__init__(input_size, hidden_size, bias, dtype=dtype, seed=seed, nonlinearity=nonlinearity)
        self.nonlinearity = nonlinearity

    def forward(self, x, hx=None):
        """x (B, D) or (D,), hx (B, H) or (H,) (None: zeros) -> h' (same batch layout)."""
        x, h = self._check(x, hx, "hx")
        one = x.ndim == 1
        h_new, cache = self.cell.forward(np.atleast_2d(x), np.atleast_2d(h), *self._step_params())
        if self.training:
            self._tape.append((cache, one, h_new.shape[1:] if one else h_new.shape))
        return h_new[0] if one else h_new

    def backward(self, dh):
        """For the last call not yet backpropagated: dh (like h') -> (dx, dh_prev); gradients add up."""
        if not self._tape:
            raise ValueError(f"{type(self).__name__}.backward: no forward left to backpropagate (call forward in "
                             "training mode, then backward once per call, last call first)")
        cache, one, shape = self._tape[-1]
        dh = self._gradient(dh, shape, "dh")
        self._tape.pop()
        dx, dh_prev, grads = self.cell.backward(np.atleast_2d(dh), cache)
        self._grads_from(grads)
        return (dx[0], dh_prev[0]) if one else (dx, dh_prev)


class GRUCell(RNNCell):
    """``torch.nn.GRUCell``: gates r, z, n (``unrolled.nn.cells.gru``), ``h' = (1 - z) n + z h``."""

    mode = "gru"

    def __init__(self, input_size, hidden_size, bias=True, *, dtype=np.float32, seed=None):
        _StepCell.__init__(self, input_size, hidden_size, bias, dtype=dtype, seed=seed)


class LSTMCell(_StepCell):
    """``torch.nn.LSTMCell``: gates i, f, g, o (``unrolled.nn.cells.lstm``)::

        c' = f * c + i * g,    h' = o * tanh(c')
    """

    mode = "lstm"

    def forward(self, x, hx=None):
        """x (B, D) or (D,), hx = (h, c) each (B, H) or (H,) (None: zeros) -> (h', c')."""
        if hx is None:
            h, c = None, None
        elif isinstance(hx, (tuple, list)) and len(hx) == 2:
            h, c = hx
        else:
            raise ValueError("LSTMCell: hx must be a tuple (h, c) (or None for zeros), each (B, hidden_size) or "
                             "(hidden_size,)")
        x, h = self._check(x, h, "h")
        _, c = self._check(x, c, "c")
        one = x.ndim == 1
        (h_new, c_new), cache = self.cell.forward(np.atleast_2d(x), np.atleast_2d(h), np.atleast_2d(c),
                                                  *self._step_params())
        if self.training:
            self._tape.append((cache, one, h_new.shape[1:] if one else h_new.shape))
        return (h_new[0], c_new[0]) if one else (h_new, c_new)

    def backward(self, dh, dc=None):
        """For the last call not yet backpropagated: dh, dc (like h', c'; dc None: zeros) ->
        (dx, dh_prev, dc_prev); gradients add into ``grads``."""
        if not self._tape:
            raise ValueError("LSTMCell.backward: no forward left to backpropagate (call forward in training mode, "
                             "then backward once per call, last call first)")
        cache, one, shape = self._tape[-1]
        dh = self._gradient(dh, shape, "dh")
        dc = np.zeros_like(dh) if dc is None else self._gradient(dc, shape, "dc")
        self._tape.pop()
        dx, dh_prev, dc_prev, grads = self.cell.backward(np.atleast_2d(dh), np.atleast_2d(dc), cache)
        self._grads_from(grads)
        return (dx[0], dh_prev[0], dc_prev[0]) if one else (dx, dh_prev, dc_prev)
