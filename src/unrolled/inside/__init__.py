"""Inside the model: gate-by-gate traces and gradient flow across time.

* :mod:`~unrolled.inside.record` -- ``record(layer, x)``: every gate's pre-activation and
  activation, the candidate, ``c`` and ``h`` of every layer and direction at every step (what
  a cell records, and the names a trace or a heatmap gives it, are the cell's own:
  ``layer.cell.gates``, ``.labels``, ``.panels``);
* :mod:`~unrolled.inside.trace` -- seed 003's worked step, seed 002's scalar walk-through and
  the user's own numbers as tables (``unrolled explain``);
* :mod:`~unrolled.inside.models` -- any registered task's trained model (``unrolled.load``) and an input for it;
* :mod:`~unrolled.inside.gradflow` -- ``||dh_t / dh_k||`` for every lag by the hand-derived
  backward, seed 004's bound ``(gamma * rho)^(t-k)`` for the tanh RNN, clipping on a real run
  (``unrolled gradflow``);
* :mod:`~unrolled.inside.plots` -- gate heatmaps and gradient-flow figures.
"""

from unrolled.inside.record import flatten, record

__all__ = ["flatten", "record"]
