"""Training: the engine shared by every task (``trainer``, configured by ``config``), what it runs
at the points of its loop (``hooks``), the processes it spans (``world``), how it reads a task's
batches (``batches``) and saves its state (``checkpoint``); optimizers and clipping (``optim``)
and the finite-difference gradient check (``gradcheck``)."""

from unrolled.train.batches import index_batches
from unrolled.train.config import TrainConfig
from unrolled.train.trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "index_batches"]
