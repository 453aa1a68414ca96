"""Probabilistic scores of N days' predictive distributions against the realised values y (N,).

Any object with ``logpdf``, ``cdf``, ``ppf`` and ``crps`` (``distributions``) can be scored::

    NLL       = mean -log p_t(y_t)                                      lower is better
    CRPS      = mean int (F_t(x) - 1{x >= y_t})^2 dx                    lower; in y's units
    pinball_u = mean rho_u(y_t - q_t),  rho_u(e) = max(u e, (u - 1) e),  q_t = F_t^-1(u)
    coverage  = mean 1{lo_t <= y_t <= hi_t},  [lo, hi] = [F^-1((1 - c)/2), F^-1((1 + c)/2)]   near c when calibrated
    width     = mean (hi_t - lo_t)                                      narrower is sharper, at equal coverage
    PIT       = F_t(y_t)                                                uniform on (0, 1) when calibrated

(CRPS = 2 int_0^1 pinball_u du: the pinball losses are slices of it.)

Value at risk at level c (95%, 99%): a hit is a day whose return falls below the VaR,
``y_t < F_t^-1(1 - c)``; a calibrated forecast has hits at rate ``p = 1 - c``, independently of
each other. ``kupiec`` tests the rate (Kupiec 1995), ``christoffersen`` the independence and both
together (Christoffersen 1998). All are likelihood-ratio tests with chi-square p-values::

    chi2_1 sf(x) = erfc(sqrt(x / 2))        chi2_2 sf(x) = exp(-x / 2)

``table`` computes all of it for several forecasters, ``format_table`` prints it.
"""

from __future__ import annotations

import math

import numpy as np

LEVELS = (0.8, 0.9, 0.95)  # central intervals of the table
QUANTILES = (0.05, 0.5, 0.95)  # pinball losses of the table
VAR_LEVELS = (0.95, 0.99)  # value-at-risk backtests of the table


def _y(dist, y) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or len(y) == 0 or not np.all(np.isfinite(y)):
        raise ValueError(f"y has shape {y.shape}; give the realised values as a non-empty finite 1-D array (N,)")
    if len(dist) not in (1, len(y)):
        raise ValueError(f"{len(dist)} distributions for {len(y)} days; give one per day (or one for all)")
    return y


def _u(u: float) -> float:
    """A level as written: 1 - 0.95 is 0.050000000000000044 in floats, 0.05 on a quantile grid."""
    return round(u, 12)


def nll(dist, y) -> float:
    """Mean negative log-likelihood ``mean -log p_t(y_t)``."""
    return float(-np.mean(dist.logpdf(_y(dist, y))))


def crps(dist, y) -> float:
    """Mean continuous ranked probability score ``mean int (F_t(x) - 1{x >= y_t})^2 dx``."""
    return float(np.mean(dist.crps(_y(dist, y))))


def pinball(dist, y, u: float) -> float:
    """Mean pinball (quantile) loss of the u-quantile: ``mean rho_u(y_t - F_t^-1(u))``,
    ``rho_u(e) = max(u e, (u - 1) e)``."""
    e = _y(dist, y) - dist.ppf(u)
    return float(np.mean(np.maximum(u * e, (u - 1) * e)))


