"""``TrainConfig``: how the engine trains, every default with its reason."""

from __future__ import annotations

import math
from dataclasses import dataclass


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


@dataclass
class TrainConfig:
    """How to train. Every default has a reason; ``TrainConfig(**json)`` restores one.

    An epoch ends with validation, the schedule's step, early stopping and a checkpoint. It is one
    pass over the task's batches, or with ``eval_every`` that many optimizer steps read from the
    passes back to back (an epoch may end mid-pass, and the next continues there). The run ends
    at ``epochs``, ``max_steps``, early stopping or ``max_seconds``, whichever comes first.
    """

    epochs: int | None = 20            # upper bound; early stopping usually ends sooner; None: max_steps decides
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
    seed: int = 0                      # seeds the shuffle Generator (plus the process's rank)
    progress: bool | None = None       # tqdm bar; None = only when stderr is a terminal
    max_seconds: float | None = None   # wall-clock budget of one fit() call, validation included
    max_steps: int | None = None       # stop after this many optimizer steps in all; None = epochs decide
    eval_every: int | None = None      # optimizer steps per epoch; None = one whole pass over the batches

    def __post_init__(self):
        def bad(name, fix):
            raise ValueError(f"TrainConfig: {name}={getattr(self, name)!r} is invalid; {fix}")

        for name in ("batch_size", "step_size"):
            if not _whole(getattr(self, name)):
                bad(name, "use a whole number >= 1")
        if self.epochs is None:
            if self.max_steps is None:
                bad("epochs", "use a whole number >= 1, or set max_steps to let it decide")
        elif not _whole(self.epochs):
            bad("epochs", "use a whole number >= 1")
        for name in ("max_steps", "eval_every"):
            if getattr(self, name) is not None and not _whole(getattr(self, name)):
                bad(name, "use a whole number of optimizer steps >= 1, or None to turn it off")
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
        if self.patience is not None and not _whole(self.patience):
            bad("patience", "use a whole number of epochs >= 1, or None for no early stopping")
