"""unrolled -> ONNX: every exported graph runs in ONNX Runtime and in ONNX's reference evaluator
and gives unrolled's outputs to 1e-5 in float32, for random layers (hypothesis) and every task's
network.

The reference evaluator reads no ``sequence_lens`` and knows no Relu for RNN (onnx 1.23), so it
checks graphs without ragged lengths and without ReLU cells; ONNX Runtime checks them all.
"""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnx", reason="unrolled.onnx needs the onnx package (pip install -e '.[onnx]')")
pytest.importorskip("onnxruntime", reason="the exported graphs run in onnxruntime (pip install -e '.[onnx]')")

from hypothesis import given, settings, strategies as st  # noqa: E402

import unrolled.onnx  # noqa: E402
from unrolled.nn.recurrent import make_layer, Recurrent  # noqa: E402
from unrolled.nn.cells import Cell  # noqa: E402
from unrolled.nn.layers import Linear  # noqa: E402
from unrolled.onnx.gates import OPS  # noqa: E402
from unrolled.onnx.to_onnx import to_model  # noqa: E402
from unrolled.tasks.classify.network import POOLINGS, ClassifierNetwork  # noqa: E402
from unrolled.tasks.forecast.network import ManyToOne  # noqa: E402
from unrolled.tasks.lm.network import RecurrentLM  # noqa: E402
from unrolled.tasks.tpp.network import PointProcessNetwork  # noqa: E402

from onnx_testing import assert_outputs, lengths_for, layer_case, network_case, run_ort, run_reference  # noqa: E402

CELLS = tuple(OPS)  # every cell with an ONNX operator: rnn_tanh, rnn_relu, lstm, lstm_peephole, gru, gru_reset_before


@settings(max_examples=40, deadline=None)
@given(cell=st.sampled_from(CELLS), T=st.integers(1, 6), B=st.integers(1, 4), D=st.integers(1, 4),
       H=st.integers(1, 5), num_layers=st.integers(1, 3), bidirectional=st.booleans(), batch_first=st.booleans(),
       bias=st.booleans(), residual=st.booleans(), use_lengths=st.booleans(), ragged=st.booleans(),
       state=st.booleans(), opset=st.sampled_from([14, 17, 18, 21]), seed=st.integers(0, 2**16))
def test_a_recurrent_layer_runs_the_same_in_onnx_runtime_and_the_reference(
        cell, T, B, D, H, num_layers, bidirectional, batch_first, bias, residual, use_lengths, ragged, state, opset,
        seed):
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, D, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                       bias=bias, residual=residual, seed=seed)
    lengths = lengths_for(rng, T, B, ragged) if use_lengths else None
    feeds, expected = layer_case(layer, rng, T, B, lengths=lengths, state=state)
    model = to_model(layer, opset=opset, lengths=use_lengths, state=state)
    names = [o.name for o in model.graph.output]
    assert names == ["y", "h_n"] + (["c_n"] if layer.cell.has_cell_state else [])
    assert_outputs(run_ort(model, feeds), expected, names)
    if (lengths is None or np.all(lengths == T)) and cell != "rnn_relu":
        assert_outputs(run_reference(model, feeds), expected, names)


def test_the_graph_holds_one_recurrent_node_per_layer_in_onnx_gate_order():
    """Layer 0's W is unrolled's weight_ih_l0 with its gate blocks i, f, g, o moved to i, o, f, c."""
    import onnx.numpy_helper as nh

    layer = make_layer("lstm", 2, 3, num_layers=2, bidirectional=True, seed=0)
    model = to_model(layer)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("LSTM") == 2 and "Loop" not in ops
    node = next(n for n in model.graph.node if n.op_type == "LSTM")
    W = nh.to_array(next(t for t in model.graph.initializer if t.name == node.input[1]))
    assert W.shape == (2, 12, 2)
    i, f, g, o = np.split(layer.params["weight_ih_l0_reverse"], 4)
    np.testing.assert_array_equal(W[1], np.concatenate([i, o, f, g]))
    direction = next(a for a in node.attribute if a.name == "direction")
    assert direction.s == b"bidirectional"


