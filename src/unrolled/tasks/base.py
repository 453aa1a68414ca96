"""The base of every task estimator (scikit-learn style), so that a task writes only its data and
its network.

A task declares its hyperparameters once, as a table of ``Hyper`` (default, a one-line reason, a
check; ``unrolled.train.hyperparams``). From that table come::

    __init__ / its signature      keyword arguments (``positional`` names may come first)
    check_params()                every value checked, the message naming the fix (also in __init__)
    get_params / set_params       so ``sklearn.base.clone`` works
    __repr__                      the parameters that differ from their defaults
    add_arguments(parser)         the command-line flags with their help (``--hidden-size`` ...)
    train_config(**task)          the mapping onto the training engine's ``TrainConfig``
    save(dir) / load(dir)         ``estimator.json`` (task, parameters, learned state) + arrays; a
                                  loaded one is checked (``_check_loaded``), errors name the file
    make_trainer / check_resume   the engine, its checkpoints carrying these parameters, and the
                                  check of a resumed run against them before any training

A subclass sets ``task`` (its registry name), ``hyperparams``, ``network_attr`` (the fitted
network, e.g. ``"model_"``), ``learned`` (JSON-able fitted attributes to save), and implements
``fit``, ``_build_network()`` (the untrained network from the parameters and learned state) and,
for inspection, ``recurrent_layer()`` / ``inside_input(...)`` / ``describe()``. Learned state ends
in ``_``; ``fit`` returns ``self``.

Resuming (``fit(..., resume=True)``, ``--resume``): every checkpoint carries the estimator's
parameters (``make_trainer``). Before any training, ``check_resume`` compares them with this
estimator's: a parameter set explicitly (a keyword to the constructor or ``set_params``, a flag
typed on the command line) must equal the saved one, else a ValueError names every differing flag
with both values; a parameter left at its default takes the saved value (and ``check_resume``
returns those, for the run to say so). Only ``RESUME_MAY_CHANGE`` -- how long to train -- may be
set to a new value. Refusing, not silently overriding, is the choice: a resumed run cannot
differ from the one its checkpoint came from without the user seeing it.
"""

from __future__ import annotations

import argparse
import inspect
import pathlib
from typing import ClassVar

import numpy as np

from unrolled.nn.recurrent import LAYERS
from unrolled.files import load_store, read_json, save_store
from unrolled.train.config import TrainConfig, check_parameters, recurrent_parameters
from unrolled.train.trainer import Trainer
from unrolled.train.hyperparams import Hyper, fraction, nonnegative, optional_flag, positive, whole

ESTIMATOR_FILE = "estimator"  # <dir>/estimator.json names the arrays of every task's saved model
FORMAT = "unrolled-estimator-1"


def network_hyperparams(cell="lstm", hidden_size=32, num_layers=1, dropout=0.0, *, why_hidden="",
                        why_dropout="") -> dict[str, Hyper]:
    """The recurrent network's hyperparameters, the same names in every task."""
    return {
        "cell": Hyper(cell, "recurrent cell", choices=LAYERS),  # live: a cell registered later is a choice too
        "hidden_size": Hyper(hidden_size, f"hidden units H per layer{why_hidden}", whole()),
        "num_layers": Hyper(num_layers, "stacked recurrent layers", whole()),
        "dropout": Hyper(dropout, f"dropout probability{why_dropout}", fraction(0, 1, example=0.2)),
    }


