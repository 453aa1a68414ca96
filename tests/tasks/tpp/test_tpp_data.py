"""The TPP data: the bundled commits, the earthquake catalogue read from seismostats, any CSV.

The commit counts are computed here a second way, from the raw lines with the standard library's
RFC 2822 parser, so that the loader's parsing, tie dropping and weekly cut are checked against an
independent reading rather than against numbers copied from it."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import email.utils
import gzip
import hashlib
import importlib.metadata
import pathlib
import zipfile

import numpy as np
import pytest

from unrolled.tasks.tpp import data
from unrolled.tasks.tpp.events import check_sequence

COMMITS = data.DATA / "commits.txt.gz"
# bokeh_sampledata 2026.1's register of its data (licenses/datasets.json) records this SHA-256.
COMMITS_SHA256 = "2c01b59860c25e7e2032448799bb18b78875a285bf77deff862b3e80c7475238"
BOKEH_UNPACKED = pathlib.Path("/tmp/pk/bok/bokeh_sampledata/_data/commits.txt.gz")
BOKEH_WHEEL = pathlib.Path("/tmp/pk/bokeh_sampledata-2026.1-py3-none-any.whl")


def _has_seismostats() -> bool:
    try:
        importlib.metadata.distribution("seismostats")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_seismostats = pytest.mark.skipif(not _has_seismostats(),
                                       reason='seismostats is not installed (pip install "unrolled[earthquakes]")')


def _raw_commits():
    """Every line of the bundled file as an aware UTC datetime, in file order."""
    with gzip.open(COMMITS, "rt", encoding="ascii") as f:
        return [email.utils.parsedate_to_datetime(line.strip()).astimezone(dt.timezone.utc)
                for line in f if line.strip()]


def _week_start(instant: dt.datetime) -> dt.datetime:
    """Monday 00:00 UTC of the week holding ``instant``."""
    day = instant.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - dt.timedelta(days=instant.weekday())


def _assert_valid(d):
    for i, seq in enumerate(d.sequences):
        check_sequence(seq, d.n_marks, where=f"sequence {i}")
        assert seq.t_end == 168.0
        assert 0 < seq.times[0] and seq.times[-1] < 168.0


# --- commits ------------------------------------------------------------------------------------


def test_commits_file_is_the_source_bytes():
    digest = hashlib.sha256(COMMITS.read_bytes()).hexdigest()
    assert digest == COMMITS_SHA256


def test_commits_file_is_byte_identical_to_the_wheel():
    if BOKEH_UNPACKED.is_file():
        source = BOKEH_UNPACKED.read_bytes()
    elif BOKEH_WHEEL.is_file():
        with zipfile.ZipFile(BOKEH_WHEEL) as wheel:
            source = wheel.read("bokeh_sampledata/_data/commits.txt.gz")
    else:
        pytest.skip("bokeh_sampledata 2026.1 (unpacked or wheel) is not on this machine")
    assert hashlib.md5(COMMITS.read_bytes()).hexdigest() == hashlib.md5(source).hexdigest()


def test_commits_counts_match_an_independent_reading():
    raw = _raw_commits()
    assert len(raw) == 4916
    distinct = sorted(set(raw))
    n_ties = len(raw) - len(distinct)
    at_start = [t for t in distinct if t == _week_start(t)]
    whole = [t for t in distinct  # weeks wholly inside the record, from the first commit to the last
             if _week_start(t) >= distinct[0] and _week_start(t) + dt.timedelta(days=7) <= distinct[-1]]
    kept = [t for t in whole if t != _week_start(t)]

    d = data.commits()
    assert d.name == "commits" and d.time_unit == "hours" and d.mark_names is None
    n_partial = sum(1 for t in raw if t not in set(whole))
    ties_in_whole = sum(1 for t in raw if t in set(whole)) - len(whole)
    assert n_partial == 14  # the first week's and the last's, read independently above
    assert d.n_events == len(raw) - n_partial - ties_in_whole - len(at_start)
    assert any(note.startswith(f"{n_partial} commits in the 2 weeks the record covers only in part") for note in d.notes)
    assert f"{ties_in_whole} tied commit times dropped (the first of each tie kept)" in d.notes
    assert len(d.sequences) == len({_week_start(t) for t in kept})
    n_weeks = (_week_start(whole[-1]) - _week_start(whole[0])).days // 7 + 1
    assert any(note.startswith(f"{n_weeks - len(d.sequences)} empty weeks skipped") for note in d.notes)

    # The same hours, week by week, from the standard library's reading.
    expected = [(t - _week_start(t)).total_seconds() / 3600 for t in kept]
    got = np.concatenate([seq.times for seq in d.sequences])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_commits_sequences_are_valid_windows():
    _assert_valid(data.commits())


def test_weeks_drop_ties_events_at_the_start_and_empty_weeks():
    monday = data._MONDAY_NS + 2_000 * 7 * 24 * data.NS_PER_HOUR
    hour = data.NS_PER_HOUR
    ns = np.array([monday + 5 * hour, monday, monday + 5 * hour, monday + 3 * 168 * hour + hour])
    sequences, notes = data._by_week(ns, np.array([1, 0, 2, 0]), what="event",
                                     record=(monday, monday + 4 * 168 * hour))
    assert [list(s.times) for s in sequences] == [[5.0], [1.0]]
    assert list(sequences[0].marks) == [1]  # the first of the tie, in file order
    partial, _ = data._by_week(ns, np.array([1, 0, 2, 0]), what="event", record=(monday, monday + 3 * 168 * hour))
    assert [list(s.times) for s in partial] == [[5.0]]  # the fourth week runs past the record's end
    assert notes == ["1 tied event time dropped (the first of each tie kept)",
                     "1 event at exactly Monday 00:00 UTC, a week's start, dropped",
                     "2 empty weeks skipped (of 4 from the first event's to the last's)"]


# --- earthquakes --------------------------------------------------------------------------------


@needs_seismostats
def test_earthquakes_marks_and_counts():
    dist = importlib.metadata.distribution("seismostats")
    with open(dist.locate_file("seismostats/analysis/tests/data/catalog_sed.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    types = collections.Counter(row["event_type"] for row in rows)
    assert len(rows) == 1924

    d = data.earthquakes()
    assert d.mark_names == tuple(sorted(types))
    marks = np.concatenate([seq.marks for seq in d.sequences])
    n_ties = sum(int(note.split()[0]) for note in d.notes if "tied" in note)
    new_year = [row for row in rows if row["time"].startswith("2023-01-01")]  # a Sunday: its week began in 2022
    assert len(new_year) == 6 and any(note.startswith("6 events in the 1 week") for note in d.notes)
    assert d.n_events == len(rows) - n_ties - len(new_year)
    types.subtract(row["event_type"] for row in new_year)
    if not n_ties:
        assert dict(zip(d.mark_names, np.bincount(marks, minlength=d.n_marks).tolist())) == dict(types)
    assert d.time_unit == "hours"
    _assert_valid(d)


def test_earthquakes_without_seismostats_names_the_fix(monkeypatch):
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(ValueError, match=r'pip install "unrolled\[earthquakes\]"'):
        data.earthquakes()


def test_load_by_name():
    assert data.load("commits").name == "commits"
    with pytest.raises(ValueError, match="unknown event data 'nope'; choose one of: commits, earthquakes"):
        data.load("nope")


# --- any CSV ------------------------------------------------------------------------------------


def _csv(tmp_path, text, name="events.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_numbers_sequences_marks_and_ties(tmp_path):
    path = _csv(tmp_path, "t,s,k\n1,a,y\n2,a,x\n2,a,y\n4.5,a,x\n10,b,x\n12,b,y\n")
    d = data.read_event_csv(path, "t", seq_col="s", mark_col="k")
    assert d.name == "events" and d.time_unit == "units" and d.mark_names == ("x", "y")
    a, b = d.sequences
    assert list(a.times) == [1.0, 3.5] and a.t_end == 3.5 and list(a.marks) == [0, 0]
    assert list(b.times) == [2.0] and b.t_end == 2.0 and list(b.marks) == [1]
    assert d.notes == ["1 tied event time dropped (the first of each tie kept)"]
    for seq in d.sequences:
        check_sequence(seq, d.n_marks)


def test_csv_timestamps_become_hours_from_the_first(tmp_path):
    path = _csv(tmp_path, "when\n2024-03-30 23:00:00+00:00\n2024-03-31 01:30:00+01:00\n2024-04-01 00:00:00Z\n")
    d = data.read_event_csv(path, "when")
    (seq,) = d.sequences
    assert d.time_unit == "hours" and d.mark_names is None
    np.testing.assert_allclose(seq.times, [1.5, 25.0])
    assert seq.t_end == 25.0


def test_csv_numeric_marks_sort_as_numbers(tmp_path):
    d = data.read_event_csv(_csv(tmp_path, "t,k\n0,10\n1,2\n2,10\n"), "t", mark_col="k")
    assert d.mark_names == ("2", "10") and list(d.sequences[0].marks) == [0, 1]


def test_csv_missing_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read .*nothing.csv: no such file; give the path of a CSV file"):
        data.read_event_csv(tmp_path / "nothing.csv", "t")


def test_csv_unreadable_file(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\x00\xff\xfe\x00\x89PNG\n")
    with pytest.raises(ValueError, match=r"cannot read .* as CSV \(.*\); give a comma-separated text file"):
        data.read_event_csv(path, "t")
    with pytest.raises(ValueError, match="it is not a file"):
        data.read_event_csv(tmp_path, "t")


def test_csv_empty_file(tmp_path):
    with pytest.raises(ValueError, match="is empty; give a CSV with a header row and one row per event"):
        data.read_event_csv(_csv(tmp_path, ""), "t")
    with pytest.raises(ValueError, match="holds a header but no events; give one row per event"):
        data.read_event_csv(_csv(tmp_path, "t,k\n"), "t")


def test_csv_missing_column(tmp_path):
    path = _csv(tmp_path, "t,s\n1,a\n2,a\n")
    with pytest.raises(ValueError, match=r"has no column 'time' \(given as time_col\); its columns are: t, s"):
        data.read_event_csv(path, "time")
    with pytest.raises(ValueError, match=r"has no column 'kind' \(given as mark_col\)"):
        data.read_event_csv(path, "t", mark_col="kind")


@pytest.mark.filterwarnings("ignore:Could not infer format")
def test_csv_times_neither_numbers_nor_timestamps(tmp_path):
    with pytest.raises(ValueError, match="column 't' holds 'abc' at data row 2, neither a number nor a timestamp"):
        data.read_event_csv(_csv(tmp_path, "t\n1\nabc\n3\n"), "t")
    with pytest.raises(ValueError, match="holds '2024-13-45' at data row 2, .* pandas.to_datetime reads"):
        data.read_event_csv(_csv(tmp_path, "t\n2024-01-01\n2024-13-45\n"), "t")


def test_csv_missing_times(tmp_path):
    with pytest.raises(ValueError, match="column 't' has no time at data row 2; fill in or drop the events"):
        data.read_event_csv(_csv(tmp_path, "t,s\n1,a\n,a\n3,a\n"), "t")


def test_csv_negative_times(tmp_path):
    with pytest.raises(ValueError, match=r"holds the negative time -1 at data row 1; give times as numbers >= 0"):
        data.read_event_csv(_csv(tmp_path, "t\n-1\n3\n"), "t")


def test_csv_times_out_of_order(tmp_path):
    path = _csv(tmp_path, "t,s\n1,a\n5,b\n3,a\n2,a\n6,b\n")
    with pytest.raises(ValueError, match=r"sequence 'a' goes back in time at data row 4 \(2 after 3\); "
                                         r"sort each sequence's events by time"):
        data.read_event_csv(path, "t", seq_col="s")


def test_csv_sequence_with_one_event(tmp_path):
    path = _csv(tmp_path, "t,s\n1,a\n3,a\n2,b\n")
    with pytest.raises(ValueError, match=r"sequence 'b' holds only 1 event \(data row 3\), its origin: "
                                         r"a sequence with no events to score"):
        data.read_event_csv(path, "t", seq_col="s")
    with pytest.raises(ValueError, match="a sequence with no events to score"):
        data.read_event_csv(_csv(tmp_path, "t\n4\n4\n"), "t")


def test_csv_missing_marks(tmp_path):
    with pytest.raises(ValueError, match="column 'k' has no mark at data row 2; give every event a mark"):
        data.read_event_csv(_csv(tmp_path, "t,k\n1,x\n2,\n"), "t", mark_col="k")


def test_csv_is_only_read(tmp_path):
    path = _csv(tmp_path, "t\n1\n2\n")
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    data.read_event_csv(path, "t")
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv"]
