"""``unrolled explain`` and ``unrolled gradflow``: flags for ``explain`` / ``explain_model`` and
``run_gradflow``, one help string each."""

from __future__ import annotations

import argparse

_WEIGHTS_HELP = ('JSON state dict under torch.nn\'s names plus "cell", e.g. {"cell": "lstm", "weight_ih_l0": '
                 '[[1], [1], [1], [1]], "weight_hh_l0": [[1], [1], [1], [1]], "bias_ih_l0": [1, 1, 1, 1], '
                 '"bias_hh_l0": [0, 0, 0, 0]} (gate order i, f, g, o; r, z, n for the GRU)')


def _explain(args) -> int:
    if args.model is not None:
        from unrolled.inside.models import explain_model

        if args.weights or args.input or args.seed002:
            raise ValueError("--model records a trained model; leave out --weights / --input / --seed002")
        explain_model(args.model, csv=args.csv, start=args.start, end=args.end, text=args.text, out=args.out)
        return 0
    if args.csv or args.start or args.end or args.text or args.out:
        raise ValueError("--csv, --start, --end, --text and --out go with --model DIR (a trained model)")
    from unrolled.inside.trace import explain

    explain(args.weights, args.input, seed002=args.seed002, decimals=args.decimals)
    return 0


def add_explain_parser(sub) -> argparse.ArgumentParser:
    """Add ``explain`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "explain", help="every gate's pre-activation and activation, c and h, step by step",
        description="Print every gate's pre-activation and activation, the candidate, c and h at every "
                    "step. With no arguments: seed 003's worked LSTM step. With --model DIR: record every "
                    "gate of a trained model on a date range (forecast) or a text (language model) and "
                    "draw heatmaps.")
    p.add_argument("--seed002", action="store_true",
                   help="seed 002's scalar walk-through instead: two 4-step sequences through a scalar LSTM")
    p.add_argument("--weights", metavar="FILE", help=_WEIGHTS_HELP)
    p.add_argument("--input", metavar="FILE",
                   help='JSON {"x": [0.5, ...], "h0": [...], "c0": [...]}: x one number (or D numbers) per '
                        "step; h0, c0 (LSTM) H numbers, default zeros")
    p.add_argument("--decimals", type=int, default=4, help="decimals printed (default 4; the seeds print 3)")
    p.add_argument("--model", metavar="DIR", help="a trained model: the --out directory of `unrolled forecast` "
                                                  "or `unrolled lm train`")
    p.add_argument("--csv", help="with a forecast --model: the CSV to read the input from (default: the bundled "
                                 "S&P 500)")
    p.add_argument("--start", metavar="DATE", help="with --model: first date of the input (default: the "
                                                   "model's last lookback window)")
    p.add_argument("--end", metavar="DATE", help="with --model: last date of the input")
    p.add_argument("--text", help="with a language --model (`unrolled lm train`): the text to read "
                                  "(default: three lines of Hamlet)")
    p.add_argument("--out", metavar="DIR", help="with --model: write gates_<layer>.png heatmaps and gates.npz here")
    p.set_defaults(func=_explain)
    return p


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def _cells(text: str) -> tuple[str, ...]:
    from unrolled.nn.recurrent import LAYERS

    cells = tuple(c.strip() for c in text.split(",") if c.strip())
    bad = [c for c in cells if c not in LAYERS]
    if bad or not cells:
        raise argparse.ArgumentTypeError(f"{text!r}: use a comma-separated choice of {', '.join(LAYERS)}")
    return cells


def _gradflow(args) -> int:
    from unrolled.inside.gradflow import run_gradflow

    run_gradflow(cells=args.cells, model=args.model, lags=args.lags, scales=args.scales,
                 hidden_size=args.hidden_size, seed=args.seed, clip_steps=args.clip_steps,
                 clip_norm=args.clip_norm, csv=args.csv, text=args.text, out=args.out)
    return 0


def add_gradflow_parser(sub) -> argparse.ArgumentParser:
    """Add ``gradflow`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "gradflow", help="||dh_t / dh_k|| against the lag for RNN, LSTM, GRU; the RNN's bound; clipping",
        description="Compute ||dh_t / dh_k|| for every lag t - k by the hand-derived backward (seed 004 "
                    "sec. 9), the tanh RNN's bound (gamma * rho)^(t-k), and the gradient norm before and "
                    "after clipping on a real training run.")
    p.add_argument("--cells", type=_cells, default=None, help="comma-separated cells (default rnn,lstm,gru)")
    p.add_argument("--model", metavar="DIR", help="a trained model (`unrolled forecast` or `unrolled lm train` "
                                                  "--out DIR) instead of random init")
    p.add_argument("--csv", help="with a forecast --model: the CSV (default: the bundled S&P 500)")
    p.add_argument("--text", help="with a language --model: the text read (default: three lines of Hamlet, repeated to --lags tokens)")
    p.add_argument("--lags", type=int, default=60, help="longest lag, the input's length in steps (default 60)")
    p.add_argument("--scales", type=_floats, default=None,
                   help="factors on W_hh, e.g. 0.5,1,2,4 (the default; 1 with --model)")
    p.add_argument("--hidden-size", type=int, default=32, help="H for random init (default 32)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and input (default 0)")
    p.add_argument("--clip-steps", type=int, default=300,
                   help="steps of the clipping run on the S&P 500, 0 to skip it (default 300)")
    p.add_argument("--clip-norm", type=float, default=1.0, help="clip_grad_norm_'s max_norm (default 1.0, "
                                                                "the training engine's)")
    p.add_argument("--out", metavar="DIR", help="write gradflow.png / .csv and clipping.png / .csv here")
    p.set_defaults(func=_gradflow)
    return p
