"""The classifier's scores equal scikit-learn's (accuracy, macro F1, confusion matrix) on random
labels; the reliability bins and ECE on hand-made cases; every figure renders, from 1 token to 100."""

import io

import numpy as np
import pytest

from unrolled.tasks.classify import figures, scores

PNG = b"\x89PNG\r\n\x1a\n"
CLASSES = np.array(["negative", "neutral", "positive"])


def random_labels(seed, n=200, never_predicted="neutral"):
    """True labels over all three classes; predictions that never say ``never_predicted``."""
    rng = np.random.default_rng(seed)
    y_true = rng.choice(CLASSES, n, p=[0.5, 0.2, 0.3])
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.choice(CLASSES, n))
    y_pred[y_pred == never_predicted] = "positive"
    return y_true, y_pred


@pytest.mark.parametrize("seed", range(5))
def test_scores_equal_sklearn_on_random_labels(seed):
    metrics = pytest.importorskip("sklearn.metrics")
    y_true, y_pred = random_labels(seed)
    assert "neutral" in set(y_true) and "neutral" not in set(y_pred)
    assert scores.accuracy(y_true, y_pred) == pytest.approx(metrics.accuracy_score(y_true, y_pred), abs=1e-15)
    assert scores.macro_f1(y_true, y_pred) == pytest.approx(
        metrics.f1_score(y_true, y_pred, average="macro", zero_division=0), abs=1e-12)
    # a class neither present nor predicted counts as F1 = 0; a subset of classes averages over those only
    for labels in (["negative", "neutral", "positive", "unseen"], ["positive", "negative"]):
        assert scores.macro_f1(y_true, y_pred, labels) == pytest.approx(
            metrics.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0), abs=1e-12)
    np.testing.assert_array_equal(scores.confusion(y_true, y_pred, CLASSES),
                                  metrics.confusion_matrix(y_true, y_pred, labels=CLASSES))
    order = CLASSES[::-1]  # rows and columns follow the classes as given, not sorted
    np.testing.assert_array_equal(scores.confusion(y_true, y_pred, order),
                                  metrics.confusion_matrix(y_true, y_pred, labels=order))


