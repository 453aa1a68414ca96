"""Predictive distributions of a scalar (tomorrow's log return), one per day, vectorised over N days.

Each class holds N days' distributions (parameters as (N,) arrays, or (N, K) quantiles) in float64::

    logpdf(y), cdf(y)     y (N,)             log p(y) and F(y) = P(Y <= y)
    ppf(u)                u a number or (N,)  the quantile F^-1(u); ppf(0) = -inf, ppf(1) = +inf
    mean(), median()                         (N,)
    crps(y)               y (N,)             CRPS(F, y) = int (F(x) - 1{x >= y})^2 dx, exact closed forms
    take(rows)                               the distributions of those days
    shift_scale(a, b)                        the distribution of a + b X (b > 0; a, b numbers or (N,)), exact
    len()                                    N

A distribution of length 1 stands for every day: its methods broadcast against y (N,).

* ``Normal(mu, sigma)``.
* ``StudentT(mu, scale, nu)``: ``Y = mu + scale T_nu``, nu > 2. ``scale`` is the t scale, not the
  standard deviation (that is ``scale sqrt(nu / (nu - 2))``).
* ``Quantiles(levels, values)``: K quantiles ``q_k = F^-1(u_k)`` per day; F is linear between
  them (a uniform density on each segment) with exponential tails outside (see the class).
* ``Empirical(samples)``: a sample per day (past returns), as ``Quantiles`` on a fixed grid of
  levels, the quantiles numpy's linear interpolation of the sample.
"""

from __future__ import annotations

import math

import numpy as np

from unrolled.tasks.forecast.metrics import _betainc
from unrolled.tasks.special import erfc as _erfc
from unrolled.tasks.special import lgamma as _lgamma

LOG_2PI = math.log(2 * math.pi)
GRID = np.arange(1, 200) / 200  # Empirical's levels 0.005, 0.010, ..., 0.995: holds 0.01, 0.025, 0.05, 0.1


_betainc_v = np.vectorize(_betainc, otypes=[np.float64])  # ~7 us a value: fine for N in the thousands


def _array(x, name: str) -> np.ndarray:
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    if x.ndim != 1:
        raise ValueError(f"{name} has shape {x.shape}; give a number or one value per day (N,)")
    return x


def _params(**named) -> list[np.ndarray]:
    """The parameters as float64 (N,) arrays, numbers broadcast to the others' length."""
    xs = [_array(v, k) for k, v in named.items()]
    try:
        return [np.array(x) for x in np.broadcast_arrays(*xs)]
    except ValueError:
        shapes = ", ".join(f"{k} {x.shape}" for k, x in zip(named, xs))
        raise ValueError(f"the parameters' lengths differ ({shapes}); give one value per day or a number") from None


def _positive(x: np.ndarray, name: str) -> None:
    if not np.all(x > 0) or not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite and > 0 for every day; got {x[~(x > 0) | ~np.isfinite(x)][:3]}")


def _levels(u) -> np.ndarray:
    u = np.asarray(u, dtype=np.float64)
    if u.ndim > 1 or not np.all((u >= 0) & (u <= 1)):
        raise ValueError(f"quantile levels must be numbers in [0, 1], a number or (N,); got {u}")
    return u


def _affine(a, b, n: int) -> tuple[np.ndarray, np.ndarray]:
    """a, b as (N,) arrays for ``shift_scale``; b > 0 so that the map keeps the order."""
    a, b = _params(a=a, b=b)
    _positive(b, "b (shift_scale's scale)")
    if len(a) not in (1, n) and n != 1:
        raise ValueError(f"shift_scale got {len(a)} values for {n} days; give a number or one per day")
    return a, b


class _Distribution:
    """What every class shares: ``len()`` and the median ``F^-1(1/2)``."""

    def len(self) -> int:
        return len(self)

    def median(self) -> np.ndarray:
        return self.ppf(0.5)


