"""The glue around recurrent nodes, in NumPy: what ``torch.onnx.export`` (both exporters) and
``unrolled.onnx.export`` write around ``RNN`` / ``LSTM`` / ``GRU`` nodes, each op as the ONNX
standard defines it.

``GLUE[op_type](attrs, *inputs) -> tuple of outputs``; ``attrs`` is the node's attributes as
Python values, an absent optional input is None. Where an opset moved an argument from an
attribute to an input (``axes`` of Squeeze / Unsqueeze / Reduce*, ``split``), both are read.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def tensor_array(t) -> np.ndarray:
    """A TensorProto's values; one kept in an external file is refused (reading it would open a
    path the untrusted model names)."""
    if t.data_location == TensorProto.EXTERNAL:
        raise ValueError(f"tensor {t.name!r} keeps its data in an external file; save the model with its "
                         "tensors inside (onnx.save_model(model, path, save_as_external_data=False))")
    return numpy_helper.to_array(t)


def _axes(attrs, given, rank):
    """The ``axes`` of a node, from its input (newer opsets) or its attribute, made non-negative."""
    axes = given if given is not None else attrs.get("axes")
    if axes is None:
        return None
    return tuple(sorted(int(a) % rank for a in np.asarray(axes).reshape(-1)))


def _constant(attrs):
    if "value" in attrs:
        return tensor_array(attrs["value"])
    if "value_float" in attrs:
        return np.array(attrs["value_float"], dtype=np.float32)
    if "value_floats" in attrs:
        return np.array(attrs["value_floats"], dtype=np.float32)
    if "value_int" in attrs:
        return np.array(attrs["value_int"], dtype=np.int64)
    if "value_ints" in attrs:
        return np.array(attrs["value_ints"], dtype=np.int64)
    raise ValueError(f"Constant with attributes {sorted(attrs)}: unrolled.onnx reads value, value_float(s) and "
                     "value_int(s)")


def _unsqueeze(attrs, x, axes=None):
    out_rank = x.ndim + len(np.asarray(axes if axes is not None else attrs["axes"]).reshape(-1))
    for a in _axes(attrs, axes, out_rank):
        x = np.expand_dims(x, a)
    return x


def _squeeze(attrs, x, axes=None):
    axes = _axes(attrs, axes, x.ndim)
    return np.squeeze(x) if axes is None else np.squeeze(x, axis=axes)


def _slice(attrs, x, starts, ends, axes=None, steps=None):
    """ONNX's clamping: negative starts and ends count from the end; a negative step walks back."""
    axes = range(len(starts)) if axes is None else [int(a) % x.ndim for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    cut = [slice(None)] * x.ndim
    for a, s, e, k in zip(axes, starts, ends, steps):
        n, s, e, k = x.shape[a], int(s), int(e), int(k)
        s, e = (s + n if s < 0 else s), (e + n if e < 0 else e)
        if k > 0:
            s, e = min(max(s, 0), n), min(max(e, 0), n)
        else:
            s, e = min(max(s, 0), n - 1), min(max(e, -1), n - 1)
        cut[a] = slice(s, None if e < 0 else e, k)
    return x[tuple(cut)]


def _reshape(attrs, x, shape):
    shape = [int(v) for v in shape]
    if not attrs.get("allowzero", 0):
        shape = [x.shape[k] if v == 0 else v for k, v in enumerate(shape)]  # 0 copies the input's dim
    return x.reshape(shape)


def _gemm(attrs, A, B, C=None):
    A = A.T if attrs.get("transA", 0) else A
    B = B.T if attrs.get("transB", 0) else B
    y = attrs.get("alpha", 1.0) * (A @ B)
    return y if C is None else y + attrs.get("beta", 1.0) * C


def _gather_nd(attrs, data, indices):
    """``batch_dims`` leading axes shared by data and indices; the last axis of indices indexes."""
    b = attrs.get("batch_dims", 0)
    lead = data.shape[:b]
    flat_data = data.reshape((-1,) + data.shape[b:])
    flat_idx = indices.reshape((-1,) + indices.shape[b:])
    out = np.stack([d[tuple(np.moveaxis(i, -1, 0))] for d, i in zip(flat_data, flat_idx)])
    return out.reshape(lead + out.shape[1:])


def _reduce(fn):
    def run(attrs, x, axes=None):
        axes = _axes(attrs, axes, x.ndim)
        if axes is None or len(axes) == 0:
            if attrs.get("noop_with_empty_axes", 0):
                return x
            axes = None
        return fn(x, axis=axes, keepdims=bool(attrs.get("keepdims", 1))).astype(x.dtype)
    return run


def _split(attrs, x, split=None, n_outputs=1):
    axis = attrs.get("axis", 0)
    sizes = split if split is not None else attrs.get("split")
    if sizes is None:
        n = attrs.get("num_outputs", n_outputs)
        return tuple(np.array_split(x, n, axis=axis))
    return tuple(np.split(x, np.cumsum(np.asarray(sizes))[:-1], axis=axis))


def _softmax(log):
    def run(attrs, x):
        axis = attrs.get("axis", -1)
        z = x - x.max(axis=axis, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=axis, keepdims=True))
        return z - lse if log else np.exp(z - lse)
    return run


