"""The other sequence estimators on the classifier's network: the rating regressor, the
array-level classifier, transfer from a language model, cross-validation, and the texts a
language model learns first."""

import json

import numpy as np
import pytest

from unrolled.cli import main
from unrolled.tasks.classify.arrays import ArrayClassifier, as_sequences
from unrolled.tasks.classify.model import SequenceClassifier, SequenceRegressor

SMALL = dict(hidden_size=8, embedding_dim=8, epochs=3, batch_size=32, max_length=30, progress=False, seed=0)


def words_and_ratings(n=200, seed=0):
    rng = np.random.default_rng(seed)
    scale = ["awful", "bad", "fine", "good", "superb"]
    k = rng.integers(0, 5, n)
    return [f"it was {scale[j]} , simply {scale[j]}" for j in k], (k - 2.0)


def test_regressor_learns_a_rating_and_scores_r2():
    texts, ratings = words_and_ratings()
    reg = SequenceRegressor(**{**SMALL, "epochs": 15, "lr": 1e-2}).fit(texts, ratings)
    pred = reg.predict(texts)
    assert pred.shape == (len(texts),) and reg.classes_ is None
    assert reg.score(texts, ratings) > 0.9  # R^2
    r2 = 1 - np.sum((ratings - pred) ** 2) / np.sum((ratings - ratings.mean()) ** 2)
    assert reg.score(texts, ratings) == pytest.approx(r2)
    with pytest.raises(ValueError, match="predict_proba needs a classifier"):
        reg.predict_proba(texts)


