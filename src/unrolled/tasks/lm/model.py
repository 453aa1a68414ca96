"""The recurrent language model, seed 004 section 4: ``LanguageModel`` trains ``RecurrentLM``
(``network.py``) with stateful truncated BPTT (Zaremba, Sutskever and Vinyals, 2014)
on the shared engine: the training text becomes B parallel streams (``batching``), each step
reads the next T tokens of every stream, and the final state of one segment is the initial state
of the next -- passed as a value, so backpropagation stops at the segment boundary. Training and
validation go through the decoder fused with the loss (``RecurrentLM.forward_loss``), which never
forms the (T, B, V) logits. The learning rate may stay put for ``lr_decay_after`` epochs before
``lr_decay`` acts, and ``init_range`` draws every parameter from U(-a, a): Zaremba et al.'s recipe
(``presets.py``). It then samples, scores and ranks text through
:mod:`unrolled.tasks.lm.sampling`'s next-token interface.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from unrolled.nn.activations import log_softmax
from unrolled.tasks.base import TaskEstimator, network_hyperparams, training_hyperparams
from unrolled.train.world import current as current_world, shard_rows, sum_over
from unrolled.train.hyperparams import Hyper, flag_value, positive, whole
from unrolled.tasks.lm import sampling
from unrolled.tasks.lm.baseline import make_tokenizer
from unrolled.tasks.lm.batching import batchify, segments
from unrolled.tasks.lm.corpus import Corpus, load_corpus, shakespeare, split_text
from unrolled.tasks.lm.network import RecurrentLM
from unrolled.tasks.lm.tokenizers import TOKENIZERS, tokenizer_from_dict

CONTEXT = "\n"  # what every scored or sampled text follows: the start of a line
INSIDE_TEXT = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
               "The slings and arrows of outrageous fortune,\n")  # what unrolled explain reads by default
EVAL_CHUNK = 256  # steps per forward when scoring: bounds what one forward holds (token_logprobs: (T, B, V) logits)


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


def _float_dtype(v):
    """float32 or float64 (a NumPy type, dtype or its name)."""
    try:
        ok = np.dtype(v) in (np.float32, np.float64)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError("use np.float32 (default) or np.float64")


class LanguageModel(TaskEstimator):
    """A character- or word-level recurrent language model (scikit-learn conventions through
    ``unrolled.tasks.base.TaskEstimator``: hyperparameters declared once in ``hyperparams``,
    ``fit`` returns ``self``, learned state ends in ``_``).

    ``LanguageModel(level="char", cell="lstm").fit(text)`` -- ``text`` a string or a
    ``pathlib.Path`` to a UTF-8 file (split 90/5/5 by position), a ``Corpus``
    (``unrolled.tasks.lm.corpus``), or None for the bundled Shakespeare, split by work. Then
    ``sample``, ``score``, ``token_logprobs``, ``perplexity``, ``evaluate``, ``rank``, ``save`` /
    ``load``. Every scored or sampled text follows a line break (``CONTEXT``), as the n-gram
    baseline's does.
    """

    task = "lm"
    noun = "language model"
    network_attr = "net_"
    positional = ("level", "cell")
    _dropout_outside_stack = True  # on the embeddings and before the decoder too
    hyperparams = {
        "level": Hyper("char", "tokens: characters, words, or a pre-tokenized text's spaced tokens with <eos> at "
                               "each line end (the Penn Treebank's)", choices=tuple(TOKENIZERS)),
        **network_hyperparams("lstm", 256, 2, 0.2,
                              why_hidden=": Karpathy's char-rnn scale that still trains on 2 cores",
                              why_dropout=" on embeddings, between layers and before the output layer "
                                          "(Zaremba et al.)"),
        "embedding_dim": Hyper(64, "embedding size E: a char vocabulary is ~70 symbols, a small one suffices",
                               whole()),
        "seq_len": Hyper(100, "T: time steps of BPTT per segment (char-rnn's 100)", whole()),
        **training_hyperparams(epochs=10, batch_size=32, lr=2e-3, clip_norm=5.0, patience=3,
                               why_epochs=" (with max_steps: as many as those steps need)",
                               why_batch=": B parallel streams of the training text",
                               why_lr=": Adam's rate for char models of this size",
                               why_clip=" (Zaremba et al.'s 5)",
                               why_patience=" (an epoch is eval_every steps when set)"),
        "min_freq": Hyper(None, "rarer training tokens become <unk> (None: 1 for chars, 3 for words, "
                                "V = 13,083 on Shakespeare; 1 for spaced)", whole(none="for the level's default")),
        "init_range": Hyper(None, "draw every parameter from U(-a, a), as Zaremba et al. (0.1 small, 0.05 medium); "
                                  "None: each layer's own initialisation (PyTorch's)",
                            positive(none="for each layer's own initialisation", example=0.1), type=float),
        "tie_weights": Hyper(False, "the output layer's weight is the embedding matrix (Press & Wolf 2017); needs "
                                    "embedding_dim == hidden_size", flag_value()),
        "lr_decay_after": Hyper(0, "epochs at the initial learning rate before lr_decay acts after each further "
                                   "epoch (Zaremba et al.: 4 small, 6 medium; an epoch is eval_every steps when set)",
                                whole(0)),
        "eval_batch_size": Hyper(16, "streams when evaluating a split (1 = one exact sequential pass)", whole()),
        "dtype": Hyper(np.float32, "float32 trains twice as fast as float64 at the same perplexity", _float_dtype,
                       flag=None),
    }
    learned = ("vocab_size_", "history_", "steps_", "best_epoch_", "stopped_early_", "out_of_time_",
               "train_tokens_per_second_")

    def _check_together(self) -> None:
        super()._check_together()
        if self.tie_weights and self.embedding_dim != self.hidden_size:
            raise ValueError(f"LanguageModel: tie_weights=True needs embedding_dim == hidden_size, got "
                             f"{self.embedding_dim} and {self.hidden_size}; set --embedding-dim {self.hidden_size}")

    def __repr__(self) -> str:
        size = "unfitted" if getattr(self, "net_", None) is None else f"V={self.vocab_size_}"
        return f"{super().__repr__()[:-1]}{', ' if super().__repr__()[-2] != '(' else ''}{size})"

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
    def fit(self, data=None, *, resume=False, log=None, hooks=()) -> "LanguageModel":
        """Train on ``data`` (see the class docstring) with stateful truncated BPTT; validation
        loss, perplexity and bits per character after every epoch. ``resume=True`` continues the
        run saved in ``checkpoint_dir`` (its parameters checked first: ``check_resume``). ``hooks``
        go to the engine (``unrolled.train.hooks``: probes, a twin model stepped beside this one).
        Returns self."""
        if resume:
            self.check_resume()
        self.check_params()
        corpus = self._as_corpus(data)
        tok = make_tokenizer(self.level, self.min_freq).fit(corpus.train)
        train_ids = tok.encode(corpus.train)
        if len(train_ids) // self.batch_size < 2:
            raise ValueError(f"the training text has {len(train_ids)} tokens: too few for batch_size="
                             f"{self.batch_size} streams of at least 2; use a smaller batch_size or more text")
        segs = list(segments(batchify(train_ids, self.batch_size), self.seq_len))  # [(x, y) (T, B)]
        n = len(segs)
        self.tokenizer_, self.vocab_size_ = tok, tok.vocab_size
        self.net_ = self._build_network()
        val_ids, val_chars = tok.encode(corpus.validation), len(corpus.validation)
        carried = {"state": None}  # the final hidden state of the last segment trained on
        timing = {"validate": 0.0, "tokens": 0}

        world = current_world()
        if world.size > self.batch_size:
            raise ValueError(f"{world.size} processes share batch_size={self.batch_size} streams: give every "
                             f"process one at least (batch_size >= {world.size}) or run fewer processes")
        # with K processes each takes its slice of the B streams and carries its own state
        streams = np.array_split(np.arange(self.batch_size), world.size)[world.rank]

        def step(k):
            x, y = segs[k]
            if world.size > 1:
                x, y = x[:, streams], y[:, streams]
                trainer.share = world.size * len(streams) / self.batch_size  # AverageGradients weighs by it
            if k == 0:
                carried["state"] = None  # the streams start afresh: zero state
            # the decoder fused with the loss: the (T, B, V) logits are never formed
            loss, state = self.net_.forward_loss(x, y, carried["state"])
            carried["state"] = state  # a value only: the next segment starts from it, no gradient returns
            self.net_.backward_loss()
            timing["tokens"] += y.size
            return loss

        def validate():
            t0 = time.perf_counter()
            result = self._evaluate_ids(val_ids, val_chars, world)  # each process its share of the streams
            timing["validate"] += time.perf_counter() - t0
            return result

        # The streams stay in order; with eval_every an epoch may end mid-pass and the next continue there.
        config = self.train_config(shuffle=False, eval_every=self.eval_every or n, decay_after=self.lr_decay_after,
                                   tokens_per_step=self.seq_len * self.batch_size)
        trainer = self.make_trainer(
            self.net_, config, data={"train_characters": len(corpus.train)}, log=log, hooks=hooks,
            extra_state=lambda: {"state": _state_to_json(carried["state"])},
            load_extra_state=lambda s: carried.update(state=_state_from_json(s["state"], self.dtype)))
        t0 = time.perf_counter()
        self.history_ = trainer.fit(lambda _rng: range(n), step, validate, resume=resume)
        seconds = time.perf_counter() - t0 - timing["validate"]
        self.steps_ = trainer.steps
        self.best_epoch_ = trainer.best_epoch
        self.stopped_early_ = trainer.stopped_early
        self.out_of_time_ = trainer.out_of_time
        self.train_tokens_per_second_ = timing["tokens"] / seconds if timing["tokens"] else None
        self.net_.eval()
        return self

    # -- evaluation ---------------------------------------------------------------------------------
    def _evaluate_ids(self, ids, n_chars, world=None) -> dict:
        """Mean loss (nats per token), perplexity, bits per token and per character of a split, read
        as ``eval_batch_size`` streams (each stream's first token is given, not scored). With a
        ``world`` of K processes each reads its share of the streams and the sums are reduced."""
        if len(ids) < 2:
            raise ValueError(f"{len(ids)} token(s) are too few to evaluate; give at least 2")
        B = max(1, min(self.eval_batch_size, len(ids) // 2))
        streams = slice(None) if world is None or world.size == 1 else shard_rows(world, B)
        self.net_.eval()
        state, nats, count = None, 0.0, 0
        for x, y in segments(batchify(np.asarray(ids), B), EVAL_CHUNK):
            x, y = x[:, streams], y[:, streams]  # (T, B_r)
            if y.size == 0:
                break  # more processes than streams: this one has none
            _, state = self.net_.forward_loss(x, y, state)  # fused: no (T, B_r, V) logits
            nats += float(self.net_.output.nll.sum())  # (T B_r,) float64 nats of each token
            count += y.size
        if world is not None and world.size > 1:
            nats, count = sum_over(world, [nats, count])
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

    @classmethod
    def contract_example(cls):
        verse = ("Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n"
                 "Rough winds do shake the darling buds of May,\nAnd summer's lease hath all too short a date;\n") * 4
        return dict(embedding_dim=4, hidden_size=8, num_layers=1, dropout=0.0, seq_len=8, batch_size=4,
                    max_steps=6, eval_every=3, progress=False), verse

    def contract_predictions(self, text):
        return self.token_logprobs(text[:60])

    # -- inspection (unrolled explain / gradflow) -----------------------------------------------------
    def describe(self) -> str:
        return super().describe().replace(self.noun, f"{self.level}-level {self.noun}")

    def inside_span(self, labels) -> str:
        return f"{len(labels)} tokens of text after a line break"

    def inside_input(self, *, csv=None, text=None, start=None, end=None, rows=None):
        """The recurrent layer's input for ``text`` after a line break (as the model scores every
        text), through the model's own tokenizer and embedding; ``rows`` tokens (the text repeated
        if shorter). Returns ``(x (T, 1, E), labels (T,) tokens, surprisal (T,) in bits, "bits")``."""
        self._check_fitted()
        if csv is not None or start is not None or end is not None:
            raise ValueError("a language model reads --text, not --csv / --start / --end")
        text = INSIDE_TEXT if text is None else text
        if not isinstance(text, str) or not text.strip():
            raise ValueError("--text must be some non-empty text, e.g. --text \"To be, or not to be\"")
        tok = self.tokenizer_
        ids = np.concatenate([tok.encode(CONTEXT), tok.encode(text)])  # (T,)
        if rows is not None:
            ids = np.resize(ids, rows)  # repeated if shorter
        x = self.net_.encoder.params["weight"][ids][:, None, :]  # (T, 1, E): the embedding, as the model's forward
        self.net_.eval()
        logits, _ = self.net_.forward(ids[:, None])  # (T, 1, V)
        logp = log_softmax(logits[:, 0].astype(np.float64))  # (T, V)
        surprisal = np.full(len(ids), np.nan)
        surprisal[1:] = -logp[np.arange(len(ids) - 1), ids[1:]] / np.log(2)  # bits for token t, given those before
        labels = np.array([{"\n": "\\n", " ": "\u2423"}.get(s, s) for s in (tok.vocab_[i] for i in ids)])
        return x, labels, surprisal, "bits"

    # -- persistence (the base class saves parameters, learned state and the network) ---------------
    def _build_network(self):
        return RecurrentLM(self.cell, self.tokenizer_.vocab_size, self.embedding_dim, self.hidden_size,
                           self.num_layers, self.dropout, init_range=self.init_range, tie_weights=self.tie_weights,
                           dtype=self.dtype, seed=self.seed)

    def _save_extra(self):
        return {}, {"tokenizer": self.tokenizer_.to_dict()}

    def _load_extra(self, arrays, meta):
        self.tokenizer_ = tokenizer_from_dict(meta["tokenizer"])
