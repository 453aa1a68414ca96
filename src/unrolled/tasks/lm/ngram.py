"""Interpolated Kneser-Ney n-gram model: the Markov baseline of seed 004 section 4.3.

An order-n model keeps n - 1 tokens of history, ``P(x_t | x_1..x_{t-1}) ~ P(x_t | h)`` with
``h = x_{t-n+1}..x_{t-1}``, and mixes every order down to a uniform distribution over the V
tokens (Chen and Goodman, 1998, eq. for interpolated Kneser-Ney)::

    P_k(w | h) = (max(c_k(h w) - D_k(c), 0) + gamma_k(h) P_{k-1}(w | h')) / c_k(h)
    gamma_k(h) = D_k(1) N_1(h .) + D_k(2) N_2(h .) + D_k(3+) N_3+(h .)
    P_0(w)     = 1 / V

where ``h'`` is h without its oldest token, ``c_k(h) = sum_w c_k(h w)``, ``N_j(h .)`` counts the
tokens w with ``c_k(h w) = j`` and a history never seen at level k leaves ``P_k = P_{k-1}``.
The top order counts n-grams; each lower order k counts *continuations*, ``c_k(h w)`` = the
number of distinct tokens seen right before ``h w`` -- the Kneser-Ney idea: a token that follows
many different histories gets more of the back-off mass. ``modified=True`` (default) uses Chen
and Goodman's three discounts per order, estimated from the counts-of-counts n_1..n_4::

    Y = n_1 / (n_1 + 2 n_2),   D(j) = j - (j + 1) Y n_{j+1} / n_j   for j = 1, 2, 3+

``modified=False`` uses the single discount ``D = Y`` for every count. Either way each
``P_k(. | h)`` sums to one over the vocabulary.

Counts live in sorted arrays of int64 keys, so fitting is a few ``np.unique`` calls and scoring a
whole text is a few ``np.searchsorted`` per order. A k-gram's key is ``i * V + w``: ``w`` its last
token and ``i`` the index of its first k - 1 tokens among the distinct (k-1)-grams of the training
text (0 for k = 1), so keys stay below ``L * V`` at every order (L training tokens). Base-V keys
would hold V^k values: with the Penn Treebank's V = 10,000 a 5-gram needs 10^20, beyond 64 bits.
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.checks import check_positive_int

_MAX_KEY = 2**63 - 1
# The longest n-gram: far beyond where Kneser-Ney stops gaining (characters ~7-9, words ~5-6: the
# longer n-grams of a corpus are almost all seen once), and each order is a pass over the text.
MAX_ORDER = 16
UNSEEN = -1  # the key (and index) of a k-gram never seen in training: no level holds it


def _index_grams(ids: np.ndarray, V: int, order: int, known=None):
    """The keys (module docstring) of every k-gram of ``ids``, k = 1..order.

    Returns ``(keys, index)``: ``keys[k - 1]`` (L - k + 1,) the key of the k-gram starting at each
    position, and ``index[k - 1]`` its index among the sorted distinct keys. ``known`` None: those
    distinct keys are this text's own (fitting; returned as a third value); else ``known[k - 1]``
    (a fitted model's, k < order: the top order is no prefix, its index is not needed), and a
    k-gram absent from them -- or whose prefix is -- gets ``UNSEEN``.
    """
    L = len(ids)
    prefix = np.zeros(L, dtype=np.int64)  # the index of the empty history at every position
    keys, index, distinct = [], [], []
    for k in range(1, order + 1):
        p = prefix[: L - k + 1]
        key = np.where(p == UNSEEN, UNSEEN, p * V + ids[k - 1:])  # (L - k + 1,)
        keys.append(key)
        if known is None:
            uniq, idx = np.unique(key, return_inverse=True)
            distinct.append(uniq)
        elif k <= len(known):  # a fitted model knows the k-grams that are prefixes: k < n
            uniq = known[k - 1]
            i = np.minimum(np.searchsorted(uniq, key), len(uniq) - 1)
            idx = np.where((key != UNSEEN) & (uniq[i] == key), i, UNSEEN)
        else:
            break
        index.append(idx.astype(np.int64))
        prefix = index[-1]
    return (keys, index) if known is not None else (keys, index, distinct)


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[keys == q] for each q, 0 where q is not a key (keys sorted, unique)."""
    if len(keys) == 0:
        return np.zeros(query.shape, dtype=values.dtype)
    i = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[i] == query, values[i], 0)


