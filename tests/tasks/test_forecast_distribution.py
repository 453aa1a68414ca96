"""The forecaster with a probabilistic head: seeded, saved and loaded exactly, intervals ordered and
mapped from the return's quantiles, the run's table and its checks before training."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import unrolled
from unrolled import data
from unrolled.cli import main
from unrolled.tasks.forecast import Forecaster, intervals
from unrolled.tasks.forecast.distributions import Normal, Quantiles, StudentT
from unrolled.tasks.forecast.probabilistic import verdict

TINY = dict(lookback=6, hidden_size=5, epochs=3, batch_size=32, patience=None, progress=False)


def ohlc(n=220, seed=0):
    """A random walk with stochastic volatility, High / Low around it, and Volume, on business days."""
    rng = np.random.default_rng(seed)
    vol = 0.01 * np.exp(np.cumsum(0.1 * rng.standard_normal(n)) * 0.3)
    close = 100 * np.exp(np.cumsum(vol * rng.standard_normal(n)))
    spread = np.abs(vol * rng.standard_normal(n)) + 1e-4
    return pd.DataFrame({"Date": pd.bdate_range("2020-01-01", periods=n), "Close": close,
                         "High": close * np.exp(spread), "Low": close * np.exp(-spread),
                         "Volume": rng.integers(1_000_000, 5_000_000, n).astype(float)})


@pytest.mark.parametrize("distribution, kind", [("normal", Normal), ("studentt", StudentT), ("quantile", Quantiles)])
def test_each_head_trains_and_gives_ordered_intervals_around_its_median(distribution, kind):
    df = ohlc()
    f = Forecaster(distribution=distribution, **TINY, seed=1).fit(df)
    assert f.range_ == ["High", "Low"] and f.n_features_in_ == 1 + 1 + 4 + 1  # return, Volume, calendar, range
    dist = f.change_distribution(df, np.array([150, 151]))
    assert isinstance(dist, kind) and len(dist) == 2
    out = f.predict()
    cols = ["lower_95", "lower_90", "lower_80", "lower_50", "forecast", "upper_50", "upper_80", "upper_90", "upper_95"]
    assert list(out.columns[3:]) == [f"{side}_{c}" for c in (50, 80, 90, 95) for side in ("lower", "upper")]
    row = out[cols].to_numpy()[0]
    assert (np.diff(row) > 0).all(), row
    # the interval's ends are the return's quantiles mapped through p_last * exp(r)
    last = f.tail_["Close"].iloc[-1]
    d = f.change_distribution(f.tail_, np.array([len(f.tail_) - 1]))
    assert row[0] == pytest.approx(last * np.exp(d.ppf(np.array([0.025]))[0]), rel=1e-12)
    assert row[4] == pytest.approx(last * np.exp(d.ppf(np.array([0.5]))[0]), rel=1e-12)


def test_same_seed_same_distribution_and_save_load_keeps_it(tmp_path):
    df = ohlc()
    a = Forecaster(distribution="studentt", **TINY, seed=3).fit(df)
    b = Forecaster(distribution="studentt", **TINY, seed=3).fit(df)
    pd.testing.assert_frame_equal(a.predict(), b.predict())
    a.save(tmp_path)
    loaded = unrolled.load(tmp_path)
    pd.testing.assert_frame_equal(a.predict(), loaded.predict())
    q = intervals.levels()
    np.testing.assert_array_equal(a.price_quantiles(df, np.arange(100, 110), q),
                                  loaded.price_quantiles(df, np.arange(100, 110), q))


def test_a_point_forecaster_has_no_distribution_and_a_saved_one_without_range_loads():
    f = Forecaster(**TINY).fit(ohlc())
    assert f.range_ == []  # the range input is for distributions unless asked for
    with pytest.raises(ValueError, match="--distribution normal, studentt or quantile"):
        f.change_distribution(ohlc(), np.array([100]))
    with pytest.raises(ValueError, match="--range-cols"):
        Forecaster(range_cols="High")


def test_the_run_checks_before_training(capsys, tmp_path):
    for argv, fix in ((["--distribution", "normal", "--target-transform", "diff"], "--target-transform log_return"),
                      (["--distribution", "normal", "--folds", "2"], "leave out --folds")):
        capsys.readouterr()
        assert main(["forecast", *argv, "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("unrolled: error: ") and fix in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "run" / "metrics.json").exists()


def test_the_run_prints_and_writes_the_distribution_table(tmp_path, capsys):
    pytest.importorskip("arch")
    df = data.load("sp500").iloc[-900:]
    path = tmp_path / "prices.csv"
    df.to_csv(path, index=False)
    capsys.readouterr()
    assert main(["forecast", "--csv", str(path), "--distribution", "studentt", "--epochs", "2", "--hidden-size", "8",
                 "--no-progress", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "garch11_t" in out and "rolling_normal_20" in out and "empirical" in out and "verdict: " in out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    table = metrics["metrics"]["distribution"] if "metrics" in metrics else metrics["distribution"]
    assert set(table) == {"model", "garch11_t", "rolling_normal_20", "empirical"}
    assert 0 < table["model"]["coverage_90"] <= 1 and table["model"]["crps"] > 0
    for name in ("fan.png", "pit.png"):
        assert (tmp_path / "run" / name).stat().st_size > 10_000


def test_verdict_reads_the_goals():
    good = {"coverage_90": 0.90, "crps": 1.0, "nll": -3.0, **{f"{t}{l}_p": 0.5 for t in ("kupiec", "christoffersen")
                                                               for l in (95, 99)}}
    line = verdict({"model": good, "garch11_t": {**good, "crps": 1.1, "nll": -2.9}})
    assert "within the 88-92% goal" in line and "no VaR backtest rejected" in line and "at or below" in line
    bad = {**good, "coverage_90": 0.95, "kupiec99_p": 0.01, "crps": 1.2}
    line = verdict({"model": bad, "garch11_t": {**good, "crps": 1.1}})
    assert "outside" in line and "Kupiec at 99%" in line and "ABOVE GARCH(1,1)-t in CRPS" in line


def test_a_longer_horizon_gives_one_distribution_per_step():
    df = ohlc()
    f = Forecaster(distribution="normal", horizon=3, **TINY, seed=2).fit(df)
    out = f.predict()
    assert len(out) == 3 and (out["lower_95"] < out["lower_50"]).all() and (out["upper_50"] < out["upper_95"]).all()
    steps = [f.change_distribution(df, np.array([150]), k) for k in (1, 2, 3)]
    sigmas = [float(d.sigma[0]) for d in steps]
    assert len(set(sigmas)) == 3  # each step its own scale, from its own outputs
    q = f.price_quantiles(df, np.array([150]), [0.5])[0, :, 0]
    last = df["Close"].iloc[150]
    np.testing.assert_allclose(q, [last * np.exp(d.median()[0]) for d in steps], rtol=1e-12)


@pytest.mark.parametrize("low, message", [(0.0, "0 < Low <= High"), (1e9, "0 < Low <= High")])
def test_a_bad_range_row_is_named_before_training(low, message):
    df = ohlc()
    df.loc[40, "Low"] = low  # zero, or above the day's high
    with pytest.raises(ValueError, match=message) as e:
        Forecaster(distribution="normal", **TINY).fit(df)
    assert "data row 41" in str(e.value) and "--range-cols" in str(e.value)
