"""RMTPP side by side: unrolled's ``PointProcess(model="rmtpp")`` against EasyTPP's ``RMTPP``
(``easy-tpp==0.3.0``, the reference TPP toolkit, Xue et al., ICLR 2024) on the same split of the
same event data: test NLL per event and seconds per training epoch, measured in one process.

Both train on the training part of ``run._parts`` (60 / 20 / 20 by sequence, ``--split-seed``) with
the same hidden size, Adam, learning rate, batch size (sequences per step) and number of epochs
(unrolled's ``PointProcess`` defaults: H=32, lr 1e-2, batches of 32; ``--epochs``), each epoch a
pass over the training sequences in a fresh seeded order followed by a pass over the validation
part; each is scored on the test part at its epoch of best validation loss (EasyTPP's runner keeps
the epoch of best validation ``loglike``; unrolled restores its best epoch). EasyTPP is driven
through its own ``ModelWrapper.run_batch`` (its training step: ``loglike_loss``, ``(loss /
num_events).backward()``, Adam step; its validation pass), without its YAML runner: the batches
are built here with the tensors and padding its ``EventTokenizer`` makes (``time_seqs``,
``time_delta_seqs``, ``type_seqs`` padded with the pad id, ``seq_non_pad_mask``). Unmarked data
only: EasyTPP gets one event type (``num_event_types=1``, pad id 1), whose mark NLL is 0.

What each NLL counts. unrolled's ``time_nll`` of a window ``[0, t_end)`` with events
``t_1 < ... < t_N`` (``tau_i = t_i - t_{i-1}``, ``t_0 = 0`` the window's start) is

    -( sum_{i=1..N} [log lambda(tau_i) - Lambda(tau_i)]  -  Lambda(t_end - t_N) ) / N

summed over the test windows and divided by their number of events: every event's density,
the first one's wait from the window's start included, and the silence after the last, with the
compensator ``Lambda`` in closed form. EasyTPP 0.3.0's ``RMTPP.loglike_loss`` on a row
``[t_0, t_1, ..., t_N]`` returns, with ``num_events = N``,

    -( sum_{i=1..N} log(lambda(tau_i) + eps)  -  sum_{i=1..N} tau_i * mean_{g=0..G-1} (lambda(g tau_i / (G-1)) + eps) )

where ``lambda(tau) = exp(min(v.h_{i-1} + b + w tau, log 1e5))`` (one event type; ``h_{i-1}`` the
RNN's state after row ``i-1``), ``eps = 1.19e-7`` (float32's), ``G = 20``
(``loss_integral_num_sample_per_step``) and, since ``use_mc_samples`` defaults to True, the
integral is the plain mean of the 20 equally spaced points, both ends included (deterministic:
not random Monte Carlo, and not the trapezoid rule it uses when ``use_mc_samples=False``). So
it differs from unrolled's number in three ways:

1. row 0 is only read, never scored. In EasyTPP's own data row 0 is the sequence's first event,
   so an N-event sequence scores N - 1 events and never the wait for the first. Here each row is
   built as ``[0, t_1, ..., t_N]``: row 0 is the window's start (time 0, inter-event time 0, its
   mark the pad id, which ``nn.Embedding(padding_idx=...)`` maps to zeros), so EasyTPP scores the
   same N events as unrolled, each given the same history;
2. nothing after ``t_N`` is scored: no ``Lambda(t_end - t_N)``;
3. the compensator is a 20-point numerical average, not the exact integral.

The script therefore scores EasyTPP's trained model both ways: ``EasyTPP's own loss / event``
(its ``loglike_loss`` summed over the test batches over its ``num_events``: point 2 and 3 as it
does them) and, from the same network's outputs (``a_i = v.h_{i-1} + b``, ``w``), the exact
quantity above: ``log(lambda(tau_i) + eps)`` at each event and ``Lambda(tau) + eps tau`` in closed
form (the clamp at 1e5 included, piecewise) for every interval and for the silence. The column
``time NLL / event`` is that exact window NLL for both models -- the same quantity, comparable
number for number -- and ``events only`` the same without the silence term (for EasyTPP, what
its own loss approximates). Before the timed rounds the closed form is checked against
EasyTPP's own loss recomputed with 1,001-point trapezoids (``--no-check`` skips it). The time unit is the
data's (hours for ``commits``); EasyTPP's optional ``rescale_time`` is off, as by default.

The two networks differ (this compares the implementations as shipped, not one network twice):
EasyTPP's input at row j is ``Embedding(mark_j) + Linear(1, H)(t_j)``, the absolute time since
the window's start, into ``nn.RNN`` (tanh, 1 layer); unrolled's is the standardised
``log tau_j`` into ``--cell`` (default ``rnn``, tanh, to match). Both time heads are
``exp(v.h + b + w tau)``; EasyTPP draws ``w`` (and an extra bias) from ``xavier_normal_`` on a
(1, 1) tensor, i.e. N(0, 1), unrolled starts ``w = -0.1``. unrolled clips the gradient norm at 5
(its default); EasyTPP does not clip. Both draw a fresh seeded order of the training sequences
each epoch (EasyTPP's ``TrainerConfig.shuffle`` defaults to False; shuffled here, as unrolled).

Timing: ``--rounds`` interleaved rounds (the order alternates each round), each training both from
fresh weights (seed = the round) for ``--epochs`` epochs; seconds per epoch = the whole fit's wall
time / epochs (training pass, validation pass and batch building; EasyTPP's batches are padded in
NumPy per step as its collator does). One warm-up epoch each first (numba's and torch's first
calls). Medians over rounds; ratio = median of the per-round ratios EasyTPP seconds / unrolled
seconds (above 1: unrolled is faster). torch runs on ``--torch-threads`` threads, 1 by default: at
H=32 and 32 sequences a batch, unrolled's recurrent layer is under the work that it splits over
two threads (``unrolled.fast.threads.MIN_WORK``), so both run on one core; and with two torch
threads on a two-core machine that another process keeps busy, torch's OpenMP threads wait on
each other (on the machine this was written on, an EasyTPP training epoch on commits took 0.03 s
on one thread and 3-4 s on two, load average 2.8). Results go to
``bench/results/tpp_easytpp.md``.

    pip install easy-tpp==0.3.0       # keeps the installed torch
    python bench/tpp_easytpp.py                          # commits, 100 epochs, 5 rounds
    python bench/tpp_easytpp.py --data hawkes1 --n-sequences 300 --epochs 20
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from unrolled.tasks.tpp import synthetic
from unrolled.tasks.tpp.dists import _expm1_over_x
from unrolled.tasks.tpp.model import PointProcess
from unrolled.tasks.tpp.run import _parts, load_events

EASYTPP_VERSION = "0.3.0"  # the version whose conventions the docstring describes
PAUSE = 0.2  # seconds before each timing (BLAS / OpenMP workers spin a while after a call)
CLAMP = math.log(1e5)  # EasyTPP's RMTPP clamps the log-intensity here
PAD = 1  # EasyTPP's pad id for one event type (its types are 0..K-1, the pad K)
EVAL_ROWS = 256  # sequences per scoring batch

try:  # EasyTPP is optional: without it the script says why and stops
    import torch
    from easy_tpp.config_factory.model_config import ModelConfig, TrainerConfig
    from easy_tpp.model import RMTPP as EasyRMTPP
    from easy_tpp.model_wrapper import ModelWrapper
    from easy_tpp.utils import RunnerPhase, set_seed

    EASYTPP_MISSING = None
except Exception as exc:  # ImportError, or an incompatible torch / dependency
    EASYTPP_MISSING = f"{type(exc).__name__}: {exc}"


def _seqs(part):
    """A part of ``_parts`` as a list of EventSequence (EventData or a list)."""
    return list(getattr(part, "sequences", part))


# -- EasyTPP's side ---------------------------------------------------------------------------------
def easytpp_batch(seqs):
    """The tensors EasyTPP's tokenizer gives a model, for rows ``[0, t_1, ..., t_N]`` (row 0 the
    window's start, mark = pad), right-padded with the pad id like ``EventTokenizer._pad``."""
    L, B = max(len(q) for q in seqs) + 1, len(seqs)
    t = np.full((B, L), PAD, np.float32)
    dt = np.full((B, L), PAD, np.float32)
    k = np.full((B, L), PAD, np.int64)
    mask = np.zeros((B, L), bool)
    for b, q in enumerate(seqs):
        n = len(q)
        t[b, 0] = dt[b, 0] = 0.0
        t[b, 1:n + 1] = q.times
        dt[b, 1:n + 1] = q.taus
        k[b, 1:n + 1] = 0  # the one event type
        mask[b, :n + 1] = True
    return {"time_seqs": torch.from_numpy(t), "time_delta_seqs": torch.from_numpy(dt),
            "type_seqs": torch.from_numpy(k), "seq_non_pad_mask": torch.from_numpy(mask), "attention_mask": None}


