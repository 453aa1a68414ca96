"""Bundled data and input checking: every bad file gets a message that names the fix and a
non-zero exit without a traceback."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from unrolled import data
from unrolled.cli import main
from unrolled.tasks.forecast import Forecaster, parse_number, prepare


def test_bundled_files_are_installed_and_sane():
    sp = data.load("sp500")
    assert len(sp) == 5031 and list(sp.columns) == ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
    assert sp["Date"].iloc[0] == pd.Timestamp("1999-01-04") and sp["Date"].iloc[-1] == pd.Timestamp("2018-12-31")
    assert sp["Date"].is_monotonic_increasing and not sp["Date"].duplicated().any()
    assert sp["Close"].iloc[0] == pytest.approx(1228.099976)
    # the premise: the test years lie above every training value
    cut = len(sp) - round(0.15 * len(sp))
    assert sp["Close"].iloc[cut:].min() > sp["Close"].iloc[:cut - round(0.15 * cut)].max()
    for name in ("aapl", "msft"):
        df = data.load(name)
        assert len(df) == 3270 and {"Date", "Close", "Volume", "Adj Close"} <= set(df.columns)
    with pytest.raises(ValueError, match="use one of sp500, aapl, msft"):
        data.path("tsla")


@pytest.mark.parametrize("text, value", [
    ("$455.56", 455.56), ("35M", 35e6), ("1,234.5", 1234.5), ("2.1B", 2.1e9), ("12k", 12e3),
    ("(3.5)", -3.5), ("-$7", -7.0), (" 89M ", 89e6), ("1e3", 1000.0), (42, 42.0), ("€1.5K", 1500.0),
])
def test_parse_number_reads_exported_price_values(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["abc", "12..3", "M", "4 5x"])
def test_parse_number_rejects_other_text(text):
    with pytest.raises(ValueError):
        parse_number(text)


def test_seed_000_dates_and_values_parse():
    df = pd.DataFrame({"Date": ["2024-01-02-16:00:00", "2024-01-03-16:00:00"],
                       "Close": ["$455.56", "$465.76"], "Volume": ["35M", "89M"]})
    out = prepare(df, "Date", ["Close", "Volume"])
    assert out["Close"].tolist() == [455.56, 465.76] and out["Volume"].tolist() == [35e6, 89e6]
    assert out["Date"].iloc[1] == pd.Timestamp("2024-01-03 16:00:00")


def good_rows(n=60):
    dates = pd.bdate_range("2021-01-01", periods=n).strftime("%Y-%m-%d")
    close = np.round(100 + np.cumsum(np.random.default_rng(0).standard_normal(n)), 2)
    return pd.DataFrame({"Date": dates, "Close": close, "Volume": np.arange(n) + 1000})


def _edit(fn):
    df = good_rows()
    fn(df)
    return df


BAD = {
    "missing column": (_edit(lambda d: d.pop("Close")), "not found; the file has"),
    "empty value": (_edit(lambda d: d.__setitem__("Close", d["Close"].where(d.index != 7))),
                    "empty or non-finite value(s), first at data row 8"),
    "non-numeric": (_edit(lambda d: d.__setitem__("Volume", d["Volume"].astype(object).where(d.index != 3, "n.a.x"))),
                    "non-numeric value 'n.a.x' at data row 4"),
    "unsorted dates": (_edit(lambda d: d.__setitem__("Date", d["Date"].iloc[[*range(10), 11, 10, *range(12, 60)]]
                                                      .to_numpy())),  # newest-first files are now turned around
                       "sort the file by date"),
    "duplicate dates": (_edit(lambda d: d.__setitem__("Date", d["Date"].where(d.index != 5, d["Date"].iloc[4]))),
                        "appears more than once"),
    "bad dates": (_edit(lambda d: d.__setitem__("Date", d["Date"].where(d.index != 2, "yesterday"))),
                  "not dates, first 'yesterday'"),
    "too few rows": (good_rows(20), "too few for lookback=30"),
    "non-positive prices": (_edit(lambda d: d.__setitem__("Close", d["Close"] - 200)), "target_transform='diff'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_csv_gets_a_message_naming_the_fix(case, tmp_path, capsys):
    df, message = BAD[case]
    csv = tmp_path / "bad.csv"
    df.to_csv(csv, index=False)
    rc = main(["forecast", "--csv", str(csv), "--epochs", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert rc != 0 and err.startswith("unrolled: error: ") and message in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("content, message", [
    (b"", "is empty; it needs a header line"),
    (b"Date,Close,Volume\n", "header but no rows"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary", "cannot read"),
    (None, "does not exist"),
    ("dir", "is not a file"),
])
def test_empty_missing_or_unreadable_file(content, message, tmp_path, capsys):
    path = tmp_path / "in.csv"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    rc = main(["forecast", "--csv", str(path)])
    err = capsys.readouterr().err
    assert rc != 0 and message in err, err


def test_bad_hyperparameters_name_the_fix():
    for kw, fix in [({"cell": "transformer"}, "'rnn', 'lstm' or 'gru'"), ({"lookback": 1}, ">= 2"),
                    ({"dropout": 0.3}, "num_layers >= 2"), ({"target_transform": "log"}, "use 'log_return', 'diff' or 'level'")]:
        with pytest.raises(ValueError, match="invalid|acts between") as e:
            Forecaster(**kw).fit(good_rows())
        assert fix in str(e.value)
    with pytest.raises(ValueError, match="not fitted yet"):
        Forecaster().predict()


def test_command_line_error_has_no_traceback(tmp_path):
    csv = tmp_path / "x.csv"
    good_rows().drop(columns="Volume").to_csv(csv, index=False)
    r = subprocess.run([sys.executable, "-m", "unrolled.cli", "forecast", "--csv", str(csv), "--features", "Volume"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and "unrolled: error: column(s) ['Volume'] not found" in r.stderr
    assert "--features" in r.stderr
