"""ONNX -> unrolled: what ``torch.onnx.export`` writes for ``torch.nn.LSTM`` / ``GRU`` / ``RNN``
(both exporters) loads into unrolled layers with torch's outputs and torch's own state dict;
unrolled -> ONNX -> unrolled gives the same outputs; what cannot be converted is named."""

import contextlib
import importlib.util
import io
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="unrolled.onnx needs the onnx package (pip install -e '.[onnx]')")
pytest.importorskip("onnxruntime", reason="the exported graphs run in onnxruntime (pip install -e '.[onnx]')")

from hypothesis import given, settings, strategies as st  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import unrolled.onnx  # noqa: E402
from unrolled.nn.recurrent import make_layer  # noqa: E402
from unrolled.onnx.gates import OPS  # noqa: E402
from unrolled.onnx.to_onnx import to_model  # noqa: E402

from onnx_testing import (TOL, assert_outputs, lengths_for, layer_case, network_case, run_ort,  # noqa: E402
                          run_reference)
from test_onnx_export import NETWORKS  # noqa: E402

HAS_ONNXSCRIPT = importlib.util.find_spec("onnxscript") is not None  # torch's dynamo exporter writes through it


# -- torch -> ONNX -> unrolled ----------------------------------------------------------------------
def _torch_case(kind, options, with_state, dynamo, tmp_path):
    """Export a torch model holding ``torch.nn.<kind>(**options)``; -> (path, inputs, torch's outputs, module)."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(3, 4, **options)

        def forward(self, x, *state):
            y, s = self.rnn(x, *state)
            return (y, *s) if isinstance(s, tuple) else (y, s)

    torch.manual_seed(sum(map(ord, kind)) + len(options))
    net = Net().eval()
    L = options.get("num_layers", 1) * (2 if options.get("bidirectional") else 1)
    x = torch.randn((2, 5, 3) if options.get("batch_first") else (5, 2, 3))
    state = ()
    if with_state:
        h = torch.randn(L, 2, 4)
        state = ((h, torch.randn(L, 2, 4)),) if kind == "LSTM" else (h,)
    path = tmp_path / f"{kind}.onnx"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x, *state), str(path), dynamo=dynamo, opset_version=18 if dynamo else 17)
    with torch.no_grad():
        expected = [t.numpy() for t in net(x, *state)]
    flat_state = [t.numpy() for s in state for t in (s if isinstance(s, tuple) else (s,))]
    return path, [x.numpy(), *flat_state], expected, net


TORCH_CONFIGS = [
    ("LSTM", dict(num_layers=2, bidirectional=True)), ("LSTM", dict(batch_first=True)), ("LSTM", dict(bias=False)),
    ("GRU", dict(num_layers=2, bidirectional=True)), ("GRU", dict(batch_first=True, bias=False)),
    ("RNN", dict(num_layers=2, bidirectional=True)), ("RNN", dict(nonlinearity="relu", batch_first=True)),
]


@pytest.mark.parametrize("with_state", [False, True], ids=["zeros", "state"])
@pytest.mark.parametrize("kind,options", TORCH_CONFIGS, ids=[f"{k}-{'-'.join(o)}" for k, o in TORCH_CONFIGS])
def test_torch_onnx_export_loads_with_torchs_outputs_and_weights(kind, options, with_state, tmp_path):
    path, inputs, expected, net = _torch_case(kind, options, with_state, False, tmp_path)
    graph = unrolled.onnx.load(path)
    assert_outputs(graph.forward(*inputs), expected)
    # one unrolled layer per torch layer, holding torch's parameters under torch's names
    layers = graph.recurrent_layers()
    assert len(layers) == options.get("num_layers", 1)
    torch_state = {k: v.numpy() for k, v in net.rnn.state_dict().items()}
    for l, layer in enumerate(layers):
        assert layer.cell.family == kind.lower()
        for key, value in layer.state_dict().items():
            np.testing.assert_array_equal(value, torch_state[key.replace("_l0", f"_l{l}")])


@pytest.mark.skipif(not HAS_ONNXSCRIPT,
                    reason="torch.onnx.export(dynamo=True) needs onnxscript (pip install onnxscript==0.7.2)")
@pytest.mark.parametrize("kind,options", TORCH_CONFIGS[::2],
                         ids=[f"{k}-{'-'.join(o)}" for k, o in TORCH_CONFIGS[::2]])
def test_torch_dynamo_export_loads_with_torchs_outputs(kind, options, tmp_path):
    """The dynamo exporter writes LSTM / GRU nodes, and unrolls an RNN into MatMul / Tanh glue."""
    path, inputs, expected, _ = _torch_case(kind, options, True, True, tmp_path)
    graph = unrolled.onnx.load(path)
    assert_outputs(graph.forward(*inputs), expected)
    if kind != "RNN":
        assert len(graph.recurrent_layers()) == options.get("num_layers", 1)


# -- unrolled -> ONNX -> unrolled -------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(cell=st.sampled_from(tuple(OPS)), T=st.integers(1, 5), B=st.integers(1, 3), num_layers=st.integers(1, 2),
       bidirectional=st.booleans(), batch_first=st.booleans(), use_lengths=st.booleans(), state=st.booleans(),
       seed=st.integers(0, 2**16))
def test_a_layer_comes_back_from_its_onnx_file(cell, T, B, num_layers, bidirectional, batch_first, use_lengths,
                                               state, seed):
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, 3, 4, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                       seed=seed)
    lengths = lengths_for(rng, T, B) if use_lengths else None
    feeds, expected = layer_case(layer, rng, T, B, lengths=lengths, state=state)
    graph = unrolled.onnx.load(to_model(layer, lengths=use_lengths, state=state))
    assert_outputs(graph.forward(**feeds), expected)
    assert graph.input_names == list(feeds)
    for l, back in enumerate(graph.recurrent_layers()):  # the same cell and weights, layer by layer
        assert back.cell is layer.cell
        for key, value in back.state_dict().items():
            np.testing.assert_allclose(value, layer.params[key.replace("_l0", f"_l{l}")], rtol=0, atol=0)


@pytest.mark.parametrize("name,net,options", NETWORKS, ids=[n for n, _, _ in NETWORKS])
def test_a_task_network_comes_back_from_its_onnx_file(name, net, options):
    feeds, expected = network_case(net, np.random.default_rng(1), 5, 3, **options)
    assert_outputs(unrolled.onnx.load(to_model(net, **options)).forward(**feeds), expected)


# -- the glue against ONNX's reference evaluator -------------------------------------------------------
def _one_node_model(node, inputs, opset=18, out_type=TensorProto.UNDEFINED):
    graph = helper.make_graph([node], "glue", [helper.make_tensor_value_info(n, t, None) for n, t in inputs],
                              [helper.make_tensor_value_info(n, out_type, None) for n in node.output])
    opsets = [helper.make_opsetid("", opset)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), data=st.data())
def test_slice_follows_onnx_clamping(shape, data):
    """Against ONNX Runtime, which clamps as the standard says (the reference evaluator slices as
    NumPy does, which differs for a start before the first element with a negative step)."""
    axis = data.draw(st.integers(0, len(shape) - 1))
    start, end = data.draw(st.integers(-8, 8)), data.draw(st.integers(-8, 8))
    step = data.draw(st.sampled_from([-3, -2, -1, 1, 2, 3]))
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    feeds = {"x": x, **{k: np.array([v], dtype=np.int64) for k, v in
                        (("starts", start), ("ends", end), ("axes", axis), ("steps", step))}}
    node = helper.make_node("Slice", list(feeds), ["y"])
    model = _one_node_model(node, [("x", TensorProto.FLOAT)] + [(k, TensorProto.INT64) for k in list(feeds)[1:]],
                            out_type=TensorProto.FLOAT)
    np.testing.assert_array_equal(unrolled.onnx.load(model).forward(**feeds)[0], run_ort(model, feeds)[0])


@pytest.mark.parametrize("op,attrs,inputs", [
    ("GatherND", {"batch_dims": 1}, [np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.array([[2], [0]])]),
    ("Reshape", {}, [np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.array([0, -1])]),
    ("Gemm", {"transB": 1, "alpha": 0.5}, [np.ones((2, 3), np.float32), np.ones((4, 3), np.float32),
                                          np.arange(4, dtype=np.float32)]),
    ("Squeeze", {}, [np.ones((1, 3, 1), np.float32), np.array([0])]),
    ("Split", {"axis": 1}, [np.arange(12, dtype=np.float32).reshape(2, 6), np.array([2, 4])]),
    ("ReduceMax", {"keepdims": 0}, [np.arange(12, dtype=np.float32).reshape(3, 4), np.array([0])]),
    ("Div", {}, [np.array([-7, 7], dtype=np.int64), np.array([2, 2], dtype=np.int64)]),
])
def test_glue_ops_agree_with_the_reference(op, attrs, inputs):
    names = [f"in{k}" for k in range(len(inputs))]
    node = helper.make_node(op, names, ["out0", "out1"] if op == "Split" else ["out0"], **attrs)
    types = [helper.np_dtype_to_tensor_dtype(a.dtype) for a in inputs]
    model = _one_node_model(node, list(zip(names, types)))
    feeds = dict(zip(names, inputs))
    for got, want in zip(unrolled.onnx.load(model).forward(**feeds), run_reference(model, feeds)):
        np.testing.assert_array_equal(got, want)


# -- what cannot be converted is named --------------------------------------------------------------------
def _lstm_node_model(**attrs):
    H, D = 2, 3
    rng = np.random.default_rng(0)
    W = numpy_helper.from_array(rng.standard_normal((1, 4 * H, D)).astype(np.float32), "W")
    R = numpy_helper.from_array(rng.standard_normal((1, 4 * H, H)).astype(np.float32), "R")
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="my_lstm", hidden_size=H, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 1, D])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [W, R])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("attrs,message", [
    ({"clip": 1.0}, "attribute clip"),
    ({"input_forget": 1}, "input_forget=1"),
    ({"activations": ["Sigmoid", "Relu", "Tanh"]}, "activations \\['sigmoid', 'relu', 'tanh'\\]"),
])
def test_an_unconvertible_recurrent_node_is_named(attrs, message):
    with pytest.raises(ValueError, match=f"node 'my_lstm' \\(op LSTM\\): {message}"):
        unrolled.onnx.load(_lstm_node_model(**attrs))


def test_unsupported_operators_are_named_every_one(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="conv1"),
             helper.make_node("Erf", ["a"], ["b"], name="erf1"),
             helper.make_node("Relu", ["b"], ["y"], name="fine")]
    w = helper.make_tensor("w", TensorProto.FLOAT, (1, 1, 1, 1), [1.0])
    graph = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    with pytest.raises(ValueError) as info:
        unrolled.onnx.load(helper.make_model(graph))
    message = str(info.value)
    assert "node 'conv1' (op Conv): operator not supported" in message
    assert "node 'erf1' (op Erf)" in message and "'fine'" not in message and "LSTM" in message


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no such ONNX file"):
        unrolled.onnx.load(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00not a model\xff" * 3)
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        unrolled.onnx.load(tmp_path / "junk.onnx")


def test_external_tensors_are_read_only_from_beside_the_model(tmp_path):
    """torch's dynamo exporter keeps large tensors in a file beside the model: read by its plain name."""
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 1, 3)
    expected = run_reference(_lstm_node_model(), {"X": x})
    onnx.save_model(_lstm_node_model(), tmp_path / "m.onnx", save_as_external_data=True, location="m.data",
                    size_threshold=0)
    assert (tmp_path / "m.data").is_file()
    assert_outputs(unrolled.onnx.load(tmp_path / "m.onnx").forward(x), expected)
    model = onnx.load(str(tmp_path / "m.onnx"), load_external_data=False)
    for t in model.graph.initializer:
        t.external_data[0].value = "../secret.bin"
    onnx.save_model(model, tmp_path / "evil.onnx")
    with pytest.raises(ValueError, match="names the external file '../secret.bin'; only a file beside the model"):
        unrolled.onnx.load(tmp_path / "evil.onnx")
    with pytest.raises(ValueError, match="keeps its data in an external file"):
        unrolled.onnx.load(model)  # a ModelProto has no folder to read from


