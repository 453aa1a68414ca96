"""``load(path)``: an ONNX graph of recurrent operators and their glue as an unrolled module.

Loading walks the nodes once, in the graph's (topological) order:

* a node whose inputs are all known (initializers, ``Constant`` nodes, and what is computed from
  them: the weights torch's exporter slices and concatenates) is computed now, once;
* an ``RNN`` / ``LSTM`` / ``GRU`` node becomes an unrolled layer (``unrolled.onnx.nodes``),
  registered as a child of the returned ``OnnxGraph``: ``graph.rnn0``, ``graph.rnn1``, ... and
  their parameters under ``rnn0.weight_ih_l0``, ... (PyTorch's layout and gate order);
* any other node is a step of ``OnnxGraph.forward``, run by its NumPy form in ``unrolled.onnx.ops``.

Anything else is refused before any work, in one ValueError naming every node it cannot convert
(its name and operator) and what is supported: other operators, other domains, subgraphs.
The module computes the graph's outputs (inference: the layers are in eval mode).
"""

from __future__ import annotations

import pathlib

import numpy as np
import onnx
from onnx import helper

from unrolled.files import open_regular
from unrolled.nn.checks import as_numbers
from unrolled.nn.module import Module
from unrolled.onnx.nodes import RECURRENT, RecurrentNode
from unrolled.onnx.ops import GLUE, MULTI_OUTPUT, OLD_SOFTMAX, check_size, result_shape, tensor_array

MIN_READ_OPSET = 7  # the glue's forms from opset 7 on (before it, Add and friends broadcast by attribute)


class OnnxGraph(Module):
    """An ONNX graph as an unrolled module: ``forward(*inputs, **named)`` -> the graph's outputs as
    a tuple, in its order (inputs by position in the graph's order, or by name).

    ``steps``: ``(run, input names, output names)``, a glue node's ``run`` taking its input values
    (a list), a ``RecurrentNode`` taking the dict of values."""

    def __init__(self, inputs, outputs, constants, steps):
        super().__init__()
        self.input_names = [n for n, _, _ in inputs]
        self.input_types = {n: t for n, t, _ in inputs}
        self.input_shapes = {n: shape for n, _, shape in inputs}  # None: no shape declared; a dim None: free
        self.output_names = outputs
        self._constants, self._steps = constants, steps
        self._adopt()

    def _adopt(self) -> None:
        """Register every built layer as a child, ``rnn0``, ``rnn1``, ... in the graph's order (a
        layer whose weights are fed is built by its first run)."""
        for k, node in enumerate(self._recurrent_nodes()):
            if node.layer is not None and getattr(self, f"rnn{k}", None) is not node.layer:
                setattr(self, f"rnn{k}", node.layer.train(self.training))

    def _recurrent_nodes(self) -> list:
        return [run for run, _, _ in self._steps if isinstance(run, RecurrentNode)]

    def _feed(self, name, value) -> np.ndarray:
        """``value`` as the input ``name``: its dtype (a float where the graph takes integers only if
        it is whole, never a complex or text value) and the rank and fixed dims the graph declares."""
        want, declared = self.input_types[name], self.input_shapes.get(name)
        arr = as_numbers(value, f"input {name!r}", "OnnxGraph", f" ({np.dtype(want)})" if want is not None else "")
        if want is not None and np.dtype(want).kind in "biu" and arr.dtype.kind == "f":
            if not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
                raise ValueError(f"OnnxGraph: input {name!r} takes {np.dtype(want)} values, got floats that are not "
                                 "whole numbers (or NaN); pass integers")
        if want is not None and np.dtype(want).kind == "b" and arr.dtype.kind != "b" and arr.size:
            if not np.all((arr == 0) | (arr == 1)):
                raise ValueError(f"OnnxGraph: input {name!r} takes booleans, got other values")
        if declared is not None:
            fits = arr.ndim == len(declared) and all(d is None or d == n for d, n in zip(declared, arr.shape))
            if not fits:
                dims = ["?" if d is None else str(d) for d in declared]
                shown = f"({dims[0]},)" if len(dims) == 1 else "(" + ", ".join(dims) + ")"
                raise ValueError(f"OnnxGraph: input {name!r} has shape {arr.shape}; the graph takes {shown}")
        return arr if want is None else arr.astype(want, copy=False)

    def recurrent_layers(self) -> list:
        """The unrolled layers the recurrent nodes became, in the graph's order."""
        return [node.layer for node in self._recurrent_nodes()]

    def forward(self, *args, **named):
        """The graph's outputs from its inputs: positional in the graph's input order, or by name."""
        if len(args) > len(self.input_names):
            raise ValueError(f"OnnxGraph: {len(args)} inputs given, the graph takes {len(self.input_names)}: "
                             f"{self.input_names}")
        feeds = dict(zip(self.input_names, args))
        clash = sorted(set(feeds) & set(named))
        unknown = sorted(set(named) - set(self.input_names))
        missing = [n for n in self.input_names if n not in feeds and n not in named]
        if clash or unknown or missing:
            raise ValueError(f"OnnxGraph: inputs given twice {clash}, unknown {unknown}, missing {missing}; the "
                             f"graph's inputs are {self.input_names}")
        feeds.update(named)
        values = dict(self._constants)
        values.update({n: self._feed(n, v) for n, v in feeds.items()})
        for run, inputs, outputs in self._steps:
            if isinstance(run, RecurrentNode):
                try:
                    results = run.run(values)
                except ValueError as e:  # the layer's own check, e.g. of a fed input's shape
                    raise ValueError(f"{run.where}: {e}") from None
            else:
                results = run([values[n] if n else None for n in inputs])
            for name, value in zip(outputs, results):
                if name:
                    values[name] = value
        self._adopt()
        return tuple(values[n] for n in self.output_names)


