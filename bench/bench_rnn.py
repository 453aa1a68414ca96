"""Time unrolled's recurrent layers against torch.nn.LSTM / GRU / RNN in one process.

The two are interleaved (A B A B ...) over several rounds; the report gives median times, the
median of the per-round ratios (unrolled / torch) and each run as a share of this machine's
float32 GEMM rate, measured in the same process. Results go to ``bench/results/`` as JSON and
a Markdown table.

    python bench/bench_rnn.py                       # every cell, shape and mode
    python bench/bench_rnn.py --cells lstm --modes train --shapes 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from unrolled.nn.recurrent import LAYERS, cell_named

SHAPES = [(32, 100, 64, 128), (64, 100, 256, 256), (128, 35, 650, 650), (1, 1000, 8, 32), (256, 50, 32, 64)]
THEIRS = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}


def gemm_gflops(n=1024, reps=20) -> float:
    """float32 GEMM rate (GFLOP/s) of NumPy's BLAS, the best of ``reps`` products."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def flops(cell, mode, B, T, D, H) -> float:
    """Matrix-product FLOPs of one call: the forward's GEMMs; training adds dx, dh and dW (x3)."""
    fwd = 2.0 * T * B * cell_named(cell).G * H * (D + H)
    return fwd if mode == "infer" else 3 * fwd


def make_pair(cell, mode, B, T, D, H):
    ours = LAYERS[cell](D, H, seed=0)
    theirs = THEIRS[cell](D, H)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, D)).astype(np.float32)
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    xt, dyt = torch.tensor(x), torch.tensor(dy)
    if mode == "infer":
        ours.eval()
        theirs.eval()

        def run_ours():
            ours.forward(x)

        def run_theirs():
            with torch.inference_mode():
                theirs(xt)
    else:
        xt.requires_grad_(True)

        def run_ours():
            ours.zero_grad()
            ours.forward(x)
            ours.backward(dy)

        def run_theirs():
            theirs.zero_grad()
            y, _ = theirs(xt)
            y.backward(dyt)
    return run_ours, run_theirs


def measure(run_ours, run_theirs, rounds, min_time=0.15):
    """Interleaved rounds; each measurement repeats the call until it lasts ``min_time``."""
    run_ours(), run_theirs()  # warm up (compiles, allocates)
    reps = max(1, int(np.ceil(min_time / max(_timed(run_theirs), 1e-6))))
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(min(_timed(run_ours) for _ in range(reps)))
        theirs.append(min(_timed(run_theirs) for _ in range(reps)))
    ours, theirs = np.array(ours), np.array(theirs)
    return float(np.median(ours)), float(np.median(theirs)), float(np.median(ours / theirs))


def first_call_seconds() -> dict:
    """Import + first LSTM training step in a fresh process: with an empty compile cache, then
    with the cache the first run left behind."""
    code = ("import time; t=time.perf_counter(); import numpy as np, unrolled; "
            "m=unrolled.LSTM(4, 8); y,_=m.forward(np.ones((3,2,4),np.float32)); m.backward(y); "
            "m.eval(); m.forward(np.ones((3,2,4),np.float32)); print(time.perf_counter()-t)")
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold", "cached"):
            r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            out[label] = float(r.stdout.strip().splitlines()[-1])
    return out


def machine() -> dict:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "numpy": np.__version__, "torch": torch.__version__, "python": platform.python_version()}


def to_markdown(report) -> str:
    m = report["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
             f"NumPy {m['numpy']}; float32 GEMM rate {report['gemm_gflops']:.0f} GFLOP/s; "
             f"first call (import + LSTM step): {report['first_call_s']['cold']:.1f} s with an empty compile "
             f"cache, {report['first_call_s']['cached']:.1f} s cached. {report['rounds']} interleaved rounds.",
             "",
             "| cell | mode | B, T, D, H | unrolled ms | torch ms | ratio (median) | unrolled % GEMM | torch % GEMM |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["runs"]:
        lines.append(f"| {r['cell']} | {r['mode']} | {', '.join(map(str, r['shape']))} | {r['ours_ms']:.2f} | "
                     f"{r['torch_ms']:.2f} | **{r['ratio']:.2f}** | {r['ours_gemm_share']:.0%} | "
                     f"{r['torch_gemm_share']:.0%} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", default="lstm,gru,rnn", help="comma-separated: lstm, gru, rnn")
    p.add_argument("--modes", default="train,infer", help="comma-separated: train, infer")
    p.add_argument("--shapes", default="all", help="'all' or comma-separated indices into SHAPES")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds per run (default 5)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results"), help="output folder")
    p.add_argument("--name", default="latest", help="file stem for the JSON and Markdown outputs")
    args = p.parse_args(argv)
    shapes = SHAPES if args.shapes == "all" else [SHAPES[int(i)] for i in args.shapes.split(",")]
    rate = gemm_gflops()
    report = {"machine": machine(), "gemm_gflops": rate, "rounds": args.rounds,
              "first_call_s": first_call_seconds(), "runs": []}
    for cell in args.cells.split(","):
        for shape in shapes:
            for mode in args.modes.split(","):
                ours_s, theirs_s, ratio = measure(*make_pair(cell, mode, *shape), args.rounds)
                f = flops(cell, mode, *shape)
                run = {"cell": cell, "mode": mode, "shape": list(shape), "ours_ms": ours_s * 1e3,
                       "torch_ms": theirs_s * 1e3, "ratio": ratio,
                       "ours_gemm_share": f / ours_s / 1e9 / rate, "torch_gemm_share": f / theirs_s / 1e9 / rate}
                report["runs"].append(run)
                print(f"{cell:4} {mode:5} {str(shape):22} ours {run['ours_ms']:9.2f} ms  torch "
                      f"{run['torch_ms']:9.2f} ms  ratio {ratio:5.2f}  ours {run['ours_gemm_share']:4.0%} of GEMM",
                      flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    (out / f"{args.name}.md").write_text(to_markdown(report))
    print(to_markdown(report))


if __name__ == "__main__":
    main()
