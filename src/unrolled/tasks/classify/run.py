"""End to end for ``unrolled classify``: a labelled corpus (bundled, or a CSV with a text and a label
column) split seeded and stratified, a ``Classifier`` trained on the training part with the
validation part for early stopping, then measured on the test part beside the majority class."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from unrolled.files import open_regular
from unrolled.tasks.classify import corpora
from unrolled.tasks.classify.baselines import run_baselines
from unrolled.tasks.classify.model import Classifier
from unrolled.tasks.rundir import open_run, plot_history

BUNDLED = {"movies": corpora.movie_snippets, "tweets": corpora.tweets}


def read_labelled(csv=None, data="movies", text_col="text", label_col="label") -> pd.DataFrame:
    """``text`` and ``label`` columns: a bundled corpus (``data``), or ``csv``'s two columns."""
    if csv is None:
        if data not in BUNDLED:
            raise ValueError(f"--data {data!r} is not bundled; use {' or '.join(BUNDLED)}, or --csv FILE")
        return BUNDLED[data]()[["text", "label"]]
    try:
        with open_regular(csv) as f:
            frame = pd.read_csv(f, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"cannot read {csv} as a CSV ({e}); give a UTF-8 CSV with a header row") from None
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
    counts = frame["label"].value_counts()
    if len(counts) < 2:
        raise ValueError(f"{csv} holds one class ({counts.index[0]!r}); a classifier needs two or more")
    if (counts < 3).any():
        raise ValueError(f"class(es) {counts[counts < 3].index.tolist()} have fewer than 3 examples; each class "
                         "needs one in train, validation and test")
    return frame


def run_classify(csv=None, *, data="movies", text_col="text", label_col="label", split_seed=0, out=None,
                 resume=False, overwrite=False, echo=print, **params) -> dict:
    """Train and measure a ``Classifier`` (``params``) on a corpus; with ``out``: metrics.json,
    loss.png, model/ and checkpoints/. Returns the metrics."""
    clf = Classifier(**params)  # every flag checked before any work
    frame = read_labelled(csv, data, text_col, label_col)
    parts = corpora.split(frame, seed=split_seed)
    source = data if csv is None else str(csv)
    with open_run(out, training=True, resume=resume, overwrite=overwrite) as run:
        if run is not None:
            clf.set_params(checkpoint_dir=run.checkpoints)
        echo(f"data: {source}, {len(frame):,} texts, {frame['label'].nunique()} classes; "
             f"train / validation / test {len(parts['train']):,} / {len(parts['validation']):,} / "
             f"{len(parts['test']):,}; model: {'bidirectional ' if clf.bidirectional else ''}{clf.cell} "
             f"{clf.num_layers}x{clf.hidden_size}, pooling {clf.pooling}")

        def log(row):
            echo(f"  epoch {row['epoch']:>3}  train {row['train_loss']:.4f}, val {row['val_loss']:.4f}, "
                 f"val accuracy {row['val_accuracy']:.3f}")

        if run is not None:
            run.start()
        t0 = time.perf_counter()
        clf.fit(parts["train"]["text"].tolist(), parts["train"]["label"].tolist(), resume=resume, log=log,
                validation=(parts["validation"]["text"].tolist(), parts["validation"]["label"].tolist()))
        seconds = time.perf_counter() - t0
        test = parts["test"]
        accuracy = clf.score(test["text"].tolist(), test["label"].tolist())
        majority_class = parts["train"]["label"].value_counts().idxmax()
        majority = float(np.mean(test["label"] == majority_class))
        others = run_baselines(parts["train"]["text"].tolist(), parts["train"]["label"].tolist(),
                               test["text"].tolist(), test["label"].tolist(), seed=split_seed)
        metrics = {"test_accuracy": accuracy, "majority_accuracy": majority, "majority_class": majority_class,
                   "baselines": others, "best_epoch": clf.best_epoch_, "train_seconds": seconds,
                   "history": clf.history_}
        echo(f"test accuracy {accuracy:.4f} (majority class {majority_class!r}: {majority:.4f}); "
             f"best epoch {clf.best_epoch_}, {seconds:.0f} s")
        echo("baselines on the same split: " + ", ".join(f"{k} {v:.4f}" for k, v in others.items() if k != "missing")
             + (f" ({others['missing']})" if "missing" in others else ""))
        if run is not None:
            clf.save(run.model)
            run.write_metrics(metrics, clf, {"source": source, "texts": len(frame), "split_seed": split_seed,
                                             **{k: len(v) for k, v in parts.items()}})
            run.write_figure("loss.png", plot_history(clf.history_, clf.best_epoch_, ylabel="cross-entropy",
                                                      metric="val_accuracy", metric_label="validation accuracy"))
            echo(f"wrote {run.path}/: metrics.json, loss.png, model/, checkpoints/")
    return metrics
