"""``unrolled lm ...``: the language-model subcommands, thin shells over :mod:`unrolled.tasks.lm`
(``train_lm``, ``sample_from_dir``, ``score_from_dir`` in ``lm/run.py``; ``evaluate_ngram``)."""

from __future__ import annotations

import argparse


def _train(args) -> int:
    from unrolled.tasks.lm.run import train_lm

    params = {k: getattr(args, k) for k in (
        "level", "cell", "embedding_dim", "hidden_size", "num_layers", "dropout", "seq_len", "batch_size",
        "lr", "clip", "epochs", "max_steps", "max_minutes", "steps_per_epoch", "lr_decay", "optimizer", "patience",
        "min_freq", "eval_batch_size", "seed", "progress")}
    if params["clip"] == 0:
        params["clip"] = None
    params["epochs"] = params["epochs"] or 10  # unused when --max-steps decides
    train_lm(args.text, out=args.out, resume=args.resume,
             ngram_order=None if args.ngram_order == 0 else (args.ngram_order or "default"), **params)
    return 0


def _sample(args) -> int:
    from unrolled.tasks.lm.run import sample_from_dir

    print(sample_from_dir(args.model, args.prime, args.length, temperature=args.temperature,
                          top_k=args.top_k, seed=args.seed))
    return 0


def _score(args) -> int:
    from unrolled.tasks.lm.run import score_from_dir

    rows = score_from_dir(args.model, sentences=args.sentences or None, text=args.text)
    print(f"{'rank':>4}  {'log-prob':>12}  {'perplexity':>11}  {'tokens':>7}  text")
    for k, r in enumerate(rows, start=1):
        shown = r["text"] if len(r["text"]) <= 60 else r["text"][:57] + "..."
        print(f"{k:>4}  {r['logprob']:>12.4f}  {r['perplexity']:>11.4f}  {r['tokens']:>7}  {shown!r}")
    return 0


def _ngram(args) -> int:
    from unrolled.tasks.lm.baseline import evaluate_ngram

    rows = evaluate_ngram(args.text, level=args.level, orders=args.order, min_freq=args.min_freq)
    first = rows[0]
    print(f"interpolated Kneser-Ney, {first['level']} level, corpus {first['source']}: V={first['vocab_size']} "
          f"(min_freq {first['min_freq']}), {first['train_tokens']:,} training tokens")
    unit = "bits/char" if args.level == "char" else "bits/token"
    print(f"{'order':>5}  {'val ' + unit:>15}  {'val ppl':>9}  {'test ' + unit:>15}  {'test ppl':>9}  {'fit s':>6}")
    for r in rows:
        v, t = r["validation"], r["test"]
        print(f"{r['order']:>5}  {v['bits_per_token']:>15.4f}  {v['perplexity']:>9.2f}  "
              f"{t['bits_per_token']:>15.4f}  {t['perplexity']:>9.2f}  {r['fit_seconds']:>6.1f}")
    return 0


