"""What reusing a layer's work buffers saves: the same layer, the same input, in one process,
with its own ``Workspace`` (buffers reused from call to call) against a new one at every call
(every buffer fresh from the allocator, as before the workspace), interleaved over rounds.

    python bench/workspace.py            # LSTM training step and inference, each benchmark shape
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import unrolled
from unrolled.fast.workspace import Workspace

SHAPES = [(32, 100, 64, 128), (64, 100, 256, 256), (1, 1000, 8, 32), (256, 50, 32, 64)]


def best_ms(fn, reps):
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def compare(B, T, D, H, mode, rounds):
    m = unrolled.LSTM(D, H, seed=0)
    if mode == "infer":
        m.eval()
    r = np.random.default_rng(1)
    x = r.standard_normal((T, B, D)).astype(np.float32)
    dy = r.standard_normal((T, B, H)).astype(np.float32)
    own = m._work

    def step(reuse):
        m._work = own if reuse else [Workspace()]
        m.zero_grad()
        m.forward(x)
        if mode == "train":
            m.backward(dy)

    step(True), step(False)
    t0 = time.perf_counter()
    step(True)
    reps = max(3, int(0.15 / (time.perf_counter() - t0)))
    reused, fresh = [], []
    for _ in range(rounds):
        reused.append(best_ms(lambda: step(True), reps))
        fresh.append(best_ms(lambda: step(False), reps))
    reused, fresh = np.array(reused), np.array(fresh)
    return np.median(reused), np.median(fresh), np.median(reused / fresh)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args(argv)
    print("| B, T, D, H | mode | reused ms | fresh ms | ratio |\n| --- | --- | ---: | ---: | ---: |")
    for shape in SHAPES:
        for mode in ("train", "infer"):
            a, b, ratio = compare(*shape, mode, args.rounds)
            print(f"| {', '.join(map(str, shape))} | {mode} | {a:.2f} | {b:.2f} | **{ratio:.2f}** |", flush=True)


if __name__ == "__main__":
    main()
