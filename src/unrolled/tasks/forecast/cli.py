"""``unrolled forecast`` and ``unrolled forecast predict``: thin shells over ``run_forecast`` and
``predict_from_dir``. The model's flags come from ``Forecaster.hyperparams`` (one help string
each, the declared reason); the run's own flags are written here.

``--sep``, ``--encoding`` and ``--decimal`` say how a CSV is written (default: detected). They
describe the file, not the model, so they are flags of the run and of ``predict`` (each for its
own file) and are not saved with the model; ``--date-format`` / ``--dayfirst`` are the model's
(saved, and used again by ``predict`` unless it is given its own)."""

from __future__ import annotations

import argparse

from unrolled.tasks.forecast.forecaster import Forecaster
from unrolled.tasks.rundir import add_run_flags


def _forecast(args) -> int:
    from unrolled.tasks.forecast.run import predict_from_dir, run_forecast

    if args.action == "predict":
        predict_from_dir(args.model, args.predict_csv, args.n, out=args.predict_out, sep=args.predict_sep,
                         encoding=args.predict_encoding, decimal=args.predict_decimal,
                         date_format=args.predict_date_format, dayfirst=args.predict_dayfirst)
        return 0
    run_forecast(args.csv, out=args.out, test_fraction=args.test_fraction, folds=args.folds,
                 sep=args.sep, encoding=args.encoding, decimal=args.decimal,
                 resume=args.resume, overwrite=args.overwrite, ma_window=args.ma_window, progress=args.progress,
                 **Forecaster.params_from_args(args))
    return 0


def _add_file_flags(parser, prefix="") -> None:
    """``--sep``, ``--encoding``, ``--decimal``: how the CSV is written (None: detected)."""
    parser.add_argument("--sep", dest=prefix + "sep", default=None, metavar="CHAR",
                        help="the field separator: ',', ';', tab, '|' (default: detected from the file)")
    parser.add_argument("--encoding", dest=prefix + "encoding", default=None, metavar="NAME",
                        help="the text encoding, e.g. utf-8, utf-16, latin-1, cp1252 (default: detected)")
    parser.add_argument("--decimal", dest=prefix + "decimal", default=None, choices=(".", ","),
                        help="the decimal mark of the numbers (default: detected; ',' only where the separator "
                             "is not a comma)")


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
    _add_file_flags(p)
    add_run_flags(p, "metrics.json, forecast.csv, the PNGs, model/ and checkpoints/")
    acts = p.add_subparsers(dest="action", metavar="ACTION")
    pr = acts.add_parser("predict", help="forecast from a saved model",
                         description="Forecast the next values after the last row of a CSV with a saved model.")
    pr.add_argument("--model", required=True, help="a run's --out directory, or its model/ subdirectory")
    pr.add_argument("--csv", dest="predict_csv", required=True, help="CSV with at least lookback + 1 rows")
    pr.add_argument("-n", type=int, default=None, help="how many steps ahead, 1 to the model's horizon (default: horizon)")
    pr.add_argument("--out", dest="predict_out", default=None, help="also write the forecast to this CSV file")
    _add_file_flags(pr, "predict_")
    pr.add_argument("--date-format", dest="predict_date_format", default=None, metavar="TEXT",
                    help="how this CSV writes its dates, e.g. %%d/%%m/%%Y (default: as the model was trained)")
    pr.add_argument("--dayfirst", dest="predict_dayfirst", default=None, action=argparse.BooleanOptionalAction,
                    help="read this CSV's d/m/y dates day-first (default: as the model was trained)")
    p.set_defaults(func=_forecast, action=None)
    return p
