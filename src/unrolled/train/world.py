"""The processes a run is spread over, as the engine sees them: the seam for data parallelism.

A world is any object with::

    rank, size, is_main        this process's number, how many there are, whether it writes files
    allreduce_mean(array)      the mean of ``array`` over all processes (every process gets it)
    agree_any(flag) -> bool    True everywhere when any process passes True (the time budget)
    broadcast(obj)             the main process's ``obj`` everywhere (early stopping's loss)
    gather(obj) -> list        every process's ``obj`` in rank order on the main one (None elsewhere)

and, if it owns a Generator, ``state_dict()`` / ``load_state_dict(state)`` (JSON) so that
checkpoints carry it. ``SingleProcess`` is the default; an MPI world implements the same seven
names over a communicator. With ``size > 1`` the ``Trainer`` puts ``AverageGradients`` first
among its hooks (the one point where gradients are synchronised), writes checkpoints and log rows
from the main process only, and seeds its shuffle Generator with ``seed + rank``.
"""

from __future__ import annotations

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
    """The ``after_backward`` hook of data parallelism: each gradient becomes its mean over the
    processes, in place (the optimizer holds references to these arrays)."""

    def after_backward(self, trainer) -> None:
        for g in trainer.model.grads.values():
            g[...] = trainer.world.allreduce_mean(g)
