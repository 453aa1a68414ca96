"""The bundled classification corpora: the counts DATA.md states, labels, deduplication, and splits
that are seeded, stratified and never share a text between parts."""

import hashlib

import numpy as np
import pytest

from unrolled.tasks.classify import corpora


def test_movie_snippets_counts_and_labels():
    m = corpora.movie_snippets()
    assert len(m) + m.attrs["dropped_neutral"] == 10_605 and m.attrs["dropped_neutral"] == 37
    assert set(m["label"]) == {"negative", "positive"}
    assert ((m["rating"] > 0) == (m["label"] == "positive")).all() and (m["rating"] != 0).all()
    assert m["rating"].between(-4, 4).all() and m["id"].is_unique and (m["text"].str.len() > 0).all()


def test_tweets_are_deduplicated_before_any_split():
    t = corpora.tweets()
    assert len(t) + t.attrs["dropped_duplicates"] == 38_158 and t.attrs["dropped_duplicates"] == 915
    assert t["text"].is_unique and set(t["label"]) == {"negative", "neutral", "positive"}


def test_the_bundled_bytes_are_the_sources():
    """DATA.md's SHA-256 of the source bytes inside each .gz (scripts/make_classify_data.py)."""
    import gzip

    expected = {"movie_snippets.txt.gz": "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350",
                "tweets.csv.gz": "9185be9d77af0c6dfb50843299cea03b310ec4620af62ec3a4d75b0f0f794303"}
    for name, digest in expected.items():
        assert hashlib.sha256(gzip.decompress((corpora.DATA / name).read_bytes())).hexdigest() == digest


@pytest.mark.parametrize("load", [corpora.movie_snippets, corpora.tweets])
def test_split_is_seeded_stratified_and_disjoint(load):
    frame = load()
    parts = corpora.split(frame, seed=0)
    assert sum(len(p) for p in parts.values()) == len(frame)
    texts = [set(p["text"]) for p in parts.values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    share = frame["label"].value_counts(normalize=True)
    for part in parts.values():
        assert np.allclose(part["label"].value_counts(normalize=True)[share.index], share, atol=0.01)
    again, other = corpora.split(frame, seed=0), corpora.split(frame, seed=1)
    assert again["test"]["text"].tolist() == parts["test"]["text"].tolist()
    assert other["test"]["text"].tolist() != parts["test"]["text"].tolist()


def test_folds_partition_the_rows_by_class():
    frame = corpora.movie_snippets()
    folds = corpora.folds(frame, 10, seed=0)
    rows = np.concatenate(folds)
    assert len(rows) == len(frame) and len(np.unique(rows)) == len(frame)
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    share = (frame["label"] == "positive").mean()
    assert all(abs((frame["label"].iloc[f] == "positive").mean() - share) < 0.01 for f in folds)


def test_bad_split_arguments_name_the_fix():
    frame = corpora.movie_snippets().iloc[:20]
    with pytest.raises(ValueError, match="three positive shares"):
        corpora.split(frame, fractions=(0.5, 0.5))
    with pytest.raises(ValueError, match="whole number from 2"):
        corpora.folds(frame, 1)
    tiny = frame.iloc[:4].assign(label=["a", "a", "b", "b"])
    with pytest.raises(ValueError, match="at least 3"):
        corpora.split(tiny)
