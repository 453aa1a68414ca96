"""The output layer and its loss in one pass: Linear + log-softmax + cross-entropy, fused.

A word-level language model spends most of its time here: for a 2 x 200 LSTM over V = 10,000
words about three quarters of the multiply-adds are the output layer's. Unfused, the layer
writes the (N, V) logits, the loss reads them into log-probabilities, its backward writes an
(N, V) gradient and the Linear's backward reads it twice more -- N = T B rows, 16 MB each for
T = B = 20. Fused, the rows go through in chunks of at most ``CHUNK_ROWS``: a chunk's logits are
made, turned into the chunk's share of the loss and, in place, into the softmax gradient, and
consumed by the two gradient products before the next chunk reuses the same buffer. For N rows
``h_n`` (H,), the Linear's ``W`` (V, H) and ``b`` (V,), and targets ``c_n``::

    z_n   = W h_n + b                              logits (V,): a chunk z (C, V) = h_c W^T + b
    m_n   = max_v z_n,v                            the shift that keeps every exponent <= 0
    s_n   = sum_v exp(z_n,v - m_n)
    l_n   = m_n + log s_n - z_n,c_n                nats of row n: -log softmax(z_n)_{c_n}
    L     = (1 / N) sum_n l_n                       the mean, as CrossEntropyLoss's default

    dz_n  = (softmax(z_n) - onehot(c_n)) / N        = (exp(z_n - m_n) / s_n - onehot(c_n)) / N
    dh    = dz W                                    (C, H) per chunk, rows of dL/dh
    dW    = sum_chunks dz^T h_c                     (V, H)
    db    = sum_n dz_n                              (V,)

L is the end of the graph, so its upstream gradient is one number: the gradients above are
formed during ``forward`` (in training mode) and ``backward(dL)`` scales them by ``dL``.
Everything stays in the parameters' dtype (float32: the GEMMs are BLAS ``sgemm``); each row's
``l_n`` is kept in float64, and so is their sum. Between the GEMMs, the bias, the log-softmax, dz
and db are one compiled pass per row (``fast.kernels.softmax``), the row in cache throughout. On two threads (``fast.threads``) each takes half
of the rows with BLAS held to one thread, and its own gradient buffers, added at the end
(``threads.wide`` decides, as for every layer).
"""

from __future__ import annotations

import numpy as np

from unrolled.fast import elementwise, threads
from unrolled.fast.kernels import softmax
from unrolled.nn.checks import check_finite

# Logits per chunk: 4M values, 16 MB of float32, so 400 rows of V = 10,000 (the rows of a
# T = B = 20 step, split over two threads, make one chunk each; T = 35 too). Smaller chunks
# were slower here (bench: 128 rows +10%, 32 rows +40%): each chunk's GEMMs are less efficient
# and its dW must be added into the part's sum, a pass over V x H.
CHUNK_ELEMENTS = 1 << 22


