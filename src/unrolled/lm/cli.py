"""``unrolled lm ...``: the language-model subcommands, thin shells over :mod:`unrolled.lm`."""

from __future__ import annotations


def _ngram(args) -> int:
    from .baseline import evaluate_ngram

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