def _div(attrs, a, b):
    if a.dtype.kind in "iu":
        return (np.trunc(a / b)).astype(a.dtype)  # integer division truncates toward zero
    return a / b


def _cast(attrs, x):
    return x.astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))


def _constant_of_shape(attrs, shape):
    value = tensor_array(attrs["value"]) if "value" in attrs else np.zeros(1, dtype=np.float32)
    return np.full([int(v) for v in shape], value.reshape(-1)[0], dtype=value.dtype)


def _one(fn):
    """An op with one output: wrap its value in a tuple."""
    return lambda attrs, *inputs: (fn(attrs, *inputs),)


_SINGLE = {
    "Identity": lambda a, x: x,
    "Constant": lambda a: _constant(a),
    "Cast": _cast,
    "CastLike": lambda a, x, like: x.astype(like.dtype),
    "Shape": lambda a, x: np.array(x.shape[a.get("start", 0):a.get("end", None)], dtype=np.int64),
    "Size": lambda a, x: np.array(x.size, dtype=np.int64),
    "Gather": lambda a, x, i: np.take(x, i.astype(np.int64), axis=a.get("axis", 0)),
    "GatherND": _gather_nd,
    "GatherElements": lambda a, x, i: np.take_along_axis(x, i.astype(np.int64) % x.shape[a.get("axis", 0)],
                                                          axis=a.get("axis", 0)),
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda a, *xs: np.concatenate(xs, axis=a["axis"]),
    "Slice": _slice,
    "Transpose": lambda a, x: np.transpose(x, a.get("perm")),
    "Reshape": _reshape,
    "Flatten": lambda a, x: x.reshape(int(np.prod(x.shape[:a.get("axis", 1)])), -1),
    "Expand": lambda a, x, shape: np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(int(v) for v in shape))).copy(),
    "Tile": lambda a, x, reps: np.tile(x, [int(r) for r in reps]),
    "ConstantOfShape": _constant_of_shape,
    "Range": lambda a, start, limit, delta: np.arange(start, limit, delta, dtype=start.dtype),
    "Add": lambda a, x, y: x + y,
    "Sub": lambda a, x, y: x - y,
    "Mul": lambda a, x, y: x * y,
    "Div": _div,
    "Pow": lambda a, x, y: np.power(x, y).astype(x.dtype),
    "Neg": lambda a, x: -x,
    "Abs": lambda a, x: np.abs(x),
    "Exp": lambda a, x: np.exp(x),
    "Log": lambda a, x: np.log(x),
    "Sqrt": lambda a, x: np.sqrt(x),
    "Tanh": lambda a, x: np.tanh(x),
    "Sigmoid": lambda a, x: 1.0 / (1.0 + np.exp(-x)),
    "Relu": lambda a, x: np.maximum(x, 0),
    "Softplus": lambda a, x: np.logaddexp(0, x).astype(x.dtype),
    "Softmax": _softmax(log=False),
    "LogSoftmax": _softmax(log=True),
    "Clip": lambda a, x, lo=None, hi=None: np.clip(x, lo, hi),
    "MatMul": lambda a, x, y: np.matmul(x, y),
    "Gemm": _gemm,
    "Equal": lambda a, x, y: np.equal(x, y),
    "Less": lambda a, x, y: np.less(x, y),
    "LessOrEqual": lambda a, x, y: np.less_equal(x, y),
    "Greater": lambda a, x, y: np.greater(x, y),
    "GreaterOrEqual": lambda a, x, y: np.greater_equal(x, y),
    "Not": lambda a, x: np.logical_not(x),
    "And": lambda a, x, y: np.logical_and(x, y),
    "Or": lambda a, x, y: np.logical_or(x, y),
    "Where": lambda a, c, x, y: np.where(c, x, y),
    "Max": lambda a, *xs: np.maximum.reduce(np.broadcast_arrays(*xs)),
    "Min": lambda a, *xs: np.minimum.reduce(np.broadcast_arrays(*xs)),
    "Sum": lambda a, *xs: sum(xs[1:], xs[0]),
    "ReduceSum": _reduce(np.sum),
    "ReduceMean": _reduce(np.mean),
    "ReduceMax": _reduce(np.max),
    "ReduceMin": _reduce(np.min),
}

GLUE = {op: _one(fn) for op, fn in _SINGLE.items()}
GLUE["Split"] = _split  # several outputs: the caller passes n_outputs
GLUE["Dropout"] = lambda a, x, *rest, n_outputs=1: (x, np.ones(x.shape, dtype=bool))[:n_outputs]  # inference: identity
MULTI_OUTPUT = {"Split", "Dropout"}  # ops told how many outputs the node names
