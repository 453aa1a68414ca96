"""Regenerate the price files bundled in ``src/unrolled/data/`` from the packages they come from.

    pip install "arch==8.0.0" "bokeh_sampledata==2026.1"   # only for this script
    python scripts/make_data.py                            # rewrites sp500.csv.gz, aapl.csv.gz, msft.csv.gz

The files are gzipped CSVs with an ISO ``Date`` column first, then the source's numeric columns
unchanged (values as supplied; no rounding, no adjustment). The run prints each file's rows, date
range and SHA-256; DATA.md records the source, licence and those numbers.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import pathlib

import pandas as pd

OUT = pathlib.Path(__file__).resolve().parents[1] / "src" / "unrolled" / "data"


def sp500() -> pd.DataFrame:
    """S&P 500 index, daily, 1999-2018: arch's ``sp500`` data set (prices from Yahoo Finance)."""
    from arch.data import sp500 as source

    df = source.load()  # Date index; Open, High, Low, Close, Adj Close, Volume
    df.index = pd.to_datetime(df.index)
    return df.rename_axis("Date").reset_index()


def stock(ticker: str) -> pd.DataFrame:
    """One ticker from bokeh_sampledata's ``stocks`` (daily, 2000-03-01 to 2013-03-01)."""
    from bokeh_sampledata import package_path

    df = pd.read_csv(package_path("stocks.csv.gz"))  # Ticker, Date, Open, ..., Volume, Adj Close
    df = df[df["Ticker"] == ticker].drop(columns="Ticker")
    df["Date"] = pd.to_datetime(df["Date"])
    return df.sort_values("Date").reset_index(drop=True)


def write(df: pd.DataFrame, path: pathlib.Path) -> None:
    text = df.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as gz:  # mtime=0: same bytes every run
        gz.write(text.encode())
    path.write_bytes(buf.getvalue())
    sha = hashlib.sha256(buf.getvalue()).hexdigest()
    print(f"{path.name}: {len(df)} rows, {df['Date'].min():%Y-%m-%d} to {df['Date'].max():%Y-%m-%d}, "
          f"columns {list(df.columns)}, sha256 {sha}")


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    write(sp500(), OUT / "sp500.csv.gz")
    write(stock("AAPL"), OUT / "aapl.csv.gz")
    write(stock("MSFT"), OUT / "msft.csv.gz")


if __name__ == "__main__":
    main()