# -- every task's network -------------------------------------------------------------------------
def _networks():
    yield "forecast lstm", ManyToOne("lstm", 4, 5, 3, num_layers=2, seed=1), {}
    yield "forecast gru", ManyToOne("gru", 2, 3, 2, seed=2), {}
    yield "lm lstm", RecurrentLM("lstm", 11, 4, 5, num_layers=2, seed=3), {}
    yield "lm lstm state", RecurrentLM("lstm", 11, 4, 5, num_layers=2, seed=3), {"state": True}
    yield "lm rnn state", RecurrentLM("rnn", 7, 3, 4, seed=4), {"state": True}
    for pooling in POOLINGS:
        yield (f"classify {pooling} bi",
               ClassifierNetwork("lstm", 13, 4, 5, 3, num_layers=2, pooling=pooling, seed=5), {})
        yield f"classify {pooling} numbers", ClassifierNetwork("gru", None, 3, 4, 2, bidirectional=False,
                                                               pooling=pooling, seed=6), {}
    yield "tpp rmtpp marks clock", PointProcessNetwork("rmtpp", "gru", 3, 2, 4, time_features=2, seed=7), {}
    yield "tpp lognormmix", PointProcessNetwork("lognormmix", "lstm", 0, 2, 4, n_components=3, seed=8), {}
    yield "tpp one mark", PointProcessNetwork("lognormmix", "rnn", 1, 2, 3, num_layers=2, seed=9), {}


NETWORKS = list(_networks())


@pytest.mark.parametrize("opset", [14, 18])
@pytest.mark.parametrize("name,net,options", NETWORKS, ids=[n for n, _, _ in NETWORKS])
def test_every_task_network_runs_the_same_in_onnx_runtime(name, net, options, opset):
    rng = np.random.default_rng(len(name))
    model = to_model(net, opset=opset, **options)
    for ragged in (True, False):
        feeds, expected = network_case(net, rng, 6, 4, ragged=ragged, **options)
        assert [i.name for i in model.graph.input] == list(feeds)
        assert_outputs(run_ort(model, feeds), expected)
        if not ragged:  # the reference evaluator reads no sequence_lens
            assert_outputs(run_reference(model, feeds), expected)


def test_a_fitted_estimator_exports_its_network(tmp_path):
    from unrolled.tasks.registry import estimator

    cls = estimator("forecast")
    params, data = cls.contract_example()
    fitted = cls(**params).fit_example(data)
    path = unrolled.onnx.export(fitted, tmp_path / "forecaster.onnx")
    feeds, expected = network_case(fitted.model_, np.random.default_rng(0), fitted.lookback, 3)
    import onnx

    assert_outputs(run_ort(onnx.load(str(path)), feeds), expected)
    with pytest.raises(ValueError, match="fit"):
        unrolled.onnx.export(cls(**params), tmp_path / "unfitted.onnx")


# -- what cannot be exported, said clearly ------------------------------------------------------------
def test_errors_name_what_is_supported(tmp_path):
    with pytest.raises(ValueError, match="exports RNN / LSTM / GRU layers"):
        to_model(Linear(2, 3))
    with pytest.raises(ValueError, match="opset=13 is not supported; use an ONNX opset from 14"):
        to_model(make_layer("gru", 2, 3), opset=13)
    with pytest.raises(ValueError, match="state=True does not apply to a ManyToOne: state .* applies to a recurrent"):
        to_model(ManyToOne("lstm", 2, 3, 1), state=True)
    with pytest.raises(ValueError, match="lengths=True does not apply to a RecurrentLM"):
        to_model(RecurrentLM("gru", 5, 2, 3), lengths=True)
    net = ClassifierNetwork("lstm", 5, 2, 3, 2)
    net.pooling = "attention"
    with pytest.raises(ValueError, match="exported poolings: last, mean, max"):
        to_model(net)
    assert not (tmp_path / "x.onnx").exists()


class _Untranslatable(Cell):
    name, family, G = "onnx_test_cell", "onnx_test_cell", 1


def test_a_cell_without_an_onnx_operator_is_refused():
    layer = Recurrent(_Untranslatable(), 2, 3)
    with pytest.raises(ValueError, match="cell 'onnx_test_cell' has no ONNX operator; exported cells: rnn_tanh"):
        to_model(layer)


def test_import_unrolled_does_not_import_onnx():
    code = ("import sys, unrolled, unrolled.onnx, unrolled.cli; unrolled.cli.build_parser(); "
            "assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
