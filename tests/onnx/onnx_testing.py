"""Shared by tests/onnx: run a ModelProto in ONNX Runtime and in ONNX's reference evaluator, and
the inputs and unrolled outputs of every exported network, in the graph's order."""

import numpy as np
import onnx
import onnxruntime as ort
from onnx.reference import ReferenceEvaluator

from unrolled.nn.recurrent import Recurrent

TOL = dict(rtol=1e-5, atol=1e-5)  # float32, the bar


def run_ort(model: onnx.ModelProto, feeds: dict) -> list:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # two cores, shared
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def run_reference(model: onnx.ModelProto, feeds: dict) -> list:
    return ReferenceEvaluator(model).run(None, feeds)


def assert_outputs(got, expected, names=None, tol=TOL):
    assert len(got) == len(expected), (len(got), len(expected))
    for k, (g, e) in enumerate(zip(got, expected)):
        label = names[k] if names else k
        assert np.shape(g) == np.shape(e), f"{label}: shape {np.shape(g)} != {np.shape(e)}"
        np.testing.assert_allclose(g, e, err_msg=f"output {label}", **tol)


def lengths_for(rng, T, B, ragged=True):
    """(B,) int64 lengths in [1, T] with at least one T (the layer's T), or all T."""
    if not ragged:
        return np.full(B, T, dtype=np.int64)
    lengths = rng.integers(1, T + 1, size=B).astype(np.int64)
    lengths[rng.integers(B)] = T
    return lengths


def layer_case(layer: Recurrent, rng, T, B, *, lengths=None, state=False):
    """(feeds, unrolled's outputs) for a recurrent layer's graph."""
    D, H, LD = layer.input_size, layer.hidden_size, layer.num_layers * layer.num_directions
    x = rng.standard_normal((B, T, D) if layer.batch_first else (T, B, D)).astype(np.float32)
    feeds = {"x": x}
    initial = None
    if lengths is not None:
        feeds["lengths"] = lengths
    if state:
        feeds["h0"] = (0.5 * rng.standard_normal((LD, B, H))).astype(np.float32)
        initial = feeds["h0"]
        if layer.cell.has_cell_state:
            feeds["c0"] = (0.5 * rng.standard_normal((LD, B, H))).astype(np.float32)
            initial = (feeds["h0"], feeds["c0"])
    y, s = layer.eval().forward(x, initial, lengths=lengths)
    return feeds, [y, *(s if isinstance(s, tuple) else (s,))]


def network_case(net, rng, T, B, *, ragged=True, state=False):
    """(feeds, unrolled's outputs) for one of the tasks' networks, in the graph's order."""
    net.eval()
    kind = type(net).__name__
    rnn = net.rnn
    if kind == "ManyToOne":
        x = rng.standard_normal((T, B, rnn.input_size)).astype(np.float32)
        return {"x": x}, [net.forward(x)]
    if kind == "RecurrentLM":
        ids = rng.integers(0, net.encoder.num_embeddings, size=(T, B)).astype(np.int64)
        feeds, initial = {"ids": ids}, None
        if state:
            LD, H = rnn.num_layers * rnn.num_directions, rnn.hidden_size
            feeds["h0"] = (0.5 * rng.standard_normal((LD, B, H))).astype(np.float32)
            initial = feeds["h0"]
            if rnn.cell.has_cell_state:
                feeds["c0"] = (0.5 * rng.standard_normal((LD, B, H))).astype(np.float32)
                initial = (feeds["h0"], feeds["c0"])
        logits, s = net.forward(ids, initial)
        return feeds, [logits, *((s if isinstance(s, tuple) else (s,)) if state else ())]
    lengths = lengths_for(rng, T, B, ragged)
    if kind == "ClassifierNetwork":
        if net.encoder is None:
            feeds = {"x": rng.standard_normal((T, B, rnn.input_size)).astype(np.float32)}
        else:
            feeds = {"ids": rng.integers(0, net.encoder.num_embeddings, size=(T, B)).astype(np.int64)}
        feeds["lengths"] = lengths
        return feeds, [net.forward(next(iter(feeds.values())), lengths)]
    if kind == "PointProcessNetwork":
        feeds = {"time_x": rng.standard_normal((T, B, net.time_features)).astype(np.float32)}
        marks = np.zeros((T, B), dtype=np.int64)
        if net.marks is not None:
            marks = rng.integers(0, net.n_marks + 1, size=(T, B)).astype(np.int64)
            feeds["marks"] = marks
        feeds["lengths"] = lengths
        theta, logits = net.forward(feeds["time_x"], marks, lengths)
        return feeds, [theta] + ([] if logits is None else [logits])
    raise AssertionError(kind)
