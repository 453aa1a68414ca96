"""One LSTM layer's forward + backward, median milliseconds per call, for the unrolled on the path.

For an A/B of two versions of the code (e.g. before and after a refactor), run it alternately
on each checkout, several times, on a quiet machine, and compare the medians line by line::

    git worktree add /tmp/before <commit>
    for i in 1 2 3; do PYTHONPATH=/tmp/before/src python bench/layer_call.py; python bench/layer_call.py; done

Shapes: ``B, T, D, H``; the first is all per-call overhead (1000 tiny steps), the others the
benchmark table's (bench_rnn.py).
"""

import argparse
import pathlib
import time

import numpy as np

import unrolled

SHAPES = [(1, 1000, 8, 32), (256, 50, 32, 64), (32, 100, 64, 128)]


def median_ms(B, T, D, H, reps):
    m = unrolled.LSTM(D, H, seed=0)
    x = np.random.default_rng(0).standard_normal((T, B, D)).astype(np.float32)

    def once():
        y, _ = m.forward(x)
        m.backward(np.ones_like(y))

    for _ in range(3):  # compile cache, buffers
        once()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=30, help="timed calls per shape (default 30)")
    args = p.parse_args()
    where = pathlib.Path(unrolled.__file__).parents[2]
    print(f"{str(where):<28}" + "  ".join(f"{'x'.join(map(str, s))}: {median_ms(*s, args.reps):7.3f} ms"
                                         for s in SHAPES))
