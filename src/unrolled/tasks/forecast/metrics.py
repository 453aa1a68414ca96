"""Errors on the price level, and the baselines a forecaster has to beat.

For forecasts ``p^`` of actual prices ``p`` made from the last known price ``p_t``::

    MAE  = mean |p^ - p|                 RMSE = sqrt(mean (p^ - p)^2)
    MAPE = 100 * mean |p^ - p| / |p|     direction accuracy = mean[ sign(p^ - p_t) == sign(p - p_t) ]

Baselines, on the same origins: persistence (``p^_{t+k} = p_t``: tomorrow = today) and a moving
average of the last ``window`` prices. Persistence predicts no change, so its direction accuracy
only counts the days that did not move; compare the model's with the share of up moves instead.

A lower error over a few hundred days can be luck: ``verdict`` says the model "beats" a baseline
only when the Diebold-Mariano test (``diebold_mariano``) finds its squared errors smaller at the
5% level, "is worse than" when larger, and otherwise "is within noise of" it, with the p-value.
"""

from __future__ import annotations

import math

import numpy as np


def errors(pred: np.ndarray, actual: np.ndarray, last: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, MAPE (%) and direction accuracy of ``pred`` vs ``actual`` (same shapes; ``last``
    broadcasts: the price known at each forecast's origin)."""
    e = pred - actual
    return {
        "rmse": float(np.sqrt(np.mean(e * e))),
        "mae": float(np.mean(np.abs(e))),
        "mape": float(100.0 * np.mean(np.abs(e) / np.maximum(np.abs(actual), 1e-12))),
        "direction_accuracy": float(np.mean(np.sign(pred - last) == np.sign(actual - last))),
    }


def persistence(p: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """``p^_{t+k} = p_t`` for k = 1..h: (B, h)."""
    return np.repeat(p[origins][:, None], horizon, axis=1)


def moving_average(p: np.ndarray, origins: np.ndarray, horizon: int, window: int) -> np.ndarray:
    """``p^_{t+k} = mean(p_{t-w+1..t})`` for k = 1..h: (B, h). ``window`` must be a whole number
    from 1 to the rows up to the first origin: it looks back only, never ahead (ValueError)."""
    origins = np.asarray(origins)
    if isinstance(window, (bool, np.bool_)) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"ma_window={window!r} is invalid; use a whole number >= 1 (--ma-window): the moving "
                         "average is the mean of that many rows up to the forecast's origin")
    if len(origins) and window > origins.min() + 1:
        raise ValueError(f"ma_window={window} is more than the {origins.min() + 1} rows up to the first forecast's "
                         f"origin; use at most {origins.min() + 1} (--ma-window)")
    c = np.concatenate([[0.0], np.cumsum(p)])
    lo = origins + 1 - window
    mean = (c[origins + 1] - c[lo]) / window  # (B,)
    return np.repeat(mean[:, None], horizon, axis=1)


# -- is a difference more than noise? ------------------------------------------------------------
def diebold_mariano(e_model: np.ndarray, e_base: np.ndarray, horizon: int = 1) -> dict[str, float]:
    """The Diebold-Mariano test of equal accuracy, squared-error loss, with Harvey, Leybourne and
    Newbold's (1997) small-sample correction::

        d_t  = e_model,t^2 - e_base,t^2                     (errors (T,), or (T, h): d_t averages the h steps)
        g_k  = (1/T) sum_{t>k} (d_t - dbar)(d_{t-k} - dbar)  autocovariances, k = 0..h-1
        V    = (g_0 + 2 sum_{k=1}^{h-1} g_k) / T             HAC variance of dbar, h-1 lags (g_0 alone if <= 0)
        DM   = dbar / sqrt(V) * sqrt((T + 1 - 2h + h(h-1)/T) / T),   p two-sided from Student's t, T-1 df

    Returns ``statistic``, ``p_value``, ``mean_loss_differential`` (dbar: < 0 where the model's
    squared errors are smaller) and ``forecasts`` (T)."""
    d = np.asarray(e_model, dtype=np.float64) ** 2 - np.asarray(e_base, dtype=np.float64) ** 2
    d = d.mean(axis=1) if d.ndim == 2 else d.ravel()
    T, h = len(d), max(1, int(horizon))
    if T < 2:
        raise ValueError(f"{T} forecast(s) are too few to compare with a baseline; use a longer test period")
    dbar = float(d.mean())
    u = d - dbar
    gamma = [float(u[k:] @ u[:T - k]) / T for k in range(min(h, T))]
    var = (gamma[0] + 2 * sum(gamma[1:])) / T
    if var <= 0:  # the lagged sum can make the estimate negative: no lags then
        var = gamma[0] / T
    stat = (dbar / math.sqrt(var)) if var > 0 else (0.0 if dbar == 0 else math.copysign(math.inf, dbar))
    stat *= math.sqrt(max(0.0, (T + 1 - 2 * h + h * (h - 1) / T) / T))
    return {"statistic": stat, "p_value": t_two_sided_p(stat, T - 1), "mean_loss_differential": dbar,
            "forecasts": T}


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2)."""
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0
    return _betainc(df / 2.0, 0.5, df / (df + t * t))


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (continued fraction, Numerical Recipes 6.4)."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 10_000):
        for aa in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                   -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return result


def verdict(table: dict[str, dict[str, float]], tests: dict[str, dict[str, float]], level: float = 0.05) -> str:
    """One honest sentence: against each baseline in ``tests`` (``diebold_mariano``'s results),
    "beats" only when significantly better at ``level``, "is worse than" when significantly worse,
    else "is within noise of"; with the RMSEs and the p-values."""
    m = table["model"]
    words = {}
    for name, t in tests.items():
        significant = t["p_value"] < level
        words[name] = (("beats" if t["mean_loss_differential"] < 0 else "is worse than") if significant
                       else "is within noise of")
    parts = [f"{words[name]} {name} (RMSE {m['rmse']:.4g} vs {table[name]['rmse']:.4g}, {_p(t['p_value'])})"
             for name, t in tests.items()]
    said = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    after = {"beats": "", "is within noise of": "; over this test period it is no better than 'tomorrow = today'",
             "is worse than": "; over this test period 'tomorrow = today' is the better forecast"}
    return (f"Diebold-Mariano test on squared errors at {level:.0%}: the model {said}"
            f"{after[words['persistence']] if 'persistence' in words else ''}.")


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3g}"


def format_table(table: dict[str, dict[str, float]]) -> str:
    """The metrics as an aligned text table, one row per method."""
    head = f"{'method':<16}{'RMSE':>12}{'MAE':>12}{'MAPE %':>10}{'direction':>11}"
    rows = [head, "-" * len(head)]
    for name, m in table.items():
        rows.append(f"{name:<16}{m['rmse']:>12.4f}{m['mae']:>12.4f}{m['mape']:>10.3f}"
                    f"{m['direction_accuracy']:>11.1%}")
    return "\n".join(rows)
