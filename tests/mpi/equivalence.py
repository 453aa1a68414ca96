"""Run by tests/mpi/test_mpi.py, once under plain python and once under ``mpiexec -n 2``: train the
same models on the same global batches and write their final weights to ``OUT/<name>.npz`` (the
main process only). K processes must end where one does, to round-off.

    python tests/mpi/equivalence.py OUT            # one process
    mpiexec -n 2 python tests/mpi/equivalence.py OUT
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

from unrolled import LSTM, Linear, LanguageModel, Module
from unrolled.nn.losses import MSELoss
from unrolled import data
from unrolled.tasks.forecast import Forecaster
from unrolled.train import Trainer, TrainConfig, index_batches
from unrolled.train.world import current


class LastStep(Module):
    """An LSTM read to the end, a Linear layer on its last output: float64 throughout."""

    def __init__(self):
        super().__init__()
        self.rnn = LSTM(3, 8, dtype=np.float64, seed=1)
        self.head = Linear(8, 1, dtype=np.float64, seed=2)

    def forward(self, x):
        y, _ = self.rnn.forward(x)  # (T, B, 8)
        self._y = y
        return self.head.forward(y[-1])  # (B, 1)

    def backward(self, d):
        dy = np.zeros_like(self._y)
        dy[-1] = self.head.backward(d)
        self.rnn.backward(dy)


def float64_model():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 50, 3))  # (T, N, D): 50 windows, batches of 16: shards of 8 and 8, then 1 and 1
    y = X.sum(axis=(0, 2))[:, None] / 10  # (N, 1)
    model, loss = LastStep(), MSELoss()

    def step(idx):
        out = model.forward(X[:, idx])
        value = loss.forward(out, y[idx])
        model.backward(loss.backward())
        return value

    config = TrainConfig(epochs=3, optimizer="adam", lr=1e-2, clip_norm=1.0, seed=0, progress=False, restore_best=False)
    Trainer(model, config, world=current()).fit(index_batches(50, 16), step)
    return model.state_dict()


def forecaster():
    f = Forecaster(hidden_size=8, lookback=10, max_steps=12, batch_size=32, seed=0, progress=False)
    return f.fit(data.load("sp500").iloc[:400]).model_.state_dict()


def language_model():
    text = "to be, or not to be, that is the question:\n" * 40
    lm = LanguageModel(hidden_size=16, embedding_dim=8, seq_len=12, batch_size=6, max_steps=8, eval_every=4,
                       eval_batch_size=5, dropout=0.0, seed=0, progress=False)  # dropout: masks per process, off
    lm.fit(text)  # validation: each process 2 or 3 of the 5 streams, the sums reduced
    return {**lm.net_.state_dict(), "val_loss": np.array([row["val_loss"] for row in lm.history_])}


def point_process():
    from unrolled.tasks.tpp.model import PointProcess
    from unrolled.tasks.tpp.synthetic import simulate

    d = simulate("hawkes1", n_sequences=40, t_end=30.0, seed=1).sequences
    pp = PointProcess(hidden_size=8, n_components=3, epochs=3, batch_size=10, seed=0, progress=False)
    return pp.fit(d[:30], validation=d[30:]).net_.state_dict()  # validation sharded: its best epoch is kept


def classifier():
    from unrolled.tasks.classify.arrays import ArrayClassifier

    rng = np.random.default_rng(0)
    X = [np.sin(np.arange(n)[:, None] * f) for f, n in zip([0.3, 1.5] * 20, rng.integers(5, 15, 40))]
    clf = ArrayClassifier(cell="gru", hidden_size=6, dropout=0.0, epochs=3, batch_size=10, seed=0, progress=False)
    return clf.fit(X, ["slow", "fast"] * 20).net_.state_dict()


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1])
    runs = {"float64": float64_model, "forecaster": forecaster, "lm": language_model, "tpp": point_process,
            "classify": classifier}
    names = [a for a in sys.argv[2:] if not a.startswith("--")]
    results = {name: runs[name]() for name in (names or runs)}  # the names given, or all
    if current().is_main:
        out.mkdir(parents=True, exist_ok=True)
        for name, state in results.items():
            np.savez(out / f"{name}.npz", **state)
        (out / "size.txt").write_text(str(current().size))
        (out / "overlapped.txt").write_text(str(getattr(current(), "async_calls", 0)))
