"""Figures: gate heatmaps (units x time, one panel per gate), gradient flow against lag, clipping.

Matplotlib's object API only (``Figure``, no pyplot): no global backend to set, safe in tests.
"""

from __future__ import annotations

import numpy as np

from unrolled.inside.record import parts
from unrolled.nn.cells.base import SIGMOID


def _ticks(ax, labels, most=16):
    """Time labels along the x axis: every one for a short text, else at most ``most``."""
    T = len(labels)
    short = max(len(str(v)) for v in labels) <= 2
    idx = np.unique(np.linspace(0, T - 1, T if short and T <= 150 else min(T, most)).round().astype(int))
    ax.set_xticks(idx)
    ax.set_xticklabels([str(labels[i]) for i in idx], rotation=0 if short else 60, fontsize=7)


def plot_gates(rec: dict, cell, time_labels=None, series=None, series_label="input", title="") -> dict:
    """One PNG per layer / direction of recording ``rec`` (sequence 0 of the batch): the input
    ``series`` (T,) as a line on top (if given), then one heatmap per panel of ``cell`` (the
    layer's ``Cell``: ``cell.panels``), units down, time across, the ``time_labels`` (dates,
    characters) under it. Returns ``{part: Figure}``."""
    from matplotlib.figure import Figure

    figures = {}
    for part in parts(rec):
        values = rec[part]
        names = list(cell.panels)
        T, H = values["h"].shape[0], values["h"].shape[2]
        rows = len(names) + (series is not None)
        fig = Figure(figsize=(min(16, 5 + 0.1 * T), 1.0 + rows * (1.1 + 0.015 * H)), dpi=110)
        grid = fig.add_gridspec(rows, 2, width_ratios=[1, 0.015], wspace=0.02,
                                height_ratios=[0.7] * (series is not None) + [1.0] * len(names))
        axes = [fig.add_subplot(grid[r, 0]) for r in range(rows)]
        for ax in axes[1:]:
            ax.sharex(axes[0])
        if series is not None:
            top = axes.pop(0)
            top.plot(np.arange(T), series, color="black", lw=1.2)
            top.set_ylabel(series_label, fontsize=8)
            top.tick_params(labelbottom=False, labelsize=7)
            top.grid(alpha=0.3)
        for r, (ax, name) in enumerate(zip(axes, names), start=rows - len(names)):
            v = values[name][:, 0, :].T  # (H, T)
            panel_title, span = cell.panels[name]
            if span == SIGMOID:
                kw = {"cmap": "viridis", "vmin": 0.0, "vmax": 1.0}
            else:  # symmetric about 0: [-1, 1] for tanh values, the largest |v| when unbounded
                lim = max(span) if span else max(1e-9, float(np.nanmax(np.abs(v))))
                kw = {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim}
            im = ax.imshow(v, aspect="auto", interpolation="nearest", **kw)
            ax.set_ylabel("unit", fontsize=8)
            ax.set_title(panel_title, fontsize=9, loc="left", pad=2)
            ax.tick_params(labelbottom=False, labelsize=7)
            fig.colorbar(im, cax=fig.add_subplot(grid[r, 1])).ax.tick_params(labelsize=7)
        axes[-1].tick_params(labelbottom=True)
        _ticks(axes[-1], list(range(1, T + 1)) if time_labels is None else list(time_labels))
        fig.suptitle(f"{title}{' - ' if title else ''}layer {part}: every gate at every step", fontsize=10)
        fig.subplots_adjust(left=0.07, right=0.95, top=0.94, bottom=0.1, hspace=0.45)
        figures[part] = fig
    return figures


