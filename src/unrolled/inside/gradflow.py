"""Gradient flow across time, seed 004 sec. 9: ``||dh_t / dh_k||`` for every lag, exactly.

The Jacobian of one step is ``J_j = dh_j / dh_{j-1}`` (eq. 18 for the RNN: ``diag(phi'(a_j)) W_hh``);
how far a gradient reaches back is the product ``dh_t / dh_k = J_t J_{t-1} ... J_{k+1}`` (eq. 19).
``jacobian_products`` builds that product for every lag ``t - k`` with the cells' own hand-derived
backward, never finite differences: the sequence runs as a batch of H identical copies, and
backpropagating the H unit vectors ``e_1..e_H`` from ``h_t`` (one per copy) gives, after each step
back, the H rows of ``dh_t / dh_k`` -- H vector-Jacobian products at once. Its spectral norm is
the largest factor by which a gradient arriving at ``h_t`` can reach ``h_k``.

For the LSTM the state is ``(h, c)``; ``dh_t / dh_k`` holds ``c_k`` fixed, and ``dh_t / dc_k``
(the path through the cell state, seed 002's "long-term memory") comes out of the same pass.

Seed 004 eq. 20 bounds the tanh RNN: with ``rho = ||W_hh||_2`` and ``gamma >= |phi'(a_j)|`` at
every step involved, ``||dh_t / dh_k|| <= (gamma * rho)^(t-k)``; ``gamma`` here is the largest
``1 - h^2`` over the run (``gamma = 1`` is the global bound). Scaling ``W_hh`` moves the RNN
between the vanishing (``gamma * rho < 1``) and the exploding regime.

``clipping_run`` shows what ``clip_grad_norm_`` does on a real run: the forecasting model of
``unrolled forecast`` on the bundled S&P 500, the gradient norm per step before and after clipping.
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np

from unrolled.nn import loop
from unrolled.nn.recurrent import LAYERS


def jacobian_products(layer, x, state=None) -> dict:
    """``dh_T / dh_{T-lag}`` for ``lag = 0..T`` through layer 0 (forward direction) of ``layer``.

    x (T, D) or (T, 1, D): one sequence; ``state`` its initial ``h0`` (H,) or ``(h0, c0)``,
    default zeros. Computed in float64. Returns ``{"lag": (T+1,), "dh": (T+1, H, H),
    "dc": (T+1, H, H) or None, "h": (T, H)}``; ``dh[lag]`` is the Jacobian itself (row i:
    ``d h_T[i] / d h_{T-lag}``), ``dh[0]`` the identity.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[:, None, :] if x.ndim == 2 else x  # (T, 1, D)
    if x.ndim != 3 or x.shape[1] != 1 or x.shape[2] != layer.input_size:
        raise ValueError(f"jacobian_products: x must be one sequence (T, D) with D={layer.input_size}, "
                         f"got shape {x.shape}")
    T, H = x.shape[0], layer.hidden_size
    params = tuple(None if p is None else p.astype(np.float64) for p in layer._weights(layer.params, 0, 0))
    h0, c0 = (state if isinstance(state, tuple) else (state, None))
    h0 = np.zeros(H) if h0 is None else np.asarray(h0, dtype=np.float64).reshape(H)
    c0 = np.zeros(H) if c0 is None else np.asarray(c0, dtype=np.float64).reshape(H)
    # H copies of the sequence: copy i carries the unit vector e_i backwards.
    cell, xs = layer.cell, np.repeat(x, H, axis=1)  # (T, H, D)
    c0s = np.tile(c0, (H, 1)) if cell.has_cell_state else None
    h, _, _, cache = loop.forward(cell, xs, params, np.tile(h0, (H, 1)), c0s, None, False, keep=True)
    dhs, dcs = [np.eye(H)], [np.zeros((H, H))]  # lag 0: row i is d h_T[i] / d h_T

    def step_back(t, dh, dc):  # back through step t: the rows of d h_T / d h_{t-1} (and d c_{t-1})
        dhs.append(dh)
        dcs.append(dc)

    loop.backward(cell, np.zeros_like(h), dhs[0], dcs[0] if cell.has_cell_state else None, cache, params,
                  (None,) * 4, observe=step_back)  # no dy: only h_T's unit vectors flow back
    return {"lag": np.arange(T + 1), "dh": np.array(dhs),
            "dc": np.array(dcs) if cell.has_cell_state else None, "h": h[:, 0, :]}


