"""Using a language model: sampling (seeded, temperature, top-k, greedy), scoring as a sum of
token log-probabilities, ranking; the n-gram baseline on text and its command."""

import numpy as np
import pytest

from unrolled.cli import main
from unrolled.tasks.lm import sampling
from unrolled.tasks.lm.baseline import NGramModel, evaluate_ngram
from unrolled.tasks.lm.ngram import KneserNey

VERSE = ("Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n"
         "Rough winds do shake the darling buds of May,\nAnd summer's lease hath all too short a date;\n") * 20


@pytest.fixture(scope="module")
def chars():
    return NGramModel("char", order=4).fit(VERSE)


def test_same_seed_same_sample(chars):
    a = chars.sample("Shall", length=80, seed=3)
    assert a == chars.sample("Shall", length=80, seed=3)
    assert a != chars.sample("Shall", length=80, seed=4)
    assert len(chars.tokenizer_.encode(a)) == 80


def test_greedy_and_top_one_agree_and_follow_the_argmax(chars):
    greedy = chars.sample("Rough w", length=30, temperature=0)
    assert greedy == chars.sample("Rough w", length=30, top_k=1, seed=9)
    assert greedy == chars.sample("Rough w", length=30, temperature=0, seed=1)
    assert greedy.startswith("inds d")


def test_pick_temperature_and_top_k():
    logp = np.log([0.5, 0.3, 0.15, 0.05])
    rng = np.random.default_rng(0)
    draws = np.array([sampling.pick(logp, rng, top_k=2) for _ in range(2000)])
    assert set(draws) == {0, 1} and abs((draws == 0).mean() - 0.5 / 0.8) < 0.04
    cold = np.array([sampling.pick(logp, rng, temperature=0.2) for _ in range(500)])
    assert (cold == 0).mean() > 0.9  # low temperature sharpens toward the mode
    with pytest.raises(ValueError, match="temperature"):
        sampling.pick(logp, rng, temperature=-1)


def test_sentence_logprob_is_the_sum_of_token_logprobs(chars):
    model, tok = chars.model_, chars.tokenizer_
    sentence, context = "Thou art more lovely", "\n"
    per_token = sampling.token_logprobs(model.step, tok.encode(sentence), tok.encode(context))
    assert per_token.shape == (len(sentence),)
    np.testing.assert_allclose(per_token, chars.token_logprobs(sentence, context), rtol=1e-12)
    assert chars.score(sentence) == pytest.approx(per_token.sum(), rel=1e-12)
    assert sampling.sequence_logprob(model.step, tok.encode(sentence), tok.encode(context)) == \
        pytest.approx(per_token.sum(), rel=1e-12)


def test_rank_puts_the_real_line_first(chars):
    real = "Rough winds do shake the darling buds of May,"
    ranked = chars.rank(["May of buds darling the shake do winds Rough,", real, "Rough wynds doo shaik"])
    assert ranked[0][0] == real
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    ids = [chars.tokenizer_.encode(t) for t in ("zzzz", "the ")]
    assert [i for i, _ in sampling.rank(chars.model_.step, ids)] == [1, 0]


def test_word_model_samples_keep_line_structure():
    words = NGramModel("word", order=3, min_freq=1).fit(VERSE)
    text = words.sample("\n", length=60, seed=0)
    assert text.count("\n") >= 3
    assert words.perplexity(VERSE) < 3


def test_evaluate_ngram_on_a_file_and_the_command(tmp_path, capsys):
    path = tmp_path / "verse.txt"
    path.write_text(VERSE, encoding="utf-8")
    rows = evaluate_ngram(str(path), level="char", orders=[2, 3])
    assert [r["order"] for r in rows] == [2, 3]
    assert rows[1]["test"]["bits_per_token"] < rows[0]["test"]["bits_per_token"]
    assert rows[0]["test"]["bits_per_char"] == pytest.approx(rows[0]["test"]["bits_per_token"])
    assert main(["lm", "ngram", "--text", str(path), "--order", "2", "3"]) == 0
    out = capsys.readouterr().out
    assert "char level" in out and len(out.strip().splitlines()) == 4


def test_command_reports_a_bad_file(tmp_path, capsys):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\x00\x01\x02")
    assert main(["lm", "ngram", "--text", str(path)]) != 0
    err = capsys.readouterr().err
    assert err.startswith("unrolled: error:") and "binary" in err


def test_unfitted_model_says_fit_first():
    with pytest.raises(ValueError, match="call fit"):
        NGramModel().sample()
    with pytest.raises(ValueError, match="'char', 'word' or 'spaced'"):
        NGramModel("byte").fit("abc")
    assert isinstance(KneserNey(2).fit([0, 1], 2).step([1], None)[1], np.ndarray)
