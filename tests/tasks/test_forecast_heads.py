"""The forecaster's probabilistic heads: each loss's hand-derived gradient against central
differences (float64) and against torch autograd on the same equations; quantiles stay ordered."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unrolled.tasks.forecast import heads

DISTS = ("normal", "studentt", "quantile")


def _numeric(distribution, raw, y, eps=1e-6):
    g = np.zeros_like(raw)
    for i in np.ndindex(raw.shape):
        up, down = raw.copy(), raw.copy()
        up[i] += eps
        down[i] -= eps
        g[i] = (heads.loss(distribution, up, y)[0] - heads.loss(distribution, down, y)[0]) / (2 * eps)
    return g


@pytest.mark.parametrize("distribution", DISTS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_matches_central_differences(distribution, seed):
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((5, 3, heads.n_params(distribution))) * 1.5
    y = rng.standard_normal((5, 3)) * 2
    _, grad = heads.loss(distribution, raw, y)
    # central differences are good to ~1e-7 of the largest entry here (sigma small, y far: curvature)
    np.testing.assert_allclose(grad, _numeric(distribution, raw, y), rtol=1e-6, atol=1e-7 * np.abs(grad).max())


def test_student_t_gradient_in_the_far_tail_and_large_nu():
    raw = np.array([[[0.1, -2.0, 8.0], [3.0, 0.5, -3.0]]])  # nu near 2 + 8 and near 2.05; y far out
    y = np.array([[25.0, -0.2]])
    np.testing.assert_allclose(heads.loss("studentt", raw, y)[1], _numeric("studentt", raw, y), rtol=1e-6, atol=1e-9)


def test_quantiles_are_ordered_whatever_the_raw_outputs():
    raw = np.random.default_rng(3).standard_normal((50, 2, len(heads.LEVELS))) * 10
    q = heads.parameters("quantile", raw)["q"]
    assert (np.diff(q, axis=-1) > 0).all()


def test_scale_and_degrees_of_freedom_stay_in_range():
    raw = np.array([[-50.0, -50.0, -50.0], [50.0, 50.0, 50.0]])
    p = heads.parameters("studentt", raw)
    assert (p["sigma"] >= heads.SIGMA_MIN).all() and (p["nu"] >= 2).all() and np.isfinite(p["nu"]).all()


def test_digamma_against_its_recurrence_and_known_values():
    euler = 0.5772156649015329
    assert heads.digamma(np.array([1.0]))[0] == pytest.approx(-euler, abs=1e-12)
    assert heads.digamma(np.array([0.5]))[0] == pytest.approx(-euler - 2 * math.log(2), abs=1e-12)
    x = np.linspace(0.05, 40, 200)
    np.testing.assert_allclose(heads.digamma(x + 1) - heads.digamma(x), 1 / x, rtol=1e-11, atol=1e-12)


def test_pinball_by_hand():
    q = np.array([[1.0, 2.0]])
    # y = 1.5: u = 0.1 on q = 1 (under-predicted by 0.5): 0.1 * 0.5; u = 0.9 on q = 2 (over): 0.1 * 0.5
    np.testing.assert_allclose(heads.pinball(q, np.array([1.5]), levels=(0.1, 0.9)), [[0.05, 0.05]])


# -- tier 2: torch autograd on the same equations ------------------------------------------------------
def _torch_loss(torch, distribution, raw, y):
    F = torch.nn.functional
    if distribution == "normal":
        mu, sigma = raw[..., 0], F.softplus(raw[..., 1]) + heads.SIGMA_MIN
        return -torch.distributions.Normal(mu, sigma).log_prob(y).mean()
    if distribution == "studentt":
        mu, sigma, nu = raw[..., 0], F.softplus(raw[..., 1]) + heads.SIGMA_MIN, 2 + F.softplus(raw[..., 2])
        return -torch.distributions.StudentT(nu, mu, sigma).log_prob(y).mean()
    steps = torch.cat([raw[..., :1], F.softplus(raw[..., 1:])], dim=-1)
    q = torch.cumsum(steps, dim=-1)
    u = torch.tensor(heads.LEVELS, dtype=torch.float64)
    e = y[..., None] - q
    return torch.maximum(u * e, (u - 1) * e).mean()


@pytest.mark.parametrize("distribution", DISTS)
@pytest.mark.parametrize("seed", [0, 5])
def test_loss_and_gradient_match_torch(distribution, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((8, 2, heads.n_params(distribution))) * 2
    y = rng.standard_normal((8, 2)) * 3
    value, grad = heads.loss(distribution, raw, y)
    t_raw = torch.tensor(raw, requires_grad=True)
    t_value = _torch_loss(torch, distribution, t_raw, torch.tensor(y))
    t_value.backward()
    assert value == pytest.approx(float(t_value.detach()), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, t_raw.grad.numpy(), rtol=1e-9, atol=1e-12)
