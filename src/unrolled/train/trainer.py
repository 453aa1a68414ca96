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

Where no hook has ``after_clip`` (on any process), nothing reads the gradients clipped, and the
norm clip is handed to the update: ``clip_coefficient`` measures, ``optimizer.step(grad_scale=coef)``
takes it. Plain SGD folds it into its one pass over each parameter, leaving the gradients as the
backward left them (a pass over every gradient fewer); other optimizers scale the gradients in
place first, as the clip would have. The two paths round differently (eta * coef once, against
each g * coef), so adding or removing an ``after_clip`` hook between a run and its resume changes
the run at round-off. The update is checked for nan/inf by the optimizer's own pass where it can
(``Optimizer.last_step_finite``), else by one more read.

One epoch: steps until the pass ends -- or, with ``config.eval_every``, that many steps read from
passes back to back, so an epoch may end mid-pass and the next continues there -- or until
``config.max_steps`` or the time budget; then::

    model.eval(); validate()             the loss every process agrees on decides what follows
    scheduler.step(); keep the best; early stopping
    hooks: after_epoch
    checkpoint "best" (if better) and "last"   main process only (unrolled.train.checkpoint)

A run that diverges stops with a ValueError that says to lower the learning rate: a non-finite
training loss, non-finite parameters after an optimizer step, or a non-finite (or overflowing)
validation loss. It is raised before the epoch's checkpoint, so ``best`` and ``last`` always hold
the last good state. NumPy's overflow warnings inside a step are silenced: these checks report
what they meant.

Ctrl-C (SIGINT, in the main thread) during ``fit`` is deferred to the end of the step under way:
there the engine writes ``last`` -- mid-epoch, with the epoch's partial sums, so that resuming
continues exactly -- and raises ``TrainingInterrupted`` (a ``KeyboardInterrupt``); a second Ctrl-C
stops at once. A ``KeyboardInterrupt`` raised from inside a step (another handler, another thread)
leaves the state torn: nothing is written and ``last`` stays the one saved before.

Where the progress bar is left out because stderr is not a terminal (``progress=None``, the default),
the main process writes a line to stderr every ``config.log_every`` steps instead: the step, the mean
loss since the last line, steps/s and, with ``config.tokens_per_step``, tokens/s (a log file or a
pipe shows progress before the first epoch ends). ``progress=False`` is quiet.

The processes of a data-parallel run form a ``world`` (``unrolled.train.world``; default one
process): only the main one writes checkpoints, logs and draws the progress bar, and the
decisions that end an epoch or the run (time, early stopping) are taken together.
"""

from __future__ import annotations

import inspect
import math
import pathlib
import signal
import sys
import threading
import time

import numpy as np

from unrolled.fast import elementwise
from unrolled.nn.module import Module
from unrolled.train import optim
from unrolled.train.batches import END, BatchStream
from unrolled.train.checkpoint import (load_checkpoint, random_state, restore_trainer, save_checkpoint,
                                       trainer_state)
from unrolled.train.config import TrainConfig
from unrolled.train.hooks import check_hook
from unrolled.train.world import AverageGradients, SingleProcess, check_world


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C ended ``fit``. ``checkpoint_dir`` is where ``last`` lies (None: no checkpoints are
    kept), ``steps`` the optimizer steps it holds (None: no checkpoint was written yet);
    ``fit(..., resume=True)`` continues from there exactly."""

    def __init__(self, checkpoint_dir, steps):
        self.checkpoint_dir, self.steps = checkpoint_dir, steps
        where = ("no checkpoint was written" if steps is None
                 else f"{checkpoint_dir}/last holds step {steps}; fit(..., resume=True) continues from there")
        super().__init__(f"training interrupted; {where}")


class _DeferredInterrupt:
    """While active, the first SIGINT only sets ``requested`` (the loop stops at the next step
    boundary); a second one raises KeyboardInterrupt at once. Installed only in the main thread
    over Python's default handler: a program's own handler is left alone."""

    def __init__(self):
        self.requested, self._previous = False, None

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False


