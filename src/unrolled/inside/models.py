"""A trained model and an input for it: what ``unrolled explain --model`` records and
``unrolled gradflow --model`` differentiates, for any registered task.

``unrolled.load(DIR)`` opens the saved estimator (the run directory or its ``model/``), whatever
its task; the estimator gives its recurrent layer (``recurrent_layer()``) and an input for it as
its own network would feed it (``inside_input``: a date range for a forecaster, a text after a
line break for a language model), with a label per step (dates, tokens) and a line to draw above
the heatmaps (the target price; the model's surprisal in bits).
"""

from __future__ import annotations

import json

import numpy as np

from unrolled.inside.record import flatten, parts, record
from unrolled.nn.cells.base import SIGMOID


def load_estimator(path):
    """The fitted estimator saved in ``path``; ValueError naming the fix (``unrolled.load``)."""
    from unrolled.tasks import registry

    return registry.load(path)


def gate_summary(rec: dict, cell) -> str:
    """Per layer / direction and panel of ``cell`` (the layer's ``Cell``): mean, spread and how
    often it is saturated."""
    lines = [f"{'part':<12}{'gate':<6}{'mean':>8}{'std':>8}{'min':>8}{'max':>8}  saturated"]
    for part in parts(rec):
        for name, (_, span) in cell.panels.items():
            v = rec[part][name]
            sigmoid = span == SIGMOID
            sat = np.mean((v < 0.05) | (v > 0.95)) if sigmoid else np.mean(np.abs(v) > 0.95)
            what = "<0.05 or >0.95" if sigmoid else "|v| > 0.95"
            lines.append(f"{part:<12}{name:<6}{np.nanmean(v):>8.3f}{np.nanstd(v):>8.3f}{np.nanmin(v):>8.3f}"
                         f"{np.nanmax(v):>8.3f}  {sat:6.1%} ({what})")
    return "\n".join(lines)


def explain_model(model, csv=None, start=None, end=None, text=None, out=None, echo=print) -> dict:
    """Record every gate of every layer of the model in ``model`` on an input (a date range, or a
    text for a language model) and, with ``out``, write ``gates_<part>.png`` heatmaps and
    ``gates.npz`` (the raw values) there. Returns the recording."""
    from unrolled.tasks.rundir import open_run

    with open_run(out) as run:  # before any work
        est = load_estimator(model)
        x, labels, series, series_label = est.inside_input(csv=csv, text=text, start=start, end=end)
        layer = est.recurrent_layer()
        rec = record(layer, x)
        echo(f"{model}: {est.describe()}; {est.inside_span(labels)} (one sequence from a zero state)")
        echo(gate_summary(rec, layer.cell))
        if hasattr(est, "explain_lines"):  # a task's own account of the input (a point process: which events)
            for line in est.explain_lines(csv=csv, text=text, start=start, end=end):
                echo(line)
        if run is not None:
            from unrolled.inside.plots import plot_gates

            figures = plot_gates(rec, layer.cell, time_labels=labels, series=series, series_label=series_label,
                                 title=f"{est.cell.upper()} {est.noun}")
            names = [run.write_figure(f"gates_{part}.png", fig).name for part, fig in figures.items()]
            arrays = flatten(rec)
            arrays.update(x=x, labels=labels.astype(str), series=series)
            run.write("gates.npz", lambda f: np.savez(f, **arrays))
            run.write_text("gates.json", json.dumps({
                "model": str(model), "task": est.task, "cell": layer.cell.family, "steps": len(labels),
                "arrays": "<part>/<name> (T, 1, H) for every gate, pre-activation, c and h; y (T, 1, dirs*H); "
                          f"h_n; x (T, 1, D) the layer's input; labels (T,); series (T,) {series_label}"}, indent=1))
            echo(f"wrote {', '.join(names)}, gates.npz (raw values), gates.json to {run.path}/")
        return rec
