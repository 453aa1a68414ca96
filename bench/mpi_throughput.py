"""Data parallelism on this machine, and a cost model beyond it.

1. Throughput: the README's character LSTM (2 x 256, E = 64, B = 32 streams of T = 100) and word
   LSTM (2 x 256, E = 256, T = 35), trained for ``--steps`` optimizer steps on the bundled
   Shakespeare, as 2 processes x 1 thread (``mpiexec -n 2``, each taking 16 of the 32 streams)
   against 1 process x 2 threads, in interleaved rounds; the median tokens/s of each and the
   median ratio. Also the seconds per step spent in the one Allreduce (``MPIWorld``).
2. Beyond one host, on paper: per step, ``compute / K`` (the measured one-process step time,
   the global batch fixed) plus a ring all-reduce of the gradient, ``2 (K - 1) / K * bytes /
   bandwidth + 2 (K - 1) * latency`` (latency 5 us per message, an assumption stated here), for K
   = 1..64 hosts at 10 and 100 Gbit/s: the speed-up and where it stops growing.

    python bench/mpi_throughput.py                 # about 3 minutes on 2 cores
    python bench/mpi_throughput.py --steps 20 --rounds 2

Writes bench/results/mpi_throughput.md. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "char LSTM 2x256": dict(level="char", cell="lstm", hidden_size=256, num_layers=2, embedding_dim=64, seq_len=100,
                            batch_size=32, dropout=0.0),
    "word LSTM 2x256": dict(level="word", cell="lstm", hidden_size=256, num_layers=2, embedding_dim=256, seq_len=35,
                            batch_size=32, dropout=0.0),
}
LATENCY = 5e-6  # seconds per message of a ring step on a cluster network (an assumption)


def worker(name: str, steps: int) -> None:
    """One training run (under mpiexec or not): prints JSON with tokens/s and the Allreduce time."""
    from unrolled import LanguageModel
    from unrolled.train.world import current

    from unrolled.tasks.lm.corpus import shakespeare_works

    text = "\n".join(w.text for w in shakespeare_works())[:600_000]  # the validation pass stays short
    lm = LanguageModel(**MODELS[name], max_steps=steps, eval_every=steps, seed=0, progress=False)
    t0 = time.perf_counter()
    lm.fit(text)
    world = current()
    if world.is_main:
        n_params = sum(v.size for v in lm.net_.state_dict().values())
        print(json.dumps({"tokens_per_second": lm.train_tokens_per_second_ * world.size,  # every process's tokens
                          "allreduce_seconds_per_step": getattr(world, "allreduce_seconds", 0.0) / steps,
                          "seconds": time.perf_counter() - t0, "parameters": int(n_params),
                          "step_seconds": 32 * MODELS[name]["seq_len"] / (lm.train_tokens_per_second_ * world.size)}))


def run(name, steps, processes):
    env = dict(os.environ)
    for var in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "UNROLLED_NUM_THREADS"):
        env.pop(var, None)
    cmd = [sys.executable, __file__, "--worker", name, "--steps", str(steps)]
    if processes > 1:
        mpiexec = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]))
        cmd = [mpiexec, "-n", str(processes), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cost_table(step_seconds, parameters, bytes_per=4):
    size = parameters * bytes_per
    rows = []
    for gbit in (10, 100):
        bandwidth = gbit * 1e9 / 8
        speedups = {}
        for K in (1, 2, 4, 8, 16, 32, 64):
            comm = 0.0 if K == 1 else 2 * (K - 1) / K * size / bandwidth + 2 * (K - 1) * LATENCY
            speedups[K] = step_seconds / (step_seconds / K + comm)
        best = max(speedups, key=speedups.get)
        rows.append((gbit, speedups, best))
    return size, rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "mpi_throughput.md"))
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, args.steps)
        return 0
    import statistics

    lines = ["# Data parallelism: 2 processes x 1 thread against 1 process x 2 threads", "",
             f"`python bench/mpi_throughput.py --steps {args.steps} --rounds {args.rounds}` on {platform.node()}, "
             f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}: the bundled Shakespeare, {args.steps} optimizer "
             "steps per run on its first 600,000 characters (split 90/5/5; the compile is in neither: a warm-up run of "
             "each goes first), "
             f"{args.rounds} interleaved rounds, medians. Tokens/s count every process's tokens.", "",
             "| model | 1 process x 2 threads, tokens/s | 2 processes x 1 thread, tokens/s | ratio (2 proc / 1) | "
             "Allreduce per step | parameters |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    costs = []
    for name in MODELS:
        run(name, 3, 1), run(name, 3, 2)  # warm-up: the kernels compiled and cached
        one, two, ratios = [], [], []
        for r in range(args.rounds):
            pair = [run(name, args.steps, 1), run(name, args.steps, 2)] if r % 2 == 0 else \
                list(reversed([run(name, args.steps, 2), run(name, args.steps, 1)]))
            one.append(pair[0]), two.append(pair[1])
            ratios.append(pair[1]["tokens_per_second"] / pair[0]["tokens_per_second"])
            print(f"{name} round {r + 1}: 1 proc {pair[0]['tokens_per_second']:,.0f} tok/s, 2 proc "
                  f"{pair[1]['tokens_per_second']:,.0f} tok/s", flush=True)
        med = statistics.median
        lines.append(f"| {name} | {med(x['tokens_per_second'] for x in one):,.0f} | "
                     f"{med(x['tokens_per_second'] for x in two):,.0f} | {med(ratios):.2f} | "
                     f"{1e3 * med(x['allreduce_seconds_per_step'] for x in two):.2f} ms | {one[0]['parameters']:,} |")
        costs.append((name, med(x["step_seconds"] for x in one), one[0]["parameters"]))
    lines += ["", "## Beyond one host: a cost model", "",
              "Per step with the global batch fixed: `compute / K + 2 (K-1)/K * gradient bytes / bandwidth + "
              f"2 (K-1) * {LATENCY * 1e6:g} us` (a ring all-reduce of float32 gradients; the latency per message is "
              "an assumption), compute = the measured one-process step time above. Speed-up over one host:", ""]
    for name, step_seconds, params in costs:
        size, rows = cost_table(step_seconds, params)
        lines.append(f"**{name}**: {step_seconds * 1e3:.0f} ms per step on one host, {size / 1e6:.1f} MB of "
                     "gradient per step.")
        lines.append("")
        lines.append("| network | " + " | ".join(f"K={K}" for K in rows[0][1]) + " | best K |")
        lines.append("| --- | " + " | ".join("---:" for _ in rows[0][1]) + " | ---: |")
        for gbit, speedups, best in rows:
            lines.append(f"| {gbit} Gbit/s | " + " | ".join(f"{v:.1f}" for v in speedups.values()) + f" | {best} |")
        lines.append("")
        per_stream = step_seconds / 32  # compute per stream of the global batch
        for gbit in (10, 100):
            need = {K: K * (2 * (K - 1) / K * size / (gbit * 1e9 / 8) + 2 * (K - 1) * LATENCY) / per_stream
                    for K in (8, 64)}
            lines.append(f"- at {gbit} Gbit/s, K hosts stay above 50% efficiency (compute / K >= all-reduce) while the "
                         "global batch holds at least " + ", ".join(f"{need[K]:,.0f} streams at K={K}" for K in need))
        lines.append("")
    lines += ["The all-reduce here runs after the whole backward pass. Overlapping it with the backward "
              "(sending layer l's gradient while layer l-1's is computed) hides at most the backward's share "
              "of the step; bucketing matters where the latency term dominates (many small tensors), which one "
              "flat buffer per step already avoids.", ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