# -- normal ---------------------------------------------------------------------------------------
class Normal(_Distribution):
    """``Y ~ N(mu, sigma^2)``, mu and sigma (N,); with ``z = (y - mu) / sigma``::

        log p(y) = -z^2 / 2 - log sigma - log(2 pi) / 2
        F(y)     = Phi(z) = erfc(-z / sqrt 2) / 2
        CRPS     = sigma [z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)]   (Gneiting et al. 2005; Gneiting & Raftery 2007)
    """

    def __init__(self, mu, sigma):
        self.mu, self.sigma = _params(mu=mu, sigma=sigma)
        _positive(self.sigma, "sigma")

    def __len__(self) -> int:
        return len(self.mu)

    def _z(self, y):
        return (np.asarray(y, dtype=np.float64) - self.mu) / self.sigma

    def logpdf(self, y) -> np.ndarray:
        z = self._z(y)
        return -0.5 * z * z - np.log(self.sigma) - 0.5 * LOG_2PI

    def cdf(self, y) -> np.ndarray:
        return _std_normal_cdf(self._z(y))

    def ppf(self, u) -> np.ndarray:
        return self.mu + self.sigma * _std_normal_ppf(_levels(u))

    def mean(self) -> np.ndarray:
        return self.mu.copy()

    def median(self) -> np.ndarray:
        return self.mu.copy()

    def crps(self, y) -> np.ndarray:
        z = self._z(y)
        return self.sigma * (z * (2 * _std_normal_cdf(z) - 1) + 2 * _std_normal_pdf(z) - 1 / math.sqrt(math.pi))

    def take(self, rows) -> Normal:
        return Normal(self.mu[rows], self.sigma[rows])

    def shift_scale(self, a, b) -> Normal:
        a, b = _affine(a, b, len(self))
        return Normal(a + b * self.mu, b * self.sigma)


def _std_normal_pdf(z):
    return np.exp(-0.5 * z * z - 0.5 * LOG_2PI)


def _std_normal_cdf(z):
    return 0.5 * _erfc(-np.asarray(z, dtype=np.float64) / math.sqrt(2.0))


# Acklam's rational approximation of the normal quantile (relative error 1.2e-9), then one Halley
# step on Phi(x) = p, which brings it to full double precision.
_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
      -3.066479806614716e+01, 2.506628277459239e+00)
_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
      -1.328068155288572e+01, 1.0)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
      4.374664141464968e+00, 2.938163982698783e+00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00, 1.0)


def _std_normal_ppf(u):
    """Phi^-1(u), u in [0, 1] (any shape): solved on the lower half ``w = min(u, 1 - u)``, where the
    tail is accurate, then mirrored."""
    u = np.asarray(u, dtype=np.float64)
    w = np.minimum(u, 1 - u)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = w - 0.5
        r = q * q
        central = q * np.polyval(_A, r) / np.polyval(_B, r)
        s = np.sqrt(-2 * np.log(w))
        tail = np.polyval(_C, s) / np.polyval(_D, s)
        x = np.where(w < 0.02425, tail, central)
        e = _std_normal_cdf(x) - w  # Halley: x -= e / (phi(x) (1 + x e / (2 phi(x))))
        step = e * math.sqrt(2 * math.pi) * np.exp(0.5 * x * x)
        x = np.where(np.isfinite(step) & (w > 0), x - step / (1 + 0.5 * x * step), x)
    x = np.where(w > 0, x, -np.inf)
    return np.where(u > 0.5, -x, x)


