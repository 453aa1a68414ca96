"""A run's output directory, the same for every task::

    out/metrics.json        the task's numbers + the configuration + the data periods
    out/loss.png            training and validation loss per epoch (and a task's own metric)
    out/model/              the fitted estimator (estimator.json + arrays; ``unrolled.load``)
    out/checkpoints/        the training engine's best / last (``--resume``)
    out/...                 a task's own files (forecast.csv, forecast.png, ...)

The directory is untrusted input and the only place a run touches:

* Every file is written whole or not at all: into a temporary file beside it, then renamed into
  place, so a reader never sees half a file and a link at the destination is replaced, never
  written through. ``model/`` and ``checkpoints/`` must be real directories, not links.
* One run at a time: the directory is locked (``fcntl.flock`` on ``out/.lock``, which names the
  process and when it started) from ``RunDir(...)`` until ``close()``, the end of a ``with``
  block, the object's collection or the process's exit; a second run fails at once, naming the
  first. The kernel drops the lock of a killed process, so a stale ``.lock`` never blocks.
* Under the lock, what killed or failed runs left behind is removed: temporary files
  (``.<name>.<8 chars>.tmp``) in ``out``, ``out/model`` and ``out/checkpoints``, and arrays there
  (``estimator-<8 hex>.npz``, ``best-`` / ``last-<8 hex>.npz``) that their JSON does not name.
  Nothing else, nowhere else (``unrolled.files.remove_orphans``).
* A training run (``training=True``) does not mix with an earlier one: an ``out`` holding
  ``metrics.json``, ``model/`` or ``checkpoints/`` is refused unless ``resume`` (continue it) or
  ``overwrite``. ``overwrite`` removes the earlier run's files when the new run starts
  (``start()``: its checks passed, it is about to train; or its first write): the files it
  wrote through ``write`` (listed in ``out/.outputs.json``), and in ``model/`` and ``checkpoints/`` the stores
  and their temporary files (the directories too, when that empties them; a link there is
  removed, never followed). A user's other files stay. If the new run then fails, the directory
  holds no run, never half of two.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import pathlib
import re
import stat
import weakref

from unrolled.files import TEMP, arrays_pattern, atomic_write, jsonable, read_json, remove_orphans
from unrolled.tasks.base import ESTIMATOR_FILE
from unrolled.tasks.resume import saved_params
from unrolled.train.world import current as current_world

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None

LOCK_FILE = ".lock"
CHECKPOINTS = ("best", "last")  # the engine's checkpoints (unrolled.train.trainer)
RUN_MARKS = ("metrics.json", "model", "checkpoints")  # any of these: out holds an earlier training run
OUTPUTS = ".outputs.json"  # the names a training run wrote in out (RunDir.write): what --overwrite removes
RUN_FILES = ("metrics.json", "loss.png", "forecast.csv", "forecast.png")  # runs written before OUTPUTS existed
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a name OUTPUTS may list: a plain file name in out


class RunDir:
    """``out`` made (or checked) and locked before any work, so that a run cannot fail at its end
    for want of a directory (module docstring); ValueError naming ``--out`` otherwise.

    ``training``: refuse an earlier run unless ``resume`` or ``overwrite``. ``lock=False`` (a
    single file written atomically, such as ``forecast predict --out``): no lock and no cleanup.
    """

    def __init__(self, out, *, training=False, resume=False, overwrite=False, lock=True):
        self.path = pathlib.Path(out)
        self.training, self._written = training, set()
        # Under mpiexec -n K only the main process makes, locks, cleans and writes the directory;
        # the others know its path (a resumed run's checkpoints are read by every process).
        self.follower = not current_world().is_main
        if self.follower:
            self._release = None
            return
        if resume and overwrite:
            raise ValueError("--resume continues the run in --out and --overwrite replaces it; pass one of them")
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"--out {str(self.path)!r} is a file; give a directory to write the results into")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ValueError(f"cannot create the output directory {str(self.path)!r} ({e}); choose another --out") from None
        self._release = weakref.finalize(self, _DirLock(self.path).release) if lock and fcntl else None
        try:
            if training:
                self._check_earlier_run(resume, overwrite)
                if resume:  # the continued run's list of outputs goes on
                    self._written = self._listed_outputs() or set()
            if self._release is not None:  # only under the lock: no one else is writing here
                for d, stores in ((self.path, ()), (self.model, (ESTIMATOR_FILE,)), (self.checkpoints, CHECKPOINTS)):
                    remove_orphans(d, stores)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the lock (also at the end of a ``with`` block, on collection and at exit)."""
        if self._release is not None:
            self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_earlier_run(self, resume: bool, overwrite: bool) -> None:
        found = [m + ("/" if m != "metrics.json" else "") for m in RUN_MARKS if os.path.lexists(self.path / m)]
        odd = [d for d in (self.model, self.checkpoints) if os.path.lexists(d) and (d.is_symlink() or not d.is_dir())]
        if resume:
            if odd:
                raise ValueError(f"{odd[0]} is a link or not a directory; --resume continues a run whose model/ and "
                                 "checkpoints/ are its own directories: choose the run's own --out")
            return
        if not found:
            return
        if not overwrite:
            raise ValueError(f"--out {self.path} holds an earlier run ({', '.join(found)}); pass --overwrite to "
                             "replace it, --resume to continue it, or choose another --out")
        self._earlier = True  # removed by start(), once the new run's own checks have passed

    def start(self) -> None:
        """The new run begins (its checks passed; training is next): with ``overwrite``, the earlier
        run's files go now, so that a run refused by its own checks leaves the earlier one whole.
        Also called by the first ``write``."""
        if self.follower:
            return
        if getattr(self, "_earlier", False):
            try:
                self._remove_earlier_run()
            except OSError as e:
                raise ValueError(f"cannot remove the earlier run in {self.path} ({e}); choose another --out") from None
            self._earlier = False

    def _listed_outputs(self) -> set | None:
        """The names ``OUTPUTS`` lists (plain names only), or None when there is no readable list."""
        try:
            listed = read_json(self.path / OUTPUTS, "a run directory").get("files", [])
        except ValueError:
            return None
        return {n for n in listed if isinstance(n, str) and _PLAIN.fullmatch(n)} if isinstance(listed, list) else None

    def _earlier_outputs(self) -> set:
        """The earlier run's files in out: those ``OUTPUTS`` lists, else (a run from before the
        list) ``RUN_FILES``."""
        listed = self._listed_outputs()
        return set(RUN_FILES) if listed is None else listed | {OUTPUTS}

    def _remove_earlier_run(self) -> None:
        for name in self._earlier_outputs():
            p = self.path / name
            if p.is_symlink() or p.is_file():
                p.unlink()
        for d, stores in ((self.model, (ESTIMATOR_FILE,)), (self.checkpoints, CHECKPOINTS)):
            if d.is_symlink() or (d.exists() and not d.is_dir()):
                d.unlink()  # the link, never what it points to
                continue
            if not d.is_dir():
                continue
            ours = [re.compile(re.escape(s) + r"\.json") for s in stores] + [arrays_pattern(s) for s in stores] + [TEMP]
            for e in os.scandir(d):
                if (e.is_symlink() or e.is_file(follow_symlinks=False)) and any(p.fullmatch(e.name) for p in ours):
                    os.unlink(e.path)
            if not any(d.iterdir()):
                d.rmdir()

    @property
    def model(self) -> pathlib.Path:
        return self.path / "model"

    @property
    def checkpoints(self) -> pathlib.Path:
        return self.path / "checkpoints"

    def write(self, name: str, write) -> pathlib.Path:
        """``write(binary file)`` to ``out/name``, whole or not at all (``unrolled.files.atomic_write``);
        OSError -> ValueError naming --out. Another process than the main one writes nothing."""
        self.start()
        target = self.path / name
        if self.follower:
            return target
        try:
            atomic_write(target, write)
            if self.training and name != OUTPUTS:  # listed, so that --overwrite can remove exactly these
                self._written.add(name)
                files = json.dumps({"files": sorted(self._written)}, indent=1)
                atomic_write(self.path / OUTPUTS, lambda f: f.write(files.encode()))
        except OSError as e:
            raise ValueError(f"cannot write {target} ({e}); choose another --out") from None
        return target

    def save_model(self, estimator) -> pathlib.Path:
        """``estimator.save(out/model)`` from the main process (the others write nothing)."""
        if self.follower:
            return self.model
        try:
            return estimator.save(self.model)
        except OSError as e:
            raise ValueError(f"cannot write the model to {self.model} ({e}); choose another --out") from None

    def write_text(self, name: str, text: str) -> pathlib.Path:
        return self.write(name, lambda f: f.write(text.encode()))

    def write_metrics(self, metrics: dict, estimator=None, data: dict | None = None) -> pathlib.Path:
        """``metrics.json``: the task's numbers, the estimator's configuration and the data periods."""
        record = dict(metrics)
        if estimator is not None:
            record["config"] = {"task": estimator.task, **saved_params(estimator)}
        if data is not None:
            record["data"] = data
        return self.write_text("metrics.json", json.dumps(jsonable(record), indent=2))

    def write_figure(self, name: str, fig) -> pathlib.Path:
        return self.write(name, lambda f: fig.savefig(f, format=pathlib.Path(name).suffix[1:]))

    def write_csv(self, name: str, frame, **kw) -> pathlib.Path:
        return self.write(name, lambda f: frame.to_csv(f, **kw))


