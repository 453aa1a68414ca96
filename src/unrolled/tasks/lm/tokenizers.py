"""Tokenizers: text <-> integer ids in [0, V), fitted on the training text, saved with a model.

Both keep id 0 for ``<unk>``: a token rarer than ``min_freq`` in the training text, or never
seen there, encodes to it. ``to_dict()`` gives plain JSON; ``tokenizer_from_dict`` reverses it.

* ``CharTokenizer``: one token per character; ``decode(encode(s)) == s`` whenever every
  character of ``s`` is in the vocabulary.
* ``WordTokenizer``: words (apostrophes inside or at the ends kept: ``o'er``, ``'Tis``,
  ``th'``), each run of one punctuation mark (``,``  ``--``  ``...``) and each line break are
  tokens; spaces are not. Decoding puts one space between tokens except before closing
  punctuation (``, . ; : ! ? ) ] }``), after opening brackets, around dashes and hyphens and
  around line breaks, so a play's layout (speaker line, verse lines, blank lines) survives and
  ``decode(encode(s)) == s`` for text spaced that way. Indentation and repeated spaces are lost,
  and two runs of one mark decode into one run (``-``, ``-`` -> ``--``).
* ``SpacedTokenizer``: text already cut into tokens (the Penn Treebank as Mikolov prepared it):
  the tokens are what spaces separate, and each line break is the token ``<eos>``, so a
  perplexity per token counts the end of every sentence too. Decoding joins tokens with one
  space and turns ``<eos>`` back into a line break.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from unrolled.nn.checks import check_positive_int

UNK = "<unk>"
EOS = "<eos>"  # SpacedTokenizer's line break
WORD_PATTERN = re.compile(r"\n|'?[^\W_]+(?:'[^\W_]+)*'?|(\S)\1*")
CLOSING = set(",.;:!?)]}")
OPENING = set("([{")


class _Tokenizer:
    level = ""

    def __init__(self, min_freq=1):
        self.min_freq = check_positive_int(min_freq, "min_freq", type(self).__name__)
        self.vocab_: list[str] | None = None  # id -> token; learned by fit
        self.index_: dict[str, int] | None = None  # token -> id

    # -- what subclasses define ----------------------------------------------------------------
    def split(self, text: str) -> list[str]:
        raise NotImplementedError

    def join(self, tokens: list[str]) -> str:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------
    def fit(self, text: str):
        """Learn the vocabulary from ``text``: ``<unk>``, then tokens seen at least ``min_freq``
        times, most frequent first (ties in code-point order)."""
        name = type(self).__name__
        if not isinstance(text, str) or not text:
            raise ValueError(f"{name}.fit: expected a non-empty string of training text")
        counts = Counter(self.split(text))
        kept = sorted((t for t, c in counts.items() if c >= self.min_freq and t != UNK),
                      key=lambda t: (-counts[t], t))
        return self._set_vocab([UNK] + kept)

    def _set_vocab(self, vocab: list[str]):
        self.vocab_ = list(vocab)
        self.index_ = {t: i for i, t in enumerate(self.vocab_)}
        return self

    def _fitted(self) -> None:
        if self.vocab_ is None:
            raise ValueError(f"{type(self).__name__} is not fitted; call fit(training_text) first")

    @property
    def vocab_size(self) -> int:
        """V, ``<unk>`` included."""
        self._fitted()
        return len(self.vocab_)

    def encode(self, text: str) -> np.ndarray:
        """Text -> ids (N,) int64; unknown tokens become 0 (``<unk>``)."""
        self._fitted()
        get = self.index_.get
        return np.fromiter((get(t, 0) for t in self.split(text)), dtype=np.int64)

    def decode(self, ids) -> str:
        """Ids -> text."""
        self._fitted()
        ids = np.asarray(ids, dtype=np.int64).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.vocab_)):
            raise ValueError(f"{type(self).__name__}.decode: ids must lie in [0, V={len(self.vocab_)})")
        return self.join([self.vocab_[i] for i in ids.tolist()])

    def to_dict(self) -> dict:
        """Plain JSON-serialisable state: level, min_freq and the vocabulary in id order."""
        self._fitted()
        return {"level": self.level, "min_freq": self.min_freq, "vocab": list(self.vocab_)}

    @classmethod
    def from_dict(cls, d: dict):
        if d.get("level") != cls.level:
            raise ValueError(f"{cls.__name__}.from_dict: level {d.get('level')!r}, expected {cls.level!r}")
        vocab = d.get("vocab")
        if not (isinstance(vocab, list) and vocab and vocab[0] == UNK and len(set(vocab)) == len(vocab)):
            raise ValueError(f"{cls.__name__}.from_dict: 'vocab' must be a list of distinct tokens "
                             f"starting with {UNK!r}")
        return cls(min_freq=d.get("min_freq", 1))._set_vocab(vocab)

    def __repr__(self) -> str:
        size = "unfitted" if self.vocab_ is None else f"V={len(self.vocab_)}"
        return f"{type(self).__name__}(min_freq={self.min_freq}, {size})"


class CharTokenizer(_Tokenizer):
    """One token per character; ``<unk>`` decodes to U+FFFD, the replacement character."""

    level = "char"

    def split(self, text):
        return list(text)

    def join(self, tokens):
        return "".join("\ufffd" if t == UNK else t for t in tokens)

    def encode(self, text):
        # a lookup table over code points: far faster than a dict lookup per character on 4 MB
        self._fitted()
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # (N,)
        inside = points < len(self._table)
        return np.where(inside, self._table[np.where(inside, points, 0)], 0)

    def _set_vocab(self, vocab):
        if any(len(t) != 1 for t in vocab[1:]):
            raise ValueError("CharTokenizer: every token after <unk> must be a single character")
        self._table = np.zeros(max((ord(t) for t in vocab[1:]), default=0) + 1, dtype=np.int64)
        for i, t in enumerate(vocab[1:], start=1):
            self._table[ord(t)] = i  # code point -> id; 0 (<unk>) elsewhere
        return super()._set_vocab(vocab)


class WordTokenizer(_Tokenizer):
    """Words, punctuation runs and line breaks (see the module docstring); the default
    ``min_freq=3`` keeps 13,083 of the 30,067 types in the bundled training split."""

    level = "word"

    def __init__(self, min_freq=3):
        super().__init__(min_freq)

    def split(self, text):
        return [m.group(0) for m in WORD_PATTERN.finditer(text)]

    def join(self, tokens):
        out = []
        prev = "\n"
        for t in tokens:
            glued = (prev == "\n" or t == "\n" or prev[0] in OPENING or t[0] in CLOSING
                     or prev[0] == "-" or t[0] == "-")
            out.append(t if glued else " " + t)
            prev = t
        return "".join(out)


class SpacedTokenizer(_Tokenizer):
    """Tokens separated by spaces, ``<eos>`` for each line break (see the module docstring); the
    default ``min_freq=1`` keeps the vocabulary such a corpus comes with (the Penn Treebank's
    10,000 words, ``<unk>`` and ``<eos>`` included)."""

    level = "spaced"

    def split(self, text):
        return text.replace("\n", f" {EOS} ").split()

    def join(self, tokens):
        out, line_start = [], True
        for t in tokens:
            out.append("\n" if t == EOS else t if line_start else " " + t)
            line_start = t == EOS
        return "".join(out)


def tokenizer_from_dict(d: dict):
    """Rebuild a tokenizer saved with ``to_dict()``."""
    if not isinstance(d, dict) or d.get("level") not in TOKENIZERS:
        raise ValueError(f"tokenizer state must be a dict with 'level' in {sorted(TOKENIZERS)}")
    return TOKENIZERS[d["level"]].from_dict(d)


TOKENIZERS = {cls.level: cls for cls in (CharTokenizer, WordTokenizer, SpacedTokenizer)}  # by level name
