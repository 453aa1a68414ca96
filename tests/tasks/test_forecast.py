"""Forecaster behaviour: same seed -> same forecast, save/load -> same predictions, len(predict(h))
== h, no leakage from held-out rows, the many-to-one gradient, baselines and the command line."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from unrolled.cli import main
from unrolled.tasks.forecast import Forecaster
from unrolled.tasks.forecast import features as ft
from unrolled.tasks.forecast import metrics
from unrolled.tasks.forecast.network import ManyToOne
from unrolled.tasks.forecast.run import run_forecast
from unrolled.train.gradcheck import gradcheck

TINY = dict(lookback=6, hidden_size=5, epochs=3, batch_size=16, patience=None, progress=False)


def prices(n=160, seed=0):
    """A geometric random walk with a volume column, on business days."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n) + 0.001))
    volume = rng.integers(1_000_000, 5_000_000, n).astype(float)
    return pd.DataFrame({"Date": pd.bdate_range("2020-01-01", periods=n), "Close": close, "Volume": volume})


def test_same_seed_same_forecast_other_seed_another():
    df = prices()
    a = Forecaster(**TINY, seed=3).fit(df).predict()
    b = Forecaster(**TINY, seed=3).fit(df).predict()
    c = Forecaster(**TINY, seed=4).fit(df).predict()
    pd.testing.assert_frame_equal(a, b)
    assert a["forecast"].iloc[0] != c["forecast"].iloc[0]


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_save_load_same_predictions(tmp_path, cell):
    df = prices()
    f = Forecaster(**TINY, cell=cell, horizon=2, num_layers=2, dropout=0.1).fit(df.iloc[:120])
    f.save(tmp_path / "m")
    g = Forecaster.load(tmp_path / "m")
    assert g.get_params() == {**f.get_params(), "checkpoint_dir": None, "progress": None}
    pd.testing.assert_frame_equal(f.predict(), g.predict())
    pd.testing.assert_frame_equal(f.historical_forecasts(df, 120), g.historical_forecasts(df, 120))
    pd.testing.assert_frame_equal(f.predict(df=df), g.predict(df=df))


def test_len_predict_h_is_h():
    df = prices()
    f = Forecaster(**TINY, horizon=3).fit(df)
    for h in (1, 2, 3):
        pred = f.predict(h)
        assert len(pred) == h and list(pred["step"]) == list(range(1, h + 1))
    dates = f.predict(3)["date"]
    assert dates.iloc[0] == df["Date"].iloc[-1] + pd.offsets.BDay(1) and dates.is_monotonic_increasing
    with pytest.raises(ValueError, match="refit with a larger horizon"):
        f.predict(4)


def test_multi_step_forecasts_are_direct_and_cumulative():
    df = prices()
    f = Forecaster(**TINY, horizon=3).fit(df.iloc[:130])
    fc = f.historical_forecasts(df, 130)
    assert set(fc["step"]) == {1, 2, 3}
    one = fc[fc["origin_row"] == fc["origin_row"].iloc[0]]
    assert (one["date"].diff().dropna() > pd.Timedelta(0)).all()
    assert np.allclose(one["actual"], df["Close"].to_numpy()[one["origin_row"].iloc[0] + np.array([1, 2, 3])])


def test_test_period_values_change_nothing_the_model_was_trained_on(tmp_path):
    df = prices(200)
    changed = df.copy()
    test_rows = slice(170, None)  # run_forecast holds out the last 15%: rows 170..199
    changed.loc[test_rows, "Close"] *= 3.0
    changed.loc[test_rows, "Volume"] = 1.0
    a = run_forecast(df, echo=lambda *_: None, **TINY)["forecaster"]
    b = run_forecast(changed, echo=lambda *_: None, **TINY)["forecaster"]
    for k, v in a.model_.params.items():
        assert np.array_equal(v, b.model_.params[k]), k
    assert (a.x_mean_, a.x_std_, a.y_mean_, a.y_std_) == (b.x_mean_, b.x_std_, b.y_mean_, b.y_std_)
    assert not a.historical_forecasts(df, 170).equals(b.historical_forecasts(changed, 170))


def test_scaler_is_fitted_on_training_rows_only():
    df = prices(200)
    changed = df.copy()
    val_rows = slice(170, None)  # Forecaster.fit holds out the last 15% for validation
    changed.loc[val_rows, "Close"] *= np.linspace(1, 5, 30)
    changed.loc[val_rows, "Volume"] *= 100
    a = Forecaster(**TINY).fit(df)
    b = Forecaster(**TINY).fit(changed)
    assert (a.x_mean_, a.x_std_, a.y_mean_, a.y_std_) == (b.x_mean_, b.x_std_, b.y_mean_, b.y_std_)
    assert a.history_[0]["train_loss"] == b.history_[0]["train_loss"]
    assert a.history_[0]["val_loss"] != b.history_[0]["val_loss"]


