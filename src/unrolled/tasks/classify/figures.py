"""Figures of a classifier's results: the confusion matrix, a reliability diagram, and one text's
explanation (the class probability as it is read, and each token's contribution).

Matplotlib's object API only (``Figure``, no pyplot): no global backend to set, safe in tests and
threads. Each function returns the Figure; ``RunDir.write_figure(name, fig)`` saves it.
"""

from __future__ import annotations

import numpy as np

NEGATIVE, POSITIVE = "tab:red", "tab:blue"  # a contribution against the class / for it


def confusion_figure(matrix, classes, title=""):
    """The (C, C) counts ``matrix`` (rows true, columns predicted: ``scores.confusion``) coloured by
    the share of each true class, ``M[i, j] / sum_j M[i, j]``, each cell annotated with its count
    and that share: the shares say where a class goes, the counts how much that weighs."""
    from matplotlib.figure import Figure

    M = np.asarray(matrix)
    C = len(classes)
    if M.shape != (C, C):
        raise ValueError(f"matrix has shape {M.shape} for {C} classes; give the (C, C) counts of scores.confusion")
    totals = M.sum(axis=1, keepdims=True)  # (C, 1)
    share = np.divide(M, totals, out=np.zeros(M.shape), where=totals > 0)  # (C, C); a class never seen: 0
    side = 2.2 + 0.9 * C
    fig = Figure(figsize=(side + 1.2, side), dpi=110)
    ax = fig.add_subplot()
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(C):
        for j in range(C):
            ax.text(j, i, f"{int(M[i, j]):,}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.55 else "black")  # readable on the dark cells
    names = [str(c) for c in classes]
    ax.set_xticks(range(C))
    ax.set_xticklabels(names, rotation=30 if max(map(len, names)) > 8 else 0, ha="right" if
                       max(map(len, names)) > 8 else "center", fontsize=8)
    ax.set_yticks(range(C))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    return fig


def reliability_figure(bins_result, title=""):
    """A reliability diagram of ``scores.reliability``'s result: the accuracy of each confidence bin
    as a bar against the diagonal ``accuracy = confidence`` (calibrated), the examples per bin below,
    the ECE in the title. Bars below the diagonal: over-confident there."""
    from matplotlib.figure import Figure

    edges, acc, count = (np.asarray(bins_result[k]) for k in ("edges", "accuracy", "count"))
    conf = np.asarray(bins_result["confidence"])
    left, width = edges[:-1], np.diff(edges)  # (bins,)
    full = count > 0
    fig = Figure(figsize=(5.5, 6), dpi=110)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(left[full], acc[full], width=width[full], align="edge", color=POSITIVE, alpha=0.75,
            edgecolor="black", lw=0.6, label="accuracy of the bin")
    top.plot(conf[full], acc[full], "o", color="black", ms=3, label="(mean confidence, accuracy)")
    top.plot([0, 1], [0, 1], ls="--", color="gray", label="calibrated")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.bar(left, count, width=width, align="edge", color="gray", edgecolor="black", lw=0.6)
    bottom.set_xlabel("confidence (top-class probability)")
    bottom.set_ylabel("examples")
    bottom.grid(alpha=0.3)
    ece = f"ECE {bins_result['ece']:.3f}"
    top.set_title(f"{title} - {ece}" if title else f"reliability - {ece}", fontsize=10)
    fig.tight_layout()
    return fig


def explanation_figure(tokens, contributions, prefix_proba, class_name, title=""):
    """One text read forward: on top ``P(class_name | tokens[:t+1])`` after each token (the 0.5 line
    marks where a two-class decision flips), below each token's contribution to that class as a
    signed bar (blue for it, red against). ``tokens``, ``contributions`` and ``prefix_proba``: T
    each, T >= 1; beyond a few tokens the labels turn upright and shrink, so 100 still fit."""
    from matplotlib.figure import Figure

    tokens = [str(t) for t in tokens]
    contributions = np.asarray(contributions, dtype=np.float64)
    prefix_proba = np.asarray(prefix_proba, dtype=np.float64)
    T = len(tokens)
    if T == 0 or contributions.shape != (T,) or prefix_proba.shape != (T,):
        raise ValueError(f"{T} tokens, {contributions.shape} contributions and {prefix_proba.shape} prefix "
                         "probabilities; give one of each per token, at least one token")
    x = np.arange(T)
    fontsize = 8 if T <= 40 else 6 if T <= 80 else 5
    width = min(20.0, 3.5 + 0.18 * T)  # inches
    slot = (width - 1.2) / T  # inches of axis per token
    # upright when the longest label is wider than its slot (a character is ~0.6 em), or when many
    upright = T > 30 or max(map(len, tokens)) * 0.6 * fontsize / 72 > 0.9 * slot
    fig = Figure(figsize=(width, 5.5), dpi=110)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1]})
    top.plot(x, prefix_proba, marker="o", ms=3 if T > 40 else 5, color="black", lw=1.2)
    top.axhline(0.5, color="gray", ls="--", lw=1)
    top.set_ylim(-0.02, 1.02)
    top.set_ylabel(f"P({class_name})\nafter the prefix", fontsize=9)
    top.grid(alpha=0.3)
    bottom.bar(x, contributions, color=np.where(contributions < 0, NEGATIVE, POSITIVE), width=0.8)
    bottom.axhline(0.0, color="black", lw=0.8)
    bottom.set_ylabel(f"contribution\nto {class_name}", fontsize=9)
    bottom.grid(alpha=0.3, axis="y")
    bottom.set_xlim(-0.6, T - 0.4)
    for ax in (top, bottom):  # the tokens under both panels: each is read against its own axis
        ax.set_xticks(x)
        ax.set_xticklabels(tokens, rotation=90 if upright else 0, fontsize=fontsize)
        ax.tick_params(labelbottom=True)
    top.set_title(title or f"how the text moves P({class_name})", fontsize=10)
    fig.tight_layout()
    return fig
