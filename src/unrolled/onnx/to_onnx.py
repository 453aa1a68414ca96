"""``export(model, path)``: an unrolled network, or a fitted task estimator's network, as an ONNX file.

What each network becomes (inputs -> outputs; ``T`` and ``B`` are left free, the rest fixed)::

    RNN / LSTM / GRU       x (T, B, D) [lengths (B,)] [h0 (L*dirs, B, H) [c0]] -> y, h_n [c_n]
                           (B, T, D) and (B, T, dirs*H) with batch_first
    forecaster ManyToOne   x (T, B, D)                          -> out (B, horizon*P)
    language model         ids (T, B) [h0 [c0]]                  -> logits (T, B, V) [h_n [c_n]]
    classifier             ids (T, B) or x (T, B, D), lengths (B,) -> logits (B, C)
                           pooling last: GatherND at each length; mean: ReduceSum / lengths;
                           max: Where(step < length, y, -inf) then ReduceMax
    point process          time_x (T, B, F) [marks (T, B)], lengths (B,) -> theta (T, B, P)
                           [mark_logits (T, B, C)]

The graph is the network in eval mode: what ``forward`` returns, computed the same way; a task's
own preparation of its data (features and their scaling, tokenizing, the point process's
``network_inputs``) stays in Python, as does what its loss makes of the outputs. ``lengths`` are
int64 (cast to ONNX's int32 ``sequence_lens`` inside), ids int64, the rest float32.
"""

from __future__ import annotations

import pathlib
import stat

import numpy as np
import onnx

from unrolled.files import atomic_write
from unrolled.nn.recurrent import Recurrent
from unrolled.onnx import DEFAULT_OPSET, MIN_OPSET
from unrolled.onnx.graph import FLOAT, INT64, GraphBuilder

# what each option adds, and to which networks
OPTIONS = {
    "lengths": "lengths (an input 'lengths', the sequence_lens of every node) applies to a recurrent layer; the "
               "classifier's and the point process's graphs always take lengths",
    "state": "state (inputs h0, c0 and outputs h_n, c_n) applies to a recurrent layer and a language model; the "
             "other networks start every sequence from zeros",
}


def to_model(model, *, opset: int = DEFAULT_OPSET, lengths: bool = False, state: bool = False) -> onnx.ModelProto:
    """The checked ``onnx.ModelProto`` of ``model`` (module docstring): a recurrent layer, one of
    the tasks' networks, or a fitted estimator (its network). ``lengths`` (a recurrent layer
    only) and ``state`` (a recurrent layer or a language model) add those inputs."""
    net = network_of(model)
    b = GraphBuilder(_check_opset(opset))
    exporter, accepted = _exporter(net)
    given = {name: value for name, value in (("lengths", lengths), ("state", state)) if value}
    for name in set(given) - set(accepted):
        raise ValueError(f"{name}=True does not apply to a {type(net).__name__}: {OPTIONS[name]}")
    exporter(b, net, **given)
    return b.model(f"unrolled {net!r}" if isinstance(net, Recurrent) else f"unrolled {type(net).__name__}")


def export(model, path, *, opset: int = DEFAULT_OPSET, lengths: bool = False, state: bool = False) -> pathlib.Path:
    """Write ``to_model(model, ...)`` to ``path`` (an ``.onnx`` file), whole; returns the path."""
    check_target(path)
    proto = to_model(model, opset=opset, lengths=lengths, state=state)
    return atomic_write(path, lambda f: f.write(proto.SerializeToString()))  # the old file, or the whole new one


def check_target(path) -> None:
    """ValueError unless ``path`` names a file to write in a folder that exists: nothing there, a
    regular file or a link (each replaced by the new file, a link not written through). A device,
    a FIFO or a socket is never replaced, nor a directory."""
    if str(path) == "" or pathlib.Path(path).name in ("", ".", ".."):
        raise ValueError(f"{str(path)!r} names no file; give a file name, e.g. model.onnx")
    path = pathlib.Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"{path}: its folder {path.parent} "
                         f"{'is not a folder' if path.parent.exists() else 'does not exist'}; create it or choose "
                         "another path")
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path} is a directory; give a file name, e.g. model.onnx")
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise ValueError(f"{path} exists and is not a regular file (a device, a FIFO or a socket), which is never "
                         "replaced; choose another path")


def network_of(model):
    """The network to export: ``model`` itself, or a fitted estimator's network."""
    attr = getattr(model, "network_attr", None)
    if attr is None:
        return model
    model._check_fitted()
    return getattr(model, attr)


def _check_opset(opset) -> int:
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset={opset!r} is not supported; use an ONNX opset from {MIN_OPSET} to {newest} "
                         f"(default {DEFAULT_OPSET})")
    return int(opset)


# -- one function per network, given the options it accepts (``_EXPORTERS``) -----------------------
def _state_inputs(b: GraphBuilder, layer, state: bool):
    """h0 (and c0) as graph inputs when ``state``; else (None, None): zeros inside the operator."""
    if not state:
        return None, None
    shape = [layer.num_layers * layer.num_directions, "B", layer.hidden_size]
    h0 = b.input("h0", FLOAT, shape)
    return h0, (b.input("c0", FLOAT, shape) if layer.cell.has_cell_state else None)


def _state_outputs(b: GraphBuilder, layer, h_n, c_n) -> None:
    shape = [layer.num_layers * layer.num_directions, "B", layer.hidden_size]
    b.output(h_n, "h_n", FLOAT, shape)
    if c_n is not None:
        b.output(c_n, "c_n", FLOAT, shape)


def recurrent_layer(b: GraphBuilder, layer, *, lengths=False, state=False) -> None:
    """A layer as ``forward`` runs it: batch_first is a Transpose on the way in and out."""
    F = layer.num_directions * layer.hidden_size
    bf = layer.batch_first
    x = b.input("x", FLOAT, ["B", "T", layer.input_size] if bf else ["T", "B", layer.input_size])
    if bf:
        x = b.op("Transpose", x, perm=[1, 0, 2])  # (B, T, D) -> (T, B, D)
    lens = b.input("lengths", INT64, ["B"]) if lengths else None
    h0, c0 = _state_inputs(b, layer, state)
    y, h_n, c_n = b.recurrent(x, layer, lens, h0, c0)
    if bf:
        y = b.op("Transpose", y, perm=[1, 0, 2])
    b.output(y, "y", FLOAT, ["B", "T", F] if bf else ["T", "B", F])
    _state_outputs(b, layer, h_n, c_n)


def many_to_one(b: GraphBuilder, net) -> None:
    """The forecaster's network: the last step's output through the head."""
    x = b.input("x", FLOAT, ["T", "B", net.rnn.input_size])
    y, _, _ = b.recurrent(x, net.rnn)  # (T, B, H)
    last = b.op("Gather", y, b.const(np.array(-1, dtype=np.int64), "last"), axis=0)  # (B, H)
    b.output(b.linear(last, net.head), "out", FLOAT, ["B", net.head.out_features])


def language_model(b: GraphBuilder, net, *, state=False) -> None:
    """Embedding -> stack -> decoder; dropout is off in eval mode."""
    ids = b.input("ids", INT64, ["T", "B"])
    h0, c0 = _state_inputs(b, net.rnn, state)
    y, h_n, c_n = b.recurrent(b.embedding(ids, net.encoder), net.rnn, None, h0, c0)  # (T, B, H)
    b.output(b.linear(y, net.decoder), "logits", FLOAT, ["T", "B", net.decoder.out_features])
    if state:
        _state_outputs(b, net.rnn, h_n, c_n)


def classifier(b: GraphBuilder, net) -> None:
    """Embedding (or numbers as given) -> stack over the true lengths -> pooling -> head."""
    from unrolled.tasks.classify.network import POOLINGS

    if net.pooling not in POOLINGS:
        raise ValueError(f"pooling={net.pooling!r} has no ONNX form here; exported poolings: {', '.join(POOLINGS)}")
    rnn = net.rnn
    if net.encoder is None:
        e = b.input("x", FLOAT, ["T", "B", rnn.input_size])
    else:
        e = b.embedding(b.input("ids", INT64, ["T", "B"]), net.encoder)  # (T, B, E)
    lens = b.input("lengths", INT64, ["B"])
    y, _, _ = b.recurrent(e, rnn, lens)  # (T, B, dirs*H), 0 past each end
    pooled = _POOL[net.pooling](b, y, lens, rnn.hidden_size, rnn.num_directions)  # (B, dirs*H)
    b.output(b.linear(pooled, net.head), "logits", FLOAT, ["B", net.head.out_features])