# -- Student-t ------------------------------------------------------------------------------------
class StudentT(_Distribution):
    """``Y = mu + scale T_nu`` (location-scale Student-t, not standardized: the standard deviation is
    ``scale sqrt(nu / (nu - 2))``), mu, scale, nu (N,), nu > 2. With ``z = (y - mu) / scale``::

        log p(y) = log G((nu+1)/2) - log G(nu/2) - log(nu pi) / 2 - log scale - (nu+1)/2 log(1 + z^2/nu)
        F(y)     = I_x(nu/2, 1/2) / 2 for z < 0, 1 - I_x(nu/2, 1/2) / 2 for z >= 0,   x = nu / (nu + z^2)
        CRPS     = scale [z (2 F_nu(z) - 1) + 2 f_nu(z) (nu + z^2) / (nu - 1)
                          - 2 sqrt(nu) B(1/2, nu - 1/2) / ((nu - 1) B(1/2, nu/2)^2)]

    I the regularized incomplete beta (``metrics._betainc``); the CRPS is that of Jordan, Kruger &
    Lerch (2019, scoringRules, J. Stat. Softw. 90(12), appendix), valid for nu > 1. ``ppf`` solves
    F = u by safeguarded Newton steps in log |z| (see ``_t_upper``).
    """

    def __init__(self, mu, scale, nu):
        self.mu, self.scale, self.nu = _params(mu=mu, scale=scale, nu=nu)
        _positive(self.scale, "scale")
        if not np.all(self.nu > 2) or not np.all(np.isfinite(self.nu)):
            raise ValueError(f"nu must be finite and > 2 (a finite variance) for every day; got {self.nu.min()}")

    def __len__(self) -> int:
        return len(self.mu)

    def _z(self, y):
        return (np.asarray(y, dtype=np.float64) - self.mu) / self.scale

    def logpdf(self, y) -> np.ndarray:
        return _t_logpdf(self._z(y), self.nu) - np.log(self.scale)

    def cdf(self, y) -> np.ndarray:
        return _t_cdf(self._z(y), self.nu)

    def ppf(self, u) -> np.ndarray:
        return self.mu + self.scale * _t_ppf(_levels(u), self.nu)

    def mean(self) -> np.ndarray:
        return self.mu.copy()

    def median(self) -> np.ndarray:
        return self.mu.copy()

    def crps(self, y) -> np.ndarray:
        z, nu = self._z(y), self.nu
        const = 2 * np.sqrt(nu) / (nu - 1) * np.exp(_log_beta(0.5, nu - 0.5) - 2 * _log_beta(0.5, nu / 2))
        f = np.exp(_t_logpdf(z, nu))
        return self.scale * (z * (2 * _t_cdf(z, nu) - 1) + 2 * f * (nu + z * z) / (nu - 1) - const)

    def take(self, rows) -> StudentT:
        return StudentT(self.mu[rows], self.scale[rows], self.nu[rows])

    def shift_scale(self, a, b) -> StudentT:
        a, b = _affine(a, b, len(self))
        return StudentT(a + b * self.mu, b * self.scale, self.nu)


def _log_beta(a, b):
    return _lgamma(a) + _lgamma(b) - _lgamma(a + b)


def _t_log_const(nu):
    """log f_nu(0) = log G((nu+1)/2) - log G(nu/2) - log(nu pi) / 2."""
    return _lgamma((nu + 1) / 2) - _lgamma(nu / 2) - 0.5 * np.log(nu * math.pi)


def _t_logpdf(z, nu):
    return _t_log_const(nu) - (nu + 1) / 2 * np.log1p(z * z / nu)


def _t_cdf(z, nu):
    z, nu = np.broadcast_arrays(np.asarray(z, dtype=np.float64), nu)
    half_tail = 0.5 * _betainc_v(nu / 2, 0.5, nu / (nu + z * z))  # P(T > |z|): accurate far out
    return np.where(z < 0, half_tail, 1 - half_tail)


def _t_ppf(u, nu):
    """F_nu^-1(u), u and nu broadcast: ``t = F^-1(1 - w)`` on the upper half, w = min(u, 1 - u), mirrored."""
    u, nu = np.broadcast_arrays(u, nu)
    w = np.minimum(u, 1 - u)
    t = np.where(w > 0, 0.0, np.inf)
    inner = (w > 0) & (w < 0.5)
    pairs, back = np.unique(np.stack([w[inner], nu[inner]]), axis=1, return_inverse=True)  # one nu for all days: once
    t[inner] = _t_upper(pairs[0], pairs[1])[back.ravel()]
    return np.where(u < 0.5, -t, t)


