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

Resuming (``check_resume``, ``unrolled.tasks.resume``) refuses a resumed run whose parameters
differ from its checkpoint's; the command line (``unrolled.tasks.flags``) comes from the same table.
"""

from __future__ import annotations

import inspect
import pathlib
from typing import ClassVar

import numpy as np

from unrolled.nn.recurrent import LAYERS
from unrolled.files import jsonable, load_store, save_store
from unrolled.tasks import flags, resume
from unrolled.tasks.resume import RUN_ONLY, same
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
        """Set hyperparameters, all or none: a bad value changes nothing."""
        for k in params:
            if k not in self.hyperparams:
                raise ValueError(f"{type(self).__name__}: unknown parameter {k!r}; valid ones are {list(self.hyperparams)}")
        before = {k: getattr(self, k) for k in params}
        for k, v in params.items():
            setattr(self, k, v)
        try:
            self.check_params()
        except ValueError:
            for k, v in before.items():
                setattr(self, k, v)
            raise
        self._given = getattr(self, "_given", frozenset()) | set(params)
        return self

    def __repr__(self) -> str:
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if not same(v, self.hyperparams[k].default)]
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

    def make_trainer(self, net, config=None, **kw) -> Trainer:
        """The engine for ``fit``, its checkpoints carrying these parameters and ``data=`` (a JSON
        description of what is trained on) for ``check_resume`` (``unrolled.tasks.resume``)."""
        return resume.trainer_for(self, net, config, **kw)

    def check_resume(self, name: str = "last") -> list[str]:
        """Before a resumed ``fit``: refuse parameters that differ from the saved run's, take the saved
        values of those not set explicitly and return them as flags (``unrolled.tasks.resume``)."""
        return resume.check_resume(self, name)

    # -- command line (unrolled.tasks.flags) ----------------------------------------------------
    @classmethod
    def add_arguments(cls, parser, exclude=()) -> None:
        """One flag per hyperparameter (``--hidden-size``), its help the declared reason."""
        flags.add_arguments(cls, parser, exclude)

    @classmethod
    def params_from_args(cls, args) -> dict:
        """The hyperparameters typed on the command line, each checked naming its flag."""
        return flags.params_from_args(cls, args)

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path) -> pathlib.Path:
        """Write the fitted estimator to directory ``path``: ``estimator.json`` (task, parameters,
        learned state) naming a ``.npz`` of the network's weights and the task's own arrays;
        atomic, no pickle. ``unrolled.load(path)`` or ``<Class>.load(path)`` reads it back."""
        self._check_fitted()
        params = resume.saved_params(self)
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

    def fit_example(self, data):
        """``fit`` on ``contract_example``'s data (a task whose ``fit`` takes ``(X, y)`` unpacks it)."""
        return self.fit(data)

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
