"""From a checked price frame to model inputs: transforms, a scaler fitted on training rows only,
and windows of ``lookback`` steps -> the next ``horizon`` values.

Notation: ``p_t`` the target (e.g. Close) at row t, ``N`` rows, ``L`` lookback, ``h`` horizon,
``F`` features per step. Prices drift out of any training range (the S&P 500's test years lie
above every training value), so by default the model sees and predicts log returns::

    input row t   x_t = [ log(p_t / p_{t-1}),  covariate changes at t,  calendar(date_t) ]     (F,)
    target        y_{t,k} = log(p_{t+k} / p_t),  k = 1..h        (direct multi-output, cumulative)
    back to price p^_{t+k} = p_t * exp(y^_{t,k})

``target_transform="diff"`` uses ``p_{t+k} - p_t`` (for series that can be zero or negative);
``"level"`` uses ``p_{t+k}`` itself. A covariate enters as its change: ``log(v_t / v_{t-1})`` if
it was positive throughout the training rows (volumes), ``v_t - v_{t-1}`` otherwise. Row 0 has
no change, so windows start at row 1.
"""

from __future__ import annotations

import numpy as np

TRANSFORMS = ("log_return", "diff", "level")


def target_rows(p: np.ndarray, transform: str) -> np.ndarray:
    """The target's own input feature at each row (row 0 is NaN: it has no predecessor)."""
    z = np.full(p.shape, np.nan)
    if transform == "log_return":
        z[1:] = np.log(p[1:] / p[:-1])
    elif transform == "diff":
        z[1:] = np.diff(p)
    else:
        z[1:] = p[1:]
    return z


def to_target(p_last: np.ndarray, p_future: np.ndarray, transform: str) -> np.ndarray:
    """y from the price at the origin ``p_last`` (B, 1) and the future prices (B, h)."""
    if transform == "log_return":
        return np.log(p_future / p_last)
    if transform == "diff":
        return p_future - p_last
    return p_future


def to_price(p_last: np.ndarray, y: np.ndarray, transform: str) -> np.ndarray:
    """Inverse of ``to_target``: predicted prices (B, h) from y (B, h) and the origin prices (B, 1)."""
    if transform == "log_return":
        return p_last * np.exp(y)
    if transform == "diff":
        return p_last + y
    return y


def covariate_rows(v: np.ndarray, use_log: np.ndarray) -> np.ndarray:
    """Changes of the covariates v (N, k): log-ratio where ``use_log``, else differences; row 0 NaN."""
    z = np.full(v.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z[1:] = np.where(use_log, np.log(v[1:] / v[:-1]), np.diff(v, axis=0))
    return z


class Scaler:
    """Standardize each column with the mean and standard deviation of the rows it is fitted on."""

    def fit(self, a: np.ndarray) -> "Scaler":
        self.mean_ = a.mean(axis=0)
        std = a.std(axis=0)
        self.std_ = np.where(std > 1e-12, std, 1.0)  # a constant column stays as it is
        return self

    def transform(self, a):
        return (a - self.mean_) / self.std_

    def inverse_transform(self, a):
        return a * self.std_ + self.mean_


def windows(X: np.ndarray, origins: np.ndarray, lookback: int) -> np.ndarray:
    """Inputs for each origin t: rows t-L+1..t of X (N, F) -> (L, B, F), time-major."""
    idx = origins[None, :] + np.arange(-lookback + 1, 1)[:, None]  # (L, B)
    return X[idx]  # (L, B, F)


def future(p: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Values p_{t+1..t+h} for each origin t: (B, h)."""
    return p[origins[:, None] + np.arange(1, horizon + 1)[None, :]]


def split_rows(n: int, fraction: float) -> int:
    """Rows before the cut: the last ``fraction`` of ``n`` rows is held out (at least one row)."""
    return n - max(1, int(round(n * fraction)))


def origins_between(first_target: int, last_target: int, lookback: int, horizon: int) -> np.ndarray:
    """Origins t whose inputs exist (t >= L) and whose targets t+1..t+h lie in [first, last]."""
    return np.arange(max(lookback, first_target - 1), last_target - horizon + 1)


def count_origins(first_target: int, last_target: int, lookback: int, horizon: int) -> int:
    """``len(origins_between(...))`` without making the array: O(1) for any sizes."""
    return max(0, last_target - horizon + 1 - max(lookback, first_target - 1))


def chunks(n: int, size: int):
    """``slice``s of ``range(n)``, ``size`` at a time: evaluation in pieces, so that memory grows
    with ``size``, not with the data."""
    return (slice(a, min(a + size, n)) for a in range(0, n, size))
