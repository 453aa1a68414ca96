"""``Forecaster``: fit a many-to-one recurrent model on a price frame, predict the next values.

Scikit-learn's conventions: ``__init__`` only stores hyperparameters, ``fit(df)`` returns
``self``, learned state ends in ``_``, bad input raises ``ValueError`` naming the fix::

    f = Forecaster(cell="lstm", lookback=30, horizon=1).fit(df)   # df: Date, Close, Volume, ...
    f.predict(1)                        # the next close after df's last row
    f.historical_forecasts(df, start)   # one forecast from every origin from row `start` on
    f.save("model/");  Forecaster.load("model/")

``fit`` holds out the last ``validation_fraction`` of rows for early stopping; the scaler and
the covariate transforms are fitted on the rows before them only. Shapes: ``L`` lookback,
``h`` horizon, ``F`` features per step, ``B`` windows.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from unrolled.train.trainer import TrainConfig, Trainer, index_batches, load_checkpoint, save_checkpoint
from unrolled.nn.losses import MSELoss
from unrolled.tasks.forecast import features as ft
from unrolled.tasks.forecast.frame import calendar_features, prepare, read_csv
from unrolled.tasks.forecast.network import CELLS, ManyToOne


class Forecaster:
    """Many-to-one ``cell`` network over ``lookback`` steps of ``[target change, covariate
    changes, calendar]`` -> the next ``horizon`` values of ``target`` (direct multi-output).

    Hyperparameters (defaults sized to train on 20 years of daily S&P 500 in about a minute on
    2 CPU cores):

    cell, hidden_size, num_layers, dropout -- the network; dropout acts between stacked layers
    lookback, horizon -- window length in, values out
    target, features, date_col -- column names; ``features=None`` uses ``Volume`` if present;
        ``calendar`` adds day-of-week and day-of-year encodings of the dates
    target_transform -- ``"log_return"`` (default), ``"diff"`` or ``"level"``: what the model predicts
    epochs, batch_size, lr, optimizer, weight_decay, clip_norm, schedule, patience -- training
        (``unrolled.train.trainer.TrainConfig``)
    validation_fraction -- the last rows held out for early stopping
    seed -- weights, dropout and shuffling: the same seed gives the same forecasts
    progress, checkpoint_dir -- a tqdm bar; where the engine writes ``best`` / ``last`` checkpoints
    """

    def __init__(self, cell="lstm", lookback=30, horizon=1, hidden_size=32, num_layers=1, dropout=0.0,
                 target="Close", features=None, date_col="Date", calendar=True,
                 target_transform="log_return", epochs=30, batch_size=64, lr=2e-3, optimizer="adam",
                 weight_decay=0.0, clip_norm=1.0, schedule=None, patience=5, validation_fraction=0.15,
                 seed=0, progress=None, checkpoint_dir=None):
        for name, value in locals().items():
            if name != "self":
                setattr(self, name, value)

    # -- scikit-learn plumbing ----------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True) -> dict:
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params) -> "Forecaster":
        for k, v in params.items():
            if k not in self._param_names():
                raise ValueError(f"unknown parameter {k!r}; valid ones are {self._param_names()}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        default = Forecaster()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != getattr(default, k)]
        return f"Forecaster({', '.join(changed)})"

    def _check_params(self) -> None:
        def positive_int(name, low=1):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name}={v!r} is invalid; use a whole number >= {low}")

        if self.cell not in CELLS:
            raise ValueError(f"cell={self.cell!r} is invalid; use 'rnn', 'lstm' or 'gru'")
        for name in ("horizon", "hidden_size", "num_layers"):
            positive_int(name)
        positive_int("lookback", 2)
        if self.target_transform not in ft.TRANSFORMS:
            raise ValueError(f"target_transform={self.target_transform!r} is invalid; use one of {ft.TRANSFORMS}")
        if not (isinstance(self.validation_fraction, (int, float)) and 0 < self.validation_fraction < 0.5):
            raise ValueError(f"validation_fraction={self.validation_fraction!r} is invalid; use a "
                             "fraction in (0, 0.5) such as 0.15")
        if not (isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1):
            raise ValueError(f"dropout={self.dropout!r} is invalid; use a probability in [0, 1)")
        if self.dropout > 0 and self.num_layers == 1:
            raise ValueError(f"dropout={self.dropout} acts between stacked layers, and num_layers=1 has "
                             "none; set num_layers >= 2 or dropout=0")

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
        self._check_params()
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
        self.model_ = ManyToOne(self.cell, self.n_features_in_, self.hidden_size, h, self.num_layers,
                                self.dropout, seed=self.seed)
        loss_fn = MSELoss()

        def step(idx):
            pred = self.model_.forward(ft.windows(X, train_t[idx], L))  # (B, h)
            loss = loss_fn.forward(pred, Y_train[idx].astype(pred.dtype))
            self.model_.backward(loss_fn.backward())
            return loss

        def validate():
            return float(np.mean((self.model_.forward(X_val) - Y_val) ** 2))

        config = TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, optimizer=self.optimizer, lr=self.lr,
            weight_decay=self.weight_decay, clip_norm=self.clip_norm, schedule=self.schedule,
            patience=self.patience, seed=self.seed, progress=self.progress)
        trainer = Trainer(self.model_, config, checkpoint_dir=self.checkpoint_dir, log=log)
        self.history_ = trainer.fit(index_batches(len(train_t), self.batch_size), step, validate, resume=resume)
        self.best_epoch_ = trainer.best_epoch
        self.stopped_early_ = trainer.stopped_early
        self.train_period_ = [str(frame[self.date_col].iloc[0].date()), str(frame[self.date_col].iloc[cut - 1].date())]
        self.tail_ = frame.iloc[-(L + 1):].reset_index(drop=True)  # what predict() starts from
        return self

    # -- prediction ---------------------------------------------------------------------------
    def _check_fitted(self):
        if getattr(self, "model_", None) is None:
            raise ValueError("this Forecaster is not fitted yet; call fit(df) or Forecaster.load(path) first")

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

    # -- persistence --------------------------------------------------------------------------
    _LEARNED = ("features_", "covariate_log_", "x_mean_", "x_std_", "y_mean_", "y_std_", "n_features_in_",
                "history_", "best_epoch_", "stopped_early_", "train_period_")

    def save(self, path) -> None:
        """Write the fitted forecaster to directory ``path`` (``forecaster.json`` + arrays), atomically."""
        self._check_fitted()
        params = {k: v for k, v in self.get_params().items() if k not in ("checkpoint_dir", "progress")}
        tail = self.tail_
        arrays = {f"model/{k}": v for k, v in self.model_.state_dict().items()}
        arrays["tail"] = tail.drop(columns=self.date_col).to_numpy()
        meta = {"params": params, "learned": {k: getattr(self, k) for k in self._LEARNED},
                "tail_columns": [c for c in tail.columns if c != self.date_col],
                "tail_dates": [d.isoformat() for d in tail[self.date_col]]}
        save_checkpoint(path, "forecaster", arrays, _jsonable(meta))

    @classmethod
    def load(cls, path) -> "Forecaster":
        """A forecaster ``save``d to ``path``; predicts exactly as the saved one did."""
        arrays, meta = load_checkpoint(path, "forecaster")
        self = cls(**meta["params"])
        for k, v in meta["learned"].items():
            setattr(self, k, v)
        self.model_ = ManyToOne(self.cell, self.n_features_in_, self.hidden_size, self.horizon,
                                self.num_layers, self.dropout, seed=self.seed)
        self.model_.load_state_dict({k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")})
        self.model_.eval()
        tail = pd.DataFrame(arrays["tail"], columns=meta["tail_columns"])
        tail.insert(0, self.date_col, pd.to_datetime(meta["tail_dates"]))
        self.tail_ = tail
        return self


def _next_dates(dates: pd.Series, n: int) -> pd.DatetimeIndex:
    """Estimated dates of the next ``n`` rows: business days if the data has no weekend rows,
    else steps of the median spacing."""
    last = dates.iloc[-1]
    if (dates.dt.day_of_week < 5).all() and (dates.diff().dt.days.median() or 1) <= 3:
        return pd.DatetimeIndex([last + pd.offsets.BDay(k) for k in range(1, n + 1)])
    step = dates.diff().median() if len(dates) > 1 else pd.Timedelta(days=1)
    return pd.DatetimeIndex([last + k * step for k in range(1, n + 1)])


def _jsonable(obj):
    """NumPy scalars and tuples -> plain Python, for json.dumps."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj

