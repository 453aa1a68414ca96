"""Transfer from a language model (seed 004 sec. 4.2, "learning contextual embeddings for
downstream tasks"; Dai & Le 2015, "Semi-supervised sequence learning"): a text model starts from
the tokenizer, embedding and recurrent weights of a model ``unrolled lm train`` fitted on
unlabelled text, then all of it is fine-tuned.

The language model reads forward, so it gives the forward direction of each layer whose shapes
agree: all of a one-way stack, the first layer's forward direction of a bidirectional one (a
deeper layer of a bidirectional stack reads 2H features, not H). The reverse direction and the
head start at random. Which tensors were copied is kept in ``transferred_``.
"""

from __future__ import annotations

from unrolled.tasks.rundir import model_dir, saved_task

AGREE = ("cell", "hidden_size", "embedding_dim", "level")  # what must match the language model's


def language_model(est):
    """The fitted ``LanguageModel`` in ``est.init_from`` (a run directory or its ``model/``),
    checked against ``est``'s sizes; read once per estimator."""
    from unrolled.tasks.lm.model import LanguageModel

    cached = getattr(est, "_language_model", None)
    if cached is not None and cached[0] == est.init_from:
        return cached[1]
    directory = model_dir(est.init_from)
    task = saved_task(directory)
    if task != LanguageModel.task:
        raise ValueError(f"--init-from {est.init_from} holds a {task!r} model; give the --out directory of "
                         "'unrolled lm train'")
    lm = LanguageModel.load(directory)
    differ = [f"--{k.replace('_', '-')} {getattr(lm, k)}" for k in AGREE if getattr(lm, k) != getattr(est, k)]
    if differ:
        raise ValueError(f"--init-from {est.init_from}: the language model has {', '.join(differ)}; give the "
                         "classifier the same, or train a language model of this classifier's sizes")
    est._language_model = (est.init_from, lm)
    return lm


def copy_weights(lm, net) -> list[str]:
    """Copy the language model's embedding and every recurrent tensor ``net`` has in the same
    shape; return their state-dict names."""
    source, target = lm.net_.state_dict(), net.state_dict()
    names = [k for k, v in source.items() if k.split(".")[0] in ("encoder", "rnn") and k in target
             and target[k].shape == v.shape]
    if "encoder.weight" not in names:
        raise ValueError("the language model's embedding does not fit this classifier; train both with the same "
                         "--embedding-dim and tokenizer")
    net.load_state_dict({**target, **{k: source[k] for k in names}})
    return names
