"""The bundled corpus and its split by work; reading any UTF-8 file, and its bad-input errors."""

import pytest

from unrolled.tasks.lm.corpus import (TEST_WORKS, VALIDATION_WORKS, load_corpus, read_text, shakespeare,
                                shakespeare_split, shakespeare_works, split_text)


def test_bundled_corpus_holds_42_works_with_titles():
    works = shakespeare_works()
    assert len(works) == 42
    titles = {w.title for w in works}
    assert {"Hamlet", "King Lear", "Sonnets", "The Tempest"} <= titles
    assert len(titles) == 42
    assert all(w.text.endswith("\n") and not w.text.startswith("\n") for w in works)
    assert sum(len(w.text) for w in works) == 5_053_902


def test_split_is_by_work_disjoint_and_complete():
    keys = {s: {w.key for w in shakespeare_split(s)} for s in ("train", "validation", "test")}
    assert keys["validation"] == set(VALIDATION_WORKS) and keys["test"] == set(TEST_WORKS)
    assert not (keys["train"] & keys["validation"] or keys["train"] & keys["test"]
                or keys["validation"] & keys["test"])
    assert len(keys["train"]) + len(keys["validation"]) + len(keys["test"]) == 42
    c = shakespeare()
    assert (len(c.train), len(c.validation), len(c.test)) == (4_056_448, 464_784, 532_709)  # the docstring's table
    assert c.test.startswith("HAMLET, PRINCE OF DENMARK")
    assert "To be, or not to be" in c.test and "To be, or not to be" not in c.train


def test_unknown_split_names_the_choices():
    with pytest.raises(ValueError, match="'train', 'validation' or 'test'"):
        shakespeare_split("dev")


def test_any_utf8_file_is_split_by_position_at_line_breaks(tmp_path):
    lines = [f"line {i} \u00e9\u00e8" for i in range(200)]
    path = tmp_path / "t.txt"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    c = load_corpus(path)
    assert c.train + c.validation + c.test == "\n".join(lines) + "\n"  # CRLF made LF, nothing lost
    assert c.train.endswith("\n") and c.validation.endswith("\n")
    assert 0.88 < len(c.train) / len(c.train + c.validation + c.test) < 0.92
    assert c.source == str(path)


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"  \n\n", "is empty"),
    (b"abc\x00def", "binary"),
    (b"caf\xe9 cr\xe8me", "not valid UTF-8.*iconv"),
])
def test_bad_files_raise_a_message_that_names_the_fix(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_text(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="not a file"):
        read_text(tmp_path)


def test_too_short_to_split():
    with pytest.raises(ValueError, match="too few to split"):
        split_text("abc")
