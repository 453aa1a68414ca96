"""Hooks: code the engine runs at named points of its loop, each called as ``hook.<event>(trainer)``.

A hook is any object with one or more of the methods named in ``EVENTS`` (``on(event, fn)`` makes
one from a plain function ``fn(trainer)``). Hooks run in the order given. One that owns a
Generator (or other state the next step depends on) also has ``state_dict()`` ->
JSON and ``load_state_dict(state)``; checkpoints then carry that state, so resume stays exact.
What a hook may read: ``trainer.model`` (and its ``grads``), ``trainer.loss`` (this step's loss),
``trainer.steps``, ``trainer.epoch``, ``trainer.history``, ``trainer.world``.
"""

from __future__ import annotations

from unrolled.fast import elementwise
from unrolled.nn.module import distinct

EVENTS = (
    "before_step",     # gradients zeroed, the step's forward and backward about to run
    "after_backward",  # gradients of this step complete and not yet clipped: synchronise, probe
    "after_clip",      # gradients clipped (as configured), the optimizer not yet stepped: probes
    "after_step",      # parameters updated, trainer.steps counts this step (gradients clipped only if
                       # an after_clip hook exists or the optimizer scales them: the trainer's docstring)
    "after_epoch",     # validated and scheduled, trainer.history[-1] is the row; before the checkpoint
)


class FunctionHook:
    """A hook that calls ``fn(trainer)`` at one event; made by ``on``."""

    def __init__(self, event: str, fn) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown hook event {event!r}; use one of {', '.join(EVENTS)}")
        if not callable(fn):
            raise ValueError(f"on({event!r}, fn): fn must be a function of the trainer, got {fn!r:.60}")
        self.event, self.fn = event, fn
        setattr(self, event, fn)

    def __repr__(self) -> str:
        return f"on({self.event!r}, {self.fn!r})"


def on(event: str, fn) -> FunctionHook:
    """``fn(trainer)`` as a hook at ``event``: ``Trainer(..., hooks=[on("after_step", fn)])``."""
    return FunctionHook(event, fn)


def check_hook(hook):
    """``hook`` itself, or ValueError if it answers no event."""
    if not any(callable(getattr(hook, e, None)) for e in EVENTS):
        raise ValueError(f"hook {hook!r:.60} has none of the methods {', '.join(EVENTS)}; give it one, "
                         "or wrap a function as unrolled.train.hooks.on('after_backward', fn)")
    return hook


def grad_norm(model) -> float:
    """The joint L2 norm of every gradient of ``model`` (what ``clip_grad_norm_`` measures: a tied
    weight's gradient, under two keys, once), in float64."""
    return elementwise.norm2(distinct(model.grads.values()))


class GradNormProbe:
    """Records, for every step, the loss and the joint gradient norm before and after clipping."""

    def __init__(self) -> None:
        self.loss: list[float] = []
        self.norm_before: list[float] = []
        self.norm_after: list[float] = []

    def after_backward(self, trainer) -> None:
        self.loss.append(trainer.loss)
        self.norm_before.append(grad_norm(trainer.model))

    def after_clip(self, trainer) -> None:
        self.norm_after.append(grad_norm(trainer.model))
