"""``unrolled forecast`` never spins, never takes memory in proportion to the data where a batch
would do, and reads the CSVs people have -- or says what to do (unrolled/tasks/forecast)."""

import bz2
import gzip
import json
import lzma
import subprocess
import sys
import tarfile
import tracemalloc
import zipfile

import numpy as np
import pandas as pd
import pytest

from unrolled import data
from unrolled.cli import main
from unrolled.tasks.forecast import Forecaster
from unrolled.tasks.forecast.frame import prepare, read_csv
from unrolled.tasks.forecast.run import predict_from_dir, run_forecast

FLAGS = ["--lookback", "5", "--hidden-size", "4", "--epochs", "1", "--batch-size", "32", "--no-progress"]


_CHILD = """
import contextlib, io, json, sys
from unrolled.cli import main
done = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        done.append([main(argv), err.getvalue()])
print(json.dumps(done))
"""


def commands(argvs, timeout=90) -> list:
    """``[exit status, stderr]`` of each command line, all run in one child process that is killed
    after ``timeout`` seconds: a command that spins fails the test (TimeoutExpired), never hangs it."""
    r = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(argvs)], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def prices(n=200, seed=0):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    return pd.DataFrame({"Date": pd.bdate_range("2020-01-01", periods=n), "Close": np.round(close, 4),
                         "Volume": rng.integers(1_000_000, 5_000_000, n).astype(float)})


# -- sizes: checked up front, in O(1) ---------------------------------------------------------------------
def test_sizes_beyond_the_data_are_refused_at_once(tmp_path):
    # before: --horizon 10**7 and --lookback 10**9 spun for ever, --horizon 10**5 took 112 s before its
    # error (a loop over row counts), --folds 10**12 made a list of 10**12 fold bounds
    csv = tmp_path / "p.csv"
    prices().to_csv(csv, index=False)
    cases = [("--horizon", "10000000"), ("--lookback", "1000000000"), ("--horizon", "100000")]
    results = commands([["forecast", flag, value, "--no-progress"] for flag, value in cases]
                       + [["forecast", "--csv", str(csv), *FLAGS, "--folds", "1000000000000"]])
    for (flag, value), (rc, err) in zip(cases, results):
        assert rc == 2 and "5031 rows are too few" in err and "--lookback / --horizon" in err, err
        need = int(err.split("need at least ")[1].split(";")[0])
        f = Forecaster(**{flag[2:]: int(value)})
        assert f._cuts(need, 0.15) is not None and f._cuts(need - 1, 0.15) is None  # the fewest, exactly
    rc, err = results[-1]
    assert rc == 2 and "use at most 30 folds" in err, err


@pytest.mark.parametrize("lookback, horizon, val, test", [(2, 1, 0.15, None), (30, 1, 0.15, 0.15), (5, 7, 0.3, 0.1),
                                                          (3, 20, 0.45, 0.45), (50, 3, 0.01, 0.49)])
def test_rows_needed_is_the_smallest_count_that_works(lookback, horizon, val, test):
    f = Forecaster(lookback=lookback, horizon=horizon, validation_fraction=val)
    need = f._rows_needed(test)
    assert f._cuts(need, test) is not None
    assert all(f._cuts(m, test) is None for m in range(1, need))  # what the old search loop found, row by row
    with pytest.raises(ValueError, match=f"need at least {need};"):
        f._require_rows(need - 1, test)


# -- memory: evaluation in chunks -----------------------------------------------------------------------------
def test_validation_and_test_forecasts_take_memory_by_the_chunk_not_the_data():
    # before: the whole validation set and the whole test period were forwarded as one batch --
    # 171 and 223 MiB here, 5.2 GB for a 1.2 M-row CSV; now about 50 MiB, most of it the data itself
    n = 60_000
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"Date": pd.date_range("2000-01-03", periods=n, freq="min"),
                       "Close": 100 * np.exp(np.cumsum(0.001 * rng.standard_normal(n))),
                       "Volume": rng.integers(1000, 5000, n).astype(float)})
    f = Forecaster(lookback=30, hidden_size=4, max_steps=2, batch_size=16, validation_fraction=0.45, progress=False)
    tracemalloc.start()
    try:
        f.fit(df)  # validates 27,000 windows
        fit_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        fc = f.historical_forecasts(df, n - 30_000)  # 30,000 forecasts
        forecast_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(fc) == 30_000 and np.isfinite(fc["forecast"]).all()
    assert fit_peak < 100 * 2**20 and forecast_peak < 100 * 2**20, (fit_peak >> 20, forecast_peak >> 20)


