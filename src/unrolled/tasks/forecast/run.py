"""End to end: read a price CSV, hold out its last rows as the test period, fit a ``Forecaster``
on everything before them, forecast the test period from every origin, and compare with the
baselines. ``unrolled forecast`` is a thin shell over ``run_forecast``; ``unrolled forecast
predict`` over ``predict_from_dir``.

With ``folds > 1`` the test period is cut into consecutive folds and the model is refitted
before each on all rows that precede it (a walk-forward backtest).
"""

from __future__ import annotations

import json
import os
import pathlib
import time

import numpy as np
import pandas as pd

from unrolled import data
from unrolled.tasks.forecast import metrics
from unrolled.tasks.forecast.forecaster import Forecaster
from unrolled.tasks.forecast.frame import read_csv


def run_forecast(csv=None, *, out=None, test_fraction=0.15, ma_window=5, folds=1, resume=False,
                 echo=print, **params) -> dict:
    """Train and evaluate on ``csv`` (default: the bundled S&P 500); ``params`` go to ``Forecaster``.

    Writes to ``out`` (if given): metrics.json, forecast.csv, forecast.png, loss.png, model/ (the
    fitted forecaster) and checkpoints/ (the engine's best / last). Returns the metrics table.
    """
    t0 = time.perf_counter()
    source = data.path("sp500") if csv is None else csv
    name = pathlib.Path(source).name if not isinstance(source, pd.DataFrame) else "DataFrame"
    out = None if out is None else pathlib.Path(out)
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file; give a directory to write the results into")
    if out is not None:
        try:  # before any training: a run must not fail at the end for want of a directory
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ValueError(f"cannot create the output directory {str(out)!r} ({e}); choose another --out") from None
    if not (isinstance(test_fraction, float) and 0 < test_fraction < 0.5):
        raise ValueError(f"test_fraction={test_fraction!r} is invalid; use a fraction in (0, 0.5) such as 0.15")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
        raise ValueError(f"folds={folds!r} is invalid; use a whole number >= 1 (1 = one train/test split)")
    if resume and (out is None or folds != 1):
        raise ValueError("resume needs --out (the directory of the interrupted run) and folds=1")
    f = Forecaster(**params, checkpoint_dir=None if out is None else out / "checkpoints")
    frame = f.check(read_csv(source))  # every check before any training
    n, date = len(frame), f.date_col
    cut = f._require_rows(n, test_fraction)[1]  # rows [0, cut) fit the model, [cut, n) test it
    bounds = [cut + round(k * (n - cut) / folds) for k in range(folds + 1)]
    if min(np.diff(bounds)) < f.horizon:
        raise ValueError(f"{folds} folds leave some with fewer than horizon={f.horizon} rows; use fewer folds")
    dates = frame[date].dt.strftime("%Y-%m-%d").to_numpy()
    echo(f"data: {name}, {n} rows, {dates[0]} to {dates[-1]}; target {f.target!r}, covariates "
         f"{f._columns(frame)}{' + calendar' if f.calendar else ''}")
    echo(f"test period: {dates[cut]} to {dates[-1]} ({n - cut} rows, {folds} fold(s)); model: "
         f"{f.cell} {f.num_layers}x{f.hidden_size}, lookback {f.lookback}, horizon {f.horizon}, "
         f"predicting {f.target_transform}")

    def log(row):
        val = f", val {row['val_loss']:.4f}" if "val_loss" in row else ""
        echo(f"  epoch {row['epoch']:>3}  train {row['train_loss']:.4f}{val}")

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
    up = float(np.mean(fc["actual"] > fc["last"]))
    seconds = time.perf_counter() - t0

    echo("")
    echo(f"test period {dates[cut]} to {dates[-1]}: {len(fc)} forecasts ({f.horizon} step(s) ahead), "
         f"errors on the {f.target} level")
    echo(metrics.format_table(table))
    echo(f"(moving_average: mean of the last {ma_window} values; direction: share of forecasts whose sign "
         f"of change matches; the actual moved up {up:.1%} of the time)")
    echo(metrics.verdict(table))
    if out is not None:
        try:
            _write_outputs(out, f, fc, table)
        except OSError as e:
            raise ValueError(f"cannot write the results to {str(out)!r} ({e}); choose another --out") from None
        echo(f"wrote {out}/: metrics.json, forecast.csv, forecast.png, loss.png, model/, checkpoints/")
    echo(f"done in {seconds:.0f} s")
    return {"metrics": table, "forecasts": fc, "forecaster": f, "seconds": seconds}


def _write_outputs(out: pathlib.Path, f: Forecaster, fc: pd.DataFrame, table: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _atomic_text(out / "metrics.json", json.dumps(table, indent=2))
    fc.drop(columns="origin_row").to_csv(out / "forecast.csv", index=False, date_format="%Y-%m-%d")
    plot_forecast(fc, f.target, out / "forecast.png")
    plot_losses(f.history_, out / "loss.png", best_epoch=f.best_epoch_)
    f.save(out / "model")


def _atomic_text(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def plot_forecast(fc: pd.DataFrame, target: str, path) -> None:
    """Actual vs one-step-ahead model and persistence over the test period, as a PNG."""
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
    fig.savefig(path)


def plot_losses(history: list[dict], path, best_epoch=None) -> None:
    """Training and validation loss per epoch (scaled MSE), as a PNG; a line marks the best epoch."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=110)
    ax = fig.add_subplot()
    epochs = [r["epoch"] for r in history]
    ax.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train")
    if history and "val_loss" in history[0]:
        ax.plot(epochs, [r["val_loss"] for r in history], marker="o", label="validation")
    if best_epoch:
        ax.axvline(best_epoch, color="gray", ls="--", lw=1, label=f"best (epoch {best_epoch}), kept")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (standardized target)")
    ax.set_title("loss curves")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def predict_from_dir(model, csv, n=None, *, out=None, echo=print) -> pd.DataFrame:
    """Load the forecaster saved in ``model`` (a run's directory or its ``model/``) and forecast
    the next ``n`` values after the last row of ``csv``."""
    model = pathlib.Path(model)
    if (model / "model" / "forecaster.json").is_file():
        model = model / "model"
    f = Forecaster.load(model)
    pred = f.predict(n, df=read_csv(csv))
    echo(f"forecast of {f.target!r} after the last row of {pathlib.Path(csv).name}:")
    echo(pred.to_string(index=False, formatters={"date": lambda d: f"{d:%Y-%m-%d}"}))
    if out is not None:
        pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
        pred.to_csv(out, index=False, date_format="%Y-%m-%d")
    return pred

