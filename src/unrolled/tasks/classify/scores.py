"""How good a classifier's labels and probabilities are, in NumPy (scikit-learn's numbers, without it).

For ``N`` examples with true labels ``y`` and predicted labels ``p`` over classes ``c = 1..C``:

* accuracy ``= (1/N) sum_n [y_n = p_n]``;
* per class, ``TP_c = #{y = c, p = c}``, ``FP_c = #{y != c, p = c}``, ``FN_c = #{y = c, p != c}`` and
  ``F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)`` (0 when the denominator is 0: the class is neither
  present nor predicted); macro F1 ``= (1/C) sum_c F1_c``, every class weighted alike, so that a
  model that never predicts the rare class is not hidden by the common one;
* the confusion matrix ``M[i, j] = #{y = c_i, p = c_j}`` (rows true, columns predicted);
* calibration: of the top-class probability ``conf_n = max_k P(k | x_n)``, binned; a calibrated
  model is right ``conf`` of the time in each bin (Guo et al., 2017).

Labels may be strings or integers (anything hashable); ``reliability`` takes class indices.
"""

from __future__ import annotations

import numpy as np


def _labels(y, name: str) -> list:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} has shape {y.shape}; give one label per example (a 1-D sequence)")
    return y.tolist()  # plain Python values: np.str_ and str, np.int64 and int hash alike


def _pair(y_true, y_pred) -> tuple[list, list]:
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if len(t) != len(p):
        raise ValueError(f"y_true has {len(t)} labels and y_pred {len(p)}; give one prediction per example")
    if not t:
        raise ValueError("y_true and y_pred are empty; score at least one example")
    return t, p


def _index(labels: list, classes: list) -> np.ndarray:
    """Each label's position in ``classes``; -1 for a label not among them."""
    position = {c: i for i, c in enumerate(classes)}
    return np.array([position.get(v, -1) for v in labels], dtype=np.int64)


def _classes(t: list, p: list, classes) -> list:
    """``classes`` as a list of distinct labels, or (None) every label in either, sorted."""
    if classes is None:
        return np.unique(np.asarray(t + p)).tolist()
    classes = _labels(classes, "classes")
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes={classes!r} must be distinct labels, at least one; drop the repeats")
    return classes


def accuracy(y_true, y_pred) -> float:
    """``(1/N) sum_n [y_n = p_n]``: the share of examples labelled right."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean([a == b for a, b in zip(t, p)]))


def f1_per_class(y_true, y_pred, classes=None) -> np.ndarray:
    """``F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)`` for each of ``classes`` (default: every label in
    either, sorted), 0 where the denominator is 0. An example whose labels are not in ``classes``
    still counts: as a false positive of its predicted class, a false negative of its true one."""
    t, p = _pair(y_true, y_pred)
    classes = _classes(t, p, classes)
    C = len(classes)
    true, pred = _index(t, classes), _index(p, classes)  # (N,), -1 outside classes
    is_true = true[:, None] == np.arange(C)  # (N, C)
    is_pred = pred[:, None] == np.arange(C)  # (N, C)
    tp = (is_true & is_pred).sum(axis=0)  # (C,)
    fp = (~is_true & is_pred).sum(axis=0)
    fn = (is_true & ~is_pred).sum(axis=0)
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def macro_f1(y_true, y_pred, classes=None) -> float:
    """``(1/C) sum_c F1_c`` (``f1_per_class``): scikit-learn's ``f1_score(average="macro",
    labels=classes, zero_division=0)``."""
    return float(np.mean(f1_per_class(y_true, y_pred, classes)))


def confusion(y_true, y_pred, classes) -> np.ndarray:
    """``M[i, j] = #{y = c_i, p = c_j}``: (C, C) int64 counts, rows true, columns predicted, in the
    order of ``classes``. A label outside ``classes`` is an error, not dropped: the rows would no
    longer add up to the examples of each class."""
    t, p = _pair(y_true, y_pred)
    classes = _classes(t, p, classes)
    C = len(classes)
    true, pred = _index(t, classes), _index(p, classes)  # (N,)
    for name, idx, labels in (("y_true", true, t), ("y_pred", pred, p)):
        if (idx < 0).any():
            unknown = sorted({str(labels[n]) for n in np.flatnonzero(idx < 0)})
            raise ValueError(f"{name} holds labels {unknown[:5]} not in classes {classes}; add them to classes")
    return np.bincount(true * C + pred, minlength=C * C).reshape(C, C)  # (C, C)


def reliability(proba, y_index, bins: int = 10) -> dict:
    """Calibration of the top-class probability ``conf_n = max_k proba[n, k]`` (the predicted class
    is its argmax) in ``bins`` equal bins ``B_b = (b/bins, (b+1)/bins]`` (the first also holds 0):

    * ``conf_b = (1/|B_b|) sum_{n in B_b} conf_n`` and ``acc_b = (1/|B_b|) sum_{n in B_b} [p_n = y_n]``;
    * ``ECE = sum_b (|B_b| / N) |acc_b - conf_b|``: 0 when each bin is right as often as it is sure.

    ``proba`` (N, K) rows of probabilities, ``y_index`` (N,) true class indices in 0..K-1. Returns
    ``{"edges": (bins+1,), "confidence": (bins,), "accuracy": (bins,), "count": (bins,) int,
    "ece": float}``; an empty bin's confidence and accuracy are NaN."""
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y_index)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins={bins!r} is invalid; use a whole number of bins, at least 1 (e.g. 10)")
    if proba.ndim != 2 or proba.shape[0] == 0 or proba.shape[1] < 2:
        raise ValueError(f"proba has shape {proba.shape}; give (N, K) class probabilities, N >= 1, K >= 2")
    if not np.isfinite(proba).all() or (proba < 0).any() or (proba > 1).any() or \
            not np.allclose(proba.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("proba's rows must be probabilities (each in [0, 1], adding up to 1); pass "
                         "predict_proba's output, not scores")
    N, K = proba.shape
    if y.shape != (N,) or not np.issubdtype(y.dtype, np.integer) or (y < 0).any() or (y >= K).any():
        raise ValueError(f"y_index must be {N} whole class indices in 0..{K - 1} (one per row of proba); "
                         "map the labels to their columns first")
    conf = proba.max(axis=1)  # (N,)
    correct = proba.argmax(axis=1) == y  # (N,)
    edges = np.linspace(0.0, 1.0, bins + 1)  # (bins+1,)
    b = np.digitize(conf, edges[1:-1], right=True)  # (N,): edges[b] < conf <= edges[b+1]
    count = np.bincount(b, minlength=bins)  # (bins,)
    with np.errstate(invalid="ignore", divide="ignore"):  # empty bins: NaN, kept out of the ECE below
        mean_conf = np.bincount(b, weights=conf, minlength=bins) / count
        acc = np.bincount(b, weights=correct, minlength=bins) / count
    full = count > 0
    ece = float(np.sum(count[full] / N * np.abs(acc[full] - mean_conf[full])))
    return {"edges": edges, "confidence": mean_conf, "accuracy": acc, "count": count, "ece": ece}


def expected_calibration_error(proba, y_index, bins: int = 10) -> float:
    """``ECE = sum_b (|B_b| / N) |acc_b - conf_b|`` over ``bins`` equal confidence bins (``reliability``)."""
    return reliability(proba, y_index, bins)["ece"]


def r2(y_true, y_pred) -> float:
    """The coefficient of determination, ``R^2 = 1 - SS_res / SS_tot``, as scikit-learn's ``r2_score``."""
    y, pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    return float(1.0 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))
