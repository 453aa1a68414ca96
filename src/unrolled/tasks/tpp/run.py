"""End to end for ``unrolled tpp train``: event sequences (bundled real data, a synthetic process
with a known intensity, or a user's CSV) split 60 / 20 / 20 by sequence with a seed; the neural
models trained on the training part (validation for early stopping); Poisson and Hawkes fitted
on the same training part; every one scored on the test part (``metrics.evaluate``) and, for a
synthetic process, beside the true model's NLL, the floor no model can beat.
"""

from __future__ import annotations

import time

import numpy as np

from unrolled.tasks.rundir import open_run, plot_history
from unrolled.tasks.tpp import metrics as tpp_metrics
from unrolled.tasks.tpp import synthetic
from unrolled.tasks.tpp.baselines import Hawkes, Poisson
from unrolled.tasks.tpp.events import EventData, check_time_scale, split_sequences
from unrolled.tasks.tpp.model import MODELS, PointProcess

REAL = ("commits", "earthquakes")
DATA_CHOICES = REAL + synthetic.PROCESSES


def load_events(data="commits", csv=None, time_col="time", seq_col=None, mark_col=None, n_sequences=None,
                seed=0) -> EventData:
    """The event data a run trains on: a bundled real set, a synthetic process (``n_sequences``
    windows, simulated with ``seed``) or ``csv``'s columns; ValueError naming the fix."""
    from unrolled.tasks.tpp import data as real

    if csv is not None:
        return real.read_event_csv(csv, time_col, seq_col, mark_col)
    if data in REAL:
        return real.load(data)
    if data in synthetic.PROCESSES:
        return synthetic.simulate(data, n_sequences=n_sequences or 1000, seed=seed)
    raise ValueError(f"--data {data!r} is unknown; use one of {', '.join(DATA_CHOICES)}, or --csv FILE")


def _parts(events: EventData, seed: int) -> dict:
    """train / validation / test, each an EventData with the whole set's marks and time unit."""
    rows = split_sequences(len(events.sequences), seed)
    return {name: EventData([events.sequences[i] for i in r], events.name, events.time_unit, events.mark_names)
            for name, r in zip(("train", "validation", "test"), rows)}


def _log(echo, name):
    def log(row):
        if row["epoch"] % 10 == 0 or row["epoch"] == 1:
            echo(f"  {name} epoch {row['epoch']:>3}  train {row['train_loss']:.4f}, val {row['val_loss']:.4f}")
    return log


def table(rows: dict, floor=None) -> str:
    """One line per model: its test metrics, and the gap to the true NLL where there is one."""
    keys = ("nll_per_event", "time_nll", "mark_nll", "mae", "rmse", "mark_accuracy", "ks_statistic")
    heads = ("NLL/event", "time NLL", "mark NLL", "MAE", "RMSE", "mark acc", "KS")
    lines = [f"{'model':<20}" + "".join(f"{h:>11}" for h in heads) + (f"{'gap':>9}" if floor is not None else "")]
    for name, r in rows.items():
        cells = "".join(f"{'-' if r.get(k) is None else format(r[k], '.4f'):>11}" for k in keys)
        gap = f"{r['nll_per_event'] - floor:>9.4f}" if floor is not None else ""
        lines.append(f"{name:<20}{cells}{gap}")
    return "\n".join(lines)


def verdict(rows: dict, floor=None, neural=MODELS) -> str:
    """One line: does the best neural model beat Poisson and Hawkes (and how far from the floor)?"""
    trained = {k: v for k, v in rows.items() if k in neural}
    best = min(trained, key=lambda k: trained[k]["nll_per_event"])
    nll = trained[best]["nll_per_event"]
    classical = {k: rows[k]["nll_per_event"] for k in ("hawkes", "poisson")}
    beaten = [k for k, v in classical.items() if nll < v]
    line = (f"best neural model: {best}, {nll:.4f} nats/event; "
            + ("it beats Poisson and Hawkes" if len(beaten) == 2 else
               f"it does NOT beat {' or '.join(k for k in classical if k not in beaten)} "
               f"({', '.join(f'{k} {v:.4f}' for k, v in classical.items())})"))
    if floor is not None:
        line += f"; {nll - floor:.4f} above the true process ({floor:.4f})"
    return line


