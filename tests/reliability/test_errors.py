"""Bad input and interruptions end in one line ``unrolled: error: ...`` naming the fix, exit 2 (130 for
Ctrl-C, 141 for a closed pipe), never a traceback and never a hang (src/unrolled/cli.py's policy)."""

import errno
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import unrolled.train.trainer as engine
from unrolled.cli import main
from unrolled.nn.layers import Linear
from unrolled.train import TrainConfig, Trainer
from unrolled.train.checkpoint import load_checkpoint

VERSE = ("Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n"
         "Rough winds do shake the darling buds of May,\nAnd summer's lease hath all too short a date;\n") * 6
TINY = ["--hidden-size", "8", "--num-layers", "1", "--embedding-dim", "4", "--seq-len", "8", "--batch-size", "4",
        "--dropout", "0.1", "--ngram-order", "0"]


@pytest.fixture
def verse(tmp_path):
    path = tmp_path / "verse.txt"
    path.write_text(VERSE)
    return path


def fails(capsys, argv, *fixes, code=2):
    """Run ``argv``; assert its exit status and one line ``unrolled: ...`` holding every fix."""
    capsys.readouterr()
    assert main([str(a) for a in argv]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("unrolled: error: " if code == 2 else "unrolled: "), err
    for fix in fixes:
        assert fix in err, err
    return err


def run_cli(*argv, stdin=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "unrolled.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout)


# -- OSError: the file, the flag that gave it, the fix -----------------------------------------------
def test_a_path_too_long_names_the_flag_and_stays_one_line(verse, tmp_path, capsys):
    long = "a" * 5000
    err = fails(capsys, ["lm", "train", "--text", verse, *TINY, "--max-steps", "1", "--out", tmp_path / long],
                "File name too long", "use a shorter path", "--out")
    assert len(err) < 600  # the path is cut, not printed whole
    fails(capsys, ["lm", "train", "--text", tmp_path / long, *TINY], "cannot read the text file")


def test_a_full_disk_while_checkpointing_names_the_file_and_the_fix(verse, tmp_path, capsys, monkeypatch):
    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(engine, "save_checkpoint", full)
    fails(capsys, ["lm", "train", "--text", verse, *TINY, "--max-steps", "2", "--out", tmp_path / "run"],
          "run/checkpoints/best.json: No space left on device; free some space", "(given by --out)")


# -- MemoryError, OverflowError, RecursionError: sizes checked first, the rest named ------------------
def test_an_absurd_hidden_size_is_refused_before_anything_is_allocated(capsys):
    fails(capsys, ["lm", "train", "--hidden-size", "1000000"], "MAX_PARAMETERS", "--hidden-size")


def test_out_of_memory_elsewhere_is_one_line_naming_the_size_flags(capsys, monkeypatch):
    # every task checks its stack's size before building it (TaskEstimator._check_together) ...
    fails(capsys, ["forecast", "--hidden-size", "1000000", "--epochs", "1", "--no-progress"], "MAX_PARAMETERS",
          "--hidden-size")
    # ... and a MemoryError that still reaches main is one line naming the size flags given
    import unrolled.tasks.forecast.run as run

    def out_of_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(run, "run_forecast", out_of_memory)
    fails(capsys, ["forecast", "--hidden-size", "512", "--epochs", "1", "--no-progress"], "out of memory",
          "use smaller sizes for --hidden-size")


def test_absurd_lengths_and_lags_name_their_limits(tmp_path, capsys):
    fails(capsys, ["lm", "sample", "--model", tmp_path, "--length", str(10**12)], "--length", "MAX_LENGTH")
    fails(capsys, ["gradflow", "--lags", "100000"], "--lags 100000", "MAX_LAGS")
    fails(capsys, ["gradflow", "--lags", "3", "--hidden-size", "100000"], "MAX_JACOBIAN_ENTRIES",
          "--hidden-size <= 1,672")
    fails(capsys, ["gradflow", "--clip-steps", str(10**9)], "--clip-steps", "MAX_CLIP_STEPS")


def test_overflow_and_deep_recursion_reaching_main_are_one_line(capsys, monkeypatch):
    import unrolled.inside.trace as trace

    def overflow(*_a, **_k):
        raise OverflowError("math range error")

    monkeypatch.setattr(trace, "explain", overflow)
    fails(capsys, ["explain", "--decimals", "3"], "a number grew too large", "--decimals")


def test_deeply_nested_json_is_named(tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    fails(capsys, ["explain", "--weights", deep, "--input", deep], "--weights", "nested too deeply")


def test_a_bug_keeps_its_traceback(monkeypatch):
    import unrolled.inside.trace as trace

    def bug(*_a, **_k):
        return {}["missing"]

    monkeypatch.setattr(trace, "explain", bug)
    with pytest.raises(KeyError):
        main(["explain"])


# -- Ctrl-C -----------------------------------------------------------------------------------------
def train(verse, out, *extra):
    return main(["lm", "train", "--text", str(verse), *TINY, "--max-steps", "12", "--eval-every", "5",
                 "--out", str(out), *extra])


def same_run(a, b):
    """Two run directories hold the same history and the same weights."""
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert ma["history"] == mb["history"] and ma["steps"] == mb["steps"] == 12
    za, zb = (np.load(d / "model" / json.loads((d / "model" / "estimator.json").read_text())["arrays"]) for d in (a, b))
    assert sorted(za.files) == sorted(zb.files)
    assert all(np.array_equal(za[k], zb[k]) for k in za.files)


@pytest.fixture
def ctrl_c():
    """Python's own SIGINT handler for the test: a shell that starts the suite in the background
    hands it SIGINT ignored, and the engine leaves a handler it did not expect alone."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_ctrl_c_saves_at_the_step_boundary_and_resume_continues_exactly(verse, tmp_path, capsys, monkeypatch,
                                                                        ctrl_c):
    assert train(verse, tmp_path / "whole") == 0
    step = engine.Trainer._step

    def interrupted_at_7(self, *a):
        loss = step(self, *a)
        if self.steps == 7:
            signal.raise_signal(signal.SIGINT)  # a real Ctrl-C, in the middle of the second epoch
        return loss

    monkeypatch.setattr(engine.Trainer, "_step", interrupted_at_7)
    out = tmp_path / "cut"
    err = fails(capsys, ["lm", "train", "--text", verse, *TINY, "--max-steps", "12", "--eval-every", "5",
                         "--out", out], f"interrupted; resume with --resume --out {out}", "step 7", code=130)
    assert "error" not in err
    _, meta = load_checkpoint(out / "checkpoints", "last")
    assert meta["steps"] == 7 and meta["epoch"] == 1 and meta["partial"]["count"] == 2
    assert not (out / "metrics.json").exists()
    monkeypatch.setattr(engine.Trainer, "_step", step)
    assert train(verse, out, "--resume") == 0
    same_run(out, tmp_path / "whole")


def test_ctrl_c_raised_inside_a_step_keeps_the_last_epoch_and_resumes_exactly(verse, tmp_path, capsys,
                                                                               monkeypatch):
    assert train(verse, tmp_path / "whole") == 0
    step = engine.Trainer._step

    def torn_at_8(self, *a):
        if self.steps == 8:
            raise KeyboardInterrupt  # mid-step: nothing of it may be saved
        return step(self, *a)

    monkeypatch.setattr(engine.Trainer, "_step", torn_at_8)
    out = tmp_path / "cut"
    fails(capsys, ["lm", "train", "--text", verse, *TINY, "--max-steps", "12", "--eval-every", "5", "--out", out],
          "resume with --resume --out", "from step 5", code=130)
    assert load_checkpoint(out / "checkpoints", "last")[1]["steps"] == 5
    monkeypatch.setattr(engine.Trainer, "_step", step)
    assert train(verse, out, "--resume") == 0
    same_run(out, tmp_path / "whole")


def test_ctrl_c_elsewhere_is_one_line_and_130(capsys, monkeypatch):
    import unrolled.inside.trace as trace

    def ctrl_c(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(trace, "explain", ctrl_c)
    assert fails(capsys, ["explain"], code=130).strip() == "unrolled: interrupted"


def test_a_damaged_checkpoint_is_named_not_a_traceback(verse, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(verse, out) == 0
    path = out / "checkpoints" / "last.json"
    meta = json.loads(path.read_text())
    meta["history"] = 5
    path.write_text(json.dumps(meta))
    fails(capsys, ["lm", "train", "--text", verse, *TINY, "--max-steps", "20", "--eval-every", "5", "--out", out,
                   "--resume"], "checkpoints/last.json is damaged or was edited")


# -- a closed pipe ------------------------------------------------------------------------------------
def test_a_closed_pipe_exits_quietly_with_141():
    p = subprocess.Popen([sys.executable, "-m", "unrolled.cli", "explain"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before the first line: `unrolled explain | head -0`
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 141
    assert err == "", err


# -- a diverged run -----------------------------------------------------------------------------------
def linear_task(blow_up_at):
    """A Linear model whose gradient turns infinite at optimizer step ``blow_up_at``."""
    model = Linear(2, 1, seed=0)
    calls = {"n": 0}

    def step(_batch):
        calls["n"] += 1
        for g in model.grads.values():
            g[...] = np.inf if calls["n"] >= blow_up_at else 0.1
        return 1.0

    return model, step


def test_non_finite_parameters_stop_the_run_and_the_checkpoints_keep_the_last_good_epoch(tmp_path):
    model, step = linear_task(blow_up_at=5)
    config = TrainConfig(optimizer="sgd", lr=0.1, clip_norm=None, epochs=None, max_steps=9, eval_every=3,
                         patience=None, shuffle=False, progress=False)
    with pytest.raises(ValueError, match=r"made weight nan/inf in epoch 2 \(step 5\); lower the learning rate.*"
                                         r"'last' keeps step 3"):
        Trainer(model, config, checkpoint_dir=tmp_path).fit(lambda _rng: range(9), step, lambda: 1.0)
    for name in ("best", "last"):
        arrays, meta = load_checkpoint(tmp_path, name)
        assert meta["steps"] == 3 and all(np.isfinite(a).all() for a in arrays.values())


@pytest.mark.parametrize("validation, message", [
    (float("nan"), "the validation loss became nan in epoch 2"),
    (OverflowError("math range error"), "the validation loss overflowed"),
])
def test_a_non_finite_validation_loss_stops_before_its_checkpoint(tmp_path, validation, message):
    model, step = linear_task(blow_up_at=10**9)
    losses = iter([1.0, validation])

    def validate():
        v = next(losses)
        if isinstance(v, Exception):
            raise v
        return v

    config = TrainConfig(optimizer="sgd", lr=0.1, epochs=3, patience=None, shuffle=False, progress=False)
    with pytest.raises(ValueError, match=message):
        Trainer(model, config, checkpoint_dir=tmp_path).fit(lambda _rng: range(3), step, validate)
    assert load_checkpoint(tmp_path, "last")[1]["epoch"] == 1


def test_a_huge_learning_rate_stops_with_the_engines_message(verse, tmp_path, capsys):
    out = tmp_path / "run"
    fails(capsys, ["lm", "train", "--text", verse, *TINY, "--max-steps", "6", "--eval-every", "3", "--lr", "1e10",
                   "--optimizer", "sgd", "--out", out], "lower the learning rate (lr=1e+10)")
    fails(capsys, ["lm", "train", "--text", verse, *TINY, "--lr", "inf"], "--lr", "lr=inf is invalid")


# -- text files: encodings, binaries, FIFOs and devices ---------------------------------------------
def test_text_in_another_encoding_is_read_by_its_bom_or_named_with_encoding(tmp_path, capsys):
    run = tmp_path / "run"
    (tmp_path / "utf16.txt").write_text(VERSE, encoding="utf-16")
    assert main(["lm", "train", "--text", str(tmp_path / "utf16.txt"), *TINY, "--max-steps", "2",
                 "--out", str(run)]) == 0
    latin = tmp_path / "latin.txt"
    latin.write_text(VERSE.replace("summer", "sümmer"), encoding="latin-1")
    fails(capsys, ["lm", "train", "--text", latin, *TINY, "--max-steps", "2"], "not valid UTF-8",
          "--encoding latin-1")
    for cmd in (["lm", "train", "--text", latin, *TINY, "--max-steps", "2"],
                ["lm", "ngram", "--text", latin, "--order", "2"], ["lm", "score", "--model", run, "--text", latin]):
        capsys.readouterr()
        assert main([str(a) for a in cmd] + ["--encoding", "latin-1"]) == 0
    assert repr(str(latin))[:40] in capsys.readouterr().out.splitlines()[1]  # the scored file, shown by its name
    fails(capsys, ["lm", "score", "--model", run, "--text", latin, "--encoding", "klingon"], "--encoding 'klingon'")
    (tmp_path / "bin").write_bytes(b"\x7fELF\x00\x01" * 100)
    fails(capsys, ["lm", "train", "--text", tmp_path / "bin"], "looks binary", "--encoding")


def test_fifos_and_devices_are_refused_at_once(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for argv, fix in [(["explain", "--weights", fifo, "--input", fifo], "--weights"),
                      (["explain", "--weights", "/dev/zero", "--input", "/dev/zero"], "--weights"),
                      (["lm", "train", "--text", fifo], "not a file"),
                      (["lm", "ngram", "--text", "/dev/zero"], "not a file")]:
        r = run_cli(*argv, timeout=60)  # a hang fails here instead of blocking the suite
        assert r.returncode == 2 and fix in r.stderr and "Traceback" not in r.stderr, r.stderr


# -- checks made before training ----------------------------------------------------------------------
def test_checks_that_need_no_training_come_first(verse, tmp_path, capsys):
    out = tmp_path / "run"
    fails(capsys, ["lm", "train", "--text", verse, *TINY[:-2], "--ngram-order", "100", "--out", out],
          "--ngram-order 100 with V=", "use --ngram-order <= ")
    assert not (out / "checkpoints").exists()  # refused before any training
    fails(capsys, ["lm", "train", "--text", verse, *TINY[:-2], "--ngram-order", "-3"], "--ngram-order -3")


@pytest.mark.parametrize("argv", [
    ["lm", "train", "--seed", "-1"],
    ["lm", "sample", "--model", ".", "--seed", "-1"],
    ["demo", "--seed", "-1"],
    ["gradflow", "--seed", "-1", "--clip-steps", "0"],
])
def test_a_negative_seed_names_the_flag(argv, capsys):
    fails(capsys, argv, "--seed", "whole number >= 0")


# -- progress without a terminal ----------------------------------------------------------------------
def test_training_off_a_terminal_logs_a_line_every_log_every_steps(verse, tmp_path, capsys):
    capsys.readouterr()
    assert main(["lm", "train", "--text", str(verse), *TINY, "--max-steps", "100", "--eval-every", "50",
                 "--out", str(tmp_path / "a")]) == 0
    lines = [s for s in capsys.readouterr().err.splitlines() if s.startswith("step ")]
    assert len(lines) == 1 and lines[0].startswith("step 100  (epoch 2, 50/50)  loss ") and "steps/s" in lines[0]
    assert main(["lm", "train", "--text", str(verse), *TINY, "--max-steps", "100", "--eval-every", "50",
                 "--no-progress"]) == 0
    assert "step 100" not in capsys.readouterr().err  # --no-progress is quiet


def test_the_engine_logs_tokens_per_second_when_told_them(capsys):
    model, step = linear_task(blow_up_at=10**9)
    config = TrainConfig(optimizer="sgd", epochs=1, log_every=2, tokens_per_step=40, shuffle=False, patience=None)
    Trainer(model, config).fit(lambda _rng: range(5), step)
    lines = capsys.readouterr().err.splitlines()
    assert [s.split("  ")[0] for s in lines] == ["step 2", "step 4"] and "tokens/s" in lines[0]
