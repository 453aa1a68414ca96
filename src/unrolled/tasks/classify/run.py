"""End to end for ``unrolled classify``: a labelled corpus (bundled, or a CSV with a text and a label
column) split seeded and stratified, a ``SequenceClassifier`` trained on the training part with the
validation part for early stopping, then measured on the test part beside the baselines on the
same split (``baselines.py``) -- or the same over k stratified folds (``run_folds``), or the movie
snippets' mean rating as a regression target (``--target rating``: ``SequenceRegressor``).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from unrolled.files import open_regular
from unrolled.tasks.classify import corpora, scores
from unrolled.tasks.classify.baselines import baseline_predictions
from unrolled.tasks.classify.model import SequenceClassifier, SequenceRegressor
from unrolled.tasks.rundir import open_run, plot_history

BUNDLED = {"movie-reviews": corpora.movie_snippets, "tweets": corpora.tweets}
TARGETS = ("label", "rating")


def read_csv(csv, nrows=None) -> pd.DataFrame:
    """Every column of ``csv`` as text; ValueError naming the fix when it is not a readable CSV."""
    try:
        with open_regular(csv) as f:
            return pd.read_csv(f, dtype=str, keep_default_na=False, nrows=nrows)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"cannot read {csv} as a CSV ({e}); give a UTF-8 CSV with a header row") from None


def read_labelled(csv=None, data="movie-reviews", text_col="text", label_col="label", target="label") -> pd.DataFrame:
    """``text`` and ``label`` columns (``label`` a number with ``target="rating"``): a bundled
    corpus (``data``), or ``csv``'s two columns; ValueError naming the fix."""
    if csv is None:
        if data not in BUNDLED:
            raise ValueError(f"--data {data!r} is not bundled; use {' or '.join(BUNDLED)}, or --csv FILE")
        frame = BUNDLED[data]()
        if target == "rating":
            if "rating" not in frame:
                raise ValueError(f"--data {data} has no rating; --target rating reads the movie-reviews' mean ratings")
            frame = frame.assign(label=frame["rating"])
        return frame[["text", "label"]].copy()
    frame = read_csv(csv)
    missing = [c for c in (text_col, label_col) if c not in frame.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not found in {csv}; it has {list(frame.columns)}: name them with "
                         "--text-col and --label-col")
    frame = frame.rename(columns={text_col: "text", label_col: "label"})[["text", "label"]]
    for col, what in (("text", "empty texts"), ("label", "missing labels")):
        empty = frame[col].str.strip() == ""
        if empty.any():
            raise ValueError(f"{csv} has {int(empty.sum())} {what} (first at data row {int(np.argmax(empty)) + 1}); "
                             "fill or drop those rows")
    if target == "rating":
        values = pd.to_numeric(frame["label"], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            raise ValueError(f"--target rating needs a number in every row of {label_col!r}; data row "
                             f"{int(np.argmax(bad)) + 1} has {frame['label'].iloc[int(np.argmax(bad))]!r}")
        return frame.assign(label=values.astype(float))
    counts = frame["label"].value_counts()
    if len(counts) < 2:
        raise ValueError(f"{csv} holds one class ({counts.index[0]!r}); a classifier needs two or more")
    if (counts < 3).any():
        raise ValueError(f"class(es) {counts[counts < 3].index.tolist()} have fewer than 3 examples; each class "
                         "needs one in train, validation and test")
    return frame


def _split(frame, target, seed):
    """Train / validation / test: stratified for labels, a seeded shuffle for ratings."""
    if target == "label":
        return corpora.split(frame, seed=seed)
    rows = np.random.default_rng(seed).permutation(len(frame))
    a, b = round(corpora.FRACTIONS[0] * len(frame)), round(sum(corpora.FRACTIONS[:2]) * len(frame))
    return {k: frame.iloc[np.sort(r)].reset_index(drop=True) for k, r in
            (("train", rows[:a]), ("validation", rows[a:b]), ("test", rows[b:]))}


def _estimator(target, params):
    return (SequenceClassifier if target == "label" else SequenceRegressor)(**params)


def _measure(y_true, y_pred, classes=None) -> dict:
    if classes is None:  # ratings
        err = np.asarray(y_pred, float) - np.asarray(y_true, float)
        return {"rmse": float(np.sqrt(np.mean(err ** 2))), "r2": scores.r2(y_true, y_pred)}
    return {"accuracy": scores.accuracy(y_true, y_pred), "macro_f1": scores.macro_f1(y_true, y_pred, classes)}


def _rating_baselines(train, test) -> dict:
    """The rating's own baselines: the training mean, and TF-IDF ridge regression."""
    preds = {"mean": np.full(len(test), train["label"].mean())}
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import Ridge

        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        preds["tfidf_ridge"] = Ridge().fit(vec.fit_transform(train["text"]), train["label"]).predict(
            vec.transform(test["text"]))
    except ImportError:
        pass
    return preds


def _fit_and_measure(est, parts, target, seed, log=None, resume=False):
    """Fit ``est`` on train (validation for early stopping), predict the test part; with the
    baselines' predictions on the same split. Returns (metrics by name, the baselines left out
    and why, the test predictions, their probabilities or None, the training seconds)."""
    train, val, test = parts["train"], parts["validation"], parts["test"]
    t0 = time.perf_counter()
    est.fit(train["text"].tolist(), train["label"].tolist(), resume=resume, log=log,
            validation=(val["text"].tolist(), val["label"].tolist()))
    seconds = time.perf_counter() - t0
    texts = test["text"].tolist()
    if target == "label":
        proba = est.predict_proba(texts)
        pred = np.asarray(est.classes_)[proba.argmax(axis=1)]
        others = baseline_predictions(train["text"].tolist(), train["label"].tolist(), texts, seed=seed)
    else:
        proba, pred = None, est.predict(texts)
        others = _rating_baselines(train, test)
    classes = est.classes_ if target == "label" else None
    rows = {"model": _measure(test["label"], pred, classes)}
    rows.update({name: _measure(test["label"], p, classes) for name, p in others.items()
                 if isinstance(p, np.ndarray)})
    notes = {name: p for name, p in others.items() if isinstance(p, str)}  # baselines left out, and why
    return rows, notes, pred, proba, seconds


def _model_name(est) -> str:
    return f"{'bi-' if est.bidirectional else ''}{est.cell}" + (" (LM-initialised)" if est.init_from else "")


def table(rows: dict, model_name: str, what: str) -> str:
    """The printed comparison: one line per model / baseline, its metrics."""
    keys = list(next(iter(rows.values())))
    width = 16 if isinstance(rows["model"][keys[0]], tuple) else 10
    lines = [f"{what:<28}" + "".join(f"{k:>{width}}" for k in keys)]
    for name, r in rows.items():
        shown = model_name if name == "model" else name
        lines.append(f"{shown:<28}" + "".join(f"{_fmt(r[k]):>{width}}" for k in keys))
    return "\n".join(lines)


def _fmt(v) -> str:
    return f"{v[0]:.4f}±{v[1]:.3f}" if isinstance(v, tuple) else f"{v:.4f}"


def _describe(frame, parts, source, est, target) -> str:
    dropped = frame.attrs.get("dropped_neutral") or frame.attrs.get("dropped_duplicates")
    what = "rated exactly 0" if "dropped_neutral" in frame.attrs else "duplicate texts"
    kind = "ratings" if target == "rating" else f"{frame['label'].nunique()} classes"
    return (f"data: {source}, {len(frame):,} texts{f' ({dropped:,} {what} dropped)' if dropped else ''}, {kind}; "
            f"train / validation / test {len(parts['train']):,} / {len(parts['validation']):,} / "
            f"{len(parts['test']):,}\nmodel: {'bidirectional ' if est.bidirectional else ''}{est.cell} "
            f"{est.num_layers}x{est.hidden_size}, pooling {est.pooling}"
            + (f", initialised from {est.init_from}" if est.init_from else ""))


def _log(echo):
    def log(row):
        extra = ", ".join(f"val {k[4:]} {v:.3f}" for k, v in row.items() if k.startswith("val_") and k != "val_loss")
        echo(f"  epoch {row['epoch']:>3}  train {row['train_loss']:.4f}, val {row['val_loss']:.4f}, {extra}")
    return log


def run_classify(csv=None, *, data="movie-reviews", text_col="text", label_col="label", target="label",
                 split_seed=0, out=None, resume=False, overwrite=False, echo=print, **params) -> dict:
    """Train and measure a ``SequenceClassifier`` (``params``; a ``SequenceRegressor`` with
    ``target="rating"``) on a corpus; with ``out``: metrics.json, predictions.csv, loss.png,
    confusion.png, calibration.png, model/ and checkpoints/. Returns the metrics."""
    if target not in TARGETS:
        raise ValueError(f"--target {target!r} is invalid; use 'label' or 'rating'")
    est = _estimator(target, params)  # every flag checked before any work
    frame = read_labelled(csv, data, text_col, label_col, target)
    parts = _split(frame, target, split_seed)
    source = data if csv is None else str(csv)
    with open_run(out, training=True, resume=resume, overwrite=overwrite) as run:
        if run is not None:
            est.set_params(checkpoint_dir=run.checkpoints)
        echo(_describe(frame, parts, source, est, target))
        if run is not None:
            run.start()
        rows, notes, pred, proba, seconds = _fit_and_measure(est, parts, target, split_seed, _log(echo), resume)
        test = parts["test"]
        metrics = {"model": dict(rows["model"]), "baselines": {k: v for k, v in rows.items() if k != "model"},
                   "baselines_left_out": notes, "split": {k: len(v) for k, v in parts.items()},
                   "best_epoch": est.best_epoch_, "train_seconds": seconds, "history": est.history_}
        if proba is not None:
            y_index = np.searchsorted(est.classes_, test["label"].to_numpy())
            calibration = scores.reliability(proba, y_index)
            metrics["model"]["ece"] = calibration["ece"]
        echo(table(rows, _model_name(est), f"test split ({len(test):,} texts)"))
        for name, why in notes.items():
            echo(f"  {name}: {why}")
        echo(f"best epoch {est.best_epoch_}, trained in {seconds:.0f} s")
        if run is not None:
            run.save_model(est)
            run.write_metrics(metrics, est, {"source": source, "texts": len(frame), "target": target,
                                             "split_seed": split_seed, **{k: len(v) for k, v in parts.items()}})
            predictions = test.assign(predicted=pred)
            if proba is not None:
                predictions = predictions.assign(**{f"p_{c}": proba[:, j] for j, c in enumerate(est.classes_)})
            run.write_csv("predictions.csv", predictions, index=False)
            written = ["metrics.json", "predictions.csv", "loss.png"]
            metric = "val_accuracy" if target == "label" else "val_rmse"
            run.write_figure("loss.png", plot_history(est.history_, est.best_epoch_, ylabel="loss", metric=metric,
                                                      metric_label=metric[4:].replace("_", " ")))
            if proba is not None:
                from unrolled.tasks.classify.figures import confusion_figure, reliability_figure

                matrix = scores.confusion(test["label"].to_numpy(), pred, est.classes_)
                run.write_figure("confusion.png", confusion_figure(matrix, est.classes_, f"{source}: test split"))
                run.write_figure("calibration.png", reliability_figure(calibration, f"{source}: test split"))
                written += ["confusion.png", "calibration.png"]
            echo(f"wrote {run.path}/: {', '.join(written)}, model/, checkpoints/")
    return metrics


def run_folds(csv=None, *, folds=10, data="movie-reviews", text_col="text", label_col="label", split_seed=0,
              out=None, overwrite=False, echo=print, **params) -> dict:
    """k-fold cross-validation, as the movie sentences are usually reported: each fold is the test
    part once; the model trains on the rest, holding a stratified ``validation_fraction`` of it
    out for early stopping; the baselines train on the same training part. Returns (and with ``out``
    writes to metrics.json) every fold's numbers and their mean and standard deviation."""
    k = folds
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 100:
        raise ValueError(f"--folds {k!r} is invalid; use a whole number from 2 to 100 (10 as usually reported)")
    est = SequenceClassifier(**params)
    frame = read_labelled(csv, data, text_col, label_col)
    if frame["label"].value_counts().min() < k:
        raise ValueError(f"a class has fewer than {k} examples; use fewer --folds")
    source = data if csv is None else str(csv)
    with open_run(out, training=True, overwrite=overwrite) as run:
        echo(f"data: {source}, {len(frame):,} texts, {frame['label'].nunique()} classes; {k}-fold cross-validation "
             f"(seed {split_seed})\nmodel: {_model_name(est)} {est.num_layers}x{est.hidden_size}, "
             f"pooling {est.pooling}")
        if run is not None:
            run.start()
        per_fold = []
        for j, test_rows in enumerate(corpora.folds(frame, k, split_seed)):
            rest = frame.drop(index=frame.index[test_rows]).reset_index(drop=True)
            keep, held = corpora.stratified_holdout(rest["label"].to_numpy(), est.validation_fraction, split_seed)
            parts = {"train": rest.iloc[keep], "validation": rest.iloc[held], "test": frame.iloc[test_rows]}
            fold_est = est.__class__(**est.get_params())
            rows, _, _, _, seconds = _fit_and_measure(fold_est, parts, "label", split_seed + j)
            per_fold.append({"fold": j, "test": len(test_rows), "seconds": seconds,
                             "best_epoch": fold_est.best_epoch_, **rows})
            echo(f"  fold {j + 1:>2}/{k}: " + ", ".join(f"{n} {r['accuracy']:.4f}" for n, r in rows.items()
                                                        if n in ("model", "tfidf_logreg", "nbsvm_logreg", "vader")))
        names = [n for n in per_fold[0] if isinstance(per_fold[0][n], dict)]
        summary = {n: {m: (float(np.mean([f[n][m] for f in per_fold])), float(np.std([f[n][m] for f in per_fold])))
                       for m in per_fold[0][n]} for n in names}
        echo(table(summary, _model_name(est), f"{k}-fold CV (mean±std)"))
        metrics = {"folds": k, "summary": {n: {m: {"mean": v[0], "std": v[1]} for m, v in r.items()}
                                           for n, r in summary.items()}, "per_fold": per_fold}
        if run is not None:
            run.write_metrics(metrics, est, {"source": source, "texts": len(frame), "folds": k,
                                             "split_seed": split_seed})
            echo(f"wrote {run.path}/metrics.json")
    return metrics