def _discounts(counts: np.ndarray, modified: bool) -> np.ndarray:
    """D(1), D(2), D(3+) from the counts-of-counts of one order (see the module docstring)."""
    n = [np.count_nonzero(counts == j) for j in (1, 2, 3, 4)]
    Y = n[0] / (n[0] + 2 * n[1]) if n[0] > 0 and n[1] > 0 else 0.5
    single = np.array([Y, Y, Y])
    if not modified or min(n) == 0:
        return single
    D = np.array([j - (j + 1) * Y * n[j] / n[j - 1] for j in (1, 2, 3)])
    return D if np.all(D > 0) and np.all(D <= [1, 2, 3]) else single  # tiny data: estimates unusable


class _Level:
    """The counts of one order k: sorted k-gram keys with their counts, and per history h its
    total c(h) and back-off weight gamma(h)."""

    def __init__(self, keys: np.ndarray, counts: np.ndarray, V: int, modified: bool):
        self.keys, self.counts = keys, counts.astype(np.float64)
        self.D = _discounts(counts, modified)
        self.hist, inverse = np.unique(keys // V, return_inverse=True)  # history = all but the last token
        self.total = np.bincount(inverse, weights=self.counts)  # c(h)
        self.gamma = np.bincount(inverse, weights=self.D[np.minimum(counts, 3) - 1])  # sum_w D(c(h w))

    def mix(self, grams: np.ndarray, lower: np.ndarray, V: int) -> np.ndarray:
        """P_k for each k-gram key in ``grams``, given P_{k-1} of the same token in ``lower``."""
        c = _lookup(self.keys, self.counts, grams)
        i = np.minimum(np.searchsorted(self.hist, grams // V), len(self.hist) - 1)
        seen = self.hist[i] == grams // V
        D = self.D[np.clip(c, 1, 3).astype(np.int64) - 1]
        p = (np.maximum(c - D, 0.0) + self.gamma[i] * lower) / self.total[i]
        return np.where(seen, p, lower)


class KneserNey:
    """Interpolated (modified) Kneser-Ney language model of order n over ids in [0, V).

    ``KneserNey(order=5).fit(ids, vocab_size=V)``, then ``logprobs(ids)``, ``distribution(context)``,
    ``perplexity(ids)``; ``step`` plugs it into :mod:`unrolled.tasks.lm.sampling`.
    """

    def __init__(self, order=3, modified=True):
        self.order = check_positive_int(order, "order", "KneserNey")
        if self.order > MAX_ORDER:
            raise ValueError(f"KneserNey: order={order} is more than MAX_ORDER = {MAX_ORDER}; use a lower order "
                             "(5 to 9 is where Kneser-Ney stops gaining)")
        self.modified = bool(modified)
        self.levels_: list[_Level] | None = None  # levels_[k - 1] holds order k
        self.grams_: list[np.ndarray] | None = None  # grams_[k - 1]: the training k-grams' sorted keys, k < n
        self.vocab_size_: int | None = None

    def fit(self, ids, vocab_size):
        V = check_positive_int(vocab_size, "vocab_size", "KneserNey.fit")
        ids = self._check_ids(ids, V, "fit")
        n = self.order
        if len(ids) < n:
            raise ValueError(f"KneserNey.fit: {len(ids)} training tokens are fewer than order={n}; "
                             "use a lower order or more text")
        if len(ids) * V > _MAX_KEY:
            raise ValueError(f"KneserNey: {len(ids):,} training tokens with V={V:,} overflow 64-bit n-gram keys; "
                             "use a smaller vocabulary or less text")
        keys, index, distinct = _index_grams(ids, V, n)
        levels = [_Level(*np.unique(keys[n - 1], return_counts=True), V, self.modified)]  # top order: counts
        for k in range(n - 1, 0, -1):
            # continuation counts: distinct (k+1)-grams ending in each k-gram. The (k+1)-gram at j
            # ends in the k-gram at j + 1; take each distinct one at its first position.
            first = np.unique(index[k], return_index=True)[1]
            counts = np.bincount(index[k - 1][first + 1], minlength=len(distinct[k - 1]))
            levels.insert(0, _Level(distinct[k - 1][counts > 0], counts[counts > 0], V, self.modified))
        self.levels_, self.grams_, self.vocab_size_ = levels, distinct[: n - 1], V
        return self

    def _check_ids(self, ids, V, where) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise ValueError(f"KneserNey.{where}: expected a 1-D array of integer token ids, "
                             f"got shape {ids.shape} and dtype {ids.dtype}")
        ids = ids.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= V):
            raise ValueError(f"KneserNey.{where}: token ids must lie in [0, V={V}); encode the text "
                             "with the tokenizer the model was fitted with")
        return ids

    def _fitted(self) -> int:
        if self.levels_ is None:
            raise ValueError("KneserNey is not fitted; call fit(ids, vocab_size) first")
        return self.vocab_size_

    def logprobs(self, ids, start=1) -> np.ndarray:
        """Natural-log ``P(ids[t] | ids[t-n+1 : t])`` for t = start..L-1, (L - start,).

        ``start=1`` (default) takes the first token as given, as a recurrent model fed the same
        stream does; ``start=0`` also scores it, with an empty history."""
        V = self._fitted()
        ids = self._check_ids(ids, V, "logprobs")
        t = np.arange(start, len(ids))  # positions scored
        p = np.full(len(t), 1.0 / V)  # P_0
        keys, _ = _index_grams(ids, V, min(self.order, len(ids)), known=self.grams_)
        for k, level in enumerate(self.levels_[: len(keys)], start=1):
            has = t >= k - 1  # enough history for a k-gram ending at t
            if not has.any():
                break
            p[has] = level.mix(keys[k - 1][t[has] - k + 1], p[has], V)  # (M,) the k-gram ending at each t
        return np.log(p)

    def distribution(self, context=()) -> np.ndarray:
        """``P(w | context)`` for every w in [0, V), (V,); only the last n - 1 ids of context matter."""
        V = self._fitted()
        hist = self._history(self._check_ids(np.asarray(context, dtype=np.int64), V, "distribution"))
        w = np.arange(V, dtype=np.int64)
        p = np.full(V, 1.0 / V)  # P_0
        for k, level in enumerate(self.levels_, start=1):
            if k - 1 > len(hist):
                break
            h = 0 if k == 1 else self._gram_index(hist[len(hist) - (k - 1):])  # the last k - 1 tokens
            p = level.mix(np.full(V, UNSEEN) if h == UNSEEN else h * V + w, p, V)
        return p

    def _gram_index(self, gram: np.ndarray) -> int:
        """The index of ``gram`` (k tokens) among the training k-grams, or ``UNSEEN``."""
        V, h = self.vocab_size_, 0
        for k, w in enumerate(gram.tolist(), start=1):
            known, key = self.grams_[k - 1], h * V + w
            i = int(np.searchsorted(known, key))
            if i == len(known) or known[i] != key:
                return UNSEEN
            h = i
        return h

    def _history(self, ids: np.ndarray) -> np.ndarray:
        return ids[max(len(ids) - (self.order - 1), 0):]  # the last n - 1 ids, the only ones that matter

    def step(self, new_ids, state):
        """Next-token function for :mod:`unrolled.tasks.lm.sampling`: feed ``new_ids`` after the history
        in ``state`` (None at the start) -> (log-probabilities (V,), new state)."""
        hist = self._history(np.concatenate([np.zeros(0, np.int64) if state is None else state,
                                             np.asarray(new_ids, dtype=np.int64)]))
        return np.log(self.distribution(hist)), hist

    def perplexity(self, ids, start=1) -> float:
        """``exp`` of the mean negative log-probability per scored token."""
        return float(np.exp(-self.logprobs(ids, start).mean()))

    def bits_per_token(self, ids, start=1) -> float:
        """Mean negative log2-probability per scored token (bits per character at char level)."""
        return float(-self.logprobs(ids, start).mean() / np.log(2))