def _t_upper(w, nu, iterations: int = 100):
    """The t > 0 with P(T > t) = w, 0 < w < 1/2, by Newton's method on ``s = log t``::

        w < 1/4:   g(s) = log R(t) - log w,          R(t) = I_{nu/(nu+t^2)}(nu/2, 1/2) / 2 = P(T > t)
        w >= 1/4:  g(s) = log R(t) - log(1/2 - w),   R(t) = I_{t^2/(nu+t^2)}(1/2, nu/2) / 2 = P(0 < T < t)
        dg/ds = -+ f(t) t / R(t)

    (each R the small side, so its relative error stays near 1e-15). In log t the power-law tail
    ``R ~ c t^-nu`` is nearly linear, so few steps suffice from the normal quantile. A step that leaves
    the bracket ``[(1/2 - w) / f(0), sqrt(nu / (2 (nu - 2) w))]`` (from ``f <= f(0)`` and Chebyshev's
    inequality) bisects it instead."""
    tail = w < 0.25
    target = np.log(np.where(tail, w, 0.5 - w))
    sign = np.where(tail, -1.0, 1.0)
    lo = (0.5 - w) / np.exp(_t_log_const(nu))
    hi = np.sqrt(nu / (2 * (nu - 2) * w))
    z = -_std_normal_ppf(w)
    t = np.clip(z + (z ** 3 + z) / (4 * nu), lo, hi)  # Cornish-Fisher's first term
    active = np.ones(len(w), dtype=bool)
    for _ in range(iterations):
        if not active.any():
            break
        i = np.flatnonzero(active)
        ti, nui = t[i], nu[i]
        R = np.empty(len(i))
        far = tail[i]
        R[far] = 0.5 * _betainc_v(nui[far] / 2, 0.5, nui[far] / (nui[far] + ti[far] ** 2))
        R[~far] = 0.5 * _betainc_v(0.5, nui[~far] / 2, ti[~far] ** 2 / (nui[~far] + ti[~far] ** 2))
        g = np.log(R) - target[i]
        below = sign[i] * g < 0  # t is below the root
        lo[i] = np.where(below, ti, lo[i])
        hi[i] = np.where(below, hi[i], ti)
        slope = sign[i] * np.exp(_t_logpdf(ti, nui)) * ti / R
        new = ti * np.exp(-g / slope)
        outside = ~((new >= lo[i]) & (new <= hi[i]))  # (NaN too); new == t: converged
        new = np.where(outside, np.sqrt(lo[i] * hi[i]), new)
        t[i] = new
        active[i] = np.abs(np.log(new / ti)) > 1e-14
    return t