def easytpp_model(hidden_size, lr, seed):
    """A fresh EasyTPP RMTPP (one event type, no thinning sampler) and its ModelWrapper (Adam)."""
    set_seed(seed)
    mc = ModelConfig(model_id="RMTPP", hidden_size=hidden_size, num_event_types=1, num_event_types_pad=2,
                     event_pad_index=PAD, training=True, gpu=-1)  # thinning None: validation = loss only
    model = EasyRMTPP(mc)
    wrapper = ModelWrapper(model, SimpleNamespace(model_id="RMTPP"), mc,
                           TrainerConfig(gpu=-1, optimizer="adam", learning_rate=lr, use_tfb=False))
    return model, wrapper


def easytpp_loss(wrapper, seqs, phase):
    """One pass as EasyTPP's ``run_one_epoch``: sum of batch losses / sum of num_events."""
    total, n = 0.0, 0
    for k in range(0, len(seqs), EVAL_ROWS):
        loss, n_ev, *_ = wrapper.run_batch(easytpp_batch(seqs[k:k + EVAL_ROWS]), phase)
        total, n = total + loss, n + n_ev
    return total / n


def fit_easytpp(train, val, *, hidden_size, lr, batch_size, epochs, seed):
    """Train for ``epochs``; keep the epoch with the best validation loglike (its runner's rule)."""
    model, wrapper = easytpp_model(hidden_size, lr, seed)
    rng = np.random.default_rng(seed)
    best, best_state, best_epoch = math.inf, None, 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(train))
        for k in range(0, len(train), batch_size):
            wrapper.run_batch(easytpp_batch([train[i] for i in order[k:k + batch_size]]), RunnerPhase.TRAIN)
        val_loss = easytpp_loss(wrapper, val, RunnerPhase.VALIDATE)
        if val_loss < best:
            best, best_epoch = val_loss, epoch
            best_state = {name: v.detach().clone() for name, v in model.state_dict().items()}
    if best_state is not None:  # None: no finite validation loss; the last epoch's weights stay
        model.load_state_dict(best_state)
    model.eval()
    return model, wrapper, best_epoch