class _DirLock:
    """An exclusive, non-blocking ``flock`` on ``directory/.lock``, which holds ``PID TIME``.
    ``release`` removes the file while still holding the lock; a process that opened it before
    then finds, after its own ``flock``, that the name now means another file, and tries again."""

    def __init__(self, directory: pathlib.Path):
        self.path, self.fd = directory / LOCK_FILE, None
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | \
            getattr(os, "O_CLOEXEC", 0)
        for _ in range(20):
            try:
                fd = os.open(self.path, flags, 0o644)
            except OSError as e:
                raise ValueError(f"cannot lock --out {directory} ({self.path}: {e}); remove {self.path} if it is a "
                                 "link, or choose another --out") from None
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise ValueError(f"{self.path} is not a regular file; remove it, or choose another --out")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise ValueError(f"--out {directory} is in use by {_holder(fd)}; wait for it or choose "
                                     "another --out") from None
                try:
                    now = os.stat(self.path, follow_symlinks=False)
                except FileNotFoundError:
                    now = None
            except BaseException:
                os.close(fd)
                raise
            if now is not None and (now.st_ino, now.st_dev) == (st.st_ino, st.st_dev):
                break
            os.close(fd)  # released and removed by its last holder meanwhile: take the new one
        else:
            raise ValueError(f"cannot lock --out {directory}: {self.path} keeps changing; choose another --out")
        since = datetime.datetime.now().isoformat(sep=" ", timespec="seconds")
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {since}\n".encode())
        except BaseException:  # a full disk: no lock held, nothing left open
            os.close(fd)
            raise
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


