"""The distribution of the time to the next event, given the history: one per interval.

A temporal point process is fixed by its conditional intensity ``lambda*(t)`` (Shchur et al.
2021, section 2), or equally by the density of the next inter-event time ``tau``::

    Lambda(tau) = int_0^tau lambda*(s) ds          the compensator over the interval
    S(tau)      = exp(-Lambda(tau))                 the probability of no event yet (survival)
    p(tau)      = lambda*(tau) S(tau)               the density of the next event's time

A window's log-likelihood is ``sum_i log p(tau_i) + log S(t_end - t_N)``: each event's density and
the silence after the last one. Each class here holds the parameters of M intervals' distributions
(one row each) and gives ``log_pdf``, ``log_survival``, the intensity, the median, the mean and
samples. The two neural models' losses, with their gradients derived by hand, are the functions
``rmtpp_nll`` / ``lognormmix_nll`` (forward) and ``..._backward``; they work in float64 whatever the
network's dtype, since M is small beside the recurrent work.

* ``RMTPP`` (Du et al., KDD 2016): ``lambda*(tau) = exp(a + w tau)``, ``a = v . h_j + b`` from the
  history, ``w`` one learned number, so ``Lambda(tau) = e^a (e^{w tau} - 1) / w``.
* ``LogNormMix`` (Shchur, Bilos & Gunnemann, ICLR 2020): ``y = (log tau - m) / s`` (m, s the
  training data's mean and spread of log tau) has the density of a K-component Gaussian mixture
  with weights ``softmax(l)``, means ``mu`` and scales ``sigma = exp(log_sigma)``; so ``tau`` is a
  mixture of log-normals: ``log p(tau) = log sum_k pi_k N(y; mu_k, sigma_k) - log s - log tau``.
* ``ExpKernels``: ``lambda*(tau) = mu + sum_k c_k e^{-beta_k tau}``: the Hawkes process with
  exponential kernels between two events (``c_k`` the excitation carried from the past), and the
  homogeneous Poisson process (no kernels).
"""

from __future__ import annotations

import math

import numpy as np

from unrolled.tasks.special import log_normal_tail

LOG_2PI = math.log(2 * math.pi)
SMALL = 1e-4  # |w tau| below this: series instead of expm1(x) / x, which loses digits


def mills_hazard(z):
    """phi(z) / Q(z): the standard normal's hazard, d(-log Q)/dz."""
    return np.exp(-0.5 * z ** 2 - 0.5 * LOG_2PI - log_normal_tail(z))


def logsumexp(x, axis=-1):
    top = x.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def _expm1_over_x(x):
    """(e^x - 1) / x and its derivative, 1 and 1/2 at x = 0."""
    small = np.abs(x) < SMALL
    xs = np.where(small, 1.0, x)
    f = np.where(small, 1 + x / 2 + x * x / 6, np.expm1(xs) / xs)
    df = np.where(small, 0.5 + x / 3 + x * x / 8, (xs * np.exp(xs) - np.expm1(xs)) / (xs * xs))
    return f, df


# -- RMTPP ----------------------------------------------------------------------------------------
def rmtpp_nll(a, w, tau, observed):
    """-log p(tau) (observed) or -log S(tau) (the silence), per interval::

        log lambda*(tau) = a + w tau
        Lambda(tau)      = e^a tau f(w tau),   f(x) = (e^x - 1) / x
        nll              = Lambda(tau) - observed * (a + w tau)

    a (M,), w a number, tau (M,) >= 0, observed (M,) bool -> (M,)."""
    a, tau = np.asarray(a, np.float64), np.asarray(tau, np.float64)
    f, _ = _expm1_over_x(w * tau)
    return np.exp(a) * tau * f - observed * (a + w * tau)


def rmtpp_nll_backward(a, w, tau, observed, g):
    """The gradient of ``sum(g * rmtpp_nll(...))``::

        d nll / d a = Lambda - observed
        d nll / d w = e^a tau^2 f'(w tau) - observed * tau

    returns (da (M,), dw a number)."""
    a, tau, g = np.asarray(a, np.float64), np.asarray(tau, np.float64), np.asarray(g, np.float64)
    f, df = _expm1_over_x(w * tau)
    ea = np.exp(a)
    da = g * (ea * tau * f - observed)
    dw = float(np.sum(g * (ea * tau * tau * df - observed * tau)))
    return da, dw


