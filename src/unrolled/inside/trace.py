"""Traces: a recurrent layer's every gate, step by step, as a table like seed 003's.

``unrolled explain`` is a thin shell over ``explain``. Its three sources of numbers:

* seed 003, sec. 4 (the default): one LSTM step, every weight 1, one bias 1, ``x = 0.5``,
  ``h_prev = 0.1``, ``c_prev = 0.2``, giving ``f = i = o = 0.832``, ``C~ = 0.921``, ``c = 0.932``,
  ``h = 0.608``. The seed keeps three truncated digits of every intermediate; ``by_hand_step``
  does the same arithmetic and gives exactly its table, the layer gives the full-precision
  ``c = 0.9332``, ``h = 0.6091``;
* seed 002's scalar walk-through: long- and short-term memory through four steps, each stage
  with its own weight on the short-term memory, on the input and a bias (``SEED002_WEIGHTS``;
  the golden test's choice). Input ``A = 0, 0.5, 0.25, 1`` ends with ``h = 0.006``,
  ``B = 1, 0.5, 0.25, 1`` with ``h = 0.969``: the last short-term memory tells the two apart by
  their first value. ``seed002_walkthrough`` is the seed's prose transcribed literally, scalar by
  scalar; the table comes from the layer, and the two must agree;
* the user's own JSON: ``--weights`` a state dict under ``torch.nn``'s names plus ``"cell"``,
  ``--input`` ``{"x": [...], "h0": [...], "c0": [...]}`` (``load_weights``, ``load_input``); each a
  regular file of at most ``unrolled.files.MAX_JSON_BYTES`` (64 MiB), never a FIFO or a device.

Every table comes from ``unrolled.inside.record``: the layer's weights through the reference
cells, so what is printed is what the layer computes.
"""

from __future__ import annotations

import json
import math

import numpy as np

from unrolled.files import MAX_JSON_BYTES, open_regular
from unrolled.nn.cells import CELLS
from unrolled.nn.recurrent import LAYERS, LSTM, cell_named, make_layer
from unrolled.inside.record import parts, record

# Seed 003's table, as printed there ("Summary of Results").
SEED003_TABLE = {"f": 0.832, "i": 0.832, "g": 0.921, "c": 0.932, "o": 0.832, "h": 0.608}
# Seed 002's stages -> (weight on the short-term memory, weight on the input, bias).
SEED002_WEIGHTS = {"f": (2.70, 1.63, 1.62), "i": (2.00, 1.65, 0.62), "g": (1.41, 0.94, -0.32),
                   "o": (4.38, -0.19, 0.59)}
SEED002_INPUTS = {"A": (0.0, 0.5, 0.25, 1.0), "B": (1.0, 0.5, 0.25, 1.0)}


# -- the seeds ------------------------------------------------------------------------------------
def seed003_example():
    """Seed 003, sec. 4, as ``(layer, x, state)``: LSTM(1, 1) in float64, every weight 1, bias 1
    (``bias_ih`` 1 and ``bias_hh`` 0: the seed has one bias per gate), x = 0.5, h = 0.1, c = 0.2."""
    m = LSTM(1, 1, dtype=np.float64)
    m.load_state_dict({"weight_ih_l0": np.ones((4, 1)), "weight_hh_l0": np.ones((4, 1)),
                       "bias_ih_l0": np.ones(4), "bias_hh_l0": np.zeros(4)})
    state = (np.full((1, 1, 1), 0.1), np.full((1, 1, 1), 0.2))
    return m, np.full((1, 1, 1), 0.5), state


def by_hand_step(x, h_prev, c_prev, w=(1.0, 1.0, 1.0), digits=3) -> dict:
    """Seed 003's arithmetic: one scalar LSTM step with every gate's ``(w_h, w_x, b) = w``, each
    intermediate truncated to ``digits`` decimals as the seed writes it (0.9216 -> 0.921)."""
    def cut(v):
        return math.floor(v * 10**digits) / 10**digits

    a = cut(w[0] * h_prev + w[1] * x + w[2])
    s = cut(1 / (1 + math.exp(-a)))
    f = i = o = s  # one weight for every gate: the seed's simplification
    g = cut(math.tanh(a))
    c = cut(cut(f * c_prev) + cut(i * g))  # 0.832*0.2 + 0.832*0.921 = 0.166 + 0.766
    h = cut(o * cut(math.tanh(c)))  # 0.832 * 0.731
    return {"f": f, "i": i, "g": g, "c": c, "o": o, "h": h}