# -- quantiles ------------------------------------------------------------------------------------
class Quantiles(_Distribution):
    """A distribution given by K quantiles per day: levels ``u_1 < ... < u_K`` in (0, 1), shared,
    values ``q_1 <= ... <= q_K`` (N, K). Between two quantiles F is linear (density
    ``d_k = (u_{k+1} - u_k) / (q_{k+1} - q_k)``); outside them the tails are exponential, with the
    scale that makes the density continuous at the outer quantiles::

        F(y) = u_1 exp((y - q_1) / b_L)               y < q_1,   b_L = u_1 / d_1
        F(y) = u_k + d_k (y - q_k)                    q_k <= y < q_{k+1}
        F(y) = 1 - (1 - u_K) exp(-(y - q_K) / b_R)    y >= q_K,  b_R = (1 - u_K) / d_{K-1}

    So every y has a finite log-density (linear in y in the tails: a Laplace-like fall-off, lighter
    than a Student-t's; a heavier tail is not identified by the quantiles given) and the support is
    the whole line. The mean is ``sum_k (u_{k+1} - u_k)(q_k + q_{k+1})/2 + u_1 (q_1 - b_L) +
    (1 - u_K)(q_K + b_R)``. Tied quantiles (an atom) are pulled apart to a gap of ``1e-6 (q_K - q_1) / K``,
    so the atom becomes a narrow uniform: its log-density is large but finite.

    ``crps`` is exact for this F: the integral of (F - 1{x >= y})^2 on each linear segment and tail,
    split at y (``_segment_sq``, ``_tail_sq``).
    """

    def __init__(self, levels, values):
        u = np.asarray(levels, dtype=np.float64)
        q = np.asarray(values, dtype=np.float64)
        if u.ndim != 1 or len(u) < 2 or not np.all(np.diff(u) > 0) or not (u[0] > 0 and u[-1] < 1):
            raise ValueError(f"levels must be K >= 2 strictly increasing numbers in (0, 1); got {u}")
        q = q[None] if q.ndim == 1 else q
        if q.ndim != 2 or q.shape[1] != len(u):
            raise ValueError(f"values have shape {np.shape(values)}; give (N, K) with K = {len(u)} levels")
        if not np.all(np.isfinite(q)) or not np.all(np.diff(q, axis=1) >= 0):
            raise ValueError("values must be finite and non-decreasing along each row (quantiles of a distribution)")
        self.levels = u
        self.values = _pull_apart(q)

    def __len__(self) -> int:
        return len(self.values)

    def _pieces(self, n: int):
        """The values, segment densities and tail scales on n rows (one row repeats):
        q (n, K), d (n, K-1), b_L (n,), b_R (n,)."""
        u, q = self.levels, self.values
        d = np.diff(u) / np.diff(q, axis=1)
        bl, br = u[0] / d[:, 0], (1 - u[-1]) / d[:, -1]
        return tuple(np.broadcast_to(x, (n,) + x.shape[1:]) for x in (q, d, bl, br))

    def _at(self, y):
        """y as (n,) with the rows broadcast, the pieces, and the segment of each y:
        j = #{k: q_k <= y} in 0..K (0 the left tail, K the right)."""
        y = np.asarray(y, dtype=np.float64)
        if y.ndim > 1:
            raise ValueError(f"y has shape {y.shape}; give a number or one value per day (N,)")
        n = np.broadcast_shapes(y.shape, (len(self),))[0]
        y = np.broadcast_to(y, (n,))
        q, d, bl, br = self._pieces(n)
        return y, q, d, bl, br, (q <= y[:, None]).sum(axis=1)

    def logpdf(self, y) -> np.ndarray:
        y, q, d, bl, br, j = self._at(y)
        K = q.shape[1]
        out = np.log(d[np.arange(len(y)), np.clip(j - 1, 0, K - 2)])
        out = np.where(j == 0, np.log(d[:, 0]) + (y - q[:, 0]) / bl, out)
        return np.where(j == K, np.log(d[:, -1]) - (y - q[:, -1]) / br, out)

    def cdf(self, y) -> np.ndarray:
        y, q, d, bl, br, j = self._at(y)
        u, K, rows = self.levels, q.shape[1], np.arange(len(y))
        k = np.clip(j - 1, 0, K - 2)
        out = u[k] + d[rows, k] * (y - q[rows, k])
        out = np.where(j == 0, u[0] * np.exp(np.minimum(y - q[:, 0], 0) / bl), out)
        return np.where(j == K, 1 - (1 - u[-1]) * np.exp(-np.maximum(y - q[:, -1], 0) / br), out)

    def ppf(self, u) -> np.ndarray:
        p = _levels(u)
        n = np.broadcast_shapes(p.shape, (len(self),))[0]
        p = np.broadcast_to(p, (n,))
        q, _, bl, br = self._pieces(n)
        lv, rows = self.levels, np.arange(n)
        k = np.clip(np.searchsorted(lv, p, side="right") - 1, 0, len(lv) - 2)
        inner = q[rows, k] + (p - lv[k]) / (lv[k + 1] - lv[k]) * (q[rows, k + 1] - q[rows, k])
        with np.errstate(divide="ignore"):
            left = q[:, 0] + bl * np.log(p / lv[0])
            right = q[:, -1] - br * np.log((1 - p) / (1 - lv[-1]))
        return np.where(p < lv[0], left, np.where(p > lv[-1], right, inner))

    def mean(self) -> np.ndarray:
        q, _, bl, br = self._pieces(len(self))
        u = self.levels
        inner = (np.diff(u) * (q[:, :-1] + q[:, 1:]) / 2).sum(axis=1)
        return inner + u[0] * (q[:, 0] - bl) + (1 - u[-1]) * (q[:, -1] + br)

    def crps(self, y) -> np.ndarray:
        y, q, _, bl, br, _ = self._at(y)
        u = self.levels
        inner = _segment_sq(q[:, :-1], q[:, 1:], u[:-1], u[1:], y[:, None]).sum(axis=1)
        left = _tail_sq(q[:, 0] - np.minimum(y, q[:, 0]), u[0], bl)  # G = F in the left tail, from q_1 down
        right = _tail_sq(np.maximum(y, q[:, -1]) - q[:, -1], 1 - u[-1], br)  # G = 1 - F, from q_K up
        return inner + left + right

    def take(self, rows) -> Quantiles:
        return Quantiles(self.levels, self.values[rows])

    def shift_scale(self, a, b) -> Quantiles:
        a, b = _affine(a, b, len(self))
        return Quantiles(self.levels, a[:, None] + b[:, None] * self.values)


