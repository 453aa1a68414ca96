"""The point process's pictures, each a matplotlib Figure for ``RunDir.write_figure``:

* ``intensity_figure``: lambda*(t) of each model over one sequence, its events marked below;
* ``qq_figure``: the time-rescaling QQ plot (Brown et al. 2002): each model's compensator over
  the test intervals against Exp(1)'s quantiles; a correct model lies on the diagonal;
* ``samples_figure``: the real sequence beside continuations sampled from each model, given the
  first half of it.
"""

from __future__ import annotations

import numpy as np

from unrolled.tasks.tpp.events import EventSequence

GRID = 60  # points per interval where an intensity is drawn


def pick_sequence(seqs) -> EventSequence:
    """The test sequence to draw: the one with the median number of events (typical, not extreme)."""
    counts = np.array([len(q) for q in seqs])
    return seqs[int(np.argsort(counts)[len(counts) // 2])]


def intensity_curve(model, seq: EventSequence):
    """(t, lambda*(t)) along ``seq`` under ``model`` (a PointProcess or a baseline): within each
    interval, the intensity of that interval's distribution at a grid of times since its start."""
    iv, dist, _ = model.intervals([seq])
    starts = np.append(0.0, seq.times)[:len(iv.tau)]
    ts, lam = [], []
    for j in range(len(iv.tau)):
        taus = np.linspace(1e-6 * max(iv.tau[j], 1e-9), iv.tau[j], GRID)
        ts.append(starts[j] + taus)
        lam.append(np.exp(dist.take(np.full(GRID, j)).log_intensity(taus)))
    return np.concatenate(ts), np.concatenate(lam)


def intensity_figure(seq, models: dict, truth=None, title="", time_unit="units"):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=110)
    ax = fig.add_subplot()
    for name, model in models.items():
        t, lam = intensity_curve(model, seq)
        ax.plot(t, lam, lw=1.2, label=name)
    if truth is not None:
        from unrolled.tasks.tpp import synthetic

        t = np.linspace(0, seq.t_end, 2000)
        ax.plot(t, synthetic.intensity(truth, seq, t), color="black", lw=1, ls="--", label="true intensity")
    top = ax.get_ylim()[1]
    ax.plot(seq.times, np.full(len(seq), -0.03 * top), "|", color="tab:red", ms=12, label="events")
    ax.set_yscale("symlog", linthresh=max(1e-3, 0.05 * top))
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel(f"intensity (events per {time_unit.rstrip('s')})")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def qq_figure(rescaled: dict, title=""):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5), dpi=110)
    ax = fig.add_subplot()
    top = 0.0
    for name, x in rescaled.items():
        x = np.sort(x)
        q = -np.log1p(-(np.arange(1, len(x) + 1) - 0.5) / len(x))  # Exp(1) quantiles
        ax.plot(q, x, lw=1.2, label=name)
        top = max(top, q[-1])
    ax.plot([0, top], [0, top], color="black", lw=1, ls="--", label="Exp(1)")
    ax.set_xlim(0, top)
    ax.set_ylim(0, 1.5 * top)
    ax.set_xlabel("Exp(1) quantile")
    ax.set_ylabel("compensator over the interval, sorted")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def samples_figure(seq, models: dict, time_unit="units", seed=0, draws=3):
    """The real sequence on top; below, per model, ``draws`` continuations of its first half."""
    from matplotlib.figure import Figure

    half = seq.t_end / 2 if seq.t_end > seq.times[-1] else seq.times[len(seq) // 2]
    history = seq.head(half)
    rows = [("real", seq.times)]
    for name, model in models.items():
        for k in range(draws):
            rows.append((f"{name} #{k + 1}", model.sample(history, seq.t_end, seed=seed + k).times))
    fig = Figure(figsize=(10, 0.45 * len(rows) + 1.2), dpi=110)
    ax = fig.add_subplot()
    for i, (name, times) in enumerate(rows):
        y = len(rows) - 1 - i
        past, future = times[times < half], times[times >= half]
        ax.plot(past, np.full(len(past), y), "|", color="gray", ms=10)
        ax.plot(future, np.full(len(future), y), "|", color="tab:red" if name == "real" else "tab:blue", ms=10)
    ax.axvline(half, color="black", lw=1, ls="--")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows][::-1])
    ax.set_xlim(0, seq.t_end)
    ax.set_xlabel(f"time ({time_unit}); gray: the history given, after the line: real (red) or sampled (blue)")
    ax.set_title("sampled continuations beside the real sequence")
    fig.tight_layout()
    return fig
