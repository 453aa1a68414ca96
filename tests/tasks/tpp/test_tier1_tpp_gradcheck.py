"""Tier 1 for the point processes: every hand-derived gradient against central finite differences in
float64 -- the two neural losses (``dists.rmtpp_nll_backward``, ``dists.lognormmix_nll_backward``)
on mixed event / silence rows and on each of their numerical branches, the Hawkes baseline's
analytic ``log_likelihood`` gradient, and the whole ``PointProcess._loss`` +
``PointProcessNetwork.backward`` path to every parameter."""

import math

import numpy as np
import pytest

from unrolled.tasks.tpp import dists
from unrolled.tasks.tpp.baselines import _padded, log_likelihood
from unrolled.tasks.tpp.events import EventSequence
from unrolled.tasks.tpp.model import PointProcess
from unrolled.tasks.tpp.network import PointProcessNetwork
from unrolled.train.gradcheck import gradcheck, numerical_gradient

TOL = 1e-7


# -- RMTPP ------------------------------------------------------------------------------------------

# (w, tau): every row's w tau either well inside the series branch (|w tau| < 1e-4, at least
# 1e-5 of it away from the switch so no central difference straddles it) or well outside it.
RMTPP_CASES = {
    "w>0": (0.7, [0.05, 0.4, 1.3, 2.0, 3.1, 0.9]),
    "w<0": (-0.45, [0.05, 0.4, 1.3, 2.0, 3.1, 0.9]),
    "w tiny>0 (series)": (3e-5, [0.05, 0.4, 1.3, 2.0, 0.7, 0.9]),
    "w tiny<0 (series)": (-2e-5, [0.05, 0.4, 1.3, 2.0, 0.7, 0.9]),
    "w=0 (series)": (0.0, [0.05, 0.4, 1.3, 2.0, 0.7, 0.9]),
    "mixed branches": (0.8, [1e-6, 5e-5, 0.3, 2.5, 2e-7, 1.1]),  # w tau: 8e-7, 4e-5 (series), 0.24, ...
}


@pytest.mark.parametrize("case", list(RMTPP_CASES))
def test_rmtpp_nll_backward(case):
    w0, tau = RMTPP_CASES[case]
    rng = np.random.default_rng(list(RMTPP_CASES).index(case))
    tau = np.asarray(tau)
    a = rng.normal(-0.3, 0.8, len(tau))
    w = np.array([w0])
    observed = np.array([True, False, True, True, False, True])
    g = rng.uniform(0.2, 1.5, len(tau))

    def loss():
        return float(np.sum(g * dists.rmtpp_nll(a, w[0], tau, observed)))

    da, dw = dists.rmtpp_nll_backward(a, w[0], tau, observed, g)
    assert da.shape == a.shape and isinstance(dw, float)
    gradcheck(loss, {"a": a, "w": w}, {"a": da, "w": np.array([dw])}, tol=TOL)


def test_rmtpp_series_branch_meets_the_closed_form_at_the_switch():
    """f(x) = expm1(x) / x and f'(x) on both sides of |x| = SMALL: the same to ~1e-12 (no jump for
    a central difference or an optimiser to trip on)."""
    for edge in (dists.SMALL, -dists.SMALL):
        x = np.array([edge * (1 - 1e-9), edge * (1 + 1e-9)])
        f, df = dists._expm1_over_x(x)
        exact_f = 1 + x / 2 + x * x / 6 + x ** 3 / 24
        exact_df = 0.5 + x / 3 + x * x / 8 + x ** 3 / 30
        np.testing.assert_allclose(f, exact_f, rtol=1e-13)
        np.testing.assert_allclose(df, exact_df, rtol=1e-10)  # the closed form's df cancels ~eps / x


# -- the log-normal mixture ----------------------------------------------------------------------------

