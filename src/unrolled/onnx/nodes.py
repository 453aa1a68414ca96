"""One ONNX ``RNN`` / ``LSTM`` / ``GRU`` node as an unrolled layer.

The node's inputs (ONNX's layout; ``layout=1`` swaps the first two axes of X, Y and the states)::

    X (T, B, D)  W (dirs, G*H, D)  R (dirs, G*H, H)  B (dirs, 2*G*H)  sequence_lens (B,)
    initial_h (dirs, B, H)  initial_c (dirs, B, H)  P (dirs, 3H)

become one layer of the registered cell its attributes name (``gates.OPS`` read backwards), with
``num_layers=1`` and ``bidirectional`` for ``direction="bidirectional"``. ``direction="reverse"``
runs a forward layer on each sequence reversed within its length (``reverse_within``) and
reverses the outputs back, which is what the reverse half of a bidirectional layer does. The
outputs ``Y`` (T, dirs, B, H), ``Y_h`` and ``Y_c`` (dirs, B, H) are unrolled's y and state
rearranged.

What the cells do not cover is refused by name: ``clip``, ``input_forget``, activations other
than the defaults (and Relu for RNN), ``activation_alpha`` / ``beta``.
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.recurrent import make_layer
from unrolled.onnx import gates

RECURRENT = ("RNN", "LSTM", "GRU")
DEFAULT_ACTIVATIONS = {"RNN": ("tanh",), "LSTM": ("sigmoid", "tanh", "tanh"), "GRU": ("sigmoid", "tanh")}
_INPUTS = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")


def reverse_within(x: np.ndarray, lengths) -> np.ndarray:
    """Each sequence of x (T, B, ...) reversed over its first ``lengths[b]`` steps, padding kept in
    place; its own inverse."""
    T, B = x.shape[:2]
    if lengths is None:
        return x[::-1]
    t, n = np.arange(T)[:, None], np.asarray(lengths)[None, :]  # (T, 1), (1, B)
    source = np.where(t < n, n - 1 - t, t)  # (T, B): the step each position reads
    return x[source, np.arange(B)[None, :]]


class RecurrentNode:
    """Node -> cell, direction, layout; ``run(values)`` computes its outputs from its inputs.

    ``constants`` holds the values known when loading: when W, R (and B, P) are among them the
    layer is built once, here; weights that arrive as graph inputs (ONNX's own test cases feed
    them) are loaded into the layer on every run."""

    def __init__(self, node, attrs: dict, constants: dict, where: str):
        self.op, self.where = node.op_type, where
        self.names = dict(zip(_INPUTS, list(node.input) + [""] * (8 - len(node.input))))
        self.n_outputs = len(node.output)
        self.direction = attrs.get("direction", "forward")
        self.layout = attrs.get("layout", 0)
        if self.layout not in (0, 1):
            self.refuse(f"layout={self.layout!r}; ONNX allows 0 (T, B, ...) and 1 (B, T, ...)")
        self.hidden_size = attrs.get("hidden_size")
        self.cell = self._cell(attrs)
        weights = [self.names[k] for k in ("W", "R", "B", "P") if self.names[k]]
        self.fed = not all(w in constants for w in weights)  # the weights arrive with every run
        self.layer = None if self.fed else self._build({k: constants.get(self.names[k]) for k in ("W", "R", "B", "P")})

    def refuse(self, what: str):
        raise ValueError(f"cannot convert {self.where}: {what}")

    def _cell(self, attrs) -> str:
        for unsupported in ("clip", "activation_alpha", "activation_beta"):
            if unsupported in attrs:
                self.refuse(f"attribute {unsupported} has no unrolled cell; export without it")
        if attrs.get("input_forget", 0):
            self.refuse("input_forget=1 (coupled input and forget gates) has no unrolled cell")
        if self.direction not in ("forward", "reverse", "bidirectional"):
            self.refuse(f"direction={self.direction!r}; ONNX allows forward, reverse, bidirectional")
        dirs, n = 2 if self.direction == "bidirectional" else 1, len(DEFAULT_ACTIVATIONS[self.op])
        acts = [a.lower() for a in attrs.get("activations", DEFAULT_ACTIVATIONS[self.op] * dirs)]
        if len(acts) != n * dirs:
            self.refuse(f"activations {acts}: {self.op} takes {n} per direction, {n * dirs} here")
        per_direction = {tuple(acts[k:k + n]) for k in range(0, len(acts), n)}
        if self.op == "RNN":
            if per_direction not in ({("tanh",)}, {("relu",)}):
                self.refuse(f"activations {acts}; unrolled's RNN cells are Tanh and Relu, the same in both directions")
            return f"rnn_{acts[0]}"
        if per_direction != {DEFAULT_ACTIVATIONS[self.op]}:
            self.refuse(f"activations {acts}; unrolled's {self.op} uses ONNX's defaults "
                        f"{list(DEFAULT_ACTIVATIONS[self.op])}")
        if self.op == "LSTM":
            return "lstm_peephole" if self.names["P"] else "lstm"
        return "gru" if attrs.get("linear_before_reset", 0) else "gru_reset_before"

    def _build(self, w: dict):
        """The layer for weights ``w`` (ONNX's W, R, B, P with the direction axis)."""
        W, R = np.asarray(w["W"]), np.asarray(w["R"])
        dirs, G = 2 if self.direction == "bidirectional" else 1, len(gates.ORDER[self.op])
        H = R.shape[-1] if R.ndim == 3 else 0
        if W.ndim != 3 or R.shape != (dirs, G * H, H) or W.shape[:2] != (dirs, G * H):
            self.refuse(f"W {W.shape} and R {R.shape} are not (dirs={dirs}, {G}*H, D) and (dirs, {G}*H, H)")
        if self.hidden_size is not None and self.hidden_size != H:
            self.refuse(f"hidden_size={self.hidden_size} but R has {H} columns")
        D = W.shape[2]
        if W.dtype not in (np.float32, np.float64):
            self.refuse(f"weights of dtype {W.dtype}; unrolled layers are float32 or float64")
        layer = make_layer(self.cell, D, H, bidirectional=dirs == 2, bias=w["B"] is not None, dtype=W.dtype)
        self._load(layer, w)
        return layer.eval()

    def _load(self, layer, w: dict) -> None:
        state = {}
        for d in range(layer.num_directions):
            part = gates.unrolled_direction(self.op, *(None if w[k] is None else np.asarray(w[k])[d]
                                                      for k in ("W", "R", "B", "P")))
            state.update({f"{k}_l0" + ("_reverse" if d else ""): v for k, v in part.items()})
        layer.load_state_dict(state)

    def run(self, values: dict) -> list:
        """The node's outputs (Y, Y_h[, Y_c]) from ``values`` (name -> array) of its inputs."""
        get = {k: (values[n] if n else None) for k, n in self.names.items()}
        if self.fed and self.layer is None:
            self.layer = self._build(get)
        elif self.fed:
            self._load(self.layer, get)
        x, lengths = get["X"], get["sequence_lens"]
        swap = (lambda a: None if a is None else np.swapaxes(a, 0, 1)) if self.layout else (lambda a: a)
        x, h0, c0 = swap(x), swap(get["initial_h"]), swap(get["initial_c"])
        state = None
        if h0 is not None or c0 is not None:
            like = h0 if h0 is not None else c0
            h0 = np.zeros_like(like) if h0 is None else h0
            state = (h0, np.zeros_like(h0) if c0 is None else c0) if self.layer.cell.has_cell_state else h0
        if lengths is not None:
            lengths = np.asarray(lengths, dtype=np.int64)
        reverse = self.direction == "reverse"
        if reverse:
            x = reverse_within(x, lengths)
        y, s = self.layer.forward(x, state, lengths=lengths)  # (T, B, dirs*H)
        if reverse:
            y = reverse_within(y, lengths)
        T, B, _ = y.shape
        Y = y.reshape(T, B, -1, self.layer.hidden_size).transpose(0, 2, 1, 3)  # (T, dirs, B, H)
        outputs = [Y.transpose(2, 0, 1, 3) if self.layout else Y]  # layout 1: (B, T, dirs, H)
        outputs += [swap(v) for v in (s if isinstance(s, tuple) else (s,))]
        return outputs[:self.n_outputs]

