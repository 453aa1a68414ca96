"""The fast path: the compiled time loop (``schedule``), its numba kernels (``kernels``), our
two threads (``threads``) and the reusable work buffers (``workspace``). Tests pin every
schedule here to the reference loop of :mod:`unrolled.nn.loop`."""
