"""The recurrent language model, seed 004 section 4: ``LanguageModel`` trains ``RecurrentLM``
(``network.py``) with stateful truncated BPTT (Zaremba, Sutskever and Vinyals, 2014)
on the shared engine: the training text becomes B parallel streams (``batching``), each step
reads the next T tokens of every stream, and the final state of one segment is the initial state
of the next -- passed as a value, so backpropagation stops at the segment boundary. It then
samples, scores and ranks text through :mod:`unrolled.tasks.lm.sampling`'s next-token interface.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from pathlib import Path

import numpy as np

from unrolled.nn.checks import check_positive_int, resolve_dtype
from unrolled.nn.activations import log_softmax
from unrolled.train.trainer import TrainConfig, Trainer, load_checkpoint, save_checkpoint
from unrolled.nn.losses import CrossEntropyLoss
from unrolled.tasks.lm import sampling
from unrolled.tasks.lm.baseline import make_tokenizer
from unrolled.tasks.lm.batching import batchify, segments
from unrolled.tasks.lm.corpus import Corpus, load_corpus, shakespeare, split_text
from unrolled.tasks.lm.network import CELLS, RecurrentLM
from unrolled.tasks.lm.tokenizers import tokenizer_from_dict

CONTEXT = "\n"  # what every scored or sampled text follows: the start of a line
EVAL_CHUNK = 256  # steps per forward when scoring: bounds the (T, B, V) logits held at once


def _state_to_json(state):
    if state is None:
        return None
    parts = state if isinstance(state, tuple) else (state,)
    return [p.tolist() for p in parts]  # float32 -> float -> JSON -> float32 is exact


def _state_from_json(obj, dtype):
    if obj is None:
        return None
    parts = tuple(np.asarray(p, dtype=dtype) for p in obj)
    return parts if len(parts) == 2 else parts[0]


class LanguageModel:
    """A character- or word-level recurrent language model (scikit-learn conventions: ``__init__``
    stores, ``fit`` returns ``self``, learned state ends in ``_``).

    ``LanguageModel(level="char", cell="lstm").fit(text)`` -- ``text`` a string or a
    ``pathlib.Path`` to a UTF-8 file (split 90/5/5 by position), a ``Corpus``
    (``unrolled.tasks.lm.corpus``), or None for the bundled Shakespeare, split by work. Then
    ``sample``, ``score``, ``token_logprobs``, ``perplexity``, ``evaluate``, ``rank``, ``save`` /
    ``load``. Every scored or sampled text follows a line break (``CONTEXT``), as the n-gram
    baseline's does.
    """

    def __init__(self, level="char", cell="lstm", *,
                 embedding_dim=64,        # a char vocabulary is ~70 symbols: a small embedding suffices
                 hidden_size=256,         # Karpathy's char-rnn scale that still trains on 2 cores
                 num_layers=2,            # dropout between two layers is the Zaremba setup
                 dropout=0.2,             # on embeddings, between layers and before the decoder
                 seq_len=100,             # T: steps of BPTT per segment (char-rnn's 100)
                 batch_size=32,           # B: parallel streams of the training text
                 lr=2e-3,                 # Adam's rate for char models of this size
                 clip=5.0,                # joint gradient norm bound, Zaremba et al.'s 5
                 epochs=10,               # upper bound; early stopping or max_steps may end sooner
                 max_steps=None,          # stop after this many segments in all (None: epochs decide)
                 max_minutes=None,        # wall-clock budget of fit, validation included (None: no limit)
                 steps_per_epoch=None,    # segments per "epoch" (None: one pass over the streams)
                 lr_decay=1.0,            # multiply lr by this after every epoch (1 = constant)
                 optimizer="adam",        # sgd | adam | adamw
                 patience=3,              # epochs without a better validation loss before stopping
                 min_freq=None,           # None: 1 for chars, 3 for words (V = 13,083 on Shakespeare)
                 eval_batch_size=16,      # streams when evaluating a split (1 = one exact sequential pass)
                 seed=0,
                 dtype=np.float32,
                 checkpoint_dir=None,     # the engine's best / last checkpoints go here; needed to resume
                 progress=None):          # tqdm bar; None = only on a terminal
        self.level, self.cell = level, cell
        self.embedding_dim, self.hidden_size, self.num_layers = embedding_dim, hidden_size, num_layers
        self.dropout, self.seq_len, self.batch_size = dropout, seq_len, batch_size
        self.lr, self.clip, self.epochs, self.max_steps = lr, clip, epochs, max_steps
        self.max_minutes = max_minutes
        self.steps_per_epoch, self.lr_decay, self.optimizer = steps_per_epoch, lr_decay, optimizer
        self.patience, self.min_freq, self.eval_batch_size = patience, min_freq, eval_batch_size
        self.seed, self.dtype = seed, dtype
        self.checkpoint_dir, self.progress = checkpoint_dir, progress

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in inspect.signature(type(self).__init__).parameters if k != "self"}

    def __repr__(self) -> str:
        size = "unfitted" if getattr(self, "net_", None) is None else f"V={self.vocab_size_}"
        return f"LanguageModel(level={self.level!r}, cell={self.cell!r}, hidden_size={self.hidden_size}, {size})"

    # -- checks -------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        name = "LanguageModel"
        if self.level not in ("char", "word"):
            raise ValueError(f"{name}: level={self.level!r}; use 'char' or 'word'")
        if self.cell not in CELLS:
            raise ValueError(f"{name}: cell={self.cell!r}; use 'rnn', 'lstm' or 'gru'")
        for what in ("embedding_dim", "hidden_size", "num_layers", "seq_len", "batch_size", "epochs",
                     "eval_batch_size"):
            check_positive_int(getattr(self, what), what, name)
        for what in ("max_steps", "steps_per_epoch", "min_freq", "patience"):
            if getattr(self, what) is not None:
                check_positive_int(getattr(self, what), what, name + f" ({what}=None turns it off)")
        if self.max_minutes is not None and not (isinstance(self.max_minutes, (int, float))
                                                 and math.isfinite(self.max_minutes) and self.max_minutes > 0):
            raise ValueError(f"{name}: max_minutes={self.max_minutes!r} must be a positive number of minutes, "
                             "or None for no time limit")
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"{name}: dropout={self.dropout!r} must be a probability in [0, 1), e.g. 0.2")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"{name}: lr={self.lr!r} must be a positive learning rate such as 2e-3")
        if self.clip is not None and not (isinstance(self.clip, (int, float)) and self.clip > 0):
            raise ValueError(f"{name}: clip={self.clip!r} must be a positive gradient-norm bound, or None for no clipping")
        if not (isinstance(self.lr_decay, (int, float)) and 0 < self.lr_decay <= 1):
            raise ValueError(f"{name}: lr_decay={self.lr_decay!r} must lie in (0, 1]; 1 keeps the rate constant")
        resolve_dtype(self.dtype, name)

    def _check_fitted(self) -> None:
        if getattr(self, "net_", None) is None:
            raise ValueError("this LanguageModel is not fitted yet; call fit(text) or LanguageModel.load(path) first")

    @staticmethod
    def _as_corpus(data) -> Corpus:
        if data is None:
            return shakespeare()
        if isinstance(data, Corpus):
            return data
        if isinstance(data, os.PathLike):
            return load_corpus(data)
        if isinstance(data, str):
            if "\n" not in data and len(data) < 4096 and Path(data).is_file():
                raise ValueError(f"fit got {data!r}, the name of a file, as the text to train on; pass "
                                 "pathlib.Path(name) to read the file, or the file's text itself")
            return split_text(data, source="text")
        raise ValueError(f"fit expects a string of text, a file path (pathlib.Path), a Corpus or None (the "
                         f"bundled Shakespeare), got {type(data).__name__}")

    # -- training -----------------------------------------------------------------------------------
    def fit(self, data=None, *, resume=False, log=None) -> "LanguageModel":
        """Train on ``data`` (see the class docstring) with stateful truncated BPTT; validation
        loss, perplexity and bits per character after every epoch. ``resume=True`` continues the
        run saved in ``checkpoint_dir``. Returns self."""
        self._check_params()
        corpus = self._as_corpus(data)
        tok = make_tokenizer(self.level, self.min_freq).fit(corpus.train)
        train_ids = tok.encode(corpus.train)
        if len(train_ids) // self.batch_size < 2:
            raise ValueError(f"the training text has {len(train_ids)} tokens: too few for batch_size="
                             f"{self.batch_size} streams of at least 2; use a smaller batch_size or more text")
        segs = list(segments(batchify(train_ids, self.batch_size), self.seq_len))  # [(x, y) (T, B)]
        n = len(segs)
        per_epoch = self.steps_per_epoch or n
        epochs = self.epochs if self.max_steps is None else math.ceil(self.max_steps / per_epoch)
        self.tokenizer_, self.vocab_size_ = tok, tok.vocab_size
        self.net_ = RecurrentLM(self.cell, tok.vocab_size, self.embedding_dim, self.hidden_size, self.num_layers,
                                self.dropout, dtype=self.dtype, seed=self.seed)
        val_ids, val_chars = tok.encode(corpus.validation), len(corpus.validation)
        loss_fn = CrossEntropyLoss()
        carried = {"state": None}  # the final hidden state of the last segment trained on
        timing = {"validate": 0.0, "tokens": 0}

        def batches(_rng):
            # segment numbers of this epoch; an epoch may stop mid-pass and the next continue there
            done = trainer.steps
            count = per_epoch if self.max_steps is None else min(per_epoch, self.max_steps - done)
            return [(done + k) % n for k in range(count)]

        def step(k):
            x, y = segs[k]
            if k == 0:
                carried["state"] = None  # the streams start afresh: zero state
            logits, state = self.net_.forward(x, carried["state"])  # (T, B, V)
            carried["state"] = state  # a value only: the next segment starts from it, no gradient returns
            loss = loss_fn.forward(logits, y)
            self.net_.backward(loss_fn.backward())
            timing["tokens"] += y.size
            return loss

        def validate():
            t0 = time.perf_counter()
            result = self._evaluate_ids(val_ids, val_chars)
            timing["validate"] += time.perf_counter() - t0
            return result

        config = TrainConfig(epochs=epochs, optimizer=self.optimizer, lr=self.lr, clip_norm=self.clip,
                             schedule=None if self.lr_decay == 1 else "exponential", gamma=self.lr_decay,
                             patience=self.patience, shuffle=False, seed=self.seed, progress=self.progress,
                             max_seconds=None if self.max_minutes is None else 60.0 * self.max_minutes)
        trainer = Trainer(self.net_, config, checkpoint_dir=self.checkpoint_dir, log=log,
                          extra_state=lambda: {"state": _state_to_json(carried["state"])},
                          load_extra_state=lambda s: carried.update(state=_state_from_json(s["state"], self.dtype)))
        t0 = time.perf_counter()
        self.history_ = trainer.fit(batches, step, validate, resume=resume)
        seconds = time.perf_counter() - t0 - timing["validate"]
        self.steps_ = trainer.steps
        self.best_epoch_ = trainer.best_epoch
        self.stopped_early_ = trainer.stopped_early
        self.out_of_time_ = trainer.out_of_time
        self.train_tokens_per_second_ = timing["tokens"] / seconds if timing["tokens"] else None
        self.net_.eval()
        return self

    # -- evaluation ---------------------------------------------------------------------------------
    def _evaluate_ids(self, ids, n_chars) -> dict:
        """Mean loss (nats per token), perplexity, bits per token and per character of a split, read
        as ``eval_batch_size`` streams (each stream's first token is given, not scored)."""
        if len(ids) < 2:
            raise ValueError(f"{len(ids)} token(s) are too few to evaluate; give at least 2")
        B = max(1, min(self.eval_batch_size, len(ids) // 2))
        self.net_.eval()
        state, nats, count = None, 0.0, 0
        for x, y in segments(batchify(np.asarray(ids), B), EVAL_CHUNK):
            logits, state = self.net_.forward(x, state)  # (T, B, V)
            logp = log_softmax(logits.astype(np.float64))
            nats -= float(np.take_along_axis(logp, y[..., None], axis=-1).sum())
            count += y.size
        loss = nats / count
        bits = loss / math.log(2)
        return {"loss": loss, "perplexity": math.exp(loss), "bits_per_token": bits,
                "bits_per_char": bits * (len(ids) - 1) / max(n_chars - 1, 1)}

    def evaluate(self, text: str) -> dict:
        """``loss`` (nats per token), ``perplexity``, ``bits_per_token``, ``bits_per_char`` and
        ``tokens`` of a long text such as a test split (read as ``eval_batch_size`` streams)."""
        self._check_fitted()
        ids = self.tokenizer_.encode(text)
        return {**self._evaluate_ids(ids, len(text)), "tokens": len(ids)}

    def token_logprobs(self, text: str, context=CONTEXT) -> np.ndarray:
        """Natural-log ``P(x_t | context, x_1..x_{t-1})`` of each token of ``text``, (L,): one
        sequential pass (B = 1), T = ``EVAL_CHUNK`` steps at a time with the state carried."""
        self._check_fitted()
        ctx, ids = self.tokenizer_.encode(context), self.tokenizer_.encode(text)
        if len(ctx) == 0:
            raise ValueError("context must hold at least one token (the default is a line break)")
        if len(ids) == 0:
            raise ValueError(f"the text {text!r} holds no tokens to score; give some text")
        seq = np.concatenate([ctx, ids])  # (C + L,)
        self.net_.eval()
        out, state = [], None
        for x, y in segments(seq[:, None], EVAL_CHUNK):  # (T, 1) each
            logits, state = self.net_.forward(x, state)  # (T, 1, V)
            logp = log_softmax(logits[:, 0].astype(np.float64))  # (T, V)
            out.append(np.take_along_axis(logp, y, axis=-1)[:, 0])
        return np.concatenate(out)[len(ctx) - 1:]  # the context's own tokens are not scored

    def score(self, text: str, context=CONTEXT) -> float:
        """``log P(text | context)``, natural log: the sum of ``token_logprobs``."""
        return float(self.token_logprobs(text, context).sum())

    def perplexity(self, text: str, context=CONTEXT) -> float:
        """``exp(-mean token log-probability)`` of ``text``."""
        return float(np.exp(-self.token_logprobs(text, context).mean()))

    def rank(self, candidates, context=CONTEXT) -> list[tuple[str, float]]:
        """Candidate texts with their log-probabilities, most probable first."""
        if isinstance(candidates, str) or not len(candidates):
            raise ValueError("rank expects a list of candidate texts, e.g. ['to be', 'be to']")
        scored = [(c, self.score(c, context)) for c in candidates]
        return sorted(scored, key=lambda item: -item[1])

    # -- generation ---------------------------------------------------------------------------------
    def step(self, new_ids, state):
        """Next-token function for :mod:`unrolled.tasks.lm.sampling`: feed ``new_ids`` (eval mode, one
        forward of T = len(new_ids)) after the hidden state in ``state`` (None: zeros) ->
        (log-probabilities (V,), new state). The state holds the hidden state and the last logp."""
        hidden, logp = (None, None) if state is None else state
        new_ids = np.asarray(new_ids, dtype=np.int64)
        if len(new_ids) == 0:
            if logp is None:
                raise ValueError("the first call of step needs at least one token of context")
            return logp, state
        self.net_.eval()
        logits, hidden = self.net_.forward(new_ids[:, None], hidden)  # (T, 1, V)
        logp = log_softmax(logits[-1, 0].astype(np.float64))  # (V,)
        return logp, (hidden, logp)

    def sample(self, prime="", length=200, temperature=1.0, top_k=None, seed=None, *, with_prime=False) -> str:
        """``length`` tokens of text after ``CONTEXT + prime``, fed one token at a time; ``temperature``
        0 is greedy; the same seed gives the same text. ``with_prime`` puts ``prime`` in front."""
        self._check_fitted()
        if not isinstance(prime, str):
            raise ValueError(f"prime must be a string, got {type(prime).__name__}")
        tok = self.tokenizer_
        prime_ids = tok.encode(prime)
        ids = sampling.generate(self.step, np.concatenate([tok.encode(CONTEXT), prime_ids]), length,
                                temperature=temperature, top_k=top_k, seed=seed)
        if not with_prime:
            return tok.decode(ids)
        return prime + tok.decode(ids) if self.level == "char" else tok.decode(np.concatenate([prime_ids, ids]))

    # -- persistence --------------------------------------------------------------------------------
    _LEARNED = ("vocab_size_", "history_", "steps_", "best_epoch_", "stopped_early_", "out_of_time_",
                "train_tokens_per_second_")

    def save(self, path) -> None:
        """Write the fitted model to directory ``path``: ``language_model.json`` (hyperparameters,
        tokenizer, history) naming a ``.npz`` of the weights; atomic, no pickle."""
        self._check_fitted()
        params = {k: v for k, v in self.get_params().items() if k not in ("checkpoint_dir", "progress")}
        params["dtype"] = np.dtype(self.dtype).name
        meta = {"params": params, "tokenizer": self.tokenizer_.to_dict(),
                "learned": {k: getattr(self, k, None) for k in self._LEARNED}}
        save_checkpoint(path, "language_model", self.net_.state_dict(), meta)

    @classmethod
    def load(cls, path) -> "LanguageModel":
        """A model ``save``d to ``path``: same scores, same samples for the same seed."""
        arrays, meta = load_checkpoint(path, "language_model")
        self = cls(**meta["params"])
        for k, v in meta["learned"].items():
            setattr(self, k, v)
        self.tokenizer_ = tokenizer_from_dict(meta["tokenizer"])
        self.net_ = RecurrentLM(self.cell, self.tokenizer_.vocab_size, self.embedding_dim, self.hidden_size,
                                self.num_layers, self.dropout, dtype=self.dtype, seed=self.seed)
        self.net_.load_state_dict(arrays)
        self.net_.eval()
        return self
