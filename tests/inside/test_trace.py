"""Traces: seed 003's worked step and seed 002's walk-through, the user's JSON, and bad input."""

import json

import numpy as np
import pytest

from unrolled.inside.trace import (SEED002_INPUTS, SEED003_TABLE, by_hand_step, explain, load_input,
                                    load_weights, seed002_layer, seed002_walkthrough, seed003_example,
                                    trace_table)


def test_trace_equals_seed003():
    lines = []
    rec = explain(echo=lines.append)
    step = {k: float(rec["l0"][k][0, 0, 0]) for k in SEED003_TABLE}
    # the seed's table to its three digits (it truncates every intermediate: c 0.9332 -> 0.932)
    for k, want in SEED003_TABLE.items():
        assert step[k] == pytest.approx(want, abs=1.5e-3), k
    assert step["f"] == step["i"] == step["o"] == pytest.approx(1 / (1 + np.exp(-1.6)), rel=1e-15)
    assert rec["l0"]["a_f"][0, 0, 0] == pytest.approx(1.6, rel=1e-15)
    # the seed's own arithmetic reproduces its table digit for digit
    assert by_hand_step(0.5, 0.1, 0.2) == SEED003_TABLE
    text = "\n".join(lines)
    for value in ("0.8320", "0.9217", "0.9332", "0.6091", "0.932", "0.608", "0.921"):
        assert value in text


def test_seed002_trace_matches_the_prose():
    layer = seed002_layer()
    for seq in SEED002_INPUTS.values():
        stm, ltm = seed002_walkthrough(seq)
        x = np.array(seq).reshape(-1, 1, 1)
        y, (h, c) = layer.forward(x)
        assert (h.item(), c.item()) == pytest.approx((stm, ltm), rel=1e-13)
    assert seed002_walkthrough(SEED002_INPUTS["A"])[0] == pytest.approx(0.0064, abs=1e-4)
    assert seed002_walkthrough(SEED002_INPUTS["B"])[0] == pytest.approx(0.9694, abs=1e-4)
    lines = []
    recs = explain(seed002=True, echo=lines.append)
    assert recs["B"]["l0"]["h"][-1, 0, 0] == pytest.approx(seed002_walkthrough(SEED002_INPUTS["B"])[0], rel=1e-13)
    assert "t=4" in "\n".join(lines)


def seed003_json(tmp_path):
    w = {"cell": "lstm", "weight_ih_l0": [[1]] * 4, "weight_hh_l0": [[1]] * 4,
         "bias_ih_l0": [1, 1, 1, 1], "bias_hh_l0": [0, 0, 0, 0]}
    (tmp_path / "w.json").write_text(json.dumps(w))
    (tmp_path / "x.json").write_text(json.dumps({"x": [0.5], "h0": [0.1], "c0": [0.2]}))
    return tmp_path / "w.json", tmp_path / "x.json"


def test_user_json_reproduces_seed003(tmp_path):
    wpath, xpath = seed003_json(tmp_path)
    rec = explain(wpath, xpath, echo=lambda s: None)
    layer, x, state = seed003_example()
    assert rec["l0"]["h"][0, 0, 0] == pytest.approx(layer.forward(x, state)[0].item(), rel=1e-15)


def test_user_json_gru_two_units_several_steps():
    rng = np.random.default_rng(0)
    w = {"cell": "gru", "weight_ih_l0": rng.standard_normal((6, 3)).tolist(),
         "weight_hh_l0": rng.standard_normal((6, 2)).tolist()}
    layer = load_weights(w)
    assert (layer.input_size, layer.hidden_size, layer.bias) == (3, 2, False)
    x, h0 = load_input({"x": rng.standard_normal((4, 3)).tolist(), "h0": [0.1, -0.2]}, layer)
    assert x.shape == (4, 1, 3) and h0.shape == (1, 1, 2)
    table = trace_table(layer, x, h0)
    assert "update gate" in table and "t=4" in table and "[1]" in table


@pytest.mark.parametrize("weights, inputs, match", [
    ({"cell": "transformer", "weight_ih_l0": [[1]], "weight_hh_l0": [[1]]}, {"x": [1]}, "unknown"),
    ({"weight_ih_l0": [[1]] * 4}, {"x": [1]}, "weight_hh_l0"),
    ({"weight_ih_l0": [[1]] * 3, "weight_hh_l0": [[1]] * 3}, {"x": [1]}, r"\(4H, H\)"),
    ({"weight_ih_l0": [[1]] * 4, "weight_hh_l0": [["a"]] * 4}, {"x": [1]}, "numbers"),
    ({"weight_ih_l0": [[1]] * 4, "weight_hh_l0": [[1]] * 4, "bias_ih_l0": [1] * 4}, {"x": [1]}, "bias_hh_l0"),
    (None, {"y": [1]}, '"x" is missing'),
    (None, {"x": [[1, 2]]}, "D = 1"),
    (None, {"x": [1], "h0": [1, 2]}, "H = 1"),
    (None, {"x": [float("nan")]}, "NaN"),
    ({"cell": "gru", "weight_ih_l0": [[1]] * 3, "weight_hh_l0": [[1]] * 3}, {"x": [1], "c0": [0]}, "only for the LSTM"),
])
def test_bad_json_says_what_to_fix(weights, inputs, match):
    with pytest.raises(ValueError, match=match):
        explain(weights, inputs, echo=lambda s: None)


def test_bad_files(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        explain(tmp_path / "bad.json", {"x": [1]})
    with pytest.raises(ValueError, match="cannot read --weights"):
        explain(tmp_path / "missing.json", {"x": [1]})
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        explain(None, tmp_path / "list.json")
    with pytest.raises(ValueError, match="--input too"):
        explain(seed003_json(tmp_path)[0], None)
    with pytest.raises(ValueError, match="decimals"):
        explain(decimals=0)
