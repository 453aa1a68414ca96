"""Real event data for the temporal point processes: two data sets by name, and any CSV.

* ``commits()``: the commit times of one GitHub user, December 2012 to April 2017 (bokeh's
  sample data, public domain; bundled as ``data/commits.txt.gz``, the source file byte for byte).
  Unmarked.
* ``earthquakes()``: the Swiss Seismological Service's 2023 catalogue shipped with the package
  ``seismostats==1.0.1``. That package is AGPL-3.0, so the file is not copied here: it is read
  from the installed distribution (the extra ``unrolled[earthquakes]``), found through
  ``importlib.metadata`` without importing seismostats (whose import pulls in cartopy and
  geopandas). Marked by event type.
* ``read_event_csv(path, time_col, ...)``: a user's own events.
* ``load(name)``: ``"commits"`` or ``"earthquakes"``, for the command line.

Why weeks. A point process here is scored on windows ``[0, t_end)`` (``events.py``); one long
record of four years would be a single sequence. Both named data sets are cut into calendar weeks,
Monday 00:00 to the next Monday 00:00 **in UTC** (a commit's local week would shift with its
author's offset, so two commits an hour apart could fall in different "weeks" out of order), with
time in hours from the week's start and ``t_end = 168``. A week is one sequence; the weekly and
daily rhythm is then what a model can learn. Weeks with no events are skipped (the models here
need at least one event per window). Only whole weeks inside the record are kept: a week cut by
the record's start or end would count hours nobody observed as silence (the catalogue covers
2023-01-01 to 2024-01-01, so its Sunday, January 1st, goes; the commits' record is known only
from its first to its last commit, so its first and last weeks go). ``EventData.notes`` says how
many events that drops.

Ties. Two events at one instant cannot be scored (``events.py``), and an event at exactly Monday
00:00 would tie with the window's start: ``events.drop_ties`` keeps the first of each tie, events
at a window's start are dropped, and ``EventData.notes`` says how many went.
"""

from __future__ import annotations

import gzip
import pathlib
import warnings

import numpy as np
import pandas as pd

from unrolled.tasks.installed import installed_file
from unrolled.tasks.tpp.events import EventData, EventSequence, check_sequence, drop_ties

DATA = pathlib.Path(__file__).parent / "data"
NAMES = ("commits", "earthquakes")

WEEK_HOURS = 168.0
NS_PER_HOUR = 3_600 * 10**9
_NS_PER_WEEK = 168 * NS_PER_HOUR
# The first Monday 00:00 UTC of the Unix epoch (1970-01-01 was a Thursday): every week starts a
# whole number of weeks from it.
_MONDAY_NS = int(np.datetime64("1970-01-05T00:00:00", "ns").astype(np.int64))

# RFC 2822 dates as git writes them: "Sat, 22 Apr 2017 15:11:58 -0500".
_COMMIT_FORMAT = "%a, %d %b %Y %H:%M:%S %z"

_SED_CSV = "seismostats/analysis/tests/data/catalog_sed.csv"
_EARTHQUAKES_FIX = 'pip install "unrolled[earthquakes]"'


def load(name: str) -> EventData:
    """The named data set: ``"commits"`` or ``"earthquakes"``."""
    loaders = {"commits": commits, "earthquakes": earthquakes}
    if name not in loaders:
        raise ValueError(f"unknown event data {name!r}; choose one of: {', '.join(NAMES)}")
    return loaders[name]()


# --- the named data sets ------------------------------------------------------------------------


def commits() -> EventData:
    """One GitHub user's commits, one sequence per UTC week (Monday 00:00 UTC), hours from the
    week's start, ``t_end = 168``; tied commit times dropped (the first kept), empty weeks skipped.

    The file holds one commit per line with the committer's UTC offset
    (``Sat, 22 Apr 2017 15:11:58 -0500``); each is read as the instant it names."""
    with gzip.open(DATA / "commits.txt.gz", "rt", encoding="ascii") as f:
        lines = [line.strip() for line in f if line.strip()]
    instants = pd.to_datetime(lines, format=_COMMIT_FORMAT, utc=True)
    ns = _ns(instants)
    sequences, notes = _by_week(ns, None, what="commit", record=(ns.min(), ns.max()))
    return _checked(EventData(sequences, "commits", time_unit="hours", notes=notes))


