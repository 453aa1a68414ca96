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

from unrolled.tasks.base import SavedStateError, TaskEstimator, network_hyperparams, training_hyperparams
from unrolled.train.hyperparams import Hyper, flag_value, fraction, optional_flag, text, whole
from unrolled.train import index_batches
from unrolled.train.world import shard_rows, sum_over
from unrolled.nn.losses import MSELoss
from unrolled.tasks.forecast import features as ft
from unrolled.tasks.forecast import heads
from unrolled.tasks.forecast.frame import calendar_features, date_format_of, prepare, read_csv
from unrolled.tasks.forecast.network import ManyToOne

EVAL_CHUNK = 4096  # windows forwarded at once when validating and forecasting: memory grows with this, not the data
# The validation MSE on the standardized target above which a run has diverged: predicting the
# training mean scores about 1, so this is forecasts off by a thousand standard deviations.
DIVERGED_MSE = 1e6


def _columns_list(text):
    """``--features Volume,Open`` -> ["Volume", "Open"]; ``''`` -> [] (no covariates)."""
    return [c.strip() for c in text.split(",") if c.strip()]


def _date_format():
    """None, or strptime codes such as ``%d/%m/%Y``."""

    def check(v):
        if v is not None and not (isinstance(v, str) and "%" in v):
            raise ValueError("use strptime codes such as '%d/%m/%Y' or '%Y-%m-%d %H:%M', or None to detect the form")

    check.type, check.none = str, "to detect the form"
    return check


