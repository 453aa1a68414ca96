"""Files written whole, and arrays + metadata stored and read back safely: the one way unrolled
keeps anything on disk (modules, checkpoints, fitted estimators, a run's outputs).

A *store* named ``name`` in a directory is two files::

    <name>.json               metadata (JSON), with "format" and "arrays": the name of ...
    <name>-<8 hex>.npz        ... the arrays (read with allow_pickle=False: no code is ever loaded)

``save_store`` writes the arrays under a fresh name first, then replaces the JSON in one rename,
then removes the arrays the old JSON named: a crash at any point leaves the previous store whole.
A directory is untrusted input: ``load_store`` and ``save_store`` only ever touch an arrays file
whose name is exactly ``<name>-<8 hex>.npz`` inside that directory, and read the JSON with a
bound on its size.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import secrets
import tempfile
import zipfile

import numpy as np

MAX_JSON_BYTES = 64 << 20  # a store's metadata is small (histories, tokenizers); never read without bound


def atomic_write(path, write) -> pathlib.Path:
    """``write(binary file)`` into a temporary file beside ``path``, then rename it over ``path``:
    a reader sees the old file or the whole new one, and a link at ``path`` is replaced, not
    written through."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; what we save is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _arrays_name(name: str) -> re.Pattern:
    return re.compile(re.escape(name) + r"-[0-9a-f]{8}\.npz")


def read_json(path, what: str) -> dict:
    """The JSON object in ``path`` (at most ``MAX_JSON_BYTES``); ValueError naming ``what`` it should be."""
    path = pathlib.Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_JSON_BYTES + 1)
        if len(raw) > MAX_JSON_BYTES:
            raise ValueError(f"larger than {MAX_JSON_BYTES >> 20} MiB")
        meta = json.loads(raw)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"cannot read {path} ({e}); point to {what} written by unrolled") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path} holds no JSON object; point to {what} written by unrolled")
    return meta


def save_store(directory, name: str, arrays: dict, meta: dict, fmt: str) -> pathlib.Path:
    """Write the store ``name`` (module docstring): ``meta`` plus ``format`` and ``arrays``.
    Returns the JSON's path."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{name}.json"
    try:
        old = read_json(json_path, "a store").get("arrays")
    except ValueError:  # none yet, or unreadable: nothing to clean up
        old = None
    arrays_name = f"{name}-{secrets.token_hex(4)}.npz"
    atomic_write(directory / arrays_name, lambda f: np.savez(f, **arrays))
    text = json.dumps({"format": fmt, "arrays": arrays_name, **meta}, indent=1, allow_nan=True)
    atomic_write(json_path, lambda f: f.write(text.encode()))
    if isinstance(old, str) and old != arrays_name and _arrays_name(name).fullmatch(old):
        (directory / old).unlink(missing_ok=True)  # only ever a file this function wrote
    return json_path


def load_store(directory, name: str, fmt: str, what: str, fix: str) -> tuple[dict, dict]:
    """``(arrays, meta)`` of the store ``name`` in ``directory``, its format ``fmt``; ValueError
    naming ``what`` it should be and the ``fix`` when absent, broken or tampered with."""
    directory = pathlib.Path(directory)
    json_path = directory / f"{name}.json"
    if not json_path.is_file():
        raise ValueError(f"no {what} {json_path}; {fix}")
    meta = read_json(json_path, f"a {what}")
    if meta.get("format") != fmt:
        raise ValueError(f"{json_path} is not an unrolled {what} of this version (format {meta.get('format')!r}, "
                         f"expected {fmt!r}); {fix}")
    arrays_name = meta.get("arrays")
    if not (isinstance(arrays_name, str) and _arrays_name(name).fullmatch(arrays_name)):
        raise ValueError(f"{json_path} names its arrays {arrays_name!r}, not a file {name}-<8 hex>.npz beside "
                         "it; it was edited: save again")
    path = directory / arrays_name
    if not path.is_file():  # also refuses a FIFO or device, which would block or never end
        raise ValueError(f"the arrays {path} named by {json_path} are missing; save again")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"cannot read the arrays {path} ({e}); save again") from None
    return arrays, meta
