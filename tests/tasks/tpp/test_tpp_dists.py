"""The interval distributions' properties, each against an independent computation: densities that
integrate to 1 - S, intensities that are the compensator's slope, quantiles that invert the CDF,
``mean_below`` against quadrature of S, the mixture's closed-form mean against Monte Carlo, samples
whose compensators are Exp(1) (time rescaling), RMTPP's two samplers against each other, the KS
statistic on cases worked by hand, and the classical baselines recovering their parameters."""

import math
import warnings

import numpy as np
import pytest

from unrolled.tasks.tpp import dists
from unrolled.tasks.tpp.baselines import Hawkes, Poisson, _padded, log_likelihood
from unrolled.tasks.tpp.events import EventSequence
from unrolled.tasks.tpp.metrics import ks_exponential, nll_parts
from unrolled.tasks.tpp.synthetic import simulate

KS_1PCT = 1.63  # the Kolmogorov-Smirnov statistic's 1 % critical value, times sqrt(n)

NODES, WEIGHTS = np.polynomial.legendre.leggauss(20)


def gauss_legendre(f, a, b, panels=200):
    """Composite 20-point Gauss-Legendre of a vectorised f over [a, b]."""
    edges = np.linspace(a, b, panels + 1)
    mid, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
    x = (mid[:, None] + half[:, None] * NODES[None, :]).ravel()
    return float((f(x).reshape(panels, -1) * WEIGHTS[None, :] * half[:, None]).sum())


def over_log_tau(dist, row, what, lo, hi):
    """int_lo^hi of the density (``what="pdf"``) or the survival (``"survival"``) of one row of
    ``dist``, in u = log tau (both are steep near 0 and spread over decades)."""
    def f(u):
        tau = np.exp(u)
        one = dist.take(np.full(len(u), row))
        return np.exp(one.log_pdf(tau) if what == "pdf" else one.log_survival(tau)) * tau
    return gauss_legendre(f, math.log(lo), math.log(hi))


def pdf(d):
    return lambda tau: np.exp(d.log_pdf(tau))


def survival(d):
    return lambda tau: np.exp(d.log_survival(tau))


def make(name, M=4, seed=0):
    """A distribution of M rows with random parameters; and a horizon past which S is < 1e-13 (or,
    for RMTPP with w < 0, has reached S(inf))."""
    rng = np.random.default_rng(seed)
    if name == "rmtpp w>0":
        return dists.RMTPP(rng.normal(-0.5, 0.7, M), 0.6), 60.0
    if name == "rmtpp w<0":
        return dists.RMTPP(rng.normal(-0.5, 0.7, M), -0.8), 80.0
    if name == "lognormmix":
        m, s = 0.2, 0.8
        mu, log_sigma = rng.normal(0, 1, (M, 3)), rng.normal(-0.3, 0.3, (M, 3))
        far = math.exp(m + s * (mu + 9 * np.exp(log_sigma)).max())
        return dists.LogNormMix(rng.normal(0, 1, (M, 3)), mu, log_sigma, m, s), far
    if name == "lognormmix K=1":
        return dists.LogNormMix(np.zeros((M, 1)), rng.normal(0, 0.5, (M, 1)), np.full((M, 1), -0.5), 0.0, 1.0), 1e3
    if name == "hawkes":
        return dists.ExpKernels(0.3, rng.uniform(0, 2, (M, 2)), [1.0, 5.0]), 150.0
    assert name == "poisson"
    return dists.ExpKernels(0.7, np.zeros((M, 0)), []), 60.0


NAMES = ("rmtpp w>0", "rmtpp w<0", "lognormmix", "lognormmix K=1", "hawkes", "poisson")


def survival_at_inf(d):
    """S(inf): exp(-e^a / |w|) for a decaying RMTPP intensity, else 0."""
    if isinstance(d, dists.RMTPP) and d.w < 0:
        return np.exp(-np.exp(d.a) / -d.w)
    return np.zeros(len(d))


# -- densities, survival and intensity ------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_density_integrates_to_one_minus_survival(name):
    d, far = make(name)
    for row in range(len(d)):
        for T in (0.2, 1.5, far):
            mass = over_log_tau(d, row, "pdf", 1e-14, T)
            S = float(np.exp(d.take([row]).log_survival(np.array([T])))[0])
            assert mass == pytest.approx(1 - S, rel=1e-9, abs=1e-12), (row, T)
    # and by the horizon all the mass there is: 1 - S(inf)
    np.testing.assert_allclose(np.exp(d.log_survival(np.full(len(d), far))), survival_at_inf(d), rtol=1e-9,
                               atol=1e-13)


