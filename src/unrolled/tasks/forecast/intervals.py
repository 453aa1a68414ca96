"""From a probabilistic head's outputs to what a user reads: the distribution of the next change
(the log return by default) in its own units, and price intervals.

The network works on the standardised change ``(y - y_mean) / y_std``; its distribution maps back
by ``y = y_mean + y_std * Y`` (``shift_scale``: exact for the normal, the Student-t and quantiles).
The price is an increasing function of the change (``p_last * exp(y)`` for log returns), so each
quantile of the change maps to the same quantile of the price: the median price and the central
50/80/90/95% intervals come from the change's quantiles at (1 -+ level) / 2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from unrolled.tasks.forecast import heads

INTERVALS = (0.5, 0.8, 0.9, 0.95)  # the central intervals predict reports


def change_distribution(distribution, raw, y_mean, y_std):
    """raw (B, P) outputs on the standardised change -> its distribution in the change's units."""
    from unrolled.tasks.forecast import distributions as dists

    p = heads.parameters(distribution, raw)
    if distribution == "normal":
        standard = dists.Normal(p["mu"], p["sigma"])
    elif distribution == "studentt":
        standard = dists.StudentT(p["mu"], p["sigma"], p["nu"])
    else:
        standard = dists.Quantiles(np.asarray(heads.LEVELS), p["q"])
    return standard.shift_scale(float(y_mean), float(y_std))


def levels(intervals=INTERVALS) -> list[float]:
    """The quantile levels of the central intervals' ends, lowest first, with the median."""
    lows = [(1 - c) / 2 for c in sorted(intervals, reverse=True)]
    return lows + [0.5] + [1 - u for u in reversed(lows)]


def interval_columns(price_quantiles, frame, origin, n, intervals=INTERVALS) -> pd.DataFrame:
    """``lower_50`` / ``upper_50`` ... ``lower_95`` / ``upper_95`` for the first ``n`` steps after
    ``origin`` (one row): ``price_quantiles(frame, origins, levels)`` -> (1, h, len(levels))."""
    us = levels(intervals)
    q = price_quantiles(frame, origin, us)[0, :n]  # (n, len(us))
    cols = {}
    for c in sorted(intervals):
        lo, hi = us.index((1 - c) / 2), us.index(1 - (1 - c) / 2)
        cols[f"lower_{round(100 * c)}"], cols[f"upper_{round(100 * c)}"] = q[:, lo], q[:, hi]
    return pd.DataFrame(cols)


def fan_figure(dates, actual, quantiles, us, history_dates=None, history=None, title=""):
    """A fan chart: the median and the central intervals (``quantiles`` (N, len(us)) at levels
    ``us``) shaded from wide to narrow, with the actual values (and some history before)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.5), dpi=110)
    ax = fig.add_subplot()
    if history is not None:
        ax.plot(history_dates, history, color="black", lw=1, label="history")
    k = len(us)
    for j in range(k // 2):  # the widest first
        lo, hi = us[j], us[k - 1 - j]
        ax.fill_between(dates, quantiles[:, j], quantiles[:, k - 1 - j], color="tab:blue",
                        alpha=0.15 + 0.15 * j, lw=0, label=f"{round(100 * (hi - lo))}% interval")
    ax.plot(dates, quantiles[:, k // 2], color="tab:blue", lw=1, label="median")
    ax.plot(dates, actual, color="tab:red", lw=1, label="actual")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def pit_figure(pits: dict, bins=20, title=""):
    """PIT histograms (the predicted CDF at each realised value): flat for a calibrated forecast."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.2 * len(pits), 3.2), dpi=110)
    axes = fig.subplots(1, len(pits), squeeze=False)[0]
    for ax, (name, u) in zip(axes, pits.items()):
        ax.hist(u, bins=bins, range=(0, 1), density=True, color="tab:blue", alpha=0.7)
        ax.axhline(1.0, color="black", lw=1, ls="--")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("PIT")
    axes[0].set_ylabel("density")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