def seed002_walkthrough(inputs, w=SEED002_WEIGHTS):
    """Seed 002's scalar LSTM, transcribed literally: every value has its own weight, the
    sigmoid is e^x / (e^x + 1), long- and short-term memories start at 0. -> (stm, ltm)."""
    sig = lambda v: math.exp(v) / (math.exp(v) + 1)  # noqa: E731
    ltm = stm = 0.0
    for value in inputs:
        # 3.1 forget gate: percentage of the long-term memory to keep
        ltm = ltm * sig(stm * w["f"][0] + value * w["f"][1] + w["f"][2])
        # 3.2 input gate: potential LTM times percentage potential retained
        potential_ltm = math.tanh(stm * w["g"][0] + value * w["g"][1] + w["g"][2])
        retained = sig(stm * w["i"][0] + value * w["i"][1] + w["i"][2])
        ltm = ltm + potential_ltm * retained
        # 3.3 output gate: potential STM times percentage retained
        stm = math.tanh(ltm) * sig(stm * w["o"][0] + value * w["o"][1] + w["o"][2])
    return stm, ltm


def seed002_layer(w=SEED002_WEIGHTS) -> LSTM:
    """The scalar LSTM of seed 002 as ``LSTM(1, 1)`` (float64): stage weights in PyTorch's order."""
    m = LSTM(1, 1, dtype=np.float64)
    order = "ifgo"
    m.load_state_dict({"weight_hh_l0": np.array([[w[k][0]] for k in order]),
                       "weight_ih_l0": np.array([[w[k][1]] for k in order]),
                       "bias_ih_l0": np.array([w[k][2] for k in order]), "bias_hh_l0": np.zeros(4)})
    return m


# -- the user's numbers ---------------------------------------------------------------------------
def _read_json(source, flag: str) -> dict:
    """The JSON object in the file ``source`` (or ``source`` itself, a dict): a regular file (a
    FIFO or device is refused, never waited on or read without end) of at most ``MAX_JSON_BYTES``."""
    if isinstance(source, dict):
        return source
    shown = str(source) if len(str(source)) <= 200 else str(source)[:197] + "..."
    try:
        with open_regular(source) as f:
            raw = f.read(MAX_JSON_BYTES + 1)
    except OSError as e:
        what = "not a regular file (a directory, FIFO or device)" if e.errno is None else (e.strerror or str(e))
        raise ValueError(f"cannot read {flag} {shown}: {what}; give the path of a JSON file") from None
    if len(raw) > MAX_JSON_BYTES:
        raise ValueError(f"{flag} {shown} is larger than {MAX_JSON_BYTES >> 20} MiB (unrolled.files.MAX_JSON_BYTES); "
                         "give a JSON file of one layer's weights or one sequence")
    try:
        obj = json.loads(raw)
    except RecursionError:
        raise ValueError(f"{flag} {shown} is nested too deeply; see `unrolled explain --help` for the expected "
                         "layout") from None
    except ValueError as e:  # not JSON, not UTF-8/16/32, a number of too many digits
        raise ValueError(f"{flag} {shown} is not valid JSON ({_cut(str(e))}); see `unrolled explain --help` "
                         "for the expected layout") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{flag} {shown}: expected a JSON object {{...}}, got {type(obj).__name__}")
    return obj


def _cut(text: str, most: int = 120) -> str:
    return text if len(text) <= most else text[:most - 3] + "..."


def _array(value, what: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number or a (nested) list of numbers, got {value!r:.60}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} contains NaN or inf; give finite numbers")
    return a


