"""Tier 2: parity with torch.nn.RNN / LSTM / GRU and autograd in float64.

Outputs, final states, every parameter gradient, and the input and initial-state gradients,
across layers x bidirectional x batch_first x lengths (PyTorch's packed-sequence path).
"""

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import as_list, make_layer, random_state  # noqa: E402

B, T, D, H = 3, 5, 4, 6
TOL = 1e-8

TORCH = {
    "rnn_tanh": lambda *a, **k: torch.nn.RNN(*a, nonlinearity="tanh", **k),
    "rnn_relu": lambda *a, **k: torch.nn.RNN(*a, nonlinearity="relu", **k),
    "lstm": torch.nn.LSTM,
    "gru": torch.nn.GRU,
}


def max_rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


def torch_run(tm, x, state, lengths, batch_first):
    """Forward with torch: packed when lengths are given, as a user of torch would."""
    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s, requires_grad=True) for s in as_list(state)]
    st_arg = tuple(st) if len(st) == 2 else st[0]
    if lengths is None:
        y, out_state = tm(xt, st_arg)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        y, out_state = tm(packed, st_arg)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=batch_first, total_length=T)
    return xt, st, y, list(out_state) if isinstance(out_state, tuple) else [out_state]


def check_parity(mode, num_layers, bidirectional, batch_first, lengths, schedule="fast", **extra):
    rng = np.random.default_rng(num_layers * 100 + bidirectional * 10 + batch_first)
    m = make_layer(mode, D, H, num_layers=num_layers, bidirectional=bidirectional,
                   batch_first=batch_first, **extra)
    m.schedule = schedule
    tm = TORCH[mode](D, H, num_layers=num_layers, bidirectional=bidirectional,
                     batch_first=batch_first, dtype=torch.float64, **extra)
    tm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D))
    state = random_state(m, B, rng)

    y, st = m.forward(x, state, lengths=lengths)
    xt, st0_t, yt, st_t = torch_run(tm, x, state, lengths, batch_first)

    dy = rng.standard_normal(y.shape)
    dst = [rng.standard_normal(s.shape) for s in as_list(st)]
    loss = (yt * torch.tensor(dy)).sum() + sum((s * torch.tensor(d)).sum() for s, d in zip(st_t, dst))
    loss.backward()
    dx, dstate = m.backward(dy, tuple(dst) if len(dst) == 2 else dst[0])

    checks = {"y": (y, yt.detach().numpy()), "dx": (dx, xt.grad.numpy())}
    for k, (s, s_t) in enumerate(zip(as_list(st), st_t)):
        checks[f"state_n[{k}]"] = (s, s_t.detach().numpy())
    for k, (ds, s_t) in enumerate(zip(as_list(dstate), st0_t)):
        checks[f"dstate_0[{k}]"] = (ds, s_t.grad.numpy())
    for name, p in tm.named_parameters():
        checks[f"grad {name}"] = (m.grads[name], p.grad.numpy())
    assert set(m.grads) == {n for n, _ in tm.named_parameters()}
    errors = {k: max_rel(a, b) for k, (a, b) in checks.items()}
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"max relative difference {errors[worst]:.2e} in {worst}; all: {errors}"


GRID = list(itertools.product([1, 2, 3], [False, True], [False, True], [None, [5, 2, 4]]))


@pytest.mark.parametrize("variant", ["small-loop", "packed-loop", "two-threads", "two-threads-small"])
@pytest.mark.parametrize("num_layers,bidirectional,batch_first,lengths", GRID)
@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_parity(mode, num_layers, bidirectional, batch_first, lengths, variant, monkeypatch):
    """Every variant of the fast schedule (see test_schedules.set_variant)."""
    from test_schedules import set_variant

    set_variant(variant, monkeypatch.setattr)
    check_parity(mode, num_layers, bidirectional, batch_first, lengths)


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_parity_reference_schedule(mode):
    check_parity(mode, 2, True, False, [2, 5, 1], schedule="reference")


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_parity_without_bias(mode):
    check_parity(mode, 2, True, True, [4, 5, 3], bias=False)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_dropout_in_eval_matches_torch_eval(mode):
    """In eval mode dropout is off in both, so outputs agree exactly."""
    m = make_layer(mode, D, H, num_layers=2, dropout=0.5).eval()
    tm = TORCH[mode](D, H, num_layers=2, dropout=0.5, dtype=torch.float64).eval()
    tm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((T, B, D))
    y, _ = m.forward(x)
    assert max_rel(y, tm(torch.tensor(x))[0].detach().numpy()) < TOL


def test_state_dict_moves_both_ways():
    tm = torch.nn.LSTM(D, H, num_layers=2, bidirectional=True)
    m = make_layer("lstm", D, H, num_layers=2, bidirectional=True, dtype=np.float32)
    m.load_state_dict(tm.state_dict())
    assert list(m.state_dict()) == list(tm.state_dict())
    tm2 = torch.nn.LSTM(D, H, num_layers=2, bidirectional=True)
    tm2.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    for k, v in tm.state_dict().items():
        assert torch.equal(v, tm2.state_dict()[k])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_weighted_cross_entropy_matches_torch(reduction):
    """Class weights as torch's: each term times w_c; "mean" divides by the sum of the weights."""
    from unrolled.nn.losses import CrossEntropyLoss

    rng = np.random.default_rng(5)
    logits, targets = rng.standard_normal((7, 3)), rng.integers(0, 3, 7)
    weight = np.array([0.5, 2.0, 1.25])
    ours = CrossEntropyLoss(reduction=reduction, weight=weight)
    value, grad = ours.forward(logits, targets), ours.backward()
    t = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(t, torch.tensor(targets), weight=torch.tensor(weight), reduction=reduction)
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-10, atol=1e-14)
