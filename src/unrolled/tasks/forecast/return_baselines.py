"""Baselines for the distribution of the next day's log return, one step ahead.

Notation: ``r[t]`` is the log return realised on day t (``log_returns``: ``r[t] = log(p[t+1] / p[t])``
of the prices). Every baseline gives, for each day t = start .. N-1, a distribution of ``r[t]``
that uses ``r[0 .. t-1]`` only; its parameters are estimated on ``r[0 .. start-1]`` (the training
part) and never refitted:

``garch11_t``  GARCH(1,1) with Student-t innovations and a constant mean, fitted by maximum
               likelihood with the ``arch`` package on ``100 * r[:start]`` (arch's recommended
               scale), then filtered through the test days with the fitted parameters::

                   eps_t = y_t - mu,   sigma2_t = omega + alpha * eps_{t-1}^2 + beta * sigma2_{t-1}
                   r[t] ~ (mu + sigma_t * z) / 100,   z ~ t_nu scaled to unit variance

               The recursion starts from arch's own conditional variance of the last training
               day; the t's scale parameter is ``sigma_t * sqrt((nu - 2) / nu) / 100``.
``rolling_normal_20``  Normal(0, std of the last 20 returns). Mean 0, not the window mean: the mean
               of 20 daily returns has a standard error of ``sigma / sqrt(20)`` (about 0.2 sigma),
               several times the drift it estimates (a few hundredths of sigma), so it only moves
               the centre at random.
``empirical``  The last 250 returns as equally weighted samples (historical simulation over
               about one trading year, the usual value-at-risk window). A fixed window, not an
               expanding one: it follows volatility regimes, and every day gets the same number
               of samples, so the days stack into one (N, 250) array.

``baselines`` returns all three by name, and leaves GARCH out with the reason when ``arch`` is
not installed (``pip install "unrolled[garch]"``).
"""

from __future__ import annotations

import numpy as np

from unrolled.tasks.forecast.distributions import Empirical, Normal, StudentT

SCALE = 100.0  # arch fits returns in percent: its optimizer and starting values expect that scale
MIN_TRAIN = 100  # returns needed to fit GARCH(1,1)-t's five parameters
ROLLING_WINDOW = 20
EMPIRICAL_WINDOW = 250
ARCH_FIX = 'pip install "unrolled[garch]" (the arch package, version 8.0.0)'


def log_returns(prices) -> np.ndarray:
    """``log(p[t+1] / p[t])`` of N positive prices: (N-1,)."""
    p = np.asarray(prices, dtype=np.float64)
    if p.ndim != 1 or len(p) < 2:
        raise ValueError(f"log_returns needs a 1-D series of at least 2 prices; got shape {p.shape}")
    bad = np.flatnonzero(~(np.isfinite(p) & (p > 0)))
    if len(bad):
        raise ValueError(f"log returns need positive finite prices; row {bad[0]} is {float(p[bad[0]])!r}"
                         f"{f' ({len(bad)} such rows)' if len(bad) > 1 else ''}")
    return np.log(p[1:] / p[:-1])


def _check(returns, start: int, need: int, what: str) -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"returns must be 1-D; got shape {r.shape}")
    bad = np.flatnonzero(~np.isfinite(r))
    if len(bad):
        raise ValueError(f"returns must be finite; returns[{bad[0]}] is {float(r[bad[0]])!r}")
    if isinstance(start, (bool, np.bool_)) or not isinstance(start, (int, np.integer)):
        raise ValueError(f"start={start!r} must be a whole number (the first forecast day)")
    if not need <= start < len(r):
        raise ValueError(f"{what} needs {need} returns before the first forecast day and at least one day to "
                         f"forecast: start={start} with {len(r)} returns; use {need} <= start < {len(r)}")
    return r


def _arch():
    try:
        from arch import arch_model
    except ImportError as e:
        raise ValueError(f"the GARCH(1,1)-t baseline needs the arch package, which is not importable ({e}); "
                         f"{ARCH_FIX}") from e
    return arch_model


