"""The many-to-one model of seed 000: a recurrent layer reads the window, a Linear layer maps the
last step's output to the next ``horizon`` values.

    y, _ = rnn(x)            x (T, B, D) -> y (T, B, H)     (dropout between stacked layers)
    out  = y[T-1] W^T + b    (B, H) -> (B, horizon)

Only the last step feeds the loss, so BPTT starts there: ``dy`` is zero at every other step.
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.module import Module
from unrolled.nn.layers import Linear
from unrolled.nn.recurrent import make_layer



class ManyToOne(Module):
    """``cell`` layer(s) over the window, then ``Linear(H, horizon)`` on the last step's output.

    Assigning ``rnn`` and ``head`` registers them as children, so parameters are named as a
    ``torch.nn`` module's would be (``rnn.weight_ih_l0``, ``head.weight``).
    """

    def __init__(self, cell, input_size, hidden_size, horizon, num_layers=1, dropout=0.0, *,
                 dtype=np.float32, seed=None):
        super().__init__()
        seeds = np.random.SeedSequence(seed).spawn(2)  # independent streams for the two parts
        self.rnn = make_layer(cell, input_size, hidden_size, num_layers=num_layers, dropout=dropout, dtype=dtype,
                               seed=np.random.default_rng(seeds[0]))
        self.head = Linear(hidden_size, horizon, dtype=dtype, seed=np.random.default_rng(seeds[1]))
        self._T = None

    def forward(self, x):
        """x (T, B, D) -> predictions (B, horizon)."""
        y, _ = self.rnn.forward(x)  # (T, B, H)
        self._T = y.shape[0]
        return self.head.forward(y[-1])  # (B, horizon)

    def backward(self, dout):
        """dout (B, horizon) -> dx (T, B, D); parameter gradients add into ``grads``."""
        dlast = self.head.backward(dout)  # (B, H)
        dy = np.zeros((self._T, *dlast.shape), dtype=dlast.dtype)  # (T, B, H)
        dy[-1] = dlast  # only the last step reached the loss
        dx, _ = self.rnn.backward(dy)
        return dx
