"""A run's output directory, the same for every task::

    out/metrics.json        the task's numbers + the configuration + the data periods
    out/loss.png            training and validation loss per epoch (and a task's own metric)
    out/model/              the fitted estimator (estimator.json + arrays; ``unrolled.load``)
    out/checkpoints/        the training engine's best / last (``--resume``)
    out/...                 a task's own files (forecast.csv, forecast.png, ...)

Every file is written whole or not at all: into a temporary file beside it, then renamed into
place, so a reader never sees half a file and a link at the destination is replaced, never
written through.
"""

from __future__ import annotations

import json
import math
import pathlib

from unrolled.files import atomic_write, read_json
from unrolled.tasks.base import ESTIMATOR_FILE, jsonable


class RunDir:
    """``out`` made (or checked) before any work, so that a run cannot fail at its end for want
    of a directory; ValueError naming ``--out`` otherwise."""

    def __init__(self, out):
        self.path = pathlib.Path(out)
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"--out {str(self.path)!r} is a file; give a directory to write the results into")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ValueError(f"cannot create the output directory {str(self.path)!r} ({e}); choose another --out") from None

    @property
    def model(self) -> pathlib.Path:
        return self.path / "model"

    @property
    def checkpoints(self) -> pathlib.Path:
        return self.path / "checkpoints"

    def write(self, name: str, write) -> pathlib.Path:
        """``write(binary file)`` to ``out/name``, whole or not at all (``unrolled.files.atomic_write``);
        OSError -> ValueError naming --out."""
        target = self.path / name
        try:
            return atomic_write(target, write)
        except OSError as e:
            raise ValueError(f"cannot write {target} ({e}); choose another --out") from None

    def write_text(self, name: str, text: str) -> pathlib.Path:
        return self.write(name, lambda f: f.write(text.encode()))

    def write_metrics(self, metrics: dict, estimator=None, data: dict | None = None) -> pathlib.Path:
        """``metrics.json``: the task's numbers, the estimator's configuration and the data periods."""
        record = dict(metrics)
        if estimator is not None:
            record["config"] = {"task": estimator.task, **{k: v for k, v in estimator.get_params().items()
                                                          if k not in ("checkpoint_dir", "progress")}}
        if data is not None:
            record["data"] = data
        return self.write_text("metrics.json", json.dumps(jsonable(record), indent=2))

    def write_figure(self, name: str, fig) -> pathlib.Path:
        return self.write(name, lambda f: fig.savefig(f, format=pathlib.Path(name).suffix[1:]))

    def write_csv(self, name: str, frame, **kw) -> pathlib.Path:
        return self.write(name, lambda f: frame.to_csv(f, **kw))


def add_run_flags(parser, outputs: str) -> None:
    """``--out``, ``--resume`` and ``--progress``: the same three flags on every training command."""
    import argparse

    parser.add_argument("--out", metavar="DIR", default=None, help=f"directory for {outputs}")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run saved in --out")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar with the running loss (default: only on a terminal)")


def model_dir(path) -> pathlib.Path:
    """The saved estimator in ``path``: the directory itself, or a run directory's ``model/``."""
    path = pathlib.Path(path)
    if not path.is_dir():
        raise ValueError(f"{str(path)!r} is not a directory; give the --out directory of a training run "
                         "(or its model/ subdirectory)")
    for candidate in (path, path / "model"):
        if (candidate / f"{ESTIMATOR_FILE}.json").is_file():
            return candidate
    raise ValueError(f"no trained model in {str(path)!r}: expected {ESTIMATOR_FILE}.json in it or in its model/; "
                     "give the --out directory of `unrolled forecast` or `unrolled lm train`")


def saved_task(path) -> str:
    """The task name recorded in the saved estimator at ``path`` (a model directory)."""
    meta_path = pathlib.Path(path) / f"{ESTIMATOR_FILE}.json"
    task = read_json(meta_path, "a model directory").get("task")
    if not isinstance(task, str):
        raise ValueError(f"{meta_path} names no task; point to a model directory written by unrolled")
    return task


def plot_history(history: list[dict], best_epoch=None, *, ylabel="loss", metric=None, metric_label=None,
                 baseline=None):
    """Training and validation loss per epoch, a line at the best epoch (the one kept); with
    ``metric`` (a history key such as ``"val_perplexity"``) a second panel; ``baseline`` =
    (label, loss) draws another model's validation level on both (``exp`` on the second).
    Returns the matplotlib Figure (``RunDir.write_figure`` saves it)."""
    from matplotlib.figure import Figure  # no pyplot: no global backend to set

    fig = Figure(figsize=(10, 4) if metric else (6, 4), dpi=110)
    axes = list(fig.subplots(1, 2)) if metric else [fig.add_subplot()]
    epochs = [r["epoch"] for r in history]
    loss_ax = axes[0]
    loss_ax.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train")
    if history and "val_loss" in history[0]:
        loss_ax.plot(epochs, [r["val_loss"] for r in history], marker="o", label="validation")
    if metric:
        axes[1].plot(epochs, [r[metric] for r in history], marker="o", color="tab:green")
    if baseline is not None:
        label, loss = baseline
        loss_ax.axhline(loss, color="tab:red", ls=":", label=f"{label} (validation)")
        if metric:
            axes[1].axhline(math.exp(loss), color="tab:red", ls=":", label=f"{label} (validation)")
            axes[1].legend()
    for ax, label in zip(axes, (ylabel, metric_label or metric)):
        if best_epoch:
            ax.axvline(best_epoch, color="gray", ls="--", lw=1, label=f"best (epoch {best_epoch}), kept")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if not metric:
        loss_ax.set_title("loss curves")
    loss_ax.legend()
    fig.tight_layout()
    return fig