def test_windows_and_targets_line_up():
    p = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    X = ft.target_rows(p, "log_return")[:, None]  # (N, 1): log 2 from row 1 on
    origins = ft.origins_between(1, 5, lookback=2, horizon=2)
    assert origins.tolist() == [2, 3]  # inputs rows t-1..t >= 1; targets t+1..t+2 <= 5
    assert ft.windows(X, origins, 2).shape == (2, 2, 1)
    y = ft.to_target(p[origins][:, None], ft.future(p, origins, 2), "log_return")
    assert np.allclose(y, np.log([[2, 4], [2, 4]]))
    assert np.allclose(ft.to_price(p[origins][:, None], y, "log_return"), [[8, 16], [16, 32]])


def test_many_to_one_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    m = ManyToOne("lstm", 3, 4, 2, num_layers=2, dtype=np.float64, seed=0)
    x = rng.standard_normal((5, 2, 3))  # (T, B, D)
    dout = rng.standard_normal((2, 2))  # (B, horizon)

    def loss():
        return float((m.forward(x) * dout).sum())

    loss()
    m.zero_grad()
    dx = m.backward(dout)
    errors = gradcheck(loss, dict(m.params, x=x), dict(m.grads, x=dx))
    assert max(errors.values()) < 1e-6, errors


def test_metrics_and_baselines_on_hand_numbers():
    p = np.array([10.0, 11.0, 12.0, 13.0, 12.0])
    origins = np.array([2, 3])
    assert metrics.persistence(p, origins, 2).tolist() == [[12, 12], [13, 13]]
    assert metrics.moving_average(p, origins, 1, 3).ravel().tolist() == [11.0, 12.0]
    e = metrics.errors(np.array([13.0, 12.5]), np.array([13.0, 12.0]), np.array([12.0, 13.0]))
    assert e == {"rmse": pytest.approx(np.sqrt(0.125)), "mae": 0.25,
                 "mape": pytest.approx(100 * 0.25 / 12), "direction_accuracy": 1.0}
    # the verdict now rests on the Diebold-Mariano test (tests/reliability/test_silent_results.py)
    table = {"model": {"rmse": 2.0}, "persistence": {"rmse": 1.0}, "moving_average": {"rmse": 3.0}}
    tests = {"persistence": {"p_value": 0.01, "mean_loss_differential": 3.0},
             "moving_average": {"p_value": 0.2, "mean_loss_differential": -5.0}}
    v = metrics.verdict(table, tests)
    assert "the model is worse than persistence (RMSE 2 vs 1, p = 0.01)" in v
    assert "is within noise of moving_average (RMSE 2 vs 3, p = 0.2)" in v and "'tomorrow = today' is the better" in v
    tests["persistence"] = {"p_value": 0.0001, "mean_loss_differential": -3.0}
    assert "the model beats persistence (RMSE 2 vs 1, p < 0.001)" in metrics.verdict(table, tests)


def test_cli_on_a_csv_writes_every_output(tmp_path, capsys):
    csv = tmp_path / "prices.csv"
    df = prices(150)
    df.assign(Close=[f"${v:,.2f}" for v in df["Close"]], Volume=[f"{v / 1e6:.2f}M" for v in df["Volume"]]) \
      .to_csv(csv, index=False)  # written as exported price files write them (seed 000)
    out = tmp_path / "run"
    rc = main(["forecast", "--csv", str(csv), "--lookback", "6", "--hidden-size", "4", "--epochs", "2",
               "--cell", "gru", "--seed", "1", "--out", str(out), "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "moving_average" in printed and re.search(
        r"the model (beats|is worse than|is within noise of) persistence \(RMSE [0-9.]+ vs [0-9.]+, p", printed)
    record = json.loads((out / "metrics.json").read_text())  # + the Diebold-Mariano tests behind the verdict
    assert set(record) == {"model", "persistence", "moving_average", "diebold_mariano", "config", "data"}
    for method in ("model", "persistence", "moving_average"):
        assert set(record[method]) == {"rmse", "mae", "mape", "direction_accuracy"}
    assert record["config"]["task"] == "forecast" and record["config"]["cell"] == "gru"
    assert record["data"]["source"] == "prices.csv" and record["data"]["test"][1] == str(df["Date"].iloc[-1].date())
    fc = pd.read_csv(out / "forecast.csv")
    assert len(fc) > 0 and {"date", "actual", "model", "persistence"} <= set(fc.columns)
    for png in ("forecast.png", "loss.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "model" / "estimator.json").is_file() and (out / "checkpoints" / "best.json").is_file()

    rc = main(["forecast", "predict", "--model", str(out), "--csv", str(csv), "--out", str(tmp_path / "p.csv")])
    assert rc == 0
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == 1 and np.isfinite(pred["forecast"]).all()


def test_walk_forward_and_resume(tmp_path):
    df = prices(200)
    quiet = dict(echo=lambda *_: None, **TINY)
    wf = run_forecast(df, folds=3, **quiet)
    assert len(wf["forecasts"]) == 30  # every test row forecast once, across 3 refits
    full = run_forecast(df, out=tmp_path / "a", **quiet)
    run_forecast(df, out=tmp_path / "b", **{**quiet, "epochs": 1})  # "interrupted" after one epoch
    resumed = run_forecast(df, out=tmp_path / "b", resume=True, **quiet)
    assert resumed["metrics"] == full["metrics"]
