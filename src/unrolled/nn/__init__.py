"""The math: activations, one-step cells, the reference time loop, recurrent layers, the other
layers, losses and the ``Module`` base. Everything here reads like the seeds' equations; the
compiled schedule that the recurrent layers run by default lives in :mod:`unrolled.fast`."""
