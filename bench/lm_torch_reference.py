"""The same character language model trained by unrolled and by PyTorch, side by side.

Both start from the same weights (unrolled's ``RecurrentLM`` initial state dict copied into
``torch.nn.Embedding / LSTM / Linear``), read the same segments of the bundled Shakespeare in the
same order (B streams, T steps, the hidden state carried across segments and detached), take
the same Adam steps with the same gradient-norm clipping, and are evaluated on the same
validation streams every ``--eval-every`` steps. Dropout is off: the two libraries would draw
different masks, and the curves could not be compared step by step.

Reports training tokens per second of both (validation excluded) and the validation loss
(nats per character) after the same number of steps, printed as a table and written to
``bench/results/lm_reference.{json,md}``::

    python bench/lm_torch_reference.py                       # ~1-2 minutes on 2 cores
    python bench/lm_torch_reference.py --steps 2000 --eval-every 200 --hidden-size 512
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import platform
import time

import numpy as np
import torch

from unrolled.nn.recurrent import LAYERS
from unrolled.tasks.lm.baseline import make_tokenizer
from unrolled.tasks.lm.batching import batchify, segments
from unrolled.tasks.lm.corpus import Corpus, shakespeare
from unrolled.tasks.lm.model import EVAL_CHUNK, LanguageModel
from unrolled.tasks.lm.network import RecurrentLM

RESULTS = pathlib.Path(__file__).parent / "results"


class TorchLM(torch.nn.Module):
    """``RecurrentLM`` in torch.nn, with the same parameter names (encoder, rnn, decoder)."""

    def __init__(self, cell, V, E, H, layers):
        super().__init__()
        rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        self.encoder, self.rnn, self.decoder = torch.nn.Embedding(V, E), rnn(E, H, layers), torch.nn.Linear(H, V)

    def forward(self, ids, state=None):
        y, state = self.rnn(self.encoder(ids), state)  # (T, B, H)
        return self.decoder(y), state  # (T, B, V)


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def torch_validation_loss(model, val_ids, B) -> float:
    """Mean nats per token over ``B`` validation streams, read as ``LanguageModel`` reads them."""
    nats, count, state = 0.0, 0, None
    with torch.no_grad():
        for x, y in segments(batchify(val_ids, B), EVAL_CHUNK):
            logits, state = model(torch.from_numpy(x), state)
            logp = torch.log_softmax(logits.double(), -1)
            nats -= float(logp.gather(-1, torch.from_numpy(y)[..., None]).sum())
            count += y.size
    return nats / count


def train_torch(args, corpus, init_state, V) -> dict:
    tok = make_tokenizer("char").fit(corpus.train)
    segs = list(segments(batchify(tok.encode(corpus.train), args.batch_size), args.seq_len))
    val_ids = tok.encode(corpus.validation)
    model = TorchLM(args.cell, V, args.embedding_dim, args.hidden_size, args.num_layers)
    model.load_state_dict({k: torch.tensor(v) for k, v in init_state.items()})
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    curve, seconds, state, window = [], 0.0, None, []
    for step in range(args.steps):
        k = step % len(segs)
        x, y = (torch.from_numpy(a) for a in segs[k])
        t0 = time.perf_counter()
        if k == 0:
            state = None  # the streams start afresh, as in LanguageModel.fit
        model.train()
        logits, state = model(x, state)
        state = detach(state)  # carried as a value: truncated BPTT
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_norm)
        opt.step()
        seconds += time.perf_counter() - t0
        window.append(loss.item())
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            model.eval()  # train_loss: the mean over the steps since the last evaluation, as the engine's
            curve.append({"step": step + 1, "train_loss": float(np.mean(window)),
                          "val_loss": torch_validation_loss(model, val_ids, args.eval_batch_size)})
            window = []
    return {"curve": curve, "tokens_per_second": args.steps * args.seq_len * args.batch_size / seconds}


def train_unrolled(args, corpus) -> dict:
    lm = LanguageModel("char", args.cell, embedding_dim=args.embedding_dim, hidden_size=args.hidden_size,
                       num_layers=args.num_layers, dropout=0.0, seq_len=args.seq_len, batch_size=args.batch_size,
                       lr=args.lr, clip_norm=args.clip_norm, max_steps=args.steps, eval_every=args.eval_every,
                       patience=None, eval_batch_size=args.eval_batch_size, seed=args.seed, progress=False)
    lm.fit(corpus)
    steps = np.minimum(np.arange(1, len(lm.history_) + 1) * args.eval_every, args.steps)
    curve = [{"step": int(s), "train_loss": r["train_loss"], "val_loss": r["val_loss"]}
             for s, r in zip(steps, lm.history_)]
    return {"curve": curve, "tokens_per_second": lm.train_tokens_per_second_}


def markdown(result) -> str:
    a = result["args"]
    lines = [f"# Character LM: unrolled vs PyTorch ({a['cell'].upper()}, {a['layers']} x {a['hidden']}, "
             f"E={a['embedding_dim']}, T={a['seq_len']}, B={a['batch_size']}, Adam lr={a['lr']}, clip {a['clip']})", "",
             f"{result['machine']}; torch {result['torch_version']}, {result['torch_threads']} threads; "
             f"validation: the first {a['val_chars']:,} characters of the validation split, "
             f"{a['eval_batch_size']} streams.", "",
             "| | unrolled | PyTorch |", "| --- | --- | --- |",
             f"| training tokens / second | {result['unrolled']['tokens_per_second']:,.0f} | "
             f"{result['torch']['tokens_per_second']:,.0f} |", "",
             "| step | unrolled val loss | PyTorch val loss | difference |", "| --- | --- | --- | --- |"]
    for u, t in zip(result["unrolled"]["curve"], result["torch"]["curve"]):
        lines.append(f"| {u['step']} | {u['val_loss']:.4f} | {t['val_loss']:.4f} | {u['val_loss'] - t['val_loss']:+.4f} |")
    lines.append("")
    lines.append("(validation loss in nats per character; bits per character = loss / ln 2)")
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cell", choices=tuple(LAYERS), default="lstm", help="recurrent cell (default lstm)")
    p.add_argument("--steps", type=int, default=150, help="training steps (segments) for each library (default 150)")
    p.add_argument("--eval-every", type=int, default=25, help="validate every this many steps (default 25)")
    p.add_argument("--hidden-size", type=int, default=128, help="hidden units per layer (default 128)")
    p.add_argument("--num-layers", type=int, default=2, help="stacked layers (default 2)")
    p.add_argument("--embedding-dim", type=int, default=64, help="embedding size (default 64)")
    p.add_argument("--seq-len", type=int, default=100, help="T, steps per segment (default 100)")
    p.add_argument("--batch-size", type=int, default=32, help="B, parallel streams (default 32)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (default 2e-3)")
    p.add_argument("--clip-norm", type=float, default=5.0, help="gradient-norm bound (default 5)")
    p.add_argument("--val-chars", type=int, default=20_000,
                   help="validation characters evaluated (default 20,000; the split has 464,784)")
    p.add_argument("--eval-batch-size", type=int, default=16, help="validation streams (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shared initial weights (default 0)")
    p.add_argument("--out", type=pathlib.Path, default=RESULTS, help="where lm_reference.{json,md} go")
    args = p.parse_args(argv)

    full = shakespeare()
    corpus = Corpus(full.train, full.validation[:args.val_chars], full.test, source="shakespeare")
    V = make_tokenizer("char").fit(corpus.train).vocab_size
    init = RecurrentLM(args.cell, V, args.embedding_dim, args.hidden_size, args.num_layers, 0.0, seed=args.seed).state_dict()
    t0 = time.perf_counter()
    ours = train_unrolled(args, corpus)  # builds the same RecurrentLM from the same seed
    theirs = train_torch(args, corpus, init, V)
    result = {"args": {k: (str(v) if isinstance(v, pathlib.Path) else v) for k, v in vars(args).items()},
              "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
              "torch_version": torch.__version__, "torch_threads": torch.get_num_threads(), "vocab_size": V,
              "unrolled": ours, "torch": theirs, "seconds": time.perf_counter() - t0}
    md = markdown(result)
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lm_reference.json").write_text(json.dumps(result, indent=2, allow_nan=True))
    (args.out / "lm_reference.md").write_text(md)
    worst = max(abs(u["val_loss"] - t["val_loss"]) for u, t in zip(ours["curve"], theirs["curve"]))
    print(f"largest validation-loss difference {worst:.4g} nats; ratio of throughput "
          f"{ours['tokens_per_second'] / theirs['tokens_per_second']:.2f} (unrolled / PyTorch); "
          f"{result['seconds']:.0f} s in all")
    return result


if __name__ == "__main__":
    main()