def spectral_norms(mats: np.ndarray) -> np.ndarray:
    """``||M||_2`` (largest singular value) of each matrix in a stack (L, H, H) -> (L,)."""
    return np.linalg.svd(mats, compute_uv=False)[:, 0]


def rnn_bound(layer, h: np.ndarray, lags: np.ndarray) -> dict:
    """Seed 004 eq. 20 for an Elman RNN run with states h (T, H): ``rho``, ``gamma`` and
    ``(gamma * rho)^lag`` (and the global ``rho^lag``, gamma = 1)."""
    W_hh = layer.params["weight_hh_l0"].astype(np.float64)
    rho = float(np.linalg.norm(W_hh, 2))
    gamma = float(np.max(layer.cell.dphi(h)))  # the largest |phi'(a_j)| over the run, from the outputs
    lags = np.asarray(lags, dtype=np.float64)
    with np.errstate(over="ignore"):  # a bound above 1e308 at a long lag is inf, and means it
        return {"rho": rho, "gamma": gamma, "bound": (gamma * rho) ** lags, "global_bound": rho ** lags}


def scaled(layer, factor: float):
    """A copy of ``layer`` with every ``weight_hh`` multiplied by ``factor``."""
    m = copy.deepcopy(layer)
    for k, v in m.params.items():
        if k.startswith("weight_hh"):
            v *= factor
    return m


def random_input(T: int, D: int, seed=0) -> np.ndarray:
    """A standard normal sequence (T, D): the input of the random-init curves."""
    return np.random.default_rng(seed).standard_normal((T, D))


def flow_curves(layer, x, label=None, scales=(1.0,)) -> list[dict]:
    """For each factor in ``scales``: the norms of ``dh_T / dh_{T-lag}`` (and ``dh_T / dc_{T-lag}``
    for the LSTM) of ``layer`` with ``W_hh`` scaled, on sequence x (T, D); for the RNN also eq.
    20's bound. One dict per scale: ``cell, scale, lag, norm, norm_c, bound, gamma, rho``."""
    curves = []
    for s in scales:
        m = layer if s == 1 else scaled(layer, s)
        jp = jacobian_products(m, x)
        curve = {"cell": label or layer.cell.family, "scale": float(s), "lag": jp["lag"],
                 "norm": spectral_norms(jp["dh"]),
                 "norm_c": None if jp["dc"] is None else spectral_norms(jp["dc"]),
                 "bound": None, "gamma": None, "rho": None}
        if layer.cell.family == "rnn":  # eq. 20 is the Elman RNN's
            b = rnn_bound(m, jp["h"], jp["lag"])
            curve.update(bound=b["bound"], gamma=b["gamma"], rho=b["rho"])
        curves.append(curve)
    return curves


def random_init_curves(cells=None, hidden_size=32, input_size=4, lags=60,
                       scales=(0.5, 1.0, 2.0), seed=0) -> list[dict]:
    """``flow_curves`` for each of ``cells`` (default: every name in ``LAYERS``) at PyTorch's default
    initialisation (``U(-1/sqrt(H), 1/sqrt(H))``, seeded), on one standard normal input of ``lags`` steps."""
    x = random_input(lags, input_size, seed)
    curves = []
    for cell in cells or tuple(LAYERS):
        if cell not in LAYERS:
            raise ValueError(f"unknown cell {cell!r}; use {', '.join(LAYERS)} (comma-separated)")
        layer = LAYERS[cell](input_size, hidden_size, dtype=np.float64, seed=seed)
        curves += flow_curves(layer, x, cell, scales)
    return curves


