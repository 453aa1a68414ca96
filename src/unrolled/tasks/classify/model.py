"""Texts in: ``SequenceClassifier`` (labels) and ``SequenceRegressor`` (a number per text), with
scikit-learn's conventions::

    clf = SequenceClassifier(cell="lstm", bidirectional=True).fit(texts, labels)   # strings or ints
    clf.predict(texts); clf.predict_proba(texts); clf.score(texts, labels)          # accuracy
    clf.save("model/");  unrolled.load("model/")
    SequenceRegressor().fit(texts, ratings).score(texts, ratings)                  # R^2

Texts are tokenized (words by default, lower-cased), cut to ``max_length`` tokens and read in
padded batches with their true lengths. The vocabulary comes from the training texts only -- or,
with ``init_from``, from the language model whose embedding and recurrent weights start the
training (seed 004 sec. 4.2; Dai & Le 2015): ``transfer.py``.
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.activations import softmax
from unrolled.tasks.classify import transfer
from unrolled.tasks.classify.sequences import (SequenceEstimator, class_hyperparams, engine_hyperparams,
                                              shared_hyperparams)
from unrolled.tasks.lm.baseline import make_tokenizer
from unrolled.tasks.lm.tokenizers import tokenizer_from_dict
from unrolled.train.hyperparams import Hyper, flag_value, text, whole

TEXT_HYPERPARAMS = {
    "embedding_dim": Hyper(64, "embedding size E", whole()),
    "level": Hyper("word", "tokens: words or characters", choices=("word", "char")),
    "lowercase": Hyper(True, "lower-case the texts first (fewer, better-counted words)", flag_value()),
    "min_freq": Hyper(2, "rarer training tokens become <unk>", whole()),
    "max_length": Hyper(100, "tokens read per text (the rest is cut): sentences and tweets fit", whole()),
    "init_from": Hyper(None, "a language model's run directory (unrolled lm train --out): its tokenizer, "
                             "embedding and recurrent weights start the training", text(none="to start at random")),
}


class _TextSequences(SequenceEstimator):
    """The text side: tokenizer -> ids -> (T, B) padded batches."""

    learned = SequenceEstimator.learned + ("transferred_",)  # the weights init_from gave, by name

    def _texts(self, texts) -> list[str]:
        if isinstance(texts, str) or not hasattr(texts, "__len__"):
            raise ValueError("texts must be a list of strings (one per example), e.g. ['great film', 'dull']")
        return [t.lower() if self.lowercase else t for t in map(str, texts)]

    def fit(self, texts, labels, *, validation=None, resume=False, log=None):
        """Train on ``texts`` (strings) and ``labels``; returns self. ``validation``: ``(texts,
        labels)`` for early stopping, else a (stratified) ``validation_fraction`` of the
        examples is held out. ``resume=True`` continues the run in ``checkpoint_dir``."""
        if resume and self.init_from is not None and "init_from" not in self._given:
            raise ValueError("this run started from a language model: give its directory again to resume "
                             "(--init-from DIR): a path is never read from a run directory")
        texts = self._texts(texts)
        if validation is not None:
            validation = (self._texts(validation[0]), validation[1])
        return self._fit(texts, labels, validation, resume, log)

    def _fit_inputs(self, texts, train_rows) -> None:
        if self.init_from is not None:
            self.tokenizer_ = transfer.language_model(self).tokenizer_
            return
        self.transferred_ = None
        self.tokenizer_ = make_tokenizer(self.level, self.min_freq).fit("\n".join(texts[i] for i in train_rows))

    def _initial_weights(self, net) -> None:
        if self.init_from is not None:
            self.transferred_ = transfer.copy_weights(transfer.language_model(self), net)

    def _encode(self, texts) -> list[np.ndarray]:
        """Token ids of each text, at most ``max_length``, at least one (``<unk>`` for an empty text)."""
        ids = [self.tokenizer_.encode(t)[: self.max_length] for t in self._texts(texts)]
        return [i if len(i) else np.zeros(1, dtype=np.int64) for i in ids]

    def _batch(self, seqs):
        """A padded (T, B) batch of ids and the lengths (B,)."""
        lengths = np.array([len(s) for s in seqs])
        ids = np.zeros((lengths.max(), len(seqs)), dtype=np.int64)  # (T, B); padding never read
        for b, s in enumerate(seqs):
            ids[: len(s), b] = s
        return ids, lengths

    def _input_size(self):
        return self.tokenizer_.vocab_size, self.embedding_dim

    def tokens(self, text: str) -> list[str]:
        """The tokens the model reads of ``text`` (after lower-casing and cutting)."""
        return [self.tokenizer_.vocab_[i] for i in self._encode([text])[0]]

    # -- persistence -------------------------------------------------------------------------------
    def _save_extra(self):
        return {}, {"tokenizer": self.tokenizer_.to_dict()}

    def _load_extra(self, arrays, meta):
        self.tokenizer_ = tokenizer_from_dict(meta["tokenizer"])

    # -- inspection --------------------------------------------------------------------------------
    def inside_input(self, *, csv=None, text=None, start=None, end=None, rows=None):
        """The recurrent layer's input for ``text`` through the model's tokenizer and embedding,
        with (a classifier) the probability of the predicted class after each prefix, or (a
        regressor) the predicted value after each prefix, as the line above the heatmaps."""
        self._check_fitted()
        if csv is not None or start is not None or end is not None:
            raise ValueError("a text model reads --text, not --csv / --start / --end")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("--text must be some non-empty text, e.g. --text \"a gripping, funny film\"")
        ids = self._encode([text])[0]
        if rows is not None:
            ids = np.resize(ids, rows)
        x = self.net_.embed(ids[:, None])  # (T, 1, E)
        labels = np.array([self.tokenizer_.vocab_[i] for i in ids])
        prefixes = [ids[: k + 1] for k in range(len(ids))]
        if self.target == "value":
            out = self._outputs(prefixes)[:, 0] * self.target_scale_ + self.target_mean_
            return x, labels, out, "predicted value"
        p = softmax(self._outputs(prefixes))  # (T, C)
        winner = int(p[-1].argmax())
        return x, labels, p[:, winner], f"P({self.classes_[winner]})"

    def inside_span(self, labels) -> str:
        return f"{len(labels)} tokens"

    @classmethod
    def _contract_frame(cls):
        from unrolled.tasks.classify.corpora import movie_snippets

        return movie_snippets().sample(240, random_state=0)  # the file runs by source order, not at random

    def fit_example(self, data):
        return self.fit(*data)


class SequenceClassifier(_TextSequences):
    """Embedding -> ``cell`` stack over each text's true length (bidirectional by default) ->
    pooling -> dropout -> Linear -> softmax cross-entropy."""

    task = "classify"
    noun = "classifier"
    target = "class"
    hyperparams = {**shared_hyperparams(), **TEXT_HYPERPARAMS, **class_hyperparams(),
                   **engine_hyperparams(why_batch=": sentences per step")}

    @classmethod
    def contract_example(cls):
        frame = cls._contract_frame()
        return (dict(hidden_size=6, embedding_dim=5, epochs=2, batch_size=32, max_length=20, progress=False),
                (frame["text"].tolist(), frame["label"].tolist()))

    def contract_predictions(self, data):
        return self.predict_proba(data[0][:30])


class SequenceRegressor(_TextSequences):
    """The same network with one output: a number per text (the movie snippets' mean rating),
    squared error on the standardised target."""

    task = "regress"
    noun = "regressor"
    target = "value"
    hyperparams = {**shared_hyperparams(), **TEXT_HYPERPARAMS, **engine_hyperparams(why_batch=": sentences per step")}

    @classmethod
    def contract_example(cls):
        frame = cls._contract_frame()
        return (dict(hidden_size=6, embedding_dim=5, epochs=2, batch_size=32, max_length=20, progress=False),
                (frame["text"].tolist(), frame["rating"].tolist()))

    def contract_predictions(self, data):
        return self.predict(data[0][:30])
