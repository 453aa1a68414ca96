"""Activations and their derivatives, the derivatives written from the outputs.

Seed 000, fig. 3 and seed 004, eq. 2 and 4::

    sigmoid(x) = 1 / (1 + e^-x)        sigmoid' = s * (1 - s)
    tanh(x)                             tanh'    = 1 - y * y
    relu(x)    = max(0, x)              relu'    = 1[y > 0]
    softmax(o)_k = e^o_k / sum_j e^o_j

The backward of a layer only keeps the activation's output in its cache, so every ``d*``
function below takes ``y`` (the output), not ``x``.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, written as ``0.5 * tanh(0.5 x) + 0.5``.

    The identity ``sigmoid(x) = (1 + tanh(x / 2)) / 2`` never forms ``e^-x``, so it cannot
    overflow (``1 / (1 + exp(-x))`` warns for x = -1e4 in float32 and float64) and it
    keeps the input's dtype.
    """
    x = np.asarray(x)
    return 0.5 * np.tanh(0.5 * x) + 0.5


def dsigmoid(s: np.ndarray) -> np.ndarray:
    """Derivative of the sigmoid from its output ``s``: ``s * (1 - s)``."""
    return s * (1.0 - s)


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def dtanh(y: np.ndarray) -> np.ndarray:
    """Derivative of tanh from its output ``y``: ``1 - y^2``."""
    return 1.0 - y * y


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def drelu(y: np.ndarray) -> np.ndarray:
    """Derivative of ReLU from its output ``y``: 1 where ``y > 0`` else 0 (0 at the kink, as torch)."""
    return (y > 0).astype(y.dtype)


def log_softmax(o: np.ndarray, axis: int = -1) -> np.ndarray:
    """``o - logsumexp(o)``, shifted by the max so that no exponent is positive."""
    shifted = o - np.max(o, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(o: np.ndarray, axis: int = -1) -> np.ndarray:
    """Seed 004 eq. 4, ``y = softmax(o)``, computed stably via the max shift."""
    e = np.exp(o - np.max(o, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


ACTIVATIONS = {"tanh": (tanh, dtanh), "relu": (relu, drelu)}