def curves_table(curves: list[dict]) -> list[dict]:
    """One row per (cell, scale, lag): the numbers of the curves, for a CSV."""
    rows = []
    for c in curves:
        for j, lag in enumerate(c["lag"]):
            rows.append({"cell": c["cell"], "scale": c["scale"], "lag": int(lag), "norm": c["norm"][j],
                         "norm_c": "" if c["norm_c"] is None else c["norm_c"][j],
                         "bound": "" if c["bound"] is None else c["bound"][j],
                         "gamma": "" if c["gamma"] is None else c["gamma"],
                         "rho": "" if c["rho"] is None else c["rho"]})
    return rows


# -- clipping on a real run -------------------------------------------------------------------------
def sp500_windows(lookback=30):
    """The forecasting task's inputs: standardized ``[log return, log volume change]`` of the
    bundled S&P 500 in windows of ``lookback`` days (L, N, 2), the next day's standardized log
    return (N, 1), and the number of windows before the last 15% (the training part)."""
    from unrolled import data
    from unrolled.tasks.forecast import features as ft

    df = data.load("sp500")
    p, v = df["Close"].to_numpy(), df["Volume"].to_numpy(dtype=np.float64)
    rows = np.stack([np.log(p[1:] / p[:-1]), np.log(v[1:] / v[:-1])], axis=1)  # (N, 2)
    cut = ft.split_rows(len(rows), 0.15)
    scaler = ft.Scaler().fit(rows[:cut])  # training rows only
    X = scaler.transform(rows)  # (N, 2)
    origins = np.arange(lookback - 1, len(rows) - 1)  # window ends; the target is the next row
    y = X[origins + 1, :1]  # (N_windows, 1)
    return ft.windows(X, origins, lookback), y, int(np.searchsorted(origins, cut - 1))


def clipping_run(steps=300, clip_norm=1.0, cell="lstm", hidden_size=32, batch_size=64, lr=2e-3,
                 seed=0, clip=True) -> dict:
    """Train ``unrolled forecast``'s model (``cell``, H=32, 30-day windows, Adam 2e-3, as its
    defaults) for ``steps`` mini-batches on the S&P 500's training years; clip the joint gradient
    norm to ``clip_norm`` (if ``clip``). Returns per step: ``loss``, ``norm_before``, ``norm_after``.

    The run is the training engine's: one epoch of ``steps`` batches drawn with replacement, no
    validation, and a ``GradNormProbe`` hook that reads the norm after the backward pass and
    again after clipping."""
    from unrolled.tasks.forecast.network import ManyToOne
    from unrolled.nn.losses import MSELoss
    from unrolled.train.config import TrainConfig
    from unrolled.train.hooks import GradNormProbe
    from unrolled.train import Trainer

    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps={steps!r} is invalid; use a whole number of training steps >= 1")
    if not clip_norm > 0:
        raise ValueError(f"clip_norm={clip_norm!r} is invalid; use a positive threshold such as 1.0")
    X, Y, n_train = sp500_windows()
    model = ManyToOne(cell, X.shape[2], hidden_size, 1, seed=seed)
    loss_fn = MSELoss()
    rng = np.random.default_rng(seed)

    def batches(_rng):  # the whole run is one pass: `steps` index arrays, drawn as they are needed
        return (rng.integers(0, n_train, size=batch_size) for _ in range(steps))  # (B,) each

    def step(idx):
        pred = model.forward(X[:, idx].astype(np.float32))  # (B, 1)
        loss = loss_fn.forward(pred, Y[idx].astype(np.float32))
        model.backward(loss_fn.backward())
        return loss

    probe = GradNormProbe()
    config = TrainConfig(epochs=1, optimizer="adam", lr=lr, clip_norm=clip_norm if clip else None,
                         patience=None, restore_best=False, shuffle=False, seed=seed, progress=False)
    t0 = time.perf_counter()
    Trainer(model, config, hooks=[probe]).fit(batches, step)
    out = {k: np.array(getattr(probe, k)) for k in ("loss", "norm_before", "norm_after")}  # (steps,) each
    out["seconds"] = time.perf_counter() - t0
    return out


