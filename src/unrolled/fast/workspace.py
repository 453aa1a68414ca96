"""Work buffers a layer keeps from call to call.

A training step of a recurrent layer fills several arrays of T x B rows (the projected inputs,
the states, the gate cache, the gate gradients). Arrays that large come fresh from the
operating system at every call, and every page of them faults in on its first write; a layer
that reuses its own arrays skips that. ``python bench/workspace.py`` measures the difference.

A buffer is reused only when nothing outside the workspace holds it: an output that is a view
of it (``y`` is a view of the layer's states) keeps it, and the next call gets a new one. Each
slot's buffer starts at its own offset within a 4 KiB page, so that the rows a step touches in
different buffers do not share their address modulo 4 KiB (a precaution against "4K
aliasing", where the CPU stalls a load behind an unrelated store).
"""

from __future__ import annotations

import sys

import numpy as np

_PAGE, _LINE = 4096, 64


class Workspace:
    """``empty(slot, shape, dtype)``: an uninitialised array, the slot's buffer when it is free."""

    def __init__(self):
        self._raw: dict[int, np.ndarray] = {}
        self.kept: dict = {}  # results a layer keeps for its next call (schedule._recurrent_weights)

    def empty(self, slot: int, shape, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        n = int(np.prod(shape)) * dtype.itemsize
        raw = self._raw.get(slot)
        # references to a free buffer: the dict's, ``raw`` and getrefcount's argument
        if raw is None or raw.nbytes < n + _PAGE or sys.getrefcount(raw) > 3:
            raw = self._raw[slot] = np.empty(n + _PAGE, dtype=np.uint8)
        start = (slot * 9 * _LINE - raw.ctypes.data) % _PAGE
        return raw[start:start + n].view(dtype).reshape(shape)

    def __getstate__(self):  # copies and pickles of a layer do not carry its buffers
        return {"_raw": {}, "kept": {}}
