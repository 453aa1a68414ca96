"""Small training tasks for the engine's tests, built from nn parts only.

``stream_task`` has the language model's shape: a long sequence cut into ``N_SEG`` segments of T
steps for B streams, read in order with the hidden state carried from segment to segment (and
reset at segment 0), dropout between two LSTM layers (so the model's Generator matters), and the
carried state saved in checkpoints as the task's extra state. ``FakeWorld`` is one process of
two, the other simulated by what the collectives return.
"""

import numpy as np

from unrolled.nn.layers import Linear
from unrolled.nn.losses import MSELoss
from unrolled.nn.module import Module
from unrolled.nn.recurrent import LSTM

T, B, D, H, N_SEG = 4, 3, 2, 5, 5


class TinyNet(Module):
    """LSTM (two layers, dropout between them), then Linear on every step: x (T, B, D) -> (T, B, 1)."""

    def __init__(self, seed=0, dropout=0.3):
        super().__init__()
        self.rnn = LSTM(D, H, 2, dropout=dropout, seed=seed)
        self.head = Linear(H, 1, seed=seed + 1)
        for prefix, part in (("rnn", self.rnn), ("head", self.head)):
            for k, v in part.params.items():
                self.params[f"{prefix}.{k}"] = v
                self.grads[f"{prefix}.{k}"] = part.grads[k]

    def children(self):
        return [self.rnn, self.head]

    def forward(self, x, state=None):
        y, state = self.rnn.forward(x, state)  # (T, B, H)
        return self.head.forward(y), state  # (T, B, 1)

    def backward(self, dout):
        self.rnn.backward(self.head.backward(dout))


def stream_task(seed=0):
    """``model, step, validate, carried, extra_state, load_extra_state``; batches are segment numbers."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((N_SEG, T, B, D)).astype(np.float32)  # (N_SEG, T, B, D)
    Y = (np.cumsum(X.sum(axis=-1, keepdims=True), axis=1) / 4).astype(np.float32)  # (N_SEG, T, B, 1)
    model, loss_fn = TinyNet(seed), MSELoss()
    carried = {"state": None}

    def step(k):
        if k == 0:
            carried["state"] = None  # the streams start afresh
        out, carried["state"] = model.forward(X[k], carried["state"])
        loss = loss_fn.forward(out, Y[k])
        model.backward(loss_fn.backward())
        return loss

    def validate():
        out, _ = model.forward(X[0])
        return float(np.mean((out - Y[0]) ** 2))

    def extra_state():
        s = carried["state"]
        return {"state": None if s is None else [p.tolist() for p in s]}

    def load_extra_state(obj):
        s = obj["state"]
        carried["state"] = None if s is None else tuple(np.asarray(p, dtype=np.float32) for p in s)

    return model, step, validate, carried, extra_state, load_extra_state


def same_params(a: Module, b: dict) -> bool:
    return all(np.array_equal(a.params[k], v) for k, v in b.items())


class FakeWorld:
    """Process ``rank`` of two; the other process is simulated by what the collectives return."""

    size = 2

    def __init__(self, rank=0, mean_factor=1.0, time_up_at_call=None, main_losses=None):
        self.rank, self.is_main = rank, rank == 0
        self.factor, self.time_up_at_call = mean_factor, time_up_at_call
        self.main_losses = None if main_losses is None else iter(main_losses)
        self.calls = {"allreduce_mean": 0, "agree_any": 0, "broadcast": 0, "gather": 0}

    def allreduce_mean(self, array):
        self.calls["allreduce_mean"] += 1
        return self.factor * array  # the other process's gradient is (2 factor - 1) times ours

    def agree_any(self, flag):
        self.calls["agree_any"] += 1
        return bool(flag) or self.calls["agree_any"] == self.time_up_at_call

    def broadcast(self, obj):
        self.calls["broadcast"] += 1
        return obj if self.main_losses is None else next(self.main_losses)

    def gather(self, obj):
        self.calls["gather"] += 1
        return [obj, {**obj, "rng": np.random.default_rng(1234).bit_generator.state}] if self.is_main else None
