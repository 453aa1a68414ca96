"""The sequence classifier's network: a recurrent stack read over each sentence's true length, its
outputs pooled into one vector, a Linear layer to the class logits::

    e      = dropout(encoder[ids])                 ids (T, B) -> (T, B, E); or x (T, B, D) as given
    y, _   = rnn(e, lengths)                       (T, B, E) -> (T, B, dirs*H); 0 past each end
    p      = pool(y)                               (B, dirs*H)
    logits = head(dropout(p))                      (B, C)

Pooling (``pooling``):

* ``last``: each direction's state at the sequence's own end: the forward direction's output at
  ``t = length - 1``, the reverse direction's at ``t = 0`` (where it finished reading);
* ``mean``: the mean of the outputs over the true length;
* ``max``: the largest output of each unit over the true length.

With ``vocab_size=None`` there is no embedding: the input is already numbers, x (T, B, D) with
``embedding_dim = D`` (the array-level estimator, users' own sequences).

``contributions`` explains a decision by gradient x input (Simonyan et al. 2014; Shrikumar et
al. 2017) through the same hand-derived backward: for the class c, with its score
``s_c = z_c - mean_k z_k`` (the logit against the average; for two classes half the log-odds),

    a_t = sum_e  e_t[e] * d s_c / d e_t[e]      one number per step t

(dropout off). Positive ``a_t``: the step's input pushed the decision towards c. The score, not
log p(c), is differentiated: d log p / dz shrinks with 1 - p(c), so a confident model's tokens
would all look unimportant.

Padding changes nothing: the stack freezes a sequence's state past its end and outputs 0 there
(``unrolled.nn.loop``), pooling reads only the true steps, and no gradient reaches a padded step.
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.layers import Dropout, Embedding, Linear
from unrolled.nn.module import Module
from unrolled.nn.recurrent import make_layer

POOLINGS = ("last", "mean", "max")


class ClassifierNetwork(Module):
    """Embedding -> dropout -> ``cell`` stack (bidirectional by default) -> pooling -> dropout ->
    Linear; ids (T, B) with lengths (B,) -> logits (B, C). ``vocab_size=None``: no embedding,
    x (T, B, embedding_dim) in."""

    def __init__(self, cell, vocab_size, embedding_dim, hidden_size, num_classes, num_layers=1, dropout=0.0,
                 bidirectional=True, pooling="last", *, dtype=np.float32, seed=None):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r} is invalid; use 'last', 'mean' or 'max'")
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
        self.pooling = pooling
        self.dtype = np.dtype(dtype)
        self.encoder = None if vocab_size is None else Embedding(vocab_size, embedding_dim, dtype=dtype, seed=rngs[0])
        self.drop_in = Dropout(dropout, seed=rngs[1])
        self.rnn = make_layer(cell, embedding_dim, hidden_size, num_layers=num_layers, dropout=dropout,
                              bidirectional=bidirectional, dtype=dtype, seed=rngs[2])
        self.drop_out = Dropout(dropout, seed=rngs[3])
        dirs = 2 if bidirectional else 1
        self.head = Linear(dirs * hidden_size, num_classes, dtype=dtype, seed=rngs[4])
        self._pool_cache = None

    def embed(self, ids):
        """ids (T, B) -> e (T, B, E) before dropout; numbers (T, B, D) pass as they are."""
        if self.encoder is None:
            return np.asarray(ids, dtype=self.dtype)
        return self.encoder.forward(ids)

    def forward(self, ids, lengths):
        """ids (T, B) integer tokens (or x (T, B, D) without an embedding), lengths (B,) -> logits (B, C)."""
        lengths = np.asarray(lengths, dtype=np.int64)
        e = self.drop_in.forward(self.embed(ids))  # (T, B, E)
        y, _ = self.rnn.forward(e, lengths=lengths)  # (T, B, dirs*H)
        pooled, cache = _pool(self.pooling, y, lengths, self.rnn.hidden_size, self.rnn.num_directions)
        self._pool_cache = cache if self.training else None
        return self.head.forward(self.drop_out.forward(pooled))  # (B, C)

    def backward(self, dlogits):
        """dlogits (B, C) -> parameter gradients; returns de (T, B, E), the gradient of the
        recurrent stack's input (the ids themselves have none)."""
        if self._pool_cache is None:
            raise RuntimeError("ClassifierNetwork.backward needs a forward pass in training mode first")
        dpooled = self.drop_out.backward(self.head.backward(dlogits))  # (B, dirs*H)
        dy = _unpool(self.pooling, dpooled, self._pool_cache)  # (T, B, dirs*H)
        de, _ = self.rnn.backward(dy)  # (T, B, E)
        de = self.drop_in.backward(de)
        if self.encoder is not None:
            self.encoder.backward(de)
        self._pool_cache = None
        return de

    def contributions(self, ids, lengths, target) -> np.ndarray:
        """Gradient x input of the score s_c of class ``target`` at every step: ids (T, B), lengths (B,), target (B,)
        class indices -> (T, B), 0 past each end. Dropout is off; parameter gradients are left
        as they were."""
        lengths = np.asarray(lengths, dtype=np.int64)
        modes = [(m, m.training) for m in self.modules()]
        saved_grads = {k: g.copy() for k, g in self.grads.items()}
        rnn_dropout, self.rnn.dropout = self.rnn.dropout, 0.0  # between layers: off, no draw
        try:
            self.train()
            self.drop_in.eval()
            self.drop_out.eval()
            e = self.embed(ids)  # (T, B, E)
            logits = self.forward(ids, lengths)  # (B, C)
            C = logits.shape[1]
            dlogits = np.full(logits.shape, -1.0 / C, dtype=self.dtype)
            dlogits[np.arange(len(target)), target] += 1.0  # d s_c / d logits = onehot(c) - 1/C
            de = self.backward(dlogits)  # (T, B, E)
            return (de * e).sum(axis=2).astype(np.float64)
        finally:
            self.rnn.dropout = rnn_dropout
            for m, mode in modes:
                m.training = mode
            for k, g in self.grads.items():
                g[...] = saved_grads[k]


