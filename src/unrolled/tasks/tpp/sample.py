"""``unrolled tpp sample``: sequences drawn from a trained point process, printed and (with
``out``) written as samples.csv."""

from __future__ import annotations

import pandas as pd

from unrolled.tasks.rundir import open_run


def sample_sequences(model, n=3, t_end=None, seed=0, out=None, echo=print) -> list:
    """``n`` sequences drawn from the model saved in ``model`` from an empty window up to
    ``t_end`` (default: the training windows' length), sequence k with seed ``seed + k``."""
    from unrolled.tasks import registry
    from unrolled.tasks.tpp.model import PointProcess

    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10_000:
        raise ValueError(f"--n {n!r} is invalid; give a number of sequences from 1 to 10000")
    if t_end is not None and not (0 < t_end < float("inf")):
        raise ValueError(f"--t-end {t_end!r} is invalid; give a positive window length")
    with open_run(out, lock=False) as run:
        est = registry.load(model)
        if not isinstance(est, PointProcess):
            raise ValueError(f"{model} holds a {est.task!r} model; tpp sample needs the --out of 'unrolled tpp train'")
        seqs, cut = [], 0
        for k in range(n):
            seqs.append(est.sample(None, t_end, seed=seed + k))
            cut += est.truncated_
        names = est.mark_names_
        rows = []
        for k, q in enumerate(seqs):
            shown = ", ".join(f"{t:.3f}" + (f" ({names[m] if names else m})" if q.marks is not None else "")
                              for t, m in zip(q.times, q.marks if q.marks is not None else q.times))
            echo(f"sequence {k + 1}: {len(q)} events in [0, {q.t_end:g}) {est.time_unit_}: {shown}")
            rows += [{"sequence": k + 1, "time": t, **({"mark": names[m] if names else int(m)} if q.marks is not None
                                                        else {})}
                     for t, m in zip(q.times, q.marks if q.marks is not None else q.times)]
        if cut:
            echo(f"note: {cut} sequence(s) stopped at 10,000 events before the window's end; give a shorter --t-end")
        if run is not None:
            run.write_csv("samples.csv", pd.DataFrame(rows, columns=["sequence", "time"] + (
                ["mark"] if est.n_marks_ else [])), index=False)
            echo(f"wrote {run.path}/samples.csv")
        return seqs