def test_regressor_refuses_non_finite_targets():
    texts, ratings = words_and_ratings(20)
    ratings[3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        SequenceRegressor(**SMALL).fit(texts, ratings)


def sines(n=160, seed=0):
    """Two classes: slow and fast sine waves of varying length, with noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = [np.stack([np.sin((1 + 3 * k) * np.linspace(0, 4, T) + rng.uniform(0, 6)), 100 + rng.standard_normal(T)],
                  axis=1) for k, T in zip(y, rng.integers(8, 25, n))]
    return X, np.where(y == 1, "fast", "slow")


def test_array_classifier_learns_and_padded_input_is_the_same():
    X, y = sines()
    clf = ArrayClassifier(hidden_size=12, epochs=12, lr=1e-2, patience=None, progress=False, cell="gru").fit(X, y)
    assert clf.score(X, y) > 0.9 and clf.input_size_ == 2
    assert abs(clf.feature_mean_[1] - 100) < 1  # standardised with the training steps' statistics
    lengths = np.array([len(x) for x in X[:20]])
    padded = np.full((20, lengths.max(), 2), 7.0)  # the padding value must not matter
    for b, x in enumerate(X[:20]):
        padded[b, : len(x)] = x
    np.testing.assert_allclose(clf.predict_proba(padded, lengths=lengths), clf.predict_proba(X[:20]), rtol=1e-6)


@pytest.mark.parametrize("X, fix", [
    ([np.zeros((3, 2)), np.zeros((4, 3))], "same D"),
    ([np.zeros((0, 2))], "T_i >= 1"),
    ([np.array([[1.0, np.nan]])], "NaN"),
    ("abc", "list of"),
])
def test_array_input_is_checked(X, fix):
    with pytest.raises(ValueError, match=fix):
        as_sequences(X)
    with pytest.raises(ValueError, match="lengths must be"):
        as_sequences(np.zeros((2, 3, 1)), lengths=[1, 4])


@pytest.fixture(scope="module")
def language_model(tmp_path_factory):
    """A small word LSTM trained on the word/rating texts (unlabelled), saved as lm train would."""
    from unrolled.tasks.lm.model import LanguageModel

    texts, _ = words_and_ratings(300, seed=1)
    out = tmp_path_factory.mktemp("lm")
    LanguageModel(level="word", cell="lstm", hidden_size=8, num_layers=1, embedding_dim=8, seq_len=10, epochs=1,
                  batch_size=4, min_freq=1, progress=False).fit("\n".join(texts)).save(out / "model")
    return out


def test_transfer_copies_the_language_models_weights(language_model):
    from unrolled.tasks.lm.model import LanguageModel

    lm = LanguageModel.load(language_model / "model")
    texts, ratings = words_and_ratings()
    labels = np.where(ratings > 0, "pos", "neg")
    clf = SequenceClassifier(**{**SMALL, "epochs": 1, "lr": 1e-12, "init_from": str(language_model)})
    clf.fit(texts, labels)
    assert clf.tokenizer_.vocab_ == lm.tokenizer_.vocab_
    assert set(clf.transferred_) == {"encoder.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                                     "rnn.bias_hh_l0"}  # the forward direction; the reverse starts at random
    ours, theirs = clf.net_.state_dict(), lm.net_.state_dict()
    for k in clf.transferred_:  # a step at lr 1e-12 leaves them where the LM put them
        np.testing.assert_allclose(ours[k], theirs[k], atol=1e-6, err_msg=k)
    with pytest.raises(ValueError, match="--hidden-size 8"):
        SequenceClassifier(**{**SMALL, "hidden_size": 16, "init_from": str(language_model)}).fit(texts, labels)
    not_an_lm = language_model.parent / "classifier"
    clf.save(not_an_lm)
    with pytest.raises(ValueError, match="holds a 'classify' model; give the --out directory of 'unrolled lm train'"):
        SequenceClassifier(**{**SMALL, "init_from": str(not_an_lm)}).fit(texts, labels)


def test_cli_transfer_and_folds_and_texts(language_model, tmp_path, capsys):
    rng = np.random.default_rng(2)
    texts, ratings = words_and_ratings(150, seed=3)
    csv = tmp_path / "r.csv"
    csv.write_text("text,label\n" + "".join(f"\"{t}\",{'pos' if r > 0 else 'neg'}\n" for t, r in zip(texts, ratings)))
    flags = ["--csv", str(csv), "--hidden-size", "8", "--embedding-dim", "8", "--epochs", "2", "--no-progress"]
    assert main(["classify", "train", *flags, "--folds", "3", "--out", str(tmp_path / "cv")]) == 0
    out = capsys.readouterr().out
    assert "3-fold CV (mean±std)" in out and out.count("fold ") >= 3
    metrics = json.loads((tmp_path / "cv" / "metrics.json").read_text())
    assert len(metrics["per_fold"]) == 3 and sum(f["test"] for f in metrics["per_fold"]) == 150
    accs = [f["model"]["accuracy"] for f in metrics["per_fold"]]
    assert metrics["summary"]["model"]["accuracy"]["mean"] == pytest.approx(np.mean(accs))

    assert main(["classify", "train", *flags, "--init-from", str(language_model), "--out", str(tmp_path / "t")]) == 0
    assert "initialised from" in capsys.readouterr().out
    assert main(["classify", "texts", "--csv", str(csv), "--out", str(tmp_path / "x")]) == 0
    lines = (tmp_path / "x" / "train_texts.txt").read_text().splitlines()
    assert 110 <= len(lines) <= 130 and set(lines) <= set(texts)  # the 80% training part, no labels
    del rng


@pytest.mark.parametrize("argv, fix", [
    (["classify", "train", "--folds", "1"], "--folds 1 is invalid"),
    (["classify", "train", "--folds", "3", "--target", "rating"], "leave out --resume and --target rating"),
    (["classify", "train", "--data", "tweets", "--target", "rating"], "no rating"),
    (["classify", "predict", "--model", "/nonexistent"], "not both and not neither"),
])
def test_cli_bad_combinations_are_one_line(argv, fix, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("unrolled: error:") and fix in err and "Traceback" not in err


def test_balanced_class_weights_follow_scikit_learn():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array(["a"] * 30 + ["b"] * 6 + ["c"] * 4)
    texts = [f"word {k}" for k in y]
    clf = SequenceClassifier(**{**SMALL, "epochs": 1, "class_weight": "balanced"}).fit(texts, y)
    index = np.unique(y, return_inverse=True)[1]
    np.testing.assert_allclose(clf._class_weights(index), compute_class_weight("balanced", classes=np.unique(y), y=y))
    assert SequenceClassifier(**SMALL)._class_weights(index) is None
