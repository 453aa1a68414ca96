"""Compiled (numba) gate math for the fast schedule, one module per cell.

Every cell module has the same two functions, so the time loop in ``unrolled.fast.schedule`` is one:

* ``forward_step(xw, hw, b, h_prev, c_prev, h, c, cache, flag, lo, hi)``: the gates of one step;
* ``backward_step(dh_rec, dh_carry, dy, dc, cache, h, h_prev, c_prev, da, da_h, flag, lo, hi)``,

each over batch rows lo:hi, all of them still running (the loop keeps the state of the others).

``loops`` runs the whole time loop compiled, each step's recurrent product taken by the
kernels' own small product or by the register-tiled product on packed weights (``packed``).
A cell declares its compiled step as ``kernel = (loop code, flag)`` (``unrolled.nn.cells``):
the code is one of ``loops.LSTM``, ``loops.GRU``, ``loops.RNN``; ``flag`` selects the RNN's
nonlinearity (0 tanh, 1 relu), the gated cells ignore it. Compiled code is cached on disk
(numba ``cache=True``), so only the first process pays the compile time.
"""