def training_hyperparams(*, epochs, batch_size, lr, clip_norm, patience, why_epochs="", why_batch="",
                         why_lr="", why_clip="", why_patience="", optimizer="adam") -> dict[str, Hyper]:
    """How the engine trains, the same names in every task (``TrainConfig``'s, where it has them)."""
    return {
        "epochs": Hyper(epochs, f"most passes over the training data{why_epochs}", whole()),
        "batch_size": Hyper(batch_size, f"examples per optimizer step{why_batch}", whole()),
        "optimizer": Hyper(optimizer, "the optimizer", choices=("sgd", "adam", "adamw")),
        "lr": Hyper(lr, f"learning rate{why_lr}", positive(example=lr)),
        "lr_decay": Hyper(1.0, "multiply the learning rate by this after every epoch (1 keeps it constant)",
                          fraction(0, 1, closed_low=False, closed_high=True, example=0.5)),
        "weight_decay": Hyper(0.0, "L2 penalty on the weights (0 = off; seed 001's remedy for overfitting)",
                              nonnegative()),
        "clip_norm": Hyper(clip_norm, f"bound on the joint gradient norm, seed 004's remedy for exploding "
                                      f"gradients{why_clip}", positive(none="for no clipping")),
        "patience": Hyper(patience, f"epochs without a better validation loss before stopping{why_patience}",
                          whole(none="for no early stopping")),
        "max_steps": Hyper(None, "stop after this many optimizer steps in all (None: epochs decide; when set, "
                                 "epochs is not used)", whole(none="to let epochs decide")),
        "eval_every": Hyper(None, "validate, checkpoint and count an epoch every this many optimizer steps "
                                  "(None: once per pass over the data)", whole(none="for once per pass")),
        "max_minutes": Hyper(None, "wall-clock budget of fit, validation included (None: no limit)",
                             positive(none="for no time limit"), type=float),
        "seed": Hyper(0, "seeds weights, dropout and shuffling: the same seed gives the same model", whole(0)),
        "progress": Hyper(None, "a progress bar with the running loss (None: only on a terminal)", optional_flag(),
                          flag=None),
        "checkpoint_dir": Hyper(None, "where the engine writes its best / last checkpoints (needed to resume)",
                                flag=None),
    }


RUN_ONLY = ("checkpoint_dir", "progress")  # how one run goes, not what the model is: never saved
RESUME_MAY_CHANGE = ("epochs", "max_steps", "max_minutes")  # how long to train: a resumed run may go on longer
RESUME_STATE = "estimator"  # the key of the parameters in a checkpoint's extra state
GIVEN = "_given_flags"  # the argparse namespace's record of the flags typed (add_arguments)


class SavedStateError(ValueError):
    """A saved estimator's state is wrong; ``arrays``: in its arrays file (else in its JSON)."""

    def __init__(self, message, *, arrays=False):
        super().__init__(message)
        self.arrays = arrays