def load_graph(source) -> OnnxGraph:
    """``source``: a path to an ``.onnx`` file or an ``onnx.ModelProto``."""
    model = source if isinstance(source, onnx.ModelProto) else _read(source)
    graph = model.graph
    if not graph.output:
        raise ValueError("the model has no graph outputs (an empty file, or not an ONNX model); give an ONNX model "
                         "file")
    opset = _opset(model)
    _refuse_unconvertible(graph)
    _refuse_redefinitions(graph)
    constants = {t.name: tensor_array(t) for t in graph.initializer}
    initialized = set(constants)
    # an input with an initializer is a weight (a default the caller may override): a constant here
    inputs = [(vi.name, _dtype(vi), _shape(vi)) for vi in graph.input if vi.name not in initialized]
    known = set(constants) | {n for n, _, _ in inputs}
    steps = []
    for k, node in enumerate(graph.node):
        attrs = {a.name: _attribute(a) for a in node.attribute}
        where = _where(node, k)
        unknown = [n for n in node.input if n and n not in known]
        if unknown:
            raise ValueError(f"{where} reads {unknown}, which no input, initializer or earlier node gives; the graph "
                             "is incomplete or not in topological order (onnx.checker.check_model says which)")
        known.update(node.output)
        if node.op_type in RECURRENT:
            steps.append((RecurrentNode(node, attrs, constants, where), list(node.input), list(node.output)))
            continue
        run = _glue(node, attrs, where, opset)
        if all(n == "" or n in constants for n in node.input):  # known now: computed once, here
            for name, value in zip(node.output, run([constants[n] if n else None for n in node.input])):
                if name:
                    constants[name] = value
        else:
            steps.append((run, list(node.input), list(node.output)))
    missing = [vi.name for vi in graph.output if vi.name not in known]
    if missing:
        raise ValueError(f"the graph's outputs {missing} are computed by no node")
    return OnnxGraph(inputs, [vi.name for vi in graph.output], constants, steps).eval()


def _read(path) -> onnx.ModelProto:
    """The model in the file ``path``, with the tensors it keeps in external files (as
    ``torch.onnx.export`` writes large ones) read from beside it."""
    if not isinstance(path, (str, pathlib.PurePath)):
        raise TypeError(f"unrolled.onnx.load takes the path of an ONNX file or an onnx.ModelProto, got a "
                        f"{type(path).__name__}")
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such ONNX file; give the path of a .onnx file")
    with open_regular(path) as f:  # a FIFO or a device is refused at once
        data = f.read()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf's DecodeError and friends: not an ONNX file
        raise ValueError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    _inline_external_data(model, path)
    return model


def _inline_external_data(model: onnx.ModelProto, path: pathlib.Path) -> None:
    """Read each external tensor's bytes into the model. The file names come from an untrusted
    model: only a plain file name in the model's own folder is opened (no path, no link, no
    hidden file), and only the bytes the tensor names."""
    tensors = list(model.graph.initializer) + [a.t for n in model.graph.node for a in n.attribute
                                               if a.type == onnx.AttributeProto.TENSOR]
    for t in tensors:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        location = info.get("location", "")
        if (not location or pathlib.PurePath(location).name != location or location.startswith(".")
                or "\\" in location or "\0" in location):
            raise ValueError(f"{path}: tensor {t.name!r} names the external file {location!r}; only a file beside the "
                             "model, by its plain name, is read: save the model with its tensors inside")
        offset = _whole(info.get("offset", "0"), "offset", t, path)
        length = _whole(info.get("length", "-1"), "length", t, path)  # -1: not given
        expected = _bytes_of(t, path)
        if length not in (-1, expected):
            raise ValueError(f"{path}: tensor {t.name!r} (dims {list(t.dims)}) takes {expected} bytes but its external "
                             f"data claims {length}; the model is damaged")
        try:
            with open_regular(path.parent / location, follow_links=False) as f:
                f.seek(offset)
                t.raw_data = f.read(expected)  # never more than the tensor takes, whatever the file holds
        except OSError as e:
            raise ValueError(f"{path}: tensor {t.name!r}: its external file {location!r} cannot be read "
                             f"({e.strerror or e}); keep it beside the model") from None
        if len(t.raw_data) != expected:
            raise ValueError(f"{path}: tensor {t.name!r}: its external file {location!r} holds {len(t.raw_data)} of "
                             f"the {expected} bytes it needs from offset {offset}; the model or the file is damaged")
        t.data_location = onnx.TensorProto.DEFAULT
        del t.external_data[:]