def _column_names(v):
    """None, a comma-separated string or a list of distinct, non-empty column names."""
    if v is None:
        return
    names = _columns_list(v) if isinstance(v, str) else v
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError("use column names, e.g. ['Volume'] or 'Volume,Open' ('' for none)")
    if len(set(names)) != len(names):
        raise ValueError(f"name each covariate once (got {list(names)})")


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
                                "(None: Volume if present)", _column_names, type=_columns_list),
        "date_col": Hyper("Date", "the date column", text()),
        "date_format": Hyper(None, "how the dates are written, in strptime codes such as %d/%m/%Y (None: ISO "
                                   "dates as written, d/m/y day- or month-first as the data shows)", _date_format()),
        "dayfirst": Hyper(None, "read d/m/y dates day-first, 01/02/2010 = 1 February (None: as the data shows; "
                                "refused when every date could be either)", optional_flag()),
        "calendar": Hyper(True, "add day-of-week and day-of-year encodings of the dates", flag_value()),
        "range_cols": Hyper(None, "two columns, high and low (e.g. High,Low), whose log ratio each day is fed as a "
                                  "volatility input (Parkinson's range); '' for none (None: High,Low when the data "
                                  "has them and a distribution is predicted)", _column_names, type=_columns_list),
        "target_transform": Hyper("log_return", "what the model predicts: prices far above the training "
                                                "range are reached by returns, not levels", choices=ft.TRANSFORMS),
        "distribution": Hyper("point", "point (one value, squared error) or the next change's distribution: normal, "
                                       "studentt (fat tails) or quantile (11 levels, pinball loss), for intervals",
                              choices=heads.DISTRIBUTIONS),
        **training_hyperparams(epochs=30, batch_size=64, lr=2e-3, clip_norm=1.0, patience=5,
                               why_epochs="; early stopping usually ends sooner",
                               why_batch=": a few dozen windows steady Adam",
                               why_lr=": Adam's rate, a little above 1e-3 for a model this small",
                               why_patience=": daily returns are noisy, so a few epochs of slack"),
        "validation_fraction": Hyper(0.15, "the last share of the fitted rows held out for early stopping",
                                     fraction(0, 0.5, closed_low=False, example=0.15)),
    }
    learned = ("features_", "range_", "covariate_log_", "x_mean_", "x_std_", "y_mean_", "y_std_", "n_features_in_",
               "history_", "best_epoch_", "stopped_early_", "train_period_")

    def _range(self, df=None) -> list[str]:
        """The high and low columns of the range input, or [] (a fitted model: its own)."""
        if getattr(self, "range_", None) is not None:
            return self.range_
        if self.range_cols is None:
            auto = self.distribution != "point" and df is not None and self.target not in ("High", "Low")
            return ["High", "Low"] if auto and {"High", "Low"} <= set(df.columns) else []
        return _columns_list(self.range_cols) if isinstance(self.range_cols, str) else list(self.range_cols)

    def _check_together(self) -> None:
        super()._check_together()
        if self.range_cols is not None and len(self._range()) not in (0, 2):
            raise ValueError(f"Forecaster: range_cols={self.range_cols!r} is invalid; use two columns, the day's "
                             "high and low, e.g. 'High,Low' (--range-cols)")
        names = _columns_list(self.features) if isinstance(self.features, str) else list(self.features or [])
        clash = [n for n in names if n in (self.target, self.date_col)]
        if clash:
            raise ValueError(f"Forecaster: features={self.features!r} is invalid; {clash[0]!r} is the target or the "
                             "date column already: list only other columns (--features)")

    def _columns(self, df) -> list[str]:
        if getattr(self, "features_", None) is not None:
            return self.features_
        if self.features is None:
            return ["Volume"] if "Volume" in df.columns and self.target != "Volume" else []
        feats = self.features.split(",") if isinstance(self.features, str) else list(self.features)
        return [f.strip() for f in feats if f.strip()]

    # -- data -> arrays ----------------------------------------------------------------------
    def check(self, df) -> pd.DataFrame:
        """Read and validate ``df`` (a DataFrame or CSV path) -> the clean frame ``fit`` would use;
        ``frame.attrs["notes"]``: what was detected or turned around (``frame.prepare``)."""
        self.check_params()
        df = read_csv(df)
        hint = date_hint = None
        if getattr(self, "features_", None) is not None:  # a fitted model: its own columns, not flags
            ranged = f" (and the daily range of {' / '.join(self.range_)})" if getattr(self, "range_", None) else ""
            hint = (f"this model was trained on the date column {self.date_col!r}, target {self.target!r} and "
                    f"covariates {self.features_}{ranged}: give a CSV with those columns (rename them in the file; "
                    "--date-col, --target and --features are fixed when training)")
            date_hint = "or give --date-format / --dayfirst"
        extra = [c for c in self._range(df) if c not in (self.target, *self._columns(df))]
        frame = prepare(df, self.date_col, [self.target, *self._columns(df), *extra], date_format=self.date_format,
                        dayfirst=self.dayfirst, hint=hint, date_hint=date_hint)
        rng_cols = self._range(df)
        if rng_cols:
            high, low = (frame[c].to_numpy() for c in rng_cols)
            bad = np.flatnonzero((low <= 0) | (high < low))
            if bad.size:
                row = int(bad[0])
                raise ValueError(f"the range input log({rng_cols[0]}/{rng_cols[1]}) needs 0 < {rng_cols[1]} <= "
                                 f"{rng_cols[0]}; data row {row + 1} has {rng_cols[0]} {high[row]} and {rng_cols[1]} "
                                 f"{low[row]} ({bad.size} such row(s)): fix them, swap --range-cols if the columns "
                                 "are the other way round, or pass --range-cols '' for no range input")
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
        if self.range_:
            high, low = (frame[c].to_numpy() for c in self.range_)
            with np.errstate(divide="ignore", invalid="ignore"):
                cols.append(np.log(high / low)[:, None])  # (N, 1): the day's range, a volatility reading
        return np.concatenate(cols, axis=1)

    def _scaled_rows(self, frame, rows=None) -> np.ndarray:
        """The input rows (N, F) standardized: ``rows`` (default ``_rows(frame)``) scaled in place."""
        X = self._rows(frame) if rows is None else rows  # (N, F)
        X -= np.asarray(self.x_mean_)
        X /= np.asarray(self.x_std_)
        bad = ~np.isfinite(X[1:]).all(axis=1)
        if bad.any():
            row = int(np.argmax(bad)) + 1
            raise ValueError(f"the inputs at {frame[self.date_col].iloc[row]} are not finite: a covariate "
                             f"among {self.features_} is zero or negative there, but was positive throughout "
                             "training (its change is a log ratio); fix that row or drop the covariate")
        return X

    def _cuts(self, n: int, test_fraction=None) -> list[int] | None:
        """Row cuts ``[train | validation (| test)]`` for ``n`` rows, or None if some part would
        hold no complete window. O(1): the windows are counted, not made."""
        L, h = self.lookback, self.horizon
        ends = [n] if test_fraction is None else [ft.split_rows(n, test_fraction), n]
        cuts = [ft.split_rows(ends[0], self.validation_fraction), *ends]
        starts = [1, *cuts[:-1]]
        if all(ft.count_origins(a, b - 1, L, h) for a, b in zip(starts, cuts)):
            return cuts
        return None

    def _rows_needed(self, test_fraction=None) -> int:
        """The fewest rows with a window in every part: a binary search (every part grows with the
        rows), O(log) in lookback + horizon -- no loop over row counts, whatever the sizes."""
        hi = 2 * (self.lookback + self.horizon + 2)
        while self._cuts(hi, test_fraction) is None:
            hi *= 2
        lo = 1  # _cuts(lo) is None: one row holds no window
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if self._cuts(mid, test_fraction) is not None else (mid, hi)
        return hi

    def _require_rows(self, n: int, test_fraction=None) -> list[int]:
        """The cuts of ``_cuts``, or a ValueError that says how many rows are needed."""
        cuts = self._cuts(n, test_fraction)
        if cuts is None:
            need = self._rows_needed(test_fraction)
            parts = "training / validation" + (" / test" if test_fraction is not None else "")
            raise ValueError(f"{n} rows are too few for lookback={self.lookback}, horizon={self.horizon} "
                             f"and the {parts} split: need at least {need}; use a longer file or a smaller "
                             "--lookback / --horizon")
        return cuts

    # -- training -----------------------------------------------------------------------------
    def fit(self, df, *, resume=False, log=None) -> "Forecaster":
        """Train on ``df`` (DataFrame or CSV path); its last ``validation_fraction`` drives early
        stopping. ``resume=True`` continues the run saved in ``checkpoint_dir`` (its parameters
        checked first: ``TaskEstimator.check_resume``). Returns self."""
        if resume:
            self.check_resume()
        self.features_ = self.range_ = None  # resolved afresh from this df
        frame = self.check(df)
        self.features_, self.range_ = self._columns(frame), self._range(frame)
        n = len(frame)
        cut = self._require_rows(n)[0]  # rows [0, cut) train, [cut, n) validation
        p = frame[self.target].to_numpy()
        self.covariate_log_ = [bool(np.all(frame[c].to_numpy()[:cut] > 0)) for c in self.features_]
        raw = self._rows(frame)  # (N, F)
        x_scaler = ft.Scaler().fit(raw[1:cut])  # training rows only
        self.x_mean_, self.x_std_ = x_scaler.mean_.tolist(), x_scaler.std_.tolist()
        X = self._scaled_rows(frame, raw)  # (N, F), raw scaled in place
        del raw
        L, h = self.lookback, self.horizon
        train_t = ft.origins_between(1, cut - 1, L, h)  # (B_train,)
        val_t = ft.origins_between(cut, n - 1, L, h)  # (B_val,)

        def targets(origins):
            return ft.to_target(p[origins][:, None], ft.future(p, origins, h), self.target_transform)  # (B, h)

        y_scaler = ft.Scaler().fit(targets(train_t))
        self.y_mean_, self.y_std_ = y_scaler.mean_.tolist(), y_scaler.std_.tolist()
        Y_train, Y_val = y_scaler.transform(targets(train_t)), y_scaler.transform(targets(val_t))

        self.n_features_in_ = X.shape[1]
        self.model_ = self._build_network()
        loss_fn = MSELoss()
        P = heads.n_params(self.distribution)

        def step(idx):
            out = self.model_.forward(ft.windows(X, train_t[idx], L))  # (B, h * P)
            if self.distribution == "point":
                loss = loss_fn.forward(out, Y_train[idx].astype(out.dtype))
                self.model_.backward(loss_fn.backward())
                return loss
            loss, draw = heads.loss(self.distribution, out.reshape(len(idx), h, P), Y_train[idx])
            self.model_.backward(draw.reshape(out.shape).astype(out.dtype))
            return loss

        def validate():  # in chunks (memory grows with EVAL_CHUNK); each process its shard, the sums reduced
            mine = shard_rows(trainer.world, len(val_t))
            total = 0.0
            for part in ft.chunks(len(mine), EVAL_CHUNK):
                rows = mine[part]
                out = self.model_.forward(ft.windows(X, val_t[rows], L))
                if self.distribution == "point":
                    total += float(np.sum((out - Y_val[rows]) ** 2))
                else:  # the mean loss of the chunk, weighted by its size
                    total += heads.loss(self.distribution, out.reshape(len(out), h, P), Y_val[rows])[0] * out.size / P
            return float(sum_over(trainer.world, [total])[0]) / Y_val.size

        dates = frame[self.date_col]
        fmt = date_format_of(dates)
        self.train_period_ = [f"{dates.iloc[0]:{fmt}}", f"{dates.iloc[cut - 1]:{fmt}}"]
        data = {"rows": n, "dates": [f"{dates.iloc[0]:{fmt}}", f"{dates.iloc[-1]:{fmt}}"],
                "inputs": ", ".join([self.target, *self.features_, *self.range_])}  # a resumed run reads the same
        trainer = self.make_trainer(self.model_, data=data, log=log)
        self.history_ = trainer.fit(index_batches(len(train_t), self.batch_size), step, validate, resume=resume)
        if not trainer.best_loss <= DIVERGED_MSE:  # finite, but no forecast: refuse rather than report inf
            # (for a distribution the loss is an NLL or pinball loss: the same bound, far out of reach)
            raise ValueError(f"training diverged: the best validation MSE is {trainer.best_loss:.3g} on the "
                             f"standardized target (predicting the mean scores about 1); lower the learning rate "
                             f"(lr={self.lr})")
        self.best_epoch_ = trainer.best_epoch
        self.stopped_early_ = trainer.stopped_early
        self.tail_ = frame.iloc[-(L + 1):].reset_index(drop=True)  # what predict() starts from
        return self

    # -- prediction ---------------------------------------------------------------------------
    def _forecast(self, frame, origins) -> np.ndarray:
        """Predicted target values (B, h) from each origin row of ``frame``, ``EVAL_CHUNK`` origins
        at a time (memory grows with the chunk, not the data)."""
        if self.distribution != "point":
            return self.price_quantiles(frame, origins, [0.5])[..., 0]  # the median
        y = self._outputs(frame, origins)[..., 0] * np.asarray(self.y_std_) + np.asarray(self.y_mean_)  # (B, h)
        p = frame[self.target].to_numpy()
        with np.errstate(over="ignore", invalid="ignore"):
            price = ft.to_price(p[origins][:, None], y, self.target_transform)
        if not np.all(np.isfinite(price)):
            raise ValueError(f"the model's forecasts overflow (a predicted change of {np.nanmax(np.abs(y)):.3g}): "
                             f"it diverged in training; refit with a lower learning rate (lr={self.lr})")
        return price

    def _outputs(self, frame, origins) -> np.ndarray:
        """The network's raw outputs (B, h, P) from each origin row of ``frame`` (on the standardised
        target), ``EVAL_CHUNK`` origins at a time."""
        X = self._scaled_rows(frame)
        self.model_.eval()
        P = heads.n_params(self.distribution)
        out = np.empty((len(origins), self.horizon, P))
        for part in ft.chunks(len(origins), EVAL_CHUNK):
            out[part] = self.model_.forward(ft.windows(X, origins[part], self.lookback)).reshape(-1, self.horizon, P)
        return out

    def change_distribution(self, frame, origins, step=1, raw=None):
        """The predicted distribution of the target's change (``target_transform``: the log return
        by default) ``step`` rows after each origin row of ``frame``: a ``Normal``, ``StudentT`` or
        ``Quantiles`` over the origins (``unrolled.tasks.forecast.distributions``)."""
        from unrolled.tasks.forecast import intervals

        self._check_fitted()
        if self.distribution == "point":
            raise ValueError("this forecaster predicts one value (distribution='point'); refit with "
                             "--distribution normal, studentt or quantile for intervals")
        raw = (self._outputs(frame, np.asarray(origins)) if raw is None else raw)[:, step - 1]  # (B, P)
        return intervals.change_distribution(self.distribution, raw, self.y_mean_[step - 1], self.y_std_[step - 1])

    def price_quantiles(self, frame, origins, levels) -> np.ndarray:
        """(B, h, len(levels)) prices: each level's quantile of the target ``1..h`` rows after each
        origin, mapped from the change's distribution (the map is increasing, so quantiles map)."""
        p = frame[self.target].to_numpy()
        raw = self._outputs(frame, origins)  # (B, h, P), once for every step
        out = np.empty((len(origins), self.horizon, len(levels)))
        for k in range(self.horizon):
            dist = self.change_distribution(frame, origins, k + 1, raw)
            for j, u in enumerate(levels):
                out[:, k, j] = ft.to_price(p[origins], dist.ppf(np.full(len(origins), u)), self.target_transform)
        if not np.all(np.isfinite(out)):
            raise ValueError(f"the model's forecasts overflow: it diverged in training; refit with a lower "
                             f"learning rate (lr={self.lr})")
        return out

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
        origin = np.array([len(frame) - 1])
        pred = self._forecast(frame, origin)[0, :n]  # (n,)
        out = pd.DataFrame({"step": np.arange(1, n + 1), "date": next_dates(frame[self.date_col], n),
                            "forecast": pred})
        if self.distribution != "point":  # the median is the forecast; the central intervals beside it
            from unrolled.tasks.forecast.intervals import interval_columns

            out = pd.concat([out, interval_columns(self.price_quantiles, frame, origin, n)], axis=1)
        return out

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
        labels = dates.iloc[sel].dt.strftime(date_format_of(dates)).to_numpy()
        return x, labels, frame[self.target].to_numpy()[sel], self.target

    # -- persistence (the base class saves parameters, learned state and the network) ----------
    def _build_network(self):
        outputs = self.horizon * heads.n_params(self.distribution)  # P raw outputs per step
        return ManyToOne(self.cell, self.n_features_in_, self.hidden_size, outputs, self.num_layers,
                         self.dropout, seed=self.seed)

    def _save_extra(self):
        tail = self.tail_
        arrays = {"tail": tail.drop(columns=self.date_col).to_numpy()}
        meta = {"tail_columns": [c for c in tail.columns if c != self.date_col],
                "tail_dates": [d.isoformat() for d in tail[self.date_col]]}
        return arrays, meta

    def _load_extra(self, arrays, meta):
        tail, columns, stamps = arrays.get("tail"), meta.get("tail_columns"), meta.get("tail_dates")
        if not (isinstance(tail, np.ndarray) and tail.dtype.kind == "f" and tail.ndim == 2):
            what = "missing" if tail is None else f"a {tail.dtype} array of shape {tail.shape}"
            raise SavedStateError(f"'tail' (the last rows predict starts from) is {what}, not a 2-D float array",
                                  arrays=True)
        if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns) and len(set(columns))
                == len(columns) == tail.shape[1]):
            raise SavedStateError(f"'tail_columns' {columns!r} are not {tail.shape[1]} distinct column names, one "
                                  "per column of the arrays' 'tail'")
        if not (isinstance(stamps, list) and len(stamps) == tail.shape[0] and all(isinstance(d, str) for d in stamps)):
            raise SavedStateError(f"'tail_dates' is not a list of {tail.shape[0]} dates, one per row of 'tail'")
        if not np.isfinite(tail).all():
            raise SavedStateError("'tail' holds NaN or infinite values", arrays=True)
        dates = pd.to_datetime(pd.Series(stamps), errors="coerce", format="ISO8601")
        if dates.isna().any() or not (dates.diff().dropna() > pd.Timedelta(0)).all():
            raise SavedStateError("'tail_dates' are not increasing ISO dates")
        tail = pd.DataFrame(tail, columns=columns)
        tail.insert(0, self.date_col, dates.dt.tz_localize(None) if dates.dt.tz is not None else dates)
        self.tail_ = tail

    def _check_loaded(self, arrays, meta):
        """What ``load`` set, against itself and the parameters: the columns, the scaler's lengths
        (finite, std > 0), the number of inputs, the tail's rows and columns."""
        feats = self.features_
        if not (isinstance(feats, list) and all(isinstance(c, str) and c for c in feats)
                and len(set(feats)) == len(feats) and self.target not in feats):
            raise SavedStateError(f"learned 'features_' {feats!r} is not a list of distinct column names")
        logs = self.covariate_log_
        if not (isinstance(logs, list) and len(logs) == len(feats) and all(isinstance(b, bool) for b in logs)):
            raise SavedStateError(f"learned 'covariate_log_' {logs!r} is not {len(feats)} true/false value(s), one "
                                  "per covariate")
        rng = getattr(self, "range_", None)
        if rng is None:  # saved before the range input existed
            self.range_ = rng = []
        if not (isinstance(rng, list) and len(rng) in (0, 2) and all(isinstance(c, str) and c for c in rng)
                and len(set(rng)) == len(rng)):
            raise SavedStateError(f"learned 'range_' {rng!r} is not [] or two column names (high, low)")
        F = 1 + len(feats) + (4 if self.calendar else 0) + (1 if rng else 0)
        if not (isinstance(self.n_features_in_, int) and not isinstance(self.n_features_in_, bool)
                and self.n_features_in_ == F):
            raise SavedStateError(f"learned 'n_features_in_' is {self.n_features_in_!r}; the target, {len(feats)} "
                                  f"covariate(s) and calendar={self.calendar} make {F}")
        for name, size in (("x_mean_", F), ("x_std_", F), ("y_mean_", self.horizon), ("y_std_", self.horizon)):
            v = getattr(self, name)
            ok = isinstance(v, list) and len(v) == size and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) for x in v)
            if not ok:
                raise SavedStateError(f"learned {name!r} is {v!r}; it must be {size} finite number(s) ("
                                      f"{'n_features_in_' if size == F else 'horizon'} = {size})")
            if name.endswith("std_") and min(v) <= 0:
                raise SavedStateError(f"learned {name!r} has the value {min(v)}; a standard deviation is > 0")
        missing = [c for c in [self.target, *feats] if c not in self.tail_.columns]
        if missing or len(self.tail_) != self.lookback + 1:
            raise SavedStateError(f"'tail' has {len(self.tail_)} rows of {list(self.tail_.columns)[1:]}; the "
                                  f"model needs lookback + 1 = {self.lookback + 1} rows of {[self.target, *feats]}")


