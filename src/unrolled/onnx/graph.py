"""Writing an ONNX graph: ``GraphBuilder`` names values, keeps the weights as initializers and
writes the three pieces every exported network is made of, each in one place:

* ``recurrent(x, layer)``: a stack of unrolled RNN / LSTM / GRU layers as one ONNX ``RNN`` /
  ``LSTM`` / ``GRU`` node per layer (both directions in one node), weights converted by
  ``unrolled.onnx.gates``, ``Y`` (T, dirs, B, H) turned back into unrolled's (T, B, dirs*H);
* ``linear(x, layer)``: ``MatMul`` by ``W^T`` and ``Add`` of ``b``, over the last axis, any rank;
* ``embedding(ids, layer)``: ``Gather`` of the table's rows.

Everything is float32 (what ONNX Runtime runs the recurrent operators in); ids and lengths are
int64 (``sequence_lens`` is int32 by the standard: cast once, in ``recurrent``).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from unrolled.onnx import gates

FLOAT, INT64 = TensorProto.FLOAT, TensorProto.INT64


class GraphBuilder:
    """Nodes, initializers, inputs and outputs of one graph, for ONNX opset ``opset``."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self._taken: set[str] = set()

    def fresh(self, base: str) -> str:
        """A value name not used yet: ``base``, else ``base_1``, ``base_2``, ..."""
        name, k = base, 0
        while name in self._taken:
            k += 1
            name = f"{base}_{k}"
        self._taken.add(name)
        return name

    # -- the graph's edges -------------------------------------------------------------------------
    def input(self, name: str, elem_type: int, shape) -> str:
        """A graph input; ``shape`` holds ints and symbolic names (``"T"``, ``"B"``)."""
        self._taken.add(name)
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def output(self, value: str, name: str, elem_type: int, shape) -> None:
        """Expose ``value`` as the graph output ``name`` (through an Identity: a value has one name)."""
        self._taken.add(name)
        self.nodes.append(helper.make_node("Identity", [value], [name], name=f"output_{name}"))
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    def const(self, array, base: str = "const") -> str:
        """An initializer holding ``array`` (floats as float32)."""
        array = np.asarray(array)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs):
        """Append one node; its output name, or a list of ``outputs`` names."""
        names = [self.fresh(f"{op_type.lower()}") for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=self.fresh(f"{op_type}_node"),
                                           **attrs))
        return names[0] if outputs == 1 else names

    def reduce(self, op_type: str, x: str, axis: int, keepdims: int = 0) -> str:
        """``ReduceSum`` / ``ReduceMax`` / ``ReduceMean`` over one axis: the axes are an input from
        opset 13 (ReduceSum) or 18 (the others) on, an attribute before."""
        since = 13 if op_type == "ReduceSum" else 18
        if self.opset >= since:
            return self.op(op_type, x, self.const(np.array([axis], dtype=np.int64), "axes"), keepdims=keepdims)
        return self.op(op_type, x, axes=[axis], keepdims=keepdims)

    def unsqueeze(self, x: str, axis: int) -> str:
        return self.op("Unsqueeze", x, self.const(np.array([axis], dtype=np.int64), "axes"))

    # -- the layers --------------------------------------------------------------------------------
    def linear(self, x: str, layer) -> str:
        """``x W^T + b``: x (..., in) -> (..., out)."""
        y = self.op("MatMul", x, self.const(layer.params["weight"].T, "weight_t"))
        if "bias" in layer.params:
            y = self.op("Add", y, self.const(layer.params["bias"], "bias"))
        return y

    def embedding(self, ids: str, layer) -> str:
        """ids (...) int64 -> (..., E): the table's rows."""
        return self.op("Gather", self.const(layer.params["weight"], "embedding"), ids, axis=0)

    def recurrent(self, x: str, layer, lengths: str | None = None, h0: str | None = None,
                  c0: str | None = None):
        """x (T, B, D) time-major -> y (T, B, dirs*H), h_n (L*dirs, B, H), c_n or None.

        ``lengths`` (B,) int64 becomes every node's ``sequence_lens``; ``h0``, ``c0`` (L*dirs, B, H)
        are cut into each layer's ``initial_h``, ``initial_c``. Dropout between layers is a
        training-time thing and is left out; residual connections are an ``Add``."""
        if layer.cell.name not in gates.OPS:
            raise ValueError(f"cell {layer.cell.name!r} has no ONNX operator; exported cells: {', '.join(gates.OPS)}")
        op, picked = gates.OPS[layer.cell.name]
        H, dirs = layer.hidden_size, layer.num_directions
        seq = "" if lengths is None else self.op("Cast", lengths, to=TensorProto.INT32)
        attrs = {"hidden_size": H, "direction": "bidirectional" if dirs == 2 else "forward"}
        if "activations" in picked:  # RNN: one activation per direction
            attrs["activations"] = [picked["activations"]] * dirs
        if "linear_before_reset" in picked:
            attrs["linear_before_reset"] = picked["linear_before_reset"]
        inp, h_ns, c_ns = x, [], []
        for l in range(layer.num_layers):
            parts = [gates.onnx_direction(op, dict(zip(layer.cell.param_names, layer._weights(layer.params, l, d))), H)
                     for d in range(dirs)]
            W = self.const(np.stack([p["W"] for p in parts]), f"W_l{l}")  # (dirs, G*H, D_in)
            R = self.const(np.stack([p["R"] for p in parts]), f"R_l{l}")  # (dirs, G*H, H)
            B = "" if parts[0]["B"] is None else self.const(np.stack([p["B"] for p in parts]), f"B_l{l}")
            P = "" if parts[0]["P"] is None else self.const(np.stack([p["P"] for p in parts]), f"P_l{l}")
            inputs = [inp, W, R, B, seq, self._layer_state(h0, l, dirs), self._layer_state(c0, l, dirs)]
            if op == "LSTM":
                inputs.append(P)
            while inputs[-1] == "":  # trailing optional inputs are left out, not named ''
                inputs.pop()
            outs = self.op(op, *inputs, outputs=3 if op == "LSTM" else 2, **attrs)
            Y = self.op("Transpose", outs[0], perm=[0, 2, 1, 3])  # (T, dirs, B, H) -> (T, B, dirs, H)
            y = self.op("Reshape", Y, self.const(np.array([0, 0, -1], dtype=np.int64), "shape"))  # (T, B, dirs*H)
            if layer.residual and l > 0:
                y = self.op("Add", y, inp)  # y_l = layer_l(y_{l-1}) + y_{l-1}
            h_ns.append(outs[1])
            if op == "LSTM":
                c_ns.append(outs[2])
            inp = y
        h_n = h_ns[0] if len(h_ns) == 1 else self.op("Concat", *h_ns, axis=0)
        c_n = None if not c_ns else (c_ns[0] if len(c_ns) == 1 else self.op("Concat", *c_ns, axis=0))
        return inp, h_n, c_n

    def _layer_state(self, state: str | None, l: int, dirs: int) -> str:
        """Layer l's rows of a stacked state (L*dirs, B, H) -> (dirs, B, H), or '' without one."""
        if state is None:
            return ""
        cut = [self.const(np.array([v], dtype=np.int64), "index") for v in (l * dirs, (l + 1) * dirs, 0)]
        return self.op("Slice", state, *cut)

    # -- the file ----------------------------------------------------------------------------------
    def model(self, doc: str) -> onnx.ModelProto:
        """The checked model (``onnx.checker`` with shape inference): a wrong type or shape fails here."""
        graph = helper.make_graph(self.nodes, "unrolled", self.inputs, self.outputs, self.initializers)
        opsets = [helper.make_opsetid("", self.opset)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="unrolled",
                                  ir_version=helper.find_min_ir_version_for(opsets))
        model.doc_string = doc
        onnx.checker.check_model(model, full_check=True)
        return model
