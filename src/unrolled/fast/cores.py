"""How many cores other programs leave us, measured now: the thread policy's input.

A product split over two threads ends when its slower half does. On a machine where another
program keeps a core busy, one of our threads waits for the scheduler to give it that core, at
every product, and a step of small products takes tens of times longer than on one thread
(``bench/bench_rnn.py --loaded``). So before splitting, ``unrolled.fast.threads`` asks how many
cores are free:

    others = (busy CPU time of the machine - CPU time of this process) / wall time
    free   = cores - others

over the last ``WINDOW`` seconds or more, from the kernel's counters (``/proc/stat``'s busy
jiffies, ``getrusage`` for this process, every thread of it). Reading them costs microseconds,
and they are read at most once per ``WINDOW``. Before the first window has passed the 1-minute
load average stands in. Where the counters do not exist (not Linux) every core counts as free.
"""

from __future__ import annotations

import os
import resource
import time

WINDOW = 0.25  # seconds: the shortest span measured (the kernel counts busy time in 10 ms ticks)
CORES = os.cpu_count() or 1
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy() -> float | None:
    """Seconds of CPU time every core of the machine has spent busy since boot (None: unknown)."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()[1:9]  # user nice system idle iowait irq softirq steal
    except OSError:
        return None
    if len(fields) < 8:
        return None
    ticks = [int(v) for v in fields]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICK  # all but idle and iowait


def _own_busy() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sample():
    busy = _machine_busy()
    return None if busy is None else (time.monotonic(), busy, _own_busy())


_last = _sample()
_free = None if _last is None else max(0.0, CORES - os.getloadavg()[0])


def free() -> float:
    """Cores not used by other programs over the last ``WINDOW`` seconds or more (0 to CORES)."""
    global _last, _free
    if _last is None:
        return float(CORES)
    now = time.monotonic()
    if now - _last[0] >= WINDOW:
        sample = _sample()
        others = ((sample[1] - _last[1]) - (sample[2] - _last[2])) / (sample[0] - _last[0])
        _free = min(float(CORES), max(0.0, CORES - others))
        _last = sample
    return _free
