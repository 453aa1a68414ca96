"""The baselines a recurrent classifier must beat, on the same split (scikit-learn, the optional
``baselines`` extra: ``pip install -e ".[baselines]"``):

* ``majority``: the most frequent training class, always;
* ``tfidf_logreg``: TF-IDF of word 1- and 2-grams, logistic regression;
* ``nbsvm_logreg``: Wang & Manning's (2012) NB features: binarized 1- and 2-gram counts scaled by
  the log-count ratio ``r = log((p / |p|_1) / (q / |q|_1))`` of each class against the rest
  (``p``, ``q``: the smoothed counts, alpha = 1), logistic regression on them, one class against
  the rest when there are more than two.

Each returns the predicted labels of the test texts; ``run_baselines`` their accuracies.
"""

from __future__ import annotations

import numpy as np


def _sklearn():
    try:
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise ImportError("the TF-IDF and NB-SVM baselines need scikit-learn: pip install -e \".[baselines]\"") from None
    return CountVectorizer, TfidfVectorizer, LogisticRegression


def majority(train_labels, test_texts) -> np.ndarray:
    values, counts = np.unique(np.asarray(train_labels), return_counts=True)
    return np.full(len(test_texts), values[counts.argmax()])


def tfidf_logreg(train_texts, train_labels, test_texts, seed=0) -> np.ndarray:
    _, TfidfVectorizer, LogisticRegression = _sklearn()
    vec = TfidfVectorizer(ngram_range=(1, 2), lowercase=True, sublinear_tf=True)
    clf = LogisticRegression(max_iter=2000, random_state=seed)
    clf.fit(vec.fit_transform(train_texts), np.asarray(train_labels))
    return clf.predict(vec.transform(test_texts))


def log_count_ratio(X, positive: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """``r = log((p / |p|_1) / (q / |q|_1))``: X (N, F) binary features, ``positive`` (N,) bool."""
    p = alpha + np.asarray(X[positive].sum(axis=0)).ravel()  # (F,)
    q = alpha + np.asarray(X[~positive].sum(axis=0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum()))


def nbsvm_logreg(train_texts, train_labels, test_texts, seed=0) -> np.ndarray:
    CountVectorizer, _, LogisticRegression = _sklearn()
    vec = CountVectorizer(ngram_range=(1, 2), lowercase=True, binary=True)
    X, T = vec.fit_transform(train_texts), vec.transform(test_texts)
    y = np.asarray(train_labels)
    classes = np.unique(y)
    ones = classes[1:] if len(classes) == 2 else classes  # binary: one model for the second class
    scores = []
    for c in ones:
        r = log_count_ratio(X, y == c)
        clf = LogisticRegression(max_iter=2000, random_state=seed).fit(X.multiply(r).tocsr(), y == c)
        scores.append(clf.decision_function(T.multiply(r).tocsr()))
    if len(classes) == 2:
        return np.where(scores[0] > 0, classes[1], classes[0])
    return classes[np.argmax(np.stack(scores, axis=1), axis=1)]


def run_baselines(train_texts, train_labels, test_texts, test_labels, seed=0) -> dict:
    """``{name: test accuracy}`` of every baseline; the scikit-learn ones left out (with the
    reason under ``"missing"``) when scikit-learn is not installed."""
    test_labels = np.asarray(test_labels)
    out = {"majority": float(np.mean(majority(train_labels, test_texts) == test_labels))}
    try:
        for name, fn in (("tfidf_logreg", tfidf_logreg), ("nbsvm_logreg", nbsvm_logreg)):
            out[name] = float(np.mean(fn(train_texts, train_labels, test_texts, seed) == test_labels))
    except ImportError as e:
        out["missing"] = str(e)
    return out
