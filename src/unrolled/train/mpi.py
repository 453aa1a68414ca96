"""The world of ``mpiexec -n K unrolled ...``: the seven names of ``unrolled.train.world`` over
MPI's ``COMM_WORLD`` (mpi4py, the extra ``unrolled[mpi]``; ``pip install mpi4py mpich`` brings
``mpiexec`` and the library). Imported only when the launcher started more than one process.

``allreduce_mean`` is one ``Allreduce`` (sum, in place) of a contiguous buffer divided by K: the
engine hands it one flat buffer per step (``AverageGradients``), never one message per
parameter. The decisions are collectives too: ``agree_any`` a logical or, ``broadcast`` from
the main process (rank 0), ``gather`` to it.

If one process dies, MPI's launcher ends the others (MPICH's Hydra: "BAD TERMINATION ... KILLED
BY SIGNAL"), so none waits forever in a collective.
"""

from __future__ import annotations

import os
import time

import numpy as np


class MPIWorld:
    """Process ``rank`` of ``size`` on ``comm`` (default ``MPI.COMM_WORLD``); rank 0 is the main one."""

    def __init__(self, comm=None):
        try:
            from mpi4py import MPI
        except ImportError:
            raise ValueError('this program was started by mpiexec with several processes, but mpi4py is not '
                             'installed: pip install "unrolled[mpi]"') from None
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.is_main = self.rank == 0
        self.allreduce_seconds, self.allreduce_calls = 0.0, 0  # what data parallelism costs (bench/)
        # UNROLLED_MPI_OVERLAP=1: reduce gradients on a communication thread while the backward runs
        self.overlap = os.environ.get("UNROLLED_MPI_OVERLAP", "0") not in ("", "0")
        self._sender = None  # that thread, and its own communicator, made on first use
        self.async_calls = 0  # reductions started on it
        self.waited_seconds = 0.0  # what the training waited for reductions: the Allreduce's cost not hidden

    def allreduce_mean(self, array):
        t0 = time.perf_counter()
        buffer = np.ascontiguousarray(array).copy()
        self.comm.Allreduce(self._MPI.IN_PLACE, buffer, op=self._MPI.SUM)
        buffer /= self.size
        self.allreduce_seconds += time.perf_counter() - t0
        self.allreduce_calls += 1
        return buffer

    def allreduce_mean_in_place(self, buffer: np.ndarray) -> None:
        """``buffer`` (contiguous) becomes its mean over the processes: one in-place Allreduce."""
        t0 = time.perf_counter()
        self.comm.Allreduce(self._MPI.IN_PLACE, buffer, op=self._MPI.SUM)
        buffer /= self.size
        seconds = time.perf_counter() - t0
        self.allreduce_seconds += seconds
        self.waited_seconds += seconds
        self.allreduce_calls += 1

    def allreduce_mean_in_place_async(self, buffer: np.ndarray):
        """Start ``allreduce_mean_in_place(buffer)`` on the communication thread and return at
        once; the returned handle's ``wait()`` ends when ``buffer`` holds the mean. The thread has
        a communicator of its own (a duplicate), so its collectives never interleave with the
        main thread's, and it runs them one at a time, in the order given -- the same on every
        process. MPI must allow threads (mpi4py asks for ``THREAD_MULTIPLE``); where it does not,
        the reduction runs here and now."""
        if self._MPI.Query_thread() < self._MPI.THREAD_MULTIPLE:
            self.allreduce_mean_in_place(buffer)
            return _Done()
        if self._sender is None:
            from concurrent.futures import ThreadPoolExecutor

            self._sender = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="unrolled-mpi"), self.comm.Dup())
        pool, comm = self._sender

        def reduce():
            t0 = time.perf_counter()
            comm.Allreduce(self._MPI.IN_PLACE, buffer, op=self._MPI.SUM)
            buffer[...] /= self.size
            self.allreduce_seconds += time.perf_counter() - t0
            self.allreduce_calls += 1

        self.async_calls += 1
        future = pool.submit(reduce)
        return _Waiting(future, self)

    def agree_any(self, flag) -> bool:
        return bool(self.comm.allreduce(bool(flag), op=self._MPI.LOR))

    def broadcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def gather(self, obj) -> list:
        return self.comm.gather(obj, root=0)


class _Done:
    def wait(self) -> None:
        pass


class _Waiting:
    def __init__(self, future, world):
        self._future, self._world = future, world

    def wait(self) -> None:
        t0 = time.perf_counter()
        self._future.result()  # re-raises what the reduction raised
        self._world.waited_seconds += time.perf_counter() - t0
