"""The recurrent cells, one file each, in the registry ``CELLS`` (name -> ``Cell``).

Each file holds one ``Cell`` subclass (``unrolled.nn.cells.base`` describes the protocol): its
equations in its docstring, one step ``forward`` / ``backward`` written line by line from the
seeds, matrix products included (the reference), and the facts the time loop, the fast path and
the recordings read. The fast schedule of ``unrolled.fast.schedule`` runs the same gate math
compiled (``unrolled.fast.kernels``) with the products hoisted out of the time loop; tests pin
the two.
"""

from unrolled.nn.cells.base import CELLS, Cell, get_cell, register
from unrolled.nn.cells import gru, lstm, rnn  # noqa: F401  (each registers its cell)

__all__ = ["CELLS", "Cell", "get_cell", "register"]