def fit_garch(train: np.ndarray):
    """arch's fit of GARCH(1,1)-t with a constant mean to ``SCALE * train``."""
    arch_model = _arch()
    model = arch_model(SCALE * np.asarray(train, dtype=np.float64), mean="Constant", vol="GARCH", p=1, q=1,
                       dist="t", rescale=False)
    return model.fit(disp="off")


def garch_t(returns, train_end: int):
    """GARCH(1,1)-t fitted on ``returns[:train_end]``; one-step distributions of ``returns[t]`` for
    t = train_end .. N-1, each from ``returns[:t]``. Returns (StudentT with arrays (N - train_end,),
    the fitted parameters in arch's units: returns x 100)."""
    r = _check(returns, train_end, MIN_TRAIN, "GARCH(1,1)-t")
    res = fit_garch(r[:train_end])
    prm = res.params
    mu, omega, alpha, beta, nu = (float(prm[k]) for k in ("mu", "omega", "alpha[1]", "beta[1]", "nu"))
    y = SCALE * r
    eps2 = (y - mu) ** 2
    n = len(r) - train_end
    sigma2 = np.empty(n)
    prev = float(np.asarray(res.conditional_volatility)[-1]) ** 2  # arch's sigma2 of day train_end - 1
    for k in range(n):
        prev = omega + alpha * eps2[train_end - 1 + k] + beta * prev
        sigma2[k] = prev
    scale = np.sqrt(sigma2 * (nu - 2.0) / nu) / SCALE
    params = {"mu": mu, "omega": omega, "alpha": alpha, "beta": beta, "nu": nu, "scale": SCALE,
              "train_returns": int(train_end), "loglikelihood": float(res.loglikelihood),
              "convergence_flag": int(res.convergence_flag)}
    return StudentT(np.full(n, mu / SCALE), scale, np.full(n, nu)), params


def _windows(r: np.ndarray, start: int, window: int) -> np.ndarray:
    """``r[t - window : t]`` for t = start .. N-1: (N - start, window), a copy."""
    return np.lib.stride_tricks.sliding_window_view(r[:-1], window)[start - window:].copy()


def _check_window(window) -> int:
    if isinstance(window, (bool, np.bool_)) or not isinstance(window, (int, np.integer)) or window < 2:
        raise ValueError(f"window={window!r} is invalid; use a whole number of days >= 2")
    return int(window)


def rolling_normal(returns, start: int, window: int = ROLLING_WINDOW):
    """Normal(0, np.std(returns[t - window : t])) for t = start .. N-1."""
    window = _check_window(window)
    r = _check(returns, start, window, f"the {window}-day rolling normal")
    w = _windows(r, start, window)
    return Normal(np.zeros(len(w)), w.std(axis=1))


def empirical(returns, start: int, window: int = EMPIRICAL_WINDOW):
    """The returns ``returns[t - window : t]`` as samples of day t's return, t = start .. N-1."""
    window = _check_window(window)
    r = _check(returns, start, window, f"the {window}-day empirical distribution")
    return Empirical(_windows(r, start, window))


def baselines(returns, start: int):
    """({name: distribution over days start .. N-1}, {name: why it was left out})."""
    out, left_out = {}, {}
    fits = {"garch11_t": lambda: garch_t(returns, start)[0],
            f"rolling_normal_{ROLLING_WINDOW}": lambda: rolling_normal(returns, start),
            "empirical": lambda: empirical(returns, start)}
    for name, fit in fits.items():
        try:
            out[name] = fit()
        except ValueError as e:  # too few returns before the test period, or no arch: say so, go on
            left_out[name] = (f"the arch package is not installed; {ARCH_FIX}" if "arch package" in str(e)
                              else f"{e}".split(":")[0].split(";")[0] + f" (the test period starts after {start} returns)")
    return out, left_out
