"""Batches: what a task hands the engine (``index_batches``), and how the engine reads it
(``BatchStream``: passes back to back, with a position a checkpoint can hold)."""

from __future__ import annotations

import numpy as np


def index_batches(n: int, batch_size: int):
    """``batches(rng)`` for ``n`` examples: index arrays of ``batch_size`` (the last may be
    shorter), in a fresh seeded permutation every epoch, or in order when ``rng`` is None."""
    if n < 1:
        raise ValueError(f"index_batches: n={n} examples; there is nothing to train on")

    def batches(rng):
        order = np.arange(n) if rng is None else rng.permutation(n)  # (n,)
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]

    return batches


END = object()  # what ``BatchStream.next`` returns at the end of a pass it may not wrap


class BatchStream:
    """Passes over a task's ``batches(rng)``, one after another.

    A pass starts with a call ``batches(rng)`` (``rng`` the engine's Generator when shuffling,
    else None) and is read one batch at a time. Its position is the Generator's state when the
    pass began and the number of batches taken; ``load_state_dict`` of that reopens the pass
    there -- the same call from the same state, the batches taken skipped unseen -- so a run may
    be checkpointed, and resumed, mid-pass. ``batches`` must give the same pass for the same state.
    """

    def __init__(self, rng: np.random.Generator, shuffle: bool) -> None:
        self.rng, self.shuffle = rng, shuffle
        self._batches = None        # the open pass (an iterator), or None
        self._start = None          # self.rng's state when it began
        self.taken = 0              # batches read from it
        self.length = None          # its len(), where the task's batches have one
        self._reopen = None         # a checkpoint's position, reopened at the next read

    def new_pass(self, batches) -> None:
        self._start = self.rng.bit_generator.state
        data = batches(self.rng if self.shuffle else None)
        self.length = len(data) if hasattr(data, "__len__") else None
        self._batches = iter(data)
        self.taken, self._reopen = 0, None

    def next(self, batches, wrap: bool = True):
        """The next batch; at the end of the pass a new one (``wrap``) or ``END``."""
        if self._batches is None:
            self._open(batches)
        batch = next(self._batches, END)
        if batch is END and wrap:
            self.new_pass(batches)
            batch = next(self._batches, END)
            if batch is END:
                raise ValueError("batches(rng) gave no batches; there is nothing to train on")
        self.taken += batch is not END
        return batch

    def _open(self, batches) -> None:
        if self._reopen is None:
            self.new_pass(batches)
            return
        self.rng.bit_generator.state = self._reopen["rng"]  # as the pass began
        taken = int(self._reopen["taken"])
        self.new_pass(batches)
        for _ in range(taken):
            if next(self._batches, END) is END:
                raise ValueError(f"the checkpoint is {taken} batches into a pass, but batches(rng) now gives "
                                 "fewer; resume with the data the run was started on")
        self.taken = taken

    def state_dict(self) -> dict | None:
        if self._reopen is not None:
            return dict(self._reopen)
        return None if self._batches is None else {"rng": self._start, "taken": self.taken}

    def load_state_dict(self, state: dict | None) -> None:
        self._batches, self._reopen = None, None if state is None else dict(state)