def _check_jacobian_size(lags: int, H: int, what: str) -> None:
    """The Jacobian products hold lags x H^2 numbers: refuse above MAX_JACOBIAN_ENTRIES, before any work."""
    if lags * H**2 > MAX_JACOBIAN_ENTRIES:
        most_lags, most_h = MAX_JACOBIAN_ENTRIES // H**2, math.isqrt(MAX_JACOBIAN_ENTRIES // lags)
        raise ValueError(f"--lags {lags} with {what} {H} makes {lags * H**2:,} Jacobian entries (lags x H^2), more "
                         f"than MAX_JACOBIAN_ENTRIES = {MAX_JACOBIAN_ENTRIES:,}; use "
                         + (f"--lags <= {most_lags:,}" if most_lags else "a smaller model")
                         + (f" or --hidden-size <= {most_h:,}" if what == "--hidden-size" else ""))


# -- unrolled gradflow ------------------------------------------------------------------------------
# Limits, checked before any work: the H copies of the sequence make memory and time grow as
# lags x H^2 (about 100 bytes per entry for the LSTM: 2^23 entries take some 800 MB), and the curves
# have long reached 1e-30 or overflowed before 10,000 steps; the clipping run is 300 steps by default.
MAX_LAGS = 10_000
MAX_JACOBIAN_ENTRIES = 1 << 23
MAX_CLIP_STEPS = 100_000


