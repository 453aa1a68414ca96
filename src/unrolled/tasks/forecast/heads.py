"""Probabilistic heads: the network's P raw outputs per horizon step become the parameters of the
next (standardised) log return's distribution, and the loss is its negative log-likelihood (or,
for quantiles, the pinball loss), each with its gradient with respect to the raw outputs derived
by hand. ``softplus(x) = log(1 + e^x)``, ``softplus'(x) = sigmoid(x)``.

* ``normal``: raw (m, s) -> mu = m, sigma = softplus(s) + SIGMA_MIN::

      nll = 1/2 log 2 pi + log sigma + z^2 / 2,   z = (y - mu) / sigma
      d nll / d mu = -z / sigma,   d nll / d sigma = (1 - z^2) / sigma

* ``studentt``: raw (m, s, n) -> mu = m, sigma = softplus(s) + SIGMA_MIN, nu = 2 + softplus(n)
  (above 2: a finite variance)::

      nll = lgamma(nu/2) - lgamma((nu+1)/2) + 1/2 log(nu pi) + log sigma + (nu+1)/2 log(1 + z^2/nu)
      d nll / d mu    = -(nu + 1) z / (sigma (nu + z^2))
      d nll / d sigma = (1 - (nu + 1) z^2 / (nu + z^2)) / sigma
      d nll / d nu    = (psi(nu/2) - psi((nu+1)/2)) / 2 + 1/(2 nu) + log(1 + z^2/nu) / 2
                        - (nu + 1) z^2 / (2 nu (nu + z^2))

* ``quantile``: raw (r_1 .. r_K) -> q_1 = r_1, q_k = q_{k-1} + softplus(r_k): ordered by
  construction (no crossing quantiles). The loss is the mean pinball loss over the K levels u_k::

      rho_u(y - q) = max(u (y - q), (u - 1)(y - q)),   d rho / d q = 1{y < q} - u
      d q_k / d r_1 = 1,   d q_k / d r_j = sigmoid(r_j) for 2 <= j <= k   (a reverse cumulative sum)

The losses are means over the batch and the horizon (and the levels): arrays (B, h, P) in, a
number and d loss / d raw (B, h, P) out, in float64 (P is tiny beside the recurrent work).
"""

from __future__ import annotations

import math

import numpy as np

from unrolled.nn.activations import sigmoid
from unrolled.tasks.special import lgamma as _lgamma

DISTRIBUTIONS = ("point", "normal", "studentt", "quantile")
# The quantile head's levels: the central 50/80/90/95% intervals' ends, the median, and the 1% and
# 99% ends that the value-at-risk backtests at 99% read.
LEVELS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975, 0.99)
SIGMA_MIN = 1e-3  # a floor on the scale: a density may not collapse onto one training point


def n_params(distribution: str) -> int:
    """Raw outputs per horizon step."""
    return {"point": 1, "normal": 2, "studentt": 3, "quantile": len(LEVELS)}[distribution]


def softplus(x):
    return np.logaddexp(0.0, x)


def digamma(x):
    """psi(x) for x > 0: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the
    asymptotic series log x - 1/(2x) - 1/(12x^2) + 1/(120x^4) - 1/(252x^6) + 1/(240x^8)
    (the next term, 5/(660 x^10), is below 1e-12)."""
    x = np.asarray(x, dtype=np.float64).copy()
    shift = np.zeros_like(x)
    while (x < 10).any():
        small = x < 10
        shift[small] -= 1.0 / x[small]
        x[small] += 1.0
    inv2 = 1.0 / (x * x)
    return shift + np.log(x) - 0.5 / x - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 / 240)))




