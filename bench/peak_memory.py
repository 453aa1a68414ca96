"""Peak memory of ``unrolled forecast`` on a large synthetic CSV: what the largest input costs.

    python bench/peak_memory.py --rows 1200000                      # this checkout, 1.2 M rows (38 MB)
    python bench/peak_memory.py --rows 1200000 --src /tmp/before/src --args "--epochs 1"

Writes a minute-bar series (a geometric random walk with a volume column, seeded) of ``--rows``
rows to a temporary CSV, runs the command in a child process and reports its wall time and peak
resident memory (``ru_maxrss`` of the child). Training is cut short (``--max-steps``) because
the question is what the data and the evaluation hold, not how long training takes.
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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_200_000, help="rows of the synthetic CSV (default 1,200,000)")
    p.add_argument("--args", default="--max-steps 20 --no-progress",
                   help="flags for unrolled forecast (default: --max-steps 20 --no-progress)")
    p.add_argument("--src", help="the src/ folder of another checkout to measure instead")
    args = p.parse_args()
    env = os.environ.copy()
    if args.src:
        env["PYTHONPATH"] = str(pathlib.Path(args.src).resolve())
    with tempfile.TemporaryDirectory() as d:
        csv = pathlib.Path(d) / "big.csv"
        write_csv(args.rows, csv)
        size = csv.stat().st_size / 1e6
        cmd = [sys.executable, "-m", "unrolled.cli", "forecast", "--csv", str(csv), *shlex.split(args.args)]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # KiB -> GiB
    print(f"{args.rows:,} rows ({size:.0f} MB): exit {r.returncode}, {wall:.0f} s, peak resident memory {peak:.2f} GiB")
    if r.returncode:
        print((r.stderr or r.stdout).strip().splitlines()[-1])


if __name__ == "__main__":
    main()
