"""Time unrolled's recurrent layers against torch.nn.LSTM / GRU / RNN in one process.

The two are interleaved (A B A B ...) over several rounds; the report gives median times, the
median of the per-round ratios (unrolled / torch) and each run as a share of this machine's
float32 GEMM rate, measured in the same process. Results go to ``bench/results/`` as JSON and
a Markdown table.

    python bench/bench_rnn.py                       # every cell, shape and mode
    python bench/bench_rnn.py --cells lstm --modes train --shapes 2
    python bench/bench_rnn.py --loaded --name loaded   # each shape quiet, then beside a busy core
    python bench/bench_rnn.py --cells lstm --stacked --name stacked   # 2 layers; both directions
    python bench/bench_rnn.py --memory --name memory   # peak resident memory, each in its own process
    python bench/bench_rnn.py --modes infer --dtype float64 --name float64   # both libraries in float64

``--loaded``: each shape is measured on the quiet machine, then again while a background process
keeps one core busy (``busy_core``: it spins for at most ``--load-seconds`` and ends by itself,
and is stopped as soon as the shape is done), unrolled and torch interleaved both times.
``--stacked``: the shapes of layers real models stack, a 2-layer LSTM and a bidirectional one.
``--memory``: each run (one training step or one inference) in a fresh process of its own that
imports only its library; the peak resident memory the call added to what the process held
before it (``ru_maxrss``, the layer and its input built), unrolled against torch.
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
STACKED = [((32, 100, 128, 256), {"num_layers": 2}), ((32, 100, 128, 128), {"bidirectional": True})]
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


def make_pair(cell, mode, B, T, D, H, dtype="float32", **layer):
    ours = LAYERS[cell](D, H, seed=0, dtype=dtype, **layer)
    theirs = THEIRS[cell](D, H, dtype=getattr(torch, dtype), **layer)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, D)).astype(dtype)
    dy = rng.standard_normal((T, B, H * (2 if layer.get("bidirectional") else 1))).astype(dtype)
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


def busy_core(seconds: float) -> subprocess.Popen:
    """A process that keeps one core busy for at most ``seconds``, then ends by itself."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
    return subprocess.Popen([sys.executable, "-c", code])


def measure_loaded(pair, rounds, load_seconds):
    """``measure`` beside ``busy_core``: the load starts first and stops once the shape is done."""
    load = busy_core(load_seconds)
    try:
        time.sleep(0.5)  # the spinner is running, and our thread policy has seen it
        return measure(*pair, rounds)
    finally:
        load.kill()
        load.wait()


MEMORY_CHILD = """
import json, sys
import numpy as np
lib, cell, mode, B, T, D, H, layer = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:8]), json.loads(sys.argv[8])
rng = np.random.default_rng(1)
x = rng.standard_normal((T, B, D)).astype(np.float32)
dy = rng.standard_normal((T, B, H * (2 if layer.get("bidirectional") else 1))).astype(np.float32)
if lib == "unrolled":
    from unrolled.nn.recurrent import LAYERS
    m = LAYERS[cell](D, H, seed=0, **layer)
    def step(x, dy):
        if mode == "infer":
            m.eval().forward(x)
        else:
            m.forward(x)
            m.backward(dy)
    step(x[:2, :2], dy[:2, :2])  # the kernels compiled (or read from the cache) before measuring
    run = lambda: step(x, dy)
else:
    import torch
    m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](D, H, **layer)
    xt, dyt = torch.tensor(x), torch.tensor(dy)
    def run():
        if mode == "infer":
            with torch.inference_mode():
                m.eval()(xt)
        else:
            xt.requires_grad_(True)
            y, _ = m(xt)
            y.backward(dyt)
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key))
setup_peak = status("VmHWM:")  # imports, the layer and its input, the compile
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the high-water mark of resident memory starts again from what is resident now
before = status("VmRSS:")
run()
peak = status("VmHWM:")
print(json.dumps({"before_kib": before, "process_peak_kib": max(setup_peak, peak), "added_kib": peak - before}))
"""