def _takes_grad_scale(optimizer) -> bool:
    """Does ``optimizer.step`` take ``grad_scale`` (ours do; a user's own optimizer may not)?"""
    try:
        return "grad_scale" in inspect.signature(optimizer.step).parameters
    except (TypeError, ValueError):  # no signature to read
        return False


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
        self.scheduler = optim.scheduler_for(self.optimizer, c)
        self.world = check_world(SingleProcess() if world is None else world)
        self.hooks = [check_hook(h) for h in hooks]
        if self.world.size > 1:  # data parallelism's one gradient sync, before any other hook sees them
            self.hooks.insert(0, AverageGradients(overlap=getattr(self.world, "overlap", False)))
        # a hook at after_clip reads the gradients clipped: clip them then; else fold the clip into
        # the step, where the optimizer's step takes a grad_scale (ours do; one of a user's may not)
        # (agreed by every process: one that clipped apart would round its parameters differently)
        self._fold_clip = not self.world.agree_any(any(callable(getattr(h, "after_clip", None)) for h in self.hooks)
                                                   or not _takes_grad_scale(self.optimizer))
        # the same seed on every process: the global batches, and their order, do not depend on K
        self.rng = np.random.default_rng(c.seed)
        self.share = 1.0                     # K n_r / N of the step under way (AverageGradients)
        self.batch = None                    # the global batch of the step under way
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
        self._partial = None                 # a mid-epoch checkpoint's {"count", "total"}, resumed from
        self._saved_steps = None             # the steps of the last "last" written or loaded
        self._interrupt = _DeferredInterrupt()

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
        self._interrupt = _DeferredInterrupt()
        with self._interrupt:
            try:
                while not self._finished():
                    if self._time_is_up():
                        self.out_of_time = True  # the last epoch ended just in time: no step of another fits
                        break
                    self._epoch(batches, step, validate)
                    if self._interrupt.requested:  # during validation: "last" was just written
                        raise self._interrupted()
            except TrainingInterrupted:
                raise
            except KeyboardInterrupt:  # raised inside a step: its state is torn, keep what is on disk
                raise self._interrupted() from None
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

    def _interrupted(self) -> TrainingInterrupted:
        return TrainingInterrupted(self.checkpoint_dir, self._saved_steps)

    def _diverged(self, what: str, step: int) -> ValueError:
        """The one message of a run that blew up, and what its checkpoints still hold (nothing is
        written after it: they keep the last good state)."""
        if self.checkpoint_dir is None:
            kept = ""
        elif self._saved_steps is None:
            kept = "; no checkpoint was written before it"
        else:
            kept = f"; the checkpoint 'last' keeps step {self._saved_steps}, the last good one"
        return ValueError(f"{what} in epoch {self.epoch + 1} (step {step}); lower the learning rate "
                          f"(lr={self.config.lr:g}) or clip gradients (clip_norm){kept}")

    # -- one step, one epoch ------------------------------------------------------------------
    def _step(self, step, batch) -> float:
        c = self.config
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # the checks below say it
            self.model.zero_grad()
            self.batch = batch  # the global batch (a task weighing its shard by more than rows reads it)
            part = self._shard(batch)
            self._call("before_step")
            self.loss = float(step(part)) if part is not None else 0.0  # an empty shard adds nothing
            if self.world.size == 1 and not math.isfinite(self.loss):
                raise self._diverged(f"the training loss became {self.loss}", self.steps + 1)
            self._call("after_backward")  # with K processes, AverageGradients first: the batch's loss
            loss = self.loss
            if not math.isfinite(loss):  # the same number on every process: all stop together
                raise self._diverged(f"the training loss became {loss}", self.steps + 1)
            if c.clip_value is not None:
                optim.clip_grad_value_(self.model, c.clip_value)
            self.optimizer.last_step_finite = None  # only this step's own check counts
            if c.clip_norm is not None and self._fold_clip:  # nothing reads them clipped: the step scales them
                self.optimizer.step(grad_scale=optim.clip_coefficient(self.model, c.clip_norm)[1])
            else:
                if c.clip_norm is not None:
                    optim.clip_grad_norm_(self.model, c.clip_norm)
                self._call("after_clip")
                self.optimizer.step()
            checked = getattr(self.optimizer, "last_step_finite", None) is True  # its update checked what it wrote
            bad = None if checked else next((k for k, p in self.model.params.items()
                                             if not elementwise.all_finite(p)), None)
            if bad is not None:
                raise self._diverged(f"the training diverged: the optimizer's step made {bad} nan/inf",
                                     self.steps + 1)
        self.steps += 1
        self._call("after_step")
        return loss

    def _shard(self, batch):
        """This process's part of a global batch: with K processes, a 1-D array of example indices
        is cut into K near-equal consecutive shards (``np.array_split``) and ``share`` = K n_r / N
        weighs this one's gradient; anything else (the language model's segment number) goes
        whole to ``step``, which splits its own streams. None: an empty shard."""
        self.share = 1.0
        K = self.world.size
        if K == 1 or not (isinstance(batch, np.ndarray) and batch.ndim == 1 and batch.dtype.kind in "iu"):
            return batch
        part = np.array_split(batch, K)[self.world.rank]
        self.share = K * len(part) / len(batch)
        return part if len(part) else None

    def _train_epoch(self, batches, step) -> float:
        """Steps until the epoch's end (continuing a mid-epoch checkpoint's); the mean training loss."""
        c = self.config
        self.model.train()
        partial, self._partial = self._partial, None
        total, count = (0.0, 0) if partial is None else (float(partial["total"]), int(partial["count"]))
        if c.eval_every is None and partial is None:
            self.stream.new_pass(batches)  # an epoch is one whole pass
        limits = [c.eval_every, None if c.max_steps is None else c.max_steps - (self.steps - count),
                  self.stream.length if c.eval_every is None else None]
        limit = min((n for n in limits if n is not None), default=None)
        terminal = sys.stderr.isatty() if c.progress is None else None
        bar = _progress(limit, self.world.is_main and (terminal or c.progress), self._epoch_name(), count)
        lines = self.world.is_main and terminal is False and c.log_every is not None  # a bar's stand-in
        log = _StepLog(c, self.steps) if lines else None
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
                if log is not None:
                    log.step(self, count, limit)
                if self._interrupt.requested:  # Ctrl-C: stop here, at a step boundary, resumable
                    self._save_mid_epoch(total, count)
                    raise self._interrupted()
        finally:
            if bar is not None:
                bar.close()
        if count == 0:
            raise ValueError("batches(rng) gave no batches; there is nothing to train on")
        return total / count

    def _monitored(self, row: dict, train_loss: float) -> float:
        """What decides the best epoch, lower is better: ``config.monitor``'s value (negated when
        ``maximize``), or the training loss where there is no validation."""
        c = self.config
        if c.monitor not in row:
            if c.monitor == "val_loss":
                return train_loss
            raise ValueError(f"TrainConfig: monitor={c.monitor!r} is not in the epoch's row {sorted(row)}; return "
                             f"{c.monitor.removeprefix('val_')!r} from validate() or monitor another column")
        return -row[c.monitor] if c.maximize else row[c.monitor]

    def _epoch(self, batches, step, validate) -> None:
        c = self.config
        lr = self.optimizer.lr
        train_loss = self._train_epoch(batches, step)
        row = {"epoch": self.epoch + 1, "lr": lr, "train_loss": train_loss, "steps": self.steps}
        if validate is not None:
            self.model.eval()
            t0 = time.perf_counter()
            try:
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    val = validate()
            except OverflowError as e:  # e.g. math.exp of a huge loss for the perplexity
                raise self._diverged(f"the validation loss overflowed ({e})", self.steps) from None
            self._validate_seconds = time.perf_counter() - t0
            val = dict(val) if isinstance(val, dict) else {"loss": float(val)}
            row.update({f"val_{k}": float(v) for k, v in val.items()})
            if "val_loss" in row and not math.isfinite(row["val_loss"]):
                raise self._diverged(f"the validation loss became {row['val_loss']}", self.steps)
        monitored = self.world.broadcast(self._monitored(row, train_loss))  # one decision for all
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
    def save(self, directory, name: str = "last", *, ranks: list[dict] | None = None,
             partial: dict | None = None) -> pathlib.Path:
        """Everything the next step depends on, atomically (``unrolled.train.checkpoint``);
        ``ranks``: every process's random state (default: this process's); ``partial``: the
        running sums ``{"count", "total"}`` of an epoch interrupted at a step boundary."""
        arrays, meta = trainer_state(self, ranks)
        if partial is not None:
            meta["partial"] = partial
        try:
            path = save_checkpoint(directory, name, arrays, meta)
        except OSError as e:  # a full or read-only disk: say which file could not be written
            if e.filename is not None:
                raise
            raise OSError(e.errno, e.strerror or str(e), str(pathlib.Path(directory) / f"{name}.json")) from e
        if name == "last":
            self._saved_steps = self.steps
        return path

    def _save_mid_epoch(self, total: float, count: int) -> None:
        if self.checkpoint_dir is not None:
            ranks = self.world.gather(random_state(self))
            if self.world.is_main:
                self.save(self.checkpoint_dir, "last", ranks=ranks, partial={"count": count, "total": total})

    def load(self, directory, name: str = "last") -> "Trainer":
        """Restore a ``save``d state into this trainer and its model (built with the same shapes);
        ValueError naming the checkpoint when it is missing, damaged or edited."""
        if directory is None:
            raise ValueError("resume=True needs checkpoint_dir: the directory the interrupted run wrote to")
        arrays, meta = load_checkpoint(directory, name)
        try:
            restore_trainer(self, arrays, meta)
            partial = meta.get("partial")  # written by an interrupt mid-epoch: the epoch's running sums
            if partial is not None:
                count, total = partial["count"], partial["total"]
                if not (type(count) is int and count >= 0 and type(total) in (int, float)):
                    raise TypeError(f"partial={partial!r}")
                partial = {"count": count, "total": float(total)}
        except (KeyError, TypeError, AttributeError, IndexError) as e:  # a field missing or of the wrong kind
            raise ValueError(f"the checkpoint {pathlib.Path(directory) / name}.json is damaged or was edited "
                             f"({type(e).__name__}: {e}); start again without resuming, or into a new "
                             "directory") from None
        self._partial, self._saved_steps = partial, self.steps
        return self


class _StepLog:
    """A line to stderr every ``config.log_every`` steps, where no progress bar is drawn."""

    def __init__(self, config: TrainConfig, steps: int):
        self.every, self.tokens = config.log_every, config.tokens_per_step
        self.t0, self.steps0, self.losses = time.perf_counter(), steps, []

    def step(self, trainer, count: int, limit) -> None:
        self.losses.append(trainer.loss)
        if trainer.steps % self.every:
            return
        now = time.perf_counter()
        rate = (trainer.steps - self.steps0) / max(now - self.t0, 1e-9)
        speed = f"{rate:,.1f} steps/s" + ("" if self.tokens is None else f", {rate * self.tokens:,.0f} tokens/s")
        where = f"{count}/{limit}" if limit is not None else f"{count}"
        print(f"step {trainer.steps}  ({trainer._epoch_name()}, {where})  loss {np.mean(self.losses):.4f}  {speed}",
              file=sys.stderr, flush=True)
        self.t0, self.steps0, self.losses = now, trainer.steps, []


def _progress(total, enabled, desc, done=0):
    """A tqdm bar for ``total`` steps (None: unknown) with ``done`` already taken, or None when off."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, initial=done)
