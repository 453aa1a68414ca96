"""The products the fast schedule takes its own way, each against the plain BLAS call, in one
process (median of interleaved rounds, ratio = ours / BLAS):

1. a step's recurrent product ``h_prev @ W_hh^T`` on one thread's rows, on one thread:
   ``kernels.packed`` (W_hh^T packed once, outside the timing, as the time loop does) against
   ``np.matmul``, which packs W_hh^T again at every call;
2. the weight gradients over all T*B rows on our two threads (``schedule._weight_grads``: each
   thread forms ``(X^T dA)^T``, ``(H^T dA)^T`` and the bias sums over half of the rows) against
   ``dA.T @ X`` and ``dA.T @ H`` with the rows of ``dA^T`` split (``threads.matmul``) and the
   bias sum on one thread.

    python bench/packed.py
"""

from __future__ import annotations

import time

import numpy as np

from unrolled.fast import threads
from unrolled.fast import schedule
from unrolled.fast.workspace import Workspace
from unrolled.fast.kernels import _blas, packed

# (rows of one thread, H, G*H) for the LSTM shapes of bench_rnn.py split over two threads
STEPS = [(16, 128, 512), (32, 256, 1024), (64, 650, 2600), (128, 64, 256)]
# (T*B, D, H, G*H): the weight gradients of the LSTM shapes (256, 50, 32, 64) and (64, 100, 256, 256)
GRADS = [(12800, 32, 64, 256), (6400, 256, 256, 1024)]


def _median_ratio(ours, theirs, rounds=9, reps=20):
    ratios, times = [], []
    for _ in range(rounds):
        pair = []
        for fn in (ours, theirs):
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            pair.append((time.perf_counter() - t0) / reps)
        ratios.append(pair[0] / pair[1])
        times.append(pair)
    t = np.median(np.array(times), axis=0) * 1e3
    return t[0], t[1], float(np.median(ratios))


def main():
    r = np.random.default_rng(0)
    with _blas.one_thread():
        print("recurrent step product, one thread: rows, H, G*H | packed ms | np.matmul ms | ratio")
        for rows, H, GH in STEPS:
            A = r.standard_normal((rows, H)).astype(np.float32)
            M = r.standard_normal((H, GH)).astype(np.float32)
            P, out, out2 = packed.pack(M), np.empty((rows, GH), np.float32), np.empty((rows, GH), np.float32)
            ours = lambda: packed.gemm(A, P, out, 0, rows)  # noqa: E731
            theirs = lambda: np.matmul(A, M, out=out2)  # noqa: E731
            ours()
            print(f"  {rows}, {H}, {GH}: %.3f | %.3f | %.2f" % _median_ratio(ours, theirs))
        print("weight gradients, two threads: T*B, D, H, G*H | _weight_grads ms | split dA^T ms | ratio")
        for n, D, H, GH in GRADS:
            X = r.standard_normal((n, D)).astype(np.float32)
            Hp = r.standard_normal((n, H)).astype(np.float32)
            dA = r.standard_normal((n, GH)).astype(np.float32)

            def before():
                threads.matmul(dA.T, X), threads.matmul(dA.T, Hp), dA.sum(axis=0)

            work = Workspace()  # the layer's own buffers, reused from call to call as in training
            ours = lambda: schedule._weight_grads(X, Hp, dA, dA, True, work)  # noqa: E731
            print(f"  {n}, {D}, {H}, {GH}: %.3f | %.3f | %.2f" % _median_ratio(ours, before, rounds=7, reps=3))

if __name__ == "__main__":
    main()
