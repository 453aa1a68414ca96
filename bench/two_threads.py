"""Wide batches on two threads of our own (``unrolled.fast.threads``) against one thread, LSTM
only, in one process:

1. why the two must not mix: one half of the batch's compiled time loop alone, then both halves
   in two threads -- once right after a two-thread GEMM (OpenBLAS's worker still spinning),
   once with BLAS held to one thread for the whole block, so that its worker sleeps;
2. the layer, split (``threads.THREADS = 2``) against not split (``THREADS = 1``) against
   ``torch.nn.LSTM``: interleaved rounds, each variant after a short pause, median of rounds.

    python bench/two_threads.py
    OPENBLAS_THREAD_TIMEOUT=4 python bench/two_threads.py   # OpenBLAS's worker barely spins
"""

from __future__ import annotations

import time

import numpy as np
import torch

import unrolled
from unrolled.fast import threads
from unrolled.fast.kernels import _blas, loops, packed

SHAPES = [(32, 100, 64, 128), (64, 100, 256, 256), (128, 35, 650, 650), (256, 50, 32, 64)]


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_ms(fn, n=15) -> float:
    fn()
    return float(np.median([_timed(fn) for _ in range(n)])) * 1e3


def loop_halves(B, T, H):
    """(one half alone, both halves in two threads after a two-thread GEMM, both with BLAS held)."""
    r = np.random.default_rng(0)
    G = 4 * H
    W_hhT = (r.standard_normal((H, G)) * 0.1).astype(np.float32)
    P = packed.pack(W_hhT)
    xw = r.standard_normal((T, B, G)).astype(np.float32)
    b = np.zeros(G, np.float32)
    hs, cs = np.zeros((T + 1, B, H), np.float32), np.zeros((T + 1, B, H), np.float32)
    cache, y = np.zeros((B, 5 * H), np.float32), np.empty((T, B, H), np.float32)
    order, counts, starts = np.arange(B), np.full(T, B), np.arange(T + 1) * B  # every row runs every step
    xw = xw.reshape(T * B, G)
    a, w = r.standard_normal((2048, 512)).astype(np.float32), r.standard_normal((512, 512)).astype(np.float32)

    def rows(lo, hi):
        loops.forward_loop(loops.LSTM, xw, W_hhT, P, b, hs, cs, cache, y, order, counts, starts, False, False, 0,
                           lo, hi, loops.PACKED)

    def half_alone():
        with _blas.one_thread():
            rows(0, B // 2)

    def both_after_gemm():
        a @ w  # a two-thread GEMM: OpenBLAS's worker spins for a while after it
        with _blas.one_thread():
            threads.over_rows(rows, B)

    def both_held():
        with _blas.one_thread():
            a @ w  # the same GEMM on one thread: the worker stays asleep
            threads.over_rows(rows, B)

    gemm_2, gemm_1 = median_ms(lambda: a @ w), median_ms(lambda: _held(lambda: a @ w))  # subtracted below
    return median_ms(half_alone), median_ms(both_after_gemm) - gemm_2, median_ms(both_held) - gemm_1


def _held(fn):
    with _blas.one_thread():
        fn()


def layer_ab(B, T, D, H, rounds=5):
    """Median ms of (split, not split, torch) for inference and a training step."""
    r = np.random.default_rng(0)
    x = r.standard_normal((T, B, D)).astype(np.float32)
    dy = np.ones((T, B, H), np.float32)
    ours, theirs = unrolled.LSTM(D, H, seed=0), torch.nn.LSTM(D, H)
    xt = torch.from_numpy(x).requires_grad_(True)
    out = {}
    for mode in ("infer", "train"):
        ours.train(mode == "train")
        theirs.train(mode == "train")
        if mode == "infer":
            run_ours = lambda: ours(x)  # noqa: E731

            def run_torch():
                with torch.no_grad():
                    theirs(xt)
        else:
            def run_ours():
                ours(x)
                ours.backward(dy)

            def run_torch():
                y, _ = theirs(xt)
                y.backward(torch.ones_like(y))
        times = {"split": [], "not split": [], "torch": []}
        for _ in range(rounds):
            for name in times:
                threads.THREADS = 1 if name == "not split" else 2
                fn = run_torch if name == "torch" else run_ours
                time.sleep(0.5)  # let the other's thread pool fall asleep
                fn()
                times[name].append(min(_timed(fn) for _ in range(3)))
        threads.THREADS = 2
        out[mode] = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    return out


def main():
    torch.set_num_threads(2)
    print("compiled LSTM time loop, ms: one half alone | both halves in two threads after a two-thread "
          "GEMM | both halves, BLAS held to one thread")
    for B, T, D, H in SHAPES[1:]:
        alone, spinning, held = loop_halves(B, T, H)
        print(f"  {(B, T, D, H)}: {alone:.2f} | {spinning:.2f} | {held:.2f}")
    print("LSTM layer, ms (ratio to torch): split | not split | torch")
    for shape in SHAPES:
        res = layer_ab(*shape)
        for mode, t in res.items():
            print(f"  {mode:5} {shape}: {t['split']:.2f} ({t['split'] / t['torch']:.2f}) | "
                  f"{t['not split']:.2f} ({t['not split'] / t['torch']:.2f}) | {t['torch']:.2f}", flush=True)


if __name__ == "__main__":
    main()