def slope(f, tau):
    """df/dtau by the five-point central stencil (error ~h^4), h = 1e-3 tau."""
    h = 1e-3 * tau
    return (f(tau - 2 * h) - 8 * f(tau - h) + 8 * f(tau + h) - f(tau + 2 * h)) / (12 * h)


@pytest.mark.parametrize("name", NAMES)
def test_density_is_minus_the_slope_of_survival_and_intensity_the_slope_of_the_compensator(name):
    d, _ = make(name)
    rng = np.random.default_rng(1)
    for _ in range(5):
        tau = np.exp(rng.uniform(-3, 1.5, len(d)))
        # S is within [0, 1]: the stencil's rounding is ~2e-16 / h = 2e-13 / tau
        assert (np.abs(pdf(d)(tau) + slope(survival(d), tau)) <= 1e-7 * pdf(d)(tau) + 1e-12 / tau).all()
        slope_L = slope(d.compensator, tau)
        np.testing.assert_allclose(np.exp(d.log_intensity(tau)), slope_L, rtol=1e-7)
        np.testing.assert_allclose(d.log_intensity(tau), d.log_pdf(tau) - d.log_survival(tau), rtol=1e-12,
                                   atol=1e-12)
        np.testing.assert_allclose(d.compensator(tau), -d.log_survival(tau), rtol=1e-14)
    np.testing.assert_array_equal(d.log_survival(np.zeros(len(d))), 0.0)  # S(0) = 1


def test_rmtpp_closed_forms():
    """lambda*(tau) = exp(a + w tau), Lambda(tau) = e^a (e^{w tau} - 1) / w: the formulas themselves,
    and the limit w -> 0 (a constant rate e^a) through the series branch."""
    a, tau = np.array([-1.0, 0.3, 1.2]), np.array([0.5, 2.0, 0.01])
    for w in (0.7, -0.4):
        d = dists.RMTPP(a, w)
        np.testing.assert_allclose(d.log_intensity(tau), a + w * tau, rtol=1e-15)
        np.testing.assert_allclose(d.compensator(tau), np.exp(a) * np.expm1(w * tau) / w, rtol=1e-13)
    for w in (0.0, 1e-9, -1e-9):
        np.testing.assert_allclose(dists.RMTPP(a, w).compensator(tau), np.exp(a) * tau, rtol=1e-8)


# -- quantiles -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_quantile_and_median_solve_one_minus_survival_equals_u(name):
    d, _ = make(name, M=50, seed=3)
    rng = np.random.default_rng(4)
    u = rng.uniform(0.01, 0.99, len(d))
    reachable = u < 1 - survival_at_inf(d)
    tau = dists.quantile_by_bisection(d, u)
    assert np.isinf(tau[~reachable]).all() and np.isfinite(tau[reachable]).all()
    np.testing.assert_allclose(-np.expm1(d.take(np.flatnonzero(reachable)).log_survival(tau[reachable])),
                               u[reachable], rtol=1e-10)
    if isinstance(d, dists.RMTPP):  # the closed form and the bisection agree
        closed = d.quantile(u)
        np.testing.assert_array_equal(np.isinf(closed), ~reachable)
        np.testing.assert_allclose(closed[reachable], tau[reachable], rtol=1e-10)
    median = d.median()
    half = 0.5 < 1 - survival_at_inf(d)
    assert np.isinf(median[~half]).all()
    np.testing.assert_allclose(-np.expm1(d.take(np.flatnonzero(half)).log_survival(median[half])), 0.5, rtol=1e-10)


@pytest.mark.parametrize("w", [2e-6, -2e-6, 0.0, 0.05, -0.05])
def test_rmtpp_quantile_near_w_zero(w):
    """The series branch of the closed-form quantile (|w L e^-a| < 1e-4) and the ordinary one."""
    d = dists.RMTPP(np.array([-2.0, 0.0, 1.5, 3.0]), w)
    u = np.array([0.1, 0.5, 0.9, 0.99])
    tau = d.quantile(u)
    np.testing.assert_allclose(-np.expm1(d.log_survival(tau)), u, rtol=1e-11)
    if w == 0.0:  # a constant rate e^a: tau = -log(1 - u) e^-a
        np.testing.assert_allclose(tau, -np.log1p(-u) * np.exp(-d.a), rtol=1e-14)


