"""A trained text model in use: ``predict_texts`` (labels and probabilities), ``explain_text``
(why: each token's gradient x input, ``ClassifierNetwork.contributions``, and the class
probability after each prefix, read forward) and ``write_texts`` (the training texts without
labels, for the language model a classifier can start from)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from unrolled.tasks.rundir import open_run

MAX_TEXTS = 1_000_000  # rows of --csv one call classifies


def _text_model(path):
    from unrolled.tasks import registry
    from unrolled.tasks.classify.model import _TextSequences

    est = registry.load(path)
    if not isinstance(est, _TextSequences):
        raise ValueError(f"{path} holds a {est.task!r} model; give the --out directory of 'unrolled classify train'")
    return est


def predict_texts(model, texts=(), *, csv=None, text_col="text", out=None, echo=print) -> pd.DataFrame:
    """The predicted label and its probability (or the predicted value) of each text, printed;
    with ``out``, predictions.csv. ``csv``: every row's ``text_col`` instead of ``texts``."""
    if (csv is None) == (not texts):
        raise ValueError("give the texts to classify, or --csv FILE, not both and not neither")
    with open_run(out) as run:
        est = _text_model(model)
        if csv is not None:
            from unrolled.tasks.classify.run import read_csv

            frame = read_csv(csv, nrows=MAX_TEXTS)
            if text_col not in frame.columns:
                raise ValueError(f"column {text_col!r} not found in {csv}; it has {list(frame.columns)}: name it "
                                 "with --text-col")
            texts = frame[text_col].tolist()
        result = pd.DataFrame({"text": list(texts)})
        if est.target == "class":
            proba = est.predict_proba(result["text"].tolist())
            result["predicted"] = np.asarray(est.classes_)[proba.argmax(axis=1)]
            result["probability"] = proba.max(axis=1)
            for j, c in enumerate(est.classes_):
                result[f"p_{c}"] = proba[:, j]
            echo(f"{'label':<12}{'probability':>12}  text")
            for r in result.itertuples():
                echo(f"{str(r.predicted):<12}{r.probability:>12.4f}  {_short(r.text)}")
        else:
            result["predicted"] = est.predict(result["text"].tolist())
            echo(f"{'predicted':>10}  text")
            for r in result.itertuples():
                echo(f"{r.predicted:>10.3f}  {_short(r.text)}")
        if run is not None:
            run.write_csv("predictions.csv", result, index=False)
            echo(f"wrote {run.path}/predictions.csv")
    return result


def _short(text: str, width: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def explain_text(model, text: str, *, out=None, echo=print) -> dict:
    """For ``text``: its tokens, each one's contribution to the predicted class (gradient x
    input of its score z_c - mean z), and that class's probability after each prefix; printed, and with
    ``out`` drawn into explanation.png with the numbers in explanation.json."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("give some non-empty text to explain, e.g. \"a gripping, funny film\"")
    with open_run(out) as run:
        est = _text_model(model)
        if est.target != "class":
            raise ValueError("explain reads a classifier; this model predicts a rating")
        tokens = est.tokens(text)
        prefix = est.prefix_proba([text])[0]  # (T, C)
        winner = int(prefix[-1].argmax())
        contrib = est.contributions([text], target=[winner])[0]  # (T,)
        name = est.classes_[winner]
        echo(f"{model}: {est.describe()}; predicted {name!r} with probability {prefix[-1, winner]:.4f}")
        echo(f"{'token':<20}{'contribution':>13}{'P(' + str(name) + ') after it':>24}")
        for tok, c, p in zip(tokens, contrib, prefix[:, winner]):
            echo(f"{tok[:19]:<20}{c:>+13.4f}{p:>24.4f}")
        result = {"text": text, "tokens": tokens, "predicted": name, "classes": est.classes_,
                  "contributions": contrib.tolist(), "prefix_probabilities": prefix.tolist()}
        if run is not None:
            from unrolled.tasks.classify.figures import explanation_figure

            run.write_figure("explanation.png", explanation_figure(tokens, contrib, prefix[:, winner], str(name),
                                                                   f"why {name!r}: {_short(text, 60)}"))
            run.write_text("explanation.json", json.dumps(result, indent=1))
            echo(f"wrote {run.path}/: explanation.png, explanation.json")
        return result


def write_texts(out, csv=None, *, data="movie-reviews", text_col="text", label_col="label", split_seed=0,
                lowercase=True, echo=print):
    """``out``/train_texts.txt: the training split's texts (the split ``classify train`` makes
    with the same seed), one per line, lower-cased unless ``lowercase`` is False."""
    from unrolled.tasks.classify import corpora
    from unrolled.tasks.classify.run import read_labelled

    with open_run(out) as run:
        frame = read_labelled(csv, data, text_col, label_col)
        train = corpora.split(frame, seed=split_seed)["train"]["text"]
        lines = [" ".join(t.split()) for t in train]
        lines = [t.lower() for t in lines] if lowercase else lines
        path = run.write_text("train_texts.txt", "\n".join(lines) + "\n")
        echo(f"wrote {path}: {len(lines):,} training texts of {data if csv is None else csv} (split seed "
             f"{split_seed}), no labels; next: unrolled lm train --text {path} --level word ...")
        return path