def test_inputs_are_checked_by_name():
    graph = unrolled.onnx.load(_lstm_node_model())
    x = np.ones((4, 1, 3), np.float32)
    assert graph.forward(x)[0].shape == (4, 1, 1, 2)
    np.testing.assert_allclose(graph.forward(X=x)[0], run_reference(_lstm_node_model(), {"X": x})[0], **TOL)
    with pytest.raises(ValueError, match="missing \\['X'\\]"):
        graph.forward()
    with pytest.raises(ValueError, match="unknown \\['x'\\]"):
        graph.forward(x=x)


def test_weights_that_do_not_fit_the_node_are_named():
    with pytest.raises(ValueError, match=r"node 'my_lstm' \(op LSTM\): W \(1, 8, 3\) and R \(1, 8, 2\) are not "
                                         r"\(dirs=2"):
        unrolled.onnx.load(_lstm_node_model(direction="bidirectional"))


def test_a_graph_out_of_order_is_refused():
    model = _lstm_node_model()
    model.graph.node.insert(0, helper.make_node("Relu", ["later"], ["y2"], name="early"))
    model.graph.node.append(helper.make_node("Relu", ["Y"], ["later"], name="late"))
    with pytest.raises(ValueError, match=r"node 'early' \(op Relu\) reads \['later'\], which no input"):
        unrolled.onnx.load(model)