# -- means ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_mean_below_equals_the_integral_of_survival(name):
    """E[min(tau, cap)] = int_0^cap S. ``mean_below`` is the trapezoid rule on 401 points spread
    geometrically over nine decades of the cap (steps of 5.3 %): measured at most 5e-4 off
    quadrature here, so the bound is 1e-3."""
    d, far = make(name)
    rng = np.random.default_rng(5)
    for cap in (0.3, 2.0, 10.0, rng.uniform(0.1, 5.0, len(d))):
        caps = np.broadcast_to(cap, (len(d),))
        want = [over_log_tau(d, r, "survival", 1e-14, caps[r]) for r in range(len(d))]
        np.testing.assert_allclose(dists.mean_below(d, cap), want, rtol=1e-3)
    if not survival_at_inf(d).any():  # cap = inf: to where S < 1e-12
        want = [over_log_tau(d, r, "survival", 1e-14, far) for r in range(len(d))]
        np.testing.assert_allclose(dists.mean_below(d, np.inf), want, rtol=1e-3)
        np.testing.assert_allclose(d.mean(), want, rtol=1e-3)
    np.testing.assert_allclose(d.mean(cap=2.0), dists.mean_below(d, 2.0), rtol=1e-15)


def test_poisson_mean_is_one_over_the_rate():
    d = dists.ExpKernels(0.7, np.zeros((3, 0)), [])
    np.testing.assert_allclose(d.mean(), 1 / 0.7, rtol=1e-15)
    np.testing.assert_allclose(d.median(), math.log(2) / 0.7, rtol=1e-10)


def test_lognormmix_mean_is_the_monte_carlo_mean_of_its_samples():
    """The closed form sum_k pi_k exp(m + s mu_k + (s sigma_k)^2 / 2) against 2e5 draws per row (its
    samples' own standard error sets the bound: 5 of them) and against quadrature of S."""
    rng = np.random.default_rng(6)
    M, K, n = 3, 3, 200_000
    d = dists.LogNormMix(rng.normal(0, 1, (M, K)), rng.normal(0, 0.7, (M, K)), rng.normal(-0.9, 0.2, (M, K)),
                         0.3, 0.7)
    closed = d.mean()
    for r in range(M):
        x = d.take(np.full(n, r)).sample(rng)
        assert abs(x.mean() - closed[r]) < 5 * x.std() / math.sqrt(n), r
    far = math.exp(0.3 + 0.7 * (d.mu + 9 * np.exp(d.log_sigma)).max())
    want = [over_log_tau(d, r, "survival", 1e-14, far) for r in range(M)]
    np.testing.assert_allclose(closed, want, rtol=1e-9)


# -- sampling ----------------------------------------------------------------------------------------------

def exp1_from_compensator(d, tau):
    """Lambda(tau) is Exp(1) for a draw from d. Where S(inf) > 0 (RMTPP, w < 0) a draw is inf with
    probability S(inf) and, when finite, Lambda(tau) is Exp(1) cut at Lambda(inf): mapped back to
    Exp(1) by its conditional CDF. Returns (Exp(1) values of the finite draws, whether each is inf)."""
    inf = np.isinf(tau)
    finite = np.flatnonzero(~inf)
    L = d.take(finite).compensator(tau[finite])
    S_inf = survival_at_inf(d)[finite]
    return -np.log1p(np.expm1(-L) / (1 - S_inf)), inf


