"""The training engine shared by the tasks: the step loop and its hooks, epochs, early stopping,
the time budget, checkpoints and resume.

A task supplies three things and the engine owns the rest:

* ``batches(rng)`` -- one pass over the training data: an iterable of batches. ``rng`` is the
  engine's seeded Generator when ``config.shuffle`` is on (so the task may shuffle with it), else
  ``None`` (in order: a language model's streams must not be shuffled). ``index_batches`` builds
  this callable for ``n`` examples cut into mini-batches.
* ``step(batch) -> loss`` -- forward and backward for one batch: gradients add into
  ``model.grads``. State carried across batches (stateful truncated BPTT) lives in the task, cut
  from the graph by the task.
* ``validate() -> loss`` or ``{"loss": ..., other metrics}`` -- run in eval mode after each epoch;
  its ``loss`` drives early stopping and the best-model checkpoint.

One optimizer step, and the hooks (``unrolled.train.hooks``) at their points::

    model.zero_grad()
    trainer.loss = step(batch)           forward + backward
    hooks: after_backward                gradient sync (AverageGradients), gradient probes
    clip_grad_value_, clip_grad_norm_    config.clip_value, config.clip_norm
    hooks: after_clip                    probes of the clipped gradients
    optimizer.step(); steps += 1
    hooks: after_step

One epoch: steps until the pass ends -- or, with ``config.eval_every``, that many steps read from
passes back to back, so an epoch may end mid-pass and the next continues there -- or until
``config.max_steps`` or the time budget; then::

    model.eval(); validate()             the loss every process agrees on decides what follows
    scheduler.step(); keep the best; early stopping
    hooks: after_epoch
    checkpoint "best" (if better) and "last"   main process only (unrolled.train.checkpoint)

The processes of a data-parallel run form a ``world`` (``unrolled.train.world``; default one
process): only the main one writes checkpoints, logs and draws the progress bar, and the
decisions that end an epoch or the run (time, early stopping) are taken together.
"""

from __future__ import annotations

import math
import pathlib
import sys
import time

import numpy as np

from unrolled.nn.module import Module
from unrolled.train import optim
from unrolled.train.batches import END, BatchStream
from unrolled.train.checkpoint import (load_checkpoint, random_state, restore_trainer, save_checkpoint,
                                       trainer_state)
from unrolled.train.config import TrainConfig
from unrolled.train.hooks import check_hook
from unrolled.train.world import AverageGradients, SingleProcess, check_world




