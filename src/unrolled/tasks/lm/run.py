"""End to end for ``unrolled lm``: train a ``LanguageModel`` and report it beside the n-gram
baseline (``train_lm``), sample from a saved one (``sample_from_dir``), score sentences or a file
with it (``score_from_dir``). The subcommands in ``lm/cli.py`` are thin shells over these."""

from __future__ import annotations

import math
import time

from unrolled.tasks.lm.baseline import DEFAULT_ORDER, evaluate_ngram, make_tokenizer
from unrolled.tasks.lm.corpus import load_corpus, read_text
from unrolled.tasks.lm.model import LanguageModel
from unrolled.tasks.lm.ngram import MAX_ORDER
from unrolled.tasks.rundir import model_dir, open_run, plot_history


def train_lm(text=None, *, data=None, encoding=None, out=None, resume=False, overwrite=False, ngram_order="default",
             echo=print, **params) -> dict:
    """Train on ``text`` (a path or a ``Corpus``), or the named corpus ``data`` (``"ptb"``,
    ``"shakespeare"``; with neither, the bundled Shakespeare, split by work) and measure validation
    and test perplexity / bits per character; ``params`` go to ``LanguageModel``, whose ``level``,
    unless given, is the corpus's own (``Corpus.level``: ``"spaced"`` for the Penn Treebank).

    ``ngram_order`` (the level's default order unless None) also fits interpolated Kneser-Ney on
    the same split and vocabulary. Writes to ``out`` (if given): ``metrics.json``, ``loss.png``,
    ``model/`` (the fitted model) and ``checkpoints/`` (the engine's best / last; ``resume``
    continues from them). Returns the metrics.
    """
    if resume and out is None:
        raise ValueError("--resume needs --out: the directory of the interrupted run")
    own_order = ngram_order not in (None, "default")  # checked now, not after the whole run
    if own_order and (isinstance(ngram_order, bool) or not isinstance(ngram_order, int) or ngram_order < 1):
        raise ValueError(f"--ngram-order {ngram_order!r} is invalid; use a whole number >= 1, or 0 for no n-gram")
    with open_run(out, training=True, resume=resume, overwrite=overwrite) as run:  # before any training
        corpus = load_corpus(text, encoding, data)
        if "level" not in params and corpus.level is not None:
            params["level"] = corpus.level  # the tokens the corpus is prepared for
        lm = LanguageModel(**params, checkpoint_dir=None if run is None else run.checkpoints)
        adopted = lm.check_resume() if resume else []  # the saved run's parameters against these, before any work
        if adopted:
            echo(f"resume: the saved run's {' '.join(adopted)} (flags not given take the saved values)")
        if own_order and ngram_order > MAX_ORDER:
            V = make_tokenizer(lm.level, lm.min_freq).fit(corpus.train).vocab_size
            raise ValueError(f"--ngram-order {ngram_order} with V={V} asks for longer n-grams than MAX_ORDER = "
                             f"{MAX_ORDER} (beyond ~9 they are almost all seen once); use --ngram-order <= {MAX_ORDER}, "
                             "or 0 for no n-gram")
        unit = "bits/char" if lm.level == "char" else "bits/char (total over the split's characters)"
        echo(f"corpus {corpus.source}: {len(corpus.train):,} / {len(corpus.validation):,} / {len(corpus.test):,} "
             f"characters (train / validation / test); {lm.level}-level {lm.cell.upper()}, "
             f"{lm.num_layers} x {lm.hidden_size} hidden, T={lm.seq_len}, B={lm.batch_size}")

        def log(row):
            echo(f"epoch {row['epoch']:>3}  train loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
                 f"val ppl {row['val_perplexity']:.3f}  val {unit} {row['val_bits_per_char']:.4f}")

        if run is not None:
            run.start()  # every check passed: now an earlier run (--overwrite) goes
        t0 = time.perf_counter()
        lm.fit(corpus, resume=resume, log=log)
        seconds = time.perf_counter() - t0
        best = next(r for r in lm.history_ if r["epoch"] == lm.best_epoch_)
        validation = {k[len("val_"):]: v for k, v in best.items() if k.startswith("val_")}
        test = lm.evaluate(corpus.test)
        metrics = {
            "source": corpus.source, "level": lm.level, "cell": lm.cell, "vocab_size": lm.vocab_size_,
            "steps": lm.steps_, "epochs": len(lm.history_), "best_epoch": lm.best_epoch_, "seconds": seconds,
            "out_of_time": lm.out_of_time_,
            "train_tokens_per_second": lm.train_tokens_per_second_,
            "validation": validation, "test": test, "history": lm.history_, "ngram": None,
        }
        echo(f"{lm.steps_} steps in {seconds:.1f} s ({lm.train_tokens_per_second_ or 0:,.0f} training tokens/s); "
             f"best epoch {lm.best_epoch_}" + ("; stopped by --max-minutes" if lm.out_of_time_ else ""))
        echo(f"validation: perplexity {validation['perplexity']:.3f}, {unit} {validation['bits_per_char']:.4f}")
        echo(f"test:       perplexity {test['perplexity']:.3f}, {unit} {test['bits_per_char']:.4f}")
        if ngram_order is not None:
            order = DEFAULT_ORDER[lm.level] if ngram_order == "default" else ngram_order
            row = evaluate_ngram(corpus, level=lm.level, orders=[order], tokenizer=lm.tokenizer_)[0]
            metrics["ngram"] = {k: row[k] for k in ("order", "vocab_size", "validation", "test")}
            echo(f"Kneser-Ney {order}-gram, same split and vocabulary: test perplexity {row['test']['perplexity']:.3f}, "
                 f"{unit} {row['test']['bits_per_char']:.4f}")
        if run is not None:
            run.save_model(lm)
            run.write_metrics(metrics, lm, {"source": corpus.source, "characters": {
                "train": len(corpus.train), "validation": len(corpus.validation), "test": len(corpus.test)}})
            baseline = None
            if metrics["ngram"] is not None:  # the n-gram's validation loss, in the same nats per token
                ng = metrics["ngram"]
                baseline = (f"Kneser-Ney {ng['order']}-gram", ng["validation"]["bits_per_token"] * math.log(2))
            run.write_figure("loss.png", plot_history(lm.history_, lm.best_epoch_, ylabel="cross-entropy (nats per token)",
                                                      metric="val_perplexity", metric_label="validation perplexity",
                                                      baseline=baseline))
            echo(f"wrote {run.path}/: metrics.json, loss.png, model/, checkpoints/")
        return metrics