def lognormmix_case(K, seed, tail_rows=0):
    """M = 6 + tail_rows intervals: events and silences at ordinary z, plus ``tail_rows`` silences
    where every component sits deep in the tail (z > 30: the asymptotic branch of
    ``log_normal_tail``), and one silence far below every component (z < -8: Q ~ 1, H ~ 0)."""
    rng = np.random.default_rng(seed)
    m, s = -0.4, 1.3
    M = 6 + tail_rows
    logits = rng.normal(0, 1, (M, K))
    mu = rng.normal(0, 1, (M, K))
    log_sigma = rng.normal(-0.2, 0.3, (M, K))
    tau = np.exp(m + s * rng.normal(0, 1.2, M))
    observed = np.array([True, False, True, False, True, False] + [False] * tail_rows)
    # row 5: a silence long before any component: y far below mu
    tau[5] = np.exp(m + s * (mu[5].min() - 9 * np.exp(log_sigma[5]).max()))
    for r in range(6, M):  # every component's z in (31, 60)
        sigma = np.exp(log_sigma[r])
        y = (mu[r] + sigma * rng.uniform(31, 60, K)).max()
        tau[r] = np.exp(m + s * y)
        z = (y - mu[r]) / sigma
        assert (z > 30.5).all()
    g = rng.uniform(0.2, 1.5, M)
    return logits, mu, log_sigma, tau, observed, m, s, g


@pytest.mark.parametrize("K,tail_rows", [(1, 0), (1, 2), (3, 0), (3, 3), (5, 2)])
def test_lognormmix_nll_backward(K, tail_rows):
    logits, mu, log_sigma, tau, observed, m, s, g = lognormmix_case(K, 10 * K + tail_rows, tail_rows)

    def loss():
        return float(np.sum(g * dists.lognormmix_nll(logits, mu, log_sigma, tau, observed, m, s)))

    assert np.isfinite(loss())
    arrays = {"logits": logits, "mu": mu, "log_sigma": log_sigma}
    analytic = dict(zip(arrays, dists.lognormmix_nll_backward(logits, mu, log_sigma, tau, observed, m, s, g)))
    for name in arrays:
        assert analytic[name].shape == arrays[name].shape, name
    # the tail rows' values are ~ z^2 / 2 ~ 1e3: a central difference keeps ~1e-7 of the gradient
    gradcheck(loss, arrays, analytic, tol=TOL if not tail_rows else 1e-6)
    if K == 1:  # one component: the weight is 1 whatever its logit
        np.testing.assert_array_equal(analytic["logits"], 0.0)


def test_log_normal_tail_is_continuous_at_the_switch():
    """log Q and the hazard on both sides of z = 30 (erfc below, the asymptotic series above)."""
    d = 1e-9
    below, above = dists.log_normal_tail(np.array([30.0 - d, 30.0 + d]))
    step = -dists.mills_hazard(np.array([30.0]))[0] * 2 * d  # what the slope -H(30) accounts for
    assert abs((above - below) - step) < 1e-12  # rounding of |log Q| ~ 454 is ~1e-13
    # H changes by ~2d (dH/dz ~ 1) = 7e-11 of itself across the gap; the old two-term series jumped 2e-8
    np.testing.assert_allclose(*dists.mills_hazard(np.array([30.0 - d, 30.0 + d])), rtol=1e-9)


def test_lognormmix_tail_rows_checked_row_by_row():
    """The asymptotic rows alone, so an error there is not diluted by the others' larger gradients."""
    logits, mu, log_sigma, tau, observed, m, s, g = lognormmix_case(2, 99, tail_rows=3)
    rows = slice(6, 9)
    logits, mu, log_sigma, tau, observed, g = (x[rows].copy() for x in (logits, mu, log_sigma, tau, observed, g))

    def loss():
        return float(np.sum(g * dists.lognormmix_nll(logits, mu, log_sigma, tau, observed, m, s)))

    analytic = dists.lognormmix_nll_backward(logits, mu, log_sigma, tau, observed, m, s, g)
    for p, d in zip((logits, mu, log_sigma), analytic):
        numeric = numerical_gradient(loss, p, eps=1e-5)
        np.testing.assert_allclose(d, numeric, rtol=1e-6, atol=1e-6 * np.abs(d).max())


# -- the Hawkes baseline ------------------------------------------------------------------------------

def hawkes_sequences():
    return [EventSequence([0.3, 0.35, 1.2, 2.9, 3.0, 4.4], 6.0),
            EventSequence([0.8], 2.5),
            EventSequence([0.1, 0.2, 0.25, 5.0], 5.0),  # ends at its last event
            EventSequence([1.5, 3.3, 3.31], 7.0)]


@pytest.mark.parametrize("params", [(0.2, 0.8, 1.0), (0.9, 0.3, 4.0), (0.05, 1.4, 0.3)])
def test_hawkes_log_likelihood_gradient(params):
    p = np.array(params, dtype=np.float64)
    padded = _padded(hawkes_sequences())
    _, grad = log_likelihood(p, *padded)
    gradcheck(lambda: float(log_likelihood(p, *padded)[0]), {"params": p}, {"params": grad}, tol=TOL)


