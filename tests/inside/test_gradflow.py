"""Gradient flow: the hand-derived Jacobian products against torch.autograd, seed 004's bound."""

import numpy as np
import pytest
from conftest import make_layer

try:
    import torch
except ImportError:  # the test against autograd skips; the others need no torch
    torch = None

from unrolled.inside.gradflow import (clipping_run, curves_table, flow_curves, jacobian_products,
                                       random_init_curves, random_input, scaled, spectral_norms)


def torch_step(mode, p, x, h, c):
    """One step of ``mode`` in torch, PyTorch's equations, weights from the layer's state dict."""
    gi = x @ p["weight_ih_l0"].T + p["bias_ih_l0"]
    gh = h @ p["weight_hh_l0"].T + p["bias_hh_l0"]
    if mode == "lstm":
        i, f, g, o = (gi + gh).chunk(4)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    if mode == "gru":
        ir, iz, in_ = gi.chunk(3)
        hr, hz, hn = gh.chunk(3)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        return (1 - z) * n + z * h, c
    a = gi + gh
    return (torch.tanh(a) if mode == "rnn_tanh" else torch.relu(a)), c


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_jacobians_equal_torch_autograd(mode):
    """dh_T / dh_k for every k equals torch.autograd.functional.jacobian (float64)."""
    pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    T, D, H = 6, 3, 4
    layer = make_layer(mode, D, H, seed=2)
    x = rng.standard_normal((T, D))
    h0, c0 = rng.standard_normal(H) * 0.5, rng.standard_normal(H) * 0.5
    state = (h0, c0) if mode == "lstm" else h0
    jp = jacobian_products(layer, x, state)
    p = {k: torch.tensor(v) for k, v in layer.params.items()}
    xt = torch.tensor(x)
    hs, cs = [torch.tensor(h0)], [torch.tensor(c0)]
    for t in range(T):
        h, c = torch_step(mode, p, xt[t], hs[-1], cs[-1])
        hs.append(h)
        cs.append(c)
    np.testing.assert_allclose(jp["h"], torch.stack(hs[1:]).numpy(), rtol=1e-12, atol=1e-14)

    def h_T_from(k, wrt):  # h_T as a function of h_k (or c_k), the other held fixed
        def f(v):
            h, c = (v, cs[k]) if wrt == "h" else (hs[k], v)
            for t in range(k, T):
                h, c = torch_step(mode, p, xt[t], h, c)
            return h
        return f

    for lag in range(T + 1):
        k = T - lag
        want = torch.autograd.functional.jacobian(h_T_from(k, "h"), hs[k]).numpy()
        np.testing.assert_allclose(jp["dh"][lag], want, rtol=1e-10, atol=1e-13, err_msg=f"lag {lag}")
        if mode == "lstm":
            want_c = torch.autograd.functional.jacobian(h_T_from(k, "c"), cs[k]).numpy()
            np.testing.assert_allclose(jp["dc"][lag], want_c, rtol=1e-10, atol=1e-13)
    assert np.allclose(spectral_norms(jp["dh"]), [np.linalg.norm(m, 2) for m in jp["dh"]])


def test_jacobian_by_finite_differences():
    """Independent of torch: a central difference of h_T in one direction of h_k."""
    layer = make_layer("gru", 2, 3, seed=1)
    x = random_input(5, 2, seed=4)
    jp = jacobian_products(layer, x)
    rng = np.random.default_rng(0)
    # dh[5] is d h_5 / d h_0: perturb the initial state
    v, eps = rng.standard_normal(3), 1e-6
    plus = jacobian_products(layer, x, state=eps * v)["h"][-1]
    minus = jacobian_products(layer, x, state=-eps * v)["h"][-1]
    np.testing.assert_allclose((plus - minus) / (2 * eps), jp["dh"][5] @ v, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("scale", [0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
def test_bound_holds_on_random_weights(seed, scale):
    """Seed 004 eq. 20: ||dh_t / dh_k|| <= (gamma * rho)^(t-k) for every lag."""
    rng = np.random.default_rng(seed)
    layer = make_layer("rnn_tanh", 3, 8, seed=seed)
    layer.params["weight_hh_l0"][:] = rng.standard_normal((8, 8)) / np.sqrt(8)
    [curve] = flow_curves(layer, rng.standard_normal((30, 3)) * rng.uniform(0.1, 2), scales=(scale,))
    assert curve["rho"] == pytest.approx(scale * np.linalg.norm(layer.params["weight_hh_l0"], 2), rel=1e-12)
    assert 0 < curve["gamma"] <= 1
    assert np.all(curve["norm"] <= curve["bound"] * (1 + 1e-9))


def test_regimes_by_scaling_W_hh():
    curves = {(c["cell"], c["scale"]): c for c in random_init_curves(("rnn", "lstm"), 16, lags=40,
                                                                      scales=(0.5, 4.0), seed=0)}
    vanish, explode = curves["rnn", 0.5], curves["rnn", 4.0]
    assert vanish["gamma"] * vanish["rho"] < 1 and vanish["norm"][40] < 1e-8
    assert explode["gamma"] * explode["rho"] > 1 and explode["norm"][40] > 1e2
    assert curves["lstm", 4.0]["norm_c"] is not None
    rows = curves_table(list(curves.values()))
    assert len(rows) == 4 * 41 and {"cell", "scale", "lag", "norm", "bound"} <= set(rows[0])


def test_scaled_copies_the_layer():
    layer = make_layer("lstm", 2, 3)
    before = layer.params["weight_hh_l0"].copy()
    twice = scaled(layer, 2.0)
    np.testing.assert_array_equal(layer.params["weight_hh_l0"], before)
    np.testing.assert_array_equal(twice.params["weight_hh_l0"], 2 * before)
    np.testing.assert_array_equal(twice.params["weight_ih_l0"], layer.params["weight_ih_l0"])


def test_clipping_run_caps_the_norm():
    run = clipping_run(steps=6, clip_norm=0.05, hidden_size=4, batch_size=8)
    assert np.all(run["norm_after"] <= 0.05 * (1 + 1e-5))
    small = run["norm_before"] <= 0.05
    np.testing.assert_allclose(run["norm_after"][small], run["norm_before"][small])
    free = clipping_run(steps=6, clip_norm=0.05, hidden_size=4, batch_size=8, clip=False)
    np.testing.assert_array_equal(free["norm_before"][0], run["norm_before"][0])  # same seed, same first batch
    np.testing.assert_array_equal(free["norm_after"], free["norm_before"])
    with pytest.raises(ValueError, match="steps"):
        clipping_run(steps=0)


def test_jacobian_bad_input():
    with pytest.raises(ValueError, match="one sequence"):
        jacobian_products(make_layer("lstm", 2, 3), np.zeros((4, 2, 2)))