def interval(dist, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The central interval ``[F^-1((1 - level)/2), F^-1((1 + level)/2)]`` of each day."""
    if not 0 < level < 1:
        raise ValueError(f"level={level!r}; give the interval's probability in (0, 1), e.g. 0.9")
    return dist.ppf(_u((1 - level) / 2)), dist.ppf(_u((1 + level) / 2))


def coverage(dist, y, level: float) -> float:
    """The share of days with y inside the central ``level`` interval (ends included)."""
    y = _y(dist, y)
    lo, hi = interval(dist, level)
    return float(np.mean((y >= lo) & (y <= hi)))


def width(dist, level: float) -> float:
    """The mean width of the central ``level`` interval."""
    lo, hi = interval(dist, level)
    return float(np.mean(hi - lo))


def pit(dist, y) -> np.ndarray:
    """The probability integral transform ``F_t(y_t)`` (N,): uniform when calibrated."""
    return dist.cdf(_y(dist, y))


# -- value-at-risk backtests ----------------------------------------------------------------------
def var_hits(dist, y, level: float) -> np.ndarray:
    """The VaR hits ``y_t < F_t^-1(1 - level)`` (N,) bool: a loss beyond the ``level`` value at risk."""
    if not 0 < level < 1:
        raise ValueError(f"level={level!r}; give the VaR's confidence in (0, 1), e.g. 0.95 or 0.99")
    return _y(dist, y) < dist.ppf(_u(1 - level))


def _hits(hits) -> np.ndarray:
    h = np.asarray(hits)
    if h.ndim != 1 or len(h) == 0 or not np.all((h == 0) | (h == 1)):
        raise ValueError("hits must be a non-empty 1-D array of booleans (or 0/1), one per day")
    return h.astype(bool)


def _bernoulli_loglik(n0: int, n1: int) -> float:
    """The maximised Bernoulli log-likelihood ``n0 log(n0/n) + n1 log(n1/n)``, with ``0 log 0 = 0``."""
    n = n0 + n1
    return sum(k * math.log(k / n) for k in (n0, n1) if k > 0)


def _chi2_sf(x: float, dof: int) -> float:
    """P(chi2_dof >= x) for 1 or 2 degrees of freedom."""
    x = max(x, 0.0)  # rounding can leave a likelihood ratio of -1e-15
    return math.erfc(math.sqrt(x / 2)) if dof == 1 else math.exp(-x / 2)


def kupiec(hits, p: float) -> dict[str, float]:
    """Kupiec's (1995) unconditional coverage test: are the hits at rate ``p``? With x hits in n
    days and ``pi = x / n``::

        LR_uc = -2 [(n - x) log(1 - p) + x log p - (n - x) log(1 - pi) - x log pi]   (0 log 0 = 0)

    chi-square with 1 degree of freedom under the null. Returns ``lr``, ``p_value`` and ``rate`` (pi)."""
    h = _hits(hits)
    if not 0 < p < 1:
        raise ValueError(f"p={p!r}; give the expected hit rate in (0, 1), e.g. 0.05 for a 95% VaR")
    n, x = len(h), int(h.sum())
    lr = 2 * (_bernoulli_loglik(n - x, x) - (n - x) * math.log(1 - p) - x * math.log(p))
    return {"lr": lr, "p_value": _chi2_sf(lr, 1), "rate": x / n}


def christoffersen(hits, p: float | None = None) -> dict[str, float]:
    """Christoffersen's (1998) independence test: does a hit make the next one likelier? With
    n_ij the days in state j after a day in state i (1 = hit), over the n - 1 transitions::

        pi_01 = n01 / (n00 + n01)    pi_11 = n11 / (n10 + n11)    pi = (n01 + n11) / (n - 1)
        LR_ind = -2 [(n00 + n10) log(1 - pi) + (n01 + n11) log pi
                     - n00 log(1 - pi_01) - n01 log pi_01 - n10 log(1 - pi_11) - n11 log pi_11]

    (0 log 0 = 0), chi-square with 1 degree of freedom. Returns ``lr`` and ``p_value``; given the
    expected rate ``p``, also the conditional coverage test ``LR_cc = LR_uc + LR_ind`` (chi-square,
    2 degrees of freedom) as ``lr_cc`` and ``p_value_cc``."""
    h = _hits(hits).astype(int)
    before, after = h[:-1], h[1:]
    n = {(i, j): int(np.sum((before == i) & (after == j))) for i in (0, 1) for j in (0, 1)}
    lr = 2 * (_bernoulli_loglik(n[0, 0], n[0, 1]) + _bernoulli_loglik(n[1, 0], n[1, 1])
              - _bernoulli_loglik(n[0, 0] + n[1, 0], n[0, 1] + n[1, 1]))
    out = {"lr": lr, "p_value": _chi2_sf(lr, 1)}
    if p is not None:
        lr_cc = kupiec(h, p)["lr"] + lr
        out.update(lr_cc=lr_cc, p_value_cc=_chi2_sf(lr_cc, 2))
    return out


# -- the table ------------------------------------------------------------------------------------
def scores(dist, y) -> dict[str, float]:
    """Every score of one forecaster: nll, crps, pinball_05/50/95, coverage_80/90/95, width_80/90/95,
    and for VaR at 95% and 99%: var95_rate, kupiec95_p, christoffersen95_p (and 99)."""
    y, dist = _y(dist, y), _SameQuantiles(dist)
    out = {"nll": nll(dist, y), "crps": crps(dist, y)}
    out.update({f"pinball_{round(100 * u):02d}": pinball(dist, y, u) for u in QUANTILES})
    out.update({f"coverage_{round(100 * c)}": coverage(dist, y, c) for c in LEVELS})
    out.update({f"width_{round(100 * c)}": width(dist, c) for c in LEVELS})
    for c in VAR_LEVELS:
        hits, k = var_hits(dist, y, c), round(100 * c)
        test = kupiec(hits, 1 - c)
        out.update({f"var{k}_rate": test["rate"], f"kupiec{k}_p": test["p_value"],
                    f"christoffersen{k}_p": christoffersen(hits)["p_value"]})
    return out


class _SameQuantiles:
    """The distribution with ``ppf`` remembered by level: the table asks for 8 levels 17 times."""

    def __init__(self, dist):
        self.dist, self.known = dist, {}

    def __len__(self) -> int:
        return len(self.dist)

    def __getattr__(self, name):
        return getattr(self.dist, name)

    def ppf(self, u):
        if np.ndim(u):
            return self.dist.ppf(u)
        if u not in self.known:
            self.known[u] = self.dist.ppf(u)
        return self.known[u]


def table(dists: dict, y) -> dict[str, dict[str, float]]:
    """``scores`` for each named forecaster (name -> distribution over the same N days)."""
    return {name: scores(dist, y) for name, dist in dists.items()}


def format_table(table: dict[str, dict[str, float]]) -> str:
    """The scores as two aligned text tables, one row per method: the scores (lower is better),
    then calibration (coverage near 80/90/95%, VaR hit rates near 5%/1%, p-values: small rejects)."""
    head = (f"{'method':<16}{'NLL':>10}{'CRPS':>11}{'pin 5%':>11}{'pin 50%':>11}{'pin 95%':>11}"
            f"{'width 80':>11}{'width 90':>11}{'width 95':>11}")
    rows = [head, "-" * len(head)]
    for name, m in table.items():
        rows.append(f"{name:<16}{m['nll']:>10.4f}{m['crps']:>11.6f}{m['pinball_05']:>11.6f}"
                    f"{m['pinball_50']:>11.6f}{m['pinball_95']:>11.6f}{m['width_80']:>11.5f}"
                    f"{m['width_90']:>11.5f}{m['width_95']:>11.5f}")
    head = (f"{'method':<16}{'cover 80':>10}{'cover 90':>10}{'cover 95':>10}{'VaR95 hit':>11}{'Kupiec p':>10}"
            f"{'indep p':>10}{'VaR99 hit':>11}{'Kupiec p':>10}{'indep p':>10}")
    rows += ["", head, "-" * len(head)]
    for name, m in table.items():
        rows.append(f"{name:<16}{m['coverage_80']:>10.1%}{m['coverage_90']:>10.1%}{m['coverage_95']:>10.1%}"
                    f"{m['var95_rate']:>11.2%}{m['kupiec95_p']:>10.3f}{m['christoffersen95_p']:>10.3f}"
                    f"{m['var99_rate']:>11.2%}{m['kupiec99_p']:>10.3f}{m['christoffersen99_p']:>10.3f}")
    return "\n".join(rows)
