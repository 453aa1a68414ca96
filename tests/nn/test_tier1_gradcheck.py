"""Tier 1: the hand-derived backward against central finite differences, float64, tiny shapes
(B=2, T=3, D=4, H=5), loss ``(out * dout).sum()`` with a random ``dout``."""

import numpy as np
import pytest

from unrolled.nn import cells
from unrolled.train.gradcheck import gradcheck
from unrolled.nn.losses import CrossEntropyLoss, MSELoss
from unrolled.nn.layers import Dropout, Embedding, Linear, Sequential

from conftest import MODES, as_list, make_layer, random_state

B, T, D, H = 2, 3, 4, 5
TOL = 1e-6


# --- cells: the reference step ------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_cell_step(mode, rng):
    spec = cells.CELLS[mode]
    G = spec.G
    x = rng.standard_normal((B, D))
    h = rng.standard_normal((B, H)) * 0.5
    c = rng.standard_normal((B, H)) * 0.5
    W_ih, W_hh = rng.standard_normal((G * H, D)) * 0.5, rng.standard_normal((G * H, H)) * 0.5
    b_ih, b_hh = rng.standard_normal(G * H) * 0.5, rng.standard_normal(G * H) * 0.5
    dh, dc = rng.standard_normal((B, H)), rng.standard_normal((B, H))

    def run():
        if spec.has_cell_state:
            (h1, c1), cache = spec.forward(x, h, c, W_ih, W_hh, b_ih, b_hh)
            return (h1 * dh).sum() + (c1 * dc).sum(), cache
        h1, cache = spec.forward(x, h, W_ih, W_hh, b_ih, b_hh)
        return (h1 * dh).sum(), cache

    _, cache = run()
    if spec.has_cell_state:
        dx, dh_prev, dc_prev, g = spec.backward(dh, dc, cache)
        arrays = dict(x=x, h=h, c=c)
        analytic = dict(x=dx, h=dh_prev, c=dc_prev)
    else:
        dx, dh_prev, g = spec.backward(dh, cache)
        arrays, analytic = dict(x=x, h=h), dict(x=dx, h=dh_prev)
    arrays.update(weight_ih=W_ih, weight_hh=W_hh, bias_ih=b_ih, bias_hh=b_hh)
    analytic.update(g)
    gradcheck(lambda: run()[0], arrays, analytic, tol=TOL)


# --- recurrent layers: every option ----------------------------------------------------------------

CONFIGS = [
    dict(num_layers=1),
    dict(num_layers=2),
    dict(num_layers=3),
    dict(num_layers=2, bidirectional=True),
    dict(num_layers=1, batch_first=True),
    dict(num_layers=2, bidirectional=True, lengths=[3, 1]),
    dict(num_layers=1, lengths=[2, 3]),
    dict(num_layers=3, residual=True),
    dict(num_layers=2, dropout=0.4),
    dict(num_layers=1, bias=False),
]


def layer_check(mode, config, schedule, rng):
    config = dict(config)
    lengths = config.pop("lengths", None)
    m = make_layer(mode, D, H, **config)
    m.schedule = schedule
    bf = m.batch_first
    x = rng.standard_normal((B, T, D) if bf else (T, B, D))
    state = random_state(m, B, rng)
    y, st = m.forward(x, state, lengths=lengths)
    dy = rng.standard_normal(y.shape)
    dst = [rng.standard_normal(s.shape) for s in as_list(st)]

    def loss():
        m.rng = np.random.default_rng(7)  # the same dropout mask at every evaluation
        y, st = m.forward(x, state, lengths=lengths)
        return (y * dy).sum() + sum((s * d).sum() for s, d in zip(as_list(st), dst))

    loss()
    m.zero_grad()
    dx, dstate = m.backward(dy, dst[0] if len(dst) == 1 else tuple(dst))
    arrays = dict(m.params, x=x)
    analytic = dict(m.grads, x=dx)
    for k, (s, ds) in enumerate(zip(as_list(state), as_list(dstate))):
        arrays[f"state{k}"], analytic[f"state{k}"] = s, ds
    gradcheck(loss, arrays, analytic, tol=TOL)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("mode", MODES)
def test_layer_fast(mode, config, rng):
    layer_check(mode, config, "fast", rng)


@pytest.mark.parametrize("mode", MODES)
def test_layer_reference(mode, rng):
    layer_check(mode, dict(num_layers=2, bidirectional=True, lengths=[1, 3]), "reference", rng)


# --- parts and losses --------------------------------------------------------------------------------

def test_linear_and_mse(rng):
    lin = Linear(D, 3, dtype=np.float64, seed=0)
    x = rng.standard_normal((T, B, D))
    target = rng.standard_normal((T, B, 3))
    mse = MSELoss()

    def loss():
        return mse.forward(lin.forward(x), target)

    loss()
    dx = lin.backward(mse.backward())
    gradcheck(loss, dict(lin.params, x=x), dict(lin.grads, x=dx), tol=TOL)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_embedding_lstm_cross_entropy(reduction, rng):
    V = 7
    model = Sequential(Embedding(V, D, dtype=np.float64, seed=0),
                       make_layer("lstm", D, H, num_layers=2),
                       Dropout(0.3, seed=3),
                       Linear(H, V, dtype=np.float64, seed=1))
    ids = rng.integers(0, V, size=(T, B))
    targets = rng.integers(0, V, size=(T, B))
    targets[0, 1] = -100  # padding: ignored
    ce = CrossEntropyLoss(reduction=reduction)

    def loss():
        model.parts["2"].rng = np.random.default_rng(5)
        return ce.forward(model.forward(ids), targets)

    loss()
    model.backward(ce.backward())
    gradcheck(loss, dict(model.params), dict(model.grads), tol=TOL)


def test_mse_sum(rng):
    pred, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    mse = MSELoss(reduction="sum")
    mse.forward(pred, target)
    gradcheck(lambda: mse.forward(pred, target), dict(pred=pred), dict(pred=mse.backward()), tol=TOL)


def test_gradcheck_catches_a_wrong_gradient(rng):
    x = rng.standard_normal(5)
    with pytest.raises(AssertionError, match="x"):
        gradcheck(lambda: (x ** 3).sum(), dict(x=x), dict(x=2 * x ** 2))
