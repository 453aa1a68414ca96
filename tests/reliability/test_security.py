"""A run directory is untrusted input, and nothing outside it is ever read as a path, written or
removed: names read from it, links in it, an earlier run in it, two runs in it at once, and what
killed runs leave behind (unrolled/files.py, unrolled/tasks/rundir.py)."""

import gzip
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from unrolled import data
from unrolled.cli import main
from unrolled.files import load_store, save_store
from unrolled.tasks.forecast.run import run_forecast
from unrolled.tasks.rundir import RunDir

TINY = ["--lookback", "5", "--hidden-size", "4", "--epochs", "1", "--no-progress"]
STORES = ("checkpoints/last.json", "checkpoints/best.json", "model/estimator.json")


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory):
    """The first 300 rows of the bundled S&P 500."""
    path = tmp_path_factory.mktemp("csv") / "tiny.csv"
    with gzip.open(data.path("sp500"), "rt") as f:
        path.write_text("".join(next(f) for _ in range(301)))
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_csv):
    """The --out of a finished one-epoch forecast run; tests change a copy (``run_copy``)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert forecast(tiny_csv, out) == 0
    return out


@pytest.fixture
def run_copy(finished_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out, symlinks=True)
    return out


def forecast(csv, out, *flags) -> int:
    return main(["forecast", "--csv", str(csv), *TINY, "--out", str(out), *flags])


def tree(directory) -> dict:
    """Every path below ``directory``: its bytes, or where a link points (compare before / after)."""
    found = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, directory)
            if os.path.islink(p):
                found[rel] = ("link", os.readlink(p))
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    found[rel] = f.read()
            else:
                found[rel] = "dir"
    return found


def tamper(out, stores, arrays):
    for rel in stores:
        meta = json.loads((out / rel).read_text())
        meta["arrays"] = arrays
        (out / rel).write_text(json.dumps(meta))


def error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("unrolled: error:") and "Traceback" not in err, err
    return err


# -- names read from a run directory ---------------------------------------------------------------
@pytest.mark.parametrize("kind", ["relative", "absolute"])
def test_arrays_named_outside_the_directory_are_never_removed(tiny_csv, run_copy, tmp_path, capsys, kind):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    name = "../../victim.txt" if kind == "relative" else str(victim)
    assert (run_copy / "checkpoints" / name).resolve() == victim.resolve()

    # best.json and estimator.json name the victim: a resumed run saves both over them
    tamper(run_copy, STORES[1:], name)
    assert forecast(tiny_csv, run_copy, "--resume", "--epochs", "2") == 0
    assert victim.read_text() == "keep me"

    # all three: a fresh run is refused, --resume refuses the checkpoint, --overwrite replaces the run
    tamper(run_copy, STORES, name)
    before = tree(run_copy)
    assert forecast(tiny_csv, run_copy) == 2
    assert "holds an earlier run" in error(capsys)
    assert forecast(tiny_csv, run_copy, "--resume") == 2
    assert f"names its arrays {name!r}" in error(capsys)
    assert victim.read_text() == "keep me" and tree(run_copy) == before
    assert forecast(tiny_csv, run_copy, "--overwrite") == 0
    assert victim.read_text() == "keep me"
    for rel in STORES:  # a whole new run: each JSON names its own arrays beside it, and nothing else is left
        meta = json.loads((run_copy / rel).read_text())
        assert (run_copy / rel).parent.joinpath(meta["arrays"]).is_file()
    assert sorted(p.name for p in (run_copy / "checkpoints").iterdir()) == sorted(
        ["best.json", "last.json", json.loads((run_copy / STORES[0]).read_text())["arrays"],
         json.loads((run_copy / STORES[1]).read_text())["arrays"]])


def test_save_store_removes_only_its_own_arrays(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    store = tmp_path / "a" / "b"
    for name in ("../../victim.txt", str(victim), "module-0123abcd.npz/../../../victim.txt"):
        save_store(store, "module", {"w": np.ones(2)}, {}, "F")
        tamper(store, ["module.json"], name)
        save_store(store, "module", {"w": np.zeros(2)}, {}, "F")
        assert victim.read_text() == "keep me"
        assert load_store(store, "module", "F", "m", "fix")[0]["w"].tolist() == [0, 0]


def test_resume_from_another_runs_arrays_is_refused(tiny_csv, run_copy, finished_run, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(finished_run, other)
    theirs = json.loads((other / STORES[0]).read_text())["arrays"]
    other_before = tree(other)

    tamper(run_copy, STORES[:1], f"../../other/checkpoints/{theirs}")
    before = tree(run_copy)
    assert forecast(tiny_csv, run_copy, "--resume") == 2
    assert "checkpoints/last.json names its arrays '../../other/checkpoints/" in error(capsys)
    assert tree(run_copy) == before and tree(other) == other_before

    # the right name, but a link to the other run's arrays: not read either
    shutil.rmtree(run_copy)
    shutil.copytree(finished_run, run_copy)
    ours = run_copy / "checkpoints" / json.loads((run_copy / STORES[0]).read_text())["arrays"]
    ours.unlink()
    ours.symlink_to(other / "checkpoints" / theirs)
    before = tree(run_copy)
    assert forecast(tiny_csv, run_copy, "--resume") == 2
    assert "not a plain file" in error(capsys)
    assert tree(run_copy) == before and tree(other) == other_before


# -- links inside --out are replaced, never written through ---------------------------------------------
def elsewhere(tmp_path, names):
    """A file outside --out per name, with known contents: the targets of the links."""
    targets = {}
    for name in names:
        targets[name] = tmp_path / "elsewhere" / f"target-{name}"
        targets[name].parent.mkdir(exist_ok=True)
        targets[name].write_text(f"precious {name}")
    return targets


def link_all(out, targets):
    out.mkdir(parents=True, exist_ok=True)
    for name, target in targets.items():
        (out / name).symlink_to(target)


def assert_untouched(out, targets):
    for name, target in targets.items():
        assert target.read_text() == f"precious {name}", name
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 0, name


def test_training_outputs_replace_links(tiny_csv, tmp_path, capsys):
    out = tmp_path / "run"
    targets = elsewhere(tmp_path, ["forecast.csv", "loss.png", "forecast.png"])
    link_all(out, targets)
    assert forecast(tiny_csv, out) == 0
    assert_untouched(out, targets)

    # a link at metrics.json marks an earlier run: --overwrite removes the link, not its target
    targets = elsewhere(tmp_path, ["metrics.json"])
    (out / "metrics.json").unlink()
    link_all(out, targets)
    assert forecast(tiny_csv, out, "--overwrite") == 0
    assert_untouched(out, targets)


def test_linked_model_and_checkpoint_directories(tiny_csv, finished_run, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(finished_run, other)
    other_before = tree(other)
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoints").symlink_to(other / "checkpoints", target_is_directory=True)
    (out / "model").symlink_to(other / "model", target_is_directory=True)
    assert forecast(tiny_csv, out) == 2
    assert "holds an earlier run (model/, checkpoints/)" in error(capsys)
    assert forecast(tiny_csv, out, "--resume") == 2
    assert "is a link or not a directory" in error(capsys)
    assert forecast(tiny_csv, out, "--overwrite") == 0
    assert tree(other) == other_before  # the links went, what they pointed to stayed
    assert (out / "model").is_dir() and not (out / "model").is_symlink()
    assert not (out / "checkpoints").is_symlink()


def test_a_model_read_through_a_link_is_refused(finished_run, tmp_path, capsys):
    """Loading (predict, explain, export) reads only the run directory's own files: a model/
    that links elsewhere, or a linked estimator.json, is refused naming it."""
    import unrolled

    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "model").symlink_to(finished_run / "model", target_is_directory=True)
    with pytest.raises(ValueError, match="is a link"):
        unrolled.load(linked)
    copy = tmp_path / "copy"
    shutil.copytree(finished_run / "model", copy)
    (copy / "estimator.json").unlink()
    (copy / "estimator.json").symlink_to(finished_run / "model" / "estimator.json")
    with pytest.raises(ValueError, match="cannot read"):
        unrolled.load(copy)


def test_explain_gradflow_and_predict_replace_links(finished_run, tiny_csv, tmp_path):
    out = tmp_path / "inside"
    targets = elsewhere(tmp_path, ["gates.npz", "gates.json", "gradflow.csv", "gradflow.png", "link.csv"])
    link_all(out, targets)
    assert main(["explain", "--model", str(finished_run), "--start", "1999-06-01", "--end", "1999-06-30",
                 "--csv", str(tiny_csv), "--out", str(out)]) == 0
    assert main(["gradflow", "--lags", "4", "--hidden-size", "3", "--cells", "rnn", "--clip-steps", "0",
                 "--out", str(out)]) == 0
    assert main(["forecast", "predict", "--model", str(finished_run), "--csv", str(tiny_csv),
                 "--out", str(out / "link.csv")]) == 0
    assert_untouched(out, targets)
    with np.load(out / "gates.npz") as z:
        assert {"x", "labels", "series"} <= set(z.files)


# -- an earlier run in --out ------------------------------------------------------------------------
def test_a_fresh_run_does_not_mix_with_an_earlier_one(tiny_csv, run_copy, tmp_path, capsys):
    (run_copy / "notes.txt").write_text("mine")  # a user's file in --out
    (run_copy / "checkpoints" / "mine.json").write_text("{}")
    before = tree(run_copy)
    assert forecast(tiny_csv, run_copy) == 2
    assert error(capsys).strip() == (
        f"unrolled: error: --out {run_copy} holds an earlier run (metrics.json, model/, checkpoints/); pass "
        "--overwrite to replace it, --resume to continue it, or choose another --out")
    assert tree(run_copy) == before
    assert main(["lm", "train", "--text", str(tiny_csv), "--max-steps", "1", "--out", str(run_copy)]) == 2
    assert "holds an earlier run" in error(capsys) and tree(run_copy) == before

    # --overwrite: the earlier run's files go when the new run starts; the user's stay
    old = {rel: json.loads((run_copy / rel).read_text())["arrays"] for rel in STORES}
    assert forecast(tiny_csv, run_copy, "--overwrite", "--epochs", "2") == 0
    assert (run_copy / "notes.txt").read_text() == "mine" and (run_copy / "checkpoints" / "mine.json").is_file()
    for rel, name in old.items():
        assert not (run_copy / rel).parent.joinpath(name).exists()
    assert json.loads((run_copy / "metrics.json").read_text())["config"]["epochs"] == 2
    assert len(json.loads((run_copy / STORES[0]).read_text())["history"]) == 2  # the new run's checkpoint

    # an --out holding no run (only other files) is used as it is
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("mine")
    assert forecast(tiny_csv, plain) == 0 and (plain / "notes.txt").read_text() == "mine"


def test_resume_and_overwrite_are_exclusive(tiny_csv, run_copy, capsys):
    before = tree(run_copy)
    assert forecast(tiny_csv, run_copy, "--resume", "--overwrite") == 2
    assert "pass one of them" in error(capsys) and tree(run_copy) == before
    with pytest.raises(ValueError, match="pass one of them"):
        run_forecast(tiny_csv, out=run_copy, resume=True, overwrite=True)


# -- one run at a time ------------------------------------------------------------------------------
HOLD = """
import sys, time
from unrolled.tasks.rundir import RunDir
run = RunDir(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_second_run_on_the_same_out_fails_at_once(tiny_csv, tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        assert forecast(tiny_csv, out) == 2
        err = error(capsys)
        assert f"--out {out} is in use by process {holder.pid} (since " in err
        assert err.rstrip().endswith("); wait for it or choose another --out")
        assert sorted(os.listdir(out)) == [".lock"]  # the second run wrote nothing
    finally:
        holder.communicate("", timeout=30)  # the holder exits: its lock goes with it
    assert forecast(tiny_csv, out) == 0
    with RunDir(out):  # the finished run's lock is free
        pass
    assert not (out / ".lock").exists()  # and its file goes with the last holder


def test_explain_and_gradflow_lock_their_out(finished_run, tiny_csv, tmp_path, capsys):
    out = tmp_path / "inside"
    with RunDir(out):
        assert main(["gradflow", "--lags", "4", "--cells", "rnn", "--clip-steps", "0", "--out", str(out)]) == 2
        assert f"is in use by process {os.getpid()}" in error(capsys)
        assert main(["explain", "--model", str(finished_run), "--csv", str(tiny_csv), "--out", str(out)]) == 2
        assert "is in use" in error(capsys)
        with pytest.raises(ValueError, match="is in use"):
            RunDir(out, training=True)
    assert main(["gradflow", "--lags", "4", "--cells", "rnn", "--clip-steps", "0", "--out", str(out)]) == 0
    assert (out / "gradflow.csv").is_file()
    with RunDir(out):  # the finished command's lock is free (collected, if a reference cycle still held it)
        pass
    assert not (out / ".lock").exists()  # and released with its file at the end of the block


def test_a_killed_runs_lock_does_not_block(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline() == "locked\n"
    holder.kill()
    holder.wait(timeout=30)
    assert (out / ".lock").exists()  # left behind, but no longer held
    with RunDir(out):
        assert (out / ".lock").read_text().split()[0] == str(os.getpid())


# -- what killed runs leave behind ---------------------------------------------------------------------
def test_orphans_are_removed_when_a_run_opens_the_directory(run_copy, tmp_path):
    orphans = [".metrics.json.ab12cd_9.tmp", "model/.estimator.json.k3j4h5g6.tmp", "model/estimator-0badc0de.npz",
               "checkpoints/last-deadbeef.npz", "checkpoints/best-01234567.npz",
               "checkpoints/.last-3f3f3f3f.npz.x1y2z3w4.tmp"]
    kept = ["notes.tmp", ".notes.tmp", "model/other-12345678.npz", "checkpoints/last-deadbeef.npz.bak",
            "checkpoints/last-DEADBEEF.npz", "checkpoints/first-12345678.npz", "sub/.x.abcdefgh.tmp",
            "sub/last-12345678.npz"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".y.abcdefgh.tmp").write_text("not ours")
    (outside / "last-12345678.npz").write_text("not ours")
    (run_copy / "sub").mkdir()
    (run_copy / "linked").symlink_to(outside, target_is_directory=True)
    for rel in orphans + kept:
        (run_copy / rel).write_text("x")
    referenced = tree(run_copy)
    with RunDir(run_copy, training=True, resume=True):
        pass
    after = tree(run_copy)
    assert [rel for rel in orphans if rel in after] == []
    assert {rel: v for rel, v in referenced.items() if rel not in orphans} == after  # all else untouched
    assert sorted(os.listdir(outside)) == [".y.abcdefgh.tmp", "last-12345678.npz"]

    # a store whose JSON does not name one of its own arrays: nothing of it is removed
    (run_copy / "checkpoints" / "last-deadbeef.npz").write_text("x")
    tamper(run_copy, STORES[:1], "../x.npz")
    (run_copy / "model" / "estimator.json").write_text("{not json")
    (run_copy / "model" / "estimator-0badc0de.npz").write_text("x")
    before = tree(run_copy)
    with RunDir(run_copy, training=True, resume=True):
        pass
    assert tree(run_copy) == before


def test_overwrite_removes_exactly_the_files_the_earlier_run_wrote(tmp_path):
    """A task's own outputs (any name written through RunDir.write) are listed in .outputs.json,
    so --overwrite needs no list of every task's file names; a user's files stay."""
    from unrolled.tasks.rundir import RunDir

    with RunDir(tmp_path, training=True) as run:
        run.write_text("metrics.json", "{}")
        run.write_text("a_new_task_output.csv", "x\n1\n")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds an earlier run"):
        RunDir(tmp_path, training=True)
    with RunDir(tmp_path, training=True, overwrite=True) as run:
        assert (tmp_path / "a_new_task_output.csv").exists()  # nothing goes before the run starts
        run.start()
        assert not (tmp_path / "a_new_task_output.csv").exists() and not (tmp_path / "metrics.json").exists()
        assert (tmp_path / "notes.txt").read_text() == "mine"
    with RunDir(tmp_path, training=True, resume=True) as run:  # a resumed run keeps the list
        assert run._written == set()  # the overwriting run wrote nothing yet


def test_a_saved_model_cannot_plant_where_a_later_fit_writes(tmp_path):
    """checkpoint_dir (and progress) describe one run, never a saved model: a model directory
    whose estimator.json names them is refused, so a later fit cannot write outside its --out."""
    import unrolled
    from unrolled.tasks.registry import estimator

    cls = estimator("forecast")
    params, df = cls.contract_example()
    cls(**params).fit(df).save(tmp_path / "model")
    meta_path = tmp_path / "model" / "estimator.json"
    meta = json.loads(meta_path.read_text())
    meta["params"]["checkpoint_dir"] = str(tmp_path / "elsewhere")
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="checkpoint_dir"):
        unrolled.load(tmp_path / "model")