def rmtpp_compensator(a, w, tau):
    """int_0^tau exp(min(a + w s, CLAMP)) ds, exactly: the unclamped stretch [lo, hi] in closed
    form, e^CLAMP over the rest. a, tau (M,) float64, w a number."""
    a, tau = np.asarray(a, np.float64), np.asarray(tau, np.float64)
    if w != 0:
        cross = (CLAMP - a) / w  # where a + w s meets the clamp
        lo = np.zeros_like(tau) if w > 0 else np.clip(cross, 0.0, tau)
        hi = np.clip(cross, 0.0, tau) if w > 0 else tau
    else:
        lo, hi = np.zeros_like(tau), np.where(a <= CLAMP, tau, 0.0)
    length = hi - lo
    f, _ = _expm1_over_x(w * length)
    return np.exp(np.minimum(a + w * lo, CLAMP)) * length * f + math.exp(CLAMP) * (tau - length)


@torch.no_grad() if EASYTPP_MISSING is None else (lambda f: f)
def easytpp_scores(model, seqs):
    """EasyTPP's trained model on ``seqs``: its own loss per event, and the exact NLL per event with
    and without the silence (see the docstring), from its network's ``a_i`` and ``w``."""
    model.eval()
    eps, w = float(model.eps), float(model.w_t[0, 0])
    events, silences, own, own_n, n_events = 0.0, 0.0, 0.0, 0, 0
    for k in range(0, len(seqs), EVAL_ROWS):
        chunk = seqs[k:k + EVAL_ROWS]
        batch = easytpp_batch(chunk)
        loss, n_ev = model.loglike_loss(**batch)
        own, own_n = own + float(loss), own_n + n_ev
        _, h = model.forward((batch["time_seqs"], batch["time_delta_seqs"], batch["type_seqs"], None, None))
        a = (model.hidden_to_intensity_logits(h)[..., 0] + model.b_t[0, 0]).double().numpy()  # (B, L)
        for b, q in enumerate(chunk):
            n = len(q)
            tau = q.taus.astype(np.float32).astype(np.float64)  # what the network was given
            log_lam = np.logaddexp(np.minimum(a[b, :n] + w * tau, CLAMP), math.log(eps))
            events += float(np.sum(log_lam - rmtpp_compensator(a[b, :n], w, tau) - eps * tau))
            s = np.array([q.t_end - q.times[-1]])
            silences += float(-(rmtpp_compensator(a[b, n:n + 1], w, s) + eps * s)[0])
            n_events += n
    if own_n != n_events:  # EasyTPP counts the event terms that are not exactly 0
        print(f"note: EasyTPP's num_events {own_n} != {n_events} events scored", file=sys.stderr)
    return {"window": -(events + silences) / n_events, "events": -events / n_events, "own": own / own_n,
            "own_events": own_n, "events_counted": n_events}


