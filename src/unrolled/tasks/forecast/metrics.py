"""Errors on the price level, and the baselines a forecaster has to beat.

For forecasts ``p^`` of actual prices ``p`` made from the last known price ``p_t``::

    MAE  = mean |p^ - p|                 RMSE = sqrt(mean (p^ - p)^2)
    MAPE = 100 * mean |p^ - p| / |p|     direction accuracy = mean[ sign(p^ - p_t) == sign(p - p_t) ]

Baselines, on the same origins: persistence (``p^_{t+k} = p_t``: tomorrow = today) and a moving
average of the last ``window`` prices. Persistence predicts no change, so its direction accuracy
only counts the days that did not move; compare the model's with the share of up moves instead.
"""

from __future__ import annotations

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
    """``p^_{t+k} = mean(p_{t-w+1..t})`` for k = 1..h: (B, h)."""
    c = np.concatenate([[0.0], np.cumsum(p)])
    lo = np.maximum(origins + 1 - window, 0)
    mean = (c[origins + 1] - c[lo]) / (origins + 1 - lo)  # (B,)
    return np.repeat(mean[:, None], horizon, axis=1)


def verdict(table: dict[str, dict[str, float]]) -> str:
    """One honest sentence: does the model beat persistence on RMSE and MAE?"""
    m, p = table["model"], table["persistence"]
    numbers = f"RMSE {m['rmse']:.4g} vs {p['rmse']:.4g}, MAE {m['mae']:.4g} vs {p['mae']:.4g}"
    wins = [k.upper() for k in ("rmse", "mae") if m[k] < p[k]]
    if len(wins) == 2:
        return f"The model beats persistence ({numbers})."
    if wins:
        other = "MAE" if wins[0] == "RMSE" else "RMSE"
        return f"The model beats persistence on {wins[0]} but NOT on {other} ({numbers}): no clear win."
    return (f"The model does NOT beat persistence ({numbers}): over this test period, 'tomorrow = "
            "today' is at least as good a forecast.")


def format_table(table: dict[str, dict[str, float]]) -> str:
    """The metrics as an aligned text table, one row per method."""
    head = f"{'method':<16}{'RMSE':>12}{'MAE':>12}{'MAPE %':>10}{'direction':>11}"
    rows = [head, "-" * len(head)]
    for name, m in table.items():
        rows.append(f"{name:<16}{m['rmse']:>12.4f}{m['mae']:>12.4f}{m['mape']:>10.3f}"
                    f"{m['direction_accuracy']:>11.1%}")
    return "\n".join(rows)
