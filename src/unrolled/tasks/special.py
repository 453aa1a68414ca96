"""Special functions the tasks' likelihoods share, vectorised (NumPy has no erfc or lgamma):
compiled once by numba and cached.

* ``erfc``, ``lgamma``: ``math``'s, elementwise over float64 arrays;
* ``log_normal_tail(z)`` = log Q(z) = log P(Z > z) for a standard normal Z, accurate in both
  tails: ``log1p(-Phi(z))`` below -20 (where Q is 1 less a sliver that log would round away),
  ``log(erfc(z / sqrt 2) / 2)`` up to 30, and past 30 (where erfc underflows) Mills' ratio's
  asymptotic series
  ``Q(z) = phi(z) / z (1 - q + 3 q^2 - 15 q^3 + 105 q^4 - 945 q^5)``, q = 1 / z^2 (< 1e-13 off).

Used by the point processes' log-normal mixture and synthetic renewal process
(``tasks/tpp``) and the forecasts' distributions (``tasks/forecast``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

LOG_2PI = math.log(2 * math.pi)


@numba.vectorize(["float64(float64)"], cache=True)
def erfc(x):
    return math.erfc(x)


@numba.vectorize(["float64(float64)"], cache=True)
def lgamma(x):
    return math.lgamma(x)


def log_normal_tail(z):
    """log Q(z) = log P(Z > z), elementwise (module docstring)."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    low, far = z < -20.0, z > 30.0
    mid = ~low & ~far
    out[low] = np.log1p(-0.5 * erfc(-z[low] / math.sqrt(2.0)))
    out[mid] = np.log(0.5 * erfc(z[mid] / math.sqrt(2.0)))
    zf = z[far]
    q = 1 / zf ** 2
    out[far] = -0.5 * zf ** 2 - np.log(zf) - 0.5 * LOG_2PI + np.log1p(q * (-1 + q * (3 + q * (-15 + q * (105 - 945 * q)))))
    return out