def _pool(how, y, lengths, H, dirs):
    """y (T, B, dirs*H) -> (B, dirs*H), and what ``_unpool`` needs."""
    T, B, _ = y.shape
    rows = np.arange(B)
    if how == "last":
        parts = [y[lengths - 1, rows, :H]]  # forward: its last true step
        if dirs == 2:
            parts.append(y[0, :, H:])  # reverse: it ends at t = 0
        return np.concatenate(parts, axis=1), (how, y.shape, lengths, H, dirs)
    valid = np.arange(T)[:, None] < lengths[None, :]  # (T, B)
    if how == "mean":
        return y.sum(axis=0) / lengths[:, None].astype(y.dtype), (how, y.shape, lengths, valid)
    masked = np.where(valid[:, :, None], y, -np.inf)  # (T, B, dirs*H)
    arg = masked.argmax(axis=0)  # (B, dirs*H): the step each unit's maximum came from
    return np.take_along_axis(masked, arg[None], axis=0)[0], (how, y.shape, lengths, arg)


def _unpool(how, dpooled, cache):
    """The gradient of ``_pool``: dpooled (B, dirs*H) -> dy (T, B, dirs*H), 0 at padded steps."""
    shape, lengths = cache[1], cache[2]
    dy = np.zeros(shape, dtype=dpooled.dtype)
    B = shape[1]
    rows = np.arange(B)
    if how == "last":
        H, dirs = cache[3], cache[4]
        dy[lengths - 1, rows, :H] = dpooled[:, :H]
        if dirs == 2:
            dy[0, :, H:] += dpooled[:, H:]
        return dy
    if how == "mean":
        valid = cache[3]
        return valid[:, :, None] * (dpooled / lengths[:, None].astype(dpooled.dtype))[None]
    arg = cache[3]
    np.put_along_axis(dy, arg[None], dpooled[None], axis=0)  # only the step that gave the maximum
    return dy