def _holder(fd: int) -> str:
    """``"process PID (since TIME)"`` from a held lock file, or what is known of it."""
    try:
        pid, since = os.pread(fd, 200, 0).decode().strip().split(" ", 1)
        return f"process {int(pid)} (since {since})"
    except (OSError, ValueError, UnicodeDecodeError):
        return "another process (which has not yet written its id)"


def open_run(out, **kw):
    """``RunDir(out, **kw)`` as a ``with`` block that releases the lock at its end, or a block
    yielding None when there is no ``out`` (a run that writes nothing)."""
    import contextlib

    return contextlib.nullcontext() if out is None else RunDir(out, **kw)


def add_run_flags(parser, outputs: str) -> None:
    """``--out``, ``--resume``, ``--overwrite`` and ``--progress``: the same flags on every training command."""
    import argparse

    parser.add_argument("--out", metavar="DIR", default=None, help=f"directory for {outputs}")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run saved in --out")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the earlier run in --out (its files are removed when this run starts)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar with the running loss (default: only on a terminal)")


def model_dir(path) -> pathlib.Path:
    """The saved estimator in ``path``: the directory itself, or a run directory's ``model/``."""
    path = pathlib.Path(path)
    if not path.is_dir():
        raise ValueError(f"{str(path)!r} is not a directory; give the --out directory of a training run "
                         "(or its model/ subdirectory)")
    for candidate in (path, path / "model"):
        if candidate is not path and candidate.is_symlink():  # a run directory is untrusted: stay inside it
            raise ValueError(f"{str(candidate)!r} is a link, not the model/ directory a training run writes; "
                             "give the model's own directory")
        if (candidate / f"{ESTIMATOR_FILE}.json").is_file():
            return candidate
    raise ValueError(f"no trained model in {str(path)!r}: expected {ESTIMATOR_FILE}.json in it or in its model/; "
                     "give the --out directory of a training run (or its model/ subdirectory)")


def saved_task(path) -> str:
    """The task name recorded in the saved estimator at ``path`` (a model directory)."""
    meta_path = pathlib.Path(path) / f"{ESTIMATOR_FILE}.json"
    task = read_json(meta_path, "a model directory", follow_links=False).get("task")
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
