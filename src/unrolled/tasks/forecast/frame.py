"""Reading a price file: any CSV with a date column and numeric columns, checked before training.

Every problem is a ``ValueError`` whose message names the fix: a missing or unreadable file, a
missing column, empty or non-numeric values, unsorted or duplicate dates. Values written as
exported price files write them -- ``$455.56``, ``1,234.5``, ``35M``, ``2.1B``, ``(3.2)`` -- are
parsed: currency signs and thousands separators dropped, ``K M B T`` suffixes multiplied out,
parentheses read as a minus sign (seed 000's "$455.56" and "35M" are such values).

How a file is read (``read_csv``; each can be given, else it is detected and, when not the usual,
said in ``df.attrs["notes"]``):

* compression by its first bytes, whatever the name: gzip, bz2, xz, zip and tar (one file
  inside), zstd where the ``zstandard`` package is installed; anything else is refused naming
  the fix;
* ``encoding``: a byte-order mark (UTF-8, UTF-16, UTF-32), UTF-16 without one, else UTF-8, else
  Windows-1252 / Latin-1;
* ``sep``: the one of ``, ; tab |`` that splits the header and the first lines into the same
  number (at least 2) of fields;
* ``decimal``: ``,`` when the separator is not a comma and numbers are written ``1234,5`` or
  ``1.234,5`` (then ``.`` groups thousands), else ``.``.

Dates (``parse_dates``): ISO dates are read as written; ``d/m/y`` forms (``/ . -``) are read
day-first or month-first as the data shows (a first number above 12 means day-first, a second
above 12 month-first); when every date could be either, the file is refused until ``dayfirst``
or ``date_format`` says which. Newest-first files are turned around (and said so); mixed UTC
offsets are refused naming the fix.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import gzip
import io
import lzma
import pathlib
import re
import tarfile
import zipfile

import numpy as np
import pandas as pd

_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "BN": 1e9, "T": 1e12}
_NUMBER = re.compile(r"^(?P<neg>-)?(?P<num>(\d+\.?\d*|\.\d+)(e[-+]?\d+)?)(?P<suffix>K|M|BN|B|T)?$", re.I)
SEPARATORS = (",", ";", "\t", "|")
SNIFF_BYTES = 1 << 16  # what the encoding, separator and decimal mark are detected from


def parse_number(text, decimal: str = ".") -> float:
    """``"$455.56" -> 455.56``, ``"35M" -> 35e6``, ``"1,234" -> 1234.0``, ``"(2.5)" -> -2.5``;
    with ``decimal=","``: ``"1.234,5" -> 1234.5``. NaN for an empty cell; ValueError for anything else."""
    if isinstance(text, (int, float, np.number)):
        return float(text)
    s = str(text).strip()
    if s == "" or s.lower() in ("nan", "na", "n/a", "null", "none"):
        return np.nan
    neg = s.startswith("(") and s.endswith(")")
    s = s.strip("()")
    if decimal == ",":
        s = s.replace(".", "").replace(",", ".")
    s = s.replace(",", "").replace("_", "").replace(" ", "")
    s = re.sub(r"^([-+]?)[$€£¥]", r"\1", s).lstrip("+")
    m = _NUMBER.match(s)
    if m is None:
        raise ValueError(text)
    value = float(m["num"]) * _SUFFIX[(m["suffix"] or "").upper()]
    return -value if neg != bool(m["neg"]) else value


def to_numeric(column: pd.Series, name: str, decimal: str = ".") -> pd.Series:
    """A column of numbers or number-like strings as floats; ValueError naming the first bad cell."""
    if pd.api.types.is_bool_dtype(column):
        raise ValueError(f"column {name!r} holds true/false values, not numbers; pick a numeric column")
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    out = np.empty(len(column))
    for row, cell in enumerate(column.to_numpy()):
        try:
            out[row] = parse_number(cell, decimal)
        except ValueError:
            raise ValueError(
                f"column {name!r} has a non-numeric value {cell!r} at data row {row + 1} (line {row + 2} "
                "of the file); numbers may carry $ or , and a K/M/B suffix (\"$455.56\", \"35M\"), "
                "anything else must be fixed or the row removed") from None
    return pd.Series(out, index=column.index, name=column.name)


# -- the file: compression, encoding, separator, decimal mark -----------------------------------
_MAGIC = [(b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"PK\x03\x04", "zip"),
          (b"PK\x05\x06", "zip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"7z\xbc\xaf\x27\x1c", "7z"),
          (b"Rar!\x1a\x07", "rar")]


def _compression(path: pathlib.Path) -> str | None:
    """The compression of ``path`` from its first bytes (not its name): None for plain text."""
    with open(path, "rb") as f:
        head = f.read(512)
    kind = next((k for magic, k in _MAGIC if head.startswith(magic)), None)
    if kind is None and len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    if kind in ("gzip", "bz2", "xz"):  # a compressed tar (.tar.gz, .tgz, ...) reads as a tar
        opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind]
        try:
            with opener(path, "rb") as f:
                inner = f.read(512)
        except (OSError, EOFError, lzma.LZMAError):
            inner = b""
        if len(inner) > 262 and inner[257:262] == b"ustar":
            return "tar"
    return kind


def _only_member(names: list[str], path: pathlib.Path, how: str) -> str:
    if len(names) != 1:
        listed = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise ValueError(f"{str(path)!r} holds {len(names)} files ({listed or 'none'}), not one CSV; extract "
                         f"the one to use ({how}) and pass it with --csv")
    return names[0]


@contextlib.contextmanager
def _open(path: pathlib.Path, kind: str | None):
    """A binary file object of the decompressed content of ``path`` (closed on leaving)."""
    with contextlib.ExitStack() as stack:
        if kind is None:
            yield stack.enter_context(open(path, "rb"))
        elif kind in ("gzip", "bz2", "xz"):
            yield stack.enter_context({"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind](path, "rb"))
        elif kind == "zip":
            z = stack.enter_context(zipfile.ZipFile(path))
            names = [i.filename for i in z.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
            if "[Content_Types].xml" in names or "mimetype" in names:
                raise ValueError(f"{str(path)!r} is a spreadsheet workbook (Excel or OpenDocument), not a CSV; save "
                                 "the sheet as CSV (File > Save As > CSV) and pass that with --csv")
            yield stack.enter_context(z.open(_only_member(names, path, f"unzip {path.name}")))
        elif kind == "tar":
            t = stack.enter_context(tarfile.open(path, "r:*"))
            members = [m for m in t.getmembers() if m.isfile()]
            name = _only_member([m.name for m in members], path, f"tar xf {path.name}")
            yield stack.enter_context(t.extractfile(next(m for m in members if m.name == name)))
        elif kind == "zstd":
            try:
                import zstandard
            except ImportError:
                raise ValueError(f"{str(path)!r} is zstd-compressed and this Python cannot read zstd; decompress "
                                 f"it first (zstd -d {path.name}) and pass the CSV, or pip install zstandard") from None
            raw = stack.enter_context(open(path, "rb"))
            yield stack.enter_context(zstandard.ZstdDecompressor().stream_reader(raw))
        else:
            raise ValueError(f"{str(path)!r} is a {kind} archive, which cannot be read directly; extract the CSV "
                             "from it and pass that with --csv (gzip, bz2, xz, zip and tar files are read as they are)")


def _detect_encoding(head: bytes) -> str:
    for bom, name in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
                      (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if head.startswith(bom):
            return name
    sample = head[:4096]
    if sample.count(b"\x00") > len(sample) // 4:  # UTF-16 without a mark: every other byte is zero
        return "utf-16-le" if sample[1::2].count(b"\x00") > sample[::2].count(b"\x00") else "utf-16-be"
    for name in ("utf-8", "cp1252"):
        try:
            head.decode(name)
            return name
        except UnicodeDecodeError as e:
            if name == "utf-8" and e.start >= len(head) - 3:  # a character cut at the end of the sample
                return name
    return "latin-1"


def _detect_sep(lines: list[str]) -> str:
    best, best_width = ",", 1
    for sep in SEPARATORS:
        rows = [r for r in csv.reader(lines, delimiter=sep) if r]
        if not rows:
            continue
        width = len(rows[0])
        if width > best_width and all(len(r) == width for r in rows[1:]):
            best, best_width = sep, width
    return best


_COMMA_DECIMAL = re.compile(r"^[-+(]?[$€£¥]?\d{1,3}(\.\d{3})*,\d+\)?$|^[-+(]?[$€£¥]?\d+,\d+\)?$")
_DOT_DECIMAL = re.compile(r"^[-+(]?[$€£¥]?\d+\.\d+\)?$")


def _detect_decimal(lines: list[str], sep: str) -> str:
    if sep == ",":
        return "."
    cells = [c.strip() for r in csv.reader(lines[1:], delimiter=sep) for c in r]
    comma = any(_COMMA_DECIMAL.match(c) for c in cells)
    dot = any(_DOT_DECIMAL.match(c) and not re.fullmatch(r"[-+]?\d{1,3}\.\d{3}", c) for c in cells)
    return "," if comma and not dot else "."


def _check_dialect(sep, encoding, decimal):
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1):
        raise ValueError(f"sep={sep!r} is invalid; use one character such as ';' (--sep ';'), or tab for tabs")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise ValueError(f"encoding={encoding!r} is not an encoding Python knows; use e.g. utf-8, utf-16, "
                             "latin-1 or cp1252 (--encoding)") from None
    if decimal not in (None, ".", ","):
        raise ValueError(f"decimal={decimal!r} is invalid; use '.' or ',' (--decimal)")


def read_csv(source, *, sep=None, encoding=None, decimal=None) -> pd.DataFrame:
    """A CSV path (plain or compressed) or a DataFrame -> a DataFrame; unreadable or empty input is
    a ValueError. ``sep`` / ``encoding`` / ``decimal`` (None: detect; see the module docstring).
    ``df.attrs["decimal"]`` is the decimal mark the number-like strings are read with, and
    ``df.attrs["notes"]`` says what was detected that is not the usual comma-separated UTF-8."""
    if isinstance(source, pd.DataFrame):
        df = source.copy()
    else:
        sep = {"tab": "\t", "\\t": "\t"}.get(sep, sep)
        _check_dialect(sep, encoding, decimal)
        path = pathlib.Path(source)
        if not path.exists():
            raise ValueError(f"file {str(path)!r} does not exist; check the path (--csv)")
        if not path.is_file():
            raise ValueError(f"{str(path)!r} is not a file; pass the path of a CSV file (--csv)")
        df = _read_file(path, sep, encoding, decimal)
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise ValueError("the data has a header but no rows; it needs one row per date")
    return df


def _read_file(path: pathlib.Path, sep, encoding, decimal) -> pd.DataFrame:
    notes = []
    try:
        kind = _compression(path)
        with _open(path, kind) as f:
            head = f.read(SNIFF_BYTES)
        if not head.strip():
            raise pd.errors.EmptyDataError
        detected = encoding is None
        guesses = [encoding] if not detected else [_detect_encoding(head)]
        if b"\x00" in head and not guesses[0].startswith(("utf-16", "utf-32")):
            raise ValueError(f"cannot read {str(path)!r} as CSV: it is a binary file, not text; save it as "
                             "comma-separated text with one header line (or pass its --encoding if it is UTF-16)")
        if guesses[0] in ("utf-8", "utf-8-sig", "cp1252"):  # a byte further on may tell otherwise
            guesses = list(dict.fromkeys([*guesses, "cp1252", "latin-1"]))
        lines = head.decode(guesses[0], errors="ignore").splitlines()[:50]
        lines = lines[:-1] if len(lines) > 2 and len(head) == SNIFF_BYTES else lines  # the last may be cut
        if sep is None:
            sep = _detect_sep(lines)
            if sep != ",":
                notes.append(f"read as {'tab' if sep == chr(9) else repr(sep)}-separated (detected; --sep chooses)")
        if decimal is None:
            decimal = _detect_decimal(lines, sep)
            if decimal != ".":
                notes.append("read numbers with a decimal comma (detected; --decimal chooses)")
        for k, encoding in enumerate(guesses):
            try:
                with _open(path, kind) as f:
                    df = pd.read_csv(f, sep=sep, encoding=encoding, decimal=decimal, skipinitialspace=True)
                break
            except UnicodeDecodeError:
                if k == len(guesses) - 1:
                    raise
        if detected and encoding not in ("utf-8", "utf-8-sig"):
            notes.append(f"read as {encoding} text (detected; --encoding chooses)")
    except pd.errors.EmptyDataError:
        raise ValueError(f"file {str(path)!r} is empty; it needs a header line (e.g. "
                         "Date,Close,Volume) and one line per date") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"cannot read {str(path)!r} as {encoding} text ({e}); pass its encoding with --encoding "
                         "(e.g. latin-1, cp1252, utf-16)") from None
    except (pd.errors.ParserError, OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError) as e:
        raise ValueError(f"cannot read {str(path)!r} as CSV ({type(e).__name__}: {e}); save it as "
                         "comma-separated UTF-8 text with one header line") from None
    df.attrs["decimal"] = decimal
    df.attrs["notes"] = notes
    return df


# -- dates ----------------------------------------------------------------------------------------
_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})\b")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?)?$")


def _to_datetime(text: pd.Series, name: str, **kw) -> pd.Series:
    try:
        return pd.to_datetime(text, errors="coerce", **kw)
    except ValueError as e:
        if "timezone" not in str(e).lower() and "offset" not in str(e).lower():
            raise
        offsets = text.str.extract(r"([+-]\d{2}:?\d{2}|Z)$")[0].dropna().unique()
        raise ValueError(f"column {name!r} mixes UTC offsets ({', '.join(map(str, offsets[:4]))}; daylight saving "
                         "time does this), so its times are not on one clock; convert every date to one offset, "
                         "e.g. UTC, in the file, or drop the offsets to read the local clock times") from None


def parse_dates(column: pd.Series, name: str, date_format=None, dayfirst=None, hint=None,
                notes: list | None = None) -> pd.Series:
    """Dates as pandas Timestamps (module docstring): ``date_format`` (strptime codes) if given;
    ``d/m/y`` forms day-first or month-first by ``dayfirst`` or, when None, by the data (refused
    when every date could be either); seed 000's ``YYYY-MM-DD-HH:MM:SS`` is understood too.
    One UTC offset throughout is dropped (the clock times kept, said in ``notes``)."""
    hint = hint or "or name the right column with --date-col"
    if pd.api.types.is_datetime64_any_dtype(column):
        dates = column
    else:
        text = column.astype(str).str.strip()
        seed_form = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{2}:\d{2}(:\d{2})?")
        if seed_form.all():  # seed 000 writes YYYY-MM-DD-HH:MM:SS
            text = text.str.slice(0, 10) + " " + text.str.slice(11)
        if date_format is not None:
            dates = _to_datetime(text, name, format=date_format)
            hint = f"they are read with date_format {date_format!r} (--date-format); fix it or the dates"
        elif text.str.fullmatch(_ISO.pattern).all():
            dates = _to_datetime(text, name, format="ISO8601")
        else:
            dates = _day_or_month_first(text, name, dayfirst)
    bad = dates.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"column {name!r} has {int(bad.sum())} value(s) that are not dates, first "
                         f"{column.iloc[row]!r} at data row {row + 1}; write dates like 2018-12-31, {hint}")
    if getattr(dates.dt, "tz", None) is not None:
        if notes is not None:
            notes.append(f"dates carry the UTC offset {dates.dt.tz}: read as clock times, offset dropped")
        dates = dates.dt.tz_localize(None)
    return dates.reset_index(drop=True)


def _day_or_month_first(text: pd.Series, name: str, dayfirst) -> pd.Series:
    parts = text.str.extract(_DMY.pattern)
    dmy = parts[0].notna().to_numpy()
    if not dmy.any():
        return _to_datetime(text, name, format="mixed")
    a, b = parts[0][dmy].astype(int).to_numpy(), parts[1][dmy].astype(int).to_numpy()
    examples = text[dmy].to_numpy()
    if dayfirst is None:
        day_first_ok, month_first_ok = bool((b <= 12).all()), bool((a <= 12).all())
        if day_first_ok and month_first_ok:
            differ = a != b
            if differ.any():
                ex = examples[int(np.argmax(differ))]
                x, y = a[int(np.argmax(differ))], b[int(np.argmax(differ))]
                raise ValueError(
                    f"the dates in column {name!r} can be read day-first or month-first: {ex!r} is "
                    f"{x} {_MONTHS[y - 1]} or {_MONTHS[x - 1]} {y}, and no date has "
                    "a number above 12 to tell; say which with --dayfirst or --no-dayfirst (dayfirst=True / "
                    "False), or give --date-format (e.g. %d/%m/%Y)")
        elif not (day_first_ok or month_first_ok):
            i, j = int(np.argmax(a > 12)), int(np.argmax(b > 12))
            raise ValueError(f"the dates in column {name!r} mix day-first {examples[i]!r} and month-first "
                             f"{examples[j]!r}; write them one way, or give --date-format (e.g. %d/%m/%Y)")
        dayfirst = day_first_ok
    plain = text.str.extract(r"^\d{1,2}([/.\-])\d{1,2}\1(\d{2}|\d{4})$")
    if plain[0].notna().all() and plain[0].nunique() == 1 and plain[1].str.len().nunique() == 1:  # one exact format
        s, y = plain[0].iloc[0], "%Y" if len(plain[1].iloc[0]) == 4 else "%y"
        return _to_datetime(text, name, format=f"%d{s}%m{s}{y}" if dayfirst else f"%m{s}%d{s}{y}")
    dates = _to_datetime(text, name, format="mixed")
    dates[dmy] = _to_datetime(text[dmy], name, format="mixed", dayfirst=bool(dayfirst))
    got = dates[dmy]
    want_day = a if dayfirst else b
    wrong = got.notna().to_numpy() & (got.dt.day.to_numpy() != want_day)
    if wrong.any():
        ex = examples[int(np.argmax(wrong))]
        raise ValueError(f"the date {ex!r} in column {name!r} cannot be read {'day' if dayfirst else 'month'}-"
                         f"first as the others are; fix it, or give --date-format (e.g. %d/%m/%Y)")
    return dates


def date_format_of(dates) -> str:
    """How to write ``dates``: ``%Y-%m-%d``, with the time of day when any is not midnight."""
    d = pd.DatetimeIndex(dates)
    if len(d) == 0 or (d == d.normalize()).all():
        return "%Y-%m-%d"
    if (d.microsecond != 0).any():
        return "%Y-%m-%d %H:%M:%S.%f"
    return "%Y-%m-%d %H:%M" if (d.second == 0).all() else "%Y-%m-%d %H:%M:%S"


def prepare(df: pd.DataFrame, date_col: str, columns: list[str], *, date_format=None, dayfirst=None,
            hint=None, date_hint=None) -> pd.DataFrame:
    """Check and clean: a ``date_col`` of strictly increasing dates plus ``columns`` as floats.

    Returns a new frame with exactly those columns, the dates parsed, the values numeric; a file
    whose dates run newest first is turned around. ``out.attrs["notes"]`` says what was detected
    or changed. ``hint`` / ``date_hint`` replace the advice on missing columns and on values that
    are not dates (default: the flags that name the columns).
    """
    df = read_csv(df)
    notes = list(df.attrs.get("notes", []))
    missing = [c for c in [date_col, *columns] if c not in df.columns]
    if missing:
        one = list(df.columns)[0] if len(df.columns) == 1 else ""
        sep = next((s for s in SEPARATORS[1:] if s in one), None)
        extra = f"; the file seems {sep!r}-separated: pass --sep {sep!r}" if sep else ""
        raise ValueError(f"column(s) {missing} not found; the file has {list(df.columns)}{extra}; " + (
            hint or "name the date column with --date-col, the target with --target, covariates with --features"))
    out = pd.DataFrame({date_col: parse_dates(df[date_col], date_col, date_format, dayfirst, notes=notes,
                                              hint=date_hint)})
    for c in columns:
        values = to_numeric(df[c].reset_index(drop=True), c, df.attrs.get("decimal", "."))
        empty = ~np.isfinite(values.to_numpy())
        if empty.any():
            row = int(np.argmax(empty))
            when = f"{out[date_col].iloc[row]:{date_format_of(out[date_col])}}"
            raise ValueError(f"column {c!r} has {int(empty.sum())} empty or non-finite value(s), first at "
                             f"data row {row + 1} ({when}); fill them (e.g. with the previous day's value) or "
                             "drop those rows")
        out[c] = values
    d = out[date_col]
    dup = d.duplicated().to_numpy()
    if dup.any():
        row = int(np.argmax(dup))
        raise ValueError(f"date {d.iloc[row]} appears more than once (data row {row + 1}); keep one row "
                         "per date, e.g. df.drop_duplicates(subset=[date_col], keep='last')")
    step = d.diff().dt.total_seconds().to_numpy()[1:]
    if len(step) and (step < 0).all():  # newest first, as many exports write it
        out = out.iloc[::-1].reset_index(drop=True)
        notes.append("the dates run newest first: sorted oldest first")
    elif (step < 0).any():
        row = int(np.argmax(step < 0)) + 1
        raise ValueError(f"dates are not in increasing order: {d.iloc[row]} (data row {row + 1}) comes "
                         f"after {d.iloc[row - 1]}; sort the file by date, oldest first")
    out.attrs = {"notes": notes}
    return out


def calendar_features(dates: pd.Series) -> np.ndarray:
    """Cyclic encodings of each date, (N, 4): sin / cos of the day of the week (period 7) and of
    the day of the year (period 365.25). Known in advance, so no leakage."""
    dow = dates.dt.day_of_week.to_numpy(dtype=float)
    doy = dates.dt.day_of_year.to_numpy(dtype=float)
    w, y = 2 * np.pi * dow / 7.0, 2 * np.pi * doy / 365.25
    return np.stack([np.sin(w), np.cos(w), np.sin(y), np.cos(y)], axis=1)  # (N, 4)
