"""``unrolled forecast`` and ``unrolled forecast predict``: thin shells over ``run_forecast`` and
``predict_from_dir``. The model's flags come from ``Forecaster.hyperparams`` (one help string
each, the declared reason); the run's own flags are written here."""

from __future__ import annotations

import argparse

from unrolled.tasks.forecast.forecaster import Forecaster
from unrolled.tasks.rundir import add_run_flags


def _forecast(args) -> int:
    from unrolled.tasks.forecast.run import predict_from_dir, run_forecast

    if args.action == "predict":
        predict_from_dir(args.model, args.predict_csv, args.n, out=args.predict_out)
        return 0
    run_forecast(args.csv, out=args.out, test_fraction=args.test_fraction, folds=args.folds,
                 resume=args.resume, ma_window=args.ma_window, progress=args.progress,
                 **Forecaster.params_from_args(args))
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``forecast`` (and its ``predict`` action) to the subcommands ``sub``."""
    p = sub.add_parser(
        "forecast", help="train on a price CSV (default: the bundled S&P 500) and compare with baselines",
        description="Train a many-to-one recurrent model to predict the next value of a price series and "
                    "report MAE / RMSE / MAPE / direction accuracy on the test period against persistence "
                    "and a moving average. With no arguments: the bundled S&P 500, 1999-2018.")
    p.add_argument("--csv", default=None, help="CSV with a date column and numeric columns (default: bundled S&P 500)")
    Forecaster.add_arguments(p)
    p.add_argument("--test-fraction", type=float, default=0.15, help="last share of rows held out as the test period (default 0.15)")
    p.add_argument("--folds", type=int, default=1, help="walk-forward backtest: refit before each of this many test folds (default 1)")
    p.add_argument("--ma-window", type=int, default=5, help="rows averaged by the moving-average baseline (default 5)")
    add_run_flags(p, "metrics.json, forecast.csv, the PNGs, model/ and checkpoints/")
    acts = p.add_subparsers(dest="action", metavar="ACTION")
    pr = acts.add_parser("predict", help="forecast from a saved model",
                         description="Forecast the next values after the last row of a CSV with a saved model.")
    pr.add_argument("--model", required=True, help="a run's --out directory, or its model/ subdirectory")
    pr.add_argument("--csv", dest="predict_csv", required=True, help="CSV with at least lookback + 1 rows")
    pr.add_argument("-n", type=int, default=None, help="how many steps ahead, 1 to the model's horizon (default: horizon)")
    pr.add_argument("--out", dest="predict_out", default=None, help="also write the forecast to this CSV file")
    p.set_defaults(func=_forecast, action=None)
    return p