class RMTPP:
    """``lambda*(tau) = exp(a + w tau)`` for M intervals: a (M,), w a number."""

    def __init__(self, a, w):
        self.a, self.w = np.asarray(a, np.float64), float(w)

    def __len__(self):
        return len(self.a)

    def take(self, rows):
        return RMTPP(self.a[rows], self.w)

    def log_intensity(self, tau):
        return self.a + self.w * tau

    def compensator(self, tau):
        return np.exp(self.a) * tau * _expm1_over_x(self.w * tau)[0]

    def log_survival(self, tau):
        return -self.compensator(tau)

    def log_pdf(self, tau):
        return self.log_intensity(tau) - self.compensator(tau)

    def quantile(self, u):
        """The tau with P(next <= tau) = u, solving Lambda(tau) = -log(1 - u) in closed form:
        tau = log(1 + w L e^{-a}) / w with L = -log(1 - u); inf where a decaying intensity
        (w < 0) may never fire that often."""
        L = -np.log1p(-np.asarray(u, np.float64)) * np.exp(-self.a)  # (M,)
        x = self.w * L
        with np.errstate(invalid="ignore", divide="ignore"):
            small = np.abs(x) < SMALL
            tau = np.where(small, L * (1 - x / 2 + x * x / 3), np.log1p(np.maximum(x, -1.0)) / np.where(small, 1, self.w))
        return np.where(x <= -1.0, np.inf, tau)

    def median(self):
        return self.quantile(np.full(len(self), 0.5))

    def mean(self, cap=None):
        """E[min(tau, cap)] (no closed form; infinite without a cap where w < 0 leaves a chance
        of no further event)."""
        return mean_below(self, np.inf if cap is None else cap)

    def sample(self, rng):
        """One draw per row by inversion (``quantile`` of a uniform); ``sample_by_thinning`` is the
        same distribution drawn as Du et al. do."""
        return self.quantile(rng.uniform(size=len(self)))

    def sample_by_thinning(self, rng, horizon=1e6, after=0.0):
        """Ogata's thinning (Lewis & Shedler 1979): candidates from a Poisson process of rate B >=
        lambda*(s) over a stretch, each kept with probability lambda*(t) / B. The intensity is
        monotone in tau, so its larger end bounds a stretch: lambda*(s) when w <= 0 (one stretch
        to infinity), lambda*(s + 1/lambda*(s)) when w > 0 (a stretch that expects about one
        candidate). inf past ``horizon``: a decaying intensity may never fire. ``after``: start
        at that tau, i.e. draw given no event before it (thinning needs nothing else)."""
        out = np.full(len(self), np.inf)
        s = np.full(len(self), float(after))
        live = np.arange(len(self))
        while live.size:
            a, s_live = self.a[live], s[live]
            lam_s = np.exp(a + self.w * s_live)
            stretch = np.inf if self.w <= 0 else 1 / lam_s
            bound = lam_s if self.w <= 0 else np.exp(a + self.w * (s_live + stretch))
            with np.errstate(divide="ignore", over="ignore"):  # a bound of ~0 (an intensity decayed away): t = inf
                t = s_live + rng.exponential(1 / bound)
            inside = t <= s_live + stretch
            keep = inside & (rng.uniform(size=live.size) * bound <= np.exp(a + self.w * t))
            out[live[keep]] = t[keep]
            s[live] = np.where(inside, t, s_live + stretch)  # a rejected candidate or the stretch's end
            live = live[~keep & (s[live] < horizon)]
        return out


# -- the log-normal mixture -------------------------------------------------------------------------
def _lognormmix_terms(logits, mu, log_sigma, y, observed):
    """Per component: log pi_k + c_k, with c_k = log N(y; mu_k, sigma_k) (observed) or
    log Q(z_k) (the silence), z_k = (y - mu_k) / sigma_k; and what the backward reads."""
    log_pi = logits - logsumexp(logits)[:, None]  # (M, K)
    sigma = np.exp(log_sigma)
    z = (y[:, None] - mu) / sigma  # (M, K)
    c = np.where(observed[:, None], -0.5 * z * z - log_sigma - 0.5 * LOG_2PI, log_normal_tail(z))
    return log_pi, sigma, z, log_pi + c


