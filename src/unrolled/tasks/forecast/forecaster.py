"""``Forecaster``: fit a many-to-one recurrent model on a price frame, predict the next values.

Scikit-learn's conventions through ``unrolled.tasks.base.TaskEstimator``: ``__init__`` stores and
checks the hyperparameters declared in ``Forecaster.hyperparams``, ``fit(df)`` returns ``self``,
learned state ends in ``_``, bad input raises ``ValueError`` naming the fix::

    f = Forecaster(cell="lstm", lookback=30, horizon=1).fit(df)   # df: Date, Close, Volume, ...
    f.predict(1)                        # the next close after df's last row
    f.historical_forecasts(df, start)   # one forecast from every origin from row `start` on
    f.save("model/");  Forecaster.load("model/")

``fit`` holds out the last ``validation_fraction`` of rows for early stopping; the scaler and
the covariate transforms are fitted on the rows before them only. Shapes: ``L`` lookback,
``h`` horizon, ``F`` features per step, ``B`` windows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from unrolled.tasks.base import TaskEstimator, network_hyperparams, training_hyperparams
from unrolled.train.hyperparams import Hyper, anything, flag_value, fraction, text, whole
from unrolled.train import Trainer, index_batches
from unrolled.nn.losses import MSELoss
from unrolled.tasks.forecast import features as ft
from unrolled.tasks.forecast.frame import calendar_features, prepare, read_csv
from unrolled.tasks.forecast.network import ManyToOne


def _columns_list(text):
    """``--features Volume,Open`` -> ["Volume", "Open"]; ``''`` -> [] (no covariates)."""
    return [c.strip() for c in text.split(",") if c.strip()]


class Forecaster(TaskEstimator):
    """Many-to-one ``cell`` network over ``lookback`` steps of ``[target change, covariate
    changes, calendar]`` -> the next ``horizon`` values of ``target`` (direct multi-output).

    Hyperparameters (``Forecaster.hyperparams``: default, reason, check): the network (cell,
    hidden_size, num_layers, dropout between stacked layers), the window (lookback, horizon),
    the columns (target, features, date_col, calendar), what the model predicts
    (target_transform), training (the engine's, as in every task) and validation_fraction.
    Defaults are sized to train on 20 years of daily S&P 500 in seconds on 2 CPU cores.
    """

    task = "forecast"
    noun = "forecaster"
    network_attr = "model_"
    hyperparams = {
        **network_hyperparams("lstm", 32, 1, 0.0, why_dropout=" between stacked layers (needs num_layers >= 2)"),
        "lookback": Hyper(30, "input window in rows: a month and a half of trading days", whole(2)),
        "horizon": Hyper(1, "values predicted at once (1: the next)", whole()),
        "target": Hyper("Close", "the column to forecast", text()),
        "features": Hyper(None, "covariate columns, comma-separated on the command line, '' for none "
                                "(None: Volume if present)", anything(), type=_columns_list),
        "date_col": Hyper("Date", "the date column", text()),
        "calendar": Hyper(True, "add day-of-week and day-of-year encodings of the dates", flag_value()),
        "target_transform": Hyper("log_return", "what the model predicts: prices far above the training "
                                                "range are reached by returns, not levels", choices=ft.TRANSFORMS),
        **training_hyperparams(epochs=30, batch_size=64, lr=2e-3, clip_norm=1.0, patience=5,
                               why_epochs="; early stopping usually ends sooner",
                               why_batch=": a few dozen windows steady Adam",
                               why_lr=": Adam's rate, a little above 1e-3 for a model this small",
                               why_patience=": daily returns are noisy, so a few epochs of slack"),
        "validation_fraction": Hyper(0.15, "the last share of the fitted rows held out for early stopping",
                                     fraction(0, 0.5, closed_low=False, example=0.15)),
    }
    learned = ("features_", "covariate_log_", "x_mean_", "x_std_", "y_mean_", "y_std_", "n_features_in_",
               "history_", "best_epoch_", "stopped_early_", "train_period_")

    def _columns(self, df) -> list[str]:
        if getattr(self, "features_", None) is not None:
            return self.features_
        if self.features is None:
            return ["Volume"] if "Volume" in df.columns and self.target != "Volume" else []
        feats = self.features.split(",") if isinstance(self.features, str) else list(self.features)
        return [f.strip() for f in feats if f.strip()]

    # -- data -> arrays ----------------------------------------------------------------------
    def check(self, df) -> pd.DataFrame:
        """Read and validate ``df`` (a DataFrame or CSV path) -> the clean frame ``fit`` would use."""
        self.check_params()
        df = read_csv(df)
        frame = prepare(df, self.date_col, [self.target, *self._columns(df)])
        p = frame[self.target].to_numpy()
        if self.target_transform == "log_return" and np.any(p <= 0):
            row = int(np.argmax(p <= 0))
            raise ValueError(f"column {self.target!r} has the value {p[row]} at data row {row + 1}; log "
                             "returns need positive prices: fix that row, or use "
                             "target_transform='diff' for series that can be zero or negative")
        return frame

    def _rows(self, frame: pd.DataFrame) -> np.ndarray:
        """Unscaled input rows (N, F); row 0 is NaN (no change yet)."""
        p = frame[self.target].to_numpy()
        cols = [ft.target_rows(p, self.target_transform)[:, None]]  # (N, 1)
        if self.features_:
            v = frame[self.features_].to_numpy()  # (N, k)
            cols.append(ft.covariate_rows(v, np.asarray(self.covariate_log_)))
        if self.calendar:
            cols.append(calendar_features(frame[self.date_col]))  # (N, 4)
        return np.concatenate(cols, axis=1)

    def _scaled_rows(self, frame) -> np.ndarray:
        X = (self._rows(frame) - np.asarray(self.x_mean_)) / np.asarray(self.x_std_)  # (N, F)
        bad = ~np.isfinite(X[1:]).all(axis=1)
        if bad.any():
            row = int(np.argmax(bad)) + 1
            raise ValueError(f"the inputs at {frame[self.date_col].iloc[row]} are not finite: a covariate "
                             f"among {self.features_} is zero or negative there, but was positive throughout "
                             "training (its change is a log ratio); fix that row or drop the covariate")
        return X

    def _cuts(self, n: int, test_fraction=None) -> list[int] | None:
        """Row cuts ``[train | validation (| test)]`` for ``n`` rows, or None if some part would
        hold no complete window."""
        L, h = self.lookback, self.horizon
        ends = [n] if test_fraction is None else [ft.split_rows(n, test_fraction), n]
        cuts = [ft.split_rows(ends[0], self.validation_fraction), *ends]
        starts = [1, *cuts[:-1]]
        if all(len(ft.origins_between(a, b - 1, L, h)) for a, b in zip(starts, cuts)):
            return cuts
        return None

    def _require_rows(self, n: int, test_fraction=None) -> list[int]:
        """The cuts of ``_cuts``, or a ValueError that says how many rows are needed."""
        cuts = self._cuts(n, test_fraction)
        if cuts is None:
            need = next(m for m in range(n + 1, 100 * (n + self.lookback + self.horizon + 10))
                        if self._cuts(m, test_fraction))
            parts = "training / validation" + (" / test" if test_fraction is not None else "")
            raise ValueError(f"{n} rows are too few for lookback={self.lookback}, horizon={self.horizon} "
                             f"and the {parts} split: need at least {need}; use a longer file or a smaller "
                             "--lookback / --horizon")
        return cuts

    # -- training -----------------------------------------------------------------------------
    def fit(self, df, *, resume=False, log=None) -> "Forecaster":
        """Train on ``df`` (DataFrame or CSV path); its last ``validation_fraction`` drives early
        stopping. ``resume=True`` continues the run saved in ``checkpoint_dir``. Returns self."""
        self.features_ = None  # resolved afresh from this df
        frame = self.check(df)
        self.features_ = self._columns(frame)
        n = len(frame)
        cut = self._require_rows(n)[0]  # rows [0, cut) train, [cut, n) validation
        p = frame[self.target].to_numpy()
        self.covariate_log_ = [bool(np.all(frame[c].to_numpy()[:cut] > 0)) for c in self.features_]
        raw = self._rows(frame)  # (N, F)
        x_scaler = ft.Scaler().fit(raw[1:cut])  # training rows only
        self.x_mean_, self.x_std_ = x_scaler.mean_.tolist(), x_scaler.std_.tolist()
        X = self._scaled_rows(frame)  # (N, F)
        L, h = self.lookback, self.horizon
        train_t = ft.origins_between(1, cut - 1, L, h)  # (B_train,)
        val_t = ft.origins_between(cut, n - 1, L, h)  # (B_val,)

        def targets(origins):
            return ft.to_target(p[origins][:, None], ft.future(p, origins, h), self.target_transform)  # (B, h)

        y_scaler = ft.Scaler().fit(targets(train_t))
        self.y_mean_, self.y_std_ = y_scaler.mean_.tolist(), y_scaler.std_.tolist()
        Y_train, Y_val = y_scaler.transform(targets(train_t)), y_scaler.transform(targets(val_t))
        X_val = ft.windows(X, val_t, L)  # (L, B_val, F)

        self.n_features_in_ = X.shape[1]
        self.model_ = self._build_network()
        loss_fn = MSELoss()

        def step(idx):
            pred = self.model_.forward(ft.windows(X, train_t[idx], L))  # (B, h)
            loss = loss_fn.forward(pred, Y_train[idx].astype(pred.dtype))
            self.model_.backward(loss_fn.backward())
            return loss

        def validate():
            return float(np.mean((self.model_.forward(X_val) - Y_val) ** 2))

        trainer = Trainer(self.model_, self.train_config(), checkpoint_dir=self.checkpoint_dir, log=log)
        self.history_ = trainer.fit(index_batches(len(train_t), self.batch_size), step, validate, resume=resume)
        self.best_epoch_ = trainer.best_epoch
        self.stopped_early_ = trainer.stopped_early
        self.train_period_ = [str(frame[self.date_col].iloc[0].date()), str(frame[self.date_col].iloc[cut - 1].date())]
        self.tail_ = frame.iloc[-(L + 1):].reset_index(drop=True)  # what predict() starts from
        return self

    # -- prediction ---------------------------------------------------------------------------
    def _forecast(self, frame, origins) -> np.ndarray:
        """Predicted target values (B, h) from each origin row of ``frame``."""
        X = self._scaled_rows(frame)
        self.model_.eval()
        y = self.model_.forward(ft.windows(X, origins, self.lookback)).astype(np.float64)  # (B, h)
        y = y * np.asarray(self.y_std_) + np.asarray(self.y_mean_)
        p = frame[self.target].to_numpy()
        return ft.to_price(p[origins][:, None], y, self.target_transform)

    def predict(self, n=None, df=None) -> pd.DataFrame:
        """The next ``n`` values (default ``horizon``) after the last row of ``df`` (default: the
        end of the training data): a frame with ``step``, ``date`` (estimated) and ``forecast``."""
        self._check_fitted()
        n = self.horizon if n is None else n
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= self.horizon:
            raise ValueError(f"n={n!r} is invalid; this model forecasts 1 to horizon={self.horizon} "
                             "steps at once; refit with a larger horizon for more")
        frame = self.tail_ if df is None else self.check(df)
        if len(frame) < self.lookback + 1:
            raise ValueError(f"predict needs the last {self.lookback + 1} rows (lookback + 1); got {len(frame)}")
        pred = self._forecast(frame, np.array([len(frame) - 1]))[0, :n]  # (n,)
        return pd.DataFrame({"step": np.arange(1, n + 1), "date": _next_dates(frame[self.date_col], n),
                             "forecast": pred})

    def historical_forecasts(self, df, start) -> pd.DataFrame:
        """One forecast from every origin whose first target row is ``start`` or later (rows of
        ``df``): long format, one row per (origin, step), with the actual value and the last
        known value at the origin."""
        self._check_fitted()
        frame = self.check(df)
        p, dates = frame[self.target].to_numpy(), frame[self.date_col]
        origins = ft.origins_between(start, len(frame) - 1, self.lookback, self.horizon)  # (B,)
        if len(origins) == 0:
            raise ValueError(f"no complete forecast windows from row {start} on; use a longer file")
        pred = self._forecast(frame, origins)  # (B, h)
        steps = np.arange(1, self.horizon + 1)
        target_rows = origins[:, None] + steps[None, :]  # (B, h)
        return pd.DataFrame({
            "origin": np.repeat(dates.to_numpy()[origins], self.horizon),
            "origin_row": np.repeat(origins, self.horizon),
            "step": np.tile(steps, len(origins)),
            "date": dates.to_numpy()[target_rows.ravel()],
            "last": np.repeat(p[origins], self.horizon),
            "actual": p[target_rows.ravel()],
            "forecast": pred.ravel(),
        })

    @classmethod
    def contract_example(cls):
        from unrolled import data

        return dict(lookback=5, hidden_size=4, epochs=2, batch_size=32, progress=False), data.load("sp500").iloc[:160]

    def contract_predictions(self, df):
        return self.historical_forecasts(df, start=len(df) - 20)["forecast"].to_numpy()

    # -- inspection (unrolled explain / gradflow) ---------------------------------------------
    def describe(self) -> str:
        return f"{super().describe()} of {self.target!r}"

    def inside_span(self, labels) -> str:
        return f"{len(labels)} days, {labels[0]} to {labels[-1]}"

    def inside_input(self, *, csv=None, text=None, start=None, end=None, rows=None):
        """The recurrent layer's input on a date range of ``csv`` (default: the bundled S&P 500),
        transformed and scaled exactly as the forecaster's own windows, one sequence from a zero
        state; with no dates, the last ``rows`` rows (default ``lookback``: the window the next
        forecast reads). Returns ``(x (T, 1, F), labels (T,) dates, series (T,) target, label)``."""
        from unrolled import data

        self._check_fitted()
        if text is not None:
            raise ValueError("a forecast model reads a date range (--csv, --start, --end), not --text")
        frame = self.check(read_csv(data.path("sp500") if csv is None else csv))
        X = self._scaled_rows(frame)  # (N, F)
        dates = frame[self.date_col]
        if start is None and end is None:
            n = self.lookback if rows is None else rows
            if n > len(frame) - 1:
                raise ValueError(f"the CSV has {len(frame)} rows; {n} steps need at least {n + 1}")
            sel = np.arange(len(frame) - n, len(frame))
        else:
            lo = dates.iloc[1] if start is None else _date(start, "--start")
            hi = dates.iloc[-1] if end is None else _date(end, "--end")
            sel = np.flatnonzero(((dates >= lo) & (dates <= hi)).to_numpy())
            sel = sel[sel >= 1]  # row 0 has no change yet
            if len(sel) == 0:
                raise ValueError(f"no rows dated from {lo:%Y-%m-%d} to {hi:%Y-%m-%d} (after the first row); the "
                                 f"CSV runs from {dates.iloc[0]:%Y-%m-%d} to {dates.iloc[-1]:%Y-%m-%d}")
        x = X[sel][:, None, :].astype(self.recurrent_layer().dtype)  # (T, 1, F)
        labels = dates.iloc[sel].dt.strftime("%Y-%m-%d").to_numpy()
        return x, labels, frame[self.target].to_numpy()[sel], self.target

    # -- persistence (the base class saves parameters, learned state and the network) ----------
    def _build_network(self):
        return ManyToOne(self.cell, self.n_features_in_, self.hidden_size, self.horizon, self.num_layers,
                         self.dropout, seed=self.seed)

    def _save_extra(self):
        tail = self.tail_
        arrays = {"tail": tail.drop(columns=self.date_col).to_numpy()}
        meta = {"tail_columns": [c for c in tail.columns if c != self.date_col],
                "tail_dates": [d.isoformat() for d in tail[self.date_col]]}
        return arrays, meta

    def _load_extra(self, arrays, meta):
        tail = pd.DataFrame(arrays["tail"], columns=meta["tail_columns"])
        tail.insert(0, self.date_col, pd.to_datetime(meta["tail_dates"]))
        self.tail_ = tail


def _next_dates(dates: pd.Series, n: int) -> pd.DatetimeIndex:
    """Estimated dates of the next ``n`` rows: business days if the data has no weekend rows,
    else steps of the median spacing."""
    last = dates.iloc[-1]
    if (dates.dt.day_of_week < 5).all() and (dates.diff().dt.days.median() or 1) <= 3:
        return pd.DatetimeIndex([last + pd.offsets.BDay(k) for k in range(1, n + 1)])
    step = dates.diff().median() if len(dates) > 1 else pd.Timedelta(days=1)
    return pd.DatetimeIndex([last + k * step for k in range(1, n + 1)])


def _date(text, flag):
    try:
        return pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ValueError(f"{flag} {text!r} is not a date; write it like 2008-09-15") from None
