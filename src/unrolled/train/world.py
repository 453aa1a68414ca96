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
import time

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


def _distinct(grads: dict) -> list[str]:
    """The keys of ``grads`` but the second of two naming one array (a tied weight): it is sent once."""
    first = {}
    return [k for k, g in grads.items() if first.setdefault(id(g), k) == k]


class AverageGradients:
    """The ``after_backward`` hook of data parallelism: the gradient of the global batch on every
    process, from ``allreduce_mean`` of one flat buffer (every gradient, then the loss).

    A process's gradient and loss are means over its shard of ``n_r`` of the batch's ``N``
    examples, so the batch's are ``sum_r (n_r / N) g_r``: each process scales its part by
    ``share = K n_r / N`` (``Trainer.share``; 1 for equal shards) before the mean over the K
    processes. The gradients are written back in place (the optimizer holds these arrays), and
    ``trainer.loss`` becomes the batch's loss, the same number everywhere (a NaN anywhere is a NaN
    everywhere: every process stops together).

    ``overlap=True`` (with a world that has ``allreduce_mean_in_place_async``) sends part of the
    buffer while the backward still runs: the buffer is laid out as the model's ``grad_buckets``
    (children whose backward ends early, e.g. the language model's decoder, then its recurrent
    stack), then the rest and the loss. When the backward calls ``gradients_final(child)`` for
    the next bucket in that order, its slice is reduced on the world's communication thread; the
    rest goes at ``after_backward``, which then waits for all of them. Every process sends the
    same slices in the same order (one that skipped the backward, an empty shard, sends them all
    at the end), so the collectives match. ``wait_seconds`` is the time the step waited for them.
    """

    def __init__(self, overlap: bool = False):
        self.overlap = overlap
        self._buffer = None   # kept from step to step: reduced in place where the world can
        self._plan = None     # (bucket names, the keys of each slice (the rest last), where each slice starts)
        self._sent = []       # handles of the slices sent during this step's backward
        self.wait_seconds = 0.0  # how long after_backward waited for the reductions (all steps)

    def _make_plan(self, model, grads, world):
        names = tuple(getattr(model, "grad_buckets", ()))
        if not (self.overlap and hasattr(world, "allreduce_mean_in_place_async")):
            names = ()
        keys = _distinct(grads)
        groups = [[k for k in keys if k.startswith(name + ".")] for name in names]
        early = {k for g in groups for k in g}
        rest = [k for k in keys if k not in early]
        tied = any(np.shares_memory(grads[a], grads[b]) for a in early for b in rest)
        if tied or not all(groups):  # a shared weight is complete only at the end: no early slices
            names, groups, rest = (), [], keys
        groups.append(rest)
        starts = np.cumsum([0] + [sum(grads[k].size for k in g) for g in groups]).tolist()
        return names, groups, starts

    def before_step(self, trainer) -> None:
        self._sent = []
        model = trainer.model
        if not (self.overlap and model.grad_buckets):
            return
        self._grads = model.grads
        if self._plan is None:
            self._plan = self._make_plan(model, self._grads, trainer.world)
        if self._plan[0]:
            self._trainer = trainer
            model.listen_gradients(self._final)

    def _send(self, j, trainer) -> None:
        """Copy slice ``j``'s gradients into the buffer, weighed by the share, and start its reduction."""
        names, groups, starts = self._plan
        grads = self._grads
        dtype = np.result_type(*grads.values()) if grads else np.float64
        if self._buffer is None or self._buffer.size != starts[-1] + 1 or self._buffer.dtype != dtype:
            self._buffer = np.empty(starts[-1] + 1, dtype=dtype)  # + 1: the loss, last
        at, end = starts[j], starts[j + 1]
        for k in groups[j]:
            g = grads[k]
            self._buffer[at:at + g.size] = g.ravel()
            at += g.size
        last = j == len(groups) - 1
        if last:
            self._buffer[-1] = trainer.loss
            end += 1
        part = self._buffer[starts[j]:end]
        share = getattr(trainer, "share", 1.0)
        if share != 1.0:
            part *= share
        world = trainer.world
        if names:
            self._sent.append(world.allreduce_mean_in_place_async(part))
        elif hasattr(world, "allreduce_mean_in_place"):
            world.allreduce_mean_in_place(part)  # MPI: one Allreduce on this very buffer, no copy
        else:
            part[...] = world.allreduce_mean(part)

    def _final(self, child: str) -> None:
        names = self._plan[0]
        j = len(self._sent)
        if child in names[:j]:
            raise RuntimeError(f"gradients_final({child!r}) came twice in one backward: its gradient was "
                               "already sent; a network says it once per child, after the child's backward")
        if j < len(names) and child == names[j]:  # the next slice in the agreed order: send it now
            self._send(j, self._trainer)

    def after_backward(self, trainer) -> None:
        trainer.model.listen_gradients(None)
        self._grads = grads = trainer.model.grads
        if self._plan is None or sum(map(len, self._plan[1])) != len(_distinct(grads)):
            self._plan = self._make_plan(trainer.model, grads, trainer.world)
        names, groups, starts = self._plan
        t0 = time.perf_counter()
        for j in range(len(self._sent), len(groups)):  # the rest, and any slice the backward did not send
            self._send(j, trainer)
        for handle in self._sent:
            handle.wait()
        self._sent = []
        self.wait_seconds += time.perf_counter() - t0
        buffer, at = self._buffer, 0
        for group in groups:
            for k in group:
                g = grads[k]
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