def test_hawkes_log_likelihood_value_is_the_direct_sum():
    """The recursion against sum_i log lambda*(t_i) - int_0^T lambda*, written out pairwise."""
    mu, alpha, beta = 0.3, 0.6, 1.7
    seqs = hawkes_sequences()
    want = 0.0
    for q in seqs:
        t = q.times
        lag = t[:, None] - t[None, :]
        lam = mu + alpha * beta * np.where(lag > 0, np.exp(-beta * np.where(lag > 0, lag, 0)), 0).sum(1)
        want += np.log(lam).sum() - mu * q.t_end - alpha * (1 - np.exp(-beta * (q.t_end - t))).sum()
    got, _ = log_likelihood(np.array([mu, alpha, beta]), *_padded(seqs))
    assert math.isclose(got, want, rel_tol=1e-12)


# -- the whole estimator path ----------------------------------------------------------------------------

def event_sequences(n_marks, rng):
    """Four windows: different lengths, one of a single event, one ending at its last event."""
    out = []
    for n, t_end in ((5, 6.0), (1, 2.0), (3, None), (4, 9.0)):
        times = np.cumsum(rng.exponential(1.0, n)) + 0.01
        end = times[-1] if t_end is None else max(t_end, times[-1] + 0.5)
        marks = rng.integers(0, n_marks, n) if n_marks else None
        out.append(EventSequence(times, end, marks))
    return out


def estimator(model, cell, n_marks, seed=0):
    pp = PointProcess(model, cell=cell, hidden_size=4, n_components=3, mark_dim=2, num_layers=1, seed=seed)
    pp.net_ = PointProcessNetwork(model, cell, n_marks, 2, 4, 1, 0.0, 3, dtype=np.float64, seed=seed)
    pp.m_, pp.s_, pp.n_marks_ = -0.2, 0.9, n_marks
    return pp


MODELS, CELLS = ("rmtpp", "lognormmix"), ("gru", "lstm")


@pytest.mark.parametrize("n_marks", [0, 1, 3])  # 1: a mark embedding but no mark head
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("model", MODELS)
def test_point_process_loss_backward(model, cell, n_marks):
    rng = np.random.default_rng([MODELS.index(model), CELLS.index(cell), n_marks])
    pp = estimator(model, cell, n_marks)
    net = pp.net_
    if model == "rmtpp":
        # both signs, away from the series branch's switch for the central differences
        net.params["w"][0] = 0.3 if cell == "gru" else -0.25
    iv = pp._intervals(event_sequences(n_marks, rng))
    assert (~iv.observed).sum() == 3  # three silences: the window that ends at its last event has none

    def loss():
        theta, logits = net.forward(iv.time_x, iv.marks, iv.lengths)
        return pp._loss(iv, theta, logits)

    net.zero_grad()
    theta, logits = net.forward(iv.time_x, iv.marks, iv.lengths)
    value, dtheta, dlogits, dw = pp._loss(iv, theta, logits, backward=True)
    assert value == pytest.approx(loss(), rel=1e-14)
    assert (dlogits is None) == (n_marks <= 1)
    net.backward(dtheta, dlogits, dw)

    expected = {"w"} if model == "rmtpp" else set()
    expected |= {k for k in net.params if k.startswith(("rnn.", "time_head."))}
    if n_marks:
        expected |= {"marks.weight"} | ({"mark_head.weight", "mark_head.bias"} if n_marks > 1 else set())
    assert expected == set(net.params)
    for name, p in net.params.items():
        flat, gflat = p.reshape(-1), net.grads[name].reshape(-1)
        picks = rng.choice(flat.size, size=min(flat.size, 4), replace=False)
        if name.startswith("marks."):  # rows that are read: the marks seen and START
            picks = np.unique(np.concatenate([picks, [p.shape[1] * n_marks]]))
        for k in picks:
            old = flat[k]
            eps = 1e-6
            flat[k] = old + eps
            up = loss()
            flat[k] = old - eps
            down = loss()
            flat[k] = old
            numeric = (up - down) / (2 * eps)
            assert gflat[k] == pytest.approx(numeric, rel=1e-6, abs=1e-9), f"{name}[{k}]"