class Trainer:
    """Trains ``model`` with a task's ``batches`` / ``step`` / ``validate``; see the module docstring.

    ``checkpoint_dir`` (optional) receives ``last`` after every epoch and ``best`` whenever the
    validation loss improves; ``fit(..., resume=True)`` continues from ``last``. ``extra_state``
    / ``load_extra_state`` (optional callables) let a task save JSON of its own in the checkpoint;
    ``log(row)`` (optional) hears each epoch's history row. ``hooks`` run at the points of the
    loop their methods name (``unrolled.train.hooks``); ``world`` is the set of processes
    (``unrolled.train.world``; None: this one alone).
    """

    def __init__(self, model: Module, config: TrainConfig | None = None, *, checkpoint_dir=None,
                 extra_state=None, load_extra_state=None, log=None, hooks=(), world=None):
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
        self.world = check_world(SingleProcess() if world is None else world)
        self.hooks = [check_hook(h) for h in hooks]
        if self.world.size > 1:  # data parallelism's one gradient sync, before any other hook sees them
            self.hooks.insert(0, AverageGradients())
        self.rng = np.random.default_rng(c.seed + self.world.rank)  # each process shuffles its own way
        self.stream = BatchStream(self.rng, c.shuffle)  # where in the passes over the batches we are
        self.checkpoint_dir = None if checkpoint_dir is None else pathlib.Path(checkpoint_dir)
        self.extra_state, self.load_extra_state = extra_state, load_extra_state
        self.log = log                       # called with each epoch's history row
        self.epoch = 0                       # epochs completed
        self.history: list[dict] = []        # one row per epoch: epoch, lr, train_loss, steps, val_loss, ...
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_params: dict[str, np.ndarray] | None = None
        self.bad_epochs = 0                  # epochs since the last improvement
        self.stopped_early = False
        self.steps = 0                       # optimizer steps taken, over all epochs
        self.loss: float | None = None       # the loss of the step under way (hooks read it)
        self.out_of_time = False             # config.max_seconds ran out (in this fit call)
        self._deadline = math.inf            # perf_counter time by which fit must be done
        self._validate_seconds = 0.0         # how long the last validation took

    def fit(self, batches, step, validate=None, *, resume: bool = False) -> list[dict]:
        """Train until ``config.epochs``, ``config.max_steps``, early stopping or
        ``config.max_seconds``; returns the history (one dict per epoch).

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
        while not self._finished():
            if self._time_is_up():
                self.out_of_time = True  # the last epoch ended just in time: no step of another fits
                break
            self._epoch(batches, step, validate)
        if c.restore_best and self.best_params is not None:
            self.model.load_state_dict(self.best_params)
        self.model.eval()
        return self.history

    def _finished(self) -> bool:
        c = self.config
        return (self.stopped_early or self.out_of_time or (c.epochs is not None and self.epoch >= c.epochs)
                or (c.max_steps is not None and self.steps >= c.max_steps))

    def _time_is_up(self) -> bool:
        """Whether the next step would leave too little of ``max_seconds`` to validate; every
        process stops when any one's clock says so."""
        if self._deadline == math.inf:  # no budget: the same on every process, nothing to agree on
            return False
        return self.world.agree_any(time.perf_counter() + self._validate_seconds >= self._deadline)

    def _call(self, event: str) -> None:
        for hook in self.hooks:
            fn = getattr(hook, event, None)
            if fn is not None:
                fn(self)

    # -- one step, one epoch ------------------------------------------------------------------
    def _step(self, step, batch) -> float:
        c = self.config
        self.model.zero_grad()
        self.loss = loss = float(step(batch))
        if not math.isfinite(loss):
            raise ValueError(f"the training loss became {loss} in epoch {self.epoch + 1}; lower the "
                             f"learning rate (lr={c.lr}) or clip gradients (clip_norm)")
        self._call("after_backward")
        if c.clip_value is not None:
            optim.clip_grad_value_(self.model, c.clip_value)
        if c.clip_norm is not None:
            optim.clip_grad_norm_(self.model, c.clip_norm)
        self._call("after_clip")
        self.optimizer.step()
        self.steps += 1
        self._call("after_step")
        return loss

    def _train_epoch(self, batches, step) -> float:
        """Steps until the epoch's end; the mean training loss."""
        c = self.config
        self.model.train()
        if c.eval_every is None:
            self.stream.new_pass(batches)  # an epoch is one whole pass
        limits = [c.eval_every, None if c.max_steps is None else c.max_steps - self.steps,
                  self.stream.length if c.eval_every is None else None]
        limit = min((n for n in limits if n is not None), default=None)
        bar = _progress(limit, c.progress if self.world.is_main else False, self._epoch_name())
        total, count = 0.0, 0
        try:
            while limit is None or count < limit:
                if count and self._time_is_up():
                    self.out_of_time = True  # stop now: what is left goes to validating this epoch
                    break
                batch = self.stream.next(batches, wrap=c.eval_every is not None)
                if batch is END:
                    break
                total, count = total + self._step(step, batch), count + 1
                if bar is not None:
                    bar.update()
                    bar.set_postfix(loss=f"{total / count:.4g}")
        finally:
            if bar is not None:
                bar.close()
        if count == 0:
            raise ValueError("batches(rng) gave no batches; there is nothing to train on")
        return total / count

    def _epoch(self, batches, step, validate) -> None:
        c = self.config
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
        monitored = self.world.broadcast(row.get("val_loss", train_loss))  # one decision for all
        self.epoch += 1
        self.history.append(row)
        if self.log is not None and self.world.is_main:
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
        self._call("after_epoch")
        if self.checkpoint_dir is not None:
            ranks = self.world.gather(random_state(self))  # every process's Generators, for exact resume
            if self.world.is_main:
                if improved:
                    self.save(self.checkpoint_dir, "best", ranks=ranks)
                self.save(self.checkpoint_dir, "last", ranks=ranks)

    def _epoch_name(self) -> str:
        epochs = self.config.epochs
        return f"epoch {self.epoch + 1}" + ("" if epochs is None else f"/{epochs}")

    # -- checkpoints --------------------------------------------------------------------------
    def save(self, directory, name: str = "last", *, ranks: list[dict] | None = None) -> pathlib.Path:
        """Everything the next step depends on, atomically (``unrolled.train.checkpoint``);
        ``ranks``: every process's random state (default: this process's)."""
        arrays, meta = trainer_state(self, ranks)
        return save_checkpoint(directory, name, arrays, meta)

    def load(self, directory, name: str = "last") -> "Trainer":
        """Restore a ``save``d state into this trainer and its model (built with the same shapes)."""
        if directory is None:
            raise ValueError("resume=True needs checkpoint_dir: the directory the interrupted run wrote to")
        arrays, meta = load_checkpoint(directory, name)
        restore_trainer(self, arrays, meta)
        return self


def _progress(total, enabled, desc):
    """A tqdm bar for ``total`` steps (None: unknown), or None when off."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)
