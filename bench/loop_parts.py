"""Where an inference time loop spends its time: the step's recurrent products against the gate
math, each alone and the whole compiled loop, on one thread (the loop of one thread's rows).

For every cell and benchmark shape of ``bench_rnn.py`` (B is one thread's share, half the batch
where the layer splits it), with T steps of random projected inputs:

* ``loop``: ``kernels.loops.forward_loop`` in eval mode (the product, the gate math, the state
  and output writes of every step);
* ``products``: the T step products alone (``packed.gemm``, or the small product at tiny sizes);
* ``gates``: the cell's ``forward_step`` alone, T times;

each of the last two in one compiled loop, as in the time loop (no Python between steps).

Interleaved rounds, medians; the shares are of ``loop``. Run it on a quiet machine.

    python bench/loop_parts.py                 # writes bench/results/loop_parts.md
    python bench/loop_parts.py --cells lstm --rounds 9 --out /tmp/parts.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).parent))
from bench_rnn import SHAPES  # noqa: E402
from deploy_speed import interleaved  # noqa: E402

from unrolled.fast import schedule  # noqa: E402
from unrolled.fast.kernels import gru, loops, lstm, packed, rnn  # noqa: E402
from unrolled.fast.kernels._math import matmul_into  # noqa: E402

CELLS = {"lstm": (loops.LSTM, 4, 5), "gru": (loops.GRU, 3, 4), "rnn": (loops.RNN, 1, 0)}  # code, G, cache width


@njit(cache=False)
def _products(hs, P, W, hw, T, B, how):
    for s in range(T):
        if how == loops.PACKED:
            packed.gemm(hs[s], P, hw, 0, B)
        else:
            matmul_into(hs[s], W, hw, 0, B)


@njit(cache=False)
def _gates(code, xw, hw, b, hs, cs, cache, T, B):
    for s in range(T):
        args = (xw[s * B:(s + 1) * B], hw, b, hs[s], cs[s], hs[s + 1], cs[s + 1], cache, 0, 0, B)
        if code == loops.LSTM:
            lstm.forward_step(*args)
        elif code == loops.GRU:
            gru.forward_step(*args)
        else:
            rnn.forward_step(*args)


def parts(cell: str, B: int, T: int, H: int, rng):
    code, G, width = CELLS[cell]
    GH = G * H
    how = schedule._product_mode(B, H, GH)
    xw = (0.3 * rng.standard_normal((T * B, GH))).astype(np.float32)
    W = (rng.standard_normal((H, GH)) / np.sqrt(H)).astype(np.float32)  # W_hh^T
    P = packed.pack(W) if how == loops.PACKED else np.empty((0, 0, packed.NR), np.float32)
    b = np.zeros(GH, np.float32)
    hs = np.zeros((T + 1, B, H), np.float32)
    cs = np.zeros_like(hs)
    cache = np.empty((B, width * H), np.float32)
    y = np.empty((T, B, H), np.float32)
    order, counts, starts = np.arange(B), np.full(T, B), np.arange(T + 1) * B
    hw = np.empty((B, GH), np.float32)

    def loop():
        loops.forward_loop(code, xw, W, P, b, hs, cs, cache, y, order, counts, starts, False, False, 0, 0, B, how)

    def products():
        _products(hs, P, W, hw, T, B, how)

    def gates():
        _gates(code, xw, hw, b, hs, cs, cache, T, B)

    return {"loop": loop, "products": products, "gates": gates}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", default="lstm,gru,rnn")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "loop_parts.md"))
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    lines = ["# Where one thread's inference time loop goes", "",
             f"`python bench/loop_parts.py --rounds {args.rounds}` on {platform.node() or 'this machine'}, "
             f"{time.strftime('%Y-%m-%d')}: float32, eval mode, medians of interleaved rounds; B is one thread's rows "
             "(half of the benchmark's batch where a layer splits it).", "",
             "| cell | one thread's B, T, H | loop ms | products ms | gates ms | products / loop | gates / loop |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    print("\n".join(lines))
    for cell in args.cells.split(","):
        for B, T, D, H in SHAPES:
            rows = B // 2 if B >= 4 else B  # the rows of one thread where a layer splits its batch
            runs = interleaved(parts(cell, rows, T, H, rng), args.rounds, min_time=0.05)
            t = {name: statistics.median(ts) for name, ts in runs.items()}
            lines.append(f"| {cell} | {rows}, {T}, {H} | {1e3 * t['loop']:.2f} | {1e3 * t['products']:.2f} | "
                         f"{1e3 * t['gates']:.2f} | {t['products'] / t['loop']:.2f} | {t['gates'] / t['loop']:.2f} |")
            print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
