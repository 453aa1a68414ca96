"""Synthetic point processes: compensators against numerical integration of the intensity written
out from its formula, log intensities against that formula, time rescaling (compensator increments
are Exp(1)), seeding, validity, and mean counts against their known expectations."""

import math

import numpy as np
import pytest

from unrolled.tasks.tpp.events import EventData, EventSequence, check_sequence
from unrolled.tasks.tpp.synthetic import (PROCESSES, compensators, intensity, log_intensities, simulate,
                                          true_nll)

# ------------------------------------------------------------------------------------------------
# each intensity written out from its formula, independently of the module's recursions


def direct_intensity(name, times, s):
    """lambda*(s) for an array of times s, given the events of `times` strictly before each."""
    s = np.asarray(s, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    before = times[None, :] < s[:, None]
    if name == "poisson":
        return np.ones(len(s))
    if name == "poisson_inhomogeneous":
        return 1 + 0.99 * np.sin(2 * np.pi * s / 100.0)
    if name == "self_correcting":
        return np.exp(s - before.sum(axis=1))
    if name in ("hawkes1", "hawkes2"):
        kernels = [(0.8, 1.0)] if name == "hawkes1" else [(0.4, 1.0), (0.4, 20.0)]
        lag = np.where(before, s[:, None] - times[None, :], np.inf)
        return 0.2 + sum(a * b * np.exp(-b * lag).sum(axis=1) for a, b in kernels)
    assert name == "renewal"
    last = np.where(before, times[None, :], 0.0).max(axis=1, initial=0.0)
    return lognormal_hazard(s - last)


SIGMA = math.sqrt(math.log(37.0))  # log-normal with mean 1, sd 6
MU = -math.log(37.0) / 2


def lognormal_hazard(age):
    age = np.asarray(age, dtype=np.float64)
    z = (np.log(age) - MU) / SIGMA
    pdf = np.exp(-0.5 * z * z) / (age * SIGMA * math.sqrt(2 * math.pi))
    surv = np.array([0.5 * math.erfc(v / math.sqrt(2)) for v in z])
    return pdf / surv


NODES, WEIGHTS = np.polynomial.legendre.leggauss(20)


def gauss_legendre(f, a, b, panels=100):
    """Composite 20-point Gauss-Legendre of f over [a, b]: exact to ~1e-12 for these smooth pieces."""
    edges = np.linspace(a, b, panels + 1)
    mid, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
    x = (mid[:, None] + half[:, None] * NODES[None, :]).ravel()
    return float((f(x).reshape(panels, -1) * WEIGHTS[None, :] * half[:, None]).sum())


def integrate_intensity(name, times, a, b):
    """The integral of lambda* over (a, b] with no event inside (a, b)."""
    if name == "renewal":  # hazard in the age, sharply peaked near 0: integrate over log age
        last = max([x for x in times if x <= a], default=0.0)
        lo, hi = a - last, b - last
        u_lo = math.log(lo) if lo > 0 else MU - 14 * SIGMA  # the density below is < 1e-40
        return gauss_legendre(lambda u: lognormal_hazard(np.exp(u)) * np.exp(u), u_lo, math.log(hi), panels=200)
    return gauss_legendre(lambda s: direct_intensity(name, times, s), a, b)


def short_sequences(name):
    """A few short simulated windows and one by hand, events close together and far apart."""
    data = simulate(name, n_sequences=3, t_end=12.0, seed=7)
    return data.sequences + [EventSequence([0.003, 0.05, 0.0501, 2.5, 9.0, 9.9], 15.0)]


# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROCESSES)
def test_compensators_equal_numerical_integrals_of_the_intensity(name):
    for seq in short_sequences(name):
        got = compensators(name, seq)
        edges = np.concatenate([[0.0], seq.times, [seq.t_end]])
        want = [integrate_intensity(name, seq.times, a, b) for a, b in zip(edges[:-1], edges[1:])]
        assert got.shape == (len(seq) + 1,)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", PROCESSES)
def test_log_intensities_equal_the_formula_at_the_events(name):
    for seq in short_sequences(name):
        got = log_intensities(name, seq)
        assert got.shape == (len(seq),)
        np.testing.assert_allclose(got, np.log(direct_intensity(name, seq.times, seq.times)), rtol=1e-9, atol=1e-12)
        grid = np.linspace(0.0, seq.t_end, 57)[1:]  # the public intensity() too, between events
        np.testing.assert_allclose(intensity(name, seq, grid), direct_intensity(name, seq.times, grid), rtol=1e-9)


@pytest.mark.parametrize("name", PROCESSES)
def test_time_rescaling_gives_unit_exponential_gaps(name):
    """Compensator increments between events are i.i.d. Exp(1) when the simulator and the
    compensator agree. Only the gaps a window completes are pooled, and long gaps are the ones its
    end censors: for a unit Poisson on [0, T] their CDF is 1 - exp(-x) + x exp(-x) / T, off by up to
    exp(-1) / T. With the default T ~ 100 events that is 0.0037, near the 1 % Kolmogorov-Smirnov
    critical value 1.63 / sqrt(n) = 0.005 for n = 1e5 gaps (measured KS at the defaults: 0.004 to
    0.009); with 20 windows of t_end = 1000 it is 0.0004 against a critical value of 0.011."""
    data = simulate(name, n_sequences=20, t_end=1000.0, seed=3)
    gaps = np.sort(np.concatenate([compensators(name, s)[:-1] for s in data.sequences]))
    n = len(gaps)
    cdf = -np.expm1(-gaps)
    ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert n > 15000
    assert ks < 1.63 / math.sqrt(n), f"{name}: KS {ks:.4f} over {n} gaps"


@pytest.mark.parametrize("name", PROCESSES)
def test_same_seed_same_sequences_other_seed_other(name):
    a, b, c = (simulate(name, n_sequences=5, t_end=20.0, seed=s) for s in (11, 11, 12))
    assert [s.times.tolist() for s in a.sequences] == [s.times.tolist() for s in b.sequences]
    assert [s.times.tolist() for s in a.sequences] != [s.times.tolist() for s in c.sequences]
    longer = simulate(name, n_sequences=8, t_end=20.0, seed=11)  # windows do not depend on how many
    assert [s.times.tolist() for s in longer.sequences[:3]] == [s.times.tolist() for s in a.sequences[:3]]


@pytest.mark.parametrize("name", PROCESSES)
def test_every_window_is_valid_and_described(name):
    data = simulate(name, n_sequences=200, t_end=30.0, seed=1)
    assert isinstance(data, EventData) and data.name == name and data.time_unit == "units"
    assert data.mark_names is None
    for seq in data.sequences:
        check_sequence(seq)
        assert seq.t_end == 30.0 and seq.marks is None
    n_dropped = 200 - len(data.sequences)
    if n_dropped:
        assert any(f"{n_dropped} of 200" in note for note in data.notes)
    else:
        assert data.notes == []


def test_empty_windows_are_dropped_and_counted():
    data = simulate("poisson", n_sequences=300, t_end=0.5, seed=0)  # P(empty) = exp(-0.5)
    n_dropped = 300 - len(data.sequences)
    assert 100 < n_dropped < 260
    assert data.notes == [f"{n_dropped} of 300 simulated poisson windows held no event and were dropped"]


def hawkes_expected_count(mu, kernels, t_end):
    """E N(t_end) from an empty history: the mean excitations x_k obey the linear ODE
    x_k' = -beta_k x_k + alpha_k beta_k (mu + sum_j x_j), x(0) = 0; solved by eigen-decomposition."""
    a = np.array([k[0] for k in kernels])
    b = np.array([k[1] for k in kernels])
    m = -np.diag(b) + np.outer(a * b, np.ones(len(b)))
    c = a * b * mu
    x_star = -np.linalg.solve(m, c)
    lam, vec = np.linalg.eig(m)
    coef = np.linalg.solve(vec, -x_star)
    integral_x = (vec @ (coef * np.expm1(lam * t_end) / lam)).real + x_star * t_end
    return mu * t_end + integral_x.sum()


def test_hawkes_expected_count_matches_the_closed_form_for_one_kernel():
    # mu T / (1 - a) - mu a (1 - exp(-beta (1 - a) T)) / ((1 - a)^2 beta)
    want = 0.2 * 50 / 0.2 - 0.2 * 0.8 * (1 - math.exp(-0.2 * 50)) / 0.04
    assert abs(hawkes_expected_count(0.2, [(0.8, 1.0)], 50.0) - want) < 1e-9


@pytest.mark.parametrize("name, expected", [
    ("poisson", 100.0),
    ("poisson_inhomogeneous", 100.0),  # one full period: the sine integrates to zero
    ("hawkes1", hawkes_expected_count(0.2, [(0.8, 1.0)], 100.0)),  # 96.0
    ("hawkes2", hawkes_expected_count(0.2, [(0.4, 1.0), (0.4, 20.0)], 100.0)),
])
def test_mean_count_per_window_matches_its_expectation(name, expected):
    data = simulate(name, n_sequences=1000, t_end=100.0, seed=0)
    counts = np.array([len(s) for s in data.sequences])
    assert len(counts) == 1000  # no window of these is empty
    tol = 4 * counts.std(ddof=1) / math.sqrt(len(counts))
    assert abs(counts.mean() - expected) < tol, f"{name}: mean {counts.mean():.2f}, expected {expected:.2f} +- {tol:.2f}"


def test_sine_poisson_count_over_part_of_a_period():
    t_end = 30.0  # Lambda(30) = 30 + 0.99 * 100 / (2 pi) (1 - cos(0.6 pi))
    expected = 30 + 0.99 * 100 / (2 * math.pi) * (1 - math.cos(2 * math.pi * 0.3))
    counts = np.array([len(s) for s in simulate("poisson_inhomogeneous", 2000, t_end, seed=5).sequences])
    assert abs(counts.mean() - expected) < 4 * counts.std(ddof=1) / math.sqrt(len(counts))


def test_true_nll_of_a_unit_poisson_is_its_exposure_per_event():
    seqs = [EventSequence([1.0, 2.5], 4.0), EventSequence([0.5], 3.0)]
    assert true_nll("poisson", seqs) == pytest.approx((4.0 + 3.0) / 3)
    data = EventData(seqs, name="anything")
    assert true_nll("poisson", data) == pytest.approx(7 / 3)


def test_true_nll_sums_compensators_minus_log_intensities():
    seqs = simulate("hawkes2", n_sequences=4, t_end=20.0, seed=2).sequences
    total = sum(compensators("hawkes2", s).sum() - log_intensities("hawkes2", s).sum() for s in seqs)
    assert true_nll("hawkes2", seqs) == pytest.approx(total / sum(len(s) for s in seqs))


def test_renewal_survival_is_stable_far_in_the_tails():
    seq = EventSequence([1e-30, 1e-30 + 1e40], 1e40 + 1.0)  # z ~ -35 and z ~ +49
    comp = compensators("renewal", seq)
    assert np.all(np.isfinite(comp)) and np.all(np.isfinite(log_intensities("renewal", seq)))
    z = (math.log(1e40) - MU) / SIGMA
    x = z / math.sqrt(2)  # -log S = log 2 + x^2 + log(x sqrt(pi)) - log(1 - 1/(2x^2) + ...)
    want = math.log(2) + x * x + math.log(x * math.sqrt(math.pi)) + 1 / (2 * x * x)
    assert comp[1] == pytest.approx(want, rel=1e-6)
    assert 0 < comp[0] < 1e-100


def test_unknown_process_and_marked_sequences_are_refused():
    with pytest.raises(ValueError, match="unknown synthetic process"):
        simulate("hawkes3")
    with pytest.raises(ValueError, match="unmarked"):
        compensators("poisson", EventSequence([1.0], 2.0, marks=[0]))
