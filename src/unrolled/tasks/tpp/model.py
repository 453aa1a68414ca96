"""``PointProcess``: a neural temporal point process (Shchur et al. 2021) on the shared engine::

    pp = PointProcess(model="lognormmix", cell="gru").fit(train, validation=val)
    pp.nll(test)                    # nats per event: time and mark parts
    pp.predict_next(history)        # the next event's median and mean time, its mark probabilities
    pp.sample(history, t_end, seed) # a continuation of the history up to t_end
    pp.save("run/model"); unrolled.load("run/model")

``train`` / ``val`` / ``test``: ``EventData`` or lists of ``EventSequence`` (``events.py``).

The loss of a batch is its negative log-likelihood per event: the time part (each event's
``-log p(tau)``, and ``-log S`` of the silence after the last) and the mark part (cross-entropy
of each event's mark), summed over the batch and divided by its number of events. The log
inter-event times are standardised with the training events' mean ``m_`` and spread ``s_`` on the
way in; the log-normal mixture's ``y = (log tau - m) / s`` uses the same two numbers.
"""

from __future__ import annotations

import numpy as np

from unrolled.nn.activations import log_softmax, softmax
from unrolled.tasks.base import TaskEstimator, network_hyperparams, training_hyperparams
from unrolled.tasks.tpp import dists
from unrolled.tasks.tpp.events import EventData, EventSequence, check_sequence, check_time_scale
from unrolled.tasks.tpp.network import MODELS, PointProcessNetwork
from unrolled.train import index_batches
from unrolled.train.world import shard_rows, sum_over
from unrolled.train.hyperparams import Hyper, flag_value, whole

EVAL_BATCH = 256  # sequences per forward when scoring


def as_sequences(data, n_marks=None, what="the data") -> tuple[list[EventSequence], int]:
    """(sequences, n_marks) from ``EventData`` or a list of ``EventSequence``, each checked."""
    if isinstance(data, EventData):
        seqs, marks = data.sequences, data.n_marks
    elif isinstance(data, EventSequence):
        seqs, marks = [data], None
    else:
        seqs, marks = list(data), None
    if not seqs or not all(isinstance(s, EventSequence) for s in seqs):
        raise ValueError(f"{what} must be EventData or a non-empty list of EventSequence "
                         "(unrolled.tasks.tpp.events)")
    if marks is None:
        marks = n_marks if n_marks is not None else (
            0 if seqs[0].marks is None else int(max(s.marks.max() for s in seqs)) + 1)
    for k, s in enumerate(seqs):
        check_sequence(s, marks, f"sequence {k} of {what}")
    return seqs, marks


def network_inputs(seqs, m, s, start_mark, clock=None):
    """time_x (T, B, F), marks (T, B), lengths (B,) = N + 1: step 0 is the window's start (0 and
    the start's mark), step j event j; a sequence may hold no events yet. The time features: the
    standardised log inter-event time and, with ``clock`` (a time scale), ``t_j / clock``."""
    T, B = max(len(q) for q in seqs) + 1, len(seqs)
    time_x = np.zeros((T, B, 1 if clock is None else 2))
    marks = np.full((T, B), start_mark, dtype=np.int64)
    for b, q in enumerate(seqs):
        n = len(q)
        time_x[1:n + 1, b, 0] = (np.log(q.taus) - m) / s
        if clock is not None:
            time_x[1:n + 1, b, 1] = q.times / clock
        if q.marks is not None:
            marks[1:n + 1, b] = q.marks
    return time_x, marks, np.array([len(q) + 1 for q in seqs], dtype=np.int64)


