"""The ``unrolled`` command: each subcommand is a thin shell over a function in the library."""

from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    from unrolled.demo import run_demo

    run_demo(delay=args.delay, steps=args.steps, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unrolled", description="Recurrent networks written from their equations, checked against PyTorch.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="seed 003's LSTM step, a gradient check, and RNN/GRU/LSTM on a memory task")
    demo.add_argument("--delay", type=int, default=6, help="how many steps back the target bit lies (default 6)")
    demo.add_argument("--steps", type=int, default=300, help="Adam steps per cell (default 300)")
    demo.add_argument("--seed", type=int, default=0, help="seed for data and weights (default 0)")
    demo.set_defaults(func=_demo)
    from unrolled.tasks import registry

    registry.add_parsers(sub)  # one subcommand per registered task: forecast, lm, ...
    from unrolled.inside.cli import add_explain_parser, add_gradflow_parser

    add_explain_parser(sub)
    add_gradflow_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except ValueError as e:  # bad input: the message says what to fix; no traceback
        print(f"unrolled: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