def test_scores_on_integer_labels_by_hand():
    y_true, y_pred = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0]
    assert scores.accuracy(y_true, y_pred) == pytest.approx(0.6)
    # F1_0 = 2*1 / (2 + 1 + 1), F1_1 = 2*2 / (4 + 1 + 0), F1_2 = 0 / (0 + 0 + 1)
    np.testing.assert_allclose(scores.f1_per_class(y_true, y_pred), [0.5, 0.8, 0.0])
    assert scores.macro_f1(y_true, y_pred) == pytest.approx(1.3 / 3)
    np.testing.assert_array_equal(scores.confusion(y_true, y_pred, [0, 1, 2]), [[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    assert scores.confusion(y_true, y_pred, [0, 1, 2]).dtype.kind == "i"


@pytest.mark.parametrize("call, fix", [
    (lambda: scores.accuracy(["a", "b"], ["a"]), "one prediction per example"),
    (lambda: scores.macro_f1([], []), "at least one example"),
    (lambda: scores.confusion(["a", "c"], ["a", "a"], ["a", "b"]), "add them to classes"),
    (lambda: scores.macro_f1(["a"], ["a"], ["a", "a"]), "drop the repeats"),
    (lambda: scores.accuracy([["a"]], [["a"]]), "1-D"),
])
def test_bad_labels_name_the_fix(call, fix):
    with pytest.raises(ValueError, match=fix):
        call()


def test_reliability_bins_by_hand():
    proba = np.array([[0.95, 0.03, 0.02],   # conf 0.95, predicts 0, true 0: right    -> bin 4
                      [0.05, 0.85, 0.10],   # conf 0.85, predicts 1, true 2: wrong    -> bin 4
                      [0.20, 0.10, 0.70],   # conf 0.70, predicts 2, true 2: right    -> bin 3
                      [0.55, 0.25, 0.20],   # conf 0.55, predicts 0, true 1: wrong    -> bin 2
                      [0.35, 0.33, 0.32]])  # conf 0.35, predicts 0, true 0: right    -> bin 1
    y = np.array([0, 2, 2, 1, 0])
    r = scores.reliability(proba, y, bins=5)
    np.testing.assert_allclose(r["edges"], [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_array_equal(r["count"], [0, 1, 1, 1, 2])
    np.testing.assert_allclose(r["confidence"][1:], [0.35, 0.55, 0.70, 0.90])
    np.testing.assert_allclose(r["accuracy"][1:], [1.0, 0.0, 1.0, 0.5])
    assert np.isnan(r["confidence"][0]) and np.isnan(r["accuracy"][0])  # the empty bin
    ece = (1 * 0.65 + 1 * 0.55 + 1 * 0.30 + 2 * 0.40) / 5
    assert r["ece"] == pytest.approx(ece) and scores.expected_calibration_error(proba, y, 5) == pytest.approx(ece)


def test_reliability_bins_are_closed_on_the_right():
    """(0, 0.5] and (0.5, 1]: a confidence of exactly 0.5 falls in the first, 1.0 in the last."""
    r = scores.reliability([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]], [0, 0, 1], bins=2)
    np.testing.assert_array_equal(r["count"], [1, 2])


def test_ece_is_zero_when_each_bin_is_right_as_often_as_it_is_sure():
    rows, y = [], []
    for conf, n, right in ((0.6, 5, 3), (0.9, 10, 9), (1.0, 4, 4)):  # right / n == conf in each
        rows += [[conf, 1 - conf]] * n
        y += [0] * right + [1] * (n - right)
    r = scores.reliability(np.array(rows), np.array(y), bins=10)
    assert r["ece"] == pytest.approx(0.0, abs=1e-12) and r["count"].sum() == 19
    over = scores.reliability(np.array(rows), np.zeros(19, dtype=int) + 1, bins=10)  # all wrong
    assert over["ece"] == pytest.approx((5 * 0.6 + 10 * 0.9 + 4 * 1.0) / 19)


@pytest.mark.parametrize("proba, y, bins, fix", [
    ([[0.7, 0.7]], [0], 10, "adding up to 1"),
    ([[0.5, 0.5]], [2], 10, r"indices in 0\.\.1"),
    ([[0.5, 0.5]], [0.0], 10, "whole class indices"),
    ([0.5, 0.5], [0], 10, r"\(N, K\)"),
    ([[0.5, 0.5]], [0], 0, "at least 1"),
])
def test_reliability_refuses_bad_input(proba, y, bins, fix):
    with pytest.raises(ValueError, match=fix):
        scores.reliability(np.array(proba), np.array(y), bins=bins)


# -- figures ------------------------------------------------------------------------------------------
def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_confusion_figure_annotates_counts_and_row_shares():
    M = np.array([[8, 2, 0], [0, 0, 0], [1, 0, 3]])  # the middle class never occurs: shares 0, no NaN
    fig = figures.confusion_figure(M, CLASSES, "tweets")
    assert png(fig).startswith(PNG)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[:3] == ["8\n80%", "2\n20%", "0\n0%"] and texts[3] == "0\n0%" and texts[-1] == "3\n75%"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(CLASSES)
    with pytest.raises(ValueError, match=r"\(C, C\)"):
        figures.confusion_figure(M[:2], CLASSES)


def test_reliability_figure_renders_with_empty_bins_and_shows_the_ece():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 1.0, 300)
    result = scores.reliability(np.stack([p, 1 - p], axis=1), (rng.random(300) > p).astype(int), bins=10)
    assert (result["count"][:5] == 0).all()  # the lower half is empty for two classes
    fig = figures.reliability_figure(result, "movies")
    assert png(fig).startswith(PNG)
    assert f"ECE {result['ece']:.3f}" in fig.axes[0].get_title() and "movies" in fig.axes[0].get_title()
    assert len(fig.axes[0].patches) == 5 and len(fig.axes[1].patches) == 10  # accuracy bars: full bins only


@pytest.mark.parametrize("T", [1, 7, 100])
def test_explanation_figure_from_one_token_to_a_hundred(T):
    rng = np.random.default_rng(T)
    tokens = [f"w{t}" for t in range(T)]
    contributions, proba = rng.standard_normal(T), rng.uniform(0, 1, T)
    fig = figures.explanation_figure(tokens, contributions, proba, "positive", "one review")
    assert png(fig).startswith(PNG)
    top, bottom = fig.axes
    for ax in (top, bottom):
        assert [t.get_text() for t in ax.get_xticklabels()] == tokens
    np.testing.assert_allclose(top.lines[0].get_ydata(), proba)
    bars = bottom.patches
    assert len(bars) == T and [b.get_height() for b in bars] == pytest.approx(list(contributions))
    red = np.array([b.get_facecolor()[0] > b.get_facecolor()[2] for b in bars])  # red vs blue
    np.testing.assert_array_equal(red, contributions < 0)
    upright = bottom.get_xticklabels()[0].get_rotation() == 90
    assert upright == (T > 30)  # short labels side by side; a hundred always upright


def test_explanation_figure_turns_long_tokens_upright():
    tokens = "this film is a wonderful , moving story but the ending drags".split()
    fig = figures.explanation_figure(tokens, np.zeros(12), np.full(12, 0.5), "positive")
    assert fig.axes[1].get_xticklabels()[0].get_rotation() == 90
    one = figures.explanation_figure(["unforgettable"], [0.3], [0.8], "positive")
    assert one.axes[1].get_xticklabels()[0].get_rotation() == 0


def test_explanation_figure_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="one of each per token"):
        figures.explanation_figure(["a", "b"], [0.1], [0.5, 0.6], "positive")
    with pytest.raises(ValueError, match="at least one token"):
        figures.explanation_figure([], [], [], "positive")
