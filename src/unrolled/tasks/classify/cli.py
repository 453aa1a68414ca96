"""``unrolled classify ...``: thin shells over :mod:`unrolled.tasks.classify` (``run_classify``,
``run_folds`` in ``run.py``; ``predict_texts``, ``explain_text``, ``write_texts`` in
``explain.py``). The model's flags of ``classify train`` come from ``SequenceClassifier.hyperparams``."""

from __future__ import annotations

from unrolled.tasks.classify.model import SequenceClassifier
from unrolled.tasks.rundir import add_run_flags

DATA_CHOICES = ("movie-reviews", "tweets")


def _data(args) -> dict:
    return dict(data=args.data, text_col=args.text_col, label_col=args.label_col, split_seed=args.split_seed)


def _train(args) -> int:
    from unrolled.tasks.classify.run import run_classify, run_folds

    params = SequenceClassifier.params_from_args(args)  # each checked, naming its flag
    if args.folds is not None:
        if args.resume or args.target != "label":
            raise ValueError("--folds runs k fresh trainings of a classifier: leave out --resume and --target rating")
        run_folds(args.csv, folds=args.folds, out=args.out, overwrite=args.overwrite, progress=args.progress,
                  **_data(args), **params)
        return 0
    run_classify(args.csv, target=args.target, out=args.out, resume=args.resume, overwrite=args.overwrite,
                 progress=args.progress, **_data(args), **params)
    return 0


def _predict(args) -> int:
    from unrolled.tasks.classify.explain import predict_texts

    predict_texts(args.model, args.texts, csv=args.csv, text_col=args.text_col, out=args.out)
    return 0


def _explain(args) -> int:
    from unrolled.tasks.classify.explain import explain_text

    explain_text(args.model, args.text, out=args.out)
    return 0


def _texts(args) -> int:
    from unrolled.tasks.classify.explain import write_texts

    write_texts(args.out, args.csv, **_data(args), lowercase=not args.keep_case)
    return 0


def _add_data(p) -> None:
    p.add_argument("--data", default="movie-reviews", choices=DATA_CHOICES,
                   help="a bundled corpus (default movie-reviews; DATA.md)")
    p.add_argument("--csv", default=None, metavar="FILE", help="your own CSV instead, with a text and a label column")
    p.add_argument("--text-col", default="text", help="the CSV's text column (default text)")
    p.add_argument("--label-col", default="label", help="the CSV's label column (default label)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the stratified train / validation / test split")


def add_parser(sub) -> None:
    """Add ``classify`` and its subcommands to the top-level subparsers."""
    top = sub.add_parser("classify", help="recurrent text classifiers: sentiment of movie reviews, tweets, your CSV")
    commands = top.add_subparsers(dest="classify_command", metavar="CLASSIFY_COMMAND")
    top.set_defaults(func=lambda args: (top.print_help(), 2)[1])

    train = commands.add_parser(
        "train", help="train a (bidirectional) recurrent classifier; test accuracy beside the baselines",
        description="Train a recurrent classifier on labelled texts and print its test accuracy and macro F1 "
                    "beside the majority class, TF-IDF and NB-SVM logistic regressions and VADER on the same "
                    "split. With no arguments: the bundled Rotten Tomatoes snippets, positive vs negative, Bi-LSTM.")
    _add_data(train)
    train.add_argument("--target", default="label", choices=("label", "rating"),
                       help="label (classes) or rating (the movie-reviews' mean rating, a regression)")
    train.add_argument("--folds", type=int, default=None, metavar="K",
                       help="k-fold cross-validation instead of one split (10 as the movie sentences are reported)")
    SequenceClassifier.add_arguments(train)
    add_run_flags(train, "metrics.json, predictions.csv, loss.png, confusion.png, calibration.png, model/ "
                         "and checkpoints/")
    train.set_defaults(func=_train)

    predict = commands.add_parser("predict", help="the label and its probability for each text",
                                  description="Classify each TEXT (or every row of --csv FILE) with a trained model.")
    predict.add_argument("--model", required=True, metavar="DIR", help="the --out directory of 'unrolled classify train'")
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    predict.add_argument("--csv", default=None, metavar="FILE", help="classify the --text-col of every row instead")
    predict.add_argument("--text-col", default="text", help="the CSV's text column (default text)")
    predict.add_argument("--out", default=None, metavar="DIR", help="also write predictions.csv there")
    predict.set_defaults(func=_predict)

    explain = commands.add_parser(
        "explain", help="why: each token's contribution and the class probability after each prefix",
        description="For one text: each token's gradient x input towards the predicted class (through the "
                    "hand-derived backward) and the probability of that class after each prefix, read forward; "
                    "with --out, explanation.png. Every gate: unrolled explain --model DIR --text TEXT.")
    explain.add_argument("--model", required=True, metavar="DIR", help="the --out directory of 'unrolled classify train'")
    explain.add_argument("text", metavar="TEXT", help="the text to explain")
    explain.add_argument("--out", default=None, metavar="DIR", help="write explanation.png and explanation.json there")
    explain.set_defaults(func=_explain)

    texts = commands.add_parser(
        "texts", help="write the training split's texts, without labels, for 'unrolled lm train --text'",
        description="Write train_texts.txt (one training text per line, as the classifier reads them) to --out, "
                    "so that a language model can learn the same texts before a classifier starts from it "
                    "(--init-from).")
    _add_data(texts)
    texts.add_argument("--keep-case", action="store_true", help="do not lower-case (for --no-lowercase classifiers)")
    texts.add_argument("--out", required=True, metavar="DIR", help="the directory to write train_texts.txt into")
    texts.set_defaults(func=_texts)