class Intervals:
    """Every interval of a batch of sequences, flattened: the step ``(t, b)`` whose output
    predicts it, its length ``tau``, whether an event ended it (else the window's silence), the
    event's mark (-1 for the silence), the sequence it belongs to and the time left in the window
    when it began (``remaining``: the cap of the predicted mean)."""

    def __init__(self, seqs, m, s, start_mark, clock=None):
        self.time_x, self.marks, self.lengths = network_inputs(seqs, m, s, start_mark, clock)
        t_idx, b_idx, tau, observed, mark, remaining = [], [], [], [], [], []
        for b, q in enumerate(seqs):
            n = len(q)
            taus = q.taus
            silence = q.t_end - q.times[-1]
            steps = n + (silence > 0)  # a window that ends at its last event has no silence to score
            t_idx.append(np.arange(steps))
            b_idx.append(np.full(steps, b))
            tau.append(np.append(taus, silence)[:steps])
            observed.append(np.arange(steps) < n)
            mark.append(np.append(q.marks if q.marks is not None else np.zeros(n, np.int64), -1)[:steps])
            remaining.append(q.t_end - np.append(0.0, q.times)[:steps])
        self.t, self.b = np.concatenate(t_idx), np.concatenate(b_idx)
        self.tau, self.observed = np.concatenate(tau), np.concatenate(observed)
        self.mark, self.remaining = np.concatenate(mark), np.concatenate(remaining)
        self.n_events = int(self.observed.sum())


