"""Reading a price file: any CSV with a date column and numeric columns, checked before training.

Every problem is a ``ValueError`` whose message names the fix: a missing or unreadable file, a
missing column, empty or non-numeric values, unsorted or duplicate dates. Values written as
exported price files write them -- ``$455.56``, ``1,234.5``, ``35M``, ``2.1B``, ``(3.2)`` -- are
parsed: currency signs and thousands separators dropped, ``K M B T`` suffixes multiplied out,
parentheses read as a minus sign (seed 000's "$455.56" and "35M" are such values).
"""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pandas as pd

_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "BN": 1e9, "T": 1e12}
_NUMBER = re.compile(r"^(?P<neg>-)?(?P<num>(\d+\.?\d*|\.\d+)(e[-+]?\d+)?)(?P<suffix>K|M|BN|B|T)?$", re.I)


def parse_number(text) -> float:
    """``"$455.56" -> 455.56``, ``"35M" -> 35e6``, ``"1,234" -> 1234.0``, ``"(2.5)" -> -2.5``;
    NaN for an empty cell; ValueError for anything else."""
    if isinstance(text, (int, float, np.number)):
        return float(text)
    s = str(text).strip()
    if s == "" or s.lower() in ("nan", "na", "n/a", "null", "none"):
        return np.nan
    neg = s.startswith("(") and s.endswith(")")
    s = s.strip("()").replace(",", "").replace("_", "").replace(" ", "")
    s = re.sub(r"^([-+]?)[$€£¥]", r"\1", s).lstrip("+")
    m = _NUMBER.match(s)
    if m is None:
        raise ValueError(text)
    value = float(m["num"]) * _SUFFIX[(m["suffix"] or "").upper()]
    return -value if neg != bool(m["neg"]) else value


def to_numeric(column: pd.Series, name: str) -> pd.Series:
    """A column of numbers or number-like strings as floats; ValueError naming the first bad cell."""
    if pd.api.types.is_bool_dtype(column):
        raise ValueError(f"column {name!r} holds true/false values, not numbers; pick a numeric column")
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    out = np.empty(len(column))
    for row, cell in enumerate(column.to_numpy()):
        try:
            out[row] = parse_number(cell)
        except ValueError:
            raise ValueError(
                f"column {name!r} has a non-numeric value {cell!r} at data row {row + 1} (line {row + 2} "
                "of the file); numbers may carry $ or , and a K/M/B suffix (\"$455.56\", \"35M\"), "
                "anything else must be fixed or the row removed") from None
    return pd.Series(out, index=column.index, name=column.name)


def read_csv(source) -> pd.DataFrame:
    """A CSV path (gzip too) or a DataFrame -> a DataFrame; unreadable or empty input is a ValueError."""
    if isinstance(source, pd.DataFrame):
        df = source.copy()
    else:
        path = pathlib.Path(source)
        if not path.exists():
            raise ValueError(f"file {str(path)!r} does not exist; check the path (--csv)")
        if not path.is_file():
            raise ValueError(f"{str(path)!r} is not a file; pass the path of a CSV file (--csv)")
        try:
            df = pd.read_csv(path, skipinitialspace=True)
        except pd.errors.EmptyDataError:
            raise ValueError(f"file {str(path)!r} is empty; it needs a header line (e.g. "
                             "Date,Close,Volume) and one line per date") from None
        except (UnicodeDecodeError, pd.errors.ParserError, OSError, EOFError) as e:
            raise ValueError(f"cannot read {str(path)!r} as CSV ({type(e).__name__}: {e}); save it as "
                             "comma-separated UTF-8 text with one header line") from None
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise ValueError("the data has a header but no rows; it needs one row per date")
    return df


def parse_dates(column: pd.Series, name: str) -> pd.Series:
    """Dates as pandas Timestamps; seed 000's ``YYYY-MM-DD-HH:MM:SS`` is understood too."""
    if pd.api.types.is_datetime64_any_dtype(column):
        dates = column
    else:
        text = column.astype(str).str.strip()
        seed_form = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{2}:\d{2}(:\d{2})?")
        if seed_form.all():  # seed 000 writes YYYY-MM-DD-HH:MM:SS
            text = text.str.slice(0, 10) + " " + text.str.slice(11)
        dates = pd.to_datetime(text, errors="coerce", format="mixed")
    bad = dates.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"column {name!r} has {int(bad.sum())} value(s) that are not dates, first "
                         f"{column.iloc[row]!r} at data row {row + 1}; write dates like 2018-12-31, "
                         "or name the right column with --date-col")
    return dates.reset_index(drop=True)


def prepare(df: pd.DataFrame, date_col: str, columns: list[str]) -> pd.DataFrame:
    """Check and clean: a ``date_col`` of strictly increasing dates plus ``columns`` as floats.

    Returns a new frame with exactly those columns, the dates parsed, the values numeric.
    """
    df = read_csv(df)
    missing = [c for c in [date_col, *columns] if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not found; the file has {list(df.columns)}; name the "
                         "date column with --date-col, the target with --target, covariates with --features")
    out = pd.DataFrame({date_col: parse_dates(df[date_col], date_col)})
    for c in columns:
        values = to_numeric(df[c].reset_index(drop=True), c)
        empty = ~np.isfinite(values.to_numpy())
        if empty.any():
            row = int(np.argmax(empty))
            raise ValueError(f"column {c!r} has {int(empty.sum())} empty or non-finite value(s), first at "
                             f"data row {row + 1} ({out[date_col].iloc[row]:%Y-%m-%d}); fill them (e.g. "
                             "with the previous day's value) or drop those rows")
        out[c] = values
    d = out[date_col]
    dup = d.duplicated().to_numpy()
    if dup.any():
        row = int(np.argmax(dup))
        raise ValueError(f"date {d.iloc[row]} appears more than once (data row {row + 1}); keep one row "
                         "per date, e.g. df.drop_duplicates(subset=[date_col], keep='last')")
    back = (d.diff().dt.total_seconds() < 0).to_numpy()
    if back.any():
        row = int(np.argmax(back))
        raise ValueError(f"dates are not in increasing order: {d.iloc[row]} (data row {row + 1}) comes "
                         f"after {d.iloc[row - 1]}; sort the file by date, oldest first")
    return out


def calendar_features(dates: pd.Series) -> np.ndarray:
    """Cyclic encodings of each date, (N, 4): sin / cos of the day of the week (period 7) and of
    the day of the year (period 365.25). Known in advance, so no leakage."""
    dow = dates.dt.day_of_week.to_numpy(dtype=float)
    doy = dates.dt.day_of_year.to_numpy(dtype=float)
    w, y = 2 * np.pi * dow / 7.0, 2 * np.pi * doy / 365.25
    return np.stack([np.sin(w), np.cos(w), np.sin(y), np.cos(y)], axis=1)  # (N, 4)