# -- parameters from raw outputs ------------------------------------------------------------------
def parameters(distribution, raw):
    """raw (..., P) -> a dict of the distribution's parameters (each (...)), or quantiles (..., K)."""
    raw = np.asarray(raw, dtype=np.float64)
    if distribution == "normal":
        return {"mu": raw[..., 0], "sigma": softplus(raw[..., 1]) + SIGMA_MIN}
    if distribution == "studentt":
        return {"mu": raw[..., 0], "sigma": softplus(raw[..., 1]) + SIGMA_MIN, "nu": 2.0 + softplus(raw[..., 2])}
    if distribution == "quantile":
        steps = np.concatenate([raw[..., :1], softplus(raw[..., 1:])], axis=-1)
        return {"q": np.cumsum(steps, axis=-1)}
    raise ValueError(f"distribution={distribution!r} has no parameters; use one of {DISTRIBUTIONS[1:]}")


# -- losses: forward and backward -------------------------------------------------------------------
def normal_nll(mu, sigma, y):
    z = (y - mu) / sigma
    return 0.5 * math.log(2 * math.pi) + np.log(sigma) + 0.5 * z * z


def normal_nll_grad(mu, sigma, y):
    """(d nll / d mu, d nll / d sigma)."""
    z = (y - mu) / sigma
    return -z / sigma, (1 - z * z) / sigma


def studentt_nll(mu, sigma, nu, y):
    z = (y - mu) / sigma
    return (_lgamma(nu / 2) - _lgamma((nu + 1) / 2) + 0.5 * np.log(nu * math.pi) + np.log(sigma)
            + 0.5 * (nu + 1) * np.log1p(z * z / nu))


def studentt_nll_grad(mu, sigma, nu, y):
    """(d nll / d mu, d nll / d sigma, d nll / d nu)."""
    z = (y - mu) / sigma
    z2 = z * z
    dmu = -(nu + 1) * z / (sigma * (nu + z2))
    dsigma = (1 - (nu + 1) * z2 / (nu + z2)) / sigma
    dnu = (0.5 * (digamma(nu / 2) - digamma((nu + 1) / 2)) + 0.5 / nu + 0.5 * np.log1p(z2 / nu)
           - 0.5 * (nu + 1) * z2 / (nu * (nu + z2)))
    return dmu, dsigma, dnu


def pinball(q, y, levels=LEVELS):
    """rho_u(y - q) per level: q (..., K), y (...) -> (..., K)."""
    u = np.asarray(levels)
    e = y[..., None] - q
    return np.maximum(u * e, (u - 1) * e)


def loss(distribution, raw, y):
    """The mean loss over every element of y (B, h): raw (B, h, P) -> (value, d value / d raw)."""
    raw, y = np.asarray(raw, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = y.size
    if distribution == "normal":
        p = parameters("normal", raw)
        dmu, dsigma = normal_nll_grad(p["mu"], p["sigma"], y)
        d = np.stack([dmu, dsigma * sigmoid(raw[..., 1])], axis=-1) / n
        return float(normal_nll(p["mu"], p["sigma"], y).sum()) / n, d
    if distribution == "studentt":
        p = parameters("studentt", raw)
        dmu, dsigma, dnu = studentt_nll_grad(p["mu"], p["sigma"], p["nu"], y)
        d = np.stack([dmu, dsigma * sigmoid(raw[..., 1]), dnu * sigmoid(raw[..., 2])], axis=-1) / n
        return float(studentt_nll(p["mu"], p["sigma"], p["nu"], y).sum()) / n, d
    if distribution == "quantile":
        q = parameters("quantile", raw)["q"]  # (B, h, K)
        K = q.shape[-1]
        dq = ((y[..., None] < q).astype(np.float64) - np.asarray(LEVELS)) / (n * K)  # d mean pinball / d q_k
        tail = np.cumsum(dq[..., ::-1], axis=-1)[..., ::-1]  # sum_{k >= j} dq_k
        d = np.concatenate([tail[..., :1], tail[..., 1:] * sigmoid(raw[..., 1:])], axis=-1)
        return float(pinball(q, y).sum()) / (n * K), d
    raise ValueError(f"distribution={distribution!r} has no loss here; use one of {DISTRIBUTIONS[1:]}")
