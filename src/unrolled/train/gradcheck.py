"""Central finite differences, the first tier of checks: the hand-derived backward against
``(f(x + eps) - f(x - eps)) / 2 eps`` element by element, in float64."""

from __future__ import annotations

import numpy as np


def numerical_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f() / d x by central differences; ``f`` takes no arguments and reads ``x`` in place."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)  # views: x is perturbed in place
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        up = f()
        flat[k] = old - eps
        down = f()
        flat[k] = old
        gflat[k] = (up - down) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``||a - b|| / max(||a||, ||b||)``, 0 when both are 0."""
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def gradcheck(f, arrays: dict, analytic: dict, eps: float = 1e-6, tol: float = 1e-6,
              raise_exception: bool = True) -> dict:
    """Compare ``analytic[name]`` with the numerical gradient of ``f`` w.r.t. ``arrays[name]``.

    ``f()`` must recompute the scalar loss from the arrays (which are perturbed in place);
    use float64 arrays. Returns ``{name: relative error}``; raises AssertionError naming every
    array above ``tol`` unless ``raise_exception=False``.
    """
    errors = {}
    for name, x in arrays.items():
        if x.dtype != np.float64:
            raise ValueError(f"gradcheck: {name!r} is {x.dtype}; finite differences need float64")
        errors[name] = relative_error(np.asarray(analytic[name], dtype=np.float64),
                                      numerical_gradient(f, x, eps))
    bad = {k: v for k, v in errors.items() if not v < tol}
    if bad and raise_exception:
        raise AssertionError(f"gradcheck failed (tol {tol:g}): " +
                             ", ".join(f"{k}: {v:.2e}" for k, v in bad.items()))
    return errors
