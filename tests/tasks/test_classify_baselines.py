"""The classification baselines: VADER's thresholds for two and three classes, run_baselines's
scores per baseline, VADER left out (with the reason) for labels it does not know, and what a
missing optional package leaves."""

import sys

import numpy as np
import pytest

from unrolled.tasks.classify import baselines
from unrolled.tasks.classify.scores import accuracy, macro_f1

CLEAR = {"a wonderful, moving film": "positive", "dull and lifeless": "negative",
         "I love this, a joy from start to finish": "positive", "terrible, boring mess": "negative"}
# a tiny corpus in which the words decide: enough for the scikit-learn baselines to run in a blink
TRAIN = ["great fun", "wonderful acting", "great story", "loved it", "a wonderful ride", "fun and great",
         "boring plot", "awful acting", "dull story", "hated it", "a boring ride", "dull and awful"]
TEST = ["great ride", "wonderful fun", "awful plot", "dull and boring", "great acting"]
TRAIN_Y = ["positive"] * 6 + ["negative"] * 6
TEST_Y = ["positive", "positive", "negative", "negative", "positive"]


class FakeAnalyzer:
    """VADER's interface with compound scores chosen by the test: the thresholds, exactly."""

    def __init__(self, compound):
        self.compound = compound

    def polarity_scores(self, text):
        return {"compound": self.compound[text]}


def test_vader_on_clear_sentences_two_and_three_classes():
    pytest.importorskip("vaderSentiment")
    texts = list(CLEAR)
    assert baselines.vader(texts, ["negative", "positive"]).tolist() == list(CLEAR.values())
    assert baselines.vader(texts, ["positive", "neutral", "negative"]).tolist() == list(CLEAR.values())
    plain = ["the film is ninety minutes long"]  # no sentiment word: compound 0
    assert baselines.vader(plain, ["negative", "neutral", "positive"]).tolist() == ["neutral"]
    assert baselines.vader(plain, ["negative", "positive"]).tolist() == ["negative"]  # not > 0


def test_vader_thresholds(monkeypatch):
    """Binary: positive iff compound > 0. Three classes: VADER's own +-0.05, both ends included."""
    compound = {"a": 0.05, "b": 0.0499, "c": -0.0499, "d": -0.05, "e": 0.0, "f": 1e-9, "g": -0.9}
    monkeypatch.setattr(baselines, "_vader_analyzer", lambda: FakeAnalyzer(compound))
    texts = list(compound)
    assert baselines.vader(texts, ["negative", "neutral", "positive"]).tolist() == \
        ["positive", "neutral", "neutral", "negative", "neutral", "neutral", "negative"]
    assert baselines.vader(texts, ["negative", "positive"]).tolist() == \
        ["positive", "positive", "negative", "negative", "negative", "positive", "negative"]


def test_vader_refuses_labels_it_does_not_know():
    for classes in (["ham", "spam"], ["negative", "positive", "mixed"], ["Negative", "Positive"], [0, 1]):
        assert baselines.vader_labels(classes) is None
        with pytest.raises(ValueError, match="leave it out for these labels"):
            baselines.vader(["free money"], classes)
    assert baselines.vader_labels(np.array(["positive", "negative"])) == baselines.BINARY


def test_vader_without_the_package_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "vaderSentiment", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "vaderSentiment.vaderSentiment", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[baselines\]"'):
        baselines.vader(["fine"], ["negative", "positive"])


def test_run_baselines_scores_every_baseline_from_its_predictions():
    pytest.importorskip("sklearn")
    pytest.importorskip("vaderSentiment")
    preds = baselines.baseline_predictions(TRAIN, TRAIN_Y, TEST, seed=0)
    result = baselines.run_baselines(TRAIN, TRAIN_Y, TEST, TEST_Y, seed=0)
    assert set(result) == set(preds) == {"majority", "tfidf_logreg", "nbsvm_logreg", "vader"}
    for name, value in result.items():
        assert set(value) == {"accuracy", "macro_f1"} and all(type(v) is float for v in value.values())
        assert len(preds[name]) == len(TEST)
        assert value == {"accuracy": accuracy(TEST_Y, preds[name]), "macro_f1": macro_f1(TEST_Y, preds[name])}
    # the tie 6 / 6 goes to the first class in sorted order: negative, right 2 times in 5
    assert result["majority"] == {"accuracy": 0.4, "macro_f1": pytest.approx((2 * 2 / (4 + 3)) / 2)}
    assert result["tfidf_logreg"]["accuracy"] == 1.0 and result["nbsvm_logreg"]["accuracy"] == 1.0


def test_vader_is_skipped_for_spam_and_ham_with_the_reason():
    pytest.importorskip("sklearn")
    labels = {"positive": "ham", "negative": "spam"}
    result = baselines.run_baselines(TRAIN, [labels[y] for y in TRAIN_Y], TEST, [labels[y] for y in TEST_Y])
    assert set(result) == {"majority", "tfidf_logreg", "nbsvm_logreg", "skipped"}
    assert result["skipped"].startswith("vader:") and "['ham', 'spam']" in result["skipped"]
    assert result["tfidf_logreg"]["accuracy"] == 1.0


def test_missing_packages_leave_their_baselines_out_with_the_reasons(monkeypatch):
    def absent():
        raise ImportError("the TF-IDF and NB-SVM baselines need scikit-learn: pip install -e \".[baselines]\"")

    def absent_vader():
        raise ImportError("the VADER baseline needs vaderSentiment: pip install -e \".[baselines]\"")

    monkeypatch.setattr(baselines, "_sklearn", absent)
    monkeypatch.setattr(baselines, "_vader_analyzer", absent_vader)
    result = baselines.run_baselines(TRAIN, TRAIN_Y, TEST, TEST_Y)
    assert set(result) == {"majority", "missing"}
    assert "scikit-learn" in result["missing"] and "vaderSentiment" in result["missing"]
    assert set(result["majority"]) == {"accuracy", "macro_f1"}
