"""What a cell is: one step forward, its backward, and the facts the rest of the library reads.

A new cell is one subclass of ``Cell`` in one file, registered with ``register``; the recurrent
layer (``unrolled.nn.recurrent.Recurrent``) unrolls it, stacked and bidirectional, ``record``
records it, ``explain`` and the heatmaps label it, all from what it declares here:

* ``name``: its key in ``CELLS`` (the layer's ``mode``); ``family``: the user-facing name it
  goes by (``"rnn"`` for both Elman cells; default ``name``) and ``layer_options``: the layer
  keyword that picks it within its family (``{"nonlinearity": "relu"}``);
* ``G``: gates stacked in ``W_ih`` (G*H, D) and ``W_hh`` (G*H, H); ``states``: ``("h",)``, or
  ``("h", "c")`` for a cell that carries a cell state beside ``h``;
* ``forward(x, h_prev, [c_prev,] W_ih, W_hh, b_ih, b_hh) -> (h or (h, c), cache)`` and
  ``backward(dh, [dc,] cache) -> (dx, dh_prev, [dc_prev,] grads)``, ``grads`` a dict
  ``{"weight_ih", "weight_hh", "bias_ih", "bias_hh"}``: the reference, one step, plain NumPy;
* what a recording holds: ``step_values(cache)`` pulls the named values out of a step's cache
  (``h_prev`` always, ``c_prev`` with a cell state), ``pre_activations(x, values, params)``
  computes the pre-activations for every step at once; ``gates`` orders them for a trace,
  ``labels`` names each row of a trace, ``panels`` lists the heatmaps with their value ranges;
* optionally ``extra_params``: parameters beyond the four, one vector of ``rows * H`` per layer
  and direction, as ``(name, rows)`` (the peephole LSTM's ``("weight_peephole", 3)``); the
  layer adds them after the biases, ``forward`` takes them after ``b_hh`` in that order and
  ``backward``'s ``grads`` holds them under the same names (``param_names``);
* optionally the fast path: ``kernel``, the ``(loop code, flag)`` of its compiled step in
  ``unrolled.fast.kernels.loops`` (numba takes no functions as arguments, so the compiled loop
  branches on a code), with ``cache_width`` and ``shared_da``. A cell without one runs on the
  reference loop.
"""

from __future__ import annotations

SIGMOID, TANH, UNBOUNDED = (0.0, 1.0), (-1.0, 1.0), None  # a panel's value range
PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # every cell's four, in forward's order


class Cell:
    """The cell protocol (module docstring). Subclasses set the class attributes and define
    ``forward``, ``backward`` and ``step_values``."""

    name: str = ""
    family: str = ""  # "" means: the same as name
    layer_options: dict = {}
    G: int = 1
    states: tuple = ("h",)
    gates: tuple = ("h",)  # what a recording holds, in the order a trace prints it
    labels: dict = {}  # name -> a trace's row label; a name without one is printed as is
    panels: dict = {"h": ("h  hidden state", TANH)}  # name -> (heatmap title, value range)
    kernel: tuple | None = None  # (loop code, flag) in unrolled.fast.kernels.loops
    cache_width: int = 0  # the compiled step's cache per step, in units of H
    shared_da: bool = True  # the input and the recurrent pre-activations share one gradient
    extra_params: tuple = ()  # (name, rows): a (rows * H,) vector per layer and direction

    @property
    def param_names(self) -> tuple:
        """The names of one direction's parameters, in the order ``forward`` takes them."""
        return PARAM_NAMES + tuple(name for name, _ in self.extra_params) if self.extra_params else PARAM_NAMES

    @property
    def has_cell_state(self) -> bool:
        return len(self.states) > 1

    def forward(self, x, h_prev, *args):
        raise NotImplementedError

    def backward(self, dh, *args):
        raise NotImplementedError

    def step_values(self, cache) -> dict:
        """The values recorded from one step's cache, by name (each (B, H)); ``h_prev`` always."""
        raise NotImplementedError

    def pre_activations(self, x, values, params) -> dict:
        """The pre-activations of every step at once, by name (each (T, B, H)), from the input
        x (T, B, D), the recorded ``values`` and ``params = (W_ih, W_hh, b_ih, b_hh)``."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def __reduce__(self):  # copies and pickles of a layer refer to the registered cell
        return get_cell, (self.name,)


def projections(x, h_prev, params):
    """``(W_ih x + b_ih, W_hh h_prev + b_hh)`` for every step at once, x (T, B, D) and h_prev
    (T, B, H) -> two (T, B, G*H): what ``pre_activations`` splits by gate."""
    W_ih, W_hh, b_ih, b_hh = params
    ax = x @ W_ih.T  # (T, B, G*H)
    ah = h_prev @ W_hh.T  # (T, B, G*H)
    if b_ih is not None:
        ax, ah = ax + b_ih, ah + b_hh
    return ax, ah


CELLS: dict[str, Cell] = {}


def register(cell):
    """Add ``cell`` (an instance, or a ``Cell`` subclass made with no arguments) to ``CELLS``
    under its ``name``; returns what it was given, so it serves as a class decorator."""
    made = cell() if isinstance(cell, type) else cell
    if not isinstance(made, Cell) or not made.name:
        raise ValueError(f"register: {cell!r} is not a Cell with a name; subclass unrolled.nn.cells.Cell "
                         "and set name")
    if not made.family:
        made.family = made.name
    CELLS[made.name] = made
    return cell


def get_cell(name) -> Cell:
    """The registered cell called ``name``; ValueError naming the registered ones otherwise."""
    if isinstance(name, Cell):
        return name
    if name not in CELLS:
        raise ValueError(f"unknown cell {name!r}; registered cells: {', '.join(CELLS)}")
    return CELLS[name]
