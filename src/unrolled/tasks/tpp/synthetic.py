"""Synthetic temporal point processes with a known conditional intensity: data whose best possible
NLL is known, so a model's score can be read against the floor no model can beat.

The processes are Omi, Ueda & Aihara's (NeurIPS 2019, "Fully neural network based model for
general temporal point processes", section 4.1), which Shchur, Bilos & Gunnemann (ICLR 2020,
"Intensity-free learning of temporal point processes", appendix) reuse; all unmarked. ``lambda*(t)``
is the intensity given the events strictly before ``t``; every window starts empty at time 0 (no
history before it) and ``N(t-)`` counts the window's events before ``t``.

- ``poisson``: homogeneous Poisson, ``lambda = 1``.
- ``poisson_inhomogeneous`` (Omi's non-stationary Poisson): ``lambda(t) = 1 + 0.99 sin(2 pi t / P)``
  with ``t`` the time within the window, so every window starts at phase 0. Omi uses
  ``P = 20000`` on one long sequence; on a window of 100 that is 0.5 % of a cycle, a nearly
  constant rate no model could tell from ``poisson``. We fix ``P = 100`` (``SINE_PERIOD``), as
  Shchur's generator does (its period is its window length, 100): the default window sees one
  full cycle, from 0.01 to 1.99 events per unit time, and a window of any other length sees the
  same process (the period does not follow ``t_end``, so a window's head keeps its intensity).
  Compensator: ``Lambda(t) = t + 0.99 P / (2 pi) (1 - cos(2 pi t / P))``.
- ``renewal`` (Omi's stationary renewal): i.i.d. inter-event times ``tau``, log-normal with mean
  ``m = 1`` and standard deviation ``s = 6``: ``log tau ~ Normal(mu_ln, sigma^2)`` with
  ``sigma^2 = log(1 + s^2 / m^2) = log 37`` (``sigma = 1.9002``) and
  ``mu_ln = log m - sigma^2 / 2 = -log(37) / 2 = -1.8055``. Its intensity is the hazard
  ``lambda*(t) = p(tau) / S(tau)`` of the time ``tau`` since the last event; before the first
  event ``tau`` counts from the window's start, so the start acts as an event (an origin), not as
  a point inside a stationary stream. Compensator over an inter-event time: ``-log S(tau)``, with
  ``S(tau) = erfc(z / sqrt 2) / 2``, ``z = (log tau - mu_ln) / sigma``.
- ``self_correcting``: ``lambda*(t) = exp(mu t - alpha N(t-))``, ``mu = 1``, ``alpha = 1``.
  Compensator between events ``i - 1`` and ``i``: ``exp(mu t_{i-1} - alpha (i - 1)) (exp(mu tau_i) - 1) / mu``;
  simulated by drawing ``E ~ Exp(1)`` and solving compensator = ``E`` for ``tau`` in closed form.
- ``hawkes1``: ``lambda*(t) = mu + sum_{t_i < t} alpha beta exp(-beta (t - t_i))``, ``mu = 0.2``,
  ``alpha = 0.8``, ``beta = 1``: stationary rate ``mu / (1 - alpha) = 1``; from an empty history
  the expected count on ``[0, T]`` is ``T - 4 (1 - exp(-0.2 T))``.
- ``hawkes2``: two such kernels, ``mu = 0.2``, ``(alpha, beta) = (0.4, 1)`` and ``(0.4, 20)``
  (branching ratio 0.8, stationary rate 1). Hawkes processes are simulated by Ogata's thinning:
  the intensity only decays between events, so its value just after the last candidate bounds it
  until the next one. Compensator by the recursion ``A_i = exp(-beta tau_i) (1 + A_{i-1})``,
  ``A_1 = 0``.

Window and count. Omi simulate one long sequence per process; Shchur's original code
(shchur/ifl-tpp, branch original-code, ``data/synth/*.npz``) cut 64 sequences of 1024 events,
and Shchur's later data (shchur/triangular-tpp ``data/*.pkl``, NeurIPS 2020, whose file names the
refactored ifl-tpp's ``data/synth/*.pkl`` repeat; we read those files: ``t_max = 100.0`` and 1000
sequences each, mean 95.4 events for hawkes1, 100.3 for the sine Poisson, 109.2 for renewal)
simulate 1000 windows of ``[0, 100]``. We take the latter: ``n_sequences=1000``,
``t_end=100.0``, about 100 events a window (hawkes1 about 96, as its window starts empty).

The NLL here counts the window's silence after its last event (``compensators``' last entry), as
Shchur's refactored code does, and divides the total by the number of events (what Omi report,
and Shchur's per-sequence NLLs divided by the mean number of events come to the same). Windows
without events are dropped (``EventData.notes`` says how many; about 0.4 per 1000 for renewal,
none in practice for the others); the NLL of the kept windows is then the unconditioned one, off by
``log(1 - P(no event))`` per window, below 1e-5 per event for the defaults.
"""