class TaskEstimator:
    """See the module docstring."""

    task: ClassVar[str] = ""
    hyperparams: ClassVar[dict[str, Hyper]] = {}
    positional: ClassVar[tuple[str, ...]] = ()
    network_attr: ClassVar[str] = "model_"
    learned: ClassVar[tuple[str, ...]] = ()
    noun: ClassVar[str] = "model"  # what the task's model is called in titles ("forecaster", ...)

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        params = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=cls.hyperparams[n].default)
                  for n in cls.positional]
        params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=h.default)
                   for n, h in cls.hyperparams.items() if n not in cls.positional]
        cls.__signature__ = inspect.Signature(params)  # what help(), IDEs and scikit-learn see

    def __init__(self, *args, **params):
        name = type(self).__name__
        if len(args) > len(self.positional):
            raise TypeError(f"{name}() takes at most {len(self.positional)} positional arguments "
                            f"({', '.join(self.positional) or 'none'}); pass the others by name")
        for key, value in zip(self.positional, args):
            if key in params:
                raise TypeError(f"{name}() got {key!r} twice")
            params[key] = value
        unknown = sorted(set(params) - set(self.hyperparams))
        if unknown:
            raise TypeError(f"{name}() got unknown parameter(s) {unknown}; valid ones are {list(self.hyperparams)}")
        for key, h in self.hyperparams.items():
            setattr(self, key, params.get(key, h.default))
        self._given = frozenset(params)  # set explicitly: a resumed run must agree on these
        self.check_params()

    # -- scikit-learn plumbing ----------------------------------------------------------------
    def get_params(self, deep=True) -> dict:
        return {k: getattr(self, k) for k in self.hyperparams}

    def set_params(self, **params):
        for k, v in params.items():
            if k not in self.hyperparams:
                raise ValueError(f"{type(self).__name__}: unknown parameter {k!r}; valid ones are {list(self.hyperparams)}")
            setattr(self, k, v)
        self._given = getattr(self, "_given", frozenset()) | set(params)
        self.check_params()
        return self

    def __repr__(self) -> str:
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if not _same(v, self.hyperparams[k].default)]
        return f"{type(self).__name__}({', '.join(changed)})"

    def check_params(self) -> None:
        """Every hyperparameter against its declared check, then ``_check_together``; ValueError naming the fix."""
        for key, h in self.hyperparams.items():
            h.validate(type(self).__name__, key, getattr(self, key))
        self._check_together()

    def _check_together(self) -> None:
        """Checks that involve several parameters (a subclass adds its own): dropout needs a stack,
        and the recurrent stack's size stays below ``MAX_PARAMETERS`` (checked before anything is
        allocated: ``--hidden-size 1000000`` is a typo, not a model)."""
        if {"cell", "hidden_size", "num_layers"} <= set(self.hyperparams):
            count = recurrent_parameters(self.cell, getattr(self, "embedding_dim", 1), self.hidden_size,
                                         self.num_layers)
            check_parameters(count, f"{type(self).__name__}: hidden_size={self.hidden_size} with num_layers="
                                    f"{self.num_layers} ({self.cell})",
                             "use a smaller --hidden-size (or --num-layers)")
        if getattr(self, "dropout", 0) > 0 and getattr(self, "num_layers", 2) == 1 and not self._dropout_outside_stack:
            raise ValueError(f"{type(self).__name__}: dropout={self.dropout} acts between stacked layers, and "
                             "num_layers=1 has none; set num_layers >= 2 or dropout=0")

    _dropout_outside_stack: ClassVar[bool] = False  # True where dropout also acts outside the stack (the LM)

    def _check_fitted(self) -> None:
        if getattr(self, self.network_attr, None) is None:
            raise ValueError(f"this {type(self).__name__} is not fitted yet; call fit(...) or "
                             f"{type(self).__name__}.load(path) first")

    # -- the training engine ------------------------------------------------------------------
    def train_config(self, **task) -> TrainConfig:
        """The engine's configuration from the shared hyperparameters; ``task`` adds or overrides
        (e.g. ``shuffle=False`` for streams)."""
        config = dict(
            epochs=None if self.max_steps is not None else self.epochs, max_steps=self.max_steps,
            eval_every=self.eval_every, batch_size=self.batch_size, optimizer=self.optimizer, lr=self.lr,
            weight_decay=self.weight_decay, clip_norm=self.clip_norm,
            schedule=None if self.lr_decay == 1 else "exponential", gamma=self.lr_decay,
            patience=self.patience, seed=self.seed, progress=self.progress,
            max_seconds=None if self.max_minutes is None else 60.0 * self.max_minutes)
        config.update(task)
        return TrainConfig(**config)

    def make_recurrent(self, input_size, **kw):
        """The recurrent layer stack of ``cell`` / ``hidden_size`` / ``num_layers`` / ``dropout``."""
        return LAYERS[self.cell](input_size, self.hidden_size, self.num_layers, dropout=self.dropout, **kw)

    def make_trainer(self, net, config=None, *, data=None, extra_state=None, load_extra_state=None,
                     **kw) -> Trainer:
        """The engine for ``fit``: a ``Trainer`` writing to ``checkpoint_dir``, whose checkpoints also
        carry these parameters (and ``data``, a JSON description of what is trained on) for
        ``check_resume``. ``extra_state`` / ``load_extra_state``: the task's own, as ``Trainer``'s."""
        record = {"task": self.task, "params": self._saved_params(), "data": jsonable(data)}

        def save():
            state = dict(extra_state() or {}) if extra_state is not None else {}
            state[RESUME_STATE] = record
            return state

        def load(state):
            saved = (state or {}).get(RESUME_STATE) or {}
            if saved.get("data") is not None and record["data"] is not None and saved["data"] != record["data"]:
                raise ValueError(f"--resume: this run was started on {_words(saved['data'])}; now on "
                                 f"{_words(record['data'])}; resume with the same data (the same --csv and "
                                 "--test-fraction, or --text), or start a new run in another --out")
            if load_extra_state is not None:
                load_extra_state(state)

        return Trainer(net, config or self.train_config(), checkpoint_dir=self.checkpoint_dir, extra_state=save,
                       load_extra_state=load, **kw)

    def _saved_params(self) -> dict:
        return jsonable({k: v for k, v in self.get_params().items() if k not in RUN_ONLY})

    def check_resume(self, name: str = "last") -> list[str]:
        """Before a resumed ``fit``: the parameters saved in ``checkpoint_dir``'s checkpoint against
        these (module docstring). Raises ValueError naming every explicitly set flag that differs;
        sets the others to the saved values and returns them as flags (``["--lr 0.01"]``)."""
        if self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir: the directory the interrupted run wrote to")
        path = pathlib.Path(self.checkpoint_dir) / f"{name}.json"
        if not path.is_file():
            raise ValueError(f"--resume: no checkpoint {path}; resume continues a run interrupted in the same --out "
                             "(train without --resume first)")
        meta = read_json(path, "a checkpoint")
        record = (meta.get("extra") or {}).get(RESUME_STATE) if isinstance(meta.get("extra"), dict) else None
        if isinstance(record, dict) and isinstance(record.get("params"), dict):
            if record.get("task") not in (None, self.task):
                raise ValueError(f"--resume: {path} is a checkpoint of a {record['task']!r} run, not a "
                                 f"{self.task!r} one; give the --out of a {self.task} run")
            saved = {k: v for k, v in record["params"].items() if k in self.hyperparams and k not in RUN_ONLY}
        else:  # a checkpoint from before the parameters were saved: its TrainConfig
            config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
            saved = {k: config[k] for k in ("batch_size", "optimizer", "lr", "weight_decay", "clip_norm", "patience",
                                            "seed") if k in config and k in self.hyperparams}
        now = self._saved_params()
        differ = [k for k, v in saved.items() if not _same(now.get(k), v)]
        given = getattr(self, "_given", frozenset())
        clash = [k for k in differ if k in given and k not in RESUME_MAY_CHANGE]
        if clash:
            raise ValueError(f"--resume: this run was started with {self._flags(clash, saved)}; now "
                             f"{self._flags(clash, now)}; resume with the same flags (or drop them to use the "
                             "saved ones)")
        adopted = [k for k in differ if k not in given]
        for k in adopted:
            setattr(self, k, saved[k])
        self.check_params()
        return [self._flags([k], saved) for k in adopted]

    @classmethod
    def _flags(cls, keys, values) -> str:
        """``--lr 0.002 --no-calendar``: ``keys`` with ``values`` as they are typed on the command line."""
        words = []
        for k in keys:
            h, v = cls.hyperparams[k], values.get(k)
            flag = h.flag or "--" + k.replace("_", "-")
            if h.flag is None:
                words.append(f"{k}={v}")
            elif isinstance(v, bool):
                words.append(flag if v else "--no-" + flag[2:])
            elif isinstance(v, (list, tuple)):
                words.append(f"{flag} {','.join(map(str, v))!r}")
            else:
                words.append(f"{flag} {'none' if v is None else v}")
        return " ".join(words)

    # -- command line ---------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser, exclude=()) -> None:
        """One flag per hyperparameter (``--hidden-size``), its help the declared reason."""
        parser.set_defaults(**{GIVEN: frozenset()})
        for key, h in cls.hyperparams.items():
            if h.flag is None or key in exclude:
                continue
            flag = h.flag or "--" + key.replace("_", "-")
            kind = h.type or getattr(h.check, "type", None) or type(h.default)
            metavar = {int: "N", float: "X"}.get(kind, "TEXT")
            if getattr(h.check, "none", None):
                kind = _or_none(kind)
            default_text = "none" if h.default is None else h.default
            if kind is bool:
                parser.add_argument(flag, dest=key, default=h.default, action=_BooleanFlag,
                                    help=f"{h.why} (default {default_text})".replace("%", "%%"))
            else:
                parser.add_argument(flag, dest=key, default=h.default, type=kind, choices=h.choices,
                                    metavar=None if h.choices else metavar, action=_Store,
                                    help=f"{h.why} (default {default_text})".replace("%", "%%"))

    @classmethod
    def params_from_args(cls, args) -> dict:
        """The hyperparameters set by ``add_arguments``'s flags, as keyword arguments: those typed
        on the command line (the others are the defaults the estimator fills in itself, or, on
        ``--resume``, the saved run's), or all of them from a namespace of another parser."""
        given = getattr(args, GIVEN, None)
        params = {k: getattr(args, k) for k, h in cls.hyperparams.items()
                  if h.flag is not None and hasattr(args, k) and (given is None or k in given)}
        for key, value in params.items():  # each checked now, its message naming the flag typed
            try:
                cls.hyperparams[key].validate(cls.__name__, key, value)
            except ValueError as e:
                raise ValueError(f"{cls.hyperparams[key].flag or '--' + key.replace('_', '-')}: {e}") from None
        return params

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path) -> pathlib.Path:
        """Write the fitted estimator to directory ``path``: ``estimator.json`` (task, parameters,
        learned state) naming a ``.npz`` of the network's weights and the task's own arrays;
        atomic, no pickle. ``unrolled.load(path)`` or ``<Class>.load(path)`` reads it back."""
        self._check_fitted()
        params = {k: v for k, v in self.get_params().items() if k not in RUN_ONLY}
        arrays = {f"model/{k}": v for k, v in getattr(self, self.network_attr).state_dict().items()}
        extra_arrays, extra_meta = self._save_extra()
        arrays.update(extra_arrays)
        meta = {"task": self.task, "params": params, "learned": {k: getattr(self, k, None) for k in self.learned},
                **extra_meta}
        return save_store(path, ESTIMATOR_FILE, arrays, jsonable(meta), FORMAT)

    @classmethod
    def load(cls, path):
        """An estimator ``save``d to ``path``: it predicts exactly as the saved one did. What it
        learned is checked first (``_check_loaded``): a ValueError names the file that is wrong."""
        arrays, meta = load_store(path, ESTIMATOR_FILE, FORMAT, "saved model",
                                  "give the model/ directory of a training run's --out (or the --out itself)")
        if meta.get("task") != cls.task:
            raise ValueError(f"{path} holds a {meta.get('task')!r} model, not a {cls.task!r} one; open it with "
                             "unrolled.load(path), which picks the task")
        files = {False: pathlib.Path(path) / f"{ESTIMATOR_FILE}.json", True: pathlib.Path(path) / meta["arrays"]}
        try:
            params, learned = meta.get("params"), meta.get("learned")
            if not isinstance(params, dict) or not isinstance(learned, dict):
                raise SavedStateError("its 'params' and 'learned' are not both JSON objects")
            unknown = sorted(set(params) - (set(cls.hyperparams) - set(RUN_ONLY)))
            if unknown:  # e.g. a checkpoint_dir planted to make a later fit write elsewhere
                raise SavedStateError(f"its 'params' name {unknown}, which a saved model never holds")
            self = cls(**params)
            for k, v in learned.items():
                if k in cls.learned:
                    setattr(self, k, v)
            self._load_extra(arrays, meta)
            self._check_loaded(arrays, meta)
            net = self._build_network()
            weights = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
            try:
                net.load_state_dict(weights)
            except ValueError as e:
                raise SavedStateError(str(e), arrays=True) from None
        except SavedStateError as e:
            raise ValueError(f"{files[e.arrays]}: {e}; the saved model was changed or damaged: train and save "
                             "it again") from None
        except (KeyError, TypeError, ValueError, IndexError, OverflowError) as e:
            raise ValueError(f"{files[False]}: cannot load the saved model ({type(e).__name__}: {e}); it was "
                             "changed or damaged: train and save it again") from None
        net.eval()
        setattr(self, self.network_attr, net)
        return self

    def _check_loaded(self, arrays: dict, meta: dict) -> None:
        """Check the learned state just loaded (before the network is built); raise
        ``SavedStateError`` saying what is wrong. A task with learned arrays overrides this."""

    def _save_extra(self) -> tuple[dict, dict]:
        """(arrays, JSON metadata) a task saves beside its network and learned state."""
        return {}, {}

    def _load_extra(self, arrays: dict, meta: dict) -> None:
        """Restore what ``_save_extra`` wrote (before the network is rebuilt)."""

    def _build_network(self):
        raise NotImplementedError(f"{type(self).__name__} must define _build_network()")

    # -- the contract every task passes (tests/tasks/test_contract.py) ---------------------------
    @classmethod
    def contract_example(cls) -> tuple[dict, object]:
        """``(params, data)``: the smallest honest run of this task, a second or two of training:
        ``cls(**params).fit(data)``. The contract suite fits it to check seeding, save / load and
        cloning, so a new task gets those tests by registering."""
        raise NotImplementedError(f"{cls.__name__} defines no contract_example()")

    def contract_predictions(self, data) -> np.ndarray:
        """Numbers that identify the fitted model's behaviour on ``data`` (its predictions)."""
        raise NotImplementedError(f"{type(self).__name__} defines no contract_predictions()")

    # -- inspection (unrolled explain / gradflow) -------------------------------------------------
    def recurrent_layer(self):
        """The fitted network's recurrent layer stack, for recording and gradient flow."""
        self._check_fitted()
        return getattr(self, self.network_attr).rnn

    def describe(self) -> str:
        """One line: the recurrent stack and what the task made of it."""
        layer = self.recurrent_layer()
        return f"{type(layer).__name__} {layer.num_layers}x{layer.hidden_size} {self.noun}"

    def inside_input(self, *, csv=None, text=None, start=None, end=None, rows=None):
        """``(x (T, 1, D), labels (T,), series (T,), series_label)``: an input for the recurrent
        layer as the task's own network would feed it, a label per step, and a line to draw above
        the heatmaps. Each task reads its own kind of input (a date range, a text)."""
        raise NotImplementedError(f"{type(self).__name__} defines no input for unrolled explain / gradflow")

    def inside_span(self, labels) -> str:
        """What ``inside_input``'s steps are, for a report line (e.g. "60 steps")."""
        return f"{len(labels)} steps"