def _whole(value: str, key: str, t, path) -> int:
    try:
        n = int(value)
    except ValueError:
        n = None
    if n is None or n < -1 or (key == "offset" and n < 0):
        raise ValueError(f"{path}: tensor {t.name!r}: external data {key}={value!r} is not a byte count; the model "
                         "is damaged")
    return n


def _bytes_of(t, path) -> int:
    """The bytes an external tensor's raw data takes: its dims times its element's size."""
    if any(d < 0 for d in t.dims) or t.data_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
        raise ValueError(f"{path}: tensor {t.name!r} (dims {list(t.dims)}, type {t.data_type}) cannot be read from "
                         "an external file; save the model with its tensors inside")
    try:
        size = helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: tensor {t.name!r} has an unknown data type {t.data_type}") from None
    count = 1
    for d in t.dims:
        count *= d
    check_size([count], f"tensor {t.name!r}")
    return count * size


def _opset(model) -> int:
    """The standard domain's opset the model imports; older than ``MIN_READ_OPSET`` is refused."""
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    opset = versions[0] if versions else onnx.defs.onnx_opset_version()
    if opset < MIN_READ_OPSET:
        raise ValueError(f"the model uses ONNX opset {opset}; unrolled.onnx reads opset {MIN_READ_OPSET} and newer: "
                         "convert it first (onnx.version_converter.convert_version(model, 17))")
    return opset


def _refuse_redefinitions(graph) -> None:
    """Each value is defined once (ONNX's static single assignment): a node may not write a graph
    input, an initializer or another node's output, which would make the result depend on order."""
    defined = {vi.name for vi in graph.input} | {t.name for t in graph.initializer}
    for k, node in enumerate(graph.node):
        for name in node.output:
            if not name:
                continue
            if name in defined:
                raise ValueError(f"{_where(node, k)} writes {name!r}, which an input, an initializer or an earlier "
                                 "node already defines; an ONNX graph defines each value once (as onnx.checker says)")
            defined.add(name)


def _where(node, k: int) -> str:
    return f"node {node.name or f'#{k}'!r} (op {node.op_type})"


def _dtype(value_info):
    """The NumPy dtype of a graph input, None where the graph leaves it open; only numbers."""
    elem = value_info.type.tensor_type.elem_type
    if elem == onnx.TensorProto.UNDEFINED:
        return None
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem))
    except (KeyError, TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        name = onnx.TensorProto.DataType.Name(elem) if elem in onnx.TensorProto.DataType.values() else str(elem)
        raise ValueError(f"the graph input {value_info.name!r} is of type {name}; unrolled.onnx feeds numbers (float, "
                         "int, bool)")
    return dtype


def _shape(value_info):
    """The declared shape of a graph input: a tuple of ints and None (free dims), or None."""
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in t.shape.dim)


def _refuse_unconvertible(graph) -> None:
    """One error naming every node that cannot be converted, before anything runs."""
    bad = []
    for k, node in enumerate(graph.node):
        if node.domain not in ("", "ai.onnx"):
            bad.append(f"{_where(node, k)}: domain {node.domain!r} (only the standard ONNX domain is read)")
        elif node.op_type not in GLUE and node.op_type not in RECURRENT:
            bad.append(f"{_where(node, k)}: operator not supported")
        elif any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            bad.append(f"{_where(node, k)}: subgraphs (If, Loop, Scan) are not supported")
    if bad:
        raise ValueError("cannot convert " + "; ".join(bad) + f". unrolled.onnx reads {', '.join(RECURRENT)} and "
                         f"the glue {', '.join(sorted(GLUE))}")


def _attribute(a):
    value = helper.get_attribute_value(a)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode() for v in value]
    return value


def _glue(node, attrs, where, opset):
    """The node as ``run(input values) -> output values``; errors name the node."""
    op = node.op_type
    fn = OLD_SOFTMAX[op] if op in OLD_SOFTMAX and opset < 13 else GLUE[op]
    extra = {"n_outputs": len(node.output)} if op in MULTI_OUTPUT else {}

    def run(values):
        while values and values[-1] is None:  # absent trailing optional inputs
            values = values[:-1]
        try:
            shape = result_shape(op, attrs, values)
            if shape is not None:
                check_size(shape, op)  # before the memory is asked for
            return fn(attrs, *values, **extra)
        except (ValueError, IndexError, KeyError, TypeError) as e:
            raise ValueError(f"{where}: {type(e).__name__}: {e}") from None

    return run