def check_mass_at_inf(d, inf):
    p = survival_at_inf(d)
    assert abs(inf.sum() - p.sum()) < 4 * math.sqrt((p * (1 - p)).sum() + 1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_samples_rescale_to_unit_exponentials(name):
    """One draw per row from n rows of different parameters: the compensators of the draws are
    i.i.d. Exp(1) (time rescaling), so their KS distance to Exp(1) stays below 1.63 / sqrt(n)."""
    n = 4000
    d, _ = make(name, M=n, seed=7)
    tau = d.sample(np.random.default_rng(8))
    x, inf = exp1_from_compensator(d, tau)
    check_mass_at_inf(d, inf)
    assert ks_exponential(x) < KS_1PCT / math.sqrt(len(x))


def test_rmtpp_thinning_samples_rescale_to_unit_exponentials():
    n = 4000
    for name in ("rmtpp w>0", "rmtpp w<0"):
        d, _ = make(name, M=n, seed=9)
        x, inf = exp1_from_compensator(d, d.sample_by_thinning(np.random.default_rng(10)))
        check_mass_at_inf(d, inf)
        assert ks_exponential(x) < KS_1PCT / math.sqrt(len(x)), name


def ks_two_sample(x, y):
    """sup_t |F_x(t) - F_y(t)| (infinite values included: they are the mass above every finite t)."""
    x, y = np.sort(x), np.sort(y)
    t = np.concatenate([x, y])
    t = t[np.isfinite(t)]
    return float(np.max(np.abs(np.searchsorted(x, t, side="right") / len(x)
                               - np.searchsorted(y, t, side="right") / len(y)), initial=0.0))


@pytest.mark.parametrize("a,w", [(-0.5, 0.8), (0.7, 2.5), (-1.0, -0.5), (0.5, -1.5), (-3.0, -0.05)])
def test_rmtpp_thinning_and_inversion_draw_the_same_distribution(a, w):
    """Two-sample KS between Ogata's thinning and inversion, n draws each of one row: below
    1.63 sqrt(2 / n). For w < 0 the mass at inf (no further event, probability exp(-e^a / |w|))
    counts in both CDFs."""
    n = 4000
    d = dists.RMTPP(np.full(n, a), w)
    x = d.sample(np.random.default_rng(11))
    y = d.sample_by_thinning(np.random.default_rng(12))
    assert (x > 0).all() and (y > 0).all()
    if w < 0:
        for draws in (x, y):
            check_mass_at_inf(d, np.isinf(draws))
    else:
        assert np.isfinite(x).all() and np.isfinite(y).all()
    assert ks_two_sample(x, y) < KS_1PCT * math.sqrt(2 / n)


def test_rmtpp_thinning_is_quiet_when_the_intensity_dies():
    """A decaying intensity's bound can fall below the smallest double: 1 / bound is inf, the draw
    inf (no further event), and no warning."""
    d = dists.RMTPP(np.full(4000, -1.0), -0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        y = d.sample_by_thinning(np.random.default_rng(0))
    check_mass_at_inf(d, np.isinf(y))


def test_ks_exponential_by_hand():
    # x = 0.5, 1, 2: F = 1 - e^-x = 0.3935, 0.6321, 0.8647; the largest gap is F(0.5) - 0 = 1 - e^-0.5
    assert ks_exponential([2.0, 0.5, 1.0]) == pytest.approx(1 - math.exp(-0.5), rel=1e-14)
    # three tiny values: the empirical CDF reaches 1 at 0.03 where F = 1 - e^-0.03
    assert ks_exponential([0.01, 0.03, 0.02]) == pytest.approx(math.exp(-0.03), rel=1e-14)
    # one point: max(F(x), 1 - F(x))
    assert ks_exponential([0.1]) == pytest.approx(math.exp(-0.1), rel=1e-14)
    assert ks_exponential([3.0]) == pytest.approx(1 - math.exp(-3.0), rel=1e-14)
    # the quantiles at (i - 1/2) / n: every gap 1 / (2n)
    n = 10
    q = -np.log1p(-(np.arange(1, n + 1) - 0.5) / n)
    assert ks_exponential(q) == pytest.approx(0.5 / n, rel=1e-12)


# -- the baselines --------------------------------------------------------------------------------------------

def test_hawkes_recovers_its_parameters():
    """hawkes1 (mu, alpha, beta) = (0.2, 0.8, 1.0), 100 windows of 100 (about 9200 events): the
    MLE within 4 standard errors of the truth, standard errors from the observed information (the
    Hessian of log L, central differences of its analytic gradient), each small enough that this
    says something (below 6 % of the value)."""
    data = simulate("hawkes1", n_sequences=100, t_end=100.0, seed=1)
    h = Hawkes().fit(data)
    est = np.array([h.mu_, h.alpha_, h.beta_])
    truth = np.array([0.2, 0.8, 1.0])
    padded = _padded(data.sequences)
    eps = 1e-6
    hess = np.stack([(log_likelihood(est + eps * e, *padded)[1] - log_likelihood(est - eps * e, *padded)[1]) / (2 * eps)
                     for e in np.eye(3)])
    se = np.sqrt(np.diag(np.linalg.inv(-0.5 * (hess + hess.T))))
    assert (se < 0.06 * truth).all(), se
    assert (np.abs(est - truth) < 4 * se).all(), (est, se)
    assert np.abs(log_likelihood(est, *padded)[1]).max() < 1e-3 * data.n_events  # a stationary point
    # the baseline's own score of its training data is the fitted -log L per event, through ExpKernels
    assert nll_parts(*h.intervals(data))["time_nll"] == pytest.approx(h.train_nll_, rel=1e-10)


def test_poisson_rate_is_events_over_exposure():
    seqs = [EventSequence([0.5, 1.0, 4.0], 5.0), EventSequence([2.0], 3.0), EventSequence([0.1, 0.2], 0.2)]
    p = Poisson().fit(seqs)
    assert p.rate_ == pytest.approx(6 / 8.2, rel=1e-15)
    # its NLL per event: (rate * exposure - N log rate) / N
    want = (p.rate_ * 8.2 - 6 * math.log(p.rate_)) / 6
    assert nll_parts(*p.intervals(seqs))["time_nll"] == pytest.approx(want, rel=1e-12)
    data = simulate("poisson", n_sequences=20, t_end=50.0, seed=2)
    assert Poisson().fit(data).rate_ == pytest.approx(data.n_events / sum(q.t_end for q in data.sequences), rel=1e-15)
