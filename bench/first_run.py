"""The first run: the README's main command with an empty compile cache against later runs.

    python bench/first_run.py                 # 3 rounds, about a minute
    python bench/first_run.py --rounds 5 --command "unrolled lm train --max-steps 20 --no-progress"

Each round runs the command with a fresh, empty numba cache (``NUMBA_CACHE_DIR`` in a new
temporary folder: what a new user's first run compiles) and then twice more with the cache that
run left (a later run; the faster of the two), each into its own new ``--out``; the report is
the median wall time of each and the median difference. Then, once, which kernels a cold run
compiles and how long each took (numba's compile events, in-process), largest first.
Writes bench/results/first_run.md. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = """
import sys, time
from numba.core import event
from unrolled import cli
with event.install_recorder("numba:compile") as rec:
    cli.main(sys.argv[2:] + ["--out", sys.argv[1]])
open_ = {}
for ts, ev in rec.buffer:
    name = ev.data["dispatcher"].py_func.__qualname__
    if ev.is_start:
        open_.setdefault(name, []).append(ts)
    else:
        print(f"{ts - open_[name].pop():.3f} {name}", file=sys.stderr)
"""


def timed(argv, env) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--command", default="unrolled forecast --no-progress", help="the command (without --out)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "first_run.md"))
    args = p.parse_args(argv)
    command = shlex.split(args.command)
    exe = Path(sys.executable).parent / command[0]
    command = [str(exe) if exe.exists() else command[0], *command[1:]]
    cold, warm = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            env = dict(os.environ, NUMBA_CACHE_DIR=f"{tmp}/cache{r}")
            cold.append(timed(command + ["--out", f"{tmp}/cold{r}"], env))
            warm.append(min(timed(command + ["--out", f"{tmp}/warm{r}{k}"], env) for k in range(2)))
            print(f"round {r + 1}: first run {cold[-1]:.2f} s, later run {warm[-1]:.2f} s", flush=True)
        env = dict(os.environ, NUMBA_CACHE_DIR=f"{tmp}/profile")
        prof = subprocess.run([sys.executable, "-c", PROFILE, f"{tmp}/profile_out", *command[1:]], env=env,
                              capture_output=True, text=True, check=True, cwd=ROOT)
    compiles = sorted(((float(t), name) for t, name in (line.split(" ", 1) for line in prof.stderr.splitlines()
                                                           if line[:1].isdigit())), reverse=True)
    med = statistics.median
    gap = med(c - w for c, w in zip(cold, warm))
    lines = ["# The first run", "",
             f"`python bench/first_run.py --rounds {args.rounds}` on {platform.node()}, {os.cpu_count()} cores, "
             f"{time.strftime('%Y-%m-%d')}: `{args.command}`, {args.rounds} rounds, each a first run with an empty "
             "compile cache, then the better of two later runs with the cache it left; medians.", "",
             "| first run | later run | first minus later |", "| ---: | ---: | ---: |",
             f"| {med(cold):.2f} s | {med(warm):.2f} s | **{gap:.2f} s** |", "",
             "What a first run compiles (numba's compile events; each includes what it calls and compiles):", "",
             "| seconds | kernel |", "| ---: | --- |"]
    lines += [f"| {t:.2f} | `{name}` |" for t, name in compiles[:12]]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
