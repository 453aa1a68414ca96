"""One step of each recurrent cell, forward and backward, in plain NumPy: the reference.

Each module's ``forward`` / ``backward`` are written line by line from the seeds, matrix
products included. The fast schedule of ``unrolled.fast.schedule`` runs the same gate math compiled
(``unrolled.fast.kernels``) with the products hoisted out of the time loop; tests pin the two.

``CELLS[mode]`` bundles a cell with the facts the time loop needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from unrolled.nn.cells import gru, lstm, rnn


@dataclass(frozen=True)
class CellSpec:
    name: str
    G: int  # gates stacked in W_ih / W_hh: 4 for LSTM, 3 for GRU, 1 for RNN
    has_cell_state: bool  # LSTM carries c beside h
    cache_width: int  # fast-path cache per step, in units of H
    shared_da: bool  # input and recurrent pre-activations share one gradient
    forward: Callable
    backward: Callable


CELLS = {
    "rnn_tanh": CellSpec("rnn_tanh", rnn.G, False, rnn.CACHE_WIDTH, rnn.SHARED_DA,
                         partial(rnn.forward, nonlinearity="tanh"), rnn.backward),
    "rnn_relu": CellSpec("rnn_relu", rnn.G, False, rnn.CACHE_WIDTH, rnn.SHARED_DA,
                         partial(rnn.forward, nonlinearity="relu"), rnn.backward),
    "lstm": CellSpec("lstm", lstm.G, True, lstm.CACHE_WIDTH, lstm.SHARED_DA, lstm.forward, lstm.backward),
    "gru": CellSpec("gru", gru.G, False, gru.CACHE_WIDTH, gru.SHARED_DA, gru.forward, gru.backward),
}
