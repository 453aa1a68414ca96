"""A trained model and an input for it: what ``unrolled explain --model`` records and
``unrolled gradflow --model`` differentiates.

``load_model(DIR)`` reads either checkpoint, from the run directory or its ``model/``:

* ``unrolled forecast --out DIR`` (``Forecaster.save``: ``forecaster.json`` + arrays); the input
  is a date range of a CSV (default: the bundled S&P 500), transformed and scaled exactly as the
  forecaster's own windows are (``Forecaster._scaled_rows``), one sequence from a zero state.
  With no dates: the last ``lookback`` rows, the very window the model's next forecast reads;
* ``unrolled lm train --out DIR`` (``LanguageModel.save``: ``language_model.json`` + arrays); the
  input is a text after a line break (as the model scores every text), through the model's own
  tokenizer and embedding (default ``DEFAULT_TEXT``).

``model_input`` returns the recurrent layer's input (T, 1, D), a label per step (dates, tokens)
and a line to draw above the heatmaps (the target price; the model's surprisal in bits).
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from unrolled.inside.record import flatten, kind, parts, record

DEFAULT_TEXT = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
                "The slings and arrows of outrageous fortune,\n")


@dataclass
class Loaded:
    """A trained model's recurrent layer and where it came from."""

    layer: object  # unrolled.RNN / LSTM / GRU
    task: str  # "forecast" or "lm"
    source: object  # the Forecaster or the LanguageModel
    path: pathlib.Path

    @property
    def cell(self) -> str:
        return self.source.cell

    def describe(self) -> str:
        m = self.layer
        if self.task == "forecast":
            what = f"forecasting {self.source.target!r}"
        else:
            what = f"{self.source.level}-level language model"
        return f"{self.path}: {type(m).__name__} {m.num_layers}x{m.hidden_size} {what}"


def load_model(path) -> Loaded:
    """The model saved in ``path`` (see the module docstring); ValueError naming the fix."""
    path = pathlib.Path(path)
    if not path.is_dir():
        raise ValueError(f"--model {str(path)!r} is not a directory; give the --out directory of "
                         "`unrolled forecast` or `unrolled lm train` (or its model/ subdirectory)")
    for candidate in (path, path / "model"):
        if (candidate / "forecaster.json").is_file():
            from unrolled.tasks.forecast import Forecaster

            f = Forecaster.load(candidate)
            return Loaded(f.model_.rnn, "forecast", f, candidate)
        if (candidate / "language_model.json").is_file():
            from unrolled.tasks.lm import LanguageModel

            lm = LanguageModel.load(candidate)
            return Loaded(lm.net_.rnn, "lm", lm, candidate)
    raise ValueError(f"no trained model in {str(path)!r}: expected forecaster.json (`unrolled forecast --out "
                     "DIR`) or language_model.json (`unrolled lm train --out DIR`) in it or in its model/")


def model_input(loaded: Loaded, csv=None, start=None, end=None, text=None, rows=None):
    """``(x (T, 1, D), labels (T,), series (T,), series_label)`` for the model: see the module
    docstring. ``rows`` caps T (forecast: the last ``rows`` rows when no dates are given,
    default the lookback; text: the first ``rows`` tokens, the text repeated if shorter)."""
    if loaded.task == "lm":
        if csv is not None or start is not None or end is not None:
            raise ValueError("a language model reads --text, not --csv / --start / --end")
        return _text_input(loaded, DEFAULT_TEXT if text is None else text, rows)
    if text is not None:
        raise ValueError("a forecast model reads a date range (--csv, --start, --end), not --text")
    return _csv_input(loaded, csv, start, end, rows)


def _csv_input(loaded, csv, start, end, rows):
    from unrolled import data
    from unrolled.tasks.forecast.frame import read_csv

    f = loaded.source
    frame = f.check(read_csv(data.path("sp500") if csv is None else csv))
    X = f._scaled_rows(frame)  # (N, F): the transform and scaling of the model's own windows
    dates = frame[f.date_col]
    if start is None and end is None:
        n = f.lookback if rows is None else rows
        if n > len(frame) - 1:
            raise ValueError(f"the CSV has {len(frame)} rows; {n} steps need at least {n + 1}")
        sel = np.arange(len(frame) - n, len(frame))
    else:
        lo = dates.iloc[1] if start is None else _date(start, "--start")
        hi = dates.iloc[-1] if end is None else _date(end, "--end")
        sel = np.flatnonzero(((dates >= lo) & (dates <= hi)).to_numpy())
        sel = sel[sel >= 1]  # row 0 has no change yet
        if len(sel) == 0:
            raise ValueError(f"no rows dated from {lo:%Y-%m-%d} to {hi:%Y-%m-%d} (after the first row); the "
                             f"CSV runs from {dates.iloc[0]:%Y-%m-%d} to {dates.iloc[-1]:%Y-%m-%d}")
    x = X[sel][:, None, :].astype(loaded.layer.dtype)  # (T, 1, F)
    labels = dates.iloc[sel].dt.strftime("%Y-%m-%d").to_numpy()
    return x, labels, frame[f.target].to_numpy()[sel], f.target


