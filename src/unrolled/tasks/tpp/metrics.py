"""The numbers every model and baseline is measured by, from what each gives for held-out data:
``(Intervals, the distribution of each interval's time, mark log-probabilities or None)``.

* ``time_nll``: ``-(sum_i log p(tau_i) + sum_windows log S(silence)) / N`` -- nats per event;
* ``mark_nll``: the marks' cross-entropy per event (0 for unmarked data);
* ``nll_per_event`` = their sum;
* ``mae``: mean |median - tau| over the events; ``rmse``: root mean squared (mean - tau), the
  mean being ``E[min(tau, time left in the window)]`` (an event after the window's end is not in
  the data, and some models, RMTPP with w < 0, leave a chance of no next event at all);
* ``mark_accuracy``: the most probable mark against the real one (marked data);
* ``ks_statistic``: the time-rescaling check (Brown et al. 2002): under the right model the
  compensator over each inter-event interval, ``Lambda(tau_i)``, is Exp(1); the largest gap
  between their empirical CDF and ``1 - e^{-x}``.
"""

from __future__ import annotations

import numpy as np

METRICS = ("nll_per_event", "time_nll", "mark_nll", "mae", "rmse", "mark_accuracy", "ks_statistic")


def nll_parts(iv, dist, marks) -> dict:
    tau = np.where(iv.tau > 0, iv.tau, 1.0)
    log_p = np.where(iv.observed, dist.log_pdf(tau), dist.log_survival(tau))
    time_nll = float(-log_p.sum()) / iv.n_events
    mark_nll = 0.0
    if marks is not None:
        ev = iv.observed
        mark_nll = float(-marks[ev][np.arange(ev.sum()), iv.mark[ev]].sum()) / iv.n_events
    return {"nll_per_event": time_nll + mark_nll, "time_nll": time_nll, "mark_nll": mark_nll}


def ks_exponential(x) -> float:
    """sup_x |F_n(x) - (1 - e^{-x})| of the sample ``x`` against Exp(1)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = len(x)
    cdf = -np.expm1(-x)
    return float(max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n)))


def evaluate(iv, dist, marks) -> dict:
    """Every number of ``METRICS`` (``mark_accuracy`` None for unmarked data)."""
    out = nll_parts(iv, dist, marks)
    ev = iv.observed
    rows = np.flatnonzero(ev)
    sub = dist.take(rows)
    tau = iv.tau[ev]
    out["mae"] = float(np.mean(np.abs(sub.median() - tau)))
    out["rmse"] = float(np.sqrt(np.mean((sub.mean(iv.remaining[ev]) - tau) ** 2)))
    out["mark_accuracy"] = None if marks is None else float(np.mean(marks[ev].argmax(axis=1) == iv.mark[ev]))
    out["ks_statistic"] = ks_exponential(sub.compensator(tau))
    return out


def rescaled(iv, dist) -> np.ndarray:
    """The compensator over each inter-event interval (Exp(1) under the right model), for a QQ plot."""
    ev = iv.observed
    return dist.take(np.flatnonzero(ev)).compensator(iv.tau[ev])