def _or_none(kind):
    """A flag type that also reads ``none`` (the Python None of an optional hyperparameter)."""

    def convert(text):
        return None if text.strip().lower() == "none" else kind(text)

    convert.__name__ = getattr(kind, "__name__", "value")  # argparse names it in its messages
    return convert


def _record(namespace, dest) -> None:
    setattr(namespace, GIVEN, frozenset(getattr(namespace, GIVEN, None) or ()) | {dest})


class _Store(argparse.Action):
    """argparse's ``store``, also recording that the flag was typed (``params_from_args``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        _record(namespace, self.dest)


class _BooleanFlag(argparse.BooleanOptionalAction):
    """``--name`` / ``--no-name``, also recording that the flag was typed."""

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, option_string)
        _record(namespace, self.dest)


def _words(data) -> str:
    """A task's JSON description of its data, in words (``rows 4276, dates 1999-01-04 to 2015-12-30``)."""
    if isinstance(data, dict):
        return ", ".join(f"{k} {_words(v)}" for k, v in data.items())
    if isinstance(data, (list, tuple)):
        return " to ".join(map(str, data))
    return str(data)


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def jsonable(obj):
    """NumPy scalars and dtypes, tuples, paths -> plain JSON values."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.dtype) or (isinstance(obj, type) and issubclass(obj, np.generic)):
        return np.dtype(obj).name
    if isinstance(obj, pathlib.PurePath):
        return str(obj)
    return obj
