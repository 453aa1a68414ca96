"""ONNX's own backend test cases for the recurrent operators, through ``unrolled.onnx.load``: the 18
that ``onnx.backend.test.case.node.collect_testcases()`` yields for RNN, LSTM and GRU (defaults,
initial bias, seq_length, batchwise layout, reverse, bidirectional, LSTM peepholes), each compared
with its expected outputs at the case's own tolerances. The GRU cases use ONNX's default
``linear_before_reset=0`` (the ``gru_reset_before`` cell), the peephole case the ``lstm_peephole``
cell; weights are graph inputs there, loaded into the layers on every run."""

import warnings

import numpy as np
import pytest

pytest.importorskip("onnx", reason="unrolled.onnx needs the onnx package (pip install -e '.[onnx]')")

import unrolled.onnx  # noqa: E402

RECURRENT = ("RNN", "LSTM", "GRU")
CASES = {  # name -> the cell its node becomes
    "test_simple_rnn_defaults": "rnn_tanh", "test_simple_rnn_with_initial_bias": "rnn_tanh",
    "test_rnn_seq_length": "rnn_tanh", "test_simple_rnn_batchwise": "rnn_tanh",
    "test_simple_rnn_reverse": "rnn_tanh", "test_simple_rnn_bidirectional": "rnn_tanh",
    "test_lstm_defaults": "lstm", "test_lstm_with_initial_bias": "lstm", "test_lstm_with_peepholes": "lstm_peephole",
    "test_lstm_batchwise": "lstm", "test_lstm_reverse": "lstm", "test_lstm_bidirectional": "lstm",
    "test_gru_defaults": "gru_reset_before", "test_gru_with_initial_bias": "gru_reset_before",
    "test_gru_seq_length": "gru_reset_before", "test_gru_batchwise": "gru_reset_before",
    "test_gru_reverse": "gru_reset_before", "test_gru_bidirectional": "gru_reset_before",
}


@pytest.fixture(scope="module")
def cases():
    """Every node case of the installed onnx whose graph holds a recurrent operator, by name
    (collected once: the first call imports every case module, a few seconds)."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cast cases' own overflow warnings
        found = collect_testcases()
    return {c.name: c for c in found if {n.op_type for n in c.model.graph.node} & set(RECURRENT)}


def test_these_are_all_eighteen_recurrent_cases(cases):
    assert sorted(cases) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_backend_case(cases, name):
    case = cases[name]
    graph = unrolled.onnx.load(case.model)
    for inputs, expected in case.data_sets:
        got = graph.forward(*inputs)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == e.shape and g.dtype == e.dtype, (g.shape, e.shape, g.dtype, e.dtype)
            np.testing.assert_allclose(g, e, rtol=case.rtol, atol=case.atol)
    assert [layer.cell.name for layer in graph.recurrent_layers()] == [CASES[name]]