def test_chunked_forecasts_equal_one_batch():
    df = prices(300)
    f = Forecaster(lookback=5, hidden_size=4, epochs=1, progress=False).fit(df)
    import unrolled.tasks.forecast.forecaster as module

    whole = f.historical_forecasts(df, 50)
    module.EVAL_CHUNK, old = 7, module.EVAL_CHUNK
    try:
        pieces = f.historical_forecasts(df, 50)
    finally:
        module.EVAL_CHUNK = old
    pd.testing.assert_frame_equal(whole, pieces)


# -- the CSVs people have ---------------------------------------------------------------------------------
def _write(path, df, **kw):
    df.to_csv(path, index=False, **kw)
    return path


def test_semicolons_and_decimal_commas_are_detected_and_said(tmp_path, capsys):
    df = prices()
    path = _write(tmp_path / "eu.csv", df.assign(Date=df["Date"].dt.strftime("%d.%m.%Y")), sep=";", decimal=",")
    # before: "column(s) ['Date', 'Close'] not found; the file has ['Date;Close;Volume']"
    frame = prepare(read_csv(path), "Date", ["Close", "Volume"])
    assert np.allclose(frame["Close"], df["Close"]) and (frame["Date"] == df["Date"]).all()
    assert main(["forecast", "--csv", str(path), *FLAGS]) == 0
    out = capsys.readouterr().out
    assert "note: read as ';'-separated" in out and "decimal comma" in out


def test_thousands_and_currency_with_a_decimal_comma(tmp_path):
    text = "Datum;Schluss;Umsatz\n13.01.2020;€1.234,50;1.000\n14.01.2020;1.240,25;2.000\n15.01.2020;(3,5);3.000\n"
    path = tmp_path / "de.csv"
    path.write_text(text, encoding="utf-8")
    frame = prepare(read_csv(path), "Datum", ["Schluss", "Umsatz"])
    assert frame["Schluss"].tolist() == [1234.5, 1240.25, -3.5] and frame["Umsatz"].tolist() == [1000, 2000, 3000]
    explicit = prepare(read_csv(path, sep=";", decimal=","), "Datum", ["Schluss"])
    assert explicit["Schluss"].tolist() == [1234.5, 1240.25, -3.5]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "latin-1", "cp1252", "utf-8-sig"])
def test_other_encodings_are_read(tmp_path, encoding):
    df = prices(40).rename(columns={"Close": "Clôture"})
    path = _write(tmp_path / "enc.csv", df, encoding=encoding)
    # before: UnicodeDecodeError ("save it as comma-separated UTF-8 text")
    frame = prepare(read_csv(path), "Date", ["Clôture"])
    assert np.allclose(frame["Clôture"], df["Clôture"])
    assert prepare(read_csv(path, encoding=encoding), "Date", ["Clôture"]).shape == (40, 2)


def test_file_flags_are_checked(tmp_path, capsys):
    path = _write(tmp_path / "p.csv", prices())
    assert main(["forecast", "--csv", str(path), "--encoding", "klingon", *FLAGS]) == 2
    assert "encoding='klingon' is not an encoding Python knows" in capsys.readouterr().err
    assert main(["forecast", "--csv", str(path), "--sep", "::", *FLAGS]) == 2
    assert "use one character" in capsys.readouterr().err


def test_newest_first_exports_are_turned_around_and_said(tmp_path, capsys):
    df = prices()
    path = _write(tmp_path / "newest.csv", df.iloc[::-1])
    # before: "dates are not in increasing order ... sort the file by date"
    assert main(["forecast", "--csv", str(path), *FLAGS]) == 0
    out = capsys.readouterr().out
    assert "note: the dates run newest first: sorted oldest first" in out and "2020-01-01 to 2020-10-06" in out
    assert (prepare(read_csv(path), "Date", ["Close"])["Close"] == df["Close"]).all()


def test_mixed_time_zones_name_the_fix(tmp_path, capsys):
    df = prices(60)
    stamps = [f"{d:%Y-%m-%d}T16:00:00{'+01:00' if d.month < 2 else '+02:00'}" for d in df["Date"]]
    path = _write(tmp_path / "tz.csv", df.assign(Date=stamps))
    assert main(["forecast", "--csv", str(path), *FLAGS]) == 2
    err = capsys.readouterr().err
    # before: pandas' "Mixed timezones detected. Pass utc=True in to_datetime ..."
    assert "mixes UTC offsets (+01:00, +02:00" in err and "convert every date to one offset" in err
    assert "utc=True" not in err


