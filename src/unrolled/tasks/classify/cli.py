"""``unrolled classify``: a thin shell over ``run_classify``; the model's flags come from
``Classifier.hyperparams``."""

from __future__ import annotations

from unrolled.tasks.classify.model import Classifier
from unrolled.tasks.rundir import add_run_flags


def _classify(args) -> int:
    from unrolled.tasks.classify.run import run_classify

    run_classify(args.csv, data=args.data, text_col=args.text_col, label_col=args.label_col,
                 split_seed=args.split_seed, out=args.out, resume=args.resume, overwrite=args.overwrite,
                 progress=args.progress, **Classifier.params_from_args(args))
    return 0


def add_parser(sub):
    """Add ``classify`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "classify", help="train a recurrent text classifier (default: the bundled movie snippets' sentiment)",
        description="Train a (bidirectional) recurrent classifier on labelled texts and report its test "
                    "accuracy beside the majority class. With no arguments: the bundled Rotten Tomatoes "
                    "snippets, positive vs negative.")
    p.add_argument("--data", default="movies", choices=("movies", "tweets"),
                   help="a bundled corpus (default movies; DATA.md)")
    p.add_argument("--csv", default=None, help="your own CSV instead, with a text and a label column")
    p.add_argument("--text-col", default="text", help="the CSV's text column (default text)")
    p.add_argument("--label-col", default="label", help="the CSV's label column (default label)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the stratified train / validation / test split")
    Classifier.add_arguments(p)
    add_run_flags(p, "metrics.json, loss.png, model/ and checkpoints/")
    p.set_defaults(func=_classify)
    return p
