"""Losses: cross-entropy over time (seed 004 eq. 5) and mean squared error.

Each is a forward / backward pair: ``loss = L.forward(pred, target)``, then ``L.backward()``
returns ``dL/dpred``.
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.activations import log_softmax


class CrossEntropyLoss:
    """Softmax cross-entropy, seed 004 eq. 4-5::

        y^(t) = softmax(o^(t)),   L = sum_t L^(t),   L^(t) = -log y^(t)_{c^(t)}
        dL/do^(t) = y^(t) - onehot(c^(t))

    logits (..., V), targets (...) integer classes. Positions whose target is ``ignore_index``
    (padding) count for nothing. ``reduction="sum"`` is eq. 5 as written; ``"mean"`` (default,
    as PyTorch) divides by the number of counted positions. ``weight`` (V,), as PyTorch's: each
    position's term is multiplied by its class's weight ``w_c``, and ``"mean"`` divides by the sum
    of those weights.
    """

    def __init__(self, reduction="mean", ignore_index=-100, weight=None):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"CrossEntropyLoss: reduction={reduction!r}; use 'mean' or 'sum'")
        if weight is not None:
            weight = np.asarray(weight, dtype=np.float64)
            if weight.ndim != 1 or not np.all(np.isfinite(weight)) or np.any(weight < 0):
                raise ValueError("CrossEntropyLoss: weight must be one finite weight >= 0 per class")
        self.reduction = reduction
        self.ignore_index = ignore_index
        self.weight = weight
        self._cache = None

    def forward(self, logits, targets):
        logits = np.asarray(logits)
        targets = np.asarray(targets)
        if logits.ndim < 1 or logits.shape[:-1] != targets.shape:
            raise ValueError(
                f"CrossEntropyLoss: logits {logits.shape} and targets {targets.shape} do not match; "
                "expected logits (..., V) and integer targets (...)")
        if targets.dtype.kind not in "iu":
            raise ValueError(f"CrossEntropyLoss: targets must be integer class ids, got dtype {targets.dtype}")
        V = logits.shape[-1]
        counted = targets != self.ignore_index
        if np.any((targets[counted] < 0) | (targets[counted] >= V)):
            raise ValueError(f"CrossEntropyLoss: targets must lie in [0, V={V}) or equal ignore_index")
        if self.weight is not None and len(self.weight) != V:
            raise ValueError(f"CrossEntropyLoss: weight has {len(self.weight)} entries for V={V} classes")
        logp = log_softmax(logits)  # (..., V)
        safe = np.where(counted, targets, 0)
        w = counted if self.weight is None else counted * self.weight[safe]  # (...) each term's weight
        nll = -np.take_along_axis(logp, safe[..., None], axis=-1)[..., 0] * w  # (...)
        n = float(w.sum()) if self.weight is not None else max(int(counted.sum()), 1)
        scale = (1.0 / n if n > 0 else 0.0) if self.reduction == "mean" else 1.0
        self._cache = (logp, safe, w, scale)
        return float(nll.sum() * scale)

    __call__ = forward

    def backward(self):
        logp, safe, w, scale = self._cache
        dlogits = np.exp(logp)  # y = softmax(o)
        np.put_along_axis(dlogits, safe[..., None],
                          np.take_along_axis(dlogits, safe[..., None], axis=-1) - 1.0, axis=-1)
        return (dlogits * (w[..., None] * scale)).astype(logp.dtype)  # w_c (y - onehot(c)), padding zeroed


class MSELoss:
    """Mean squared error, ``L = mean((pred - target)^2)`` (or the sum); ``dL/dpred = 2 (pred - target) / N``."""

    def __init__(self, reduction="mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"MSELoss: reduction={reduction!r}; use 'mean' or 'sum'")
        self.reduction = reduction
        self._cache = None

    def forward(self, pred, target):
        pred, target = np.asarray(pred), np.asarray(target)
        if pred.shape != target.shape:
            raise ValueError(f"MSELoss: pred {pred.shape} and target {target.shape} must have the same shape")
        diff = pred - target
        scale = 1.0 / max(diff.size, 1) if self.reduction == "mean" else 1.0
        self._cache = (diff, scale)
        return float(np.sum(diff * diff) * scale)

    __call__ = forward

    def backward(self):
        diff, scale = self._cache
        return 2.0 * scale * diff
