"""The n-gram baseline on text: a tokenizer and a Kneser-Ney model together, with the interface
the recurrent ``LanguageModel`` shares (``fit``, ``sample``, ``score``, ``perplexity``), and
``evaluate_ngram``, the function behind ``unrolled lm ngram``."""

from __future__ import annotations

import time

import numpy as np

from unrolled.tasks.lm import sampling
from unrolled.tasks.lm.corpus import Corpus, load_corpus
from unrolled.tasks.lm.ngram import KneserNey
from unrolled.tasks.lm.tokenizers import TOKENIZERS

# char: best validation bpc of orders 2..9 within 0.001; word: trigram; spaced: the Penn Treebank's
# published Kneser-Ney 5-gram (Mikolov 2011)
DEFAULT_ORDER = {"char": 7, "word": 3, "spaced": 5}
# word: V = 13,083 on the bundled training split; spaced: the corpus's own vocabulary (the PTB's 10,000)
DEFAULT_MIN_FREQ = {"char": 1, "word": 3, "spaced": 1}


def make_tokenizer(level: str, min_freq=None):
    """The tokenizer of a level (``TOKENIZERS``), with the level's default cut-off."""
    if level not in TOKENIZERS:
        raise ValueError(f"level={level!r}; use 'char', 'word' or 'spaced'")
    return TOKENIZERS[level](min_freq=DEFAULT_MIN_FREQ[level] if min_freq is None else min_freq)


class NGramModel:
    """Interpolated Kneser-Ney on characters or words: ``NGramModel("char", order=7).fit(text)``."""

    def __init__(self, level="char", order=None, min_freq=None, modified=True):
        self.level = level
        self.order = DEFAULT_ORDER.get(level, 3) if order is None else order
        self.min_freq = min_freq
        self.modified = modified
        self.tokenizer_ = None
        self.model_ = None

    def fit(self, text: str):
        """Fit the tokenizer's vocabulary, then the counts, on the training text."""
        tok = make_tokenizer(self.level, self.min_freq).fit(text)
        self.model_ = KneserNey(self.order, self.modified).fit(tok.encode(text), tok.vocab_size)
        self.tokenizer_ = tok
        return self

    def _fitted(self):
        if self.model_ is None:
            raise ValueError("NGramModel is not fitted; call fit(training_text) first")

    def sample(self, prime="\n", length=200, temperature=1.0, top_k=None, seed=None) -> str:
        """``length`` tokens of text after ``prime``; the same seed gives the same text."""
        self._fitted()
        ids = sampling.generate(self.model_.step, self.tokenizer_.encode(prime), length,
                                temperature=temperature, top_k=top_k, seed=seed)
        return self.tokenizer_.decode(ids)

    def token_logprobs(self, text: str, context="\n") -> np.ndarray:
        """Natural-log probability of each token of ``text`` after ``context`` (default: a line start)."""
        self._fitted()
        ctx, ids = self.tokenizer_.encode(context), self.tokenizer_.encode(text)
        return self.model_.logprobs(np.concatenate([ctx, ids]), start=len(ctx))

    def score(self, text: str, context="\n") -> float:
        """``log P(text | context)``, natural log: the sum of ``token_logprobs``."""
        return float(self.token_logprobs(text, context).sum())

    def perplexity(self, text: str) -> float:
        """Perplexity per token of a longer text, its first token taken as given."""
        self._fitted()
        return self.model_.perplexity(self.tokenizer_.encode(text))

    def rank(self, candidates, context="\n") -> list[tuple[str, float]]:
        """Candidate texts with their log-probabilities, most probable first."""
        scored = [(c, self.score(c, context)) for c in candidates]
        return sorted(scored, key=lambda item: -item[1])


def evaluate_ngram(text=None, level=None, orders=None, min_freq=None, *, tokenizer=None) -> list[dict]:
    """Fit n-gram models of each order on the train split of ``text`` (a ``Corpus``, a path, or
    None: the bundled Shakespeare) and measure validation and test: one dict per order with
    ``bits_per_token``, ``perplexity`` and ``bits_per_char`` (total bits over the split's
    characters) per split. ``level`` None: the corpus's own (``Corpus.level``), else characters.
    ``tokenizer``: one already fitted on that train split (a recurrent model's, so that both
    share the vocabulary without fitting it twice)."""
    corpus: Corpus = text if isinstance(text, Corpus) else load_corpus(text)
    level = level or corpus.level or "char"
    orders = [DEFAULT_ORDER.get(level, 3)] if orders is None else list(orders)
    tok = make_tokenizer(level, min_freq).fit(corpus.train) if tokenizer is None else tokenizer
    train = tok.encode(corpus.train)
    results = []
    for order in orders:
        t0 = time.perf_counter()
        model = KneserNey(order).fit(train, tok.vocab_size)
        row = {"level": level, "order": order, "source": corpus.source, "vocab_size": tok.vocab_size,
               "min_freq": tok.min_freq, "train_tokens": len(train), "fit_seconds": time.perf_counter() - t0}
        for split in ("validation", "test"):
            t0 = time.perf_counter()
            ids = tok.encode(corpus.split(split))
            nats = -model.logprobs(ids)  # (L - 1,): the first token is given
            row[split] = {"tokens": len(nats), "bits_per_token": float(nats.mean() / np.log(2)),
                          "perplexity": float(np.exp(nats.mean())),
                          "bits_per_char": float(nats.sum() / np.log(2) / (len(corpus.split(split)) - 1)),
                          "seconds": time.perf_counter() - t0}
        results.append(row)
    return results
