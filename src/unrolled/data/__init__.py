"""Price files bundled with unrolled (see DATA.md for sources and licences).

=========  ===========================================  ==========================================
name       what                                         columns
=========  ===========================================  ==========================================
sp500      S&P 500 index, daily, 1999-01-04..2018-12-31  Date, Open, High, Low, Close, Adj Close,
           (5031 rows; the ``arch`` package, Yahoo)     Volume
aapl       Apple, daily, 2000-03-01..2013-03-01          Date, Open, High, Low, Close, Volume,
           (3270 rows; ``bokeh_sampledata``, Quandl)    Adj Close
msft       Microsoft, same span and source as aapl       same as aapl
=========  ===========================================  ==========================================

The stocks' ``Close`` is unadjusted, so share splits show up as one-day halvings (AAPL on
2000-06-21 and 2005-02-28); forecast their ``Adj Close`` instead. ``scripts/make_data.py``
regenerates the files.
"""

from __future__ import annotations

import pathlib

import pandas as pd

DATASETS = ("sp500", "aapl", "msft")


def path(name: str) -> pathlib.Path:
    """The bundled gzipped CSV called ``name`` (one of ``DATASETS``)."""
    if name not in DATASETS:
        raise ValueError(f"no bundled data set {name!r}; use one of {', '.join(DATASETS)} or pass your own CSV")
    return pathlib.Path(__file__).with_name(f"{name}.csv.gz")


def load(name: str = "sp500") -> pd.DataFrame:
    """The bundled data set ``name`` as a DataFrame with a parsed ``Date`` column."""
    return pd.read_csv(path(name), parse_dates=["Date"])


def load_sp500() -> pd.DataFrame:
    """S&P 500 daily OHLC, Adj Close and Volume, 1999-2018."""
    return load("sp500")