def _pool_last(b, y, lens, H, dirs):
    """The forward direction's output at t = length - 1 (GatherND, one row per sequence), the
    reverse direction's at t = 0, where it finished reading."""
    by_batch = b.op("Transpose", y, perm=[1, 0, 2])  # (B, T, dirs*H)
    at = b.unsqueeze(b.op("Sub", lens, b.const(np.array(1, dtype=np.int64), "one")), 1)  # (B, 1)
    last = b.op("GatherND", by_batch, at, batch_dims=1)  # (B, dirs*H)
    if dirs == 1:
        return last
    forward = b.op("Slice", last, *(b.const(np.array([v], dtype=np.int64), "index") for v in (0, H, 1)))
    first = b.op("Gather", y, b.const(np.array(0, dtype=np.int64), "first"), axis=0)  # (B, dirs*H)
    reverse = b.op("Slice", first, *(b.const(np.array([v], dtype=np.int64), "index") for v in (H, 2 * H, 1)))
    return b.op("Concat", forward, reverse, axis=1)


def _pool_mean(b, y, lens, H, dirs):
    """The outputs past each end are 0, so the sum over all steps is the sum over the true ones."""
    total = b.reduce("ReduceSum", y, 0)  # (B, dirs*H)
    return b.op("Div", total, b.unsqueeze(b.op("Cast", lens, to=FLOAT), 1))


def _pool_max(b, y, lens, H, dirs):
    """-inf where t >= length (the padded zeros must not win), then the maximum over time."""
    T = b.op("Gather", b.op("Shape", y), b.const(np.array(0, dtype=np.int64), "time_axis"), axis=0)
    steps = b.op("Range", b.const(np.array(0, dtype=np.int64), "zero"), T,
                 b.const(np.array(1, dtype=np.int64), "one"))  # (T,)
    valid = b.op("Less", b.unsqueeze(steps, 1), b.unsqueeze(lens, 0))  # (T, B)
    masked = b.op("Where", b.unsqueeze(valid, 2), y, b.const(np.array(-np.inf, dtype=np.float32), "minus_inf"))
    return b.reduce("ReduceMax", masked, 0)  # (B, dirs*H)


_POOL = {"last": _pool_last, "mean": _pool_mean, "max": _pool_max}


def point_process(b: GraphBuilder, net) -> None:
    """[time features, mark embedding] -> stack over the true lengths -> time head, mark head."""
    x = b.input("time_x", FLOAT, ["T", "B", net.time_features])
    if net.marks is not None:
        marks = b.embedding(b.input("marks", INT64, ["T", "B"]), net.marks)  # (T, B, E)
        x = b.op("Concat", x, marks, axis=2)
    lens = b.input("lengths", INT64, ["B"])
    h, _, _ = b.recurrent(x, net.rnn, lens)  # (T, B, H)
    b.output(b.linear(h, net.time_head), "theta", FLOAT, ["T", "B", net.time_head.out_features])
    if net.mark_head is not None:
        b.output(b.linear(h, net.mark_head), "mark_logits", FLOAT, ["T", "B", net.mark_head.out_features])


# class (module.qualname, read off the MRO: the tasks' modules are not imported to look) ->
# (exporter, the options it accepts)
_EXPORTERS = {
    "unrolled.tasks.forecast.network.ManyToOne": (many_to_one, ()),
    "unrolled.tasks.lm.network.RecurrentLM": (language_model, ("state",)),
    "unrolled.tasks.classify.network.ClassifierNetwork": (classifier, ()),
    "unrolled.tasks.tpp.network.PointProcessNetwork": (point_process, ()),
}


def _exporter(net):
    if isinstance(net, Recurrent):
        return recurrent_layer, ("lengths", "state")
    for cls in type(net).__mro__:
        found = _EXPORTERS.get(f"{cls.__module__}.{cls.__qualname__}")
        if found is not None:
            return found
    raise ValueError(f"cannot export a {type(net).__name__}: unrolled.onnx exports RNN / LSTM / GRU layers, the "
                     "tasks' networks (ManyToOne, RecurrentLM, ClassifierNetwork, PointProcessNetwork) and fitted "
                     "estimators")