def next_dates(dates: pd.Series, n: int) -> pd.DatetimeIndex:
    """Estimated dates of the next ``n`` rows, the series' own step on: the frequency pandas infers
    (business days, hours, month starts, ...), else the median spacing -- business days for daily
    data without weekend rows, calendar months or years for monthly or yearly spacing. The time of
    day is kept."""
    dates = pd.Series(pd.DatetimeIndex(dates))
    last = dates.iloc[-1]
    if len(dates) < 2:
        return pd.DatetimeIndex([last + pd.Timedelta(days=k) for k in range(1, n + 1)])
    offset = _inferred_offset(dates.iloc[-200:])
    if offset is None:
        step = dates.diff().median()
        days = step / pd.Timedelta(days=1)
        if 1 <= days <= 3 and (dates.dt.day_of_week < 5).all():
            offset = pd.offsets.BDay(1)
        elif 28 <= days <= 31:
            offset = pd.DateOffset(months=1)
        elif 89 <= days <= 92:
            offset = pd.DateOffset(months=3)
        elif 365 <= days <= 366:
            offset = pd.DateOffset(years=1)
        else:
            return pd.DatetimeIndex([last + k * step for k in range(1, n + 1)])
    return pd.DatetimeIndex([last + k * offset for k in range(1, n + 1)])


def _inferred_offset(dates: pd.Series):
    """The frequency pandas infers for ``dates`` as an offset, or None."""
    import warnings

    if len(dates) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 warns that it will return an offset instead of a string
        try:
            freq = pd.infer_freq(pd.DatetimeIndex(dates))
        except (TypeError, ValueError):
            return None
    return None if freq is None else pd.tseries.frequencies.to_offset(freq)


def _date(text, flag):
    try:
        return pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ValueError(f"{flag} {text!r} is not a date; write it like 2008-09-15") from None