def run_gradflow(cells=None, model=None, lags=60, scales=None, hidden_size=32, seed=0, clip_steps=300,
                 clip_norm=1.0, csv=None, text=None, out=None, echo=print) -> dict:
    """``unrolled gradflow``: the curves (random init of ``cells``, or the model in ``model`` on the
    last ``lags`` rows of ``csv`` or the first ``lags`` tokens of ``text``), a table, the clipping
    run; with ``out``: gradflow.png / .csv and clipping.png / .csv. ``scales`` multiply ``W_hh``
    (default 0.5, 1, 2, 4; 1 for a model). The limits above are checked first."""

    import pandas as pd

    from unrolled.inside.plots import plot_clipping, plot_flow
    from unrolled.tasks.rundir import open_run

    def whole(v, low, high):
        return not isinstance(v, bool) and isinstance(v, int) and low <= v <= high

    if not whole(lags, 1, MAX_LAGS):
        raise ValueError(f"--lags {lags!r} is invalid; use a whole number of steps from 1 to {MAX_LAGS:,} "
                         "(MAX_LAGS), such as 60")
    if not whole(hidden_size, 1, MAX_JACOBIAN_ENTRIES):
        raise ValueError(f"--hidden-size {hidden_size!r} is invalid; use a whole number >= 1, such as 32")
    if model is None:
        _check_jacobian_size(lags, hidden_size, "--hidden-size")
    if not whole(seed, 0, float("inf")):
        raise ValueError(f"--seed {seed!r} is invalid; use a whole number >= 0")
    if not whole(clip_steps, 0, MAX_CLIP_STEPS):
        raise ValueError(f"--clip-steps {clip_steps!r} is invalid; use a whole number from 0 (no clipping run) to "
                         f"{MAX_CLIP_STEPS:,} (MAX_CLIP_STEPS)")
    if scales is not None and not all(isinstance(s, (int, float)) and 0 < s < math.inf for s in scales):
        raise ValueError(f"--scales {scales!r}: every factor on W_hh must be a positive finite number")
    with open_run(out) as run:  # before any work
        clip_cell, clip_hidden = "lstm", 32
        if model is not None:
            from unrolled.inside.models import load_estimator

            if cells is not None:
                raise ValueError("--cells picks randomly initialised cells; with --model the model's own cell is used")
            est = load_estimator(model)
            layer = est.recurrent_layer()
            _check_jacobian_size(lags, layer.hidden_size, "the model's hidden size")
            x, labels, _, _ = est.inside_input(csv=csv, text=text, rows=lags)
            curves = flow_curves(layer, x[:, 0, :], f"{est.cell} (trained)", scales or (1.0,))  # x (T, D)
            clip_cell, clip_hidden = est.cell, layer.hidden_size
            echo(f"{model}: {est.describe()}; layer 0 on {est.inside_span(labels)}")
        else:
            curves = random_init_curves(cells, hidden_size, lags=lags,
                                        scales=scales or (0.5, 1.0, 2.0, 4.0), seed=seed)
            echo(f"random init (seed {seed}), H = {hidden_size}, one standard normal input of {lags} steps")
        echo(f"||dh_t / dh_k||_2 by the cells' backward, t = the last step; rate = norm^(1/lag) at lag {lags}")
        echo(f"{'cell':<16}{'W_hh x':>7}{'lag 1':>11}{'lag 10':>11}{f'lag {lags}':>11}{'rate':>8}"
             f"{'gamma*rho':>11}  bound holds")
        for c in curves:
            n, L = c["norm"], len(c["norm"]) - 1
            row = (f"{c['cell']:<16}{c['scale']:>7g}{n[1]:>11.3e}{n[min(10, L)]:>11.3e}{n[L]:>11.3e}"
                   f"{n[L] ** (1 / L):>8.3f}")
            if c["bound"] is not None:
                holds = bool(np.all(n <= c["bound"] * (1 + 1e-9)))
                row += f"{c['gamma'] * c['rho']:>11.3f}  {'yes' if holds else 'NO'}"
            echo(row)
        result = {"curves": curves}
        if run is not None:
            run.write_figure("gradflow.png", plot_flow(curves, title="gradient flow across time: ||dh_t / dh_k|| "
                                                                     "against the lag"))
            run.write_csv("gradflow.csv", pd.DataFrame(curves_table(curves)), index=False)
        if clip_steps:
            runs = {flag: clipping_run(clip_steps, clip_norm, clip_cell, clip_hidden, seed=seed, clip=flag)
                    for flag in (True, False)}
            nb = runs[True]["norm_before"]
            echo(f"clipping, {clip_cell} forecaster on the S&P 500 ({clip_steps} Adam steps): gradient norm median "
                 f"{np.median(nb):.3f}, max {nb.max():.3f}; max_norm = {clip_norm:g} clipped {np.sum(nb > clip_norm)} "
                 f"steps; final 20-step loss {runs[True]['loss'][-20:].mean():.4f} with, "
                 f"{runs[False]['loss'][-20:].mean():.4f} without clipping")
            result["clipping"] = runs
            if run is not None:
                run.write_figure("clipping.png", plot_clipping(
                    runs[True], runs[False], clip_norm,
                    title=f"clip_grad_norm_ on a real run: the {clip_cell} forecaster, S&P 500"))
                run.write_csv("clipping.csv", pd.DataFrame({
                    "step": np.arange(1, clip_steps + 1), "loss": runs[True]["loss"], "norm_before": nb,
                    "norm_after": runs[True]["norm_after"], "loss_without_clipping": runs[False]["loss"],
                    "norm_without_clipping": runs[False]["norm_before"]}), index=False)
        if run is not None:
            echo(f"wrote gradflow.png, gradflow.csv{', clipping.png, clipping.csv' if clip_steps else ''} to {run.path}/")
        return result
