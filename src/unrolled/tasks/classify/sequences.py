"""What every sequence-level estimator here shares: one recurrent network
(``ClassifierNetwork``) read over each example's true length, pooled, and a Linear head; trained on
the shared engine with a held-out validation part for early stopping.

Two sides vary, and a subclass picks one of each:

* the input: texts (``model.py``: a tokenizer and an embedding) or numeric arrays (``arrays.py``:
  each example a (T_i, D) array);
* the target (``target``): ``"class"``, softmax cross-entropy over ``classes_``, ``predict_proba``,
  ``score`` = accuracy; or ``"value"``, one number per example with squared error on the
  standardised target (``(y - target_mean_) / target_scale_``), ``score`` = R^2 as in
  scikit-learn's regressors.

A subclass gives ``_fit_inputs(X, train_rows)`` (what it learns from the training inputs),
``_encode(X)`` (one array per example) and ``_batch(seqs)`` (a padded (T, B, ...) batch and the
lengths).
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.activations import softmax
from unrolled.nn.losses import CrossEntropyLoss, MSELoss
from unrolled.tasks.base import TaskEstimator, network_hyperparams, training_hyperparams
from unrolled.tasks.classify import scores
from unrolled.tasks.classify.network import POOLINGS, ClassifierNetwork
from unrolled.train import index_batches
from unrolled.train.world import shard_rows, sum_over
from unrolled.train.hyperparams import Hyper, flag_value, fraction

EVAL_BATCH = 256  # examples per forward when predicting: memory grows with this, not the data


def shared_hyperparams() -> dict[str, Hyper]:
    """The network's and the engine's hyperparameters; a subclass adds its input's between them."""
    return {
        **network_hyperparams("lstm", 64, 1, 0.3, why_dropout=" on the inputs, between layers and before "
                                                            "the output layer"),
        "bidirectional": Hyper(True, "read each sequence both ways (seed 001's Bi-LSTM)", flag_value()),
        "pooling": Hyper("last", "how the outputs become one vector: each direction's state at the sequence's "
                                 "own end, or the mean or max over its steps", choices=POOLINGS),
    }


def engine_hyperparams(*, why_batch=": examples per step") -> dict[str, Hyper]:
    """How the engine trains, and the validation part it stops on."""
    return {
        **training_hyperparams(epochs=10, batch_size=32, lr=2e-3, clip_norm=5.0, patience=3, why_batch=why_batch,
                               why_lr=": Adam's rate for a model this size"),
        "validation_fraction": Hyper(0.1, "share of the examples (of each class) held out for early stopping",
                                     fraction(0, 0.5, closed_low=False, example=0.1)),
    }


def class_hyperparams() -> dict[str, Hyper]:
    """What only a classifier has."""
    return {"select_by": Hyper("accuracy", "the validation number that picks the best epoch and stops early: "
                                           "accuracy, or the cross-entropy loss (it can rise while accuracy still "
                                           "climbs, as the model grows confident)",
                               choices=("accuracy", "loss")),
            "class_weight": Hyper("none", "weigh each class's term of the loss: none (all 1) or balanced "
                                          "(n / (classes * n_c), as scikit-learn's), for skewed labels",
                                  choices=("none", "balanced"))}