def _pull_apart(q: np.ndarray) -> np.ndarray:
    """Each row strictly increasing, gaps at least ``1e-6 span / K``: ``q'_k = k g + max_{j<=k} (q_j - j g)``
    (the identity where the gaps already are that wide)."""
    K = q.shape[1]
    span = q[:, -1] - q[:, 0]
    span = np.where(span > 0, span, np.maximum(np.abs(q[:, 0]), 1e-12))  # all equal: a gap from the size
    g = (1e-6 * span / K)[:, None]
    if np.all(np.diff(q, axis=1) >= g):
        return q.copy()
    k = np.arange(K)
    return k * g + np.maximum.accumulate(q - k * g, axis=1)


def _segment_sq(a, b, Fa, Fb, y):
    """int_a^b (F(x) - 1{x >= y})^2 dx for F linear from Fa at a to Fb at b: split at m = clip(y, a, b);
    a linear G from G0 to G1 over a length L gives ``L (G0^2 + G0 G1 + G1^2) / 3``."""
    m = np.clip(y, a, b)
    Fm = Fa + (Fb - Fa) * (m - a) / (b - a)
    below = (m - a) * (Fa * Fa + Fa * Fm + Fm * Fm) / 3
    Ga, Gb = 1 - Fm, 1 - Fb
    return below + (b - m) * (Ga * Ga + Ga * Gb + Gb * Gb) / 3


def _tail_sq(r, p, beta):
    """A tail ``G(x) = p exp(-x / beta)`` at distance x >= 0 from the outer quantile, y at distance r >= 0
    (G is F on the left, 1 - F on the right; the indicator is 1 - G's side between the quantile and y)::

        int_0^r (1 - G)^2 dx + int_r^inf G^2 dx = r - 2 beta (p - G(r)) + beta (p^2 - G(r)^2) / 2 + beta G(r)^2 / 2
    """
    Gr = p * np.exp(-r / beta)
    return r - 2 * beta * (p - Gr) + beta * p * p / 2


# -- empirical ------------------------------------------------------------------------------------
class Empirical(Quantiles):
    """A sample per day, (M,) (one distribution for every day) or (N, M), M >= 2: ``Quantiles`` on the
    levels ``levels`` (default ``GRID``: 0.005, 0.010, ..., 0.995) with values
    ``np.quantile(sample, levels)`` (numpy's linear interpolation). ``ppf`` equals numpy's quantile
    on those levels and interpolates linearly between them; beyond the outer levels, and for
    ``logpdf``, ``cdf`` and ``crps``, it is the ``Quantiles`` distribution (exponential tails)."""

    def __init__(self, samples, levels=GRID):
        s = np.asarray(samples, dtype=np.float64)
        s = s[None] if s.ndim == 1 else s
        if s.ndim != 2 or s.shape[1] < 2 or not np.all(np.isfinite(s)):
            raise ValueError(f"samples have shape {np.shape(samples)}; give (M,) or (N, M) finite values, M >= 2")
        self.samples = s
        levels = np.asarray(levels, dtype=np.float64)
        super().__init__(levels, np.quantile(s, levels, axis=1).T)

    def take(self, rows) -> Empirical:
        return Empirical(self.samples[rows], self.levels)

    def shift_scale(self, a, b) -> Empirical:
        a, b = _affine(a, b, len(self))
        return Empirical(a[:, None] + b[:, None] * self.samples, self.levels)