def lognormmix_nll(logits, mu, log_sigma, tau, observed, m, s):
    """-log p(tau) (observed) or -log S(tau) (the silence), per interval::

        y        = (log tau - m) / s
        log p(tau) = logsumexp_k(log pi_k + log N(y; mu_k, sigma_k)) - log s - log tau
        log S(tau) = logsumexp_k(log pi_k + log Q((y - mu_k) / sigma_k))

    logits, mu, log_sigma (M, K), tau (M,) > 0, observed (M,) bool, m, s numbers -> (M,)."""
    tau = np.asarray(tau, np.float64)
    y = (np.log(tau) - m) / s
    *_, terms = _lognormmix_terms(*(np.asarray(p, np.float64) for p in (logits, mu, log_sigma)), y, observed)
    jacobian = np.where(observed, np.log(s) + np.log(tau), 0.0)  # from y back to tau
    return -logsumexp(terms) + jacobian


def lognormmix_nll_backward(logits, mu, log_sigma, tau, observed, m, s, g):
    """The gradient of ``sum(g * lognormmix_nll(...))``, with r_k = softmax_k(terms) the
    responsibilities and pi = softmax(logits)::

        d / d logits_k    = g (pi_k - r_k)
        observed:  d / d mu_k = -g r_k z_k / sigma_k,      d / d log_sigma_k = -g r_k (z_k^2 - 1)
        silence:   d / d mu_k = -g r_k H(z_k) / sigma_k,   d / d log_sigma_k = -g r_k H(z_k) z_k

    H = phi / Q the normal hazard (``d log Q / dz = -H``). Returns (dlogits, dmu, dlog_sigma)."""
    logits, mu, log_sigma = (np.asarray(p, np.float64) for p in (logits, mu, log_sigma))
    tau, g = np.asarray(tau, np.float64), np.asarray(g, np.float64)[:, None]
    y = (np.log(tau) - m) / s
    log_pi, sigma, z, terms = _lognormmix_terms(logits, mu, log_sigma, y, observed)
    r = np.exp(terms - logsumexp(terms)[:, None])  # (M, K)
    obs = observed[:, None]
    dlogits = g * (np.exp(log_pi) - r)
    H = np.where(obs, 0.0, mills_hazard(np.where(obs, 0.0, z)))
    dmu = -g * r * np.where(obs, z, H) / sigma
    dlog_sigma = -g * r * np.where(obs, z * z - 1, H * z)
    return dlogits, dmu, dlog_sigma


class LogNormMix:
    """M intervals' mixtures of log-normals: logits, mu, log_sigma (M, K) on y = (log tau - m) / s."""

    def __init__(self, logits, mu, log_sigma, m, s):
        self.logits, self.mu, self.log_sigma = (np.asarray(p, np.float64) for p in (logits, mu, log_sigma))
        self.m, self.s = float(m), float(s)

    def __len__(self):
        return len(self.mu)

    def take(self, rows):
        return LogNormMix(self.logits[rows], self.mu[rows], self.log_sigma[rows], self.m, self.s)

    def _terms(self, tau, observed):
        tau = np.broadcast_to(np.asarray(tau, np.float64), (len(self),))
        return tau, lognormmix_nll(self.logits, self.mu, self.log_sigma, np.maximum(tau, 1e-300),
                                   np.full(len(self), observed), self.m, self.s)

    def log_pdf(self, tau):
        return -self._terms(tau, True)[1]

    def log_survival(self, tau):
        tau, nll = self._terms(tau, False)
        return np.where(tau > 0, -nll, 0.0)

    def compensator(self, tau):
        return -self.log_survival(tau)

    def log_intensity(self, tau):
        return self.log_pdf(tau) - self.log_survival(tau)

    def mean(self, cap=None):
        """E[tau] = sum_k pi_k exp(m + s mu_k + (s sigma_k)^2 / 2) (a log-normal's mean); with
        ``cap``, E[min(tau, cap)] as every model reports it (``mean_below``)."""
        if cap is not None:
            return mean_below(self, cap)
        pi = np.exp(self.logits - logsumexp(self.logits)[:, None])
        return (pi * np.exp(self.m + self.s * self.mu + 0.5 * (self.s * np.exp(self.log_sigma)) ** 2)).sum(1)

    def median(self):
        return quantile_by_bisection(self, np.full(len(self), 0.5))

    def sample(self, rng):
        """Direct sampling: a component k ~ pi, then y ~ N(mu_k, sigma_k), tau = exp(m + s y)."""
        pi = np.exp(self.logits - logsumexp(self.logits)[:, None])
        k = (rng.uniform(size=(len(self), 1)) > np.cumsum(pi, axis=1)).sum(axis=1)
        k = np.minimum(k, pi.shape[1] - 1)
        rows = np.arange(len(self))
        y = self.mu[rows, k] + np.exp(self.log_sigma[rows, k]) * rng.standard_normal(len(self))
        return np.exp(self.m + self.s * y)


