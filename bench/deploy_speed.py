"""Inference where models are deployed: unrolled against ONNX Runtime and torch, in one process.

    python bench/deploy_speed.py                  # both parts, about 3 minutes
    python bench/deploy_speed.py --part stream --rounds 9

1. ``stream``: the per-step latency of a 2 x 128 LSTM at B = 1, one observation at a time,
   ``--steps`` steps per run: unrolled's ``Stepper`` (one compiled call per step) and its
   ``layer.forward`` on a sequence of one step, torch's ``nn.LSTM`` forward per step (inference
   mode, the state passed back in), and ONNX Runtime running the exported graph per step with
   its state as inputs and outputs.
2. ``shapes``: ``eval()`` inference of the benchmark shapes of ``bench/bench_rnn.py`` (float32
   LSTM, GRU, RNN) against ONNX Runtime running the graph ``unrolled.onnx.export`` writes (2
   intra-op threads, sequential execution, its threads not spinning between runs) and torch; and ONNX Runtime's share of this
   machine's float32 GEMM rate, to say where it stands.

Every run is interleaved with the others (A B C A B C ...), ``--rounds`` rounds, medians of
the per-round ratios. Writes bench/results/deploy_speed.md. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_rnn import SHAPES, THEIRS, flops, gemm_gflops  # noqa: E402

from unrolled.nn.recurrent import LAYERS  # noqa: E402
from unrolled.nn.stream import Stepper  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def ort_session(model, path, state=False):
    import onnxruntime as ort

    import unrolled.onnx

    unrolled.onnx.export(model, path, state=state)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # its pool's threads would otherwise spin after each run, on the cores the next run of
    # unrolled or torch in this process needs (all three are timed in one process, interleaved)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def interleaved(runs: dict, rounds: int, min_time: float = 0.1) -> dict:
    """{name: [seconds per call, one per round]}: every run in turn, ``rounds`` times. Each
    measurement repeats its call until it lasts ``min_time`` (the count fixed at warm-up), so
    that what one library leaves running after its call (torch's OpenMP threads spin for a while)
    costs the next one a small share, not the whole of a sub-millisecond call."""
    reps = {}
    for name, fn in runs.items():
        fn()
        t0 = time.perf_counter()
        fn()
        reps[name] = max(1, int(min_time / max(time.perf_counter() - t0, 1e-6)))
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            for _ in range(reps[name]):
                fn()
            times[name].append((time.perf_counter() - t0) / reps[name])
    return times


def stream_part(rounds: int, steps: int, tmp: Path) -> list[str]:
    H, L = 128, 2
    ours = LAYERS["lstm"](H, H, num_layers=L, seed=0).eval()
    theirs = torch.nn.LSTM(H, H, num_layers=L).eval()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((steps, 1, H)).astype(np.float32)
    xt = torch.tensor(x)
    stepper = Stepper(ours)

    def unrolled_stepper():
        stepper.reset()
        for t in range(steps):
            stepper(x[t])

    def unrolled_forward():
        state = None
        for t in range(steps):
            _, state = ours.forward(x[t:t + 1], state)

    def torch_forward():
        state = None
        with torch.inference_mode():
            for t in range(steps):
                _, state = theirs(xt[t:t + 1], state)

    runs = {"unrolled Stepper": unrolled_stepper, "unrolled layer.forward (T = 1)": unrolled_forward,
            "torch nn.LSTM forward": torch_forward}
    try:
        sess = ort_session(ours, tmp / "stream.onnx", state=True)
        zeros = np.zeros((L, 1, H), np.float32)

        def onnx_runtime():
            h, c = zeros, zeros
            for t in range(steps):
                _, h, c = sess.run(None, {"x": x[t:t + 1], "h0": h, "c0": c})

        runs["ONNX Runtime (exported graph)"] = onnx_runtime
    except ImportError as e:
        print(f"no ONNX Runtime: {e}", file=sys.stderr)
    times = interleaved(runs, rounds)
    base = times["torch nn.LSTM forward"]
    lines = [f"## Streaming: a 2 x {H} LSTM at B = 1, one observation at a time", "",
             f"{steps} steps per run, {rounds} interleaved rounds; microseconds per step (median) and the median "
             "per-round ratio to torch's forward per step.", "",
             "| what | us per step | / torch |", "| --- | ---: | ---: |"]
    for name, ts in times.items():
        ratio = statistics.median(a / b for a, b in zip(ts, base))
        lines.append(f"| {name} | {1e6 * statistics.median(ts) / steps:.1f} | **{ratio:.3g}** |")
    return lines + [""]


def shapes_part(rounds: int, tmp: Path, rate: float) -> list[str]:
    lines = ["## Inference on the benchmark shapes (float32, eval)", "",
             f"{rounds} interleaved rounds, each call repeated for 0.1 s; milliseconds (median), the median per-round ratios, and ONNX Runtime's "
             f"share of this machine's float32 GEMM rate ({rate:.0f} GFLOP/s).", "",
             "| cell | B, T, D, H | unrolled ms | ONNX Runtime ms | torch ms | unrolled / ORT | unrolled / torch | "
             "ORT % GEMM |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for cell in ("lstm", "gru", "rnn"):
        for B, T, D, H in SHAPES:
            ours = LAYERS[cell](D, H, seed=0).eval()
            theirs = THEIRS[cell](D, H).eval()
            theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
            x = np.random.default_rng(1).standard_normal((T, B, D)).astype(np.float32)
            xt = torch.tensor(x)
            sess = ort_session(ours, tmp / f"{cell}.onnx")

            def run_torch():
                with torch.inference_mode():
                    theirs(xt)

            times = interleaved({"ours": lambda: ours.forward(x), "ort": lambda: sess.run(None, {"x": x}),
                                 "torch": run_torch}, rounds)
            med = statistics.median
            r_ort = med(a / b for a, b in zip(times["ours"], times["ort"]))
            r_torch = med(a / b for a, b in zip(times["ours"], times["torch"]))
            share = flops(cell, "infer", B, T, D, H) / med(times["ort"]) / 1e9 / rate
            lines.append(f"| {cell} | {B}, {T}, {D}, {H} | {1e3 * med(times['ours']):.2f} | "
                         f"{1e3 * med(times['ort']):.2f} | {1e3 * med(times['torch']):.2f} | **{r_ort:.2f}** | "
                         f"{r_torch:.2f} | {share:.0%} |")
            print(lines[-1], flush=True)
    return lines + [""]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("stream", "shapes", "all"), default="all")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "deploy_speed.md"))
    args = p.parse_args(argv)
    rate = gemm_gflops()
    lines = ["# Inference against ONNX Runtime and torch", "",
             f"`python bench/deploy_speed.py --part {args.part} --rounds {args.rounds}` on {platform.node()}, "
             f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
             f"{time.strftime('%Y-%m-%d')}.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("stream", "all"):
            lines += stream_part(args.rounds, args.steps, Path(tmp))
            print("\n".join(lines), flush=True)
        if args.part in ("shapes", "all"):
            lines += shapes_part(args.rounds, Path(tmp), rate)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
