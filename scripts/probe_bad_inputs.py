"""Probe the command line with bad input, class by class, and count the probes that end well.

    python scripts/probe_bad_inputs.py                          # the unrolled on the path
    python scripts/probe_bad_inputs.py --src /tmp/before/src    # another checkout (git worktree add)

Each probe runs ``python -m unrolled.cli ...`` in a fresh scratch directory, with a time limit,
and ends in one of: ``clean`` (what the probe asks for: exit 2 with one line
``unrolled: error: ...`` naming the fix, or, for a probe about files, the outside file intact),
``traceback``, ``hang`` (the time limit passed), ``silent`` (exit 0 where the input is bad, or a
file outside --out changed), or ``other`` (any other exit). The classes are those of the
reliability issue: security, silent results, hangs and memory, error handling, messages.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--lookback", "5", "--hidden-size", "4", "--epochs", "1"]  # a forecaster that trains in a second


def _prices(path: pathlib.Path, rows=300, transform=None):
    """The first ``rows`` rows of the bundled S&P 500 as a CSV (optionally rewritten)."""
    with gzip.open(ROOT / "src" / "unrolled" / "data" / "sp500.csv.gz", "rt") as f:
        lines = f.read().splitlines()[: rows + 1]
    if transform:
        lines = transform(lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(args, env, cwd, timeout):
    try:
        p = subprocess.run([sys.executable, "-m", "unrolled.cli", *args], cwd=cwd, env=env, timeout=timeout,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return None, "", ""


def verdict(rc, err, *, want_error=True, outside_ok=True, mention=None):
    if rc is None:
        return "hang"
    if "Traceback" in err:
        return "traceback"
    if not outside_ok:
        return "silent"
    if not want_error:
        return "clean" if rc == 0 else "other"
    if rc == 0:
        return "silent"
    lines = [line for line in err.strip().splitlines() if line.strip()]
    ok = rc == 2 and lines and lines[-1].startswith("unrolled: error:") or (rc == 2 and "usage:" in err)
    if ok and mention and not any(m in err for m in mention):
        return "other"  # an error, but not one that names the fix
    return "clean" if ok else "other"


# -- the probes: (class, name, function(scratch dir) -> (argv, checks)) --------------------------------
def probes():
    out = []

    def probe(cls, name):
        def add(fn):
            out.append((cls, name, fn))
            return fn
        return add

    # security ------------------------------------------------------------------------------------
    for variant in ("relative", "absolute"):
        @probe("security", f"checkpoint JSON names {variant} path outside --out")
        def _(d, variant=variant):
            victim = d / "victim.txt"
            victim.write_text("precious")
            (d / "evil" / "checkpoints").mkdir(parents=True)
            name = "../../victim.txt" if variant == "relative" else str(victim)
            (d / "evil" / "checkpoints" / "last.json").write_text(json.dumps({"arrays": name}))
            argv = ["forecast", "--csv", str(_prices(d / "p.csv")), *TINY, "--out", str(d / "evil")]
            return argv, dict(want_error=None, outside=lambda: victim.exists() and victim.read_bytes() == b"precious")

    @probe("security", "--resume names another run's arrays")
    def _(d):
        csv = _prices(d / "p.csv")
        subprocess.run([sys.executable, "-m", "unrolled.cli", "forecast", "--csv", str(csv), *TINY, "--out",
                        str(d / "other")], env=os.environ.copy(), capture_output=True, timeout=120)
        meta = json.loads((d / "other" / "checkpoints" / "last.json").read_text())
        other = d / "other" / "checkpoints" / meta["arrays"]
        meta["arrays"] = str(other)  # the other run's arrays, by absolute path
        (d / "run" / "checkpoints").mkdir(parents=True)
        (d / "run" / "checkpoints" / "last.json").write_text(json.dumps(meta))
        argv = ["forecast", "--csv", str(csv), *TINY, "--epochs", "2", "--out", str(d / "run"), "--resume"]
        return argv, dict(outside=lambda: other.exists())

    for name in ("forecast.csv", "metrics.json", "loss.png"):
        @probe("security", f"symlink {name} in --out")
        def _(d, name=name):
            target = d / "elsewhere.txt"
            target.write_text("precious")
            (d / "run").mkdir()
            (d / "run" / name).symlink_to(target)
            argv = ["forecast", "--csv", str(_prices(d / "p.csv")), *TINY, "--out", str(d / "run")]
            return argv, dict(want_error=None, outside=lambda: target.read_bytes() == b"precious")

    @probe("security", "a fresh run into an earlier run's --out")
    def _(d):
        run = d / "run"
        (run / "checkpoints").mkdir(parents=True)
        (run / "metrics.json").write_text("{}")
        (run / "checkpoints" / "last.json").write_text("{}")
        return ["forecast", "--csv", str(_prices(d / "p.csv")), *TINY, "--out", str(run)], {}

    # silent results ------------------------------------------------------------------------------
    for w in ("-1", "0"):
        @probe("silent", f"--ma-window {w}")
        def _(d, w=w):
            return ["forecast", "--csv", str(_prices(d / "p.csv")), *TINY, "--ma-window", w], {}

    @probe("silent", "lm train --epochs 0")
    def _(d):
        (d / "t.txt").write_text("To be, or not to be, that is the question.\n" * 50)
        return ["lm", "train", "--text", str(d / "t.txt"), "--epochs", "0"], {}

    @probe("silent", "forecast --lr 1e5 (diverges)")
    def _(d):
        return ["forecast", "--csv", str(_prices(d / "p.csv")), *TINY, "--lr", "1e5"], dict(mention=["learning rate"])

    @probe("silent", "day-first dates, all ambiguous")
    def _(d):
        def dayfirst(lines):
            head, rows = lines[0], lines[1:]
            out = [head]
            for k, row in enumerate(rows[:300]):
                date, rest = row.split(",", 1)
                out.append(f"{(k % 12) + 1:02d}/{(k // 12) % 12 + 1:02d}/20{10 + k // 144:02d},{rest}")
            return out
        return ["forecast", "--csv", str(_prices(d / "p.csv", transform=dayfirst)), *TINY], dict(
            mention=["dayfirst", "--date-format"])

    # hangs and memory ----------------------------------------------------------------------------
    for flag, value in (("--horizon", "10000000"), ("--lookback", "1000000000"), ("--horizon", "100000")):
        @probe("hangs", f"{flag} {value}")
        def _(d, flag=flag, value=value):
            args = [a for a in TINY]
            if flag == "--lookback":
                args = args[2:]
            return ["forecast", "--csv", str(_prices(d / "p.csv")), *args, flag, value], {}

    @probe("hangs", "a FIFO as --csv")
    def _(d):
        os.mkfifo(d / "fifo.csv")
        return ["forecast", "--csv", str(d / "fifo.csv"), *TINY], {}

    @probe("hangs", "a FIFO as explain --weights")
    def _(d):
        os.mkfifo(d / "w.json")
        return ["explain", "--weights", str(d / "w.json")], {}

    @probe("hangs", "explain --weights /dev/zero")
    def _(d):
        return ["explain", "--weights", "/dev/zero"], {}

    # error handling ------------------------------------------------------------------------------
    for suffix in (".zip", ".xz", ".tar", ".zst"):
        @probe("errors", f"a plain CSV named {suffix}")
        def _(d, suffix=suffix):  # read as the CSV it is, or refused naming the fix; never a traceback
            return ["forecast", "--csv", str(_prices(d / f"p{suffix}")), *TINY], dict(want_error=None)

    @probe("errors", "an unwritable --out")
    def _(d):
        return ["forecast", "--csv", str(_prices(d / "p.csv")), *TINY, "--out", "/proc/unrolled-probe"], {}

    @probe("errors", "out/model is a file")
    def _(d):
        (d / "run").mkdir()
        (d / "run" / "model").write_text("not a directory")
        return ["forecast", "--csv", str(_prices(d / "p.csv")), *TINY, "--out", str(d / "run")], {}

    @probe("errors", "--hidden-size 1000000")
    def _(d):
        return ["forecast", "--csv", str(_prices(d / "p.csv")), "--lookback", "5", "--epochs", "1",
                "--hidden-size", "1000000"], {}

    @probe("errors", "gradflow --lags 100000")
    def _(d):
        return ["gradflow", "--lags", "100000", "--clip-steps", "0"], {}

    @probe("errors", "a 5000-character path")
    def _(d):
        return ["forecast", "--csv", "/" + "a" * 5000 + ".csv", *TINY], {}

    for damage in ("no params", "garbage arrays", "deep JSON"):
        @probe("errors", f"tampered model: {damage}")
        def _(d, damage=damage):
            csv = _prices(d / "p.csv")
            subprocess.run([sys.executable, "-m", "unrolled.cli", "forecast", "--csv", str(csv), *TINY, "--out",
                            str(d / "run")], env=os.environ.copy(), capture_output=True, timeout=120)
            model = d / "run" / "model"
            meta_path = next((p for p in model.glob("*.json")), None)
            if meta_path is not None:
                meta = json.loads(meta_path.read_text())
                if damage == "no params":
                    meta.pop("params", None)
                    meta_path.write_text(json.dumps(meta))
                elif damage == "garbage arrays":
                    (model / meta["arrays"]).write_bytes(b"not a zip file")
                else:
                    meta_path.write_text("[" * 100000 + "]" * 100000)
            return ["forecast", "predict", "--model", str(d / "run"), "--csv", str(csv)], {}

    # messages ------------------------------------------------------------------------------------
    @probe("messages", "--lr inf names the flag")
    def _(d):
        return ["forecast", "--csv", str(_prices(d / "p.csv")), *TINY, "--lr", "inf"], dict(mention=["lr"])

    @probe("messages", "--seed -1 names the flag")
    def _(d):
        return ["forecast", "--csv", str(_prices(d / "p.csv")), *TINY, "--seed", "-1"], dict(mention=["seed"])

    @probe("messages", "a semicolon CSV names the separator")
    def _(d):
        csv = _prices(d / "p.csv", transform=lambda lines: [line.replace(",", ";") for line in lines])
        return ["forecast", "--csv", str(csv), *TINY], dict(want_error=None, mention=["--sep", "separator"])

    @probe("messages", "a UTF-16 text for lm train")
    def _(d):
        (d / "t.txt").write_text("To be, or not to be, that is the question.\n" * 200, encoding="utf-16")
        return ["lm", "train", "--text", str(d / "t.txt"), "--max-steps", "1"], dict(want_error=None,
                                                                                  mention=["--encoding", "UTF-16"])

    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", help="the src/ folder of another checkout (default: the unrolled installed)")
    p.add_argument("--timeout", type=float, default=60, help="seconds before a probe counts as a hang (default 60)")
    p.add_argument("--only", help="run only the probes whose class or name contains this text")
    args = p.parse_args(argv)
    if args.src:  # the probes' own set-up runs (a model to tamper with) use it too
        os.environ["PYTHONPATH"] = str(pathlib.Path(args.src).resolve())
    env = os.environ.copy()
    counts: dict[str, Counter] = {}
    for cls, name, make in probes():
        if args.only and args.only not in cls and args.only not in name:
            continue
        d = pathlib.Path(tempfile.mkdtemp(prefix="probe-"))
        try:
            argv_, checks = make(d)
            rc, _, err = _run(argv_, env, d, args.timeout)
            outside = checks.get("outside", lambda: True)()
            want = checks.get("want_error", True)
            if want is None:  # either a clean error or a run that leaves everything outside --out intact
                v = verdict(rc, err, want_error=rc != 0, outside_ok=outside, mention=checks.get("mention"))
                if rc == 0 and "mention" in checks:
                    v = "clean"  # accepted the input (and read it right) instead of refusing it
            else:
                v = verdict(rc, err, want_error=want, outside_ok=outside, mention=checks.get("mention"))
        finally:
            shutil.rmtree(d, ignore_errors=True)
        counts.setdefault(cls, Counter())[v] += 1
        last = (err.strip().splitlines() or [""])[-1][:110]
        print(f"{cls:<9} {v:<9} {name:<48} {last}", flush=True)
    print()
    print(f"{'class':<9} {'probes':>6} {'clean':>6} {'traceback':>9} {'hang':>5} {'silent':>6} {'other':>6}")
    for cls, c in counts.items():
        print(f"{cls:<9} {sum(c.values()):>6} {c['clean']:>6} {c['traceback']:>9} {c['hang']:>5} {c['silent']:>6} "
              f"{c['other']:>6}")


if __name__ == "__main__":
    main()
