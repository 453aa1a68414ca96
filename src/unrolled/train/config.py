"""``TrainConfig``: how the engine trains, every default with its reason; and the size limit
every model is checked against before it is built (``MAX_PARAMETERS``)."""

from __future__ import annotations

from dataclasses import dataclass

from unrolled.train.hyperparams import flag_value, fraction, nonnegative, positive, text, validate, whole

# The most parameters a model may have. Training holds each about five times (the weights, their
# gradients, Adam's two moments, the best epoch's copy): 100 million float32 parameters are 2 GB
# before any activation, and a NumPy network that size runs days per epoch on a CPU. Above it, a
# size flag was almost certainly mistyped (--hidden-size 1000000 asks for 4 x 10^12 weights).
MAX_PARAMETERS = 100_000_000


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
    decay_after: int = 0               # epochs whose end leaves the rate alone before the schedule starts (Zaremba et al.: 4, 6)
    patience: int | None = 5           # stop after this many epochs without a better val loss
    min_delta: float = 0.0             # how much lower counts as better
    monitor: str = "val_loss"          # the epoch row's column that picks the best epoch and stops early
    maximize: bool = False             # True for a score (val_accuracy): higher is better
    restore_best: bool = True          # end with the best epoch's weights, not the last
    shuffle: bool = True               # reshuffle examples every epoch (seeded); False for LM streams
    seed: int = 0                      # seeds the shuffle Generator (plus the process's rank)
    progress: bool | None = None       # tqdm bar; None = only when stderr is a terminal
    max_seconds: float | None = None   # wall-clock budget of one fit() call, validation included
    max_steps: int | None = None       # stop after this many optimizer steps in all; None = epochs decide
    eval_every: int | None = None      # optimizer steps per epoch; None = one whole pass over the batches
    log_every: int | None = 100        # progress=None off a terminal: a line to stderr every this many steps instead
    tokens_per_step: int | None = None  # tokens one step reads (T * B for a language model): tokens/s in that line

    def __post_init__(self):
        for name, (check, choices) in _CHECKS.items():
            validate("TrainConfig", name, getattr(self, name), check, choices)
        if self.epochs is None and self.max_steps is None:
            raise ValueError("TrainConfig: epochs=None is invalid; use a whole number >= 1, or set max_steps to "
                             "let it decide")


# Each field's check: the same functions every task estimator declares its hyperparameters with.
_CHECKS = {
    "epochs": (whole(none="to let max_steps decide"), None),
    "batch_size": (whole(), None),
    "optimizer": (None, ("sgd", "adam", "adamw")),
    "lr": (positive(example=1e-3), None),
    "momentum": (nonnegative(), None),
    "weight_decay": (nonnegative(), None),
    "clip_norm": (positive(none="to turn it off"), None),
    "clip_value": (positive(none="to turn it off"), None),
    "schedule": (None, (None, "step", "exponential")),
    "gamma": (fraction(0, 1, closed_low=False, closed_high=True, example=0.5), None),
    "step_size": (whole(), None),
    "decay_after": (whole(0), None),
    "patience": (whole(none="for no early stopping"), None),
    "min_delta": (nonnegative(), None),
    "monitor": (text(), None),
    "maximize": (flag_value(), None),
    "seed": (whole(0), None),
    "max_seconds": (positive(none="for no time limit"), None),
    "max_steps": (whole(none="to let epochs decide"), None),
    "eval_every": (whole(none="for one pass per epoch"), None),
    "log_every": (whole(none="for no step lines"), None),
    "tokens_per_step": (whole(none="to show steps/s only"), None),
}


def recurrent_parameters(cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                         directions: int = 1) -> int:
    """How many parameters a recurrent stack of ``cell`` has (weights and both biases), counted
    without building it: G gates of ``W_ih`` (G H x D), ``W_hh`` (G H x H) and two biases per layer
    and direction; the layers above the first read ``directions * H`` inputs."""
    from unrolled.nn.recurrent import cell_named

    G, H = cell_named(cell).G, int(hidden_size)
    first = G * H * (int(input_size) + H + 2)
    rest = G * H * (directions * H + H + 2)
    return directions * (first + (int(num_layers) - 1) * rest)


def check_parameters(count: int, what: str, fix: str) -> None:
    """ValueError ``"<what> makes ... parameters, more than MAX_PARAMETERS ...; <fix>"`` when
    ``count`` is above ``MAX_PARAMETERS``: checked before anything is allocated."""
    if count > MAX_PARAMETERS:
        raise ValueError(f"{what} makes a model of {count:,} parameters, more than MAX_PARAMETERS = "
                         f"{MAX_PARAMETERS:,} (training holds each about five times); {fix}")
