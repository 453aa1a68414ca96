"""Run by tests/mpi/test_mpi.py under ``mpiexec -n 2``: data-parallel training with checkpoints in
OUT, where process 1 kills itself (SIGKILL, no goodbye) at step DIE_AT, or trains to the end when
DIE_AT is 0; the main process writes the final weights to OUT/final.npz. With ``resume`` it
continues the run in OUT from its last checkpoint.

    mpiexec -n 2 python tests/mpi/fault.py OUT DIE_AT [resume]
"""

from __future__ import annotations

import os
import pathlib
import signal
import sys

import numpy as np

from equivalence import LastStep  # noqa: E402  (the float64 model and its data)
from unrolled.nn.losses import MSELoss
from unrolled.train import Trainer, TrainConfig, index_batches
from unrolled.train.world import current


class DieAt:
    def __init__(self, at):
        self.at = at

    def after_step(self, trainer):
        if trainer.world.rank == 1 and trainer.steps == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    out, die_at, resume = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:] == ["resume"]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 50, 3))
    y = X.sum(axis=(0, 2))[:, None] / 10
    model, loss = LastStep(), MSELoss()

    def step(idx):
        value = loss.forward(model.forward(X[:, idx]), y[idx])
        model.backward(loss.backward())
        return value

    config = TrainConfig(epochs=6, lr=1e-2, seed=0, progress=False, restore_best=False)
    trainer = Trainer(model, config, world=current(), checkpoint_dir=out / "checkpoints", hooks=[DieAt(die_at)])
    trainer.fit(index_batches(50, 16), step, resume=resume)
    if current().is_main:
        np.savez(out / "final.npz", **model.state_dict())
