"""Tokenizers: round trips, <unk>, the vocabulary order, saving as JSON."""

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from unrolled.tasks.lm.tokenizers import EOS, UNK, CharTokenizer, SpacedTokenizer, WordTokenizer, tokenizer_from_dict

TEXT = ("Ber.\nWho's there?\n\nFran.\nNay, answer me: stand, and unfold yourself.\n\n"
        "[Enter Horatio and Marcellus.]\n\nHor.\n'Tis now struck twelve; o'er the joint-labourer's day--\n"
        "Peace, break thee off; look where it comes again!\n")


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=sorted(set(TEXT)), max_size=200))
def test_char_round_trip(s):
    tok = CharTokenizer().fit(TEXT)
    assert tok.decode(tok.encode(s)) == s


def test_char_unknown_characters_become_unk():
    tok = CharTokenizer().fit("abca")
    assert tok.vocab_ == [UNK, "a", "b", "c"]  # most frequent first, ties in code-point order
    ids = tok.encode("abzc\u00e9")
    assert ids.tolist() == [1, 2, 0, 3, 0]
    assert tok.decode(ids) == "ab\ufffdc\ufffd"


def test_char_min_freq():
    tok = CharTokenizer(min_freq=2).fit("aab")
    assert tok.vocab_ == [UNK, "a"]


def test_word_round_trip_keeps_layout():
    tok = WordTokenizer(min_freq=1).fit(TEXT)
    assert tok.decode(tok.encode(TEXT)) == TEXT
    assert tok.split("'Tis o'er th' inventors' heads--Stand, ho!\n") == [
        "'Tis", "o'er", "th'", "inventors'", "heads", "--", "Stand", ",", "ho", "!", "\n"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["the", "King", ",", ".", "\n", "'Tis", "--", "[", "]", "?", "o'er", "-"]),
                max_size=40))
def test_word_decoding_is_a_fixed_point(tokens):
    """encode(decode(ids)) == ids: decoding splits no token and merges none, except two runs of
    the same punctuation mark, which become one run (",", "," -> ",,")."""
    assume(not any(a[0] == b[0] and a[0] not in "'\n" and not a[0].isalpha() for a, b in zip(tokens, tokens[1:])))
    tok = WordTokenizer(min_freq=1).fit(TEXT + " King the o'er\n")
    ids = np.array([tok.index_[t] for t in tokens], dtype=np.int64)
    assert tok.encode(tok.decode(ids)).tolist() == ids.tolist()


def test_word_cut_off_and_unk():
    tok = WordTokenizer(min_freq=2).fit("the cat and the dog and the bird\n")
    assert tok.vocab_ == [UNK, "the", "and"]
    assert tok.decode(tok.encode("the cat and the emu")) == "the <unk> and the <unk>"


@pytest.mark.parametrize("cls", [CharTokenizer, WordTokenizer, SpacedTokenizer])
def test_saved_as_json_and_back(cls):
    tok = cls(min_freq=1).fit(TEXT)
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert type(again) is cls and again.vocab_ == tok.vocab_ and again.min_freq == 1
    assert again.encode(TEXT).tolist() == tok.encode(TEXT).tolist()


def test_bad_use_says_what_to_do():
    with pytest.raises(ValueError, match="call fit"):
        CharTokenizer().encode("a")
    with pytest.raises(ValueError, match="non-empty string"):
        WordTokenizer().fit("")
    with pytest.raises(ValueError, match="min_freq"):
        WordTokenizer(min_freq=0)
    tok = CharTokenizer().fit("ab")
    with pytest.raises(ValueError, match=r"\[0, V=3\)"):
        tok.decode([3])
    with pytest.raises(ValueError, match="level"):
        tokenizer_from_dict({"level": "byte", "vocab": [UNK]})
    with pytest.raises(ValueError, match="distinct tokens"):
        tokenizer_from_dict({"level": "char", "vocab": ["a", "b"]})


def test_bundled_word_vocabulary_size():
    from unrolled.tasks.lm import shakespeare

    c = shakespeare()
    tok = WordTokenizer().fit(c.train)  # min_freq=3
    assert tok.vocab_size == 13_083  # as documented in WordTokenizer and DATA.md
    assert (tok.encode(c.test) == 0).mean() == pytest.approx(0.054, abs=0.001)


def test_spaced_tokens_are_what_spaces_separate_and_each_line_ends_with_eos():
    """The Penn Treebank's preparation: tokens as given (``n't``, ``$``, ``<unk>``, ``1\\/2`` kept
    whole), one ``<eos>`` per line break, so a perplexity per token counts sentence ends."""
    text = " the company said it 's <unk> n't $ N 1\\/2 \n mr. <unk> said \n"
    tok = SpacedTokenizer().fit(text)
    assert tok.split(text) == ["the", "company", "said", "it", "'s", "<unk>", "n't", "$", "N", "1\\/2", EOS,
                               "mr.", "<unk>", "said", EOS]
    assert tok.vocab_[:4] == [UNK, EOS, "said", "$"]  # <unk> is id 0 and no other token; then by count
    assert tok.vocab_size == 12 and tok.min_freq == 1
    assert tok.decode(tok.encode(text)) == "the company said it 's <unk> n't $ N 1\\/2\nmr. <unk> said\n"
    assert tok.split("a b") == ["a", "b"]  # a last line without its line break: no <eos>
    assert tok.decode(tok.encode("\n\nsaid")) == "\n\nsaid"