def load_model(model) -> LanguageModel:
    """A saved ``LanguageModel`` from a run's ``--out`` directory or its ``model/`` subdirectory."""
    return LanguageModel.load(model_dir(model))


def sample_from_dir(model, prime="", length=500, temperature=1.0, top_k=None, seed=None) -> str:
    """``prime`` followed by ``length`` sampled tokens from the model saved in ``model``."""
    return load_model(model).sample(prime, length, temperature=temperature, top_k=top_k, seed=seed,
                                    with_prime=True)


def score_from_dir(model, sentences=None, text=None) -> list[dict]:
    """Log-probability (natural log), perplexity and token count of each sentence, or of the whole
    UTF-8 file ``text``, under the model saved in ``model``; most probable first."""
    if (sentences is None) == (text is None) or (sentences is not None and not sentences):
        raise ValueError("give either sentences to score or --text FILE, not both and not neither")
    lm = load_model(model)
    items = [text] if sentences is None else list(sentences)
    rows = []
    for item in items:
        body = read_text(item) if sentences is None else item
        lp = lm.token_logprobs(body)
        rows.append({"text": str(item), "logprob": float(lp.sum()), "tokens": len(lp),
                     "perplexity": float(math.exp(-lp.mean()))})
    return sorted(rows, key=lambda r: -r["logprob"])
