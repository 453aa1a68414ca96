"""Where a training step of Zaremba et al.'s small PTB model goes, in unrolled and in PyTorch.

The model and the steps are ``bench/ptb_torch.py``'s (2 x 200 LSTM, V = 10,000, T = B = 20, SGD
with clipping). unrolled's step is cut at the engine's own events: the forward with the fused
output layer (``forward_loss``), the backward (``backward_loss``), the clip with the optimizer's
step and the engine's finiteness check (one pass where the clip is folded into the step), and
``zero_grad`` timed apart. PyTorch's is read from ``torch.profiler``: its operators' own time grouped as the output layer's products (``mm``,
``addmm``), the LSTM (oneDNN's layers), the log-softmax, and the rest (the optimizer, clipping,
zeroing, the embedding). Milliseconds per step, medians for unrolled, means for torch. Last, the
output layer's three products on their own beside a square sgemm of the same flops: the floor
under either library's step (``output_gemms``). Run it on a quiet machine::

    python bench/ptb_profile.py               # 100 steps each, about a minute: results/ptb_profile.md
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import time

import numpy as np
import torch

from lm_torch_reference import TorchLM, detach
from unrolled.tasks.lm.batching import batchify, segments
from unrolled.tasks.lm.model import LanguageModel
from unrolled.tasks.lm.presets import PRESETS
from unrolled.tasks.lm.ptb import penn_treebank

TORCH_GROUPS = {"output layer products (mm, addmm)": ("aten::mm", "aten::addmm"),
                "LSTM (oneDNN layers, forward and backward)": ("aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward"),
                "log-softmax and its backward": ("aten::_log_softmax", "aten::_log_softmax_backward_data")}


class Phases:
    """An engine hook timing unrolled's step by its events, and its network's two halves."""

    def __init__(self, lm):
        self.lm, self.times, self.marks = lm, {}, {}
        self.in_step = False  # forward_loss also scores the validation split: not timed

    def _add(self, name, seconds):
        self.times.setdefault(name, []).append(seconds)

    def before_step(self, trainer):
        net = self.lm.net_
        if not hasattr(net, "_timed"):
            for name in ("forward_loss", "backward_loss"):
                inner = getattr(net, name)

                def timed(*a, _inner=inner, _name=name, **k):
                    t0 = time.perf_counter()
                    out = _inner(*a, **k)
                    if self.in_step:
                        self._add(_name, time.perf_counter() - t0)
                    return out

                setattr(net, name, timed)
            net._timed = True
        t0 = time.perf_counter()
        net.zero_grad()  # the engine has zeroed them already: this times one more, on its own
        self._add("zero_grad (timed apart)", time.perf_counter() - t0)
        self.marks["start"] = time.perf_counter()
        self.in_step = True

    def after_backward(self, trainer):
        self.marks["backward"] = time.perf_counter()

    # no after_clip here: a hook there reads the gradients clipped, and the engine would then
    # clip them apart instead of folding the clip into the step (``unrolled.train.trainer``)
    def after_step(self, trainer):
        now = time.perf_counter()
        self.in_step = False
        self._add("clip + optimizer step + finiteness check", now - self.marks["backward"])
        self._add("whole step (events)", now - self.marks["start"])


def unrolled_phases(steps: int, corpus, lm_params) -> dict:
    params = {**lm_params, "max_steps": steps, "eval_every": 10 ** 9, "progress": False}
    lm = LanguageModel(**params)
    probe = Phases(lm)
    lm.fit(corpus, hooks=[probe])
    warm = min(10, steps - 1)
    return {k: 1e3 * statistics.median(v[warm:]) for k, v in probe.times.items()}


def torch_phases(steps: int, corpus, lm_params) -> dict:
    lm = LanguageModel(**{**lm_params, "max_steps": 1, "eval_every": 10 ** 9, "progress": False}).fit(corpus)
    tok = lm.tokenizer_
    model = TorchLM("lstm", tok.vocab_size, lm.embedding_dim, lm.hidden_size, lm.num_layers)
    model.load_state_dict({k: torch.tensor(v) for k, v in lm.net_.state_dict().items()})
    opt = torch.optim.SGD(model.parameters(), lr=lm.lr)
    segs = list(segments(batchify(tok.encode(corpus.train), lm.batch_size), lm.seq_len))
    state = None

    def step(k):
        nonlocal state
        x, y = (torch.from_numpy(a) for a in segs[k % len(segs)])
        logits, st = model(x, state)
        state = detach(st)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), lm.clip_norm)
        opt.step()

    for k in range(10):
        step(k)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for k in range(steps):
            step(10 + k)
        whole = (time.perf_counter() - t0) / steps
    own = {e.key: e.self_cpu_time_total / 1e3 / steps for e in prof.key_averages()}  # ms per step
    out = {group: sum(own.get(op, 0.0) for op in ops) for group, ops in TORCH_GROUPS.items()}
    out["the rest (optimizer, clipping, zeroing, embedding, ...)"] = sum(own.values()) - sum(out.values())
    out["whole step (wall, under the profiler)"] = 1e3 * whole
    return out


def output_gemms(N: int = 400, H: int = 200, V: int = 10_000, rounds: int = 9) -> dict:
    """The output layer's three products of one step on their own, as the fused layer takes them
    (z = h W^T, dh = dz W, dW = dz^T h; each of our two threads on half of the N = T B rows, BLAS
    held to one thread), and a square sgemm of the same flops split the same way: ms and GFLOP/s,
    medians of interleaved rounds. The floor under any step of this model on this machine."""
    from unrolled.fast import threads
    from unrolled.fast.kernels import _blas

    r = np.random.default_rng(0)
    h = r.standard_normal((N, H)).astype(np.float32)
    W = r.standard_normal((V, H)).astype(np.float32)
    bufs = [dict(z=np.empty((N // 2, V), np.float32), dh=np.empty((N // 2, H), np.float32),
                 dW=np.empty((V, H), np.float32)) for _ in range(2)]

    def half(lo, hi):
        b, hc = bufs[lo > 0], h[lo:hi]
        np.matmul(hc, W.T, out=b["z"])
        np.matmul(b["z"], W, out=b["dh"])
        np.matmul(b["z"].T, hc, out=b["dW"])

    n = round((3 * N * H * V) ** (1 / 3))  # a square product of (about) the same flops
    a = r.standard_normal((n, n)).astype(np.float32)
    c = np.empty_like(a)
    jobs = [("output layer's three products (our two threads, BLAS one each)", lambda: threads.over_rows(half, N),
             _blas.one_thread, 6 * N * H * V),
            (f"square sgemm {n} x {n} x {n} (the same threads)", lambda: threads.matmul(a, a, out=c),
             _blas.one_thread, 2 * n ** 3)]  # not BLAS's own threads: their workers spin after a call and
    # would share a core with our threads in the next round (``unrolled.fast.threads``)
    times = [[] for _ in jobs]
    for _ in range(rounds):
        for (name, job, context, flops), t in zip(jobs, times):
            with context():
                job()
                t0 = time.perf_counter()
                for _ in range(5):
                    job()
                t.append((time.perf_counter() - t0) / 5)
    return {name: (1e3 * statistics.median(t), flops / statistics.median(t) / 1e9)
            for (name, _, _, flops), t in zip(jobs, times)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--preset", choices=("zaremba-small", "zaremba-medium"), default="zaremba-small",
                   help="the small model (default) or the medium one, its dropout off in both as torch's twin has none")
    p.add_argument("--out", type=pathlib.Path, default=None,
                   help="the Markdown written (default results/ptb_profile.md, or ptb_profile_medium.md)")
    args = p.parse_args(argv)
    small = args.preset == "zaremba-small"
    out = args.out or pathlib.Path(__file__).parent / "results" / ("ptb_profile.md" if small else "ptb_profile_medium.md")
    lm_params = {**PRESETS[args.preset].params, "dropout": 0.0}
    corpus = penn_treebank()
    ours = unrolled_phases(args.steps, corpus, lm_params)
    N, H = lm_params["seq_len"] * lm_params["batch_size"], lm_params["hidden_size"]
    gemms = output_gemms(N, H)  # before torch: its OpenMP threads spin for a while after it
    theirs = torch_phases(args.steps, corpus, lm_params)
    lines = [f"# A training step of the {args.preset.split('-')[1]} PTB model, by phase", "",
             f"`python bench/ptb_profile.py --steps {args.steps}" + ("" if small else f" --preset {args.preset}") +
             f"`, {time.strftime('%Y-%m-%d')}; torch {torch.__version__}, {torch.get_num_threads()} threads"
             + ("." if small else "; dropout off in both."), "",
             f"unrolled, ms per step (median of {args.steps - 10} steps, the engine's events):", "",
             "| phase | ms |", "| --- | ---: |"]
    lines += [f"| {k} | {v:.2f} |" for k, v in ours.items()]
    lines += ["", f"PyTorch, ms per step (operators' own time, mean of {args.steps} steps):", "",
              "| phase | ms |", "| --- | ---: |"]
    lines += [f"| {k} | {v:.2f} |" for k, v in theirs.items()]
    lines += ["", "The output layer's products alone (ms per step and GFLOP/s, median of 9 interleaved rounds):", "",
              "| products | ms | GFLOP/s |", "| --- | ---: | ---: |"]
    lines += [f"| {k} | {ms:.2f} | {rate:.0f} |" for k, (ms, rate) in gemms.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    out.write_text(text)


if __name__ == "__main__":
    main()
