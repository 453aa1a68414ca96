"""Forecast distributions and their scores: each class's density integrates to 1 and to its CDF,
ppf inverts cdf, the CRPS closed forms equal the integral of (F - 1{x >= y})^2, shift_scale is exact;
the Student-t against scipy; the scores, Kupiec's and Christoffersen's tests on worked examples."""

import math

import numpy as np
import pytest

from unrolled.tasks.forecast import scoring
from unrolled.tasks.forecast.distributions import GRID, Empirical, Normal, Quantiles, StudentT

LEVELS = [0.05, 0.25, 0.5, 0.75, 0.95]


def make(kind):
    """Three days' distributions of each kind, returns-sized."""
    mu, s = np.array([0.0, 0.01, -0.02]), np.array([0.01, 0.02, 0.005])
    if kind == "normal":
        return Normal(mu, s)
    if kind == "t":
        return StudentT(mu, s, [2.5, 5.0, 30.0])
    if kind == "quantiles":
        return Quantiles(LEVELS, [[-0.02, -0.005, 0.0, 0.004, 0.03], [-0.01, 0.0, 0.01, 0.02, 0.05],
                                  [-0.03, -0.025, -0.02, -0.018, -0.01]])
    return Empirical(np.random.default_rng(0).standard_t(4, size=(3, 60)) * s[:, None] + mu[:, None])


KINDS = ["normal", "t", "quantiles", "empirical"]


def grid(day, n=20_001):
    """Points for day's integrals: ``x = m + s sinh(v)``, v uniform, |x - m| up to 1e5 s (m the median, s the
    interquartile range: the spacing grows with |x|, for heavy tails); for a quantile distribution also its
    knots and its quantiles at n levels (its exponential tails can be much narrower than s)."""
    m, s = day.median()[0], (day.ppf(0.75) - day.ppf(0.25))[0]
    x = m + s * np.sinh(np.linspace(-math.asinh(1e5), math.asinh(1e5), n))
    if isinstance(day, Quantiles):
        u = 1 / (1 + np.exp(-np.linspace(-30, 30, n)))
        x = np.concatenate([x, day.values[0], day.ppf(u)])
    return np.unique(x)


def midpoints(f, x):
    """int f over each [x_i, x_i+1] by the midpoint rule (exact for the piecewise-constant density of
    ``Quantiles``, whose knots are grid points)."""
    return f((x[1:] + x[:-1]) / 2) * np.diff(x)


def trapezoid(f, x):
    return float(np.sum((f[1:] + f[:-1]) * np.diff(x)) / 2)


# -- the distributions ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_density_integrates_to_one_its_integral_is_the_cdf_and_its_mean_is_mean(kind):
    dist = make(kind)
    for i in range(len(dist)):
        day = dist.take([i])
        x = grid(day)
        mass = midpoints(lambda v: np.exp(day.logpdf(v)), x)
        assert abs(mass.sum() - 1) < 1e-6
        np.testing.assert_allclose(day.cdf(x[0]) + np.concatenate([[0.0], np.cumsum(mass)]), day.cdf(x), atol=1e-6)
        spread = (day.ppf(0.9) - day.ppf(0.1))[0]
        mean = midpoints(lambda v: v * np.exp(day.logpdf(v)), x).sum()
        assert abs(mean - day.mean()[0]) < 1e-6 * spread


