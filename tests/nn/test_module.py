"""The Module tree: children registered by assignment carry their parameters, gradients, modes
and state dicts up to the parent; Sequential passes lengths and state; save / load."""

import json

import numpy as np
import pytest

import unrolled
from unrolled.nn.layers import Dropout, Embedding, Linear, Sequential
from unrolled.nn.module import Module
from unrolled.tasks.forecast.network import ManyToOne
from unrolled.tasks.lm.network import RecurrentLM
from unrolled.train.gradcheck import gradcheck
from unrolled.train.optim import SGD
from unrolled.train.checkpoint import module_generators

B, T, D, H = 2, 3, 4, 5


class Tagger(Module):
    """GRU -> dropout -> Linear on every step; no plumbing: the children are only assigned."""

    def __init__(self, p=0.5, seed=0):
        super().__init__()
        self.rnn = unrolled.GRU(D, H, dtype=np.float64, seed=seed)
        self.drop = Dropout(p, seed=seed)
        self.head = Linear(H, 3, dtype=np.float64, seed=seed + 1)

    def forward(self, x, state=None):
        y, _ = self.rnn.forward(x, state)  # (T, B, H)
        return self.head.forward(self.drop.forward(y))  # (T, B, 3)

    def backward(self, dout):
        dx, _ = self.rnn.backward(self.drop.backward(self.head.backward(dout)))
        return dx


def test_assignment_registers_children_params_and_grads():
    m = Tagger()
    assert m.children() == [m.rnn, m.drop, m.head]
    assert m.modules() == [m, m.rnn, m.drop, m.head]
    assert list(m.params) == ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
                              "head.weight", "head.bias"]
    assert list(m.grads) == list(m.params)
    assert m.params["head.weight"] is m.head.params["weight"]  # the same arrays, not copies
    assert m.grads["rnn.weight_hh_l0"] is m.rnn.grads["weight_hh_l0"]
    assert [k for k, _ in m.named_parameters()] == list(m.params)
    assert m.num_parameters() == sum(p.size for p in m.parameters()) == 3 * H * (D + H + 2) + 3 * H + 3


def test_reassigning_or_removing_a_child_updates_the_tree():
    m = Tagger()
    m.head = Linear(H, 7, bias=False, dtype=np.float64)
    assert list(m.params)[-1] == "head.weight" and m.params["head.weight"].shape == (7, H)
    assert [c for c in m.children()][-1] is m.head
    m.drop = None
    assert m.children() == [m.rnn, m.head]


def test_child_before_super_init_is_a_clear_error():
    class Early(Module):
        def __init__(self):
            self.head = Linear(2, 2)
            super().__init__()

    with pytest.raises(RuntimeError, match=r"super\(\).__init__\(\)"):
        Early()


def test_train_eval_reach_every_child():
    m = Tagger().eval()
    assert [c.training for c in m.modules()] == [False] * 4
    x = np.random.default_rng(0).standard_normal((T, B, D))
    np.testing.assert_array_equal(m.forward(x), m.forward(x))  # dropout off: deterministic
    m.train()
    assert all(c.training for c in m.modules())


def test_gradients_reach_the_children(rng):
    """Finite differences over the parent's params (the children's arrays) and the input."""
    m = Tagger(p=0.3)
    x, dout = rng.standard_normal((T, B, D)), rng.standard_normal((T, B, 3))

    def loss():
        m.drop.rng = np.random.default_rng(5)  # the same dropout mask at every evaluation
        return float((m.forward(x) * dout).sum())

    loss()
    m.zero_grad()
    dx = m.backward(dout)
    gradcheck(loss, dict(m.params, x=x), dict(m.grads, x=dx))


def test_zero_grad_and_optimizer_step_act_on_the_children(rng):
    m = Tagger(p=0.0)
    m.forward(rng.standard_normal((T, B, D)))
    m.backward(rng.standard_normal((T, B, 3)))
    w, g = m.head.params["weight"].copy(), m.head.grads["weight"].copy()
    assert np.abs(g).sum() > 0
    SGD(m, lr=0.1).step()
    np.testing.assert_allclose(m.head.params["weight"], w - 0.1 * g)
    m.zero_grad()
    assert all(not g.any() for c in m.children() for g in c.grads.values())


def test_state_dict_round_trip_through_the_tree(rng):
    a, b = Tagger(seed=0).eval(), Tagger(seed=9).eval()
    x = rng.standard_normal((T, B, D))
    assert not np.allclose(a.forward(x), b.forward(x))
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    np.testing.assert_array_equal(b.rnn.params["weight_ih_l0"], a.rnn.params["weight_ih_l0"])