from __future__ import annotations

import math
import zlib
from typing import Iterable

import numpy as np

from unrolled.tasks.special import log_normal_tail
from unrolled.tasks.tpp.events import EventData, EventSequence, check_sequence, drop_ties

PROCESSES = ("poisson", "poisson_inhomogeneous", "renewal", "self_correcting", "hawkes1", "hawkes2")

# Hawkes: base rate and (alpha, beta) per exponential kernel, each kernel alpha * beta * exp(-beta t).
HAWKES = {
    "hawkes1": (0.2, ((0.8, 1.0),)),
    "hawkes2": (0.2, ((0.4, 1.0), (0.4, 20.0))),
}
SINE_AMPLITUDE = 0.99
SINE_PERIOD = 100.0
RENEWAL_MEAN, RENEWAL_STD = 1.0, 6.0
RENEWAL_SIGMA = math.sqrt(math.log(1.0 + (RENEWAL_STD / RENEWAL_MEAN) ** 2))
RENEWAL_MU = math.log(RENEWAL_MEAN) - RENEWAL_SIGMA ** 2 / 2
SELF_CORRECTING_MU, SELF_CORRECTING_ALPHA = 1.0, 1.0

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _check_name(name: str) -> None:
    if name not in PROCESSES:
        raise ValueError(f"unknown synthetic process {name!r}; choose one of {', '.join(PROCESSES)}")


def _check_unmarked(seq: EventSequence) -> None:
    if seq.marks is not None:
        raise ValueError("the synthetic processes are unmarked; pass a sequence without marks")


# ---------------------------------------------------------------------------------------------
# log-normal renewal: log density and log survival, stable in both tails (tasks/special.py)

def _renewal_neg_log_survival(tau: np.ndarray) -> np.ndarray:
    """-log S(tau) of the log-normal: -log Q((log tau - mu) / sigma); 0 at tau = 0 (S(0) = 1)."""
    tau = np.asarray(tau, dtype=np.float64)
    out = np.zeros(len(tau))
    pos = tau > 0
    out[pos] = -log_normal_tail((np.log(tau[pos]) - RENEWAL_MU) / RENEWAL_SIGMA)
    return out


def _renewal_log_density(tau: np.ndarray) -> np.ndarray:
    z = (np.log(tau) - RENEWAL_MU) / RENEWAL_SIGMA
    return -np.log(tau) - math.log(RENEWAL_SIGMA) - _LOG_SQRT_2PI - 0.5 * z * z


# ---------------------------------------------------------------------------------------------
# simulation, one window per call; each draws from its own generator

def _simulate_poisson(rng: np.random.Generator, t_end: float) -> np.ndarray:
    n = rng.poisson(t_end)
    return np.sort(rng.uniform(0.0, t_end, n))


def _sine_rate(t):
    return 1.0 + SINE_AMPLITUDE * np.sin(2 * np.pi * np.asarray(t) / SINE_PERIOD)


def _simulate_poisson_inhomogeneous(rng: np.random.Generator, t_end: float) -> np.ndarray:
    bound = 1.0 + SINE_AMPLITUDE  # thinning a homogeneous Poisson of rate 1.99
    n = rng.poisson(bound * t_end)
    t = np.sort(rng.uniform(0.0, t_end, n))
    keep = rng.random(n) * bound < _sine_rate(t)
    return t[keep]


def _simulate_renewal(rng: np.random.Generator, t_end: float) -> np.ndarray:
    chunk = max(16, int(2 * t_end / RENEWAL_MEAN))
    parts, last = [], 0.0
    while True:
        times = last + np.cumsum(rng.lognormal(RENEWAL_MU, RENEWAL_SIGMA, chunk))
        if times[-1] > t_end:
            parts.append(times[times < t_end])
            return np.concatenate(parts)
        parts.append(times)
        last = float(times[-1])