def run_tpp(data="commits", csv=None, *, time_col="time", seq_col=None, mark_col=None, compare=True,
            n_sequences=None, split_seed=0, out=None, resume=False, overwrite=False, echo=print, **params) -> dict:
    """Train a ``PointProcess`` (``params``; and, with ``compare``, the other neural model too)
    and the baselines on one split; print the table and a verdict; with ``out``: metrics.json,
    loss.png, intensity.png, qq.png, samples.png, model/ (the ``model`` asked for) and
    checkpoints/. Returns the metrics."""
    est = PointProcess(**params)  # every flag checked before any work
    if csv is None and data not in DATA_CHOICES:
        raise ValueError(f"--data {data!r} is unknown; use one of {', '.join(DATA_CHOICES)}, or --csv FILE")
    events = load_events(data, csv, time_col, seq_col, mark_col, n_sequences, split_seed)
    check_time_scale(events.sequences)  # before any training
    parts = _parts(events, split_seed)
    source = str(csv) if csv is not None else data
    with open_run(out, training=True, resume=resume, overwrite=overwrite) as run:
        if run is not None:
            est.set_params(checkpoint_dir=run.checkpoints)
        marks = f", {events.n_marks} marks" if events.n_marks else ", unmarked"
        echo(f"data: {source}, {len(events.sequences):,} sequences, {events.n_events:,} events (time in "
             f"{events.time_unit}{marks}); train / validation / test {len(parts['train'].sequences)} / "
             f"{len(parts['validation'].sequences)} / {len(parts['test'].sequences)} sequences")
        for note in events.notes:
            echo(f"  {note}")
        if run is not None:
            run.start()
        models = {est.model: est}
        if compare:
            for other in MODELS:
                if other != est.model:
                    models[other] = PointProcess(**{**est.get_params(), "model": other, "checkpoint_dir": None})
        rows, seconds = {}, {}
        for name, model in models.items():
            echo(f"model: {name}, {model.cell} {model.num_layers}x{model.hidden_size}"
                 + (f", {model.n_components} components" if name == "lognormmix" else ""))
            t0 = time.perf_counter()
            model.fit(parts["train"], validation=parts["validation"], resume=resume and model is est,
                      log=_log(echo, name))
            seconds[name] = time.perf_counter() - t0
            rows[name] = tpp_metrics.evaluate(*model.intervals(parts["test"]))
        baselines = {"hawkes": Hawkes().fit(parts["train"]), "poisson": Poisson().fit(parts["train"])}
        for name, b in baselines.items():
            rows[name] = tpp_metrics.evaluate(*b.intervals(parts["test"]))
        floor = None
        if csv is None and data in synthetic.PROCESSES:
            floor = synthetic.true_nll(data, parts["test"].sequences)
            rows["true process"] = {"nll_per_event": floor, "time_nll": floor, "mark_nll": 0.0,
                                    "ks_statistic": tpp_metrics.ks_exponential(np.concatenate(
                                        [synthetic.compensators(data, q)[:-1] for q in parts["test"].sequences]))}
        echo(table(rows, floor))
        echo(verdict(rows, floor))
        hawkes = baselines["hawkes"]
        echo(f"hawkes fitted: mu {hawkes.mu_:.4g}, alpha {hawkes.alpha_:.4g}, beta {hawkes.beta_:.4g} "
             f"(per {events.time_unit.rstrip('s')}); trained in " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))
        metrics = {"models": rows, "true_nll": floor, "time_unit": events.time_unit,
                   "split": {k: len(v.sequences) for k, v in parts.items()}, "notes": events.notes,
                   "hawkes": {"mu": hawkes.mu_, "alpha": hawkes.alpha_, "beta": hawkes.beta_},
                   "train_seconds": seconds, "best_epoch": {k: m.best_epoch_ for k, m in models.items()},
                   "history": est.history_}
        if run is not None:
            from unrolled.tasks.tpp import figures

            run.save_model(est)
            run.write_metrics(metrics, est, {"source": source, "sequences": len(events.sequences),
                                             "events": events.n_events, "split_seed": split_seed,
                                             **{k: len(v.sequences) for k, v in parts.items()}})
            run.write_figure("loss.png", plot_history(est.history_, est.best_epoch_, ylabel="NLL per event"))
            shown = figures.pick_sequence(parts["test"].sequences)
            truth = data if csv is None and data in synthetic.PROCESSES else None
            run.write_figure("intensity.png", figures.intensity_figure(
                shown, {**models, "hawkes": hawkes}, truth, f"{source}: a test sequence", events.time_unit))
            run.write_figure("qq.png", figures.qq_figure(
                {name: tpp_metrics.rescaled(*m.intervals(parts["test"])[:2]) for name, m in
                 {**models, **baselines}.items()}, f"{source}: time-rescaling on the test part"))
            run.write_figure("samples.png", figures.samples_figure(shown, models, events.time_unit, seed=split_seed))
            echo(f"wrote {run.path}/: metrics.json, loss.png, intensity.png, qq.png, samples.png, model/, checkpoints/")
    return metrics