def plot_flow(curves: list[dict], title=""):
    """``||dh_t / dh_k||`` against the lag ``t - k``, log scale, one panel per cell side by side;
    for the RNN also seed 004 eq. 20's bound ``(gamma * rho)^(t-k)`` (dashed)."""
    from matplotlib.figure import Figure

    cells = list(dict.fromkeys(c["cell"] for c in curves))
    fig = Figure(figsize=(4.6 * len(cells), 4.4), dpi=110)
    axes = np.atleast_1d(fig.subplots(1, len(cells), sharey=True))
    scales = sorted({c["scale"] for c in curves})
    colors = dict(zip(scales, ["tab:blue", "tab:green", "tab:orange", "tab:red", "tab:purple", "tab:brown"]))
    measured = np.concatenate([c["norm"] for c in curves])
    low = max(float(measured[measured > 0].min()) / 10, 1e-40)
    high = float(measured.max()) * 1e3
    for ax, cell in zip(axes, cells):
        mine = [c for c in curves if c["cell"] == cell]
        for c in mine:
            color = colors[c["scale"]]
            label = f"W_hh x{c['scale']:g}"
            if c["rho"] is not None:
                label += f" (gamma*rho = {c['gamma'] * c['rho']:.2f})"
            ax.semilogy(c["lag"], c["norm"], color=color, lw=1.6, label=label)
            if c["bound"] is not None:
                ax.semilogy(c["lag"], np.clip(c["bound"], low, high), color=color, lw=1, ls="--")
            if c["norm_c"] is not None:
                ax.semilogy(c["lag"][1:], c["norm_c"][1:], color=color, lw=0.9, ls=":")  # c_t is not h_t's input
        notes = []  # what the dashed and dotted lines are, where the curves have them
        if any(c["bound"] is not None for c in mine):
            notes.append("dashed: eq. 20 bound (gamma*rho)^(t-k)")
        if any(c["norm_c"] is not None for c in mine):
            notes.append("dotted: ||dh_t / dc_k||")
        ax.set_title("\n".join([cell.upper(), *notes]), fontsize=10)
        ax.set_xlabel("lag t - k (steps)")
        ax.set_ylim(low, high)
        ax.grid(alpha=0.3, which="both", lw=0.4)
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("||dh_t / dh_k||_2")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_clipping(clipped: dict, unclipped: dict | None, clip_norm: float, title=""):
    """Gradient norm per step before and after ``clip_grad_norm_`` (left) and the training loss
    with and without clipping (right)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), dpi=110)
    left, right = fig.subplots(1, 2)
    steps = np.arange(1, len(clipped["norm_before"]) + 1)
    left.semilogy(steps, clipped["norm_before"], color="tab:gray", lw=0.9, label="before clipping")
    left.semilogy(steps, clipped["norm_after"], color="tab:blue", lw=0.9, label="after clipping")
    hit = clipped["norm_before"] > clip_norm
    left.scatter(steps[hit], clipped["norm_before"][hit], color="tab:red", s=12, zorder=3,
                 label=f"clipped ({hit.sum()} of {len(steps)} steps)")
    left.axhline(clip_norm, color="tab:red", ls="--", lw=1, label=f"max_norm = {clip_norm:g}")
    left.set_xlabel("training step")
    left.set_ylabel("joint gradient norm")
    left.set_title("gradient norm per step", fontsize=10)
    left.legend(fontsize=8)
    left.grid(alpha=0.3, which="both", lw=0.4)
    right.plot(steps, _smooth(clipped["loss"]), color="tab:blue", label="with clipping")
    if unclipped is not None:
        right.plot(steps, _smooth(unclipped["loss"]), color="tab:gray", label="without clipping")
    right.set_xlabel("training step")
    right.set_ylabel("training loss (MSE, 20-step mean)")
    right.set_title("loss, same seed and batches", fontsize=10)
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _smooth(v: np.ndarray, n=20) -> np.ndarray:
    """Running mean over the last ``n`` values (fewer at the start)."""
    c = np.cumsum(np.insert(np.asarray(v, dtype=np.float64), 0, 0.0))
    k = np.minimum(np.arange(1, len(v) + 1), n)
    return (c[1:] - c[np.arange(len(v)) + 1 - k]) / k
