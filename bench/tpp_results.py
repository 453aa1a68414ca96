"""The temporal point processes' results table: ``unrolled tpp train`` with its defaults on every
data set -- the two real ones and the six synthetic processes with a known intensity -- each
model and baseline on the test sequences, and for the synthetic ones each model's gap to the true
process's NLL (the floor). Writes ``bench/results/tpp.md`` (the README's table) and, with
``--figures DIR``, copies the intensity and QQ plots of one real and one synthetic run there.

    python bench/tpp_results.py                         # everything (about 8 minutes on 2 cores)
    python bench/tpp_results.py --data commits hawkes1  # some
    python bench/tpp_results.py --figures docs/tpp

Each row is the same as ``unrolled tpp train --data NAME`` prints (the same defaults and split
seed 0); the runs go to a temporary directory.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from unrolled.tasks.tpp.run import DATA_CHOICES, run_tpp  # noqa: E402

KEYS = ("nll_per_event", "time_nll", "mark_nll", "mae", "rmse", "mark_accuracy", "ks_statistic")
HEADS = ("NLL/event", "time NLL", "mark NLL", "MAE", "RMSE", "mark acc.", "KS")
FIGURES = {"commits": ("intensity.png", "qq.png", "samples.png"), "hawkes1": ("intensity.png", "qq.png")}


def _cell(v):
    return "–" if v is None else f"{v:.3f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=list(DATA_CHOICES), choices=DATA_CHOICES)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "tpp.md"))
    p.add_argument("--figures", default=None, metavar="DIR", help="copy the commits and hawkes1 plots there")
    args = p.parse_args(argv)
    lines = ["| data | model | " + " | ".join(HEADS) + " | gap to the true NLL |",
             "| --- | --- | " + " | ".join("---:" for _ in HEADS) + " | ---: |"]
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.data:
            t0 = time.perf_counter()
            said = []
            metrics = run_tpp(name, out=Path(tmp) / name, progress=False, echo=said.append)
            floor = metrics["true_nll"]
            for model, r in metrics["models"].items():
                gap = "–" if floor is None else f"{r['nll_per_event'] - floor:+.3f}"
                lines.append(f"| {name} | {model} | " + " | ".join(_cell(r.get(k)) for k in KEYS) + f" | {gap} |")
            verdict = next(s for s in said if s.startswith("best neural model"))
            verdicts.append(f"- **{name}** ({metrics['split']['test']} test sequences, {metrics['time_unit']}): "
                            f"{verdict}")
            print(f"{name}: {verdict} ({time.perf_counter() - t0:.0f} s)", flush=True)
            if args.figures and name in FIGURES:
                target = Path(args.figures)
                target.mkdir(parents=True, exist_ok=True)
                for fig in FIGURES[name]:
                    shutil.copyfile(Path(tmp) / name / fig, target / f"{name}_{fig}")
    text = "\n".join([
        "# Temporal point processes: test NLL per event and the rest, every data set",
        "",
        f"`python bench/tpp_results.py` on {platform.node() or 'this machine'}, {time.strftime('%Y-%m-%d')}: "
        "`unrolled tpp train --data NAME` with its defaults (GRU 1x32, 8 log-normal components, Adam 1e-2, "
        "batches of 32 sequences, early stopping on the validation NLL), split 60/20/20 by sequence with seed 0. "
        "NLL in nats per event (lower is better; it depends on the time unit); MAE from the predictive median, "
        "RMSE from the mean (capped at the window's end); KS: the time-rescaling statistic. For the synthetic "
        "processes the true process's own NLL on the same test sequences is the floor.",
        "",
        *lines,
        "",
        *verdicts,
        "",
    ])
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
