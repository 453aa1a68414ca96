"""The training engine shared by the tasks: epochs, batches, optimizer, checkpoints, resume.

A task supplies three things and the engine owns the rest:

* ``batches(rng)`` -- called at the start of every epoch; returns an iterable of batches. ``rng``
  is the engine's seeded Generator when ``config.shuffle`` is on (so the task may shuffle with it),
  else ``None`` (in order: a language model's streams must not be shuffled). ``index_batches``
  builds this callable for ``n`` examples cut into mini-batches.
* ``step(batch) -> loss`` -- forward and backward for one batch: gradients add into
  ``model.grads`` (the engine zeroes them before the call, clips and steps after). State carried
  across batches (stateful truncated BPTT) lives in the task, cut from the graph by the task.
* ``validate() -> loss`` or ``{"loss": ..., other metrics}`` -- run in eval mode after each epoch;
  its ``loss`` drives early stopping and the best-model checkpoint.

One epoch::

    model.train(); for batch in batches(rng):  zero_grad; loss = step(batch); clip; opt.step()
    model.eval();  val = validate();  scheduler.step();  keep the best;  checkpoint;  maybe stop

Checkpoints hold NumPy arrays in a ``.npz`` (loaded with ``allow_pickle=False``) and everything
else in a ``.json``: the config, epoch, history, optimizer and scheduler state, the early-stopping
counters and every Generator's state (the engine's and each module's dropout ``rng``). That is
all an epoch depends on, so a run resumed after epoch k equals the uninterrupted run bit for bit.
Writes are atomic (temporary file, then ``os.replace``): the JSON names its arrays file, and a
crash at any point leaves the previous checkpoint whole.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from unrolled.train import optim
from unrolled.nn.module import Module

FORMAT = "unrolled-checkpoint-1"


@dataclass
class TrainConfig:
    """How to train. Every default has a reason; ``TrainConfig(**json)`` restores one."""

    epochs: int = 20                   # upper bound; early stopping usually ends sooner
    batch_size: int = 64               # read by index_batches; a few dozen examples steady Adam
    optimizer: str = "adam"            # sgd | adam | adamw (unrolled.train.optim)
    lr: float = 1e-3                   # Adam's usual rate
    momentum: float = 0.0              # SGD only
    weight_decay: float = 0.0          # L2 (sgd, adam) or decoupled (adamw); 0 = off
    clip_norm: float | None = 1.0      # clip the joint gradient norm: seed 004's exploding gradients
    clip_value: float | None = None    # clamp each gradient entry; None = off
    schedule: str | None = None        # None | "step" | "exponential": lr decay once per epoch
    gamma: float = 0.5                 # the schedule's decay factor
    step_size: int = 10                # epochs between decays for schedule="step"
    patience: int | None = 5           # stop after this many epochs without a better val loss
    min_delta: float = 0.0             # how much lower counts as better
    restore_best: bool = True          # end with the best epoch's weights, not the last
    shuffle: bool = True               # reshuffle examples every epoch (seeded); False for LM streams
    seed: int = 0                      # seeds the shuffle Generator
    progress: bool | None = None       # tqdm bar; None = only when stderr is a terminal
    max_seconds: float | None = None   # wall-clock budget of one fit() call, validation included

    def __post_init__(self):
        def bad(name, fix):
            raise ValueError(f"TrainConfig: {name}={getattr(self, name)!r} is invalid; {fix}")

        for name in ("epochs", "batch_size", "step_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                bad(name, "use a whole number >= 1")
        if self.optimizer not in ("sgd", "adam", "adamw"):
            bad("optimizer", "use 'sgd', 'adam' or 'adamw'")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            bad("lr", "use a positive learning rate such as 1e-3")
        if self.schedule not in (None, "step", "exponential"):
            bad("schedule", "use None, 'step' or 'exponential'")
        for name in ("clip_norm", "clip_value"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                bad(name, "use a positive bound, or None to turn it off")
        if self.max_seconds is not None and not (isinstance(self.max_seconds, (int, float))
                                                 and math.isfinite(self.max_seconds) and self.max_seconds > 0):
            bad("max_seconds", "use a positive number of seconds, or None for no time limit")
        if self.patience is not None and (isinstance(self.patience, bool) or not isinstance(self.patience, int)
                                          or self.patience < 1):
            bad("patience", "use a whole number of epochs >= 1, or None for no early stopping")


def index_batches(n: int, batch_size: int):
    """``batches(rng)`` for ``n`` examples: index arrays of ``batch_size`` (the last may be
    shorter), in a fresh seeded permutation every epoch, or in order when ``rng`` is None."""
    if n < 1:
        raise ValueError(f"index_batches: n={n} examples; there is nothing to train on")

    def batches(rng):
        order = np.arange(n) if rng is None else rng.permutation(n)  # (n,)
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]

    return batches


# -- the model's random state -------------------------------------------------------------------
def _generators(model: Module) -> list[np.random.Generator]:
    """Every Generator a module tree draws from (dropout masks), in a fixed order."""
    found, stack = [], [model]
    while stack:
        m = stack.pop(0)
        rng = getattr(m, "rng", None)
        if isinstance(rng, np.random.Generator) and all(rng is not g for g in found):
            found.append(rng)
        stack.extend(m.children())
    return found


# -- atomic checkpoints -------------------------------------------------------------------------
def _atomic_write(path: pathlib.Path, write) -> None:
    """``write(file)`` into a temporary file beside ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(directory, name: str, arrays: dict[str, np.ndarray], meta: dict) -> pathlib.Path:
    """Write ``<name>.json`` (``meta``) naming a fresh ``<name>-<token>.npz`` (``arrays``).

    The arrays go first under a new name, then the JSON is replaced in one rename: until that
    rename the old JSON still names the old arrays, so nothing already saved is ever lost.
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{name}.json"
    try:
        old = json.loads(json_path.read_text()).get("arrays")
    except (OSError, ValueError, AttributeError):  # none yet, or unreadable: nothing to clean up
        old = None
    arrays_name = f"{name}-{secrets.token_hex(4)}.npz"
    _atomic_write(directory / arrays_name, lambda f: np.savez(f, **arrays))
    text = json.dumps({"format": FORMAT, "arrays": arrays_name, **meta}, indent=1, allow_nan=True)
    _atomic_write(json_path, lambda f: f.write(text.encode()))
    if old and old != arrays_name:
        (directory / old).unlink(missing_ok=True)
    return json_path


def _read_json(path: pathlib.Path) -> dict:
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read checkpoint {path}: {e}; point to a directory written by "
                         "unrolled (it holds <name>.json and <name>-*.npz)") from None


def load_checkpoint(directory, name: str) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, meta)`` of the checkpoint ``name`` in ``directory``; ValueError if absent or broken."""
    directory = pathlib.Path(directory)
    json_path = directory / f"{name}.json"
    if not json_path.is_file():
        raise ValueError(f"no checkpoint {json_path}; train first, or point to the directory that holds {name}.json")
    meta = _read_json(json_path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{json_path} is not an unrolled checkpoint (format {meta.get('format')!r})")
    try:
        with np.load(directory / meta["arrays"], allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"cannot read the arrays of checkpoint {json_path}: {e}") from None
    return arrays, meta


def _flatten_optimizer(state: dict) -> tuple[dict, dict]:
    """Split an optimizer state dict into arrays (``optim/<param>/<buffer>``) and JSON metadata."""
    arrays = {f"optim/{p}/{k}": v for p, s in state["state"].items() for k, v in s.items()}
    meta = {k: v for k, v in state.items() if k != "state"}
    meta["buffers"] = {p: sorted(s) for p, s in state["state"].items()}
    return arrays, meta


def _unflatten_optimizer(arrays: dict, meta: dict) -> dict:
    state = {p: {k: arrays[f"optim/{p}/{k}"] for k in ks} for p, ks in meta["buffers"].items()}
    return {**{k: v for k, v in meta.items() if k != "buffers"}, "state": state}


# -- the engine ---------------------------------------------------------------------------------
class Trainer:
    """Trains ``model`` with a task's ``batches`` / ``step`` / ``validate``; see the module docstring.

    ``checkpoint_dir`` (optional) receives ``last`` after every epoch and ``best`` whenever the
    validation loss improves; ``fit(..., resume=True)`` continues from ``last``. ``extra_state``
    / ``load_extra_state`` (optional callables) let a task save JSON of its own in the checkpoint;
    ``log(row)`` (optional) hears each epoch's history row.
    """

    def __init__(self, model: Module, config: TrainConfig | None = None, *, checkpoint_dir=None,
                 extra_state=None, load_extra_state=None, log=None):
        self.model = model
        self.config = config or TrainConfig()
        c = self.config
        if c.optimizer == "sgd":
            self.optimizer = optim.SGD(model, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        else:
            kind = optim.Adam if c.optimizer == "adam" else optim.AdamW
            self.optimizer = kind(model, lr=c.lr, weight_decay=c.weight_decay)
        self.scheduler = {None: None,
                          "step": lambda: optim.StepLR(self.optimizer, c.step_size, c.gamma),
                          "exponential": lambda: optim.ExponentialLR(self.optimizer, c.gamma)}[c.schedule]
        self.scheduler = self.scheduler() if self.scheduler else None
        self.rng = np.random.default_rng(c.seed)
        self.checkpoint_dir = None if checkpoint_dir is None else pathlib.Path(checkpoint_dir)
        self.extra_state, self.load_extra_state = extra_state, load_extra_state
        self.log = log                       # called with each epoch's history row
        self.epoch = 0                       # epochs completed
        self.history: list[dict] = []        # one row per epoch: epoch, lr, train_loss, val_loss, ...
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_params: dict[str, np.ndarray] | None = None
        self.bad_epochs = 0                  # epochs since the last improvement
        self.stopped_early = False
        self.steps = 0                       # optimizer steps taken, over all epochs
        self.out_of_time = False             # config.max_seconds ran out (in this fit call)
        self._deadline = math.inf            # perf_counter time by which fit must be done
        self._validate_seconds = 0.0         # how long the last validation took

    # -- one epoch ----------------------------------------------------------------------------
    def _train_epoch(self, batches, step) -> float:
        c = self.config
        self.model.train()
        data = batches(self.rng if c.shuffle else None)
        bar = _progress(data, c.progress, f"epoch {self.epoch + 1}/{c.epochs}")
        total, count = 0.0, 0
        for batch in bar:
            if time.perf_counter() + self._validate_seconds >= self._deadline:
                self.out_of_time = True  # stop now: what is left goes to validating this epoch
                break
            self.model.zero_grad()
            loss = float(step(batch))
            if not math.isfinite(loss):
                raise ValueError(f"the training loss became {loss} in epoch {self.epoch + 1}; lower the "
                                 f"learning rate (lr={c.lr}) or clip gradients (clip_norm)")
            if c.clip_value is not None:
                optim.clip_grad_value_(self.model, c.clip_value)
            if c.clip_norm is not None:
                optim.clip_grad_norm_(self.model, c.clip_norm)
            self.optimizer.step()
            self.steps += 1
            total, count = total + loss, count + 1
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{total / count:.4g}")
        if count == 0:
            if self.out_of_time:
                raise ValueError(f"max_seconds={c.max_seconds} ran out before the first training step; "
                                 "give the run more time")
            raise ValueError("batches(rng) gave no batches; there is nothing to train on")
        return total / count

    def fit(self, batches, step, validate=None, *, resume: bool = False) -> list[dict]:
        """Train until ``config.epochs``, early stopping or ``config.max_seconds``; returns the
        history (one dict per epoch).

        With ``max_seconds`` the epoch running when time is short is cut after the step that leaves
        just enough time to validate it (as long as the previous validation took), and training
        ends there: the whole call, validation included, stays within the budget (give or take one
        step). A resumed run gets the budget afresh.
        """
        c = self.config
        if resume:
            self.load(self.checkpoint_dir, "last")
        self.out_of_time, self._validate_seconds = False, 0.0
        self._deadline = math.inf if c.max_seconds is None else time.perf_counter() + c.max_seconds
        while self.epoch < c.epochs and not self.stopped_early and not self.out_of_time:
            lr = self.optimizer.lr
            train_loss = self._train_epoch(batches, step)
            row = {"epoch": self.epoch + 1, "lr": lr, "train_loss": train_loss, "steps": self.steps}
            if validate is not None:
                self.model.eval()
                t0 = time.perf_counter()
                val = validate()
                self._validate_seconds = time.perf_counter() - t0
                val = dict(val) if isinstance(val, dict) else {"loss": float(val)}
                row.update({f"val_{k}": float(v) for k, v in val.items()})
            monitored = row.get("val_loss", train_loss)
            self.epoch += 1
            self.history.append(row)
            if self.log is not None:
                self.log(row)
            if self.scheduler is not None:
                self.scheduler.step()
            improved = monitored < self.best_loss - c.min_delta
            if improved:
                self.best_loss, self.best_epoch, self.bad_epochs = monitored, self.epoch, 0
                self.best_params = self.model.state_dict()
            else:
                self.bad_epochs += 1
                self.stopped_early = c.patience is not None and self.bad_epochs >= c.patience
            if self.checkpoint_dir is not None:
                if improved:
                    self.save(self.checkpoint_dir, "best")
                self.save(self.checkpoint_dir, "last")
        if c.restore_best and self.best_params is not None:
            self.model.load_state_dict(self.best_params)
        self.model.eval()
        return self.history

    # -- checkpoints --------------------------------------------------------------------------
    def save(self, directory, name: str = "last") -> pathlib.Path:
        """Everything the next epoch depends on, atomically (see ``save_checkpoint``)."""
        opt_arrays, opt_meta = _flatten_optimizer(self.optimizer.state_dict())
        arrays = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        arrays.update(opt_arrays)
        if self.best_params is not None:
            arrays.update({f"best/{k}": v for k, v in self.best_params.items()})
        meta = {
            "config": dataclasses.asdict(self.config),
            "epoch": self.epoch,
            "history": self.history,
            "best_loss": self.best_loss, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early, "steps": self.steps,
            "optimizer": opt_meta,
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "rng": self.rng.bit_generator.state,
            "model_rngs": [g.bit_generator.state for g in _generators(self.model)],
            "extra": None if self.extra_state is None else self.extra_state(),
        }
        return save_checkpoint(directory, name, arrays, meta)

    def load(self, directory, name: str = "last") -> "Trainer":
        """Restore a ``save``d state into this trainer and its model (built with the same shapes)."""
        if directory is None:
            raise ValueError("resume=True needs checkpoint_dir: the directory the interrupted run wrote to")
        arrays, meta = load_checkpoint(directory, name)
        model = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
        best = {k[len("best/"):]: v for k, v in arrays.items() if k.startswith("best/")}
        self.model.load_state_dict(model)
        self.optimizer.load_state_dict(_unflatten_optimizer(arrays, meta["optimizer"]))
        if self.scheduler is not None and meta["scheduler"] is not None:
            self.scheduler.load_state_dict(meta["scheduler"])
        self.rng.bit_generator.state = meta["rng"]
        gens = _generators(self.model)
        if len(gens) != len(meta["model_rngs"]):
            raise ValueError(f"checkpoint has {len(meta['model_rngs'])} model Generators, this model "
                             f"{len(gens)}; resume with the model the checkpoint was written from")
        for g, s in zip(gens, meta["model_rngs"]):
            g.bit_generator.state = s
        self.epoch, self.history = int(meta["epoch"]), list(meta["history"])
        self.best_loss, self.best_epoch = float(meta["best_loss"]), int(meta["best_epoch"])
        self.bad_epochs, self.stopped_early = int(meta["bad_epochs"]), bool(meta["stopped_early"])
        self.steps = int(meta.get("steps", 0))
        self.best_params = best or None
        if self.load_extra_state is not None and meta.get("extra") is not None:
            self.load_extra_state(meta["extra"])
        return self


def _progress(items, enabled, desc):
    """A tqdm bar over ``items`` (running loss as its postfix), or the items themselves."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, total=len(items) if hasattr(items, "__len__") else None)