def memory_kib(lib, cell, mode, shape, layer) -> dict:
    """Peak resident memory of one call in a fresh process (``MEMORY_CHILD``)."""
    r = subprocess.run([sys.executable, "-c", MEMORY_CHILD, lib, cell, mode, *map(str, shape), json.dumps(layer)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


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


def _shape(r) -> str:
    layer = r.get("layer") or {}
    extra = ", 2 layers" if layer.get("num_layers") == 2 else ", bidirectional" if layer.get("bidirectional") else ""
    return ", ".join(map(str, r["shape"])) + extra


def to_markdown(report) -> str:
    m = report["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
             f"NumPy {m['numpy']}; float32 GEMM rate {report['gemm_gflops']:.0f} GFLOP/s; "
             f"first call (import + LSTM step): {report['first_call_s']['cold']:.1f} s with an empty compile "
             f"cache, {report['first_call_s']['cached']:.1f} s cached. {report['rounds']} interleaved rounds"
             f"{'' if report.get('dtype', 'float32') == 'float32' else '; both in ' + report['dtype']}.", ""]
    runs = report["runs"]
    if runs and "unrolled" in runs[0]:
        lines += ["Peak resident memory, each run in a fresh process: the process's peak (imports, layer, input, "
                  "the call) and what the call itself added to the resident memory before it (MiB).", "",
                  "| cell | mode | B, T, D, H | unrolled peak | torch peak | unrolled call adds | torch call adds |",
                  "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
        for r in runs:
            u, t = r["unrolled"], r["torch"]
            lines.append(f"| {r['cell']} | {r['mode']} | {_shape(r)} | {u['process_peak_kib'] / 1024:.0f} | "
                         f"{t['process_peak_kib'] / 1024:.0f} | {u['added_kib'] / 1024:.1f} | {t['added_kib'] / 1024:.1f} |")
        return "\n".join(lines) + "\n"
    loaded = runs and "loaded_ours_ms" in runs[0]
    lines += ["| cell | mode | B, T, D, H | unrolled ms | torch ms | ratio (median) | unrolled % GEMM | torch % GEMM |"
              + (" loaded: unrolled ms | loaded: torch ms | loaded ratio | unrolled loaded / quiet |" if loaded else ""),
              "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: | ---: | ---: |" if loaded else "")]
    for r in runs:
        line = (f"| {r['cell']} | {r['mode']} | {_shape(r)} | {r['ours_ms']:.2f} | "
                f"{r['torch_ms']:.2f} | **{r['ratio']:.2f}** | {r['ours_gemm_share']:.0%} | "
                f"{r['torch_gemm_share']:.0%} |")
        if loaded:
            line += (f" {r['loaded_ours_ms']:.2f} | {r['loaded_torch_ms']:.2f} | **{r['loaded_ratio']:.2f}** | "
                     f"{r['loaded_ours_ms'] / r['ours_ms']:.2f} |")
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", default="lstm,gru,rnn", help="comma-separated: lstm, gru, rnn")
    p.add_argument("--modes", default="train,infer", help="comma-separated: train, infer")
    p.add_argument("--shapes", default="all", help="'all' or comma-separated indices into SHAPES")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds per run (default 5)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results"), help="output folder")
    p.add_argument("--name", default="latest", help="file stem for the JSON and Markdown outputs")
    p.add_argument("--stacked", action="store_true", help="the stacked shapes: a 2-layer LSTM, a bidirectional one")
    p.add_argument("--loaded", action="store_true", help="also measure each shape beside a busy core")
    p.add_argument("--load-seconds", type=float, default=120, help="the most a busy core spins (default 120)")
    p.add_argument("--memory", action="store_true", help="peak resident memory instead of time")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"), help="both libraries' dtype")
    args = p.parse_args(argv)
    if args.stacked:
        shapes = STACKED
    else:
        shapes = [(s, {}) for s in (SHAPES if args.shapes == "all" else [SHAPES[int(i)] for i in args.shapes.split(",")])]
    rate = gemm_gflops()
    report = {"machine": machine(), "gemm_gflops": rate, "rounds": args.rounds, "dtype": args.dtype,
              "first_call_s": first_call_seconds(), "runs": []}
    for cell in args.cells.split(","):
        for shape, layer in shapes:
            for mode in args.modes.split(","):
                run = {"cell": cell, "mode": mode, "shape": list(shape), "layer": layer}
                if args.memory:
                    for lib in ("unrolled", "torch"):
                        run[lib] = memory_kib(lib, cell, mode, shape, layer)
                    report["runs"].append(run)
                    print(cell, mode, shape, layer, run["unrolled"], run["torch"], flush=True)
                    continue
                ours_s, theirs_s, ratio = measure(*make_pair(cell, mode, *shape, dtype=args.dtype, **layer), args.rounds)
                f = flops(cell, mode, *shape) * (2 if layer else 1)  # two layers, or two directions
                run.update({"ours_ms": ours_s * 1e3, "torch_ms": theirs_s * 1e3, "ratio": ratio,
                            "ours_gemm_share": f / ours_s / 1e9 / rate, "torch_gemm_share": f / theirs_s / 1e9 / rate})
                if args.loaded:
                    lo, lt, lr = measure_loaded(make_pair(cell, mode, *shape, dtype=args.dtype, **layer), args.rounds,
                                                args.load_seconds)
                    run.update({"loaded_ours_ms": lo * 1e3, "loaded_torch_ms": lt * 1e3, "loaded_ratio": lr})
                report["runs"].append(run)
                print(f"{cell:4} {mode:5} {str(shape):22} {layer or ''} ours {run['ours_ms']:9.2f} ms  torch "
                      f"{run['torch_ms']:9.2f} ms  ratio {ratio:5.2f}  ours {run['ours_gemm_share']:4.0%} of GEMM"
                      + (f"  loaded: ours {run['loaded_ours_ms']:9.2f} torch {run['loaded_torch_ms']:9.2f} ratio "
                         f"{run['loaded_ratio']:5.2f}" if args.loaded else ""), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    (out / f"{args.name}.md").write_text(to_markdown(report))
    print(to_markdown(report))


if __name__ == "__main__":
    main()
