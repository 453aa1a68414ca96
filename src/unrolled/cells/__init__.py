"""One step of each recurrent cell, forward and backward, in plain NumPy.

Each module holds two forms of the same equations:

* ``forward`` / ``backward``: the reference, one step with its own matrix products, written
  line by line from the seeds;
* ``step`` / ``step_backward``: only the gate math, for the fast schedule of
  ``unrolled.recurrent`` (input projection and weight gradients hoisted out of the time loop).

``CELLS[mode]`` bundles both with the facts the time loop needs (number of gates, cache width).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from . import gru, lstm, rnn


@dataclass(frozen=True)
class CellSpec:
    name: str
    G: int  # gates stacked in W_ih / W_hh: 4 for LSTM, 3 for GRU, 1 for RNN
    has_cell_state: bool  # LSTM carries c beside h
    cache_width: int  # fast-path cache per step, in units of H
    shared_da: bool  # input and recurrent pre-activations share one gradient
    forward: Callable
    backward: Callable
    step: Callable
    step_backward: Callable


def _rnn(nonlinearity: str) -> CellSpec:
    step, step_backward = rnn.make_step(nonlinearity)
    return CellSpec(
        f"rnn_{nonlinearity}", rnn.G, False, rnn.CACHE_WIDTH, rnn.SHARED_DA,
        partial(rnn.forward, nonlinearity=nonlinearity), rnn.backward, step, step_backward,
    )


CELLS = {
    "rnn_tanh": _rnn("tanh"),
    "rnn_relu": _rnn("relu"),
    "lstm": CellSpec("lstm", lstm.G, True, lstm.CACHE_WIDTH, lstm.SHARED_DA,
                     lstm.forward, lstm.backward, lstm.step, lstm.step_backward),
    "gru": CellSpec("gru", gru.G, False, gru.CACHE_WIDTH, gru.SHARED_DA,
                    gru.forward, gru.backward, gru.step, gru.step_backward),
}
