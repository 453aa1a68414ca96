"""Interpolated Kneser-Ney: distributions sum to one, a hand-worked bigram, the unigram case,
and the vectorised scorer agreeing with the one-context distribution."""

import numpy as np
import pytest

from unrolled.tasks.lm.ngram import KneserNey

rng = np.random.default_rng(0)
TRAIN = rng.integers(0, 6, 400) * (rng.random(400) < 0.8)  # V = 8: skewed to 0, ids 6 and 7 never seen


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("modified", [True, False])
@pytest.mark.parametrize("context", [[], [0], [3, 1], [0, 0, 0, 0], [7, 6, 7, 6], [1, 2, 3, 4, 5, 0, 1]])
def test_distribution_sums_to_one_over_the_vocabulary(order, modified, context):
    m = KneserNey(order, modified=modified).fit(TRAIN, vocab_size=8)
    p = m.distribution(context)
    assert p.shape == (8,) and np.all(p > 0)  # never-seen ids 6, 7 keep some mass
    assert abs(p.sum() - 1) < 1e-12


def test_hand_worked_bigram():
    """ids 0 1 0 1 2 1, V = 3, one discount per order (worked by hand in the comments)."""
    m = KneserNey(2, modified=False).fit([0, 1, 0, 1, 2, 1], vocab_size=3)
    # unigram continuations: 1 follows {0, 2}, 0 and 2 follow {1}: counts 1, 2, 1 of 4; counts-of-counts
    # n1 = 2, n2 = 1 -> D = 2/4 = 0.5, gamma = 0.5 * 3 types: P1(w) = (c - 0.5 + 1.5/3) / 4
    np.testing.assert_allclose(m.distribution([]), [0.25, 0.5, 0.25], atol=1e-15)
    # bigrams 01 x2, 10, 12, 21: n1 = 3, n2 = 1 -> D = 3/5 = 0.6
    np.testing.assert_allclose(m.distribution([0]), [0.6 * 0.25 / 2, (2 - 0.6 + 0.6 * 0.5) / 2, 0.6 * 0.25 / 2])
    np.testing.assert_allclose(m.distribution([1]), [(0.4 + 1.2 * 0.25) / 2, 1.2 * 0.5 / 2, (0.4 + 1.2 * 0.25) / 2])
    np.testing.assert_allclose(m.distribution([2]), [0.6 * 0.25, 0.4 + 0.6 * 0.5, 0.6 * 0.25])
    np.testing.assert_allclose(m.distribution([2, 0]), m.distribution([0]))  # only the last n - 1 ids count


def test_order_one_is_a_discounted_unigram():
    ids = np.array([0] * 50 + [1] * 30 + [2] * 20)
    m = KneserNey(1).fit(ids, vocab_size=4)
    p = m.distribution([3, 2, 1])  # history ignored
    D = 0.5  # every count is large: no n1, the fallback discount
    np.testing.assert_allclose(p, (np.array([50, 30, 20, 0]) - [D, D, D, 0] + D * 3 / 4) / 100)
    assert np.argsort(-p).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("order", [1, 2, 4])
def test_scoring_a_sequence_matches_the_distribution_at_each_step(order):
    m = KneserNey(order).fit(TRAIN, vocab_size=8)
    ids = np.concatenate([TRAIN[:30], [7, 6, 7, 0]])
    lp = m.logprobs(ids, start=0)
    expected = [np.log(m.distribution(ids[:t])[ids[t]]) for t in range(len(ids))]
    np.testing.assert_allclose(lp, expected, rtol=1e-12)
    np.testing.assert_allclose(m.logprobs(ids), lp[1:])  # start=1: the first token is given
    assert m.perplexity(ids) == pytest.approx(np.exp(-lp[1:].mean()))
    assert m.bits_per_token(ids) == pytest.approx(-lp[1:].mean() / np.log(2))


def test_higher_orders_fit_a_repetitive_text_better():
    text = np.tile([0, 1, 2, 3, 2, 1], 50)
    ppl = [KneserNey(n).fit(text, vocab_size=4).perplexity(text) for n in (1, 2, 3)]
    assert ppl[0] > ppl[1] > ppl[2]


def test_a_5gram_over_a_large_vocabulary_fits_in_64_bit_keys():
    """Base-V keys of 5-grams over V = 20,000 would need 20,000^5 > 2^63 values; the keys built
    on the (k-1)-gram's index stay below L V."""
    rng = np.random.default_rng(1)
    V = 20_000
    ids = rng.integers(0, 50, 3000) * 397 % V  # 50 distinct ids spread over [0, V)
    m = KneserNey(5).fit(ids, vocab_size=V)
    for context in ([], ids[:4], ids[100:104], [V - 1, 3, V - 2, 7]):
        p = m.distribution(context)
        assert abs(p.sum() - 1) < 1e-9 and np.all(p > 0)
    seq = np.concatenate([ids[:40], [V - 1, 5], ids[40:60]])  # with two ids never seen in training
    lp = m.logprobs(seq, start=0)
    np.testing.assert_allclose(lp, [np.log(m.distribution(seq[:t])[seq[t]]) for t in range(len(seq))], rtol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="overflow 64-bit"):
        KneserNey(2).fit(np.zeros(2, np.int64), vocab_size=2**62)
    with pytest.raises(ValueError, match="order=17 is more than MAX_ORDER = 16"):
        KneserNey(17)
    with pytest.raises(ValueError, match=r"\[0, V=3\)"):
        KneserNey(2).fit([0, 1, 3], vocab_size=3)
    with pytest.raises(ValueError, match="call fit"):
        KneserNey(2).logprobs([0, 1])
    with pytest.raises(ValueError, match="fewer than order"):
        KneserNey(4).fit([0, 1], vocab_size=3)


def test_golden_bundled_char_trigram():
    """The whole pipeline on the bundled corpus: split, tokenizer, counts, scoring (the numbers
    ``unrolled lm ngram --order 3`` prints)."""
    from unrolled.tasks.lm import CharTokenizer, shakespeare

    c = shakespeare()
    tok = CharTokenizer().fit(c.train)
    assert tok.vocab_size == 85 and not (tok.encode(c.test) == 0).any()  # no test character unseen
    m = KneserNey(3).fit(tok.encode(c.train), tok.vocab_size)
    assert m.bits_per_token(tok.encode(c.validation)) == pytest.approx(2.9290, abs=1e-4)
    assert m.bits_per_token(tok.encode(c.test)) == pytest.approx(2.9573, abs=1e-4)
