import numpy as np
import pytest

from unrolled.nn import recurrent
from unrolled.nn.cells import CELLS

# The cells every cell-level test runs on: each registered cell, and those with a compiled kernel
# (the schedule tests pin the kernel to the reference). A new cell file joins both by registering.
MODES = tuple(CELLS)
COMPILED = tuple(name for name, cell in CELLS.items() if cell.kernel is not None)


def make_layer(mode, D, H, **kw):
    """A float64 layer, seed 0 unless told, on cell ``mode`` (``"rnn_relu"``, ``"lstm"``, ...)."""
    kw.setdefault("dtype", np.float64)
    kw.setdefault("seed", 0)
    return recurrent.make_layer(mode, D, H, **kw)


def random_state(m, B, rng):
    """A random initial state of the right structure for layer ``m``."""
    shape = (m.num_layers * m.num_directions, B, m.hidden_size)
    h = rng.standard_normal(shape) * 0.5
    return (h, rng.standard_normal(shape) * 0.5) if m.cell.has_cell_state else h


def as_list(state):
    return list(state) if isinstance(state, tuple) else [state]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
