"""The thread policy (``unrolled.fast.threads``, ``unrolled.fast.cores``): the library picks one or
two compute threads at every layer call from the cores other programs leave free, a setting fixes
the count, and the numbers do not depend on the choice."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from unrolled import cli
from unrolled.fast import cores, threads
from unrolled.fast.kernels import _blas
from unrolled.nn.recurrent import make_layer

TWO = _blas.CAN_HOLD and threads.THREADS >= 2


@pytest.fixture
def policy(monkeypatch):
    """Restore the policy after the test; split every job that two threads may take."""
    monkeypatch.setattr(threads, "_chosen", threads._chosen)
    monkeypatch.setattr(threads, "THREADS", threads.THREADS)
    monkeypatch.setattr(threads, "MIN_WORK", 0)
    monkeypatch.setattr(threads, "MIN_ROWS", 1)
    before = _blas._get_threads() if _blas.CAN_HOLD else None
    yield monkeypatch
    if before is not None:
        _blas.set_threads(before)


def _train_steps(dtype):
    """Outputs, final states and every gradient of a 2-layer bidirectional LSTM after a forward
    and backward on a batch of 8 (wide enough to split)."""
    m = make_layer("lstm", 5, 16, num_layers=2, bidirectional=True, dtype=dtype, seed=3)
    r = np.random.default_rng(4)
    x = r.standard_normal((12, 8, 5)).astype(dtype)
    y, (h, c) = m(x)
    dx, _ = m.backward(r.standard_normal(y.shape).astype(dtype))
    return [y, h, c, dx] + [g.copy() for g in m.grads.values()]


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_the_numbers_do_not_depend_on_the_thread_setting(policy, dtype, tol):
    if not TWO:
        pytest.skip("no BLAS thread control or a single core here")
    runs = {}
    for name, setting, free in (("one", 1, None), ("two", 2, None), ("auto, quiet", None, 2.0),
                                ("auto, busy", None, 0.6)):
        threads.set_threads(setting)
        if free is not None:
            policy.setattr(cores, "free", lambda free=free: free)
        runs[name] = _train_steps(dtype)
    for name, arrays in runs.items():
        for a, b in zip(runs["one"], arrays):
            assert np.allclose(a, b, rtol=tol, atol=tol), name


def test_the_policy_follows_the_free_cores(policy):
    if not TWO:
        pytest.skip("no BLAS thread control or a single core here")
    threads.set_threads(None)
    policy.setattr(cores, "free", lambda: 2.0)
    assert threads.threads_now() == 2 and threads.wide(8, 1e9) and threads.apart(1e9)
    policy.setattr(cores, "free", lambda: 1.1)  # another program holds most of a core
    assert threads.threads_now() == 1 and not threads.wide(8, 1e9) and not threads.apart(1e9)
    seen = []
    real = threads.matmul
    policy.setattr(threads, "matmul", lambda *a, **k: seen.append("split") or real(*a, **k))
    a = np.ones((64, 32), dtype=np.float32)
    with threads.held(False):
        assert _blas._get_threads() == 1  # BLAS's second thread would wait for the busy core too
    threads.dot(a, a.T)
    assert seen == []
    threads.set_threads(2)  # a fixed count is kept, whatever the load
    assert threads.threads_now() == 2 and threads.wide(8, 1e9)
    threads.dot(a, a.T)
    assert seen == ["split"]


def test_one_thread_then_two_gives_blas_its_threads_back(policy):
    if not TWO:
        pytest.skip("no BLAS thread control or a single core here")
    threads.set_threads(1)
    assert _blas._get_threads() == 1
    threads.set_threads(None)
    assert _blas._get_threads() == _blas.DEFAULT


def test_set_threads_takes_numpy_integers(policy):
    threads.set_threads(np.int64(1))
    assert threads.threads_now() == 1 and threads._chosen == 1


def test_set_threads_checks_its_argument():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="whole number >= 1"):
            threads.set_threads(bad)


@pytest.mark.skipif(cores.CORES < 2 or cores._last is None, reason="needs two cores and /proc/stat")
def test_free_cores_see_another_program():
    """A program spinning on one core for 1.5 s: the measured free cores drop by most of one."""
    spin = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 1.5: pass"])
    try:
        time.sleep(0.3)
        cores.free()  # starts a window
        time.sleep(cores.WINDOW + 0.3)
        assert cores.free() <= cores.CORES - 0.6
    finally:
        spin.kill()
        spin.wait()


def test_the_cli_takes_threads_after_any_command_and_checks_it(monkeypatch, capsys):
    assert cli._threads_flag(["forecast", "--threads", "1", "--epochs", "2"]) == (1, ["forecast", "--epochs", "2"])
    assert cli._threads_flag(["lm", "train"]) == (None, ["lm", "train"])
    assert cli.main(["forecast", "--threads", "0"]) == 2
    assert "--threads 0 is invalid" in capsys.readouterr().err
    assert cli.main(["forecast", "--threads", "\u00b2"]) == 2  # a superscript two is a digit to str.isdigit
    assert "is invalid" in capsys.readouterr().err
    monkeypatch.setenv("UNROLLED_NUM_THREADS", "two")
    assert cli.main(["forecast"]) == 2
    assert "UNROLLED_NUM_THREADS='two' is invalid" in capsys.readouterr().err
