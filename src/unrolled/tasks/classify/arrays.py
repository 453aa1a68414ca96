"""Numbers in: ``ArrayClassifier`` for users' own sequences (sensor windows, trajectories,
event counts), the text classifier's network with no embedding::

    clf = ArrayClassifier(cell="gru").fit(X, y)            # X: a list of (T_i, D) arrays
    clf = ArrayClassifier().fit(X, y, lengths=lengths)     # or a padded (B, T, D) array
    clf.predict(X); clf.predict_proba(X); clf.score(X, y)

Each feature is standardised with the mean and spread of the training steps (``feature_mean_``,
``feature_scale_``), so that inputs of any unit meet the gates in their sensitive range.
"""

from __future__ import annotations

import numpy as np

from unrolled.tasks.classify.sequences import (SequenceEstimator, class_hyperparams, engine_hyperparams,
                                              shared_hyperparams)


def as_sequences(X, lengths=None) -> list[np.ndarray]:
    """A list of (T_i, D) float arrays from a list of arrays, or a padded (B, T, D) array with
    ``lengths`` (B,) (default: every row T steps long); ValueError naming the fix."""
    if isinstance(X, np.ndarray) and X.ndim == 3:
        B, T, _ = X.shape
        lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
        if lengths.shape != (B,) or lengths.dtype.kind not in "iu" or (lengths < 1).any() or (lengths > T).any():
            raise ValueError(f"lengths must be {B} whole numbers from 1 to T={T}, one per row of X (B, T, D)")
        seqs = [X[b, : lengths[b]] for b in range(B)]
    else:
        if lengths is not None:
            raise ValueError("lengths goes with a padded (B, T, D) array; a list of (T_i, D) arrays carries its own")
        if isinstance(X, (str, bytes)) or not hasattr(X, "__len__") or len(X) == 0:
            raise ValueError("X must be a non-empty list of (T_i, D) arrays, or a padded (B, T, D) array")
        seqs = [np.asarray(x) for x in X]
    for k, s in enumerate(seqs):
        if s.ndim != 2 or s.shape[0] < 1 or s.dtype.kind not in "biuf":
            raise ValueError(f"example {k} has shape {s.shape} ({s.dtype}); each must be a (T_i, D) array of "
                             "numbers with T_i >= 1")
        if s.shape[1] != seqs[0].shape[1]:
            raise ValueError(f"example {k} has {s.shape[1]} features, example 0 has {seqs[0].shape[1]}; give every "
                             "example the same D")
        if not np.isfinite(s).all():
            raise ValueError(f"example {k} holds NaN or infinite values; fill or drop them")
    return [s.astype(np.float64) for s in seqs]


class ArrayClassifier(SequenceEstimator):
    """``cell`` stack over each sequence's true length (bidirectional by default) -> pooling ->
    dropout -> Linear -> softmax cross-entropy; X (T_i, D) sequences of numbers."""

    task = "classify_arrays"
    noun = "sequence classifier"
    target = "class"
    hyperparams = {**shared_hyperparams(), **class_hyperparams(), **engine_hyperparams()}
    learned = SequenceEstimator.learned + ("input_size_", "feature_mean_", "feature_scale_")

    def fit(self, X, y, lengths=None, *, validation=None, resume=False, log=None) -> "ArrayClassifier":
        """Train on sequences ``X`` (see ``as_sequences``) and labels ``y``; returns self.
        ``validation``: ``(X, y)`` for early stopping, else a stratified ``validation_fraction``."""
        seqs = as_sequences(X, lengths)
        if validation is not None:
            validation = (as_sequences(validation[0]), validation[1])
        return self._fit(seqs, y, validation, resume, log)

    def _fit_inputs(self, seqs, train_rows) -> None:
        steps = np.concatenate([seqs[i] for i in train_rows])  # (sum T_i, D)
        self.input_size_ = int(steps.shape[1])
        self.feature_mean_ = steps.mean(axis=0).tolist()
        self.feature_scale_ = [s if s > 0 else 1.0 for s in steps.std(axis=0).tolist()]

    def _encode(self, X) -> list[np.ndarray]:
        seqs = as_sequences(X)
        if seqs[0].shape[1] != self.input_size_:
            raise ValueError(f"the sequences have {seqs[0].shape[1]} features; this model was fitted on "
                             f"{self.input_size_}")
        mean, scale = np.asarray(self.feature_mean_), np.asarray(self.feature_scale_)
        return [(s - mean) / scale for s in seqs]

    def predict_proba(self, X, lengths=None) -> np.ndarray:
        return super().predict_proba(as_sequences(X, lengths))

    def predict(self, X, lengths=None) -> np.ndarray:
        return super().predict(as_sequences(X, lengths))

    def score(self, X, y, lengths=None) -> float:
        return super().score(as_sequences(X, lengths), y)

    def _batch(self, seqs):
        """A padded (T, B, D) batch and the lengths (B,)."""
        lengths = np.array([len(s) for s in seqs])
        x = np.zeros((lengths.max(), len(seqs), self.input_size_), dtype=np.float32)  # padding never read
        for b, s in enumerate(seqs):
            x[: len(s), b] = s
        return x, lengths

    def _input_size(self):
        return None, self.input_size_

    @classmethod
    def contract_example(cls):
        """Two classes of noisy sine waves of different frequency and length."""
        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, 120)
        X = [np.stack([np.sin((1 + 2 * k) * np.linspace(0, 3, n)), rng.standard_normal(n) * 0.1], axis=1)
             for k, n in zip(y, rng.integers(5, 15, len(y)))]
        return dict(hidden_size=6, epochs=2, batch_size=16, progress=False), (X, y)

    def fit_example(self, data):
        return self.fit(*data)

    def contract_predictions(self, data):
        return self.predict_proba(data[0][:30])