def _simulate_self_correcting(rng: np.random.Generator, t_end: float) -> np.ndarray:
    mu, alpha = SELF_CORRECTING_MU, SELF_CORRECTING_ALPHA
    out, t, n = [], 0.0, 0
    block = rng.standard_exponential(max(16, int(2 * t_end) + 16)).tolist()
    k = 0
    while True:
        if k == len(block):
            block, k = rng.standard_exponential(len(block)).tolist(), 0
        e = block[k]
        k += 1
        # exp(mu t - alpha n) (exp(mu tau) - 1) / mu = e, solved for tau
        t = t + math.log1p(mu * e * math.exp(alpha * n - mu * t)) / mu
        if t >= t_end:
            return np.asarray(out)
        out.append(t)
        n += 1


def _simulate_hawkes(rng: np.random.Generator, t_end: float, mu: float, kernels) -> np.ndarray:
    jumps = [a * b for a, b in kernels]
    betas = [b for _, b in kernels]
    excite = [0.0] * len(kernels)  # each kernel's sum_{t_i < t} alpha beta exp(-beta (t - t_i))
    out, t, bound = [], 0.0, mu
    size = max(64, int(4 * t_end))
    exps, unis, k = rng.standard_exponential(size).tolist(), rng.random(size).tolist(), 0
    while True:
        if k == size:
            exps, unis, k = rng.standard_exponential(size).tolist(), rng.random(size).tolist(), 0
        step = exps[k] / bound
        u = unis[k]
        k += 1
        t += step
        if t >= t_end:
            return np.asarray(out)
        for j, b in enumerate(betas):
            excite[j] *= math.exp(-b * step)
        lam = mu + sum(excite)
        if u * bound < lam:  # accept with probability lam / bound
            out.append(t)
            for j, jump in enumerate(jumps):
                excite[j] += jump
            lam += sum(jumps)
        bound = lam  # the intensity only decays until the next event


def _simulate_one(name: str, rng: np.random.Generator, t_end: float) -> np.ndarray:
    if name == "poisson":
        return _simulate_poisson(rng, t_end)
    if name == "poisson_inhomogeneous":
        return _simulate_poisson_inhomogeneous(rng, t_end)
    if name == "renewal":
        return _simulate_renewal(rng, t_end)
    if name == "self_correcting":
        return _simulate_self_correcting(rng, t_end)
    mu, kernels = HAWKES[name]
    return _simulate_hawkes(rng, t_end, mu, kernels)


def simulate(name: str, n_sequences: int = 1000, t_end: float = 100.0, seed: int = 0) -> EventData:
    """``n_sequences`` windows ``[0, t_end]`` of the process ``name``, simulated exactly.

    Window ``i`` draws from its own generator, spawned from ``(seed, name)``: the same seed gives
    the same windows, and the first windows of a larger data set are those of a smaller one (up to
    dropped empty windows)."""
    _check_name(name)
    if n_sequences < 1:
        raise ValueError(f"n_sequences is {n_sequences}; ask for at least one sequence")
    if not (np.isfinite(t_end) and t_end > 0):
        raise ValueError(f"t_end is {t_end}; give a positive finite window length")
    root = np.random.SeedSequence([int(seed), zlib.crc32(name.encode())])
    sequences, n_empty, n_ties = [], 0, 0
    for child in root.spawn(int(n_sequences)):
        times = _simulate_one(name, np.random.default_rng(child), float(t_end))
        if len(times) == 0:
            n_empty += 1
            continue
        times, _, ties = drop_ties(times)  # ties have probability zero; a float collision is dropped
        n_ties += ties
        seq = EventSequence(times, t_end)
        check_sequence(seq, where=f"simulated {name} window")
        sequences.append(seq)
    notes = []
    if n_empty:
        notes.append(f"{n_empty} of {n_sequences} simulated {name} windows held no event and were dropped")
    if n_ties:
        notes.append(f"{n_ties} simulated {name} event(s) tied in floating point with the one before and were dropped")
    return EventData(sequences, name=name, time_unit="units", notes=notes)


# ---------------------------------------------------------------------------------------------
# the exact intensity, its log at the events and its integrals between them

def _hawkes_excitation(taus: np.ndarray, beta: float):
    """For each event i: ``R_i = sum_{j < i} exp(-beta (t_i - t_j))`` (just before it) and
    ``E_i = 1 + R_i`` (just after it), by ``R_i = exp(-beta tau_i) E_{i-1}``, ``E_0 = 0``."""
    decay = np.exp(-beta * taus).tolist()
    before = np.empty(len(taus))
    e = 0.0
    for i, d in enumerate(decay):
        r = d * e
        before[i] = r
        e = 1.0 + r
    return before, before + 1.0