def load_weights(source):
    """A layer (float64) from ``{"cell": "lstm" | "gru" | "rnn" | "rnn_relu" | ..., "weight_ih_l0":
    [[...]], "weight_hh_l0": [[...]], "bias_ih_l0": [...], "bias_hh_l0": [...]}`` (a dict or a
    JSON file): ``torch.nn``'s names, shapes and gate order; more layers and ``_reverse`` too."""
    w = dict(_read_json(source, "--weights"))
    cell = w.pop("cell", "lstm")
    known = sorted({*LAYERS, *CELLS})  # a user-facing name or a cell's own ("rnn_relu")
    if cell not in known:
        raise ValueError(f"--weights: \"cell\": {cell!r} is unknown; use one of {known}")
    if "weight_hh_l0" not in w or "weight_ih_l0" not in w:
        raise ValueError(f"--weights: needs \"weight_ih_l0\" and \"weight_hh_l0\" (torch.nn's names); "
                         f"got keys {sorted(w)}")
    arrays = {k: _array(v, f"--weights: {k!r}") for k, v in w.items()}
    G = cell_named(cell).G
    W_hh, W_ih = arrays["weight_hh_l0"], arrays["weight_ih_l0"]
    if W_hh.ndim != 2 or W_hh.shape[0] != G * W_hh.shape[1] or W_ih.ndim != 2 or W_ih.shape[0] != W_hh.shape[0]:
        raise ValueError(f"--weights: a {cell} layer with H units needs weight_hh_l0 of shape ({G}H, H) and "
                         f"weight_ih_l0 of shape ({G}H, D) (gates stacked in torch's order); got "
                         f"{W_hh.shape} and {W_ih.shape}")
    layers = 1 + max((int(k.split("_l")[1].split("_")[0]) for k in arrays if "_l" in k), default=0)
    m = make_layer(cell, W_ih.shape[1], W_hh.shape[1], num_layers=layers, bias="bias_ih_l0" in arrays,
                   bidirectional=any(k.endswith("_reverse") for k in arrays), dtype=np.float64)
    try:
        m.load_state_dict(arrays)
    except ValueError as e:
        raise ValueError(f"--weights: {e}") from None
    return m


def load_input(source, layer):
    """``(x (T, 1, D), state)`` for ``layer`` from ``{"x": [...], "h0": [...], "c0": [...]}``: ``x``
    a list of T steps, each a number (D = 1) or D numbers; ``h0``, ``c0`` (LSTM) H numbers, or
    one row of H per layer and direction; both default to zeros."""
    obj = _read_json(source, "--input")
    unknown = sorted(set(obj) - {"x", "h0", "c0"})
    if "x" not in obj or unknown:
        problem = "\"x\" is missing" if "x" not in obj else f"unknown keys {unknown}"
        raise ValueError(f"--input: {problem}; expected {{\"x\": [...], \"h0\": [...], \"c0\": [...]}} "
                         "(h0 and c0 optional)")
    D, H, LD = layer.input_size, layer.hidden_size, layer.num_layers * layer.num_directions
    x = _array(obj["x"], "--input: \"x\"")
    x = x.reshape(-1, 1) if x.ndim == 1 and D == 1 else x
    if x.ndim != 2 or x.shape[1] != D or len(x) == 0:
        each = "a number" if D == 1 else f"{D} numbers"
        raise ValueError(f"--input: \"x\" must be a list of T >= 1 steps, each {each} "
                         f"(D = {D} from the weights); got shape {x.shape}")
    state = []
    names = ("h0", "c0") if layer.cell.has_cell_state else ("h0",)
    if "c0" in obj and "c0" not in names:
        raise ValueError(f"--input: \"c0\" is only for the LSTM; a {layer.cell.family} has no cell state")
    for name in names:
        s = _array(obj.get(name, np.zeros((LD, H))), f"--input: \"{name}\"")
        if s.size != LD * H:
            raise ValueError(f"--input: \"{name}\" needs H = {H} numbers per layer and direction "
                             f"({LD * H} in all); got {s.size}")
        state.append(s.reshape(LD, 1, H))
    return x[:, None, :], (tuple(state) if len(state) == 2 else state[0])


