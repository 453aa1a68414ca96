"""Recording gates: equal to the layer's fast path, and the layer's outputs and state untouched."""

import numpy as np
import pytest
from conftest import as_list, make_layer, random_state

from unrolled.inside import flatten, record
from unrolled.nn.cells import CELLS


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("options", [{}, {"num_layers": 2, "bidirectional": True},
                                     {"num_layers": 2, "residual": True, "batch_first": True}])
def test_record_equals_fast_path(mode, options, rng):
    m = make_layer(mode, 3, 4, dtype=np.float32, **options)
    m.eval()
    x = rng.standard_normal((2, 5, 3) if m.batch_first else (5, 2, 3)).astype(np.float32)
    state = random_state(m, 2, rng)
    y, s = m.forward(x, state)
    rec = record(m, x, state)
    np.testing.assert_allclose(rec["y"], y, atol=1e-6)
    for a, b in zip(as_list(rec["state"]), as_list(s)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # the last layer's per-direction h is the output, direction by direction
    H, last = m.hidden_size, m.num_layers - 1
    y_tm = y.transpose(1, 0, 2) if m.batch_first else y
    for d, suffix in enumerate(["", "_reverse"][:m.num_directions]):
        h = rec[f"l{last}{suffix}"]["h"]
        if not m.residual or last == 0:
            np.testing.assert_allclose(h, y_tm[:, :, d * H:(d + 1) * H], atol=1e-6)
        assert set(m.cell.gates) <= set(rec[f"l{last}{suffix}"])


def test_record_changes_nothing(rng):
    """Outputs, state, the cache for backward and the dropout generator are as before."""
    m = make_layer("lstm", 3, 4, num_layers=2, dropout=0.3, seed=7)
    x = rng.standard_normal((6, 2, 3))
    dy = rng.standard_normal((6, 2, 4))
    m.train()
    y1, s1 = m.forward(x)  # training mode: a cache for backward and a dropout mask drawn
    rng_state = m.rng.bit_generator.state
    params = {k: v.copy() for k, v in m.params.items()}
    record(m, x)
    assert m.rng.bit_generator.state == rng_state  # no dropout mask drawn
    assert all(np.array_equal(params[k], m.params[k]) for k in params)
    m.zero_grad()
    dx, _ = m.backward(dy)  # the cache of the forward before recording is still there
    # a fresh twin that never recorded gives the same outputs and gradients
    twin = make_layer("lstm", 3, 4, num_layers=2, dropout=0.3, seed=7)
    twin.train()
    y2, s2 = twin.forward(x)
    np.testing.assert_array_equal(y1, y2)
    twin.zero_grad()
    np.testing.assert_array_equal(dx, twin.backward(dy)[0])
    # and in eval mode the same forward gives the same answer before and after a recording
    m.eval()
    before = m.forward(x)[0]
    record(m, x)
    np.testing.assert_array_equal(before, m.forward(x)[0])


@pytest.mark.parametrize("name", sorted(CELLS))
def test_every_cell_names_what_it_records(name, rng):
    """A recording holds every name the cell gives a trace row, a label or a heatmap panel."""
    m = make_layer(name, 2, 3)
    part = record(m, rng.standard_normal((3, 2, 2)))["l0"]
    cell = m.cell
    assert set(cell.gates) | set(cell.panels) | set(cell.labels) <= set(part)
    assert {"h", "h_prev"} <= set(part) and ("c_prev" in part) == cell.has_cell_state


def test_record_leaves_the_fast_path_as_it_was(rng):
    """Recording runs the reference loop without switching the layer's schedule or touching its
    work buffers."""
    m = make_layer("gru", 3, 4, num_layers=2, dtype=np.float32)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    m.forward(x)
    def buffers():
        return [{slot: id(raw) for slot, raw in w._raw.items()} for w in m._work]

    before = buffers()
    record(m, x)
    assert m.schedule == "fast" and buffers() == before


def test_record_lengths_marks_missing_steps(rng):
    m = make_layer("gru", 3, 4, bidirectional=True)
    x = rng.standard_normal((5, 3, 3))
    lengths = [5, 2, 4]
    y, s = m.forward(x, lengths=lengths)
    rec = record(m, x, lengths=lengths)
    np.testing.assert_allclose(rec["y"], y, atol=1e-12)
    np.testing.assert_allclose(rec["state"], s, atol=1e-12)
    assert np.isnan(rec["l0"]["z"][2:, 1]).all() and not np.isnan(rec["l0"]["z"][:2, 1]).any()
    assert np.isnan(rec["l0_reverse"]["r"][4:, 2]).all()


def test_gate_values_match_torch_lstm_cell(rng):
    """The recorded gates of one LSTM step equal torch's own gate arithmetic (float64)."""
    torch = pytest.importorskip("torch")
    m = make_layer("lstm", 3, 4)
    x = rng.standard_normal((1, 2, 3))
    h0, c0 = random_state(m, 2, rng)
    rec = record(m, x, (h0, c0))["l0"]
    p = {k: torch.tensor(v) for k, v in m.params.items()}
    a = (torch.tensor(x[0]) @ p["weight_ih_l0"].T + p["bias_ih_l0"] + torch.tensor(h0[0]) @ p["weight_hh_l0"].T
         + p["bias_hh_l0"])
    a_i, a_f, a_g, a_o = a.chunk(4, dim=1)
    for name, want in [("a_i", a_i), ("a_f", a_f), ("a_g", a_g), ("a_o", a_o), ("i", torch.sigmoid(a_i)),
                       ("f", torch.sigmoid(a_f)), ("g", torch.tanh(a_g)), ("o", torch.sigmoid(a_o))]:
        np.testing.assert_allclose(rec[name][0], want.numpy(), rtol=1e-12, atol=1e-14)


def test_flatten_for_npz(tmp_path, rng):
    m = make_layer("lstm", 2, 3, num_layers=2)
    rec = record(m, rng.standard_normal((4, 1, 2)))
    flat = flatten(rec)
    assert {"l0/f", "l1/h", "y", "h_n", "c_n"} <= set(flat)
    np.savez(tmp_path / "r.npz", **flat)
    with np.load(tmp_path / "r.npz") as z:
        np.testing.assert_array_equal(z["l1/c"], rec["l1"]["c"])


def test_record_bad_input():
    m = make_layer("lstm", 3, 4)
    with pytest.raises(ValueError, match="features"):
        record(m, np.zeros((2, 1, 5)))
    with pytest.raises(ValueError, match="state"):
        record(m, np.zeros((2, 1, 3)), state=np.zeros((1, 1, 4)))