@pytest.mark.parametrize("bad", [np.bool_, np.int64, np.complex128])
def test_load_state_dict_rejects_non_float_arrays(bad):
    m = Tagger()
    state = m.state_dict()
    before = m.state_dict()
    state["head.bias"] = state["head.bias"].astype(bad)
    with pytest.raises(ValueError, match=r"head\.bias.*floating point.*astype"):
        m.load_state_dict(state)
    assert all(np.array_equal(before[k], v) for k, v in m.state_dict().items())


# -- the task networks: same keys and the same Generators, in the same order, as before ----------

def test_task_networks_keys_and_generators():
    net = ManyToOne("lstm", 3, 4, 2, num_layers=2, dropout=0.1, seed=0)
    assert list(net.params) == [f"rnn.{w}_l{l}" for l in range(2) for w in
                                ("weight_ih", "weight_hh", "bias_ih", "bias_hh")] + ["head.weight", "head.bias"]
    assert len(module_generators(net)) == 1 and module_generators(net)[0] is net.rnn.rng
    lm = RecurrentLM("gru", 7, 4, 5, seed=0)
    assert list(lm.params) == ["encoder.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                               "rnn.bias_hh_l0", "decoder.weight", "decoder.bias"]
    assert lm.children() == [lm.encoder, lm.drop_in, lm.rnn, lm.drop_out, lm.decoder]
    gens = module_generators(lm)
    assert len(gens) == 3 and all(g is r for g, r in zip(gens, (lm.drop_in.rng, lm.rnn.rng, lm.drop_out.rng)))


# -- Sequential: lengths and state ---------------------------------------------------------------

def _padded(rng):
    return rng.standard_normal((T, B, D)), np.array([T, 1])


def test_sequential_passes_lengths_and_state_like_calling_the_parts(rng):
    lstm, head = unrolled.LSTM(D, H, dtype=np.float64, seed=0), Linear(H, 2, dtype=np.float64, seed=1)
    seq = Sequential(("rnn", lstm), ("head", head))
    x, lengths = _padded(rng)
    s0 = (rng.standard_normal((1, B, H)), rng.standard_normal((1, B, H)))
    dout = rng.standard_normal((T, B, 2))
    ds = (rng.standard_normal((1, B, H)), rng.standard_normal((1, B, H)))

    y, sT = lstm.forward(x, s0, lengths)  # by hand
    out = head.forward(y)
    dx, ds0 = lstm.backward(head.backward(dout), ds)
    grads = {k: g.copy() for k, g in seq.grads.items()}
    seq.zero_grad()

    for state, dstate in ((s0, ds), ({"rnn": s0}, {"rnn": ds})):  # bare (one recurrent part) or by name
        np.testing.assert_array_equal(seq.forward(x, state, lengths), out)
        np.testing.assert_array_equal(seq.states["rnn"][1], sT[1])
        np.testing.assert_array_equal(seq.backward(dout, dstate), dx)
        np.testing.assert_array_equal(seq.dstates["rnn"][0], ds0[0])
        for k, g in seq.grads.items():
            np.testing.assert_array_equal(g, grads[k], err_msg=k)
        seq.zero_grad()
    assert not np.array_equal(seq.forward(x, lengths=lengths), out)  # the state did matter


def test_sequential_with_two_recurrent_parts(rng):
    a, b = unrolled.GRU(D, H, dtype=np.float64, seed=0), unrolled.RNN(H, H, dtype=np.float64, seed=1)
    seq = Sequential(("a", a), ("b", b))
    x, lengths = _padded(rng)
    h0 = rng.standard_normal((1, B, H))
    ya, ha = a.forward(x, None, lengths)
    yb, hb = b.forward(ya, h0, lengths)
    np.testing.assert_array_equal(seq.forward(x, {"b": h0}, lengths), yb)  # "a" starts from zeros
    np.testing.assert_array_equal(seq.states["a"], ha)
    np.testing.assert_array_equal(seq.states["b"], hb)
    with pytest.raises(ValueError, match=r"2 recurrent parts.*dict.*\['a', 'b'\]"):
        seq.forward(x, h0)
    with pytest.raises(ValueError, match=r"\['c'\].*no recurrent part"):
        seq.forward(x, {"c": h0})


def test_sequential_names_must_be_unique_and_dotless():
    with pytest.raises(ValueError, match="unique"):
        Sequential(("a", Linear(2, 2)), ("a", Linear(2, 2)))
    with pytest.raises(ValueError, match="without '.'"):
        Sequential(("a.b", Linear(2, 2)))


# -- save / load ---------------------------------------------------------------------------------

def _models(seed):
    return [
        unrolled.LSTM(D, H, num_layers=2, seed=seed),
        Sequential(Embedding(7, D, seed=seed), unrolled.GRU(D, H, seed=seed), Linear(H, 7, seed=seed + 1)),
        ManyToOne("gru", D, H, 2, seed=seed),
        RecurrentLM("lstm", 7, D, H, num_layers=2, dropout=0.2, seed=seed),
    ]


def _run(m, rng):
    m.eval()
    if isinstance(m, (Sequential, RecurrentLM)):
        out = m.forward(rng.integers(0, 7, (T, B)))
    else:
        out = m.forward(rng.standard_normal((T, B, D)))
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("k", range(4))
def test_save_load_gives_identical_outputs(k, tmp_path):
    saved, fresh = _models(0)[k], _models(1)[k]
    saved.save(tmp_path)
    before = _run(fresh, np.random.default_rng(3))
    assert fresh.load(tmp_path) is fresh
    out = _run(fresh, np.random.default_rng(3))
    np.testing.assert_array_equal(out, _run(saved, np.random.default_rng(3)))
    assert not np.array_equal(out, before)


def test_save_records_class_keys_shapes_dtypes_and_replaces_atomically(tmp_path):
    m = ManyToOne("lstm", D, H, 2, seed=0)
    m.save(tmp_path)
    m.save(tmp_path)  # a second save leaves one arrays file, the one the JSON names
    meta = json.loads((tmp_path / "module.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["module.json", meta["arrays"]])
    assert meta["class"] == "ManyToOne"
    assert meta["params"]["head.weight"] == {"shape": [2, H], "dtype": "float32"}
    with np.load(tmp_path / meta["arrays"], allow_pickle=False) as z:
        assert sorted(z.files) == sorted(m.params)


def _edit(tmp_path, **changes):
    path = tmp_path / "module.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))
    return meta


@pytest.mark.parametrize("other, match", [
    (lambda: Tagger(), r"holds a saved ManyToOne, not a Tagger; load it into a ManyToOne"),
    (lambda: ManyToOne("lstm", D, H + 1, 2), r"head\.weight saved float32 \(2, 5\), here float32 \(2, 6\).*"
                                             r"build it with the hyperparameters"),
    (lambda: ManyToOne("lstm", D, H, 2, dtype=np.float64), r"saved float32 .* here float64.*dtype"),
    (lambda: ManyToOne("lstm", D, H, 2, num_layers=2), r"missing \['rnn\.bias_hh_l1'"),
])
def test_load_into_a_different_module_names_the_fix(other, match, tmp_path):
    ManyToOne("lstm", D, H, 2, seed=0).save(tmp_path)
    m = other()
    before = m.state_dict()
    with pytest.raises(ValueError, match=match):
        m.load(tmp_path)
    assert all(np.array_equal(before[k], v) for k, v in m.state_dict().items())


def test_bad_files_give_clear_errors(tmp_path):
    m = ManyToOne("lstm", D, H, 2, seed=0)
    with pytest.raises(ValueError, match=r"no saved module.*module\.save\(directory\)"):
        m.load(tmp_path / "nowhere")
    m.save(tmp_path)
    name = json.loads((tmp_path / "module.json").read_text())["arrays"]

    (tmp_path.parent / "evil.npz").write_bytes((tmp_path / name).read_bytes())  # outside the directory
    for arrays in ("../evil.npz", str(tmp_path.parent / "evil.npz"), "module-0000000g.npz", 3):
        _edit(tmp_path, arrays=arrays)
        with pytest.raises(ValueError, match="names its arrays .*it was edited: save again"):
            m.load(tmp_path)

    _edit(tmp_path, arrays="module-00000000.npz")  # a valid name with no file behind it
    with pytest.raises(ValueError, match="are missing; save again"):
        m.load(tmp_path)

    meta = _edit(tmp_path, arrays=name)
    meta["params"]["head.bias"]["shape"] = [3]
    _edit(tmp_path, params=meta["params"])  # the JSON no longer describes its arrays
    with pytest.raises(ValueError, match="do not match module.json"):
        m.load(tmp_path)

    (tmp_path / "module.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read .*module.json"):
        m.load(tmp_path)


@pytest.mark.parametrize("bad", [np.bool_, np.int32, np.complex64])
def test_non_float_arrays_in_a_saved_file_are_rejected(bad, tmp_path):
    m = ManyToOne("lstm", D, H, 2, seed=0)
    m.save(tmp_path)
    meta = json.loads((tmp_path / "module.json").read_text())
    state = {k: v.astype(bad) for k, v in m.state_dict().items()}
    np.savez(tmp_path / meta["arrays"], **state)  # a file consistent with itself, but not floats
    meta["params"] = {k: {"shape": list(v.shape), "dtype": v.dtype.name} for k, v in state.items()}
    _edit(tmp_path, params=meta["params"])
    with pytest.raises(ValueError, match="non-float arrays.*floating point"):
        m.load(tmp_path)
