"""The two cells ONNX needs beyond PyTorch's: the LSTM with peepholes and the GRU with the reset
gate before the recurrent product. Their backward against central differences (one step here, with
the peepholes; every layer option in tests/nn/test_tier1_gradcheck.py, which runs every registered
cell), their forward against ONNX's reference evaluator (torch has neither), and the layers that
pick them."""

import numpy as np
import pytest

from unrolled.nn.cells import CELLS
from unrolled.nn.recurrent import GRU, LSTM, make_layer
from unrolled.train.gradcheck import gradcheck

B, D, H = 2, 4, 5


def test_peephole_step_backward_matches_finite_differences(rng):
    cell = CELLS["lstm_peephole"]
    x, h, c = rng.standard_normal((B, D)), 0.5 * rng.standard_normal((B, H)), 0.5 * rng.standard_normal((B, H))
    W_ih, W_hh = 0.5 * rng.standard_normal((4 * H, D)), 0.5 * rng.standard_normal((4 * H, H))
    b_ih, b_hh, p = (0.5 * rng.standard_normal(n) for n in (4 * H, 4 * H, 3 * H))
    dh, dc = rng.standard_normal((B, H)), rng.standard_normal((B, H))

    def loss():
        (h1, c1), _ = cell.forward(x, h, c, W_ih, W_hh, b_ih, b_hh, p)
        return (h1 * dh).sum() + (c1 * dc).sum()

    _, cache = cell.forward(x, h, c, W_ih, W_hh, b_ih, b_hh, p)
    dx, dh_prev, dc_prev, grads = cell.backward(dh, dc, cache)
    arrays = dict(x=x, h=h, c=c, weight_ih=W_ih, weight_hh=W_hh, bias_ih=b_ih, bias_hh=b_hh, weight_peephole=p)
    gradcheck(loss, arrays, dict(grads, x=dx, h=dh_prev, c=dc_prev), tol=1e-6)


def test_the_layers_pick_the_cells_and_leave_the_compiled_ones_alone():
    plain, peep = LSTM(3, 4, bidirectional=True), LSTM(3, 4, bidirectional=True, peephole=True)
    assert plain.cell.name == "lstm" and plain.cell.kernel is not None  # the fast path, as before
    assert peep.cell.name == "lstm_peephole" and peep.cell.kernel is None  # the reference loop
    assert sorted(set(peep.params) - set(plain.params)) == ["weight_peephole_l0", "weight_peephole_l0_reverse"]
    assert peep.params["weight_peephole_l0"].shape == (12,)
    assert GRU(3, 4).cell.name == "gru" and GRU(3, 4, reset_after=False).cell.name == "gru_reset_before"
    assert make_layer("gru_reset_before", 3, 4).cell is CELLS["gru_reset_before"]
    assert CELLS["gru_reset_before"].kernel is None


def test_zero_peepholes_are_the_plain_lstm(rng):
    plain = LSTM(3, 4, num_layers=2, dtype=np.float64, seed=0).eval()
    peep = LSTM(3, 4, num_layers=2, peephole=True, dtype=np.float64, seed=0).eval()
    peep.load_state_dict({**plain.state_dict(), **{k: np.zeros(12) for k in peep.params if "peephole" in k}})
    x = rng.standard_normal((5, 2, 3))
    np.testing.assert_allclose(peep.forward(x)[0], plain.forward(x)[0], rtol=1e-12, atol=1e-12)


def _onnx_node_output(op, W, R, Bias, P, x, **attrs):
    """Y of one ONNX node, by ONNX's reference evaluator, in float64."""
    pytest.importorskip("onnx", reason="the reference evaluator comes with the onnx package")
    from onnx import TensorProto, helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    inits = [numpy_helper.from_array(a[None], n) for n, a in (("W", W), ("R", R), ("B", Bias))]
    inputs = ["X", "W", "R", "B"]
    if P is not None:
        inits.append(numpy_helper.from_array(P[None], "P"))
        inputs += ["", "", "", "P"]
    node = helper.make_node(op, inputs, ["Y"], hidden_size=H, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.DOUBLE, None)],
                              [helper.make_tensor_value_info("Y", TensorProto.DOUBLE, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    return ReferenceEvaluator(model).run(None, {"X": x})[0][:, 0]  # (T, B, H)


def test_the_peephole_lstm_is_onnx_lstm_with_p(rng):
    layer = LSTM(D, H, peephole=True, dtype=np.float64, seed=1).eval()
    prm = layer.params
    # each as its gate blocks [i, f, g, o]
    W_ih, W_hh, b_ih, b_hh = (np.split(prm[k], 4) for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"))

    def order(blocks):  # ONNX: i, o, f, c
        return np.concatenate([blocks[0], blocks[3], blocks[1], blocks[2]])

    p_i, p_f, p_o = np.split(prm["weight_peephole_l0"], 3)
    x = rng.standard_normal((6, B, D))
    expected = _onnx_node_output("LSTM", order(W_ih), order(W_hh), np.concatenate([order(b_ih), order(b_hh)]),
                                 np.concatenate([p_i, p_o, p_f]), x)
    np.testing.assert_allclose(layer.forward(x)[0], expected, rtol=1e-12, atol=1e-12)


def test_the_reset_before_gru_is_onnx_gru_with_linear_before_reset_0(rng):
    layer = GRU(D, H, reset_after=False, dtype=np.float64, seed=2).eval()
    # each as its gate blocks [r, z, n]
    W_ih, W_hh, b_ih, b_hh = (np.split(layer.params[k], 3)
                              for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"))

    def order(blocks):  # ONNX: z, r, h
        return np.concatenate([blocks[1], blocks[0], blocks[2]])

    x = rng.standard_normal((6, B, D))
    expected = _onnx_node_output("GRU", order(W_ih), order(W_hh), np.concatenate([order(b_ih), order(b_hh)]), None,
                                 x, linear_before_reset=0)
    np.testing.assert_allclose(layer.forward(x)[0], expected, rtol=1e-12, atol=1e-12)
    # and it is not PyTorch's GRU: the same weights give other numbers
    torch_form = GRU(D, H, dtype=np.float64, seed=2).eval()
    assert np.abs(torch_form.forward(x)[0] - expected).max() > 1e-3