def log_intensities(name: str, seq: EventSequence) -> np.ndarray:
    """(N,) the exact ``log lambda*(t_i)`` at each event, given the events before it."""
    _check_name(name)
    _check_unmarked(seq)
    t = seq.times
    if name == "poisson":
        return np.zeros(len(t))
    if name == "poisson_inhomogeneous":
        return np.log(_sine_rate(t))
    if name == "renewal":
        taus = seq.taus
        return _renewal_log_density(taus) + _renewal_neg_log_survival(taus)
    if name == "self_correcting":
        return SELF_CORRECTING_MU * t - SELF_CORRECTING_ALPHA * np.arange(len(t))
    mu, kernels = HAWKES[name]
    lam = np.full(len(t), mu)
    for a, b in kernels:
        lam += a * b * _hawkes_excitation(seq.taus, b)[0]
    return np.log(lam)


def compensators(name: str, seq: EventSequence) -> np.ndarray:
    """(N + 1,) the exact integral of ``lambda*`` over each ``(t_{i-1}, t_i]`` (``t_0 = 0``) and,
    last, over the silence ``(t_N, t_end]``."""
    _check_name(name)
    _check_unmarked(seq)
    t = seq.times
    edges = np.concatenate([[0.0], t, [seq.t_end]])
    gaps = np.diff(edges)  # the N inter-event times, then the silence
    if name == "poisson":
        return gaps
    if name == "poisson_inhomogeneous":
        # Lambda(b) - Lambda(a) = (b - a) + A P / pi sin(pi (a + b) / P) sin(pi (b - a) / P)
        a, b = edges[:-1], edges[1:]
        return gaps + SINE_AMPLITUDE * SINE_PERIOD / np.pi * (
            np.sin(np.pi * (a + b) / SINE_PERIOD) * np.sin(np.pi * gaps / SINE_PERIOD))
    if name == "renewal":
        return _renewal_neg_log_survival(gaps)
    if name == "self_correcting":
        mu, alpha = SELF_CORRECTING_MU, SELF_CORRECTING_ALPHA
        # before the i-th gap (0-based) i events have happened, the last at edges[i]
        return np.exp(mu * edges[:-1] - alpha * np.arange(len(gaps))) * np.expm1(mu * gaps) / mu
    mu, kernels = HAWKES[name]
    out = mu * gaps
    for a, b in kernels:
        after = np.concatenate([[0.0], _hawkes_excitation(seq.taus, b)[1]])  # E just after each gap's start
        out += a * after * -np.expm1(-b * gaps)
    return out


def intensity(name: str, seq: EventSequence, at) -> np.ndarray:
    """``lambda*(s)`` at the times ``at`` (any order, in ``[0, t_end]``), each given the events of
    ``seq`` strictly before it: the true intensity to draw next to a model's."""
    _check_name(name)
    _check_unmarked(seq)
    s = np.asarray(at, dtype=np.float64).reshape(-1)
    t = seq.times
    n_before = np.searchsorted(t, s, side="left")
    if name == "poisson":
        return np.ones(len(s))
    if name == "poisson_inhomogeneous":
        return _sine_rate(s)
    if name == "renewal":
        last = np.where(n_before > 0, t[np.maximum(n_before - 1, 0)] if len(t) else 0.0, 0.0)
        age = s - last
        lam = np.zeros(len(s))
        pos = age > 0
        lam[pos] = np.exp(_renewal_log_density(age[pos]) + _renewal_neg_log_survival(age[pos]))
        return lam
    if name == "self_correcting":
        return np.exp(SELF_CORRECTING_MU * s - SELF_CORRECTING_ALPHA * n_before)
    mu, kernels = HAWKES[name]
    lam = np.full(len(s), mu)
    lag = s[:, None] - t[None, :]
    past = lag > 0
    for a, b in kernels:
        lam += a * b * np.where(past, np.exp(-b * np.where(past, lag, 0.0)), 0.0).sum(axis=1)
    return lam


def true_nll(name: str, data_or_sequences: EventData | Iterable[EventSequence]) -> float:
    """The true NLL per event: (sum over sequences of [sum of ``compensators`` - sum of
    ``log_intensities``]) / total number of events; the floor no model can beat in expectation."""
    _check_name(name)
    sequences = data_or_sequences.sequences if isinstance(data_or_sequences, EventData) else list(data_or_sequences)
    total, n_events = 0.0, 0
    for seq in sequences:
        total += float(compensators(name, seq).sum() - log_intensities(name, seq).sum())
        n_events += len(seq)
    if n_events == 0:
        raise ValueError("no events to score; pass sequences that hold events")
    return total / n_events