# -- exponential kernels (Hawkes, Poisson) --------------------------------------------------------------
class ExpKernels:
    """``lambda*(tau) = mu + sum_k c_k e^{-beta_k tau}`` for M intervals: mu a number, c (M, K) >= 0,
    beta (K,) > 0 (K = 0: the homogeneous Poisson process)."""

    def __init__(self, mu, c, beta):
        self.mu = float(mu)
        self.c = np.asarray(c, np.float64)
        self.beta = np.asarray(beta, np.float64).reshape(-1)

    def __len__(self):
        return len(self.c)

    def take(self, rows):
        return ExpKernels(self.mu, self.c[rows], self.beta)

    def log_intensity(self, tau):
        tau = np.asarray(tau, np.float64)[:, None]
        return np.log(self.mu + (self.c * np.exp(-self.beta * tau)).sum(1))

    def compensator(self, tau):
        tau = np.asarray(tau, np.float64)
        return self.mu * tau + (self.c / self.beta * -np.expm1(-self.beta * tau[:, None])).sum(1)

    def log_survival(self, tau):
        return -self.compensator(tau)

    def log_pdf(self, tau):
        return self.log_intensity(tau) - self.compensator(tau)

    def mean(self, cap=None):
        if cap is None and not self.c.shape[1]:
            return np.full(len(self), 1 / self.mu)
        return mean_below(self, np.inf if cap is None else cap)

    def median(self):
        return quantile_by_bisection(self, np.full(len(self), 0.5))

    def sample(self, rng):
        return quantile_by_bisection(self, rng.uniform(size=len(self)))


# -- what every distribution gets the same way ------------------------------------------------------------
def quantile_by_bisection(dist, u, iters=80):
    """The tau with 1 - S(tau) = u for each row, by bisection on log tau (the compensator rises
    monotonically); inf where the distribution never reaches u."""
    target = -np.log1p(-np.asarray(u, np.float64))  # Lambda(tau) = -log(1 - u)
    lo, hi = np.full(len(dist), -30.0), np.full(len(dist), 5.0)
    for _ in range(40):  # widen until Lambda(hi) passes the target (or give up: inf)
        short = dist.compensator(np.exp(hi)) < target
        if not short.any() or hi.max() > 60:
            break
        hi = np.where(short, hi + 5.0, hi)
    never = dist.compensator(np.exp(hi)) < target
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        below = dist.compensator(np.exp(mid)) < target
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.where(never, np.inf, np.exp(0.5 * (lo + hi)))


def mean_below(dist, cap, n=400):
    """E[min(tau, cap)] = int_0^cap S(tau) d tau, by the trapezoid rule on a grid dense near 0 and
    geometric beyond (S falls fastest at the start). ``cap`` a number or (M,); with cap = inf the
    grid runs to where S has fallen below 1e-12 (or 1e6 time units)."""
    cap = np.broadcast_to(np.asarray(cap, np.float64), (len(dist),)).copy()
    open_ended = ~np.isfinite(cap)
    if open_ended.any():
        cap[open_ended] = np.minimum(quantile_by_bisection(dist, np.full(len(dist), 1 - 1e-12))[open_ended], 1e6)
    grid = np.concatenate([[0.0], np.geomspace(1e-9, 1.0, n)])  # (n+1,) fractions of cap
    taus = cap[:, None] * grid[None, :]  # (M, n+1)
    survival = np.exp(np.stack([dist.log_survival(taus[:, j]) for j in range(taus.shape[1])], axis=1))
    return np.trapezoid(survival, taus, axis=1) if hasattr(np, "trapezoid") else np.trapz(survival, taus, axis=1)
