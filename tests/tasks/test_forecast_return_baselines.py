"""The next-day return baselines (return_baselines): one step ahead with no look-ahead, GARCH's
recursion against arch's own filter, parameters from the training part only, and the rolling
normal and empirical windows by hand."""

import sys

import numpy as np
import pytest

from unrolled.tasks.forecast import return_baselines as rb
from unrolled.tasks.forecast.distributions import Empirical, Normal, StudentT


def garch_returns(n=700, seed=0):
    """Log returns from a GARCH(1,1) with t(6) innovations (daily scale, about 1% volatility)."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta, nu, mu = 1e-6, 0.08, 0.9, 6.0, 3e-4
    z = rng.standard_t(nu, n) * np.sqrt((nu - 2) / nu)
    r, s2 = np.empty(n), omega / (1 - alpha - beta)
    for t in range(n):
        r[t] = mu + np.sqrt(s2) * z[t]
        s2 = omega + alpha * (r[t] - mu) ** 2 + beta * s2
    return r


R = garch_returns()
TRAIN = 500


def arrays(d):
    """A distribution's parameters, one row a day: (days, ...)."""
    if isinstance(d, StudentT):
        return np.stack([d.mu, d.scale, np.broadcast_to(d.nu, np.shape(d.mu))], axis=1)
    if isinstance(d, Normal):
        return np.stack([d.mu, d.sigma], axis=1)
    return np.asarray(d.samples)


def test_log_returns():
    p = np.array([100.0, 110.0, 99.0, 99.0])
    np.testing.assert_allclose(rb.log_returns(p), np.log([1.1, 0.9, 1.0]))
    with pytest.raises(ValueError, match="positive finite prices; row 2"):
        rb.log_returns([1.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="at least 2 prices"):
        rb.log_returns([1.0])


def test_rolling_normal_is_mean_zero_and_np_std_of_the_last_20_returns():
    d = rb.rolling_normal(R, TRAIN)
    assert isinstance(d, Normal) and d.sigma.shape == (len(R) - TRAIN,)
    for t in (TRAIN, TRAIN + 1, 650, len(R) - 1):
        window = [R[s] for s in range(t - 20, t)]
        assert d.sigma[t - TRAIN] == pytest.approx(np.std(window), rel=1e-12)
        assert d.mu[t - TRAIN] == 0.0
    small = rb.rolling_normal(R, 3, window=3)
    assert small.sigma[0] == pytest.approx(np.std(R[:3]), rel=1e-12)


def test_empirical_holds_the_last_window_returns_before_each_day():
    d = rb.empirical(R, TRAIN)
    assert isinstance(d, Empirical)
    s = np.asarray(d.samples)
    assert s.shape == (len(R) - TRAIN, 250)
    np.testing.assert_array_equal(s[0], R[TRAIN - 250:TRAIN])
    np.testing.assert_array_equal(s[-1], R[len(R) - 1 - 250:len(R) - 1])
    r = np.arange(1.0, 8.0)  # returns 1..7
    np.testing.assert_array_equal(np.asarray(rb.empirical(r, 4, window=3).samples),
                                  [[2, 3, 4], [3, 4, 5], [4, 5, 6]])


def test_windows_need_enough_past_returns():
    with pytest.raises(ValueError, match="needs 20 returns before the first forecast day"):
        rb.rolling_normal(R, 19)
    with pytest.raises(ValueError, match="use 250 <= start < 700"):
        rb.empirical(R, 700)
    with pytest.raises(ValueError, match="window=1 is invalid"):
        rb.rolling_normal(R, TRAIN, window=1)
    bad = R.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match=r"returns\[5\] is nan"):
        rb.empirical(bad, TRAIN)


@pytest.mark.parametrize("name", ["garch11_t", "rolling_normal_20", "empirical"])
def test_no_look_ahead(name):
    if name == "garch11_t":
        pytest.importorskip("arch")
    make = {"garch11_t": lambda r: rb.garch_t(r, TRAIN)[0], "rolling_normal_20": lambda r: rb.rolling_normal(r, TRAIN),
            "empirical": lambda r: rb.empirical(r, TRAIN)}[name]
    k = 600  # a test day: its return changes, every day up to it must not
    moved = R.copy()
    moved[k] += 0.05
    a, b = arrays(make(R)), arrays(make(moved))
    np.testing.assert_array_equal(a[:k - TRAIN + 1], b[:k - TRAIN + 1])
    assert not np.array_equal(a[k - TRAIN + 1], b[k - TRAIN + 1])  # the next day sees it


