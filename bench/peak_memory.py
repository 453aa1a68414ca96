"""Peak memory of a training command on a large input: what the largest input costs.

    python bench/peak_memory.py --rows 1200000                      # unrolled forecast, 1.2 M rows (38 MB)
    python bench/peak_memory.py --rows 1200000 --src /tmp/before/src --args "--epochs 1"
    python bench/peak_memory.py --task lm --megabytes 200           # unrolled lm train, 200 MB of text

``forecast``: a minute-bar series (a geometric random walk with a volume column, seeded) of
``--rows`` rows in a temporary CSV. ``lm``: the bundled Shakespeare repeated to ``--megabytes``
of text, a small model (the data, not the weights, is the question). The command runs in a child
process; the report is its wall time and peak resident memory (``ru_maxrss`` of the child).
Training is cut short (``--max-steps``): what the data and the evaluation hold is the question,
not how long training takes.
"""

import argparse
import os
import pathlib
import resource
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd


def write_csv(rows: int, path: pathlib.Path) -> None:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(0.0005 * rng.standard_normal(rows)))
    volume = rng.integers(1_000, 50_000, rows)
    dates = pd.date_range("2000-01-03 09:30", periods=rows, freq="min")
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d %H:%M"), "Close": np.round(close, 4),
                  "Volume": volume}).to_csv(path, index=False)


def write_text(megabytes: float, path: pathlib.Path) -> None:
    from unrolled.tasks.lm.corpus import shakespeare

    text = shakespeare().train
    reps = int(megabytes * 1e6 // len(text.encode())) + 1
    path.write_text(text * reps)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=("forecast", "lm"), default="forecast", help="the command (default forecast)")
    p.add_argument("--rows", type=int, default=1_200_000, help="forecast: rows of the synthetic CSV (default 1,200,000)")
    p.add_argument("--megabytes", type=float, default=100, help="lm: megabytes of text (default 100)")
    p.add_argument("--args", default=None, help="flags for the command (default: a short run, see the source)")
    p.add_argument("--src", help="the src/ folder of another checkout to measure instead")
    args = p.parse_args()
    env = os.environ.copy()
    if args.src:
        env["PYTHONPATH"] = str(pathlib.Path(args.src).resolve())
    with tempfile.TemporaryDirectory() as d:
        if args.task == "forecast":
            data = pathlib.Path(d) / "big.csv"
            write_csv(args.rows, data)
            what = f"{args.rows:,} rows"
            cmd = ["forecast", "--csv", str(data), *shlex.split(args.args or "--max-steps 20 --no-progress")]
        else:
            data = pathlib.Path(d) / "big.txt"
            write_text(args.megabytes, data)
            what = "text"
            cmd = ["lm", "train", "--text", str(data), *shlex.split(
                args.args or "--max-steps 5 --hidden-size 32 --num-layers 1 --embedding-dim 16 --ngram-order 0 "
                             "--eval-batch-size 512 --no-progress")]
        size = data.stat().st_size / 1e6
        cmd = [sys.executable, "-m", "unrolled.cli", *cmd]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # KiB -> GiB
    print(f"{args.task} on {what} ({size:.0f} MB): exit {r.returncode}, {wall:.0f} s, peak resident memory {peak:.2f} GiB")
    if r.returncode:
        print((r.stderr or r.stdout).strip().splitlines()[-1])


if __name__ == "__main__":
    main()
