"""One LSTM layer's forward + backward, median milliseconds per call, for the unrolled on the path.

For an A/B of two versions of the code (e.g. before and after a refactor), run it alternately
on each checkout, several times, on a quiet machine, and compare line by line (the minimum is the
steadier figure where the machine is shared)::

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


def timing_ms(B, T, D, H, reps):
    """(median, minimum) milliseconds of one forward + backward; on a shared machine the minimum
    is the steadier of the two for comparing fixed work."""
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
    return 1e3 * float(np.median(times)), 1e3 * min(times)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=30, help="timed calls per shape (default 30)")
    p.add_argument("--shapes", default="all", help="'all' or comma-separated indices into SHAPES (default all)")
    args = p.parse_args()
    shapes = SHAPES if args.shapes == "all" else [SHAPES[int(i)] for i in args.shapes.split(",")]
    where = pathlib.Path(unrolled.__file__).parents[2]
    cells = []
    for s in shapes:
        median, least = timing_ms(*s, args.reps)
        cells.append(f"{'x'.join(map(str, s))}: median {median:7.3f} ms, min {least:7.3f} ms")
    print(f"{str(where):<28}" + "  ".join(cells))