def _text_input(loaded, text, rows):
    from unrolled.nn.activations import log_softmax
    from unrolled.tasks.lm.model import CONTEXT

    lm = loaded.source
    tok = lm.tokenizer_
    if not isinstance(text, str) or not text.strip():
        raise ValueError("--text must be some non-empty text, e.g. --text \"To be, or not to be\"")
    ids = np.concatenate([tok.encode(CONTEXT), tok.encode(text)])  # (T,): the model reads text after a line break
    if rows is not None:
        ids = np.resize(ids, rows)  # repeated if shorter
    x = lm.net_.encoder.params["weight"][ids][:, None, :]  # (T, 1, E): the embedding, as the model's forward
    lm.net_.eval()
    logits, _ = lm.net_.forward(ids[:, None])  # (T, 1, V)
    logp = log_softmax(logits[:, 0].astype(np.float64))  # (T, V)
    surprisal = np.full(len(ids), np.nan)
    surprisal[1:] = -logp[np.arange(len(ids) - 1), ids[1:]] / np.log(2)  # bits for token t, given those before
    labels = np.array([{"\n": "\\n", " ": "\u2423"}.get(t, t) for t in (tok.vocab_[i] for i in ids)])
    return x, labels, surprisal, "bits"


def _date(text, flag):
    try:
        return pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ValueError(f"{flag} {text!r} is not a date; write it like 2008-09-15") from None


def out_dir(out) -> pathlib.Path:
    """``--out`` as a directory that exists, made before any work; ValueError if it cannot be."""
    out = pathlib.Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create the output directory {str(out)!r} ({e}); choose another --out") from None
    return out


def gate_summary(rec: dict, mode: str) -> str:
    """Per layer / direction and gate: mean, spread and how often it is saturated."""
    from unrolled.inside.record import PANELS

    lines = [f"{'part':<12}{'gate':<6}{'mean':>8}{'std':>8}{'min':>8}{'max':>8}  saturated"]
    for part in parts(rec):
        for name in PANELS[mode]:
            v = rec[part][name]
            sigmoid = name in ("i", "f", "o", "r", "z")
            sat = np.mean((v < 0.05) | (v > 0.95)) if sigmoid else np.mean(np.abs(v) > 0.95)
            what = "<0.05 or >0.95" if sigmoid else "|v| > 0.95"
            lines.append(f"{part:<12}{name:<6}{np.nanmean(v):>8.3f}{np.nanstd(v):>8.3f}{np.nanmin(v):>8.3f}"
                         f"{np.nanmax(v):>8.3f}  {sat:6.1%} ({what})")
    return "\n".join(lines)


def explain_model(model, csv=None, start=None, end=None, text=None, out=None, echo=print) -> dict:
    """Record every gate of every layer of the model in ``model`` on an input (a date range, or a
    text for a language model) and, with ``out``, write ``gates_<part>.png`` heatmaps and
    ``gates.npz`` (the raw values) there. Returns the recording."""
    loaded = load_model(model)
    x, labels, series, series_label = model_input(loaded, csv, start, end, text)
    layer, mode = loaded.layer, kind(loaded.layer)
    rec = record(layer, x)
    span = "tokens of text after a line break" if loaded.task == "lm" else f"days, {labels[0]} to {labels[-1]}"
    echo(f"{loaded.describe()}; {len(labels)} {span} (one sequence from a zero state)")
    echo(gate_summary(rec, mode))
    if out is not None:
        out = out_dir(out)
        from unrolled.inside.plots import plot_gates

        title = f"{loaded.cell.upper()} {'forecaster' if loaded.task == 'forecast' else 'language model'}"
        paths = plot_gates(rec, mode, lambda part: out / f"gates_{part}.png", time_labels=labels,
                           series=series, series_label=series_label, title=title)
        arrays = flatten(rec)
        arrays.update(x=x, labels=labels.astype(str), series=series)
        np.savez(out / "gates.npz", **arrays)
        (out / "gates.json").write_text(json.dumps({
            "model": str(loaded.path), "task": loaded.task, "cell": mode, "steps": len(labels),
            "arrays": "<part>/<name> (T, 1, H) for every gate, pre-activation, c and h; y (T, 1, dirs*H); "
                      f"h_n; x (T, 1, D) the layer's input; labels (T,); series (T,) {series_label}"}, indent=1))
        echo(f"wrote {', '.join(p.name for p in paths)}, gates.npz (raw values), gates.json to {out}/")
    return rec
