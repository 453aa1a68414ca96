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

# the most elements one value may have: an untrusted graph's few bytes (a ConstantOfShape, an
# Expand, a broadcast) could otherwise ask for any amount of memory; 2^30 float32 are 4 GiB
MAX_ELEMENTS = 1 << 30


def tensor_array(t) -> np.ndarray:
    """A TensorProto's values; one kept in an external file is refused (reading it would open a
    path the untrusted model names), as are dims that do not match its data."""
    if t.data_location == TensorProto.EXTERNAL:
        raise ValueError(f"tensor {t.name!r} keeps its data in an external file; save the model with its "
                         "tensors inside (onnx.save_model(model, path, save_as_external_data=False))")
    if any(d < 0 for d in t.dims):
        raise ValueError(f"tensor {t.name!r} has negative dims {list(t.dims)}; the model is damaged")
    try:
        return numpy_helper.to_array(t)
    except (ValueError, TypeError, KeyError) as e:  # dims that its data does not fill, an unknown type
        raise ValueError(f"tensor {t.name!r} (dims {list(t.dims)}) cannot be read: {e}; the model is damaged") from None


def check_size(shape, op: str) -> None:
    """ValueError when a value of ``shape`` would hold more than ``MAX_ELEMENTS``, before it is made."""
    n = 1
    for d in shape:
        n *= max(int(d), 0)
    if n > MAX_ELEMENTS:
        raise ValueError(f"{op} would make a tensor of shape {tuple(int(d) for d in shape)} ({n:.3g} elements), above "
                         f"the {MAX_ELEMENTS:.3g} unrolled.onnx computes; the graph or its inputs ask for too much")


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


def _slice(attrs, x, starts=None, ends=None, axes=None, steps=None):
    """ONNX's clamping: negative starts and ends count from the end; a negative step walks back.
    Before opset 10 starts, ends and axes are attributes."""
    if starts is None:
        starts, ends, axes = attrs["starts"], attrs["ends"], attrs.get("axes")
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


def _reshape(attrs, x, shape=None):
    shape = [int(v) for v in (attrs["shape"] if shape is None else shape)]  # an attribute before opset 5
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
    """Sizes given, or ``num_outputs`` parts of ceil(n / parts) with a smaller last one (opset 18),
    or equal parts, one per output (before: an uneven split is an error)."""
    axis = attrs.get("axis", 0)
    n = x.shape[axis]
    sizes = split if split is not None else attrs.get("split")
    if sizes is None:
        parts = int(attrs.get("num_outputs", n_outputs))
        if parts < 1:
            raise ValueError(f"num_outputs={parts}")
        if "num_outputs" in attrs:
            step = -(-n // parts)
            sizes = [min(step, max(n - k * step, 0)) for k in range(parts)]
        elif n % parts:
            raise ValueError(f"axis {axis} of {n} does not split evenly into {parts} outputs")
        else:
            sizes = [n // parts] * parts
    sizes = [int(v) for v in np.asarray(sizes).reshape(-1)]
    if any(v < 0 for v in sizes) or sum(sizes) != n:
        raise ValueError(f"split sizes {sizes} do not add up to axis {axis}'s {n}")
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def _gather_elements(attrs, x, i):
    axis = attrs.get("axis", 0)
    n = x.shape[axis]
    i = i.astype(np.int64)
    if i.size and (i.min() < -n or i.max() >= n):
        raise ValueError(f"indices in [{i.min()}, {i.max()}] outside [-{n}, {n - 1}] along axis {axis}")
    return np.take_along_axis(x, np.where(i < 0, i + n, i), axis=axis)


def _softmax(log, flatten=False):
    """Over ``axis`` (opset 13 on); before opset 13 (``flatten``) over all the axes from ``axis``
    (default 1) on, the input seen as a matrix."""
    def run(attrs, x):
        axis = attrs.get("axis", 1 if flatten else -1)
        shape = x.shape
        if flatten:
            a = axis % x.ndim if x.ndim else 0
            x, axis = x.reshape(int(np.prod(shape[:a])), -1), 1
        z = x - x.max(axis=axis, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=axis, keepdims=True))
        return (z - lse if log else np.exp(z - lse)).reshape(shape)
    return run


def _div(attrs, a, b):
    if a.dtype.kind in "iu":
        if np.any(np.asarray(b) == 0):
            raise ValueError("integer division by zero")
        return (np.trunc(a / b)).astype(a.dtype)  # integer division truncates toward zero
    return a / b


def _cast(attrs, x):
    return x.astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))


