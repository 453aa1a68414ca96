"""The sentence classifier's training and inference throughput (sentences/s): unrolled against the
same network in torch.nn, on the bundled movie snippets, in one process.

The network is ``SequenceClassifier``'s (``unrolled.tasks.classify``) with its defaults: Embedding
(E=64) -> dropout 0.3 -> bidirectional LSTM or GRU (H=64) over each sentence's true length ->
pooling ``last`` -> dropout -> Linear; cross-entropy, Adam (lr 2e-3), gradient norm clipped to 5,
batches of 32 sentences cut to 100 tokens. The torch copy reads the same padded batches through
``pack_padded_sequence(enforce_sorted=False)``; its pooling ``last`` is the packed layer's ``h_n``
(the forward direction's state at each sentence's end, the reverse direction's at t = 0). It starts
from unrolled's initial weights (the state-dict keys are torch.nn's). The sentences are tokenized by
a ``SequenceClassifier`` fitted for one step (its own tokenizer, ``_encode`` and ``_batch``).

* training: ``--batches`` batches of 32 (forward, loss, backward, clip, Adam step), the same
  batches in the same order for both;
* inference: eval mode, batches of 256 sentences (``EVAL_BATCH``), ``--infer-batches`` of them.

Each round times unrolled then torch on the same work, each after a short pause; the report gives
the median sentences/s of each and the median of the per-round ratios unrolled / torch (above 1:
unrolled is faster). torch runs on 2 threads (``torch.set_num_threads(2)``, ``--torch-threads``:
the machine this was written on has two cores; there, one thread trains as fast and infers
slower). Run it on a quiet machine: with another process on a core, torch's two threads wait on
each other and its throughput falls a hundredfold. Before timing, both models train
``--check-steps`` steps from the same weights without dropout (the masks would differ) and the
largest difference of their losses is printed: the same computation. Results go to
``bench/results/classify_speed.md``.

    python bench/classify_speed.py                          # lstm and gru
    python bench/classify_speed.py --cell gru --rounds 5 --batches 20
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from unrolled.nn.losses import CrossEntropyLoss
from unrolled.tasks.classify.corpora import movie_snippets, stratified_holdout
from unrolled.tasks.classify.model import SequenceClassifier
from unrolled.tasks.classify.sequences import EVAL_BATCH
from unrolled.train import optim

TORCH_CELLS = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
PAUSE = 0.2  # seconds before each timing (OpenBLAS's workers spin about 0.1 s after a call)


class TorchClassifier(torch.nn.Module):
    """``ClassifierNetwork`` (bidirectional, pooling ``last``) in torch.nn, same parameter names."""

    def __init__(self, cell, vocab_size, E, H, C, dropout):
        super().__init__()
        self.encoder = torch.nn.Embedding(vocab_size, E)
        self.drop_in = torch.nn.Dropout(dropout)
        self.rnn = TORCH_CELLS[cell](E, H, bidirectional=True)
        self.drop_out = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(2 * H, C)

    def forward(self, ids, lengths):
        """ids (T, B), lengths (B,) -> logits (B, C)."""
        e = self.drop_in(self.encoder(ids))  # (T, B, E)
        packed = torch.nn.utils.rnn.pack_padded_sequence(e, lengths, enforce_sorted=False)
        _, state = self.rnn(packed)
        h_n = state[0] if isinstance(state, tuple) else state  # (2, B, H), in the batch's order
        return self.head(self.drop_out(torch.cat([h_n[0], h_n[1]], dim=1)))  # (B, C)


class Data:
    """The movie snippets as the classifier reads them: ids, labels, and the training order."""

    def __init__(self, cell, seed=0):
        frame = movie_snippets()
        texts, labels = frame["text"].tolist(), frame["label"].tolist()
        # a one-step fit leaves the classifier's own tokenizer, fitted on its training split
        self.clf = SequenceClassifier(cell=cell, max_steps=1, progress=False).fit(texts, labels)
        self.seqs = self.clf._encode(texts)
        self.y = np.unique(np.asarray(labels), return_inverse=True)[1]
        train, _ = stratified_holdout(self.y, self.clf.validation_fraction, self.clf.seed)
        self.order = train[np.random.default_rng(seed).permutation(len(train))]  # one seeded pass

    def batches(self, size, n, start=0):
        """``n`` batches of ``size`` sentences from the training order: (ids, lengths, labels), each
        as NumPy and as torch arrays."""
        out = []
        for k in range(start, start + n):
            idx = self.order[k * size:(k + 1) * size]
            ids, lengths = self.clf._batch([self.seqs[i] for i in idx])
            y = self.y[idx]
            out.append(((ids, lengths, y), (torch.from_numpy(ids), torch.from_numpy(lengths), torch.from_numpy(y))))
        return out

    def models(self, dropout=None):
        """(unrolled network, torch copy with its weights), fresh, with the classifier's dropout or
        ``dropout``."""
        clf = SequenceClassifier(**{**self.clf.get_params(), **({} if dropout is None else {"dropout": dropout})})
        clf.tokenizer_, clf.classes_ = self.clf.tokenizer_, self.clf.classes_
        ours = clf._build_network()  # the weights fit starts from
        theirs = TorchClassifier(clf.cell, clf.tokenizer_.vocab_size, clf.embedding_dim, clf.hidden_size,
                                 len(clf.classes_), clf.dropout)
        theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
        return ours, theirs


class Trainers:
    """One training step each: forward, cross-entropy, backward, clip, Adam step."""

    def __init__(self, ours, theirs, lr, clip):
        self.ours, self.theirs, self.clip = ours, theirs, clip
        self.opt = optim.Adam(ours, lr=lr)
        self.loss = CrossEntropyLoss()
        self.topt = torch.optim.Adam(theirs.parameters(), lr=lr)
        self.tloss = torch.nn.CrossEntropyLoss()

    def step_ours(self, batch):
        ids, lengths, y = batch
        self.ours.train()
        self.ours.zero_grad()
        value = self.loss.forward(self.ours.forward(ids, lengths), y)
        self.ours.backward(self.loss.backward())
        optim.clip_grad_norm_(self.ours, self.clip)
        self.opt.step()
        return value

    def step_theirs(self, batch):
        ids, lengths, y = batch
        self.theirs.train()
        self.topt.zero_grad()
        loss = self.tloss(self.theirs(ids, lengths), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.theirs.parameters(), self.clip)
        self.topt.step()
        return float(loss.detach())


def _timed(fn) -> float:
    """Seconds of ``fn()``, after a pause: a BLAS or OpenMP worker that one side left spinning
    would otherwise slow down the other."""
    time.sleep(PAUSE)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def loss_check(data, steps, batch_size):
    """Largest |loss_unrolled - loss_torch| over ``steps`` training steps from the same weights,
    without dropout."""
    ours, theirs = data.models(dropout=0.0)
    tr = Trainers(ours, theirs, data.clf.lr, data.clf.clip_norm)
    diffs = [abs(tr.step_ours(b) - tr.step_theirs(t)) for b, t in data.batches(batch_size, steps)]
    return max(diffs)


def measure(cell, data, rounds, n_batches, n_infer):
    clf = data.clf
    ours, theirs = data.models()
    tr = Trainers(ours, theirs, clf.lr, clf.clip_norm)
    train = data.batches(clf.batch_size, n_batches)
    infer = [(a[:2], b[:2]) for a, b in data.batches(EVAL_BATCH, n_infer)]

    def train_ours():
        for b, _ in train:
            tr.step_ours(b)

    def train_theirs():
        for _, b in train:
            tr.step_theirs(b)

    def infer_ours():
        ours.eval()
        for (ids, lengths), _ in infer:
            ours.forward(ids, lengths)

    def infer_theirs():
        theirs.eval()
        with torch.inference_mode():
            for _, (ids, lengths) in infer:
                theirs(ids, lengths)

    n_train = sum(len(b[0][2]) for b in train)
    n_inf = sum(len(b[0][1]) for b in infer)
    runs = {}
    for mode, fo, ft, n in (("train", train_ours, train_theirs, n_train), ("infer", infer_ours, infer_theirs, n_inf)):
        fo(), ft()  # warm up: compile cache, buffers
        o, t = [], []
        for _ in range(rounds):
            o.append(n / _timed(fo))
            t.append(n / _timed(ft))
        o, t = np.array(o), np.array(t)
        runs[mode] = {"ours": float(np.median(o)), "torch": float(np.median(t)), "ratio": float(np.median(o / t)),
                      "sentences": n}
        print(f"{cell:4} {mode:5} unrolled {runs[mode]['ours']:8.0f} sent/s  torch {runs[mode]['torch']:8.0f} sent/s"
              f"  ratio {runs[mode]['ratio']:.2f}  (rounds: {' '.join(f'{r:.2f}' for r in o / t)})", flush=True)
    return runs


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores; torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"NumPy {np.__version__}, Python {platform.python_version()}")


def lengths_line(data, batch_size, n_batches) -> str:
    lens = np.array([len(s) for s in data.seqs])
    T = [int(b[0][1].max()) for b in data.batches(batch_size, n_batches)]
    return (f"{len(lens):,} sentences, tokens per sentence median {int(np.median(lens))}, 90th percentile "
            f"{int(np.percentile(lens, 90))}, max {lens.max()}; the timed training batches are padded to T = "
            f"{min(T)}..{max(T)} (median {int(np.median(T))}).")


def to_markdown(args, report, data) -> str:
    lines = ["# Sentence classifier: unrolled vs torch.nn (packed sequences), sentences / second", "",
             f"    {args.command}", "",
             f"Machine: {machine()}. {lengths_line(data, data.clf.batch_size, args.batches)}", "",
             f"Network: SequenceClassifier's defaults (E=64, H=64, bidirectional, pooling last, dropout 0.3, "
             f"Adam lr 2e-3, clip 5, batch 32, max_length 100). Training: {args.batches} batches of 32 per round "
             f"(forward, backward, clip, Adam step); inference: {args.infer_batches} batches of {EVAL_BATCH}, eval "
             f"mode. {args.rounds} interleaved rounds; medians; ratio = median of the per-round ratios, "
             f"unrolled / torch throughput (above 1: unrolled is faster).", "",
             "| cell | mode | unrolled sentences/s | torch sentences/s | ratio | loss max diff |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for cell, (runs, diff) in report.items():
        for mode, r in runs.items():
            lines.append(f"| {cell} | {mode} | {r['ours']:,.0f} | {r['torch']:,.0f} | **{r['ratio']:.2f}** | "
                         f"{diff:.1e} |")
    lines += ["", f"loss max diff: the largest |loss difference| over {args.check_steps} training steps of both "
              "models from the same weights, without dropout (float32).", "",
              f"Load average (1 min) at the start and the end of the run: {args.load[0]:.2f}, {args.load[1]:.2f}. "
              "torch's throughput collapses when another process holds a core (its two OpenMP threads wait "
              "on each other): compare runs on a quiet machine only."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cell", default="lstm,gru", help="comma-separated: lstm, gru (default both)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    p.add_argument("--batches", type=int, default=20, help="training batches of 32 per round (default 20)")
    p.add_argument("--infer-batches", type=int, default=4,
                   help=f"inference batches of {EVAL_BATCH} per round (default 4)")
    p.add_argument("--check-steps", type=int, default=10, help="training steps of the loss check (default 10)")
    p.add_argument("--torch-threads", type=int, default=2,
                   help="torch.set_num_threads (default 2: this machine's cores)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "classify_speed.md"),
                   help="the Markdown report ('' for none)")
    args = p.parse_args(argv)
    args.command = " ".join(["python bench/classify_speed.py", *(sys.argv[1:] if argv is None else argv)])
    torch.set_num_threads(args.torch_threads)
    load = os.getloadavg()[0]
    report, data = {}, None
    for cell in args.cell.split(","):
        data = Data(cell)
        diff = loss_check(data, args.check_steps, data.clf.batch_size)
        print(f"{cell:4} loss check: max |loss difference| over {args.check_steps} steps {diff:.2e}", flush=True)
        report[cell] = (measure(cell, data, args.rounds, args.batches, args.infer_batches), diff)
    args.load = (load, os.getloadavg()[0])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(to_markdown(args, report, data))
        print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