def earthquakes() -> EventData:
    """The Swiss Seismological Service's 2023 catalogue (1,924 events: earthquakes, quarry blasts,
    landslides, sonic booms, explosions), one sequence per UTC week (Monday 00:00 UTC), hours from
    the week's start, ``t_end = 168``, marked by ``event_type`` (names sorted -> indices); ties
    dropped (the first kept), empty weeks skipped.

    The catalogue's times carry no offset; they are UTC, as the service publishes them."""
    frame = pd.read_csv(_catalogue_path())
    instants = pd.to_datetime(frame["time"], format="ISO8601", utc=True)
    mark_names = tuple(sorted(frame["event_type"].unique()))
    marks = frame["event_type"].map({name: k for k, name in enumerate(mark_names)}).to_numpy(np.int64)
    record = (_ns(pd.to_datetime(["2023-01-01"], utc=True))[0], _ns(pd.to_datetime(["2024-01-01"], utc=True))[0])
    sequences, notes = _by_week(_ns(instants), marks, what="event", record=record)
    data = EventData(sequences, "earthquakes", time_unit="hours", mark_names=mark_names, notes=notes)
    return _checked(data)


def _catalogue_path() -> pathlib.Path:
    """Where the installed seismostats keeps ``catalog_sed.csv``, found from its record of files."""
    return installed_file("seismostats", "1.0.1", _SED_CSV, "the earthquake catalogue", _EARTHQUAKES_FIX)


def _ns(instants) -> np.ndarray:
    """(N,) int64 nanoseconds since the epoch, UTC, whatever resolution pandas parsed at."""
    return pd.DatetimeIndex(instants).as_unit("ns").asi8


def _by_week(ns: np.ndarray, marks: np.ndarray | None, what: str, record):
    """Cut instants (and their marks) into UTC weeks, keeping the weeks wholly inside ``record``
    = (first, last) observed instant in ns; returns ``(sequences, notes)``."""
    order = np.argsort(ns, kind="stable")  # stable: the first of a tie is the first in the file
    ns = ns[order]
    marks = None if marks is None else marks[order]
    week = (ns - _MONDAY_NS) // _NS_PER_WEEK  # floor division: right before 1970 too
    start = _MONDAY_NS + week * _NS_PER_WEEK
    whole = (start >= record[0]) & (start + _NS_PER_WEEK <= record[1])
    n_partial, n_partial_weeks = int((~whole).sum()), len(np.unique(week[~whole]))
    ns, week = ns[whole], week[whole]
    marks = None if marks is None else marks[whole]
    # Integer nanoseconds until here, so that the hours are exact to well below a nanosecond.
    hours = (ns - (_MONDAY_NS + week * _NS_PER_WEEK)) / NS_PER_HOUR  # (N,) in [0, 168)

    sequences, n_ties, n_at_start = [], 0, 0
    for rows in np.split(np.arange(len(ns)), np.flatnonzero(np.diff(week)) + 1):
        times, kept_marks, n = drop_ties(hours[rows], None if marks is None else marks[rows])
        n_ties += n
        after_start = times > 0  # an event at Monday 00:00 ties with the window's start
        n_at_start += int((~after_start).sum())
        if after_start.any():
            sequences.append(EventSequence(times[after_start], WEEK_HOURS,
                                           None if kept_marks is None else kept_marks[after_start]))

    n_weeks = int(week[-1] - week[0] + 1) if len(ns) else 0
    notes = []
    if n_partial:
        notes.append(f"{_count(n_partial, what)} in the {_count(n_partial_weeks, 'week')} the record covers only in "
                     f"part dropped (whole UTC weeks only)")
    if n_ties:
        notes.append(f"{_count(n_ties, f'tied {what} time')} dropped (the first of each tie kept)")
    if n_at_start:
        notes.append(f"{_count(n_at_start, what)} at exactly Monday 00:00 UTC, a week's start, dropped")
    if n_weeks - len(sequences):
        notes.append(f"{_count(n_weeks - len(sequences), 'empty week')} skipped "
                     f"(of {n_weeks} from the first event's to the last's)")
    return sequences, notes


# --- any CSV ------------------------------------------------------------------------------------