def check_closed_form(model, seqs, points=1001):
    """|EasyTPP's own loss per event, recomputed with ``points``-point trapezoids, minus the closed
    form's events-only NLL|: the closed form reads EasyTPP's intensity right."""
    G, mc = model.loss_integral_num_sample_per_step, model.use_mc_samples
    model.loss_integral_num_sample_per_step, model.use_mc_samples = points, False
    try:
        with torch.no_grad():
            total, n = 0.0, 0
            for k in range(0, len(seqs), 8):  # small chunks: (B, L, points) intensities
                loss, n_ev = model.loglike_loss(**easytpp_batch(seqs[k:k + 8]))
                total, n = total + float(loss), n + n_ev
    finally:
        model.loss_integral_num_sample_per_step, model.use_mc_samples = G, mc
    return abs(total / n - easytpp_scores(model, seqs)["events"])


# -- unrolled's side --------------------------------------------------------------------------------
def ours_model(args, seed, epochs=None):
    return PointProcess(model="rmtpp", cell=args.cell, hidden_size=args.hidden_size, lr=args.lr,
                        batch_size=args.batch_size, epochs=epochs or args.epochs, patience=None, seed=seed,
                        progress=False)


def ours_scores(est, seqs):
    iv, dist, _ = est.intervals(seqs)
    tau = np.where(iv.tau > 0, iv.tau, 1.0)
    events = -float(dist.log_pdf(tau)[iv.observed].sum()) / iv.n_events
    return {"window": est.nll(seqs)["time_nll"], "events": events, "own": None}


# -- the bench --------------------------------------------------------------------------------------
def _timed(fn):
    time.sleep(PAUSE)
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_round(args, parts, seed, ours_first):
    train, val, test = (parts[k] for k in ("train", "validation", "test"))
    jobs = {
        "unrolled": lambda: ours_model(args, seed).fit(train, validation=val),
        "easytpp": lambda: fit_easytpp(train, val, hidden_size=args.hidden_size, lr=args.lr,
                                       batch_size=args.batch_size, epochs=args.epochs, seed=seed),
    }
    out = {}
    for name in (("unrolled", "easytpp") if ours_first else ("easytpp", "unrolled")):
        fitted, seconds = _timed(jobs[name])
        if name == "unrolled":
            scores, best = ours_scores(fitted, test), fitted.best_epoch_
        else:
            scores, best = easytpp_scores(fitted[0], test), fitted[2]
        out[name] = {**scores, "seconds_per_epoch": seconds / args.epochs, "best_epoch": best}
        if name == "easytpp":
            out["_easytpp_model"] = fitted[0]
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from unrolled.fast import threads

    n = torch.get_num_threads()
    return (f"{cpu}, {os.cpu_count()} cores; unrolled up to {threads.THREADS} threads; torch {torch.__version__} "
            f"({n} thread{'s' if n != 1 else ''}), easy-tpp {importlib.metadata.version('easy-tpp')}, "
            f"NumPy {np.__version__}, Python {platform.python_version()}")