class PointProcess(TaskEstimator):
    """A recurrent network over the history and, per event, the distribution of the next
    inter-event time (``model``: ``lognormmix`` or ``rmtpp``) and of the next mark."""

    task, noun = "tpp", "point process"
    positional = ("model",)
    network_attr = "net_"
    hyperparams = {
        "model": Hyper("lognormmix", "the next time's distribution: lognormmix (Shchur et al. 2020, a mixture of "
                                     "log-normals) or rmtpp (Du et al. 2016, an exponential intensity)",
                       choices=MODELS),
        **network_hyperparams("gru", 32, 1, 0.0),
        "n_components": Hyper(8, "log-normal components K of the mixture (lognormmix)", whole()),
        "mark_dim": Hyper(8, "width of the marks' embedding (marked data)", whole()),
        "clock": Hyper(False, "also feed each event's time since the window's start (over the typical window "
                              "length), so that a rhythm tied to the window (a week's days) can be learned",
                       flag_value()),
        **training_hyperparams(epochs=200, batch_size=32, lr=1e-2, clip_norm=5.0, patience=20,
                               why_batch=": sequences per step", why_lr=": Adam's",
                               why_patience=" (the NLL is noisy on few sequences)"),
    }
    learned = ("m_", "s_", "n_marks_", "mark_names_", "time_unit_", "t_end_", "history_", "best_epoch_",
               "stopped_early_")

    # -- training ----------------------------------------------------------------------------------
    def fit(self, data, *, validation=None, resume=False, log=None) -> "PointProcess":
        """Train on ``data`` (EventData or EventSequence list); ``validation`` the same kind, for early
        stopping (default: the last 20% of the sequences in a seeded order). Returns self."""
        if resume:
            self.check_resume()
        self.check_params()
        seqs, n_marks = as_sequences(data, what="the training data")
        if validation is None:
            if len(seqs) < 2:
                raise ValueError("one sequence leaves none for validation; give two or more, or validation=")
            order = np.random.default_rng(self.seed).permutation(len(seqs))
            held = max(1, len(seqs) // 5)
            val = [seqs[i] for i in order[:held]]
            seqs = [seqs[i] for i in order[held:]]
        else:
            val, _ = as_sequences(validation, n_marks, "the validation data")
        check_time_scale(seqs)
        log_taus = np.log(np.concatenate([q.taus for q in seqs]))
        self.m_, self.s_ = float(log_taus.mean()), float(log_taus.std()) or 1.0
        self.n_marks_ = n_marks
        self.mark_names_ = list(data.mark_names) if isinstance(data, EventData) and data.mark_names else None
        self.time_unit_ = data.time_unit if isinstance(data, EventData) else "units"
        self.t_end_ = float(np.median([q.t_end for q in seqs]))
        self.net_ = self._build_network()

        def step(idx):
            iv = self._intervals([seqs[i] for i in idx])
            if trainer.world.size > 1:  # the loss is per event: weigh this shard by its events, not its rows
                trainer.share = trainer.world.size * iv.n_events / sum(len(seqs[i]) for i in trainer.batch)
            theta, logits = self.net_.forward(iv.time_x, iv.marks, iv.lengths)
            value, dtheta, dlogits, dw = self._loss(iv, theta, logits, backward=True)
            self.net_.backward(dtheta, dlogits, dw)
            return value

        def validate():  # each process scores its shard of the validation sequences; the sums are reduced
            mine = [val[i] for i in shard_rows(trainer.world, len(val))]
            n = sum(len(q) for q in mine)
            parts = self.nll(mine) if mine else {"time_nll": 0.0, "mark_nll": 0.0}
            time_sum, mark_sum, events = sum_over(trainer.world, [parts["time_nll"] * n, parts["mark_nll"] * n, n])
            return {"loss": (time_sum + mark_sum) / events, "time_nll": time_sum / events}

        data_info = {"sequences": len(seqs) + len(val), "events": int(sum(len(q) for q in seqs))}
        trainer = self.make_trainer(self.net_, self.train_config(), data=data_info, log=log)
        self.history_ = trainer.fit(index_batches(len(seqs), self.batch_size), step, validate, resume=resume)
        self.best_epoch_, self.stopped_early_ = trainer.best_epoch, trainer.stopped_early
        return self

    def _clock(self):
        """The scale of the clock input (the training windows' typical length), or None without it."""
        return self.t_end_ if self.clock else None

    def _intervals(self, seqs) -> Intervals:
        return Intervals(seqs, self.m_, self.s_, self.n_marks_, self._clock())

    def _loss(self, iv, theta, logits, backward=False):
        """The batch's NLL per event (time + mark) and, with ``backward``, its gradients:
        dtheta (T, B, P), dlogits (T, B, C) or None, dw."""
        rows = theta[iv.t, iv.b].astype(np.float64)  # (M, P)
        g = np.full(len(iv.tau), 1.0 / iv.n_events)  # d loss / d (each interval's nll)
        tau = np.where(iv.tau > 0, iv.tau, 1.0)
        if self.model == "rmtpp":
            w = self.net_.w
            time_nll = dists.rmtpp_nll(rows[:, 0], w, tau, iv.observed)
            grads = dists.rmtpp_nll_backward(rows[:, 0], w, tau, iv.observed, g) if backward else None
            drows = None if grads is None else grads[0][:, None]
            dw = 0.0 if grads is None else grads[1]
        else:
            K = self.n_components
            args = rows[:, :K], rows[:, K:2 * K], rows[:, 2 * K:], tau, iv.observed, self.m_, self.s_
            time_nll = dists.lognormmix_nll(*args)
            drows = np.concatenate(dists.lognormmix_nll_backward(*args, g), axis=1) if backward else None
            dw = 0.0
        value = float(time_nll.sum()) / iv.n_events
        dlogits = None
        if logits is not None:
            ev = iv.observed
            z = logits[iv.t[ev], iv.b[ev]].astype(np.float64)  # (N, C)
            p = softmax(z)
            value += float(-np.log(p[np.arange(len(z)), iv.mark[ev]] + 1e-300).sum()) / iv.n_events
            if backward:
                p[np.arange(len(z)), iv.mark[ev]] -= 1.0
                dlogits = np.zeros(logits.shape)
                dlogits[iv.t[ev], iv.b[ev]] = p / iv.n_events
        if not backward:
            return value
        dtheta = np.zeros(theta.shape)
        dtheta[iv.t, iv.b] = drows
        return value, dtheta, dlogits, dw

    # -- scoring and prediction ------------------------------------------------------------------------
    def _distribution(self, theta_rows):
        """The time distribution of rows (M, P) of the time head's outputs."""
        rows = theta_rows.astype(np.float64)
        if self.model == "rmtpp":
            return dists.RMTPP(rows[:, 0], self.net_.w)
        K = self.n_components
        return dists.LogNormMix(rows[:, :K], rows[:, K:2 * K], rows[:, 2 * K:], self.m_, self.s_)

    def _rows(self, inputs, t, b):
        """One eval-mode forward of the network inputs ``(time_x, marks, lengths)``, kept at the
        steps ``(t, b)``: (time-head rows (M, P), mark log-probabilities (M, C) or None)."""
        theta, logits = self.net_.forward(*inputs)
        return theta[t, b], (None if logits is None else log_softmax(logits[t, b].astype(np.float64)))

    def _joined(self, parts):
        """The chunks' ``_rows`` as one distribution and one array of mark log-probabilities."""
        marks = [m for _, m in parts if m is not None]
        return (self._distribution(np.concatenate([theta for theta, _ in parts])),
                np.concatenate(marks) if marks else None)

    def intervals(self, data):
        """What every model here gives for scoring (``metrics.evaluate``): (Intervals, the
        distribution of each interval's time, mark log-probabilities or None)."""
        self._check_fitted()
        seqs, _ = as_sequences(data, self.n_marks_, "the data")
        ivs = [self._intervals(seqs[k:k + EVAL_BATCH]) for k in range(0, len(seqs), EVAL_BATCH)]
        self.net_.eval()
        dist, marks = self._joined([self._rows((iv.time_x, iv.marks, iv.lengths), iv.t, iv.b) for iv in ivs])
        return _join(ivs), dist, marks

    def nll(self, data) -> dict:
        """Negative log-likelihood per event of ``data``: ``nll_per_event`` = ``time_nll`` + ``mark_nll``."""
        from unrolled.tasks.tpp.metrics import nll_parts

        return nll_parts(*self.intervals(data))

    def _heads(self, h):
        """The time distribution and mark log-probabilities from hidden states h (B, H) (eval mode)."""
        marks = None if self.net_.mark_head is None else log_softmax(self.net_.mark_head.forward(h).astype(np.float64))
        return self._distribution(self.net_.time_head.forward(h)), marks

    def _after_last(self, seqs):
        """The distribution of the time from each sequence's last event (or its start) to the next,
        and the next mark's log-probabilities: the step after its last event."""
        self._check_fitted()
        self.net_.eval()
        chunks = [seqs[k:k + EVAL_BATCH] for k in range(0, len(seqs), EVAL_BATCH)]
        return self._joined([self._rows(network_inputs(c, self.m_, self.s_, self.n_marks_, self._clock()),
                                        np.array([len(q) for q in c]), np.arange(len(c))) for c in chunks])

    def predict_next(self, history) -> dict:
        """For a history (an EventSequence whose window ends now; or a list of them): when the next
        event comes, given the history and no event since its last one up to ``t_end``: ``median``
        and ``mean`` of the time still to wait, ``time`` (the median's instant) and ``mark_proba``
        (marked data)."""
        self._check_fitted()
        single = isinstance(history, EventSequence)
        seqs = [history] if single else list(history)
        for k, q in enumerate(seqs):
            if not isinstance(q, EventSequence):
                raise ValueError("a history must be an EventSequence (unrolled.tasks.tpp.events)")
            if len(q):
                check_sequence(q, self.n_marks_, f"history {k}")
        dist, marks = self._after_last(seqs)
        elapsed = np.array([q.t_end - (q.times[-1] if len(q) else 0.0) for q in seqs])
        s0 = np.exp(dist.log_survival(elapsed))  # P(no event in the silence already seen)
        # P(tau <= elapsed + x | tau > elapsed) = u  <=>  1 - S(tau) = 1 - S(elapsed) (1 - u)
        median = dists.quantile_by_bisection(dist, 1 - s0 * 0.5) - elapsed
        mean = (dists.mean_below(dist, np.inf) - dists.mean_below(dist, elapsed)) / s0
        out = {"median": median, "mean": mean, "time": np.array([q.t_end for q in seqs]) + median}
        if marks is not None:
            out["mark_proba"] = np.exp(marks)
        return {k: v[0] for k, v in out.items()} if single else out

    def sample(self, history=None, t_end=None, seed=0, max_events=10_000) -> EventSequence:
        """A continuation of ``history`` (an EventSequence; None: an empty window) up to ``t_end``
        (default: the training windows' typical end): each next time drawn from the model given
        everything so far (direct sampling for the mixture, thinning for RMTPP), the mark from its
        softmax, until the window ends. The same seed gives the same sequence."""
        self._check_fitted()
        rng = np.random.default_rng(seed)
        t_end = float(self.t_end_ if t_end is None else t_end)
        times = [] if history is None else [float(t) for t in history.times]
        marks = [] if history is None or history.marks is None else [int(k) for k in history.marks]
        if not np.isfinite(t_end) or t_end <= (times[-1] if times else 0.0):
            raise ValueError(f"t_end={t_end} must be a finite time after the history's last event (and after 0)")
        quiet = t_end if history is None else history.t_end  # no event in the history's window after its last
        # The history is read once; then the recurrent state advances one event at a time (a step
        # costs the same whatever came before it).
        seq = EventSequence(np.array(times), t_end, np.array(marks, np.int64) if self.n_marks_ else None)
        time_x, mark_x, lengths = network_inputs([seq], self.m_, self.s_, self.n_marks_, self._clock())
        self.net_.eval()
        h, state = self.net_.rnn.forward(self.net_.inputs(time_x, mark_x))  # (T, 1, H): no padding
        dist, mark_lp = self._heads(h[-1])
        self.truncated_ = False
        while True:
            last = times[-1] if times else 0.0
            after = max(quiet - last, 0.0) if history is not None else 0.0
            tau = _draw(dist, rng, after)
            quiet = 0.0
            t = last + tau
            if not np.isfinite(t) or t >= t_end:
                break
            if len(times) >= max_events:
                self.truncated_ = True  # sample_sequences says so
                break
            times.append(t)
            if mark_lp is not None:
                p = np.exp(mark_lp[0])
                marks.append(int(rng.choice(len(p), p=p / p.sum())))
            elif self.n_marks_:  # one mark type: it is every event's
                marks.append(0)
            step_x = np.zeros((1, 1, time_x.shape[2]))
            step_x[0, 0, 0] = (np.log(tau) - self.m_) / self.s_
            if time_x.shape[2] > 1:
                step_x[0, 0, 1] = t / self._clock()
            step_mark = np.array([[marks[-1] if self.n_marks_ else 0]], dtype=np.int64)
            h, state = self.net_.rnn.forward(self.net_.inputs(step_x, step_mark), state)
            dist, mark_lp = self._heads(h[-1])
        return EventSequence(np.array(times), t_end, np.array(marks, np.int64) if self.n_marks_ else None)

    # -- inspection (unrolled explain / gradflow) ------------------------------------------------------
    def contributions(self, seq: EventSequence) -> np.ndarray:
        """Which past events raised the intensity at the end of ``seq``'s window: for each step j
        (0 the start, then each event), gradient x input of ``log lambda*(t_end)`` -- the intensity
        the model gives for "now", after the last event and the silence since -- through the
        hand-derived backward (dropout off). With ``log lambda* = log p - log S``, its gradient
        with respect to the head's outputs is the difference of the two losses' backwards.
        Positive: the event pushed the intensity up. Returns (N + 1,)."""
        self._check_fitted()
        seqs, _ = as_sequences([seq], self.n_marks_, "the sequence")
        q = seqs[0]
        time_x, marks, lengths = network_inputs([q], self.m_, self.s_, self.n_marks_, self._clock())
        saved = {k: g.copy() for k, g in self.net_.grads.items()}
        modes = [(m, m.training) for m in self.net_.modules()]
        rnn_dropout, self.net_.rnn.dropout = self.net_.rnn.dropout, 0.0
        try:
            self.net_.train()
            theta, _ = self.net_.forward(time_x, marks, lengths)
            row = theta[len(q), 0][None].astype(np.float64)  # (1, P): the step after the last event
            elapsed = np.array([max(q.t_end - q.times[-1], 1e-12)])
            one = np.ones(1)
            if self.model == "rmtpp":
                da_obs, dw_obs = dists.rmtpp_nll_backward(row[:, 0], self.net_.w, elapsed, np.array([True]), one)
                da_cen, dw_cen = dists.rmtpp_nll_backward(row[:, 0], self.net_.w, elapsed, np.array([False]), one)
                drow = (da_cen - da_obs)[:, None]  # d log lambda = d(-nll_obs) - d(-nll_silence)
            else:
                K = self.n_components
                args = row[:, :K], row[:, K:2 * K], row[:, 2 * K:], elapsed
                obs = dists.lognormmix_nll_backward(*args, np.array([True]), self.m_, self.s_, one)
                cen = dists.lognormmix_nll_backward(*args, np.array([False]), self.m_, self.s_, one)
                drow = np.concatenate([c - o for o, c in zip(obs, cen)], axis=1)
            dtheta = np.zeros(theta.shape)
            dtheta[len(q), 0] = drow[0]
            dx = self.net_.backward(dtheta)  # (T, 1, 1 + E)
            x = self.net_.inputs(time_x, marks)
            return (dx * x).sum(axis=2)[:, 0].astype(np.float64)
        finally:
            self.net_.rnn.dropout = rnn_dropout
            for m, mode in modes:
                m.training = mode
            for k, g in self.net_.grads.items():
                g[...] = saved[k]

    def inside_input(self, *, csv=None, text=None, start=None, end=None, rows=None):
        """The recurrent layer's input for one event sequence: ``--csv FILE`` (columns ``time`` and,
        for a marked model, ``mark``; one sequence: its first event is the origin) or, without it,
        a sequence sampled from the model (seed 0). Labels: each event's time; the line above the
        heatmaps: log lambda* just after each event (how excited the model is)."""
        self._check_fitted()
        if text is not None or start is not None or end is not None:
            raise ValueError("a point process reads --csv FILE (a time column, and mark for marked events), "
                             "not --text / --start / --end")
        seq = self._explained_sequence(csv)
        time_x, marks, lengths = network_inputs([seq], self.m_, self.s_, self.n_marks_, self._clock())
        steps = np.arange(len(seq) + 1)
        if rows is not None:
            steps = np.resize(steps, rows)
        self.net_.eval()
        x = self.net_.inputs(time_x[steps], marks[steps])  # (T, 1, F + E)
        every = np.arange(len(seq) + 1)
        dist, _ = self._joined([self._rows((time_x, marks, lengths), every, np.zeros_like(every))])
        after = dist.log_intensity(np.full(len(seq) + 1, 1e-9))[steps]
        times = np.append(0.0, seq.times)[steps]
        labels = np.array([f"{t:.4g}" for t in times])
        return x, labels, after, "log lambda* just after"

    def _explained_sequence(self, csv):
        if csv is None:
            seq = self.sample(None, seed=0)
            if not len(seq):
                raise ValueError("the model drew no events to explain; give --csv FILE with a sequence of events")
            return seq
        from unrolled.tasks.tpp.data import read_event_csv

        events = read_event_csv(csv, "time", None, "mark" if self.n_marks_ else None)
        seq = events.sequences[0]
        if self.n_marks_:
            names = self.mark_names_ or [str(k) for k in range(self.n_marks_)]
            unknown = sorted(set(events.mark_names) - set(names))
            if unknown:
                raise ValueError(f"{csv}: marks {unknown} are not among the model's ({', '.join(names)})")
            seq = EventSequence(seq.times, seq.t_end, np.array([names.index(events.mark_names[k]) for k in seq.marks]))
        return seq

    def inside_span(self, labels) -> str:
        return f"{len(labels) - 1} events after the start"

    def explain_lines(self, csv=None, text=None, **_) -> list[str]:
        """For ``unrolled explain``: the events that raised (and lowered) the intensity at the
        window's end the most (``contributions``)."""
        seq = self._explained_sequence(csv)
        a = self.contributions(seq)
        times = np.append(0.0, seq.times)
        order = np.argsort(-np.abs(a))[:5]
        lines = [f"log lambda*(end of window, t = {seq.t_end:.4g}): which steps raised it (gradient x input):"]
        lines += [f"  {'start' if j == 0 else f'event {j} at t = {times[j]:.4g}':<28}{a[j]:+.4f}" for j in order]
        return lines

    # -- the network and the contract -------------------------------------------------------------------
    def _build_network(self):
        return PointProcessNetwork(self.model, self.cell, self.n_marks_, self.mark_dim, self.hidden_size,
                                   self.num_layers, self.dropout, self.n_components, 2 if self.clock else 1,
                                   seed=self.seed)

    def _check_loaded(self, arrays, meta):
        """What ``load`` set: finite standardisation (s_ > 0), a whole number of marks with as many
        names (or none), a positive typical window, a time unit; else SavedStateError."""
        from unrolled.tasks.base import SavedStateError

        def number(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)

        if not (number(self.m_) and number(self.s_) and 0 < self.s_ < 100 and abs(self.m_) < 100):
            raise SavedStateError(f"learned 'm_' {self.m_!r} and 's_' {self.s_!r} must be finite numbers, |m_| < 100 "
                                  "and 0 < s_ < 100 (the mean and spread of log inter-event times)")
        if not (number(self.t_end_) and self.t_end_ > 0):
            raise SavedStateError(f"learned 't_end_' {self.t_end_!r} must be a positive finite time")
        n = self.n_marks_
        if not (isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 100_000):
            raise SavedStateError(f"learned 'n_marks_' {n!r} must be a whole number of marks (0: unmarked)")
        names = self.mark_names_
        if names is not None and not (isinstance(names, list) and len(names) == n == len(set(names))
                                      and all(isinstance(x, str) for x in names)):
            raise SavedStateError(f"learned 'mark_names_' {names!r} must be None or {n} distinct names, one per mark")
        if not isinstance(self.time_unit_, str):
            raise SavedStateError(f"learned 'time_unit_' {self.time_unit_!r} must be a string")

    @classmethod
    def contract_example(cls):
        from unrolled.tasks.tpp.synthetic import simulate

        data = simulate("hawkes1", n_sequences=24, t_end=20.0, seed=3)
        return dict(hidden_size=6, n_components=3, epochs=2, batch_size=8, progress=False), data

    def contract_predictions(self, data):
        iv, dist, _ = self.intervals(data.sequences[:5])
        return np.concatenate([dist.log_pdf(np.where(iv.tau > 0, iv.tau, 1.0)), dist.median()])

    def describe(self) -> str:
        return f"{super().describe()} ({self.model})"


def _draw(dist, rng, after=0.0) -> float:
    """One next inter-event time from a one-row distribution, given none before ``after``: RMTPP by
    thinning from ``after``; the mixture directly (Shchur et al.) or, given a silence, by inverting
    the conditional distribution 1 - S(tau) / S(after)."""
    if isinstance(dist, dists.RMTPP):
        return float(dist.sample_by_thinning(rng, after=after)[0])
    if after <= 0:
        return float(dist.sample(rng)[0])
    u = rng.uniform(size=1)
    return float(dists.quantile_by_bisection(dist, 1 - np.exp(dist.log_survival(np.array([after]))) * (1 - u))[0])


def _join(ivs):
    """One Intervals from several batches' (their rows concatenated; the batch layout is not kept)."""
    if len(ivs) == 1:
        return ivs[0]
    out = Intervals.__new__(Intervals)
    for name in ("t", "tau", "observed", "mark", "remaining"):
        setattr(out, name, np.concatenate([getattr(iv, name) for iv in ivs]))
    firsts = np.cumsum([0] + [len(iv.lengths) for iv in ivs[:-1]])  # each chunk's first sequence
    out.b = np.concatenate([iv.b + first for iv, first in zip(ivs, firsts)])
    out.lengths = np.concatenate([iv.lengths for iv in ivs])
    out.n_events = sum(iv.n_events for iv in ivs)
    return out