def _compress(tmp_path, kind, csv_bytes):
    path = tmp_path / {"gz": "p.csv.gz", "bz2": "p.csv.bz2", "xz": "p.csv.xz", "zip": "p.zip", "tar": "p.tar",
                       "tgz": "p.tar.gz", "gz-as-csv": "p.csv"}[kind]
    if kind in ("gz", "gz-as-csv"):
        path.write_bytes(gzip.compress(csv_bytes))
    elif kind == "bz2":
        path.write_bytes(bz2.compress(csv_bytes))
    elif kind == "xz":
        path.write_bytes(lzma.compress(csv_bytes))
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("prices.csv", csv_bytes)
    else:
        inner = tmp_path / "prices.csv"
        inner.write_bytes(csv_bytes)
        with tarfile.open(path, "w:gz" if kind == "tgz" else "w") as t:
            t.add(inner, arcname="prices.csv")
    return path


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zip", "tar", "tgz", "gz-as-csv"])
def test_compressed_csvs_are_read_by_their_content(tmp_path, kind):
    df = prices(50)
    path = _compress(tmp_path, kind, df.to_csv(index=False).encode())
    frame = prepare(read_csv(path), "Date", ["Close"])
    assert np.allclose(frame["Close"], df["Close"])


def test_archives_that_cannot_be_read_name_the_fix(tmp_path, capsys):
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("a.csv", "Date,Close\n")
        z.writestr("b.csv", "Date,Close\n")
    zst = tmp_path / "p.csv.zst"
    zst.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 20)
    seven = tmp_path / "p.7z"
    seven.write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\x00" * 20)
    xlsx = tmp_path / "p.xlsx"
    with zipfile.ZipFile(xlsx, "w") as z:
        z.writestr("[Content_Types].xml", "<xml/>")
        z.writestr("xl/workbook.xml", "<xml/>")
    zstd_ok = True
    try:
        import zstandard  # noqa: F401
    except ImportError:
        zstd_ok = False
    cases = [(two, "holds 2 files (a.csv, b.csv), not one CSV; extract the one to use (unzip two.zip)"),
             (seven, "is a 7z archive, which cannot be read directly; extract the CSV"),
             (xlsx, "is a spreadsheet workbook (Excel or OpenDocument), not a CSV; save the sheet as CSV")]
    if not zstd_ok:  # before: a traceback (ImportError: Missing optional dependency 'zstandard')
        cases.append((zst, "is zstd-compressed and this Python cannot read zstd; decompress it first (zstd -d"))
    for path, message in cases:
        assert main(["forecast", "--csv", str(path), *FLAGS]) == 2
        err = capsys.readouterr().err
        assert err.startswith("unrolled: error: ") and message in err, err


def test_predict_names_the_model_s_columns_not_flags_it_does_not_have(tmp_path, capsys):
    df = prices()
    train, other = _write(tmp_path / "p.csv", df), _write(tmp_path / "q.csv", df.rename(columns={"Close": "Last"}))
    run_forecast(train, out=tmp_path / "run", lookback=5, hidden_size=4, epochs=1, progress=False,
                 echo=lambda *_: None)
    assert main(["forecast", "predict", "--model", str(tmp_path / "run"), "--csv", str(other)]) == 2
    err = capsys.readouterr().err
    # before: "... name the date column with --date-col, the target with --target, ..." -- flags predict refuses
    assert "this model was trained on the date column 'Date', target 'Close' and covariates ['Volume']" in err
    assert "rename them in the file" in err and "name the date column with --date-col" not in err
    # and predict reads its own file's dialect
    eu = _write(tmp_path / "eu.csv", df, sep=";", decimal=",")
    a = predict_from_dir(tmp_path / "run", train, echo=lambda *_: None)
    b = predict_from_dir(tmp_path / "run", eu, echo=lambda *_: None)
    c = predict_from_dir(tmp_path / "run", eu, sep=";", decimal=",", echo=lambda *_: None)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert main(["forecast", "predict", "--model", str(tmp_path / "run"), "--csv", str(eu), "--sep", ";",
                 "--decimal", ","]) == 0


def test_the_bundled_data_still_reads_as_before():
    frame = prepare(read_csv(data.path("sp500")), "Date", ["Close", "Volume"])
    assert len(frame) == 5031 and frame.attrs["notes"] == []
    assert frame["Close"].iloc[0] == pytest.approx(1228.099976)
