"""Model parts around the recurrent layers: Linear, Embedding, Dropout and a Sequential container.

Each is a forward / backward pair in the style of the cells: ``forward`` caches what
``backward`` needs (in training mode), ``backward(dout)`` returns the input gradient and adds
the parameter gradients into ``grads``.
"""

from __future__ import annotations

import numpy as np

from unrolled.fast import threads
from unrolled.fast.kernels import scatter
from unrolled.nn.checks import check_finite, check_positive_int, resolve_dtype
from unrolled.nn.module import Module
from unrolled.nn.recurrent import Recurrent


class Linear(Module):
    """``y = x W^T + b`` over the last axis: x (..., in) -> y (..., out). Seed 004 eq. 3,
    ``o = W_yh h + b_y``, is this applied to every step of a recurrent layer's output."""

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float32, seed=None):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", "Linear")
        self.out_features = check_positive_int(out_features, "out_features", "Linear")
        self.dtype = resolve_dtype(dtype, "Linear")
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(self.in_features)  # PyTorch's default bound for weight and bias
        self._add_param("weight", rng.uniform(-k, k, (self.out_features, self.in_features)).astype(self.dtype))
        if bias:
            self._add_param("bias", rng.uniform(-k, k, (self.out_features,)).astype(self.dtype))
        self._x = None

    def forward(self, x):
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear: input has shape {x.shape}, expected (..., {self.in_features})")
        check_finite(x, "input", "Linear")
        y = threads.dot(x.reshape(-1, self.in_features), self.params["weight"].T)  # (N, out)
        y = y.reshape(x.shape[:-1] + (self.out_features,))  # (..., out)
        if "bias" in self.params:
            y = y + self.params["bias"]
        self._x = x if self.training else None
        return y

    def backward(self, dy):
        x = self._x
        if x is None:
            raise RuntimeError("Linear.backward needs a forward pass in training mode first")
        dy = np.asarray(dy, dtype=self.dtype)
        x2, dy2 = x.reshape(-1, self.in_features), dy.reshape(-1, self.out_features)  # (N, in), (N, out)
        self.grads["weight"] += threads.dot(dy2.T, x2)  # eq. 9: dW_yh = sum_t dL/do h^T
        if "bias" in self.params:
            self.grads["bias"] += dy2.sum(axis=0)
        return threads.dot(dy2, self.params["weight"]).reshape(dy.shape[:-1] + (self.in_features,))  # (..., in)


class Embedding(Module):
    """Lookup table: integer ids (...) -> vectors (..., embedding_dim). Row ``padding_idx``, if
    given, gets no gradient (as in PyTorch)."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, *, dtype=np.float32, seed=None):
        super().__init__()
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim", "Embedding")
        self.padding_idx = padding_idx
        self.dtype = resolve_dtype(dtype, "Embedding")
        rng = np.random.default_rng(seed)
        weight = rng.standard_normal((self.num_embeddings, self.embedding_dim)).astype(self.dtype)
        if padding_idx is not None:
            weight[padding_idx] = 0.0
        self._add_param("weight", weight)
        self._ids = None

    def forward(self, ids):
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise ValueError(f"Embedding: ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise ValueError(
                f"Embedding: ids must lie in [0, {self.num_embeddings}), got min {ids.min()} and "
                f"max {ids.max()}; map unknown tokens to an <unk> id")
        self._ids = ids if self.training else None
        return self.params["weight"][ids]  # (..., E)

    def backward(self, dy):
        if self._ids is None:
            raise RuntimeError("Embedding.backward needs a forward pass in training mode first")
        dy = np.asarray(dy, dtype=self.dtype).reshape(-1, self.embedding_dim)  # (N, E)
        ids = self._ids.reshape(-1)
        if self.padding_idx is not None:
            keep = ids != self.padding_idx
            ids, dy = ids[keep], dy[keep]
        # repeated ids add up: np.add.at's sum, compiled (np.add.at goes element by element)
        scatter.add_rows(self.grads["weight"], np.ascontiguousarray(ids, dtype=np.int64), np.ascontiguousarray(dy))
        return None  # integer inputs have no gradient


class Dropout(Module):
    """Inverted dropout: in training, ``y = x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` drawn from
    an explicit Generator; in eval mode the identity. Seed 001 names it beside L2."""

    def __init__(self, p=0.5, *, seed=None):
        super().__init__()
        if not (isinstance(p, (int, float)) and 0.0 <= p < 1.0):
            raise ValueError(f"Dropout: p={p!r} must be a probability in [0, 1)")
        self.p = float(p)
        self.rng = np.random.default_rng(seed)
        self._mask = None

    def forward(self, x):
        x = np.asarray(x)
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        keep = 1.0 - self.p
        self._mask = (self.rng.random(x.shape) < keep).astype(x.dtype) / keep
        return x * self._mask

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask


class Sequential(Module):
    """Parts applied in order; ``backward`` chains their backwards in reverse.

    Parameters are named ``"<part>.<param>"`` as in ``torch.nn.Sequential`` (``"0.weight"``,
    or the given names when built from ``(name, part)`` pairs).

    The recurrent parts (RNN, LSTM, GRU) take and give state, by one rule::

        y = seq.forward(x, state=None, lengths=None)     final states in seq.states[name]
        dx = seq.backward(dy, dstate=None)               initial-state gradients in seq.dstates[name]

    * ``lengths`` (B,) goes to every recurrent part; the other parts see every step, padding
      included.
    * ``state`` (and ``dstate``, the gradient w.r.t. the final states) is ``None`` (zeros for
      every recurrent part), a dict ``{part name: state}`` (parts left out get zeros), or, when
      there is exactly one recurrent part, that part's state itself (``h`` or ``(h, c)``).
    """

    def __init__(self, *parts):
        super().__init__()
        for k, p in enumerate(parts):
            name, part = p if isinstance(p, tuple) else (str(k), p)
            if not isinstance(part, Module):
                raise ValueError(f"Sequential: part {name!r} is a {type(part).__name__}, not a Module")
            if name in self._children:
                raise ValueError(f"Sequential: part names must be unique; {name!r} is given twice")
            self.add_module(name, part)
        self.states, self.dstates = {}, {}

    @property
    def parts(self) -> dict[str, Module]:
        return dict(self.named_children())

    def _by_part(self, value, what: str) -> dict:
        """``value`` as ``{recurrent part name: value}``, by the rule in the class docstring."""
        names = [name for name, part in self.named_children() if isinstance(part, Recurrent)]
        if value is None:
            return {}
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise ValueError(f"Sequential: {what} has keys {unknown}, which name no recurrent "
                                 f"part; use keys from {names}")
            return value
        if len(names) != 1:
            raise ValueError(f"Sequential: with {len(names)} recurrent parts, pass {what} as a dict "
                             f"keyed by part name, from {names}")
        return {names[0]: value}

    def forward(self, x, state=None, lengths=None):
        state = self._by_part(state, "state")
        self.states = {}
        for name, part in self.named_children():
            if isinstance(part, Recurrent):
                x, self.states[name] = part.forward(x, state.get(name), lengths)
            else:
                x = part.forward(x)
        return x

    def backward(self, dy, dstate=None):
        dstate = self._by_part(dstate, "dstate")
        self.dstates = {}
        for name, part in reversed(self.named_children()):
            if isinstance(part, Recurrent):
                dy, self.dstates[name] = part.backward(dy, dstate.get(name))
            else:
                dy = part.backward(dy)
        return dy
