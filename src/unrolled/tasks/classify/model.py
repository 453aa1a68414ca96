"""``Classifier``: a recurrent sequence classifier on the task base (scikit-learn conventions)::

    clf = Classifier(cell="lstm", bidirectional=True).fit(texts, labels)   # labels: strings or ints
    clf.predict(texts); clf.predict_proba(texts); clf.score(texts, labels)  # accuracy
    clf.save("model/");  unrolled.load("model/")

``fit`` holds out a stratified, seeded ``validation_fraction`` of the examples for early stopping;
the vocabulary comes from the training texts only. Texts are tokenized (words by default,
lower-cased), cut to ``max_length`` tokens, and read in padded batches with their true lengths.
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.activations import softmax
from unrolled.nn.losses import CrossEntropyLoss
from unrolled.tasks.base import TaskEstimator, network_hyperparams, training_hyperparams
from unrolled.tasks.classify.network import POOLINGS, SequenceClassifier
from unrolled.tasks.lm.baseline import make_tokenizer
from unrolled.tasks.lm.tokenizers import tokenizer_from_dict
from unrolled.train import index_batches
from unrolled.train.hyperparams import Hyper, flag_value, fraction, whole

EVAL_BATCH = 256  # sentences per forward when predicting: memory grows with this, not the data


class Classifier(TaskEstimator):
    """Embedding -> ``cell`` stack over each text's true length (bidirectional by default) ->
    pooling -> dropout -> Linear -> softmax cross-entropy."""

    task = "classify"
    noun = "classifier"
    network_attr = "net_"
    _dropout_outside_stack = True  # on the embeddings and before the output layer too
    hyperparams = {
        **network_hyperparams("lstm", 64, 1, 0.3, why_dropout=" on embeddings, between layers and before "
                                                            "the output layer"),
        "bidirectional": Hyper(True, "read each text both ways (seed 001's Bi-LSTM)", flag_value()),
        "pooling": Hyper("last", "how the outputs become one vector: each direction's state at the text's "
                                 "own end, or the mean or max over its steps", choices=POOLINGS),
        "embedding_dim": Hyper(64, "embedding size E", whole()),
        "level": Hyper("word", "tokens: words or characters", choices=("word", "char")),
        "lowercase": Hyper(True, "lower-case the texts first (fewer, better-counted words)", flag_value()),
        "min_freq": Hyper(2, "rarer training tokens become <unk>", whole()),
        "max_length": Hyper(100, "tokens read per text (the rest is cut): sentences and tweets fit", whole()),
        **training_hyperparams(epochs=10, batch_size=32, lr=2e-3, clip_norm=5.0, patience=3,
                               why_batch=": sentences per step",
                               why_lr=": Adam's rate for a model this size"),
        "validation_fraction": Hyper(0.1, "share of each class held out for early stopping",
                                     fraction(0, 0.5, closed_low=False, example=0.1)),
    }
    learned = ("classes_", "history_", "best_epoch_", "stopped_early_")

    # -- data -> arrays -----------------------------------------------------------------------------
    def _texts(self, texts) -> list[str]:
        if isinstance(texts, str) or not hasattr(texts, "__len__"):
            raise ValueError("texts must be a list of strings (one per example), e.g. ['great film', 'dull']")
        out = [t.lower() if self.lowercase else t for t in map(str, texts)]
        return out

    def _encode(self, texts) -> list[np.ndarray]:
        """Token ids of each text, at most ``max_length``, at least one (``<unk>`` for an empty text)."""
        ids = [self.tokenizer_.encode(t)[: self.max_length] for t in self._texts(texts)]
        return [i if len(i) else np.zeros(1, dtype=np.int64) for i in ids]

    @staticmethod
    def _batch(seqs):
        """A padded (T, B) batch of ids and the lengths (B,)."""
        lengths = np.array([len(s) for s in seqs])
        ids = np.zeros((lengths.max(), len(seqs)), dtype=np.int64)  # (T, B); padding never read
        for b, s in enumerate(seqs):
            ids[: len(s), b] = s
        return ids, lengths

    def _labels(self, labels) -> np.ndarray:
        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise ValueError("labels must be one label per text")
        return labels

    # -- training -----------------------------------------------------------------------------------
    def fit(self, texts, labels, *, validation=None, resume=False, log=None) -> "Classifier":
        """Train on ``texts`` (strings) and ``labels`` (two or more classes); returns self.
        ``validation``: ``(texts, labels)`` for early stopping, else a stratified
        ``validation_fraction`` of the training examples is held out."""
        from unrolled.tasks.classify.corpora import stratified_holdout

        self.check_params()
        texts, labels = self._texts(texts), self._labels(labels)
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels; give one label per text")
        n_fit = len(texts)
        if validation is not None:
            texts = texts + self._texts(validation[0])
            labels = np.concatenate([labels, self._labels(validation[1])])
        classes, y = np.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"the labels hold one class ({classes[0]!r}); a classifier needs two or more")
        if validation is None:
            train, val = stratified_holdout(y, self.validation_fraction, self.seed)
        else:
            train, val = np.arange(n_fit), np.arange(n_fit, len(texts))
        self.classes_ = classes.tolist()
        self.tokenizer_ = make_tokenizer(self.level, self.min_freq).fit("\n".join(texts[i] for i in train))
        seqs = self._encode(texts)
        self.net_ = self._build_network()
        loss_fn = CrossEntropyLoss()
        val_ids = [seqs[i] for i in val]

        def step(idx):
            ids, lengths = self._batch([seqs[train[i]] for i in idx])
            logits = self.net_.forward(ids, lengths)  # (B, C)
            value = loss_fn.forward(logits, y[train[idx]])
            self.net_.backward(loss_fn.backward())
            return value

        def validate():
            p = self._proba(val_ids)
            return {"loss": float(-np.mean(np.log(p[np.arange(len(val)), y[val]] + 1e-12))),
                    "accuracy": float(np.mean(p.argmax(axis=1) == y[val]))}

        trainer = self.make_trainer(self.net_, data={"examples": len(texts), "classes": self.classes_}, log=log)
        self.history_ = trainer.fit(index_batches(len(train), self.batch_size), step, validate, resume=resume)
        self.best_epoch_, self.stopped_early_ = trainer.best_epoch, trainer.stopped_early
        return self

    # -- prediction ---------------------------------------------------------------------------------
    def _proba(self, seqs) -> np.ndarray:
        self.net_.eval()
        out = []
        for k in range(0, len(seqs), EVAL_BATCH):
            ids, lengths = self._batch(seqs[k:k + EVAL_BATCH])
            out.append(softmax(self.net_.forward(ids, lengths).astype(np.float64)))
        return np.concatenate(out)  # (N, C)

    def predict_proba(self, texts) -> np.ndarray:
        """(N, C) class probabilities, columns in ``classes_`` order."""
        self._check_fitted()
        return self._proba(self._encode(texts))

    def predict(self, texts) -> np.ndarray:
        """The most probable class of each text."""
        return np.asarray(self.classes_)[self.predict_proba(texts).argmax(axis=1)]

    def score(self, texts, labels) -> float:
        """Accuracy on ``texts`` / ``labels``."""
        return float(np.mean(self.predict(texts) == self._labels(labels)))

    # -- persistence (the base class saves parameters, learned state and the network) ---------------
    def _build_network(self):
        return SequenceClassifier(self.cell, self.tokenizer_.vocab_size, self.embedding_dim, self.hidden_size,
                                  len(self.classes_), self.num_layers, self.dropout, self.bidirectional,
                                  self.pooling, seed=self.seed)

    def _save_extra(self):
        return {}, {"tokenizer": self.tokenizer_.to_dict()}

    def _load_extra(self, arrays, meta):
        self.tokenizer_ = tokenizer_from_dict(meta["tokenizer"])

    # -- the contract and inspection ----------------------------------------------------------------
    @classmethod
    def contract_example(cls):
        from unrolled.tasks.classify.corpora import movie_snippets

        frame = movie_snippets().sample(240, random_state=0)  # the file runs by source order, not at random
        return (dict(hidden_size=6, embedding_dim=5, epochs=2, batch_size=32, max_length=20, progress=False),
                (frame["text"].tolist(), frame["label"].tolist()))

    def fit_example(self, data):
        return self.fit(*data)

    def contract_predictions(self, data):
        return self.predict_proba(data[0][:30])

    def describe(self) -> str:
        return f"{super().describe()} of {len(self.classes_)} classes"

    def inside_input(self, *, csv=None, text=None, start=None, end=None, rows=None):
        """The recurrent layer's input for ``text`` through the model's tokenizer and embedding, with
        the probability of the predicted class after each prefix as the line above the heatmaps."""
        self._check_fitted()
        if csv is not None or start is not None or end is not None:
            raise ValueError("a classifier reads --text, not --csv / --start / --end")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("--text must be some non-empty text, e.g. --text \"a gripping, funny film\"")
        ids = self._encode([text])[0]
        if rows is not None:
            ids = np.resize(ids, rows)
        x = self.net_.encoder.params["weight"][ids][:, None, :]  # (T, 1, E)
        p = self._proba([ids[: k + 1] for k in range(len(ids))])  # (T, C): after each prefix
        winner = int(p[-1].argmax())
        labels = np.array([self.tokenizer_.vocab_[i] for i in ids])
        return x, labels, p[:, winner], f"P({self.classes_[winner]})"

    def inside_span(self, labels) -> str:
        return f"{len(labels)} tokens"
