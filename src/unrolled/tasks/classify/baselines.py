"""The baselines a recurrent classifier must beat, on the same split (the optional ``baselines``
extra: ``pip install -e ".[baselines]"``, scikit-learn and vaderSentiment):

* ``majority``: the most frequent training class, always;
* ``tfidf_logreg``: TF-IDF of word 1- and 2-grams, logistic regression;
* ``nbsvm_logreg``: Wang & Manning's (2012) NB features: binarized 1- and 2-gram counts scaled by
  the log-count ratio ``r = log((p / |p|_1) / (q / |q|_1))`` of each class against the rest
  (``p``, ``q``: the smoothed counts, alpha = 1), logistic regression on them, one class against
  the rest when there are more than two;
* ``vader``: Hutto & Gilbert's (2014) rule-based lexicon, untrained: its compound score thresholded
  (``vader``). It only knows negative / (neutral /) positive, so it is left out of other label sets.

Each returns the predicted labels of the test texts; ``baseline_predictions`` all of them (for a
caller's own scores or folds), ``run_baselines`` their accuracy and macro F1 (``scores``).
"""

from __future__ import annotations

import numpy as np

from unrolled.tasks.classify.scores import accuracy, macro_f1


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


BINARY = ("negative", "positive")
THREE_WAY = ("negative", "neutral", "positive")
VADER_NEUTRAL = 0.05  # VADER's own documented band: |compound| < 0.05 is neutral
NOTES = ("missing", "skipped")  # the keys of baseline_predictions / run_baselines that hold a reason, not a baseline


def _vader_analyzer():
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        raise ImportError("the VADER baseline needs vaderSentiment: pip install -e \".[baselines]\"") from None
    return SentimentIntensityAnalyzer()


def vader_labels(classes) -> tuple | None:
    """``BINARY`` or ``THREE_WAY`` when ``classes`` are exactly those labels (any order), else None:
    the label sets VADER's compound score can be mapped onto."""
    found = set(np.asarray(classes).tolist())
    return next((labels for labels in (BINARY, THREE_WAY) if found == set(labels)), None)


def vader(test_texts, classes) -> np.ndarray:
    """VADER's compound score ``s`` in [-1, 1] of each text (no training), mapped onto ``classes``:

    * {negative, positive}: ``positive`` iff ``s > 0`` (the score thresholded at 0; a text with no
      sentiment word, ``s = 0``, is negative);
    * {negative, neutral, positive}: VADER's own documented thresholds: ``positive`` if
      ``s >= 0.05``, ``negative`` if ``s <= -0.05``, else ``neutral``.
    """
    labels = vader_labels(classes)
    if labels is None:
        raise ValueError(f"VADER predicts negative/positive or negative/neutral/positive, not "
                         f"{sorted(map(str, np.unique(np.asarray(classes))))}; leave it out for these labels")
    analyzer = _vader_analyzer()
    s = np.array([analyzer.polarity_scores(str(t))["compound"] for t in test_texts], dtype=np.float64)  # (N,)
    if labels == BINARY:
        return np.where(s > 0, "positive", "negative")
    return np.where(s >= VADER_NEUTRAL, "positive", np.where(s <= -VADER_NEUTRAL, "negative", "neutral"))


def baseline_predictions(train_texts, train_labels, test_texts, seed=0) -> dict:
    """``{name: predicted labels of the test texts (N,)}`` for every baseline that runs here, plus
    the reasons for those that do not (``NOTES``): ``"missing"`` when an optional package is not
    installed, ``"skipped"`` when VADER does not know the training labels."""
    out, missing = {"majority": majority(train_labels, test_texts)}, []
    try:
        for name, fn in (("tfidf_logreg", tfidf_logreg), ("nbsvm_logreg", nbsvm_logreg)):
            out[name] = fn(train_texts, train_labels, test_texts, seed)
    except ImportError as e:
        missing.append(str(e))
    classes = np.unique(np.asarray(train_labels))
    if vader_labels(classes) is None:
        out["skipped"] = (f"vader: the labels {sorted(map(str, classes))} are not negative/positive or "
                          "negative/neutral/positive, the only ones its compound score maps onto")
    else:
        try:
            out["vader"] = vader(test_texts, classes)
        except ImportError as e:
            missing.append(str(e))
    if missing:
        out["missing"] = "; ".join(missing)
    return out


def run_baselines(train_texts, train_labels, test_texts, test_labels, seed=0) -> dict:
    """``{name: {"accuracy": float, "macro_f1": float}}`` on the test texts for every baseline of
    ``baseline_predictions``, with its ``"missing"`` / ``"skipped"`` reasons (strings) passed on.
    Macro F1 averages over the labels in the test set or the predictions (``scores.macro_f1``)."""
    test_labels = np.asarray(test_labels)
    out = {}
    for name, value in baseline_predictions(train_texts, train_labels, test_texts, seed).items():
        out[name] = value if name in NOTES else {"accuracy": accuracy(test_labels, value),
                                                 "macro_f1": macro_f1(test_labels, value)}
    return out
