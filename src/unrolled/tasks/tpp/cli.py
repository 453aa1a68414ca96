"""``unrolled tpp ...``: thin shells over :mod:`unrolled.tasks.tpp` (``run_tpp`` in ``run.py``,
``sample_sequences`` in ``sample.py``). The model's flags of ``tpp train`` come from
``PointProcess.hyperparams``."""

from __future__ import annotations

from unrolled.tasks.rundir import add_run_flags
from unrolled.tasks.tpp.model import PointProcess
from unrolled.tasks.tpp.run import DATA_CHOICES
from unrolled.tasks.tpp.synthetic import PROCESSES as SYNTHETIC


def _train(args) -> int:
    from unrolled.tasks.tpp.run import run_tpp

    params = PointProcess.params_from_args(args)  # each checked, naming its flag
    if args.sequences is not None and (args.csv is not None or args.data not in SYNTHETIC):
        raise ValueError("--sequences sets how many windows a synthetic --data simulates; leave it out with "
                         f"--csv or --data {args.data if args.csv is None else '...'}")
    if args.sequences is not None and not 3 <= args.sequences <= 100_000:
        raise ValueError(f"--sequences {args.sequences} is invalid; give a number of windows from 3 to 100000")
    run_tpp(args.data, args.csv, time_col=args.time_col, seq_col=args.seq_col, mark_col=args.mark_col,
            compare=args.compare, n_sequences=args.sequences, split_seed=args.split_seed, out=args.out,
            resume=args.resume, overwrite=args.overwrite, progress=args.progress, **params)
    return 0


def _sample(args) -> int:
    from unrolled.tasks.tpp.sample import sample_sequences

    sample_sequences(args.model, n=args.n, t_end=args.t_end, seed=args.seed, out=args.out)
    return 0


def add_parser(sub) -> None:
    """Add ``tpp`` and its subcommands to the top-level subparsers."""
    import argparse

    top = sub.add_parser("tpp", help="temporal point processes: when the next event comes (RMTPP, log-normal mixture)")
    commands = top.add_subparsers(dest="tpp_command", metavar="TPP_COMMAND")
    top.set_defaults(func=lambda args: (top.print_help(), 2)[1])

    train = commands.add_parser(
        "train", help="train neural point processes; test NLL per event beside Poisson and Hawkes",
        description="Train a recurrent temporal point process on event sequences and print, for the test "
                    "sequences, the NLL per event (time and mark parts), the next event's time MAE and RMSE, the "
                    "mark accuracy and the time-rescaling KS statistic, beside a homogeneous Poisson process and a "
                    "Hawkes process fitted by maximum likelihood on the same split (and, for synthetic data, the "
                    "true process's NLL, the floor). With no arguments: one GitHub user's commit times, a week "
                    "per sequence.")
    train.add_argument("--data", default="commits", choices=DATA_CHOICES,
                       help="bundled real data (commits; earthquakes needs unrolled[earthquakes]) or a synthetic "
                            "process with a known intensity (DATA.md)")
    train.add_argument("--csv", default=None, metavar="FILE", help="your own events instead: one row per event")
    train.add_argument("--time-col", default="time", help="the CSV's time column: numbers or timestamps (default time)")
    train.add_argument("--seq-col", default=None, help="the CSV's sequence column (default: one sequence)")
    train.add_argument("--mark-col", default=None, help="the CSV's mark (event type) column (default: unmarked)")
    train.add_argument("--sequences", type=int, default=None, metavar="N",
                       help="windows simulated for a synthetic --data (default 1000, as Shchur et al. 2020)")
    train.add_argument("--split-seed", type=int, default=0,
                       help="seed of the 60/20/20 split by sequence (and of a synthetic simulation)")
    train.add_argument("--compare", action=argparse.BooleanOptionalAction, default=True,
                       help="also train the other neural model for the table (default on; model/ holds --model's)")
    PointProcess.add_arguments(train)
    add_run_flags(train, "metrics.json, loss.png, intensity.png, qq.png, samples.png, model/ and checkpoints/")
    train.set_defaults(func=_train)

    sample = commands.add_parser(
        "sample", help="sequences drawn from a trained model",
        description="Draw event sequences from a trained model, from an empty window up to --t-end, and print "
                    "their times (and marks); with --out, samples.csv (sequence, time, mark).")
    sample.add_argument("--model", required=True, metavar="DIR", help="the --out directory of 'unrolled tpp train'")
    sample.add_argument("--n", type=int, default=3, help="how many sequences (default 3)")
    sample.add_argument("--t-end", type=float, default=None, help="window length (default: the training windows')")
    sample.add_argument("--seed", type=int, default=0, help="the sampling seed: the same seed, the same sequences")
    sample.add_argument("--out", default=None, metavar="DIR", help="write samples.csv there")
    sample.set_defaults(func=_sample)
