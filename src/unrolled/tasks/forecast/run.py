"""End to end: read a price CSV, hold out its last rows as the test period, fit a ``Forecaster``
on everything before them, forecast the test period from every origin, and compare with the
baselines. ``unrolled forecast`` is a thin shell over ``run_forecast``; ``unrolled forecast
predict`` over ``predict_from_dir``.

With ``folds > 1`` the test period is cut into consecutive folds and the model is refitted
before each on all rows that precede it (a walk-forward backtest).

Every argument is checked before any training, in time independent of its size. ``sep``,
``encoding`` and ``decimal`` say how the CSV is written (None: detected, ``frame.read_csv``):
they describe a file, not the model, so they are arguments of the run (``--sep`` ...), given to
``predict`` again for its own file, and not saved with the model. With ``resume``, the saved
run's parameters are checked against these first (``TaskEstimator.check_resume``).
"""

from __future__ import annotations

import pathlib
import time

import numpy as np
import pandas as pd

from unrolled import data
from unrolled.tasks.forecast import metrics, probabilistic
from unrolled.tasks.forecast.forecaster import Forecaster
from unrolled.tasks.forecast.frame import date_format_of, read_csv
from unrolled.tasks.rundir import RunDir, model_dir, open_run, plot_history


def run_forecast(csv=None, *, out=None, test_fraction=0.15, ma_window=5, folds=1, resume=False, overwrite=False,
                 sep=None, encoding=None, decimal=None, echo=print, **params) -> dict:
    """Train and evaluate on ``csv`` (default: the bundled S&P 500); ``params`` go to ``Forecaster``.

    Writes to ``out`` (if given): metrics.json, forecast.csv, forecast.png, loss.png, model/ (the
    fitted forecaster) and checkpoints/ (the engine's best / last). Returns the metrics table.
    """
    t0 = time.perf_counter()
    source = data.path("sp500") if csv is None else csv
    name = pathlib.Path(source).name if not isinstance(source, pd.DataFrame) else "DataFrame"
    with open_run(out, training=True, resume=resume, overwrite=overwrite) as run:  # before any training
        if not (isinstance(test_fraction, float) and 0 < test_fraction < 0.5):
            raise ValueError(f"test_fraction={test_fraction!r} is invalid; use a fraction in (0, 0.5) such as 0.15")
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
            raise ValueError(f"folds={folds!r} is invalid; use a whole number >= 1 (1 = one train/test split)")
        if isinstance(ma_window, (bool, np.bool_)) or not isinstance(ma_window, (int, np.integer)) or ma_window < 1:
            raise ValueError(f"ma_window={ma_window!r} is invalid; use a whole number >= 1 (--ma-window): the moving "
                             "average is the mean of that many rows up to the forecast's origin")
        if resume and (out is None or folds != 1):
            raise ValueError("resume needs --out (the directory of the interrupted run) and folds=1")
        f = Forecaster(**params, checkpoint_dir=None if run is None else run.checkpoints)
        probabilistic.check_supported(f, folds)
        if resume:
            adopted = f.check_resume()  # before reading the data: the saved run's parameters against these
            if adopted:
                echo(f"resume: the saved run's {' '.join(adopted)} (flags not given take the saved values)")
        frame = f.check(read_csv(source, sep=sep, encoding=encoding, decimal=decimal))  # every check before any training
        for note in frame.attrs.get("notes", []):
            echo(f"note: {note}")
        n, date = len(frame), f.date_col
        cut = f._require_rows(n, test_fraction)[1]  # rows [0, cut) fit the model, [cut, n) test it
        if ma_window > cut:
            raise ValueError(f"ma_window={ma_window} is more than the {cut} rows before the test period; use at most "
                             f"{cut} (--ma-window)")
        if folds > (n - cut) // f.horizon:  # before making the folds: a huge --folds must not allocate or loop
            raise ValueError(f"folds={folds} is more than the test period's {n - cut} rows allow with horizon="
                             f"{f.horizon}; use at most {(n - cut) // f.horizon} folds")
        bounds = [cut + round(k * (n - cut) / folds) for k in range(folds + 1)]
        if min(np.diff(bounds)) < f.horizon:
            raise ValueError(f"{folds} folds leave some with fewer than horizon={f.horizon} rows; use fewer folds")
        fmt = date_format_of(frame[date])  # with the time of day when the data has one
        dates = frame[date].dt.strftime(fmt).to_numpy()
        echo(f"data: {name}, {n} rows, {dates[0]} to {dates[-1]}; target {f.target!r}, covariates "
             f"{f._columns(frame)}{' + calendar' if f.calendar else ''}"
             + (f" + the daily range log({'/'.join(f._range(frame))})" if f._range(frame) else ""))
        echo(f"test period: {dates[cut]} to {dates[-1]} ({n - cut} rows, {folds} fold(s)); model: "
             f"{f.cell} {f.num_layers}x{f.hidden_size}, lookback {f.lookback}, horizon {f.horizon}, "
             f"predicting {f.target_transform}")

        def log(row):
            val = f", val {row['val_loss']:.4f}" if "val_loss" in row else ""
            echo(f"  epoch {row['epoch']:>3}  train {row['train_loss']:.4f}{val}")

        if run is not None:
            run.start()  # every check passed: now an earlier run (--overwrite) goes
        pieces = []
        for k in range(folds):
            fit_rows = frame.iloc[:bounds[k]]
            echo(f"fold {k + 1}/{folds}: fit on {dates[0]} to {dates[bounds[k] - 1]}" if folds > 1 else
                 f"fit on {dates[0]} to {dates[cut - 1]} (last {f.validation_fraction:.0%} for early stopping)")
            f.fit(fit_rows, resume=resume, log=log)
            pieces.append(f.historical_forecasts(frame.iloc[:bounds[k + 1]], start=bounds[k]))
        fc = pd.concat(pieces, ignore_index=True)

        p, origins = frame[f.target].to_numpy(), fc["origin_row"].to_numpy()
        fc["persistence"] = p[origins]
        fc["moving_average"] = metrics.moving_average(p, origins, 1, ma_window)[:, 0]
        fc = fc.rename(columns={"forecast": "model"})
        table = {m: metrics.errors(fc[m].to_numpy(), fc["actual"].to_numpy(), fc["last"].to_numpy())
                 for m in ("model", "persistence", "moving_average")}

        def errors(m):  # (origins, h): fc holds each origin's h steps in a row
            return (fc[m] - fc["actual"]).to_numpy().reshape(-1, f.horizon)

        tests = {b: metrics.diebold_mariano(errors("model"), errors(b), f.horizon)
                 for b in ("persistence", "moving_average")}
        up = float(np.mean(fc["actual"] > fc["last"]))
        seconds = time.perf_counter() - t0

        echo("")
        echo(f"test period {dates[cut]} to {dates[-1]}: {len(fc)} forecasts ({f.horizon} step(s) ahead), "
             f"errors on the {f.target} level")
        echo(metrics.format_table(table))
        echo(f"(moving_average: mean of the last {ma_window} values; direction: share of forecasts whose sign "
             f"of change matches; the actual moved up {up:.1%} of the time)")
        echo(metrics.verdict(table, tests))
        dist = None
        if f.distribution != "point":
            from unrolled.tasks.forecast import scoring

            dist = probabilistic.evaluate(f, frame, cut)
            echo("")
            echo(f"the next day's log return, one step ahead on the {len(dist['y'])} test days: the model "
                 f"({f.distribution}) and the baselines fitted on the rows before {dates[cut]}")
            echo(scoring.format_table(dist["table"]))
            for baseline, why in dist["left_out"].items():
                echo(f"  {baseline} left out: {why}")
            echo(probabilistic.verdict(dist["table"]))
        if run is not None:
            periods = {"source": name, "rows": n, "fit": [dates[0], dates[cut - 1]], "test": [dates[cut], dates[-1]],
                       "folds": folds}
            extra = {} if dist is None else {"distribution": dist["table"], "distribution_left_out": dist["left_out"]}
            _write_outputs(run, f, fc, {**table, "diebold_mariano": tests, **extra}, periods, fmt)
            written = "metrics.json, forecast.csv, forecast.png, loss.png"
            if dist is not None:
                fan, pit = probabilistic.figures(f, frame, dist)
                run.write_figure("fan.png", fan)
                run.write_figure("pit.png", pit)
                written += ", fan.png, pit.png"
            echo(f"wrote {run.path}/: {written}, model/, checkpoints/")
        echo(f"done in {seconds:.0f} s")
        return {"metrics": table, "tests": tests, "forecasts": fc, "forecaster": f, "seconds": seconds,
                "distribution": None if dist is None else dist["table"]}


