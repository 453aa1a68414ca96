"""Events in continuous time: what every temporal point process here reads.

A sequence is the events observed in one window ``[0, t_end)``: their times
``0 < t_1 < t_2 < ... < t_N <= t_end`` and, for a marked process, each event's type ``k_i``. The
inter-event times are ``tau_i = t_i - t_{i-1}`` with ``t_0 = 0`` (the window's start), and the
window's last stretch ``t_end - t_N`` holds no event: a model's likelihood includes the
probability of that silence, ``S(t_end - t_N)``.

Ties. A simple point process (every model here) puts two events at the same instant with
probability zero, so a time equal to the one before it cannot be scored (``tau = 0``). Where data
hold ties, ``drop_ties`` keeps the first event of each tie and drops the rest, and the loaders say
how many went.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class EventSequence:
    """One window of events: ``times`` (N,) float64 strictly increasing in ``(0, t_end]`` (a window
    that ends at its last event has no silence to score);
    ``marks`` (N,) int64 in ``[0, n_marks)`` or None for an unmarked process."""

    times: np.ndarray
    t_end: float
    marks: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "times", np.asarray(self.times, dtype=np.float64).reshape(-1))
        if self.marks is not None:
            object.__setattr__(self, "marks", np.asarray(self.marks, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "t_end", float(self.t_end))

    def __len__(self) -> int:
        return len(self.times)

    @property
    def taus(self) -> np.ndarray:
        """(N,) inter-event times, the first from the window's start."""
        return np.diff(self.times, prepend=0.0)

    def head(self, t: float) -> "EventSequence":
        """The events before time ``t`` (a history), in a window ending at ``t``."""
        keep = self.times < t
        return EventSequence(self.times[keep], t, None if self.marks is None else self.marks[keep])


@dataclass
class EventData:
    """A data set of event sequences and what describes it.

    ``mark_names``: the name of each mark index (None for an unmarked process); ``time_unit``:
    what one unit of time is ("hours"), as every density and NLL depends on it; ``notes``: what
    loading did (ties dropped, empty windows skipped), said on the console and kept in metrics."""

    sequences: list[EventSequence]
    name: str
    time_unit: str = "units"
    mark_names: tuple[str, ...] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_marks(self) -> int:
        return 0 if self.mark_names is None else len(self.mark_names)

    @property
    def n_events(self) -> int:
        return int(sum(len(s) for s in self.sequences))


def check_sequence(seq: EventSequence, n_marks: int = 0, where: str = "a sequence") -> None:
    """Raise ValueError naming the fix when ``seq`` is not a valid window of events."""
    t = seq.times
    if not np.isfinite(seq.t_end) or seq.t_end <= 0:
        raise ValueError(f"{where} has window end {seq.t_end}; it must be a positive finite time")
    if len(t) == 0:
        raise ValueError(f"{where} holds no events; drop empty sequences")
    if not np.isfinite(t).all():
        raise ValueError(f"{where} holds NaN or infinite times; drop or fix those events")
    if (t < 0).any():
        raise ValueError(f"{where} holds negative times; times are measured from the window's start at 0")
    if t[0] == 0:
        raise ValueError(f"{where} has an event at the window's start (time 0), a tie with the start; "
                         f"drop it or start the window earlier")
    steps = np.diff(t)
    if (steps < 0).any():
        raise ValueError(f"{where} has times out of order; sort each sequence's events by time")
    if (steps == 0).any():
        raise ValueError(f"{where} holds tied times (two events at one instant); drop the ties "
                         f"(unrolled.tasks.tpp.events.drop_ties keeps the first)")
    if t[-1] > seq.t_end:
        raise ValueError(f"{where} has an event at {t[-1]} after its window end {seq.t_end}")
    if n_marks:
        if seq.marks is None or len(seq.marks) != len(t):
            raise ValueError(f"{where} needs one mark per event")
        if (seq.marks < 0).any() or (seq.marks >= n_marks).any():
            raise ValueError(f"{where} holds marks outside 0..{n_marks - 1}")
    elif seq.marks is not None:
        raise ValueError(f"{where} holds marks but the data are unmarked")


def check_time_scale(seqs) -> None:
    """Refuse times whose gaps or windows floating point cannot score (densities of 1e300 per
    unit): inter-event times of at least 1e-9 units and windows of at most 1e9, naming the fix."""
    taus = np.concatenate([q.taus for q in seqs])
    span = max(q.t_end for q in seqs)
    if not (1e-9 <= taus.min() and span <= 1e9):
        raise ValueError(f"the times span {span:.3g} units with inter-event times down to {taus.min():.3g}: "
                         "outside what the densities hold in floating point (gaps >= 1e-9, windows <= 1e9); "
                         "give the times in another unit (e.g. hours, not nanoseconds)")


def drop_ties(times: np.ndarray, marks: np.ndarray | None = None):
    """Sorted ``times`` (and their marks) without the events that repeat the time before them;
    returns ``(times, marks, n_dropped)``."""
    times = np.asarray(times, dtype=np.float64)
    keep = np.ones(len(times), dtype=bool)
    keep[1:] = np.diff(times) != 0
    return times[keep], (None if marks is None else np.asarray(marks)[keep]), int((~keep).sum())


def split_sequences(n: int, seed: int, fractions=(0.6, 0.2, 0.2)):
    """Row numbers of train / validation / test: a seeded permutation of the ``n`` sequences cut
    by ``fractions`` (Shchur et al. 2020 use 60 / 20 / 20). Each part holds at least one."""
    if n < 3:
        raise ValueError(f"{n} sequence(s) cannot be split into train, validation and test; give at least 3")
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(fractions[1] * n)))
    n_test = max(1, int(round(fractions[2] * n)))
    n_train = n - n_val - n_test
    return order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]