def test_garch_recursion_matches_arch_on_the_test_days():
    arch = pytest.importorskip("arch")
    d, prm = rb.garch_t(R, TRAIN)
    n = len(R) - TRAIN
    assert isinstance(d, StudentT) and d.scale.shape == (n,)
    assert {"mu", "omega", "alpha", "beta", "nu"} <= set(prm) and 2 < prm["nu"] and prm["alpha"] + prm["beta"] < 1
    np.testing.assert_allclose(d.mu, prm["mu"] / 100, rtol=1e-12)
    np.testing.assert_allclose(d.nu, prm["nu"], rtol=1e-12)
    sigma = d.scale / np.sqrt((prm["nu"] - 2) / prm["nu"]) * 100  # back to arch's unit-variance sigma, in %

    # arch's own: the same model on the whole series, fitted on the first TRAIN returns only
    model = arch.arch_model(100 * R, mean="Constant", vol="GARCH", p=1, q=1, dist="t", rescale=False)
    res = model.fit(disp="off", last_obs=TRAIN)
    np.testing.assert_allclose(res.params.to_numpy(), [prm[k] for k in ("mu", "omega", "alpha", "beta", "nu")],
                               rtol=1e-8)
    fc = res.forecast(horizon=1, start=TRAIN - 1, reindex=False)  # row i: made on day TRAIN-1+i for the next
    np.testing.assert_allclose(np.sqrt(fc.variance.to_numpy()[:n, 0]), sigma, rtol=1e-8)
    np.testing.assert_allclose(fc.mean.to_numpy()[:n, 0], prm["mu"], rtol=1e-12)
    fixed = model.fix(res.params)  # the filter with fixed parameters through every day
    np.testing.assert_allclose(np.asarray(fixed.conditional_volatility)[TRAIN:], sigma, rtol=1e-8)


def test_garch_parameters_come_from_the_training_part_only():
    pytest.importorskip("arch")
    d, prm = rb.garch_t(R, TRAIN)
    longer = rb.fit_garch(R[:650]).params.to_numpy()
    train = rb.fit_garch(R[:TRAIN]).params.to_numpy()
    ours = np.array([prm[k] for k in ("mu", "omega", "alpha", "beta", "nu")])
    np.testing.assert_allclose(ours, train, rtol=1e-10)
    assert not np.allclose(longer, train, rtol=1e-3)  # a longer fit would differ ...
    moved = R.copy()
    moved[TRAIN:] *= 3.0  # ... and no test return reaches the parameters
    np.testing.assert_allclose([rb.garch_t(moved, TRAIN)[1][k] for k in ("mu", "omega", "alpha", "beta", "nu")],
                               ours, rtol=1e-12)
    assert prm["train_returns"] == TRAIN and prm["scale"] == 100.0


def test_baselines_by_name_and_without_arch(monkeypatch):
    pytest.importorskip("arch")
    dists, left_out = rb.baselines(R, TRAIN)
    assert list(dists) == ["garch11_t", "rolling_normal_20", "empirical"] and left_out == {}
    assert all(len(arrays(d)) == len(R) - TRAIN for d in dists.values())

    monkeypatch.setitem(sys.modules, "arch", None)  # import arch now raises ImportError
    with pytest.raises(ValueError, match=r'pip install "unrolled\[garch\]"'):
        rb.garch_t(R, TRAIN)
    dists, left_out = rb.baselines(R, TRAIN)
    assert list(dists) == ["rolling_normal_20", "empirical"]
    assert 'pip install "unrolled[garch]"' in left_out["garch11_t"]


def test_garch_needs_enough_training_returns():
    with pytest.raises(ValueError, match="GARCH.*needs 100 returns"):
        rb.garch_t(R[:150], 50)