def add_lm_parser(sub) -> None:
    """Add ``lm`` and its subcommands to the top-level subparsers."""
    lm = sub.add_parser("lm", help="language models on the bundled Shakespeare or any UTF-8 text file")
    lm_sub = lm.add_subparsers(dest="lm_command", metavar="LM_COMMAND")
    lm.set_defaults(func=lambda args: (lm.print_help(), 2)[1])

    ngram = lm_sub.add_parser("ngram", help="interpolated Kneser-Ney n-gram baseline: validation and test "
                                            "bits per token and perplexity")
    ngram.add_argument("--text", metavar="FILE", help="a UTF-8 text file, split 90/5/5 by position "
                                                      "(default: the bundled Shakespeare, split by work)")
    ngram.add_argument("--level", choices=("char", "word"), default="char", help="tokens (default char)")
    ngram.add_argument("--order", type=int, nargs="+", metavar="N",
                       help="n-gram order(s), one row each (default 7 for char, 3 for word)")
    ngram.add_argument("--min-freq", type=int, metavar="K",
                       help="rarer tokens in the training split become <unk> (default 1 for char, 3 for word)")
    ngram.set_defaults(func=_ngram)

    train = lm_sub.add_parser(
        "train", help="train a recurrent language model; report validation / test perplexity beside the n-gram",
        description="Train a character- or word-level RNN / LSTM / GRU language model with stateful truncated "
                    "BPTT and report validation and test perplexity and bits per character, beside an "
                    "interpolated Kneser-Ney n-gram on the same split and vocabulary. With no --text: the "
                    "bundled Shakespeare, split by work.")
    train.add_argument("--text", metavar="FILE", help="a UTF-8 text file, split 90/5/5 by position "
                                                      "(default: the bundled Shakespeare, split by work)")
    train.add_argument("--level", choices=("char", "word"), default="char", help="tokens (default char)")
    train.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="lstm", help="recurrent cell (default lstm)")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, default=None,
                        help="passes over the training text (default 10); early stopping may end sooner")
    length.add_argument("--max-steps", type=int, default=None, metavar="N",
                        help="stop after N segments (optimizer steps) in all, instead of --epochs")
    train.add_argument("--max-minutes", type=float, default=None, metavar="M",
                       help="wall-clock budget: training and validation stop within M minutes (the epoch "
                            "running then is cut short and validated)")
    train.add_argument("--steps-per-epoch", type=int, default=None, metavar="N",
                       help="validate (and checkpoint) every N steps instead of once per pass over the text")
    train.add_argument("--embedding-dim", type=int, default=64, help="embedding size E (default 64)")
    train.add_argument("--hidden", dest="hidden_size", type=int, default=256, help="hidden units H per layer (default 256)")
    train.add_argument("--layers", dest="num_layers", type=int, default=2, help="stacked recurrent layers (default 2)")
    train.add_argument("--dropout", type=float, default=0.2,
                       help="dropout on embeddings, between layers and before the output layer (default 0.2)")
    train.add_argument("--seq-len", type=int, default=100, help="T: time steps per BPTT segment (default 100)")
    train.add_argument("--batch-size", type=int, default=32, help="B: parallel streams of the training text (default 32)")
    train.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default="adam", help="optimizer (default adam)")
    train.add_argument("--lr", type=float, default=2e-3, help="learning rate (default 2e-3)")
    train.add_argument("--lr-decay", type=float, default=1.0,
                       help="multiply the learning rate by this after every epoch (default 1: constant)")
    train.add_argument("--clip", type=float, default=5.0, help="gradient-norm bound, 0 for none (default 5)")
    train.add_argument("--patience", type=int, default=3,
                       help="epochs without a better validation loss before stopping (default 3)")
    train.add_argument("--min-freq", type=int, default=None, metavar="K",
                       help="rarer training tokens become <unk> (default 1 for char, 3 for word)")
    train.add_argument("--eval-batch-size", type=int, default=16,
                       help="streams when evaluating a split; 1 = one exact sequential pass (default 16)")
    train.add_argument("--ngram-order", type=int, default=None, metavar="N",
                       help="order of the Kneser-Ney baseline reported beside the model, 0 for none "
                            "(default 7 for char, 3 for word)")
    train.add_argument("--seed", type=int, default=0, help="seed for weights and dropout (default 0)")
    train.add_argument("--out", metavar="DIR", help="directory for metrics.json, loss.png, model/ and checkpoints/")
    train.add_argument("--resume", action="store_true", help="continue the interrupted run saved in --out")
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="progress bar with the running loss (default: only on a terminal)")
    train.set_defaults(func=_train)

    sample = lm_sub.add_parser("sample", help="generate text from a trained model",
                               description="Print --prime followed by --length sampled tokens.")
    sample.add_argument("--model", required=True, metavar="DIR", help="the --out directory of 'unrolled lm train'")
    sample.add_argument("--prime", default="", help="text to continue (default: none, a new line)")
    sample.add_argument("--length", type=int, default=500, metavar="N", help="tokens to generate (default 500)")
    sample.add_argument("--temperature", type=float, default=1.0,
                        help="0 = greedy, below 1 = safer, above 1 = wilder (default 1)")
    sample.add_argument("--top-k", type=int, default=None, metavar="K",
                        help="sample only among the K most likely tokens (default: all)")
    sample.add_argument("--seed", type=int, default=None, help="the same seed gives the same text (default: random)")
    sample.set_defaults(func=_sample)

    score = lm_sub.add_parser("score", help="log-probability and perplexity of sentences or a file, ranked",
                              description="Score each SENTENCE (or the whole --text FILE) under a trained model: "
                                          "natural-log probability and perplexity, most probable first.")
    score.add_argument("--model", required=True, metavar="DIR", help="the --out directory of 'unrolled lm train'")
    score.add_argument("--text", metavar="FILE", help="score this UTF-8 file as one text")
    score.add_argument("sentences", nargs="*", metavar="SENTENCE", help="sentences to score and rank")
    score.set_defaults(func=_score)