def fmt(x, spec=".4f"):
    return "-" if x is None else format(x, spec)


def to_markdown(args, events, parts, rounds, summary, check) -> str:
    n = {k: len(v) for k, v in parts.items()}
    n_ev = {k: sum(len(q) for q in v) for k, v in parts.items()}
    lines = ["# RMTPP: unrolled vs EasyTPP 0.3.0, test NLL and seconds per epoch", "", f"    {args.command}", "",
             f"Machine: {machine()}.", "",
             f"Data: {events.name} ({events.time_unit}), train / validation / test {n['train']} / "
             f"{n['validation']} / {n['test']} sequences, {n_ev['train']:,} / {n_ev['validation']:,} / "
             f"{n_ev['test']:,} events (split seed {args.split_seed}).", "",
             f"Both: H={args.hidden_size}, Adam lr {args.lr:g}, batches of {args.batch_size} sequences, "
             f"{args.epochs} epochs (training + validation pass each), scored on the test part at the epoch of "
             f"best validation loss; unrolled cell {args.cell}, gradient norm clipped to 5; EasyTPP nn.RNN (tanh), "
             f"no clipping. {args.rounds} interleaved rounds (seed = round, order alternating); medians; "
             "ratio = median of per-round EasyTPP / unrolled seconds per epoch (above 1: unrolled is faster).", "",
             "| model | time NLL / event | events only | EasyTPP's own loss / event | s / epoch | ratio |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, label in (("unrolled", "unrolled RMTPP"), ("easytpp", "EasyTPP RMTPP")):
        s = summary[name]
        ratio = "1.00" if name == "unrolled" else f"**{summary['ratio']:.2f}**"
        lines.append(f"| {label} | **{fmt(s['window'])}** | {fmt(s['events'])} | {fmt(s['own'])} | "
                     f"{s['seconds_per_epoch']:.3f} | {ratio} |")
    lines += ["", "time NLL / event: nats per test event, every event's -log p(tau) (the first one's wait from the "
              "window's start included) and -log S of each window's silence after its last event, exact, for "
              "both models: the same quantity. events only: without the silence. EasyTPP's own loss / event: "
              "its `loglike_loss` on the same rows (the window's start as row 0; no silence term; compensator "
              "= mean of 20 equally spaced intensities times tau). See the script's docstring."]
    if check is not None:
        lines += ["", f"Check: EasyTPP's own loss recomputed with 1,001-point trapezoids differs from the closed "
                      f"form's events-only NLL by {check:.1e} nats/event (round 1's model, test part)."]
    lines += ["", "Per round:", "", "| round | model | time NLL / event | events only | own loss | best epoch | "
              "s / epoch |", "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r, res in enumerate(rounds, 1):
        for name in ("unrolled", "easytpp"):
            x = res[name]
            lines.append(f"| {r} | {name} | {fmt(x['window'])} | {fmt(x['events'])} | {fmt(x['own'])} | "
                         f"{x['best_epoch']} | {x['seconds_per_epoch']:.3f} |")
    lines += ["", f"Load average (1 min) at the start and the end of the run: {args.load[0]:.2f}, {args.load[1]:.2f}. "
              "Timings from a shared or busy machine are not comparable across runs."]
    return "\n".join(lines) + "\n"


def why_not_markdown(args, reason) -> str:
    return "\n".join([
        "# RMTPP: unrolled vs EasyTPP 0.3.0", "", f"    {args.command}", "",
        f"Not run: EasyTPP could not be imported here ({reason}).", "",
        f"Install it with `pip install easy-tpp=={EASYTPP_VERSION}` (it needs PyYAML, numpy, pandas, torch, "
        "tensorboard, packaging, datasets, omegaconf; pip keeps an installed torch that satisfies it)."]) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    unmarked = ("commits",) + synthetic.PROCESSES
    p.add_argument("--data", default="commits", choices=unmarked, help="unmarked event data (default commits)")
    p.add_argument("--n-sequences", type=int, default=300, help="windows of a synthetic process (default 300)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the 60/20/20 split and the simulation")
    p.add_argument("--epochs", type=int, default=100, help="epochs for both (default 100)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--cell", default="rnn", help="unrolled's cell (default rnn: EasyTPP's nn.RNN)")
    p.add_argument("--hidden-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--torch-threads", type=int, default=1,
                   help="torch.set_num_threads (default 1: see the docstring)")
    p.add_argument("--no-check", dest="check", action="store_false",
                   help="skip the check of the closed form against EasyTPP's own loss with fine trapezoids")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "tpp_easytpp.md"),
                   help="the Markdown report ('' for none)")
    args = p.parse_args(argv)
    args.command = " ".join(["python bench/tpp_easytpp.py", *(sys.argv[1:] if argv is None else argv)])

    def write(text):
        print(text)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(text)

    if EASYTPP_MISSING is not None:
        write(why_not_markdown(args, EASYTPP_MISSING))
        return 1
    version = importlib.metadata.version("easy-tpp")
    if version != EASYTPP_VERSION:
        print(f"warning: easy-tpp {version} is installed; the NLL conventions described here are "
              f"{EASYTPP_VERSION}'s", file=sys.stderr)
    torch.set_num_threads(args.torch_threads)
    load = os.getloadavg()[0]
    events = load_events(args.data, n_sequences=args.n_sequences, seed=args.split_seed)
    if events.n_marks:
        raise SystemExit(f"{args.data} is marked; this bench compares unmarked RMTPP only")
    parts = {k: _seqs(v) for k, v in _parts(events, args.split_seed).items()}
    print(f"data: {events.name}, train / validation / test {len(parts['train'])} / {len(parts['validation'])} / "
          f"{len(parts['test'])} sequences; torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"easy-tpp {version}", flush=True)

    # warm-up: one epoch each on a few sequences (numba's cache, torch's first calls)
    few = parts["train"][:2 * args.batch_size]
    ours_model(args, 0, epochs=1).fit(few, validation=parts["validation"][:8])
    fit_easytpp(few, parts["validation"][:8], hidden_size=args.hidden_size, lr=args.lr, batch_size=args.batch_size,
                epochs=1, seed=0)

    rounds, check = [], None
    for r in range(args.rounds):
        res = run_round(args, parts, seed=r, ours_first=(r % 2 == 0))
        model = res.pop("_easytpp_model")
        if r == 0 and args.check:
            check = check_closed_form(model, parts["test"])
            print(f"check: closed form vs EasyTPP's loss with 1,001-point trapezoids, |diff| {check:.1e} nats/event",
                  flush=True)
        rounds.append(res)
        print(f"round {r + 1}: " + "; ".join(
            f"{k} NLL {v['window']:.4f} (events only {v['events']:.4f}"
            + (f", own loss {v['own']:.4f}" if v["own"] is not None else "")
            + f"), best epoch {v['best_epoch']}, {v['seconds_per_epoch']:.3f} s/epoch" for k, v in res.items()),
            flush=True)

    def med(name, key):
        vals = [x[name][key] for x in rounds]
        return None if vals[0] is None else float(np.median(vals))

    summary = {name: {k: med(name, k) for k in ("window", "events", "own", "seconds_per_epoch")}
               for name in ("unrolled", "easytpp")}
    summary["ratio"] = float(np.median([x["easytpp"]["seconds_per_epoch"] / x["unrolled"]["seconds_per_epoch"]
                                        for x in rounds]))
    args.load = (load, os.getloadavg()[0])
    write(to_markdown(args, events, parts, rounds, summary, check))
    return 0


if __name__ == "__main__":
    sys.exit(main())