def _chunks(lo: int, hi: int, V: int):
    """[lo, hi) cut into near-equal chunks of at most CHUNK_ELEMENTS // V rows."""
    count = max(1, -(-(hi - lo) * V // CHUNK_ELEMENTS))
    edges = np.linspace(lo, hi, count + 1).round().astype(int)
    return list(zip(edges[:-1], edges[1:]))


class _Part:
    """One thread's buffers, reused from step to step: a chunk of logits and, in training, its own
    dW and db sums (each thread adds into its own; ``backward`` adds them into the Linear's grads)."""

    def __init__(self):
        self.z = None         # (C, V) a chunk's logits, then its dz
        self.dW = None        # (V, H) sum of dz^T h_c over this part's chunks
        self.dW_chunk = None  # (V, H) one chunk's dz^T h_c, when a part has several
        self.db = None        # (V,)
        self.used = False     # did this part take rows in the last training forward?

    def logits(self, C: int, V: int, dtype) -> np.ndarray:
        if self.z is None or self.z.shape[0] < C or self.z.shape[1] != V or self.z.dtype != dtype:
            self.z = np.empty((C, V), dtype=dtype)
        return self.z[:C]

    def sums(self, V: int, H: int, dtype) -> None:
        if self.dW is None or self.dW.shape != (V, H) or self.dW.dtype != dtype:
            self.dW, self.db, self.dW_chunk = np.empty((V, H), dtype), np.empty(V, dtype), None


class LinearCrossEntropy:
    """``linear`` (a ``Linear`` over H -> V) followed by softmax cross-entropy, fused (module
    docstring): ``loss = f.forward(h (N, H), targets (N,))``, then ``dh = f.backward(dloss)`` adds
    dW, db into ``linear.grads`` and returns dL/dh (N, H). ``f.nll`` (N,) holds each row's nats.

    Gradients are formed only when ``linear.training`` (the model's ``train()`` / ``eval()``): in
    eval mode the forward is the loss alone. ``linear`` stays the owner of the parameters; this
    holds no parameters of its own, only reusable buffers.
    """

    def __init__(self, linear):
        self.linear = linear
        self.nll: np.ndarray | None = None  # (N,) float64, l_n of the last forward
        self._parts: list[_Part] = []
        self._dh: np.ndarray | None = None  # (N, H) dL/dh of the last training forward
        self._no_bias = np.empty(0, dtype=linear.params["weight"].dtype)  # for the kernel: no bias, or no db

    def forward(self, h, targets) -> float:
        """h (N, H), targets (N,) integer classes in [0, V) -> the mean loss L (a float)."""
        W, b = self.linear.params["weight"], self.linear.params.get("bias")
        V, H = W.shape
        h = np.ascontiguousarray(h, dtype=W.dtype)
        targets = np.asarray(targets)
        if h.ndim != 2 or h.shape[1] != H or targets.shape != (h.shape[0],) or targets.dtype.kind not in "iu":
            raise ValueError(f"LinearCrossEntropy: expected h (N, {H}) and integer targets (N,), got h {h.shape} and "
                             f"targets {targets.shape} of dtype {targets.dtype}")
        N = h.shape[0]
        if N == 0:
            raise ValueError("LinearCrossEntropy: no rows to score; give at least one")
        if targets.min() < 0 or targets.max() >= V:
            raise ValueError(f"LinearCrossEntropy: targets must lie in [0, V={V}), got min {targets.min()} and "
                             f"max {targets.max()}")
        check_finite(h, "input", "LinearCrossEntropy")
        training = self.linear.training
        self.nll = np.empty(N, dtype=np.float64)
        self._dh = np.empty_like(h) if training else None
        split = threads.wide(N, N * H * V)
        while len(self._parts) < (2 if split else 1):
            self._parts.append(_Part())
        for part in self._parts:
            part.used = False

        def rows(lo, hi):
            part = self._parts[1 if split and lo > 0 else 0]
            for c0, c1 in _chunks(lo, hi, V):
                self._chunk(h, targets, c0, c1, W, b, N, part, training)

        with threads.held(split):  # BLAS on one thread in each of ours, or where one core is all we have
            if split:
                threads.over_rows(rows, N)
            else:
                rows(0, N)
        return float(self.nll.sum() / N)

    def _chunk(self, h, targets, c0, c1, W, b, N, part, training) -> None:
        """Rows [c0, c1): their l_n into ``self.nll`` and, in training, their share of dh, dW, db."""
        C = c1 - c0
        hc, cc = h[c0:c1], targets[c0:c1]  # (C, H), (C,)
        z = part.logits(C, W.shape[0], W.dtype)
        np.matmul(hc, W.T, out=z)  # (C, V): z = h_c W^T
        if training and not part.used:  # the part's first chunk starts its sums
            part.sums(*W.shape, W.dtype)
            part.db.fill(0)
        # + b, log-softmax, l_n into nll and, in training, dz = (softmax - onehot) / N in place and
        # db += its column sums: compiled, row by row while a row is in cache
        softmax.cross_entropy_rows(z, self._no_bias if b is None else b, cc, self.nll[c0:c1],
                                   1.0 / N if training else 0.0, part.db if training else self._no_bias)
        if not training:
            return
        np.matmul(z, W, out=self._dh[c0:c1])  # (C, H): dh = dz W
        if not part.used:  # the part's first chunk writes its dW
            np.matmul(z.T, hc, out=part.dW)  # (V, H): dz^T h_c
            part.used = True
            return
        if part.dW_chunk is None:
            part.dW_chunk = np.empty_like(part.dW)
        np.matmul(z.T, hc, out=part.dW_chunk)
        part.dW += part.dW_chunk

    def backward(self, dloss=1.0) -> np.ndarray:
        """dL (the loss's upstream gradient, 1 for the loss itself) -> dL/dh (N, H); dW and db are
        added into ``linear.grads`` (``+=``, as every backward)."""
        if self._dh is None:
            raise RuntimeError("LinearCrossEntropy.backward needs a forward pass in training mode first")
        grads = self.linear.grads
        scale = self._dh.dtype.type(dloss)
        used = [part for part in self._parts if part.used]
        if len(used) == 2:  # both threads' sums in one pass over the (V, H) gradient
            elementwise.add_scaled_sum(grads["weight"], scale, used[0].dW, used[1].dW)
            if "bias" in grads:
                elementwise.add_scaled_sum(grads["bias"], scale, used[0].db, used[1].db)  # (V,)
        elif used:
            elementwise.add_scaled(grads["weight"], scale, used[0].dW)
            if "bias" in grads:
                elementwise.add_scaled(grads["bias"], scale, used[0].db)  # (V,)
        dh, self._dh = self._dh, None  # one backward per forward, as the other layers
        for part in self._parts:
            part.used = False
        return dh if scale == 1 else dh * scale
