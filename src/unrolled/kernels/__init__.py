"""Compiled (numba) gate math for the fast schedule, one module per cell.

Every module has the same four functions, so the time loop in ``unrolled.unroll`` is one:

* ``forward_step(xw, hw, b, h_prev, c_prev, h, c, cache, m, flag)``: the gates of one step;
* ``backward_step(dh_rec, dh_carry, dy, dc, cache, h, h_prev, c_prev, m, da, da_h, flag)``;
* ``forward_loop`` / ``backward_loop``: the whole time loop compiled, with a small in-kernel
  matrix product, for shapes where per-step Python overhead would dominate.

``flag`` selects the RNN's nonlinearity (0 tanh, 1 relu); the gated cells ignore it. Compiled
code is cached on disk (numba ``cache=True``), so only the first process pays the compile time.
"""

from . import gru, lstm, rnn

KERNELS = {"lstm": (lstm, 0), "gru": (gru, 0), "rnn_tanh": (rnn, 0), "rnn_relu": (rnn, 1)}
