"""Using a language model (seed 004 section 4.2): sentence probabilities, ranking candidates,
generating by sampling -- for any model that can say what comes next.

A model plugs in as a *next-token function* ``step(new_ids, state) -> (logp, state)``: it reads
``new_ids`` after whatever ``state`` summarises (``None``: nothing yet) and returns the
natural-log distribution of the next token, ``logp`` (V,), with the state that now includes
``new_ids``. An n-gram's state is its last n - 1 tokens (``KneserNey.step``); a recurrent
model's is its hidden state. Scoring follows the autoregressive factorization::

    log P(x_1..x_T | context) = sum_t log P(x_t | context, x_1..x_{t-1})
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.checks import check_positive_int

# The most tokens one ``generate`` call makes (``unrolled lm sample --length``). Each token is one
# forward step of the model, some thousands a second: a million is minutes of text (a novel's
# worth of characters); more is a mistyped length, and its ids alone would not fit in memory.
MAX_LENGTH = 1_000_000


def pick(logp, rng: np.random.Generator, temperature=1.0, top_k=None) -> int:
    """One token id from log-probabilities (V,): ``temperature=0`` is greedy (the argmax);
    otherwise sample from ``softmax(logp / temperature)`` restricted to the ``top_k`` most
    likely tokens (all when None)."""
    logp = np.asarray(logp, dtype=np.float64)
    if temperature < 0 or not np.isfinite(temperature):
        raise ValueError(f"temperature={temperature!r} must be >= 0 (0 is greedy, 1 samples the model as is)")
    if temperature == 0:
        return int(np.argmax(logp))
    a = logp / temperature  # (V,)
    if top_k is not None:
        top_k = check_positive_int(top_k, "top_k", "pick")
        if top_k < len(a):
            dropped = np.argsort(-a, kind="stable")[top_k:]  # ties go to the lower id, as argmax does
            a = a.copy()
            a[dropped] = -np.inf
    p = np.exp(a - a.max())
    cdf = np.cumsum(p)  # inverse-CDF sampling: one uniform draw per token
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(cdf) - 1))


def generate(step, prime_ids, length, *, temperature=1.0, top_k=None, seed=None) -> np.ndarray:
    """``length`` new token ids (length,) following ``prime_ids`` (at most ``MAX_LENGTH``); the same
    seed (None or a whole number >= 0) gives the same ids."""
    length = check_positive_int(length, "length", "generate")
    if length > MAX_LENGTH:
        raise ValueError(f"generate: length={length:,} is more than MAX_LENGTH = {MAX_LENGTH:,} tokens; ask for fewer")
    if seed is not None and not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        raise ValueError(f"generate: seed={seed!r} is invalid; use a whole number >= 0, or None for a random one")
    rng = np.random.default_rng(seed)
    logp, state = step(np.asarray(prime_ids, dtype=np.int64), None)
    out = np.empty(length, dtype=np.int64)
    for t in range(length):
        out[t] = pick(logp, rng, temperature, top_k)
        logp, state = step(out[t : t + 1], state)
    return out


def token_logprobs(step, ids, context=()) -> np.ndarray:
    """``log P(ids[t] | context, ids[:t])`` for each t, (len(ids),)."""
    ids = np.asarray(ids, dtype=np.int64)
    logp, state = step(np.asarray(context, dtype=np.int64), None)
    out = np.empty(len(ids))
    for t, w in enumerate(ids):
        out[t] = logp[w]
        logp, state = step(ids[t : t + 1], state)
    return out


def sequence_logprob(step, ids, context=()) -> float:
    """``log P(ids | context)``: the sum of the token log-probabilities."""
    return float(token_logprobs(step, ids, context).sum())


def rank(step, candidates, context=()) -> list[tuple[int, float]]:
    """Candidates (lists of ids) as ``(index, log-probability)``, most probable first."""
    scores = [sequence_logprob(step, c, context) for c in candidates]
    return sorted(enumerate(scores), key=lambda item: -item[1])
