"""``unrolled forecast`` and ``unrolled forecast predict``: flags for ``run_forecast`` and
``predict_from_dir``, one help string each."""

from __future__ import annotations

import argparse


def _features(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _forecast(args) -> int:
    from unrolled.tasks.forecast.run import predict_from_dir, run_forecast

    if args.action == "predict":
        predict_from_dir(args.model, args.predict_csv, args.n, out=args.predict_out)
        return 0
    params = {k: getattr(args, k) for k in (
        "date_col", "target", "features", "cell", "lookback", "horizon", "epochs", "seed", "hidden_size",
        "num_layers", "dropout", "lr", "batch_size", "patience", "target_transform", "calendar")}
    run_forecast(args.csv, out=args.out, test_fraction=args.test_fraction, folds=args.folds,
                 resume=args.resume, ma_window=args.ma_window, progress=args.progress, **params)
    return 0


def add_forecast_parser(sub) -> argparse.ArgumentParser:
    """Add ``forecast`` (and its ``predict`` action) to the subcommands ``sub``."""
    p = sub.add_parser(
        "forecast", help="train on a price CSV (default: the bundled S&P 500) and compare with baselines",
        description="Train a many-to-one recurrent model to predict the next value of a price series and "
                    "report MAE / RMSE / MAPE / direction accuracy on the test period against persistence "
                    "and a moving average. With no arguments: the bundled S&P 500, 1999-2018.")
    p.add_argument("--csv", default=None, help="CSV with a date column and numeric columns (default: bundled S&P 500)")
    p.add_argument("--date-col", default="Date", help="name of the date column (default Date)")
    p.add_argument("--target", default="Close", help="column to forecast (default Close)")
    p.add_argument("--features", type=_features, default=None,
                   help="comma-separated covariate columns, '' for none (default: Volume if present)")
    p.add_argument("--no-calendar", dest="calendar", action="store_false",
                   help="leave out the day-of-week / day-of-year features of the dates")
    p.add_argument("--target-transform", default="log_return", choices=["log_return", "diff", "level"],
                   help="what the model predicts: log returns (default), differences, or the level itself")
    p.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"], help="recurrent cell (default lstm)")
    p.add_argument("--hidden-size", type=int, default=32, help="hidden units per layer (default 32)")
    p.add_argument("--num-layers", type=int, default=1, help="stacked recurrent layers (default 1)")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout between stacked layers (default 0)")
    p.add_argument("--lookback", type=int, default=30, help="input window in rows (default 30)")
    p.add_argument("--horizon", type=int, default=1, help="values predicted at once (default 1: the next)")
    p.add_argument("--epochs", type=int, default=30, help="most epochs; early stopping may end sooner (default 30)")
    p.add_argument("--patience", type=int, default=5, help="epochs without validation improvement before stopping (default 5)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (default 2e-3)")
    p.add_argument("--batch-size", type=int, default=64, help="windows per mini-batch (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights, dropout and shuffling (default 0)")
    p.add_argument("--test-fraction", type=float, default=0.15, help="last share of rows held out as the test period (default 0.15)")
    p.add_argument("--folds", type=int, default=1, help="walk-forward backtest: refit before each of this many test folds (default 1)")
    p.add_argument("--ma-window", type=int, default=5, help="rows averaged by the moving-average baseline (default 5)")
    p.add_argument("--out", default=None, help="directory for metrics.json, forecast.csv, PNGs and the model")
    p.add_argument("--resume", action="store_true", help="continue the interrupted training saved in --out")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar with the running loss (default: only on a terminal)")
    acts = p.add_subparsers(dest="action", metavar="ACTION")
    pr = acts.add_parser("predict", help="forecast from a saved model",
                         description="Forecast the next values after the last row of a CSV with a saved model.")
    pr.add_argument("--model", required=True, help="a run's --out directory, or its model/ subdirectory")
    pr.add_argument("--csv", dest="predict_csv", required=True, help="CSV with at least lookback + 1 rows")
    pr.add_argument("-n", type=int, default=None, help="how many steps ahead, 1 to the model's horizon (default: horizon)")
    pr.add_argument("--out", dest="predict_out", default=None, help="also write the forecast to this CSV file")
    p.set_defaults(func=_forecast, action=None)
    return p
