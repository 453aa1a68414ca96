"""Data parallelism over MPI (``unrolled.train.mpi``): K = 2 processes end where one does, one
console, and a dead process takes the run down in seconds -- from which ``--resume`` continues
to the uninterrupted result. Each test launches ``mpiexec -n 2`` (the extra ``unrolled[mpi]``:
mpi4py and MPICH's launcher); without them they skip."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = pathlib.Path(__file__).parent
MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))

try:
    import mpi4py  # noqa: F401

    HAVE_MPI4PY = True
except ImportError:
    HAVE_MPI4PY = False

pytestmark = pytest.mark.skipif(MPIEXEC is None or not HAVE_MPI4PY,
                                reason='MPI is absent: pip install "unrolled[mpi]" (mpi4py and mpich)')


def _run(*argv, processes=None, timeout=240):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    for name in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        env.pop(name, None)  # a test run under mpiexec itself must not pass that on
    cmd = [MPIEXEC, "-n", str(processes), *argv] if processes else list(argv)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE.parents[1])


def test_two_processes_end_where_one_does(tmp_path):
    """The same global batches: float64 to 1e-12; float32 (the forecaster, the language model, the
    point process, the classifier; validation sharded and its sums reduced) to 1e-6, several times
    the 6e-8 measured (one rounding of the gradient's sum in another order)."""
    one = _run(sys.executable, str(HERE / "equivalence.py"), str(tmp_path / "one"))
    two = _run(sys.executable, str(HERE / "equivalence.py"), str(tmp_path / "two"), processes=2)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert (tmp_path / "two" / "size.txt").read_text() == "2" and (tmp_path / "one" / "size.txt").read_text() == "1"
    for name, bound in (("float64", 1e-12), ("forecaster", 1e-6), ("lm", 1e-6), ("tpp", 1e-6), ("classify", 1e-6)):
        a, b = np.load(tmp_path / "one" / f"{name}.npz"), np.load(tmp_path / "two" / f"{name}.npz")
        assert sorted(a.files) == sorted(b.files)
        gap = max(float(np.max(np.abs(a[k] - b[k]))) for k in a.files)
        assert gap <= bound, (name, gap)


def test_overlapping_the_all_reduce_with_the_backward_changes_nothing(tmp_path, monkeypatch):
    """UNROLLED_MPI_OVERLAP=1: the language model's decoder and recurrent stack are reduced on the
    communication thread while the rest of the backward runs; the weights and validation losses
    end where one process's do, as without it."""
    one = _run(sys.executable, str(HERE / "equivalence.py"), str(tmp_path / "one"), "lm")
    monkeypatch.setenv("UNROLLED_MPI_OVERLAP", "1")
    two = _run(sys.executable, str(HERE / "equivalence.py"), str(tmp_path / "two"), "lm", processes=2)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert (tmp_path / "two" / "overlapped.txt").read_text() == "24"  # 8 steps x (decoder, stack, the rest)
    a, b = np.load(tmp_path / "one" / "lm.npz"), np.load(tmp_path / "two" / "lm.npz")
    assert max(float(np.max(np.abs(a[k] - b[k]))) for k in a.files) <= 1e-6


def test_the_cli_shows_one_console_and_writes_once(tmp_path):
    out = _run(sys.executable, "-m", "unrolled.cli", "forecast", "--epochs", "1", "--hidden-size", "8",
               "--no-progress", "--out", str(tmp_path / "run"), processes=2)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("unrolled: 2 processes (MPI), 1 compute thread(s) each") == 1
    assert out.stdout.count("method                  RMSE") == 1  # the table, from the main process only
    assert (tmp_path / "run" / "metrics.json").is_file() and (tmp_path / "run" / "model" / "estimator.json").is_file()


def test_bad_input_on_every_process_is_one_message_each_and_exit_2(tmp_path):
    out = _run(sys.executable, "-m", "unrolled.cli", "forecast", "--hidden-size", "0", processes=2, timeout=60)
    assert out.returncode != 0 and "unrolled: error: process" in out.stderr and "--hidden-size" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_killed_process_ends_the_run_and_resume_finishes_it(tmp_path):
    whole = _run(sys.executable, str(HERE / "fault.py"), str(tmp_path / "whole"), "0", processes=2)
    assert whole.returncode == 0, whole.stderr
    t0 = time.perf_counter()
    dead = _run(sys.executable, str(HERE / "fault.py"), str(tmp_path / "cut"), "11", processes=2, timeout=60)
    assert time.perf_counter() - t0 < 30 and dead.returncode != 0
    assert "KILLED" in dead.stdout + dead.stderr or "TERMINATION" in dead.stdout + dead.stderr
    assert not (tmp_path / "cut" / "final.npz").exists()
    again = _run(sys.executable, str(HERE / "fault.py"), str(tmp_path / "cut"), "0", "resume", processes=2)
    assert again.returncode == 0, again.stderr
    a, b = np.load(tmp_path / "whole" / "final.npz"), np.load(tmp_path / "cut" / "final.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_a_plain_python_never_imports_mpi4py():
    out = _run(sys.executable, "-c", "import sys, unrolled.cli; from unrolled.train.world import current; "
                                     "print(type(current()).__name__, 'mpi4py' in sys.modules)")
    assert out.stdout.split() == ["SingleProcess", "False"], out.stderr
