"""The Penn Treebank runs' validation curves beside Zaremba et al.'s (2014) published numbers.

Reads the ``metrics.json`` that ``unrolled lm train --out DIR`` writes (its per-epoch history
and the test perplexity of the epoch kept) for each run given, and draws validation perplexity
by epoch, the paper's validation and test perplexity of its medium model (39 epochs) as levels,
and each run's test perplexity as a point at its kept epoch. The paper shows no per-epoch curve,
only those end points (Table 1), so they are what a curve is set against::

    python bench/ptb_curves.py runs/ptb_medium runs/ptb_tied --labels "medium" "medium, tied" \\
        --out docs/lm/ptb_medium_loss.png
"""

from __future__ import annotations

import argparse
import json
import pathlib

from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

PAPER_MEDIUM = {"validation": 86.2, "test": 82.7}  # Zaremba, Sutskever & Vinyals (2014), Table 1


def read_run(path: pathlib.Path) -> dict:
    """A run directory's metrics.json (only that file is read; nothing is written there)."""
    metrics = json.loads((path / "metrics.json").read_text())
    return {"epochs": [r["epoch"] for r in metrics["history"]],
            "val": [r["val_perplexity"] for r in metrics["history"]],
            "best": metrics["best_epoch"], "test": metrics["test"]["perplexity"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=pathlib.Path, help="run directories (unrolled lm train --out)")
    p.add_argument("--labels", nargs="+", default=None, help="one label per run (default: the directory names)")
    p.add_argument("--out", type=pathlib.Path, required=True, help="the PNG to write")
    args = p.parse_args(argv)
    labels = args.labels or [r.name for r in args.runs]
    if len(labels) != len(args.runs):
        p.error(f"--labels gives {len(labels)} labels for {len(args.runs)} runs; give one per run")
    fig = Figure(figsize=(7, 4.5), dpi=110)
    ax = fig.add_subplot()
    for path, label in zip(args.runs, labels):
        run = read_run(path)
        line, = ax.plot(run["epochs"], run["val"], marker="o", ms=3, label=f"{label}: validation")
        ax.plot([run["best"]], [run["test"]], marker="*", ms=12, color=line.get_color(), ls="none",
                label=f"{label}: test {run['test']:.1f} (epoch {run['best']} kept)")
        print(f"{label}: {len(run['epochs'])} epochs, best {run['best']}, validation "
              f"{min(run['val']):.2f}, test {run['test']:.2f}")
    ax.axhline(PAPER_MEDIUM["validation"], color="black", ls=":", label="paper, medium: validation 86.2 (39 epochs)")
    ax.axhline(PAPER_MEDIUM["test"], color="gray", ls="--", label="paper, medium: test 82.7")
    ax.set_yscale("log")  # the first epochs (above 200) and the end (near 80) on one scale
    ax.yaxis.set_major_locator(FixedLocator([70, 80, 90, 100, 120, 150, 200, 250]))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity")
    ax.set_title("Penn Treebank: our runs against Zaremba et al. (2014), medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
