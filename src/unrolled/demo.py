"""``unrolled demo``: the seed's worked LSTM step, a gradient check, and every cell of ``LAYERS``
(RNN, LSTM, GRU) trained on a small memory task.

The delay task: a stream of random bits, and at every step the target is the bit seen
``delay`` steps earlier. Remembering it means carrying information across ``delay`` steps: the
product of Jacobians of seed 004, sec. 9, that must neither vanish nor explode.
"""

from __future__ import annotations

import time

import numpy as np

from unrolled.nn.cells import CELLS
from unrolled.train.gradcheck import gradcheck
from unrolled.nn.losses import CrossEntropyLoss
from unrolled.train.optim import Adam, clip_grad_norm_
from unrolled.nn.layers import Linear, Sequential
from unrolled.nn.recurrent import LAYERS, LSTM


def seed003_step() -> dict:
    """Seed 003's numeric example: weights 1, one bias 1, x = 0.5, h = 0.1, c = 0.2."""
    one = np.ones((4, 1))
    lstm = CELLS["lstm"]
    (h, c), cache = lstm.forward(np.array([[0.5]]), np.array([[0.1]]), np.array([[0.2]]),
                                 one, one, np.ones(4), np.zeros(4))
    v = lstm.step_values(cache)
    return {"f": v["f"].item(), "i": v["i"].item(), "C~ (g)": v["g"].item(), "c": c.item(), "o": v["o"].item(),
            "h": h.item()}


def delay_batch(rng, B, T, delay):
    """Random bits (T, B, 1) and targets (T, B): the bit ``delay`` steps back, -100 before that."""
    bits = rng.integers(0, 2, size=(T, B))
    targets = np.full((T, B), -100)
    targets[delay:] = bits[:-delay]
    return bits[..., None].astype(np.float32), targets


def train_delay(cell: str, delay=6, T=24, B=32, H=24, steps=300, lr=1e-2, seed=0):
    """Train ``cell`` on the delay task; returns (accuracy on fresh data, final loss, seconds)."""
    if not (isinstance(delay, int) and 1 <= delay < T):
        raise ValueError(f"delay={delay!r} must be a whole number of steps in [1, {T - 1}]")
    if steps < 1:
        raise ValueError(f"steps={steps!r} must be at least 1")
    layer = LAYERS[cell](1, H, seed=seed)
    model = Sequential(("rnn", layer), ("out", Linear(H, 2, seed=seed + 1)))
    opt = Adam(model, lr=lr)
    loss_fn = CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        x, y = delay_batch(rng, B, T, delay)
        loss = loss_fn.forward(model.forward(x), y)
        model.zero_grad()
        model.backward(loss_fn.backward())
        clip_grad_norm_(model, 1.0)
        opt.step()
    seconds = time.perf_counter() - t0
    model.eval()
    x, y = delay_batch(np.random.default_rng(seed + 99), 256, T, delay)
    pred = model.forward(x).argmax(-1)
    counted = y != -100
    return float((pred == y)[counted].mean()), loss, seconds


def gradient_check() -> float:
    """Worst relative error between BPTT and finite differences on a small 2-layer bi-LSTM."""
    rng = np.random.default_rng(0)
    m = LSTM(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    x = rng.standard_normal((5, 2, 3))
    dy = rng.standard_normal((5, 2, 8))

    def loss():
        return float((m.forward(x)[0] * dy).sum())

    loss()
    m.zero_grad()
    dx, _ = m.backward(dy)
    return max(gradcheck(loss, dict(m.params, x=x), dict(m.grads, x=dx)).values())


def run_demo(delay=6, steps=300, seed=0, out=print) -> dict:
    out("1. Seed 003's worked LSTM step (all weights 1, one bias 1, x=0.5, h=0.1, c=0.2):")
    step = seed003_step()
    out("   " + "  ".join(f"{k} = {v:.4f}" for k, v in step.items()))
    err = gradient_check()
    out(f"2. BPTT vs central finite differences, 2-layer bidirectional LSTM: max relative error {err:.1e}")
    out(f"3. Delay task: output the bit seen {delay} steps earlier ({steps} Adam steps, seed {seed}):")
    results = {}
    for cell in LAYERS:
        acc, loss, sec = train_delay(cell, delay=delay, steps=steps, seed=seed)
        results[cell] = acc
        out(f"   {cell:<4}  accuracy {acc:6.1%}   final loss {loss:.3f}   {sec:5.1f} s")
    out("   (chance is 50%)")
    return {"seed003": step, "gradcheck": err, "delay_accuracy": results}
