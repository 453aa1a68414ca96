"""The recurrent language model's network: seed 004 section 4's ``P(x_t | x_1..x_{t-1})`` from a
hidden state, named as PyTorch's word_language_model names it (``encoder``, ``rnn``,
``decoder``), so its state dict moves to a ``torch.nn`` model unchanged::

    e      = dropout(encoder[ids])          ids (T, B) -> (T, B, E)
    y, s_T = rnn(e, s_0)                     (T, B, E) -> (T, B, H); dropout between layers
    o      = decoder(dropout(y))             (T, B, H) -> (T, B, V) logits
    L      = mean_t,b -log softmax(o)[x_{t+1}]     seed 004 eq. 5, averaged

Dropout acts only on the connections that are not recurrent -- into the first layer, between
layers, out of the last -- never on the state carried from step to step (Zaremba et al., 2014):
``Recurrent`` applies it to each layer's output sequence only. ``forward_loss`` /
``backward_loss`` train and score through the decoder fused with the loss
(``nn.linear_cross_entropy``), so the (T, B, V) logits are never formed; ``forward`` gives the
logits themselves (sampling, scoring one text). ``init_range=a`` redraws every parameter from
U(-a, a), Zaremba et al.'s initialisation, instead of each layer's own (PyTorch's).

``tie_weights=True`` makes the decoder's weight the embedding matrix itself (Press & Wolf 2017;
Inan et al. 2017), ``decoder.weight is encoder.weight`` (V, E), as PyTorch's word_language_model
ties them: one array, whose gradient gets both the decoder's ``dz^T h`` and the embedding's
scattered rows. It needs E = H. The state dict keeps both keys, as torch's does.
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.layers import Dropout, Embedding, Linear
from unrolled.nn.linear_cross_entropy import LinearCrossEntropy
from unrolled.nn.module import Module
from unrolled.nn.recurrent import make_layer


class RecurrentLM(Module):
    """Embedding -> dropout -> ``cell`` stack -> dropout -> Linear; ids (T, B) -> logits (T, B, V)."""

    grad_buckets = ("decoder", "rnn")  # the order backward completes them (Module.gradients_final)

    def __init__(self, cell, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0, *,
                 init_range=None, tie_weights=False, dtype=np.float32, seed=None):
        super().__init__()
        # spawn(6)'s first five are spawn(5)'s: each layer draws what it drew before init_range came
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
        self.encoder = Embedding(vocab_size, embedding_dim, dtype=dtype, seed=rngs[0])
        self.drop_in = Dropout(dropout, seed=rngs[1])  # on the embeddings, as Zaremba et al.
        self.rnn = make_layer(cell, embedding_dim, hidden_size, num_layers=num_layers, dropout=dropout, dtype=dtype,
                              seed=rngs[2])
        self.drop_out = Dropout(dropout, seed=rngs[3])  # before the decoder
        self.decoder = Linear(hidden_size, vocab_size, dtype=dtype, seed=rngs[4])
        if tie_weights:
            if embedding_dim != hidden_size:
                raise ValueError(f"RecurrentLM: tie_weights needs embedding_dim == hidden_size, got "
                                 f"{embedding_dim} and {hidden_size}; set both to one size")
            self.decoder._share_param("weight", self.encoder, "weight")
            self.grad_buckets = ("rnn",)  # the decoder's gradient is complete only after the embedding's
        self.tie_weights = bool(tie_weights)
        self.output = LinearCrossEntropy(self.decoder)  # not a Module: no parameters, no state-dict keys
        if init_range is not None:
            if isinstance(init_range, bool) or not isinstance(init_range, (int, float)) or not init_range > 0:
                raise ValueError(f"RecurrentLM: init_range={init_range!r} is invalid; use a bound a > 0 such as 0.1")
            for p in self.params.values():  # every parameter, in state-dict order
                p[...] = rngs[5].uniform(-init_range, init_range, p.shape)  # in place: the layers hold p
        self._hidden_shape = None  # (T, B, H) of the last forward_loss

    def _below_decoder(self, ids, state):
        """ids (T, B) -> what the decoder reads (T, B, H), final state (``h_n`` or ``(h_n, c_n)``)."""
        e = self.drop_in.forward(self.encoder.forward(ids))  # (T, B, E)
        y, state = self.rnn.forward(e, state)  # (T, B, H)
        return self.drop_out.forward(y), state  # (T, B, H)

    def forward(self, ids, state=None):
        """ids (T, B) -> logits (T, B, V), final state (``h_n`` or ``(h_n, c_n)``)."""
        h, state = self._below_decoder(ids, state)  # (T, B, H)
        return self.decoder.forward(h), state  # (T, B, V)

    def backward(self, dlogits) -> None:
        """dlogits (T, B, V) -> parameter gradients. No gradient enters the final state and the
        one reaching the initial state is dropped: truncated BPTT ends at the segment's edges."""
        self._backward_below_decoder(self.decoder.backward(dlogits))  # (T, B, H)

    def forward_loss(self, ids, targets, state=None):
        """ids, targets (T, B) -> (L: mean nats per token, final state), the decoder fused with the
        softmax cross-entropy; each token's nats are then in ``self.output.nll`` (T B,), row
        ``t B + b``. In training mode ``backward_loss`` follows."""
        h, state = self._below_decoder(ids, state)  # (T, B, H)
        self._hidden_shape = h.shape
        loss = self.output.forward(h.reshape(-1, h.shape[-1]), np.asarray(targets).reshape(-1))  # rows (T B, H)
        return loss, state

    def backward_loss(self, dloss=1.0) -> None:
        """The gradients of ``forward_loss``'s L (times ``dloss``), truncated at the segment's
        edges as ``backward``'s."""
        dh = self.output.backward(dloss).reshape(self._hidden_shape)  # (T, B, H); dW, db into the decoder
        self._backward_below_decoder(dh)

    def _backward_below_decoder(self, dh) -> None:
        """dh (T, B, H), the gradient out of the decoder, down through the stack and the embedding."""
        self.gradients_final("decoder")  # with several processes its all-reduce starts now, beside the rest
        dy = self.drop_out.backward(dh)
        de, _dstate0 = self.rnn.backward(dy)  # (T, B, E); _dstate0 would flow into the previous segment
        self.gradients_final("rnn")
        self.encoder.backward(self.drop_in.backward(de))