@pytest.mark.parametrize("kind", KINDS)
def test_ppf_inverts_cdf(kind):
    dist = make(kind)
    for u in [1e-9, 1e-3, 0.01, 0.05, 0.25, 0.5, 0.8, 0.95, 0.99, 1 - 1e-6]:
        np.testing.assert_allclose(dist.cdf(dist.ppf(u)), u, rtol=1e-10, atol=1e-13)
    y = dist.ppf(np.array([0.3, 0.6, 0.97]))  # one level per day
    np.testing.assert_allclose(dist.cdf(y), [0.3, 0.6, 0.97], rtol=1e-10)
    np.testing.assert_allclose(dist.ppf(dist.cdf(y)), y, rtol=1e-9, atol=1e-12)
    assert np.all(dist.ppf(0.0) == -np.inf) and np.all(dist.ppf(1.0) == np.inf)
    np.testing.assert_allclose(dist.median(), dist.ppf(0.5), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
def test_crps_equals_the_integral_of_the_squared_cdf_difference(kind):
    dist = make(kind)
    for i in range(len(dist)):
        day = dist.take([i])
        x = grid(day)
        F = day.cdf(x)
        for y in day.ppf(np.array([1e-4, 0.03, 0.4, 0.5, 0.9, 0.999])):  # in the tails and the body
            Fy, low = day.cdf(y)[0], x < y
            below = trapezoid(np.append(F[low], Fy) ** 2, np.append(x[low], y))
            above = trapezoid((1 - np.insert(F[~low], 0, Fy)) ** 2, np.insert(x[~low], 0, y))
            np.testing.assert_allclose(day.crps(np.array([y]))[0], below + above, rtol=1e-5)


def test_normal_crps_at_its_mean_is_the_hand_value():
    # CRPS(N(0, 1), 0) = 2 phi(0) - 1/sqrt(pi) = (sqrt 2 - 1) / sqrt pi
    hand = 2 / math.sqrt(2 * math.pi) - 1 / math.sqrt(math.pi)
    assert Normal(0.0, 1.0).crps(0.0)[0] == pytest.approx(hand, rel=1e-14)
    assert Normal(3.0, 2.0).crps(3.0)[0] == pytest.approx(2 * (math.sqrt(2) - 1) / math.sqrt(math.pi), rel=1e-14)


def test_student_t_crps_tends_to_the_normals_as_nu_grows():
    y = np.array([-2.0, 0.0, 0.7, 3.0])
    np.testing.assert_allclose(StudentT(0.0, 1.0, 1e6).crps(y), Normal(0.0, 1.0).crps(y), rtol=1e-5)


def test_student_t_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    n = 200
    mu, s, nu = rng.normal(0, 0.01, n), rng.uniform(0.005, 0.03, n), rng.uniform(2.05, 60, n)
    dist, y = StudentT(mu, s, nu), mu + s * rng.standard_t(3, n)
    np.testing.assert_allclose(dist.logpdf(y), stats.t.logpdf(y, nu, mu, s), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dist.cdf(y), stats.t.cdf(y, nu, mu, s), rtol=1e-11, atol=1e-14)
    for u in [1e-10, 0.001, 0.01, 0.05, 0.2, 0.3, 0.5, 0.6, 0.95, 0.999]:
        np.testing.assert_allclose(dist.ppf(u), stats.t.ppf(u, nu, mu, s), rtol=1e-10, atol=1e-15)
    u = rng.uniform(0, 1, n)
    np.testing.assert_allclose(dist.ppf(u), stats.t.ppf(u, nu, mu, s), rtol=1e-10, atol=1e-15)


def test_normal_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    u = np.array([1e-300, 1e-12, 0.001, 0.02425, 0.3, 0.5, 0.7, 0.99, 1 - 1e-12])
    np.testing.assert_allclose(Normal(0.01, 0.02).ppf(u), stats.norm.ppf(u, 0.01, 0.02), rtol=1e-14)
    y = np.linspace(-0.2, 0.2, 41)
    np.testing.assert_allclose(Normal(0.01, 0.02).cdf(y), stats.norm.cdf(y, 0.01, 0.02), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(Normal(0.01, 0.02).logpdf(y), stats.norm.logpdf(y, 0.01, 0.02), rtol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_shift_scale_is_exact(kind):
    dist = make(kind)
    a, b = np.array([0.5, -1.0, 2.0]), np.array([2.0, 0.5, 3.0])
    moved = dist.shift_scale(a, b)
    y = dist.ppf(np.array([0.02, 0.5, 0.99])) + np.array([0.001, -0.002, 0.0])
    np.testing.assert_allclose(moved.cdf(a + b * y), dist.cdf(y), rtol=1e-9)
    np.testing.assert_allclose(moved.logpdf(a + b * y), dist.logpdf(y) - np.log(b), rtol=1e-9)
    np.testing.assert_allclose(moved.crps(a + b * y), b * dist.crps(y), rtol=1e-9)
    np.testing.assert_allclose(moved.ppf(0.1), a + b * dist.ppf(0.1), rtol=1e-12)
    np.testing.assert_allclose(moved.mean(), a + b * dist.mean(), rtol=1e-12)
    assert type(moved) is type(dist) and moved.len() == len(dist) == 3
    with pytest.raises(ValueError, match="b"):
        dist.shift_scale(0.0, -1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_take_picks_days_and_one_distribution_stands_for_every_day(kind):
    dist = make(kind)
    y = dist.median() + 0.003
    np.testing.assert_array_equal(dist.take([2, 0]).cdf(y[[2, 0]]), dist.cdf(y)[[2, 0]])
    one = dist.take([1])
    np.testing.assert_allclose(one.logpdf(y), [one.logpdf(v)[0] for v in y])
    assert one.ppf(np.array([0.1, 0.5, 0.9])).shape == (3,)


def test_quantiles_tails_ties_and_checks():
    q = Quantiles([0.1, 0.5, 0.9], [[-1.0, 0.0, 2.0]])
    # exponential tails continuing the outer segments' densities: d = 0.4 / 1 left, 0.4 / 2 right
    np.testing.assert_allclose(q.logpdf([-1.0, -3.0, 2.0, 6.0]),
                               [math.log(0.4), math.log(0.4) - 2 / 0.25, math.log(0.2), math.log(0.2) - 4 / 0.5])
    np.testing.assert_allclose(q.cdf([-3.0, -1.0, -0.5, 1.0, 4.0]),
                               [0.1 * math.exp(-8), 0.1, 0.3, 0.7, 1 - 0.1 * math.exp(-4)])
    np.testing.assert_allclose(q.mean(), 0.4 * -0.5 + 0.4 * 1.0 + 0.1 * (-1 - 0.25) + 0.1 * (2 + 0.5))
    tied = Quantiles(LEVELS, [0.0, 0.0, 0.0, 0.01, 0.02])  # an atom at 0: finite, if large, density
    assert np.all(np.isfinite(tied.logpdf(np.array([-1.0, 0.0, 1e-12, 0.015, 5.0]))))
    assert np.all(np.diff(tied.cdf(np.linspace(-0.01, 0.03, 101))) >= 0)
    np.testing.assert_allclose(tied.cdf(tied.ppf(0.3)), 0.3, rtol=1e-9)
    for levels, values in [([0.5, 0.1], [0, 1]), ([0.0, 0.5], [0, 1]), ([0.5], [0]), ([0.1, 0.9], [1, 0]),
                           ([0.1, 0.9], [[0, 1, 2]])]:
        with pytest.raises(ValueError):
            Quantiles(levels, values)


def test_empirical_quantiles_are_numpys_on_its_grid():
    sample = np.random.default_rng(2).standard_normal((4, 37))
    emp = Empirical(sample)
    for u in [0.01, 0.025, 0.05, 0.5, 0.95, 0.99]:
        assert u in GRID
        np.testing.assert_allclose(emp.ppf(u), np.quantile(sample, u, axis=1), rtol=1e-12, atol=1e-15)
    shared = Empirical(sample[0])  # one sample for every day
    assert len(shared) == 1 and shared.ppf(np.array([0.05, 0.5])).shape == (2,)
    with pytest.raises(ValueError, match="M >= 2"):
        Empirical([[1.0]])


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="sigma"):
        Normal([0.0, 0.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="nu"):
        StudentT(0.0, 1.0, 2.0)
    with pytest.raises(ValueError, match="lengths"):
        Normal([0.0, 1.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="levels"):
        Normal(0.0, 1.0).ppf(1.5)


# -- the scores -----------------------------------------------------------------------------------
HAND = Quantiles([0.05, 0.5, 0.95], [-1.0, 0.0, 1.0])  # every day: 90% interval [-1, 1], median 0


def test_coverage_and_width_by_hand():
    y = np.array([0.0, 0.5, -1.0, 1.0, -0.9, 0.1, 0.99, -0.3, 0.2, 3.0])  # 9 of 10 in [-1, 1], ends included
    assert scoring.coverage(HAND, y, 0.9) == pytest.approx(0.9)
    assert scoring.width(HAND, 0.9) == pytest.approx(2.0)
    assert scoring.coverage(Normal(np.zeros(10), 1.0), y, 0.9) == pytest.approx(0.9)  # [-1.645, 1.645]
    assert scoring.width(Normal(np.zeros(10), 1.0), 0.9) == pytest.approx(2 * 1.6448536269514722, rel=1e-12)


def test_pinball_by_hand():
    assert scoring.pinball(HAND, [1.0, -2.0], 0.5) == pytest.approx((0.5 * 1 + 0.5 * 2) / 2)
    assert scoring.pinball(HAND, [2.0, 0.0], 0.95) == pytest.approx((0.95 * 1 + 0.05 * 1) / 2)  # q = 1
    assert scoring.pinball(HAND, [-2.0, 0.0], 0.05) == pytest.approx((0.95 * 1 + 0.05 * 1) / 2)  # q = -1


def test_nll_crps_pit_and_var_hits():
    y = np.array([0.0, 1.0, -2.5])
    dist = Normal(0.0, 1.0)
    assert scoring.nll(dist, y) == pytest.approx(np.mean(0.5 * y ** 2 + 0.5 * math.log(2 * math.pi)))
    assert scoring.crps(dist, y) == pytest.approx(np.mean(dist.crps(y)))
    np.testing.assert_allclose(scoring.pit(dist, y), [0.5, 0.8413447460685429, 0.006209665325776132], rtol=1e-12)
    np.testing.assert_array_equal(scoring.var_hits(dist, y, 0.95), [False, False, True])  # below -1.645
    np.testing.assert_array_equal(scoring.var_hits(HAND, [-1.5, -1.0, -0.5], 0.95), [True, False, False])
    with pytest.raises(ValueError, match="one per day"):
        scoring.nll(Normal([0.0, 0.0], 1.0), y)


def test_kupiec_by_hand():
    hits = np.zeros(100, dtype=bool)
    hits[[3, 17, 40, 41, 60, 77, 80, 99]] = True  # x = 8 hits in n = 100 days, p = 0.05
    lr = -2 * ((92 * math.log(0.95) + 8 * math.log(0.05)) - (92 * math.log(0.92) + 8 * math.log(0.08)))
    out = scoring.kupiec(hits, 0.05)
    assert out["lr"] == pytest.approx(lr, rel=1e-12) and out["rate"] == 0.08
    assert out["p_value"] == pytest.approx(math.erfc(math.sqrt(lr / 2)), rel=1e-12)
    none, every = scoring.kupiec(np.zeros(100, bool), 0.05), scoring.kupiec(np.ones(100, bool), 0.05)
    assert none["lr"] == pytest.approx(-2 * 100 * math.log(0.95)) and none["rate"] == 0.0  # 0 log 0 = 0
    assert every["lr"] == pytest.approx(-2 * 100 * math.log(0.05)) and every["rate"] == 1.0
    exact = scoring.kupiec(np.arange(100) % 20 == 0, 0.05)  # 5 hits in 100: the rate expected
    assert exact["lr"] == pytest.approx(0.0, abs=1e-12) and exact["p_value"] == pytest.approx(1.0)
    stats = pytest.importorskip("scipy.stats")
    for h in (hits, np.zeros(100, bool), np.arange(250) % 7 == 0):
        out = scoring.kupiec(h, 0.05)
        assert out["p_value"] == pytest.approx(stats.chi2.sf(out["lr"], 1), rel=1e-10)


def test_christoffersen_by_hand():
    hits = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0], dtype=bool)
    # the 13 transitions: 00 01 11 10 00 00 01 10 00 01 11 11 10
    n00, n01, n10, n11 = 4, 3, 3, 3
    pi01, pi11, pi = n01 / (n00 + n01), n11 / (n10 + n11), (n01 + n11) / 13
    lr = -2 * ((n00 + n10) * math.log(1 - pi) + (n01 + n11) * math.log(pi)
               - n00 * math.log(1 - pi01) - n01 * math.log(pi01) - n10 * math.log(1 - pi11) - n11 * math.log(pi11))
    out = scoring.christoffersen(hits, p=0.05)
    assert out["lr"] == pytest.approx(lr, rel=1e-12)
    assert out["p_value"] == pytest.approx(math.erfc(math.sqrt(lr / 2)), rel=1e-12)
    lr_cc = scoring.kupiec(hits, 0.05)["lr"] + lr
    assert out["lr_cc"] == pytest.approx(lr_cc, rel=1e-12) and out["p_value_cc"] == pytest.approx(math.exp(-lr_cc / 2))
    # no hits, all hits, one hit on the last day (no 1 -> anything transition): nothing to reject
    for h in (np.zeros(30, bool), np.ones(30, bool), np.arange(30) == 29):
        assert scoring.christoffersen(h)["lr"] == pytest.approx(0.0, abs=1e-12)
        assert scoring.christoffersen(h)["p_value"] == pytest.approx(1.0)
    stats = pytest.importorskip("scipy.stats")
    out = scoring.christoffersen(np.random.default_rng(3).random(300) < 0.1, p=0.05)
    assert out["p_value"] == pytest.approx(stats.chi2.sf(out["lr"], 1), rel=1e-10)
    assert out["p_value_cc"] == pytest.approx(stats.chi2.sf(out["lr_cc"], 2), rel=1e-10)


def test_table_has_every_score_and_formats():
    rng = np.random.default_rng(4)
    y = 0.01 * rng.standard_t(5, 300)
    past = 0.01 * rng.standard_t(5, 250)
    dists = {"normal": Normal(0.0, np.full(300, y.std())), "t": StudentT(0.0, 0.008, 5.0),
             "empirical": Empirical(past)}
    t = scoring.table(dists, y)
    keys = {"nll", "crps", "pinball_05", "pinball_50", "pinball_95", "coverage_80", "coverage_90", "coverage_95",
            "width_80", "width_90", "width_95", "var95_rate", "kupiec95_p", "christoffersen95_p", "var99_rate",
            "kupiec99_p", "christoffersen99_p"}
    assert list(t) == ["normal", "t", "empirical"] and all(set(m) == keys for m in t.values())
    assert t["normal"]["var95_rate"] == scoring.var_hits(dists["normal"], y, 0.95).mean()
    assert all(0 <= m[k] <= 1 for m in t.values() for k in keys if "coverage" in k or k.endswith("_p"))
    text = scoring.format_table(t)
    blocks = text.split("\n\n")
    assert len(blocks) == 2 and all(len({len(line) for line in b.splitlines()}) == 1 for b in blocks)
    assert all(name in b for name in t for b in blocks)