def _write_outputs(run: RunDir, f: Forecaster, fc: pd.DataFrame, table: dict, periods: dict, fmt: str) -> None:
    run.write_metrics(table, f, periods)
    run.write_csv("forecast.csv", fc.drop(columns="origin_row"), index=False, date_format=fmt)
    run.write_figure("forecast.png", plot_forecast(fc, f.target))
    ylabel = "MSE (standardized target)" if f.distribution == "point" else (
        "pinball loss" if f.distribution == "quantile" else "NLL (standardized target)")
    run.write_figure("loss.png", plot_history(f.history_, f.best_epoch_, ylabel=ylabel))
    run.save_model(f)


def plot_forecast(fc: pd.DataFrame, target: str):
    """Actual vs one-step-ahead model and the moving average over the test period (a Figure)."""
    from matplotlib.figure import Figure  # no pyplot: no global backend to set

    one = fc[fc["step"] == 1]
    fig = Figure(figsize=(10, 4.5), dpi=110)
    ax = fig.add_subplot()
    ax.plot(one["date"], one["actual"], lw=1.2, color="black", label="actual")
    ax.plot(one["date"], one["model"], lw=1.0, color="tab:red", label="model (1 step ahead)")
    ax.plot(one["date"], one["moving_average"], lw=0.8, color="tab:blue", alpha=0.6, label="moving average")
    ax.set_title(f"{target}: actual vs predicted over the test period")
    ax.set_ylabel(target)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def predict_from_dir(model, csv, n=None, *, out=None, sep=None, encoding=None, decimal=None, date_format=None,
                     dayfirst=None, echo=print) -> pd.DataFrame:
    """Load the forecaster saved in ``model`` (a run's directory or its ``model/``) and forecast
    the next ``n`` values after the last row of ``csv``, which must have the model's columns.
    ``sep`` / ``encoding`` / ``decimal``: how ``csv`` is written (None: detected);
    ``date_format`` / ``dayfirst``: how its dates are (None: as the model was trained)."""
    if out is not None and pathlib.Path(out).is_dir():
        raise ValueError(f"--out {out} is a directory; give the name of the CSV file to write, e.g. {out}/forecast.csv")
    f = Forecaster.load(model_dir(model))
    dates = {k: v for k, v in (("date_format", date_format), ("dayfirst", dayfirst)) if v is not None}
    if dates:
        f.set_params(**dates)
    frame = f.check(read_csv(csv, sep=sep, encoding=encoding, decimal=decimal))
    for note in frame.attrs.get("notes", []):
        echo(f"note: {note}")
    pred = f.predict(n, df=frame)
    fmt = date_format_of(pd.concat([frame[f.date_col].iloc[-1:], pred["date"]]))
    echo(f"forecast of {f.target!r} after the last row of {pathlib.Path(csv).name}:")
    echo(pred.to_string(index=False, formatters={"date": lambda d: f"{d:{fmt}}"}))
    if out is not None:
        out = pathlib.Path(out)
        shown, pred = pred, pred.assign(date=pred["date"].dt.strftime(fmt))  # dates as text, time of day kept
        RunDir(out.parent, lock=False).write_csv(out.name, pred, index=False, date_format="%Y-%m-%d")
        pred = shown
    return pred