class SequenceEstimator(TaskEstimator):
    """See the module docstring."""

    network_attr = "net_"
    _dropout_outside_stack = True  # on the inputs and before the output layer too
    target = "class"  # or "value"
    learned = ("classes_", "target_mean_", "target_scale_", "history_", "best_epoch_", "stopped_early_")

    # -- the input side (a subclass) ---------------------------------------------------------------
    def _fit_inputs(self, X, train_rows) -> None:
        """Learn what the input side needs from the training examples (a vocabulary, a width)."""

    def _encode(self, X) -> list[np.ndarray]:
        raise NotImplementedError

    def _batch(self, seqs):
        raise NotImplementedError

    def _input_size(self) -> tuple[int | None, int]:
        """(vocabulary size or None for numeric input, input width E or D)."""
        raise NotImplementedError

    def _initial_weights(self, net) -> None:
        """Start ``net`` from weights learned elsewhere (a language model); default: random."""

    # -- the target side -------------------------------------------------------------------------
    def _fit_targets(self, y, train_rows) -> np.ndarray:
        """What the loss reads: class indices (N,), or standardised values (N, 1)."""
        if self.target == "class":
            classes, index = np.unique(y, return_inverse=True)
            if len(classes) < 2:
                raise ValueError(f"the labels hold one class ({classes[0]!r}); a classifier needs two or more")
            self.classes_ = classes.tolist()
            self.target_mean_ = self.target_scale_ = None
            return index
        values = np.asarray(y, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("the targets hold NaN or infinite values; drop or fill those examples")
        self.classes_ = None
        self.target_mean_ = float(values[train_rows].mean())
        self.target_scale_ = float(values[train_rows].std()) or 1.0
        return ((values - self.target_mean_) / self.target_scale_)[:, None]

    def _labels(self, labels) -> np.ndarray:
        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise ValueError("labels must be one label (or value) per example")
        return labels

    def _holdout(self, y, n):
        from unrolled.tasks.classify.corpora import stratified_holdout

        if self.target == "class":
            return stratified_holdout(np.unique(y, return_inverse=True)[1], self.validation_fraction, self.seed)
        rows = np.random.default_rng(self.seed).permutation(n)
        held = max(1, round(self.validation_fraction * n))
        if held >= n:
            raise ValueError(f"{n} example(s) leave none to train on after holding out validation; give more")
        return np.sort(rows[held:]), np.sort(rows[:held])

    # -- training --------------------------------------------------------------------------------
    def _fit(self, X, y, validation, resume, log):
        """``fit`` for both input kinds: X already a list (or array) of examples."""
        if resume:
            self.check_resume()
        self.check_params()
        y = self._labels(y)
        if len(X) != len(y):
            raise ValueError(f"{len(X)} examples but {len(y)} labels; give one label per example")
        n_fit = len(X)
        if validation is not None:
            X = list(X) + list(validation[0])
            y = np.concatenate([y, self._labels(validation[1])])
            train, val = np.arange(n_fit), np.arange(n_fit, len(X))
        else:
            train, val = self._holdout(y, n_fit)
        target = self._fit_targets(y, train)
        self._fit_inputs(X, train)
        seqs = self._encode(X)
        self.net_ = self._build_network()
        self._initial_weights(self.net_)
        weights = self._class_weights(target[train]) if self.target == "class" else None
        loss_fn = CrossEntropyLoss(weight=weights) if self.target == "class" else MSELoss()
        val_seqs = [seqs[i] for i in val]

        def step(idx):
            if weights is not None and trainer.world.size > 1:  # a weighted mean: shards weigh by their weight
                trainer.share = (trainer.world.size * weights[target[train[idx]]].sum()
                                 / weights[target[train[trainer.batch]]].sum())
            inp, lengths = self._batch([seqs[train[i]] for i in idx])
            out = self.net_.forward(inp, lengths)  # (B, C) or (B, 1)
            value = loss_fn.forward(out, target[train[idx]])
            self.net_.backward(loss_fn.backward())
            return value

        def validate():  # each process scores its shard of the validation rows; the sums are reduced
            rows = shard_rows(trainer.world, len(val))
            out, y = (self._outputs([val_seqs[i] for i in rows]), target[val][rows]) if len(rows) else (None, None)
            if self.target == "class":
                if out is None:
                    nll = hits = 0.0
                else:
                    p = softmax(out)
                    nll = float(-np.sum(np.log(p[np.arange(len(rows)), y] + 1e-12)))
                    hits = float(np.sum(p.argmax(axis=1) == y))
                nll, hits = sum_over(trainer.world, [nll, hits])
                return {"loss": nll / len(val), "accuracy": hits / len(val)}
            squares = 0.0 if out is None else float(np.sum((out - y) ** 2))
            mse = sum_over(trainer.world, [squares])[0] / len(val)
            return {"loss": mse, "rmse": float(np.sqrt(mse) * self.target_scale_)}  # in the target's unit

        data = {"examples": len(X), "classes": self.classes_}
        by_accuracy = getattr(self, "select_by", "loss") == "accuracy"
        config = self.train_config(**({"monitor": "val_accuracy", "maximize": True} if by_accuracy else {}))
        trainer = self.make_trainer(self.net_, config, data=data, log=log)
        self.history_ = trainer.fit(index_batches(len(train), self.batch_size), step, validate, resume=resume)
        self.best_epoch_, self.stopped_early_ = trainer.best_epoch, trainer.stopped_early
        return self

    def _class_weights(self, y_train):
        """None, or 'balanced': w_c = n / (C * n_c) over the training rows (a class absent there: 0)."""
        if getattr(self, "class_weight", "none") == "none":
            return None
        counts = np.bincount(y_train, minlength=len(self.classes_)).astype(np.float64)
        return np.where(counts > 0, len(y_train) / (len(self.classes_) * np.maximum(counts, 1)), 0.0)

    # -- prediction ------------------------------------------------------------------------------
    def _outputs(self, seqs) -> np.ndarray:
        """The head's outputs (N, C) or (N, 1), float64, in eval mode."""
        self.net_.eval()
        out = []
        for k in range(0, len(seqs), EVAL_BATCH):
            inp, lengths = self._batch(seqs[k:k + EVAL_BATCH])
            out.append(self.net_.forward(inp, lengths).astype(np.float64))
        return np.concatenate(out)

    def _need_classifier(self):
        self._check_fitted()
        if self.target != "class":
            raise ValueError(f"predict_proba needs a classifier; {type(self).__name__} predicts values")

    def predict_proba(self, X) -> np.ndarray:
        """(N, C) class probabilities, columns in ``classes_`` order."""
        self._need_classifier()
        return softmax(self._outputs(self._encode(X)))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each example, or its predicted value."""
        self._check_fitted()
        if self.target == "class":
            return np.asarray(self.classes_)[self.predict_proba(X).argmax(axis=1)]
        return self._outputs(self._encode(X))[:, 0] * self.target_scale_ + self.target_mean_

    def score(self, X, y) -> float:
        """Accuracy (a classifier) or R^2 = 1 - SS_res / SS_tot (a regressor), as scikit-learn's."""
        y = self._labels(y)
        pred = self.predict(X)
        if self.target == "class":
            return float(np.mean(pred == y))
        return scores.r2(y, pred)

    def contributions(self, X, target=None) -> list[np.ndarray]:
        """Per example, each step's gradient x input towards ``target`` (class indices; default the
        predicted class): ``ClassifierNetwork.contributions``, one (T_i,) array per example."""
        self._need_classifier()
        seqs = self._encode(X)
        if target is None:
            target = self._outputs(seqs).argmax(axis=1)
        out = []
        for k in range(len(seqs)):
            inp, lengths = self._batch([seqs[k]])
            out.append(self.net_.contributions(inp, lengths, np.asarray([target[k]]))[:, 0])
        return out

    def prefix_proba(self, X) -> list[np.ndarray]:
        """Per example, the class probabilities after each prefix of it, read forward: (T_i, C)."""
        self._need_classifier()
        return [softmax(self._outputs([s[: k + 1] for k in range(len(s))])) for s in self._encode(X)]

    # -- the network -----------------------------------------------------------------------------
    def _build_network(self):
        vocab, width = self._input_size()
        outputs = len(self.classes_) if self.target == "class" else 1
        return ClassifierNetwork(self.cell, vocab, width, self.hidden_size, outputs, self.num_layers, self.dropout,
                                 self.bidirectional, self.pooling, seed=self.seed)

    def describe(self) -> str:
        what = f"of {len(self.classes_)} classes" if self.target == "class" else "of one value"
        return f"{super().describe()} {what}"