# -- the table ------------------------------------------------------------------------------------
def trace_table(layer, x, state=None, decimals=4, extra=None) -> str:
    """Every gate of ``layer`` on one sequence x (T, 1, D): rows are values, columns are steps.

    ``extra`` maps a column title to ``{name: value}`` (e.g. the seed's printed numbers) shown
    beside the last step.
    """
    rec = record(layer, x, state)
    T = x.shape[0]
    w = decimals + 6
    blocks = []
    for part in parts(rec):
        values = rec[part]
        head = f"{'':<34}" + "".join(f"{f't={t + 1}':>{w}}" for t in range(T))
        head += "".join(f"  {title:>{max(w, len(title))}}" for title in (extra or {}))
        rows = [f"{type(layer).__name__} {part}: every gate, step by step (columns are time steps)", head]
        inputs = [("x", x[:, 0, :])] if part == "l0" else []
        inputs += [("h_prev", values["h_prev"][:, 0, :])]
        if "c_prev" in values:
            inputs += [("c_prev", values["c_prev"][:, 0, :])]
        labels = dict(layer.cell.labels, x="x      input", h_prev="h_prev previous hidden state",
                      c_prev="c_prev previous cell state")
        series = inputs + [(name, values[name][:, 0, :]) for name in layer.cell.gates]
        for name, v in series:  # v (T, units)
            for u in range(v.shape[1]):
                label = labels.get(name, name) if u == 0 else ""
                if v.shape[1] > 1:
                    label = f"{label:<29}[{u}]"
                row = f"{label:<34}" + "".join(f"{val:>{w}.{decimals}f}" for val in v[:, u])
                for title, col in (extra or {}).items():
                    cell = col.get(name) if v.shape[1] == 1 else None
                    row += f"  {'' if cell is None else f'{cell:.3f}':>{max(w, len(title))}}"
                rows.append(row.rstrip())
        blocks.append("\n".join(rows))
    return "\n\n".join(blocks)


def explain(weights=None, inputs=None, seed002=False, decimals=4, echo=print) -> dict:
    """Print a trace table: seed 003's step (default), seed 002's walk-through (``seed002``), or
    the user's ``weights`` / ``inputs`` (JSON files or dicts). Returns the recording(s)."""
    if not (isinstance(decimals, int) and 1 <= decimals <= 12):
        raise ValueError(f"decimals={decimals!r} is invalid; use a whole number from 1 to 12")
    if seed002:
        if weights is not None or inputs is not None:
            raise ValueError("--seed002 uses the seed's own numbers; leave out --weights / --input")
        layer, out = seed002_layer(), {}
        echo("Seed 002's scalar walk-through: one weight on the short-term memory (h), one on the input, one "
             "bias per stage\n(f, i, g, o) = " + ", ".join(f"{k}: {v}" for k, v in SEED002_WEIGHTS.items())
             + "; long- and short-term memories start at 0.\n")
        for name, seq in SEED002_INPUTS.items():
            x = np.array(seq).reshape(-1, 1, 1)
            echo(f"sequence {name}: x = {', '.join(map(str, seq))}")
            echo(trace_table(layer, x, decimals=decimals))
            stm, ltm = seed002_walkthrough(seq)
            echo(f"the seed's prose, scalar by scalar: final short-term memory {stm:.{decimals}f}, long-term "
                 f"memory {ltm:.{decimals}f} (the layer's h and c above)\n")
            out[name] = record(layer, x)
        return out
    if weights is None and inputs is None:
        layer, x, state = seed003_example()
        echo("Seed 003, sec. 4: one LSTM step, every weight 1 and one bias 1, x = 0.5, h_prev = 0.1, "
             "c_prev = 0.2\n")
        echo(trace_table(layer, x, state, decimals, extra={
            "seed 003": SEED003_TABLE, "by hand": by_hand_step(0.5, 0.1, 0.2)}))
        echo("\n'by hand' keeps three truncated digits of every intermediate, as the seed does "
             "(c = 0.166 + 0.766,\nh = 0.832 * 0.731): that gives its table exactly; the layer carries "
             "full precision.")
        return record(layer, x, state)
    if weights is None:
        layer = seed003_example()[0]
        echo("(no --weights: seed 003's LSTM, every weight 1 and one bias 1)")
    else:
        layer = load_weights(weights)
    if inputs is None:
        raise ValueError("--weights needs --input too: a JSON file {\"x\": [...]} with the steps to trace")
    x, state = load_input(inputs, layer)
    echo(trace_table(layer, x, state, decimals))
    return record(layer, x, state)
