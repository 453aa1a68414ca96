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
from unrolled.nn.module import Module
from unrolled.onnx.nodes import RECURRENT, RecurrentNode
from unrolled.onnx.ops import GLUE, MULTI_OUTPUT, tensor_array


class OnnxGraph(Module):
    """An ONNX graph as an unrolled module: ``forward(*inputs, **named)`` -> the graph's outputs as
    a tuple, in its order (inputs by position in the graph's order, or by name).

    ``steps``: ``(run, input names, output names)``, a glue node's ``run`` taking its input values
    (a list), a ``RecurrentNode`` taking the dict of values."""

    def __init__(self, inputs, outputs, constants, steps):
        super().__init__()
        self.input_names, self.input_types = [n for n, _ in inputs], dict(inputs)
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
        values.update({n: np.asarray(v, dtype=self.input_types[n]) for n, v in feeds.items()})
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
    _refuse_unconvertible(graph)
    constants = {t.name: tensor_array(t) for t in graph.initializer}
    initialized = set(constants)
    # an input with an initializer is a weight (a default the caller may override): a constant here
    inputs = [(vi.name, _dtype(vi)) for vi in graph.input if vi.name not in initialized]
    known = set(constants) | {n for n, _ in inputs}
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
        run = _glue(node, attrs, where)
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
        if pathlib.PurePath(location).name != location or location.startswith(".") or "\\" in location:
            raise ValueError(f"{path}: tensor {t.name!r} names the external file {location!r}; only a file beside the "
                             "model, by its plain name, is read: save the model with its tensors inside")
        try:
            with open_regular(path.parent / location, follow_links=False) as f:
                f.seek(int(info.get("offset", 0)))
                t.raw_data = f.read(int(info["length"])) if "length" in info else f.read()
        except OSError as e:
            raise ValueError(f"{path}: tensor {t.name!r}: its external file {location!r} cannot be read "
                             f"({e.strerror or e}); keep it beside the model") from None
        t.data_location = onnx.TensorProto.DEFAULT
        del t.external_data[:]


def _where(node, k: int) -> str:
    return f"node {node.name or f'#{k}'!r} (op {node.op_type})"


def _dtype(value_info):
    """The NumPy dtype of a graph input, None where the graph leaves it open."""
    elem = value_info.type.tensor_type.elem_type
    return None if elem == onnx.TensorProto.UNDEFINED else helper.tensor_dtype_to_np_dtype(elem)


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


def _glue(node, attrs, where):
    """The node as ``run(input values) -> output values``; errors name the node."""
    fn = GLUE[node.op_type]
    extra = {"n_outputs": len(node.output)} if node.op_type in MULTI_OUTPUT else {}

    def run(values):
        while values and values[-1] is None:  # absent trailing optional inputs
            values = values[:-1]
        try:
            return fn(attrs, *values, **extra)
        except (ValueError, IndexError, KeyError, TypeError) as e:
            raise ValueError(f"{where}: {type(e).__name__}: {e}") from None

    return run
