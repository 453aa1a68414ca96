"""Never a silently wrong result: each input below used to give a number, a date or a verdict that
looked fine and was not. Now it is right, or a ValueError (``unrolled: error: ...``, exit 2) names
the fix before any training (unrolled/tasks/forecast, unrolled/tasks/base.py)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from unrolled.cli import main
from unrolled.tasks.forecast import Forecaster, metrics
from unrolled.tasks.forecast.forecaster import next_dates
from unrolled.tasks.forecast.frame import parse_dates, prepare
from unrolled.tasks.forecast.run import predict_from_dir, run_forecast
from unrolled.tasks.lm.model import LanguageModel

TINY = dict(lookback=5, hidden_size=4, epochs=2, batch_size=32, patience=None, progress=False)
FLAGS = ["--lookback", "5", "--hidden-size", "4", "--epochs", "2", "--batch-size", "32", "--no-progress"]
quiet = dict(echo=lambda *_: None)


def prices(n=200, seed=0, dates=None):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    dates = pd.bdate_range("2020-01-01", periods=n) if dates is None else dates
    return pd.DataFrame({"Date": dates, "Close": close, "Volume": rng.integers(1_000_000, 5_000_000, n).astype(float)})


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "prices.csv"
    prices().to_csv(path, index=False)
    return path


def error_of(argv, capsys) -> str:
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 2, captured.out + captured.err
    assert captured.err.startswith("unrolled: error: ")
    assert "epoch" not in captured.out  # refused before any training
    return captured.err


# -- the moving-average baseline looks back only ------------------------------------------------------
@pytest.mark.parametrize("window, fix", [("-1", "use a whole number >= 1"), ("0", "use a whole number >= 1"),
                                         ("100000", "use at most")])
def test_ma_window_that_is_not_a_look_back_is_refused(csv, capsys, window, fix):
    # before: -1 averaged the *next* value (RMSE 0, direction 100%, exit 0); 0 gave NaN
    err = error_of(["forecast", "--csv", str(csv), "--ma-window", window, *FLAGS], capsys)
    assert f"ma_window={window}" in err and fix in err and "--ma-window" in err


def test_moving_average_itself_never_reads_ahead():
    p = np.arange(10.0)
    for window in (-1, 0, 1.5, True):
        with pytest.raises(ValueError, match="use a whole number >= 1"):
            metrics.moving_average(p, np.array([4, 5]), 1, window)
    with pytest.raises(ValueError, match="use at most 5"):
        metrics.moving_average(p, np.array([4, 5]), 1, 6)
    assert metrics.moving_average(p, np.array([4, 5]), 1, 5).ravel().tolist() == [2.0, 3.0]  # p[0..4], p[1..5]


# -- --resume with other flags ------------------------------------------------------------------------
@pytest.fixture
def interrupted(tmp_path, csv):
    """A run of one epoch in ``out``, as if it had been interrupted."""
    out = tmp_path / "run"
    assert main(["forecast", "--csv", str(csv), *FLAGS, "--epochs", "1", "--out", str(out)]) == 0
    return out


def test_resume_with_another_lr_or_seed_is_refused_naming_every_flag(csv, interrupted, capsys):
    capsys.readouterr()
    # before: the checkpoint's lr and seed were used and the new ones written to metrics.json
    err = error_of(["forecast", "--csv", str(csv), *FLAGS, "--out", str(interrupted), "--resume",
                    "--lr", "0.01", "--seed", "3"], capsys)
    assert err == ("unrolled: error: --resume: this run was started with --lr 0.002 --seed 0; now --lr 0.01 "
                   "--seed 3; resume with the same flags (or drop them to use the saved ones)\n")


def test_resume_with_another_size_names_the_flag_not_a_shape(csv, interrupted, capsys):
    capsys.readouterr()
    # before: "state dict entry 'rnn.weight_ih_l0' has shape (32, 7), expected (16, 7)"
    err = error_of(["forecast", "--csv", str(csv), *FLAGS[:2], "--hidden-size", "8", "--no-calendar",
                    "--out", str(interrupted), "--resume"], capsys)
    assert "started with --hidden-size 4 --calendar; now --hidden-size 8 --no-calendar" in err and "shape" not in err


def test_resume_without_the_flags_takes_the_saved_ones_and_says_so(csv, tmp_path, capsys):
    df = pd.read_csv(csv)
    full = run_forecast(df, **TINY, lr=0.01, seed=3, **quiet)
    run_forecast(df, out=tmp_path / "b", **{**TINY, "epochs": 1}, lr=0.01, seed=3, **quiet)
    lines = []
    resumed = run_forecast(df, out=tmp_path / "b", resume=True, epochs=2, echo=lines.append)  # no lr, no seed
    assert "resume: the saved run's" in lines[0] and "--lr 0.01" in lines[0] and "--seed 3" in lines[0]
    assert resumed["metrics"] == full["metrics"]
    config = json.loads((tmp_path / "b" / "metrics.json").read_text())["config"]
    assert (config["lr"], config["seed"], config["hidden_size"], config["epochs"]) == (0.01, 3, 4, 2)


def test_resume_on_other_data_is_refused(csv, interrupted, capsys):
    capsys.readouterr()
    err = error_of(["forecast", "--csv", str(csv), *FLAGS, "--out", str(interrupted), "--resume",
                    "--test-fraction", "0.3"], capsys)
    assert "--resume: this run was started on rows 170" in err and "now on rows 140" in err and "--test-fraction" in err


def test_resume_from_a_checkpoint_without_saved_parameters_compares_its_train_config(csv, interrupted, capsys):
    last = interrupted / "checkpoints" / "last.json"
    meta = json.loads(last.read_text())
    del meta["extra"]["estimator"]  # as checkpoints were written before the parameters were saved in them
    last.write_text(json.dumps(meta))
    capsys.readouterr()
    err = error_of(["forecast", "--csv", str(csv), *FLAGS, "--out", str(interrupted), "--resume", "--lr", "0.01"],
                   capsys)
    assert "started with --lr 0.002; now --lr 0.01" in err


def test_every_task_checks_resume_the_language_model_too(tmp_path):
    text = "Shall I compare thee to a summer's day?\nThou art more lovely and more temperate.\n" * 40
    params = dict(embedding_dim=8, hidden_size=8, num_layers=1, dropout=0.0, seq_len=10, batch_size=4,
                  max_steps=4, progress=False)
    LanguageModel(**params, checkpoint_dir=tmp_path).fit(text)
    with pytest.raises(ValueError, match=r"started with --lr 0.002 --seed 0; now --lr 0.01 --seed 5"):
        LanguageModel(**params, seed=5, lr=0.01, checkpoint_dir=tmp_path).fit(text, resume=True)
    with pytest.raises(ValueError, match=r"started with --hidden-size 8; now --hidden-size 16"):
        LanguageModel(**{**params, "hidden_size": 16}, checkpoint_dir=tmp_path).fit(text, resume=True)
    resumed = LanguageModel(checkpoint_dir=tmp_path, max_steps=6, progress=False).fit(text, resume=True)
    assert resumed.hidden_size == 8 and resumed.steps_ == 6  # the saved size; the longer budget given


# -- a model directory's learned state ------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m"
    f = Forecaster(**TINY).fit(prices(120))
    f.save(path)
    meta = json.loads((path / "estimator.json").read_text())
    with np.load(path / meta["arrays"]) as z:
        arrays = {k: z[k] for k in z.files}
    return path, meta, arrays, f.predict()["forecast"].iloc[0]


def _tampered(tmp_path, saved, arrays=None, learned=None, meta=None):
    path, meta0, arrays0, _ = saved
    out = tmp_path / "m"
    out.mkdir()
    m = json.loads(json.dumps(meta0))
    m["learned"].update(learned or {})
    m.update(meta or {})
    np.savez(out / m["arrays"], **{**arrays0, **(arrays or {})})
    (out / "estimator.json").write_text(json.dumps(m))
    return out


def _tail(saved):
    return saved[2]["tail"]


@pytest.mark.parametrize("case", ["bool", "int", "datetime", "complex", "rows", "nan"])
def test_a_tail_of_the_wrong_kind_is_refused_naming_the_arrays_file(tmp_path, saved, case):
    tail = _tail(saved)
    bad = {"bool": tail > 100, "int": tail.astype(np.int64), "datetime": tail.astype(np.int64).astype("M8[s]"),
           "complex": tail.astype(complex), "rows": tail[1:], "nan": np.where(tail > 100, np.nan, tail)}[case]
    # before: int and complex tails were accepted and changed the forecast (99.02 for 99.66)
    path = _tampered(tmp_path, saved, arrays={"tail": bad})
    with pytest.raises(ValueError, match=r"estimator-[0-9a-f]{8}\.npz: .*'tail'|estimator.json: .*'tail'") as e:
        Forecaster.load(path)
    assert "train and save it again" in str(e.value)


@pytest.mark.parametrize("kind", [np.bool_, np.int64, "M8[s]", np.complex128])
def test_weights_of_the_wrong_dtype_are_refused_naming_the_arrays_file(tmp_path, saved, kind):
    w = saved[2]["model/head.weight"]
    bad = (w * 10).astype(np.int64).astype(kind) if kind != np.bool_ else w > 0
    path = _tampered(tmp_path, saved, arrays={"model/head.weight": bad})
    with pytest.raises(ValueError, match=r"estimator-[0-9a-f]{8}\.npz: state dict entry 'head.weight' has dtype"):
        Forecaster.load(path)


@pytest.mark.parametrize("learned, what", [
    ({"x_mean_": [0.0]}, "'x_mean_'"),
    ({"x_std_": [1.0] * 4 + [0.0, 1.0]}, "'x_std_' has the value 0.0"),
    ({"y_std_": [0.0]}, "'y_std_' has the value 0.0"),
    ({"y_mean_": [float("nan")]}, "'y_mean_'"),
    ({"y_mean_": [0.1, 0.2]}, "'y_mean_'"),
    ({"x_mean_": [True] * 6}, "'x_mean_'"),
    ({"features_": [1]}, "'features_'"),
    ({"features_": ["Volume", "Volume"]}, "'features_'"),
    ({"covariate_log_": [1]}, "'covariate_log_'"),
    ({"n_features_in_": 7}, "'n_features_in_'"),
])
def test_a_scaler_or_columns_that_do_not_fit_the_model_are_refused_naming_the_json(tmp_path, saved, learned, what):
    # before: x_mean_ of length 1 broadcast silently (99.662 for 99.656); y_std_ 0 changed the forecast
    path = _tampered(tmp_path, saved, learned=learned)
    with pytest.raises(ValueError, match="estimator.json: ") as e:
        Forecaster.load(path)
    assert what in str(e.value)


def test_an_untouched_model_still_loads_and_predicts_the_same(saved):
    assert Forecaster.load(saved[0]).predict()["forecast"].iloc[0] == saved[3]


# -- dates: day-first, time of day, the series' own step ---------------------------------------------------
def test_day_first_dates_are_read_day_first_when_the_data_shows_it():
    text = pd.Series(["28/01/2010", "29/01/2010", "01/02/2010", "02/02/2010"])
    assert parse_dates(text, "Date").tolist() == list(pd.to_datetime(["2010-01-28", "2010-01-29", "2010-02-01",
                                                                      "2010-02-02"]))
    us = pd.Series(["01/28/2010", "02/01/2010"])
    assert parse_dates(us, "Date").tolist() == list(pd.to_datetime(["2010-01-28", "2010-02-01"]))


def test_dates_that_read_either_way_are_refused_until_told(tmp_path, capsys):
    monthly = [f"01/{m:02d}/2010" for m in range(1, 13)]  # 1 Jan .. 1 Dec, or Jan 1 .. Jan 12?
    df = prices(12).assign(Date=monthly)
    # before: read month-first without a word (12 consecutive days in January)
    with pytest.raises(ValueError, match=r"'01/02/2010' is 1 February or January 2.*--dayfirst or --no-dayfirst"):
        prepare(df, "Date", ["Close"])
    assert prepare(df, "Date", ["Close"], dayfirst=True)["Date"].dt.month.tolist() == list(range(1, 13))
    assert prepare(df, "Date", ["Close"], dayfirst=False)["Date"].dt.day.tolist() == list(range(1, 13))
    assert prepare(df, "Date", ["Close"], date_format="%d/%m/%Y")["Date"].iloc[1] == pd.Timestamp("2010-02-01")
    # the flags come from the hyperparameters
    long = prices(200).assign(Date=lambda d: d["Date"].dt.strftime("%m/%d/%Y"))
    long = long[long["Date"].str[3:5].astype(int) <= 12].reset_index(drop=True)  # every day <= 12: ambiguous
    path = tmp_path / "p.csv"
    long.to_csv(path, index=False)
    assert "--dayfirst" in error_of(["forecast", "--csv", str(path), *FLAGS], capsys)
    assert Forecaster(dayfirst=False).check(path)["Date"].is_monotonic_increasing
    with pytest.raises(ValueError, match="dayfirst="):
        Forecaster(dayfirst="yes")


def test_intraday_outputs_keep_the_time_of_day_and_step_by_the_hour(tmp_path, capsys):
    df = prices(200, dates=pd.date_range("2021-03-01 09:00", periods=200, freq="h"))
    path, out = tmp_path / "hourly.csv", tmp_path / "run"
    df.to_csv(path, index=False)
    assert main(["forecast", "--csv", str(path), *FLAGS, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2021-03-01 09:00 to 2021-03-09 16:00" in printed
    fc = pd.read_csv(out / "forecast.csv")
    assert fc["date"].iloc[-1] == "2021-03-09 16:00" and fc["origin"].iloc[-1] == "2021-03-09 15:00"
    # before: the time was dropped, and the next step was the next business day
    pred = predict_from_dir(out, path, out=tmp_path / "p.csv", **quiet)
    assert pred["date"].iloc[0] == pd.Timestamp("2021-03-09 17:00")
    assert pd.read_csv(tmp_path / "p.csv")["date"].iloc[0] == "2021-03-09 17:00"


@pytest.mark.parametrize("dates, expected", [
    (pd.bdate_range("2021-01-04", periods=30), ["2021-02-15", "2021-02-16"]),  # Friday 12th -> Monday
    (pd.date_range("2021-01-01", periods=30, freq="D"), ["2021-01-31", "2021-02-01"]),
    (pd.date_range("2021-01-01 09:30", periods=30, freq="15min"), ["2021-01-01 17:00", "2021-01-01 17:15"]),
    (pd.date_range("2020-01-01", periods=30, freq="MS"), ["2022-07-01", "2022-08-01"]),
    (pd.DatetimeIndex(list(pd.bdate_range("2021-01-04", periods=30).delete(5))), ["2021-02-15", "2021-02-16"]),
    (pd.DatetimeIndex(list(pd.date_range("2021-01-04 10:00", periods=30, freq="h").delete(3))),
     ["2021-01-05 16:00", "2021-01-05 17:00"]),
])
def test_future_dates_step_by_the_series_own_frequency(dates, expected):
    assert list(next_dates(pd.Series(dates), 2)) == list(pd.to_datetime(expected))


# -- the verdict: a difference within noise is not a win -----------------------------------------------------
def test_diebold_mariano_on_hand_computed_examples():
    # T = 3, h = 1: d = e_model^2 - e_base^2 = [0, 8, 3], mean 11/3, deviations [-11/3, 13/3, -2/3],
    # g0 = (121 + 169 + 4) / 9 / 3 = 98/9, V = g0 / 3 = 98/27, DM = (11/3) / sqrt(98/27) = (11/7) sqrt(3/2),
    # HLN: * sqrt((3 + 1 - 2) / 3) = sqrt(2/3) -> 11/7 exactly; t(2): p = 1 - t / sqrt(2 + t^2) = 1 - 11/sqrt(219)
    r = metrics.diebold_mariano(np.array([1.0, 3.0, 2.0]), np.ones(3))
    assert r["statistic"] == pytest.approx(11 / 7, rel=1e-12)
    assert r["p_value"] == pytest.approx(1 - 11 / math.sqrt(219), rel=1e-9)
    assert r["mean_loss_differential"] == pytest.approx(11 / 3) and r["forecasts"] == 3
    # T = 5, h = 2: d = [1, 4, 4, 9, 1], mean 3.8, g0 = 42.8/5 = 8.56, g1 = -14.04/5 = -2.808,
    # V = (8.56 - 2 * 2.808) / 5 = 0.5888, DM = 3.8 / sqrt(0.5888), HLN: * sqrt((5 + 1 - 4 + 2/5) / 5) = sqrt(0.48)
    r = metrics.diebold_mariano(np.sqrt([1.0, 4, 4, 9, 1]), np.zeros(5), horizon=2)
    assert r["statistic"] == pytest.approx(3.8 / math.sqrt(0.5888) * math.sqrt(0.48), rel=1e-12)
    # Student's t with 4 degrees of freedom in closed form: P(|T| > t) = 1 - t (6 + t^2) / (4 + t^2)^1.5
    t = r["statistic"]
    assert r["p_value"] == pytest.approx(1 - t * (6 + t * t) / (4 + t * t) ** 1.5, rel=1e-9)
    # (T, h) errors: the loss differential is the mean over the h steps of each origin
    e = np.random.default_rng(0).standard_normal((50, 3))
    assert metrics.diebold_mariano(e, e * 0.5, 3)["mean_loss_differential"] == pytest.approx(np.mean(0.75 * e * e))


def test_t_p_values_agree_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 5, 30, 754, 10_000):
        for t in (0.0, 0.3, 1.0, 1.96, 3.5, -8.0):
            assert metrics.t_two_sided_p(t, df) == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-8, abs=1e-300)


def test_a_fourth_digit_difference_is_within_noise_and_a_better_baseline_is_not_beaten():
    rng = np.random.default_rng(1)
    base = rng.standard_normal(400)
    model = rng.standard_normal(400)
    model *= np.sqrt(np.mean(base**2) / np.mean(model**2)) * (1 - 1e-4)  # RMSE lower in the fourth digit
    ma = base * 0.8  # a baseline clearly better than the model
    table = {k: {"rmse": float(np.sqrt(np.mean(e**2)))} for k, e in
             (("model", model), ("persistence", base), ("moving_average", ma))}
    tests = {k: metrics.diebold_mariano(model, e) for k, e in (("persistence", base), ("moving_average", ma))}
    v = metrics.verdict(table, tests)
    # before: "The model beats persistence (...)", and nothing about the moving average being better
    assert table["model"]["rmse"] < table["persistence"]["rmse"]
    assert f"the model is within noise of persistence (RMSE {table['model']['rmse']:.4g} vs " in v
    assert "is worse than moving_average" in v and "beats" not in v
    assert tests["persistence"]["p_value"] > 0.5 and tests["moving_average"]["p_value"] < 0.001


def test_the_run_reports_the_tests_behind_its_verdict(csv, tmp_path):
    lines = []
    result = run_forecast(csv, out=tmp_path / "run", **TINY, echo=lines.append)
    verdict = next(line for line in lines if line.startswith("Diebold-Mariano"))
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())["diebold_mariano"]
    assert set(record) == {"persistence", "moving_average"} and record == json.loads(json.dumps(result["tests"]))
    for name, t in record.items():
        word = ("beats" if t["mean_loss_differential"] < 0 else "is worse than") if t["p_value"] < 0.05 \
            else "is within noise of"
        assert f"{word} {name}" in verdict


def test_a_diverged_forecaster_stops_naming_the_learning_rate(capsys):
    """--lr 1e5: the scaled validation loss stays finite (1e10) while the forecasts overflow to inf;
    the run must stop with the fix, not report RMSE inf with exit 0 and save the model."""
    from unrolled import data
    from unrolled.tasks.forecast import Forecaster

    df = data.load("sp500").iloc[:300]
    with pytest.raises(ValueError, match=r"training diverged.*lower the learning rate \(lr=100000.0\)"):
        Forecaster(lookback=5, hidden_size=4, epochs=1, lr=1e5, progress=False).fit(df)


def test_resuming_a_run_that_stopped_early_says_there_is_nothing_to_continue(tmp_path):
    from unrolled import data
    from unrolled.tasks.forecast import Forecaster

    df = data.load("sp500").iloc[:300]
    kw = dict(lookback=5, hidden_size=4, epochs=30, patience=1, lr=0.05, progress=False,
              checkpoint_dir=tmp_path / "checkpoints")
    f = Forecaster(**kw).fit(df)
    assert f.stopped_early_
    with pytest.raises(ValueError, match="stopped early after epoch .*nothing to continue"):
        Forecaster(**{**kw, "epochs": 60}).fit(df, resume=True)


def test_features_name_other_columns_once():
    from unrolled.tasks.forecast import Forecaster

    for bad in ("Close", "Volume,Volume", 5):
        with pytest.raises(ValueError, match="features="):
            Forecaster(features=bad)
    f = Forecaster()
    with pytest.raises(ValueError, match="lookback=1"):
        f.set_params(lookback=1)
    assert f.lookback == 30  # all or nothing
