"""The distribution forecast's evaluation for ``unrolled forecast --distribution ...``: on every
test day, one step ahead, the model's distribution of the day's log return beside the baselines'
(GARCH(1,1)-t, a 20-day rolling normal, the empirical distribution of past returns; parameters
fitted on the rows before the test period only), scored by ``scoring.table``: NLL, CRPS, pinball
losses, interval coverage and width, and the value-at-risk backtests. Then a one-line verdict
against the goals (90% intervals covering 88-92% of days; both backtests not rejected at 5%;
CRPS and NLL at or below GARCH's), the fan chart and the PIT histograms.
"""

from __future__ import annotations

import numpy as np

from unrolled.tasks.forecast import features as ft
from unrolled.tasks.forecast import intervals


def check_supported(f, folds: int) -> None:
    """Before any training: what the evaluation needs."""
    if f.distribution == "point":
        return
    if f.target_transform != "log_return":
        raise ValueError(f"--distribution {f.distribution} is scored on log returns beside GARCH; use "
                         "--target-transform log_return (the default)")
    if folds != 1:
        raise ValueError(f"--distribution {f.distribution} is evaluated on one train/test split; leave out --folds")


def evaluate(f, frame, cut: int, echo=print) -> dict:
    """Score the fitted ``f`` and the baselines on the test days ``cut .. n-1`` (one step ahead).
    Returns the table, the days, the realised returns, every distribution and the baselines left out."""
    from unrolled.tasks.forecast import return_baselines, scoring

    p = frame[f.target].to_numpy()
    r = np.log(p[1:] / p[:-1])  # r[t - 1]: the log return realised on row t
    origins = ft.origins_between(cut, len(frame) - 1, f.lookback, f.horizon)  # one step ahead: row o + 1
    days = origins + 1
    y = r[days - 1]
    dists = {"model": f.change_distribution(frame, origins, 1)}
    baselines, left_out = return_baselines.baselines(r, cut - 1)  # their day k is return r[cut - 1 + k]
    for name, d in baselines.items():
        dists[name] = d.take(days - cut)
    table = scoring.table(dists, y)
    return {"table": table, "days": days, "y": y, "dists": dists, "left_out": left_out}


def verdict(table: dict, reference="garch11_t") -> str:
    """One line: the model against the goals and against GARCH."""
    m = table["model"]
    parts = [f"90% interval covers {m['coverage_90']:.1%} of test days "
             f"({'within' if 0.88 <= m['coverage_90'] <= 0.92 else 'outside'} the 88-92% goal)"]
    rejected = [f"{name} at {lvl}%" for lvl in (95, 99) for name, key in (("Kupiec", f"kupiec{lvl}_p"),
                                                                         ("Christoffersen", f"christoffersen{lvl}_p"))
                if m[key] < 0.05]
    parts.append("no VaR backtest rejected at 5%" if not rejected else f"VaR backtests rejected: {', '.join(rejected)}")
    if reference in table:
        g = table[reference]
        better = [k.upper() for k in ("crps", "nll") if m[k] <= g[k]]
        worse = [k.upper() for k in ("crps", "nll") if m[k] > g[k]]
        parts.append(("at or below GARCH(1,1)-t in " + " and ".join(better) if better else "")
                     + ("; " if better and worse else "")
                     + (f"ABOVE GARCH(1,1)-t in {' and '.join(worse)} (CRPS {m['crps']:.5f} vs {g['crps']:.5f}, "
                        f"NLL {m['nll']:.4f} vs {g['nll']:.4f})" if worse else ""))
    return "verdict: " + "; ".join(parts)


def figures(f, frame, result, last_days=250):
    """(fan chart of the last ``last_days`` test days, PIT histograms) as Figures."""
    from unrolled.tasks.forecast import scoring

    days = result["days"][-last_days:]
    us = intervals.levels()
    q = f.price_quantiles(frame, days - 1, us)[:, 0]  # (N, len(us)): one step ahead from each day before
    dates = frame[f.date_col].to_numpy()
    p = frame[f.target].to_numpy()
    before = np.arange(max(0, days[0] - 60), days[0])
    fan = intervals.fan_figure(dates[days], p[days], q, us, dates[before], p[before],
                               title=f"{f.target}: one-step-ahead median and central intervals ({f.distribution})")
    pits = {name: scoring.pit(d, result["y"]) for name, d in result["dists"].items()}
    return fan, intervals.pit_figure(pits, title="PIT over the test days (flat = calibrated)")