def read_event_csv(path, time_col: str, seq_col: str | None = None,
                   mark_col: str | None = None) -> EventData:
    """Event sequences from a CSV with a header row: one row per event.

    ``time_col``: numbers (kept in their own unit, ``time_unit`` "units") or timestamps that
    ``pandas.to_datetime`` reads (turned into hours, ``time_unit`` "hours"; timestamps with an
    offset are the instants they name, those without are taken as they are). ``seq_col``: which
    sequence each row belongs to (without it, all rows are one sequence); the sequences keep the
    order in which they first appear. ``mark_col``: each event's type; its distinct values,
    sorted, become mark indices 0, 1, ... (``EventData.mark_names``).

    The window of a sequence: its **first event is the origin** (time 0; it is the start, not an
    event to score, so it is dropped from the times) and the window **ends at its last event**
    (``t_end`` = the last time). A sequence therefore needs at least 2 events. Within a sequence
    the rows must be in time order: they are not sorted here, since rows out of order usually mean
    a mistake worth seeing. Events at the same time as the one before them (ties, including ties
    with the origin) are dropped, the first of each kept, and ``notes`` says how many.

    Errors (``ValueError``, one line, naming the fix) give "data row" numbers counted from 1 at
    the first row under the header. The file is only read.
    """
    path = pathlib.Path(path)
    frame = _read_csv(path)
    for role, col in (("time_col", time_col), ("seq_col", seq_col), ("mark_col", mark_col)):
        if col is not None and col not in frame.columns:
            raise ValueError(f"{path} has no column {col!r} (given as {role}); its columns are: "
                             f"{', '.join(map(str, frame.columns))}")
    values, per_unit, time_unit = _read_times(frame[time_col], path, time_col)
    marks, mark_names = _read_marks(frame, path, mark_col)
    groups = _read_groups(frame, path, seq_col)

    sequences, n_ties = [], 0
    id_like = [c for c in frame.columns if str(c).lower() in ("seq", "sequence", "seq_id", "sequence_id", "id", "series")]
    for seq_id, rows in groups:
        where = "the sequence" if seq_col is None else f"sequence {str(seq_id)!r}"
        _check_order(values[rows], rows, frame[time_col], path, where,
                     hint=f" (or, if column {id_like[0]!r} names the sequences, pass --seq-col {id_like[0]})"
                     if seq_col is None and id_like else "")
        if len(rows) < 2:
            raise ValueError(f"{path}: {where} holds only 1 event (data row {rows[0] + 1}), its origin: "
                             f"a sequence with no events to score; give each sequence at least 2 events "
                             f"or drop it")
        # Subtract in the source's integers (numbers or nanoseconds) before dividing, then find
        # ties on the times that will be scored.
        times = (values[rows] - values[rows[0]]) / per_unit
        times, seq_marks, n = drop_ties(times, None if marks is None else marks[rows])
        n_ties += n
        if len(times) < 2:
            raise ValueError(f"{path}: {where} has all its events at the time of its first (data row "
                             f"{rows[0] + 1}), its origin: a sequence with no events to score; give each "
                             f"sequence events after its first or drop it")
        sequences.append(EventSequence(times[1:], times[-1], None if seq_marks is None else seq_marks[1:]))

    notes = [f"{_count(n_ties, 'tied event time')} dropped (the first of each tie kept)"] if n_ties else []
    name = path.name.split(".")[0] or "events"
    return _checked(EventData(sequences, name, time_unit=time_unit, mark_names=mark_names, notes=notes))


def _separator(path: pathlib.Path) -> str:
    """The header's separator: a comma unless the header has none and has one of ; tab | instead."""
    with open(path, "rb") as f:
        head = f.readline(65536).decode("utf-8", errors="replace")
    if "," in head:
        return ","
    return next((sep for sep in (";", "\t", "|") if sep in head), ",")


def _read_csv(path: pathlib.Path) -> pd.DataFrame:
    """The file as a frame, or a ValueError saying why it cannot be read."""
    if not path.exists():
        raise ValueError(f"cannot read {path}: no such file; give the path of a CSV file")
    if not path.is_file():
        raise ValueError(f"cannot read {path}: it is not a file; give the path of a CSV file")
    try:
        frame = pd.read_csv(path, sep=_separator(path))
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty; give a CSV with a header row and one row per event") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"cannot read {path} as CSV ({reason}); give a comma-separated text file "
                         f"with a header row") from None
    if frame.empty:
        raise ValueError(f"{path} holds a header but no events; give one row per event")
    return frame


