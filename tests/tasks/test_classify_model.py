"""The SequenceClassifier beyond the contract suite: it learns the movie snippets, takes string or integer
labels, reads any text through ``unrolled explain``, and refuses bad input with the fix."""

import numpy as np
import pytest

from unrolled.cli import main
from unrolled.tasks.classify import corpora
from unrolled.tasks.classify.model import SequenceClassifier

SMALL = dict(hidden_size=8, embedding_dim=8, epochs=3, batch_size=32, max_length=30, progress=False, seed=0)


@pytest.fixture(scope="module")
def movies():
    parts = corpora.split(corpora.movie_snippets(), seed=0)
    return {k: (v["text"].tolist(), v["label"].tolist()) for k, v in parts.items()}


def test_learns_better_than_the_majority_class(movies):
    """The whole training split, three quick epochs (about 4 s): 0.74 test accuracy when written."""
    clf = SequenceClassifier(**{**SMALL, "hidden_size": 16, "embedding_dim": 16, "batch_size": 64, "lr": 1e-2}).fit(
        *movies["train"])
    texts, labels = movies["test"]
    majority = max(labels.count(c) for c in set(labels)) / len(labels)
    assert clf.score(texts, labels) > majority + 0.15
    p = clf.predict_proba(texts)
    assert p.shape == (len(texts), 2) and np.allclose(p.sum(axis=1), 1)
    assert set(clf.predict(texts)) <= set(clf.classes_) == {"negative", "positive"}


def test_integer_labels_and_three_classes():
    rng = np.random.default_rng(0)
    words = np.array(["good", "bad", "meh"])
    y = rng.integers(0, 3, 150)
    texts = [f"this is {words[k]} really {words[k]}" for k in y]
    clf = SequenceClassifier(**{**SMALL, "epochs": 8, "lr": 1e-2}).fit(texts, y)
    assert clf.classes_ == [0, 1, 2] and clf.score(texts, y) > 0.9


def test_explain_reads_a_classifier_without_knowing_its_task(movies, tmp_path, capsys):
    texts, labels = movies["validation"]
    SequenceClassifier(**{**SMALL, "epochs": 1}).fit(texts, labels).save(tmp_path / "model")
    assert main(["explain", "--model", str(tmp_path), "--text", "a funny , moving film", "--out",
                 str(tmp_path / "gates")]) == 0
    assert "classifier of 2 classes; 5 tokens" in capsys.readouterr().out
    assert (tmp_path / "gates" / "gates_l0.png").stat().st_size > 0


@pytest.mark.parametrize("texts, labels, fix", [
    (["a", "b", "c"], ["x", "x", "x"], "one class"),
    (["a", "b"], ["x", "y", "z"], "one label per example"),
    ("just one string", ["x"], "list of strings"),
])
def test_bad_input_names_the_fix(texts, labels, fix):
    with pytest.raises(ValueError, match=fix):
        SequenceClassifier(**SMALL).fit(texts, labels)


def test_cli_trains_on_a_csv_and_writes_the_run(tmp_path, capsys):
    rng = np.random.default_rng(1)
    words = ["good", "bad"]
    y = rng.integers(0, 2, 120)
    csv = tmp_path / "reviews.csv"
    csv.write_text("review,stars\n" + "".join(f"\"this was {words[k]}, truly {words[k]}\",{k + 4}\n" for k in y))
    assert main(["classify", "train", "--csv", str(csv), "--text-col", "review", "--label-col", "stars", "--epochs", "3",
                 "--hidden-size", "8", "--embedding-dim", "8", "--lr", "0.02", "--out", str(tmp_path / "run"),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "accuracy  macro_f1" in out and "vader: the labels" in out  # 4 / 5 stars: VADER does not apply
    import json

    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["config"]["task"] == "classify" and 0 <= metrics["model"]["accuracy"] <= 1
    assert metrics["model"]["accuracy"] > 0.9 and set(metrics["baselines"]) >= {"majority", "tfidf_logreg"}
    for name in ("loss.png", "confusion.png", "calibration.png", "predictions.csv", "model/estimator.json"):
        assert (run / name).is_file(), name
    import pandas as pd

    predictions = pd.read_csv(run / "predictions.csv")
    assert list(predictions.columns) == ["text", "label", "predicted", "p_4", "p_5"]
    assert np.mean(predictions["label"] == predictions["predicted"]) == metrics["model"]["accuracy"]

    assert main(["classify", "predict", "--model", str(run), "this was good, truly good", "this was bad"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[0] == "4" and lines[2].split()[0] == "5"  # good: 0 + 4 stars; bad: 1 + 4


@pytest.mark.parametrize("body, flags, fix", [
    ("text,label\nfine,a\n", ["--text-col", "review"], "--text-col and --label-col"),
    ("text,label\none,a\ntwo,a\nthree,a\n", [], "one class"),
    ("text,label\n,a\nx,b\ny,a\n", [], "empty texts"),
    ("text,label\na,x\nb,x\nc,x\nd,y\n", [], "fewer than 3 examples"),
])
def test_cli_bad_csv_is_one_line_naming_the_fix(tmp_path, capsys, body, flags, fix):
    csv = tmp_path / "bad.csv"
    csv.write_text(body)
    assert main(["classify", "train", "--csv", str(csv), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unrolled: error:") and fix in err and "Traceback" not in err


def test_log_count_ratio_by_hand():
    """Wang & Manning's r for two features over three documents, alpha = 1."""
    from unrolled.tasks.classify.baselines import log_count_ratio

    X = np.array([[1, 0], [1, 1], [0, 1]])
    positive = np.array([True, True, False])
    p, q = np.array([3.0, 2.0]), np.array([1.0, 2.0])  # 1 + counts in each class
    np.testing.assert_allclose(log_count_ratio(X, positive), np.log((p / 5) / (q / 3)))


def test_baselines_beat_the_majority_class_on_the_movie_snippets(movies):
    pytest.importorskip("sklearn")
    from unrolled.tasks.classify.baselines import run_baselines

    (train_x, train_y), (test_x, test_y) = movies["train"], movies["test"]
    acc = {k: v["accuracy"] for k, v in run_baselines(train_x, train_y, test_x, test_y).items() if isinstance(v, dict)}
    assert acc["tfidf_logreg"] > acc["majority"] + 0.2 and acc["nbsvm_logreg"] > acc["majority"] + 0.2
