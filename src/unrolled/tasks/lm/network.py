"""The recurrent language model's network: seed 004 section 4's ``P(x_t | x_1..x_{t-1})`` from a
hidden state, named as PyTorch's word_language_model names it (``encoder``, ``rnn``,
``decoder``), so its state dict moves to a ``torch.nn`` model unchanged::

    e      = dropout(encoder[ids])          ids (T, B) -> (T, B, E)
    y, s_T = rnn(e, s_0)                     (T, B, E) -> (T, B, H); dropout between layers
    o      = decoder(dropout(y))             (T, B, H) -> (T, B, V) logits
    L      = mean_t,b -log softmax(o)[x_{t+1}]     seed 004 eq. 5, averaged
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.layers import Dropout, Embedding, Linear
from unrolled.nn.module import Module
from unrolled.nn.recurrent import make_layer



class RecurrentLM(Module):
    """Embedding -> dropout -> ``cell`` stack -> dropout -> Linear; ids (T, B) -> logits (T, B, V)."""

    grad_buckets = ("decoder", "rnn")  # the order backward completes them (Module.gradients_final)

    def __init__(self, cell, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0, *,
                 dtype=np.float32, seed=None):
        super().__init__()
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
        self.encoder = Embedding(vocab_size, embedding_dim, dtype=dtype, seed=rngs[0])
        self.drop_in = Dropout(dropout, seed=rngs[1])  # on the embeddings, as Zaremba et al.
        self.rnn = make_layer(cell, embedding_dim, hidden_size, num_layers=num_layers, dropout=dropout, dtype=dtype,
                              seed=rngs[2])
        self.drop_out = Dropout(dropout, seed=rngs[3])  # before the decoder
        self.decoder = Linear(hidden_size, vocab_size, dtype=dtype, seed=rngs[4])

    def forward(self, ids, state=None):
        """ids (T, B) -> logits (T, B, V), final state (``h_n`` or ``(h_n, c_n)``)."""
        e = self.drop_in.forward(self.encoder.forward(ids))  # (T, B, E)
        y, state = self.rnn.forward(e, state)  # (T, B, H)
        return self.decoder.forward(self.drop_out.forward(y)), state  # (T, B, V)

    def backward(self, dlogits) -> None:
        """dlogits (T, B, V) -> parameter gradients. No gradient enters the final state and the
        one reaching the initial state is dropped: truncated BPTT ends at the segment's edges."""
        dy = self.decoder.backward(dlogits)  # (T, B, H)
        self.gradients_final("decoder")  # with several processes its all-reduce starts now, beside the rest
        dy = self.drop_out.backward(dy)
        de, _dstate0 = self.rnn.backward(dy)  # (T, B, E); _dstate0 would flow into the previous segment
        self.gradients_final("rnn")
        self.encoder.backward(self.drop_in.backward(de))