def _read_times(column: pd.Series, path, time_col):
    """``(values, per_unit, time_unit)``: (N,) numbers (float64) or nanoseconds (int64), and how
    many of those make one unit of the result."""
    missing = np.flatnonzero(column.isna().to_numpy())
    if missing.size:
        raise ValueError(f"{path}: column {time_col!r} has no time at data row {missing[0] + 1}; "
                         f"fill in or drop the events without a time")
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(f"{path}: column {time_col!r} holds {values[bad[0]]} at data row "
                             f"{bad[0] + 1}; give finite times")
        negative = np.flatnonzero(values < 0)
        if negative.size:
            raise ValueError(f"{path}: column {time_col!r} holds the negative time {column.iloc[negative[0]]} "
                             f"at data row {negative[0] + 1}; give times as numbers >= 0 (shift them all "
                             f"by one amount)")
        return values, 1.0, "units"
    try:
        with warnings.catch_warnings():  # "Could not infer format": our own error below says it in one line
            warnings.simplefilter("ignore", UserWarning)
            instants = pd.to_datetime(column, utc=True)
    except (ValueError, TypeError) as err:
        raise _unparsed(column, path, time_col, err) from None
    return _ns(instants), NS_PER_HOUR, "hours"


def _unparsed(column: pd.Series, path, time_col, err) -> ValueError:
    """The error for times pandas cannot read: the first value that is neither a number nor a
    timestamp, or else the mix itself."""
    for i, value in enumerate(column):
        if not (_is_number(value) or _is_timestamp(value)):
            return ValueError(f"{path}: column {time_col!r} holds {value!r} at data row {i + 1}, neither "
                              f"a number nor a timestamp; give every time as a number or as a timestamp "
                              f"pandas.to_datetime reads (such as 2024-05-01 13:45:00)")
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    reason = reason.split(". ")[0].rstrip(".")  # pandas' first sentence, not its advice
    return ValueError(f"{path}: column {time_col!r} mixes numbers and timestamps or timestamp formats "
                      f"({reason}); write every time in one form")


def _is_number(value) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _is_timestamp(value) -> bool:
    try:
        pd.to_datetime(str(value), utc=True)
    except (ValueError, TypeError):
        return False
    return True


def _read_marks(frame: pd.DataFrame, path, mark_col):
    """``(marks, mark_names)``: (N,) int64 indices of the sorted distinct values, or ``(None, None)``."""
    if mark_col is None:
        return None, None
    column = frame[mark_col]
    missing = np.flatnonzero(column.isna().to_numpy())
    if missing.size:
        raise ValueError(f"{path}: column {mark_col!r} has no mark at data row {missing[0] + 1}; give "
                         f"every event a mark, or leave mark_col out for unmarked events")
    distinct = sorted(column.unique())  # numbers sort as numbers, names as text
    index = {value: k for k, value in enumerate(distinct)}
    return column.map(index).to_numpy(np.int64), tuple(str(value) for value in distinct)


def _read_groups(frame: pd.DataFrame, path, seq_col):
    """``[(sequence id, row positions in file order)]``, in order of first appearance."""
    if seq_col is None:
        return [(None, np.arange(len(frame)))]
    missing = np.flatnonzero(frame[seq_col].isna().to_numpy())
    if missing.size:
        raise ValueError(f"{path}: column {seq_col!r} has no sequence id at data row {missing[0] + 1}; "
                         f"give every event its sequence")
    return list(frame.groupby(seq_col, sort=False).indices.items())


def _check_order(values: np.ndarray, rows: np.ndarray, raw: pd.Series, path, where, hint="") -> None:
    """Refuse a sequence whose rows go back in time (no silent sort: it hides mistakes)."""
    back = np.flatnonzero(np.diff(values) < 0)
    if back.size:
        row, before = rows[back[0] + 1], rows[back[0]]
        raise ValueError(f"{path}: {where} goes back in time at data row {row + 1} ({raw.iloc[row]} "
                         f"after {raw.iloc[before]}); sort each sequence's events by time{hint}")


# --- shared -------------------------------------------------------------------------------------


def _checked(data: EventData) -> EventData:
    """``data`` after every sequence passes ``events.check_sequence`` (a loader's bug shows here)."""
    for i, seq in enumerate(data.sequences):
        check_sequence(seq, data.n_marks, where=f"{data.name} sequence {i}")
    return data


def _count(n: int, thing: str) -> str:
    """``"1 tied commit time"``, ``"67 tied commit times"``."""
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"
