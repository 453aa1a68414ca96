"""The processes a run is spread over, as the engine sees them: the seam for data parallelism.

A world is any object with::

    rank, size, is_main        this process's number, how many there are, whether it writes files
    allreduce_mean(array)      the mean of ``array`` over all processes (every process gets it)
    agree_any(flag) -> bool    True everywhere when any process passes True (the time budget)
    broadcast(obj)             the main process's ``obj`` everywhere (early stopping's loss)
    gather(obj) -> list        every process's ``obj`` in rank order on the main one (None elsewhere)

and, if it owns a Generator, ``state_dict()`` / ``load_state_dict(state)`` (JSON) so that
checkpoints carry it. ``SingleProcess`` is the default; an MPI world implements the same seven
names over a communicator (``unrolled.train.mpi.MPIWorld``). With ``size > 1`` the ``Trainer``
puts ``AverageGradients`` first among its hooks (the one point where gradients are synchronised),
writes checkpoints and log rows from the main process only, and shuffles with the same seed on
every process: the global batches and their order do not depend on how many processes run. Each
process takes its shard of a global batch of example indices (``np.array_split``, the
``Trainer`` does it), so the K shards together are the one-process batch.

``current()`` is the world of this program: an ``MPIWorld`` when it was started by ``mpiexec``
with more than one process (the environment says so, ``PMI_SIZE`` / ``OMPI_COMM_WORLD_SIZE``;
mpi4py is imported only then), else ``SingleProcess``.
"""

from __future__ import annotations

import os

import numpy as np

NAMES = ("rank", "size", "is_main", "allreduce_mean", "agree_any", "broadcast", "gather")


class SingleProcess:
    """One process, the main one: every collective is the identity."""

    rank = 0
    size = 1
    is_main = True

    def allreduce_mean(self, array):
        return array

    def agree_any(self, flag) -> bool:
        return bool(flag)

    def broadcast(self, obj):
        return obj

    def gather(self, obj) -> list:
        return [obj]


def check_world(world):
    """``world`` itself, or ValueError naming what it lacks."""
    missing = [name for name in NAMES if not hasattr(world, name)]
    if missing:
        raise ValueError(f"world={world!r:.60} lacks {', '.join(missing)}; pass an object with "
                         f"{', '.join(NAMES)} (unrolled.train.world), or None for one process")
    return world


class AverageGradients:
    """The ``after_backward`` hook of data parallelism: the gradient of the global batch on every
    process, from one ``allreduce_mean`` of one flat buffer (every gradient, then the loss).

    A process's gradient and loss are means over its shard of ``n_r`` of the batch's ``N``
    examples, so the batch's are ``sum_r (n_r / N) g_r``: each process scales its part by
    ``share = K n_r / N`` (``Trainer.share``; 1 for equal shards) before the mean over the K
    processes. The gradients are written back in place (the optimizer holds these arrays), and
    ``trainer.loss`` becomes the batch's loss, the same number everywhere (a NaN anywhere is a NaN
    everywhere: every process stops together)."""

    def __init__(self):
        self._buffer = None  # kept from step to step: reduced in place where the world can

    def after_backward(self, trainer) -> None:
        grads = list(trainer.model.grads.values())
        dtype = np.result_type(*grads) if grads else np.float64
        size = sum(g.size for g in grads) + 1
        if self._buffer is None or self._buffer.size != size or self._buffer.dtype != dtype:
            self._buffer = np.empty(size, dtype=dtype)
        buffer = self._buffer
        at = 0
        for g in grads:
            buffer[at:at + g.size] = g.ravel()
            at += g.size
        buffer[-1] = trainer.loss
        share = getattr(trainer, "share", 1.0)
        if share != 1.0:
            buffer *= share
        in_place = getattr(trainer.world, "allreduce_mean_in_place", None)
        if in_place is not None:
            in_place(buffer)  # MPI: one Allreduce on this very buffer, no copy
        else:
            buffer = trainer.world.allreduce_mean(buffer)
        at = 0
        for g in grads:
            g[...] = buffer[at:at + g.size].reshape(g.shape)
            at += g.size
        trainer.loss = float(buffer[-1])


def shard_rows(world, n: int) -> np.ndarray:
    """This process's rows of ``n`` (``np.array_split``'s near-equal consecutive shards): the part
    of a validation set it scores."""
    return np.array_split(np.arange(n), world.size)[world.rank]


def sum_over(world, values) -> np.ndarray:
    """The sums of ``values`` (numbers, float64) over every process: one collective."""
    values = np.asarray(values, dtype=np.float64)
    return values if world.size == 1 else world.allreduce_mean(values) * world.size


_CURRENT = None
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


def launched_size() -> int:
    """How many processes the launcher started (1 under a plain ``python``)."""
    for name in SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def current():
    """This program's world (module docstring), made once."""
    global _CURRENT
    if _CURRENT is None:
        if launched_size() > 1:
            from unrolled.train.mpi import MPIWorld

            _CURRENT = MPIWorld()
        else:
            _CURRENT = SingleProcess()
    return _CURRENT
