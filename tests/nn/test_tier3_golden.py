"""Tier 3: golden numbers from the seed documents and the exact parameter layout."""

import math

import numpy as np
import pytest

import unrolled
from unrolled.nn.cells import CELLS
from unrolled.inside.trace import seed002_walkthrough  # the seed's prose, scalar by scalar


def test_seed003_worked_step():
    """Seed 003, sec. 4: all weights 1, one bias of 1, x = 0.5, h = 0.1, c = 0.2."""
    one = np.ones((4, 1))
    x, h_prev, c_prev = np.array([[0.5]]), np.array([[0.1]]), np.array([[0.2]])
    lstm = CELLS["lstm"]
    (h, c), cache = lstm.forward(x, h_prev, c_prev, one, one, b_ih=np.ones(4), b_hh=np.zeros(4))
    _, _, _, i, f, g, o, _, _, _ = cache
    # the seed's table, to the three digits it prints (it truncates: 0.9332 -> 0.932)
    assert f[0, 0] == pytest.approx(0.832, abs=1e-3)
    assert i[0, 0] == pytest.approx(0.832, abs=1e-3)
    assert g[0, 0] == pytest.approx(0.921, abs=1e-3)
    assert c[0, 0] == pytest.approx(0.932, abs=1.5e-3)
    assert o[0, 0] == pytest.approx(0.832, abs=1e-3)
    assert h[0, 0] == pytest.approx(0.608, abs=1.5e-3)
    # and exactly, from the seed's formulas evaluated with math
    s = 1 / (1 + math.exp(-1.6))
    c_exact = s * 0.2 + s * math.tanh(1.6)
    assert c[0, 0] == pytest.approx(c_exact, rel=1e-14)
    assert h[0, 0] == pytest.approx(s * math.tanh(c_exact), rel=1e-14)


def test_seed003_through_the_layer():
    """The same step through unrolled.LSTM's public API (weights loaded via state_dict)."""
    m = unrolled.LSTM(1, 1, dtype=np.float64)
    m.load_state_dict({"weight_ih_l0": np.ones((4, 1)), "weight_hh_l0": np.ones((4, 1)),
                       "bias_ih_l0": np.ones(4), "bias_hh_l0": np.zeros(4)})
    y, (h, c) = m.forward(np.full((1, 1, 1), 0.5), (np.full((1, 1, 1), 0.1), np.full((1, 1, 1), 0.2)))
    assert (round(float(c[0, 0, 0]), 4), round(float(y[0, 0, 0]), 4)) == (0.9332, 0.6091)


@pytest.mark.parametrize("inputs", [[0.0, 0.5, 0.25, 1.0], [1.0, 0.5, 0.25, 1.0]])
def test_seed002_scalar_walkthrough(inputs):
    # (weight on STM, weight on input, bias) per stage, an arbitrary but fixed choice
    w = {"f": (2.70, 1.63, 1.62), "i": (2.00, 1.65, 0.62), "g": (1.41, 0.94, -0.32), "o": (4.38, -0.19, 0.59)}
    stm, ltm = seed002_walkthrough(inputs, w)
    m = unrolled.LSTM(1, 1, dtype=np.float64)
    order = "ifgo"  # PyTorch's gate order
    m.load_state_dict({
        "weight_hh_l0": np.array([[w[k][0]] for k in order]),
        "weight_ih_l0": np.array([[w[k][1]] for k in order]),
        "bias_ih_l0": np.array([w[k][2] for k in order]),
        "bias_hh_l0": np.zeros(4),
    })
    y, (h, c) = m.forward(np.array(inputs).reshape(-1, 1, 1))
    assert float(h[0, 0, 0]) == pytest.approx(stm, rel=1e-13)
    assert float(c[0, 0, 0]) == pytest.approx(ltm, rel=1e-13)
    assert float(y[-1, 0, 0]) == pytest.approx(stm, rel=1e-13)  # the prediction is the last STM


def test_parameter_shapes_lstm():
    m = unrolled.LSTM(10, 20, num_layers=2, bidirectional=True)
    assert {k: v.shape for k, v in m.state_dict().items()} == {
        "weight_ih_l0": (80, 10), "weight_hh_l0": (80, 20), "bias_ih_l0": (80,), "bias_hh_l0": (80,),
        "weight_ih_l0_reverse": (80, 10), "weight_hh_l0_reverse": (80, 20),
        "bias_ih_l0_reverse": (80,), "bias_hh_l0_reverse": (80,),
        "weight_ih_l1": (80, 40), "weight_hh_l1": (80, 20), "bias_ih_l1": (80,), "bias_hh_l1": (80,),
        "weight_ih_l1_reverse": (80, 40), "weight_hh_l1_reverse": (80, 20),
        "bias_ih_l1_reverse": (80,), "bias_hh_l1_reverse": (80,),
    }


def test_parameter_shapes_gru_rnn():
    assert {k: v.shape for k, v in unrolled.GRU(3, 4, bias=False).state_dict().items()} == {
        "weight_ih_l0": (12, 3), "weight_hh_l0": (12, 4)}
    assert {k: v.shape for k, v in unrolled.RNN(3, 4).state_dict().items()} == {
        "weight_ih_l0": (4, 3), "weight_hh_l0": (4, 4), "bias_ih_l0": (4,), "bias_hh_l0": (4,)}


def test_float32_by_default_and_same_seed_same_weights():
    a, b = unrolled.GRU(3, 4, seed=5), unrolled.GRU(3, 4, seed=5)
    assert all(v.dtype == np.float32 for v in a.params.values())
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["weight_hh_l0"], unrolled.GRU(3, 4, seed=6).params["weight_hh_l0"])
    y, _ = a.forward(np.ones((2, 1, 3)))
    assert y.dtype == np.float32
