"""``unrolled.onnx.load`` on untrusted or unusual files: what would be a silently wrong result,
an unbounded allocation or a read outside the model's folder is a ValueError naming the fix; the
glue whose meaning changed between opsets computes what ONNX Runtime does."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="unrolled.onnx needs the onnx package (pip install -e '.[onnx]')")
pytest.importorskip("onnxruntime", reason="the graphs run in onnxruntime (pip install -e '.[onnx]')")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import unrolled.onnx  # noqa: E402
from unrolled.nn.recurrent import make_layer  # noqa: E402
from unrolled.onnx.to_onnx import to_model  # noqa: E402

from onnx_testing import assert_outputs, run_ort  # noqa: E402

X = np.random.default_rng(0).standard_normal((2, 3, 7)).astype(np.float32)


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
                                                   for o in outputs], list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _x(shape=(2, 3, 7), elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info("x", elem, shape)


@pytest.mark.parametrize("node, opset", [
    (helper.make_node("Split", ["x"], ["a", "b", "c"], axis=2, num_outputs=3), 18),  # 3, 3, 1: not 3, 2, 2
    (helper.make_node("Softmax", ["x"], ["a"]), 11),  # before 13: over the axes from 1 on, as a matrix
    (helper.make_node("LogSoftmax", ["x"], ["a"], axis=1), 11),
    (helper.make_node("Slice", ["x"], ["a"], starts=[1], ends=[3], axes=[2]), 9),  # attributes before 10
], ids=["split-num-outputs", "softmax-11", "logsoftmax-11", "slice-9"])
def test_glue_whose_meaning_changed_with_the_opset_is_onnx_runtimes(node, opset):
    model = _model([node], [_x()], list(node.output), opset=opset)
    assert_outputs(unrolled.onnx.load(model).forward(X), run_ort(model, {"x": X}))


def test_an_empty_or_old_file_is_refused(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ValueError, match="no graph outputs"):
        unrolled.onnx.load(tmp_path / "empty.onnx")
    old = _model([helper.make_node("Clip", ["x"], ["a"], min=0.0, max=1.0)], [_x()], ["a"], opset=6)
    with pytest.raises(ValueError, match="opset 6; unrolled.onnx reads opset 7"):
        unrolled.onnx.load(old)
    with pytest.raises(TypeError, match="path of an ONNX file"):
        unrolled.onnx.load(3)


@pytest.mark.parametrize("nodes, match", [
    ([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["a"])], "defines each value once"),
    ([helper.make_node("Relu", ["x"], ["x"]), helper.make_node("Neg", ["x"], ["a"])], "defines each value once"),
    ([helper.make_node("GatherElements", ["x", "i"], ["a"], axis=2)], r"outside \[-7, 6\]"),  # not wrapped round
    ([helper.make_node("Split", ["x"], ["a", "b", "c"], axis=2)], "does not split evenly"),
    ([helper.make_node("Expand", ["x", "big"], ["a"])], "above the"),  # 4e9 elements: refused, not allocated
    ([helper.make_node("ConstantOfShape", ["big"], ["a"])], "above the"),
    ([helper.make_node("MatMul", ["col", "row"], ["a"])], "above the"),
])
def test_what_onnx_runtime_refuses_is_refused(nodes, match):
    inits = [numpy_helper.from_array(np.full((2, 3, 7), 7, dtype=np.int64), "i"),
             numpy_helper.from_array(np.array([10 ** 4, 10 ** 4, 2, 3, 7], dtype=np.int64), "big"),
             numpy_helper.from_array(np.ones((10 ** 5, 1), np.float32), "col"),
             numpy_helper.from_array(np.ones((1, 10 ** 5), np.float32), "row")]
    with pytest.raises(ValueError, match=match):
        unrolled.onnx.load(_model(nodes, [_x()], [nodes[-1].output[0]], inits)).forward(X)


def test_a_tensor_must_fill_its_dims():
    for dims in ([-1], [10 ** 6, 10 ** 6]):
        t = numpy_helper.from_array(np.zeros(2, np.float32), "w")
        del t.dims[:]
        t.dims.extend(dims)
        with pytest.raises(ValueError, match="tensor 'w'"):
            unrolled.onnx.load(_model([helper.make_node("Add", ["x", "w"], ["a"])], [_x([2])], ["a"], [t]))


def _external(tmp_path, location, **extra):
    (tmp_path / "w.bin").write_bytes(np.arange(2, dtype=np.float32).tobytes())
    t = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2], data_location=TensorProto.EXTERNAL)
    for key, value in {"location": location, **extra}.items():
        t.external_data.add(key=key, value=value)
    model = _model([helper.make_node("Add", ["x", "w"], ["a"])], [_x([2])], ["a"], [t])
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    return tmp_path / "m.onnx"


@pytest.mark.parametrize("location, extra, match", [
    ("w.bin\0x", {}, "plain name"),
    ("w.bin", {"length": "99999999999999"}, "takes 8 bytes but its external data claims"),  # never read
    ("w.bin", {"offset": "-5"}, "not a byte count"),
    ("w.bin", {"offset": "x"}, "not a byte count"),
    ("w.bin", {"offset": "4"}, "holds 4 of the 8 bytes"),
])
def test_external_data_reads_exactly_the_tensors_bytes(tmp_path, location, extra, match):
    with pytest.raises(ValueError, match=match):
        unrolled.onnx.load(_external(tmp_path, location, **extra))
    assert np.array_equal(unrolled.onnx.load(_external(tmp_path, "w.bin", length="8")).forward(np.zeros(2))[0],
                          [0, 1])


def test_the_inputs_are_checked_against_the_graph():
    """A float where the graph takes ids is not truncated, a complex value not cut to its real part,
    and the rank and the fixed dims the graph declares are checked."""
    from unrolled.tasks.lm.network import RecurrentLM

    graph = unrolled.onnx.load(to_model(RecurrentLM("gru", 11, 8, 6, num_layers=2, seed=0), state=True))
    ids, h0 = np.zeros((4, 3), np.int64), np.zeros((2, 3, 6), np.float32)
    graph.forward(ids.astype(np.float64), h0)  # whole numbers: fine
    for args, match in (((ids + 0.5, h0), "not whole numbers"), ((ids, h0 + 1j), "complex"),
                        ((ids, h0[:1]), r"the graph takes \(2, \?, 6\)"), ((ids[..., None], h0), "the graph takes")):
        with pytest.raises(ValueError, match=match):
            graph.forward(*args)


def test_a_layout_other_than_0_or_1_is_refused():
    model = to_model(make_layer("gru", 3, 4, seed=0))
    for node in model.graph.node:
        if node.op_type == "GRU":
            node.attribute.append(helper.make_attribute("layout", 2))
    with pytest.raises(ValueError, match="layout=2"):
        unrolled.onnx.load(model)