def _constant_of_shape(attrs, shape):
    value = tensor_array(attrs["value"]) if "value" in attrs else np.zeros(1, dtype=np.float32)
    shape = [int(v) for v in shape]
    check_size(shape, "ConstantOfShape")
    return np.full(shape, value.reshape(-1)[0], dtype=value.dtype)


def _expand(attrs, x, shape):
    out = np.broadcast_shapes(x.shape, tuple(int(v) for v in shape))
    check_size(out, "Expand")
    return np.broadcast_to(x, out).copy()


def _tile(attrs, x, reps):
    reps = [int(r) for r in reps]
    check_size([d * r for d, r in zip(x.shape, reps)], "Tile")
    return np.tile(x, reps)


def _range(attrs, start, limit, delta):
    if delta == 0:
        raise ValueError("delta is 0")
    check_size([np.ceil((limit - start) / delta)], "Range")
    return np.arange(start, limit, delta, dtype=start.dtype)


def _clip(attrs, x, lo=None, hi=None):
    """Bounds as inputs (opset 11 on) or the attributes min, max (before)."""
    lo = attrs.get("min") if lo is None else lo
    hi = attrs.get("max") if hi is None else hi
    if lo is None and hi is None:
        return x
    return np.clip(x, lo, hi).astype(x.dtype)


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
    "GatherElements": _gather_elements,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda a, *xs: np.concatenate(xs, axis=a["axis"]),
    "Slice": _slice,
    "Transpose": lambda a, x: np.transpose(x, a.get("perm")),
    "Reshape": _reshape,
    "Flatten": lambda a, x: x.reshape(int(np.prod(x.shape[:a.get("axis", 1)])), -1),
    "Expand": _expand,
    "Tile": _tile,
    "ConstantOfShape": _constant_of_shape,
    "Range": _range,
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
    "Clip": _clip,
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

# ops whose result can be far larger than their inputs: the shape it will have, checked first
_BROADCAST = ("Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual",
              "And", "Or", "Where", "Max", "Min", "Sum")


def _matmul_shape(a, b):
    if a.ndim == 0 or b.ndim == 0:
        return np.broadcast_shapes(a.shape, b.shape)
    lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return lead + (a.shape[-2] if a.ndim > 1 else 1, b.shape[-1] if b.ndim > 1 else 1)


def result_shape(op: str, attrs, values):
    """The shape the node's output will have where it may grow past its inputs (None elsewhere)."""
    arrays = [np.asarray(v) for v in values if v is not None]
    if op in _BROADCAST and arrays:
        return np.broadcast_shapes(*(a.shape for a in arrays))
    if op == "MatMul" and len(arrays) == 2:
        return _matmul_shape(*arrays)
    if op == "Gemm" and len(arrays) >= 2:
        a, b = arrays[0], arrays[1]
        return (a.shape[-1 if attrs.get("transA", 0) else 0], b.shape[0 if attrs.get("transB", 0) else -1])
    if op == "Gather" and len(arrays) == 2:
        x, i = arrays
        axis = attrs.get("axis", 0) % max(x.ndim, 1)
        return x.shape[:axis] + i.shape + x.shape[axis + 1:]
    if op == "GatherND" and len(arrays) == 2 and arrays[1].ndim:
        x, i = arrays
        return i.shape[:-1] + x.shape[attrs.get("batch_dims", 0) + i.shape[-1]:]
    return None


GLUE = {op: _one(fn) for op, fn in _SINGLE.items()}
OLD_SOFTMAX = {"Softmax": _one(_softmax(log=False, flatten=True)),  # opsets before 13
               "LogSoftmax": _one(_softmax(log=True, flatten=True))}
GLUE["Split"] = _split  # several outputs: the caller passes n_outputs
GLUE["Dropout"] = lambda a, x, *rest, n_outputs=1: (x, np.ones(x.shape, dtype=bool))[:n_outputs]  # inference: identity
MULTI_OUTPUT = {"Split", "Dropout"}  # ops told how many outputs the node names
