"""Files written whole, and arrays + metadata stored and read back safely: the one way unrolled
keeps anything on disk (modules, checkpoints, fitted estimators, a run's outputs).

A *store* named ``name`` in a directory is two files::

    <name>.json               metadata (JSON), with "format", "arrays": the name of ...
    <name>-<8 hex>.npz        ... the arrays (never unpickled: no code is ever loaded),
                              and "members": the names of the arrays in it

``save_store`` writes the arrays under a fresh name first, then replaces the JSON in one rename,
then removes the arrays the old JSON named: a crash at any point leaves the previous store whole
(``remove_orphans`` later removes what a crash or a full disk left behind).

A directory is untrusted input:

* ``load_store``, ``save_store`` and ``remove_orphans`` only ever read or remove an arrays file
  whose name is exactly ``<name>-<8 hex>.npz`` inside that directory, and not a link;
* nothing is opened unless it is a regular file (a FIFO or a device would block or never end);
* the JSON is read with a bound, ``MAX_JSON_BYTES``;
* of the arrays file only the members the JSON lists are read (a store written before the list
  existed: every ``.npy`` member), each checked against its header before it is read, and together
  never more bytes than the file takes on disk (unrolled writes them uncompressed): a large or
  crafted member the store does not use costs nothing, and no header can claim memory the file
  does not hold.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
import secrets
import stat
import tempfile
import zipfile

import numpy as np

MAX_JSON_BYTES = 64 << 20  # a store's metadata is small (histories, tokenizers); never read without bound
TEMP = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")  # what atomic_write leaves behind if killed: .<name>.<8>.tmp


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


def open_regular(path, *, follow_links=True):
    """``path`` opened for binary reading if it is a regular file; OSError otherwise, at once:
    a FIFO is opened without waiting for a writer, and refused (as is a device or a directory),
    checked on the open file, so nothing can be swapped in between."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def arrays_pattern(name: str) -> re.Pattern:
    """The only names the arrays of the store ``name`` may have: ``<name>-<8 hex>.npz``."""
    return re.compile(re.escape(name) + r"-[0-9a-f]{8}\.npz")


def _read_at_most(f, limit: int) -> bytes:
    """The whole of ``f`` if it holds at most ``limit`` bytes, read in pieces (``f.read(limit)``
    would take ``limit`` bytes of memory at once); ValueError otherwise."""
    chunks, total = [], 0
    while chunk := f.read(1 << 20):
        total += len(chunk)
        if total > limit:
            raise ValueError(f"larger than {limit >> 20} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def read_json(path, what: str, *, follow_links=True) -> dict:
    """The JSON object in ``path`` (a regular file of at most ``MAX_JSON_BYTES``; not a link,
    unless ``follow_links``); ValueError naming ``what`` it should be."""
    path = pathlib.Path(path)
    try:
        with open_regular(path, follow_links=follow_links) as f:
            raw = _read_at_most(f, MAX_JSON_BYTES)
        meta = json.loads(raw)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"cannot read {path} ({e}); point to {what} written by unrolled") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path} holds no JSON object; point to {what} written by unrolled")
    return meta


def save_store(directory, name: str, arrays: dict, meta: dict, fmt: str) -> pathlib.Path:
    """Write the store ``name`` (module docstring): ``meta`` plus ``format``, ``arrays`` and
    ``members``. Returns the JSON's path."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{name}.json"
    try:
        old = read_json(json_path, "a store").get("arrays")
    except ValueError:  # none yet, or unreadable: nothing to clean up
        old = None
    arrays_name = f"{name}-{secrets.token_hex(4)}.npz"
    atomic_write(directory / arrays_name, lambda f: np.savez(f, **arrays))
    text = json.dumps({"format": fmt, "arrays": arrays_name, **meta, "members": sorted(arrays)},
                      indent=1, allow_nan=True)
    atomic_write(json_path, lambda f: f.write(text.encode()))
    if isinstance(old, str) and old != arrays_name and arrays_pattern(name).fullmatch(old):
        (directory / old).unlink(missing_ok=True)  # only ever a file this function wrote
    return json_path


def load_store(directory, name: str, fmt: str, what: str, fix: str) -> tuple[dict, dict]:
    """``(arrays, meta)`` of the store ``name`` in ``directory``, its format ``fmt``; ValueError
    naming ``what`` it should be and the ``fix`` when absent, broken or tampered with."""
    directory = pathlib.Path(directory)
    json_path = directory / f"{name}.json"
    if not json_path.is_file():
        raise ValueError(f"no {what} {json_path}; {fix}")
    meta = read_json(json_path, f"a {what}", follow_links=False)  # a file of this directory, as its arrays
    if meta.get("format") != fmt:
        raise ValueError(f"{json_path} is not an unrolled {what} of this version (format {meta.get('format')!r}, "
                         f"expected {fmt!r}); {fix}")
    arrays_name, members = meta.get("arrays"), meta.get("members")
    if not (isinstance(arrays_name, str) and arrays_pattern(name).fullmatch(arrays_name)):
        raise ValueError(f"{json_path} names its arrays {arrays_name!r}, not a file {name}-<8 hex>.npz beside "
                         "it; it was edited: save again")
    if members is not None and not (isinstance(members, list) and all(isinstance(m, str) for m in members)):
        raise ValueError(f"{json_path} lists its arrays as {members!r}, not a list of names; it was edited: save again")
    path = directory / arrays_name
    try:
        f = open_regular(path, follow_links=False)  # no FIFO, device or link: a file of this directory
    except FileNotFoundError:
        raise ValueError(f"the arrays {path} named by {json_path} are missing; save again") from None
    except OSError as e:
        raise ValueError(f"the arrays {path} named by {json_path} are not a plain file ({e}); save again") from None
    try:
        with f, zipfile.ZipFile(f) as z:
            arrays = _read_members(z, members, budget=os.fstat(f.fileno()).st_size)
    except (OSError, ValueError, TypeError, EOFError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise ValueError(f"cannot read the arrays {path} ({e}); save again") from None
    return arrays, meta


def _read_members(z: zipfile.ZipFile, members, budget: int) -> dict:
    """The arrays ``members`` (default: every ``.npy`` member) of the open npz ``z``, together at
    most ``budget`` bytes (the file's size on disk)."""
    infos = {i.filename: i for i in z.infolist()}
    if members is None:  # a store written before "members": every array in it
        members = [n[:-len(".npy")] for n in infos if n.endswith(".npy")]
    arrays = {}
    for key in members:
        info = infos.get(f"{key}.npy")
        if info is None:
            raise ValueError(f"no array {key!r} in it, which its JSON lists")
        if info.file_size > budget:
            raise ValueError(f"its arrays unpack to more bytes than the file holds on disk ({key!r}); unrolled "
                             "writes them uncompressed")
        budget -= info.file_size
        arrays[key] = _read_npy(z, info)
    return arrays


def _read_npy(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` member: its header checked (version, no Python objects, as many bytes as the
    member holds) before any memory is taken for the data."""
    fmt = np.lib.format
    with z.open(info) as m:
        version = fmt.read_magic(m)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(m)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(m)
        else:
            raise ValueError(f"{info.filename}: .npy version {version} is not one np.savez writes")
        if dtype.hasobject or dtype.itemsize == 0:
            raise ValueError(f"{info.filename} holds {dtype}, not numbers")
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size - m.tell() != nbytes:
            raise ValueError(f"{info.filename}: its header claims {shape} {dtype} ({nbytes} bytes), the member "
                             f"holds {info.file_size - m.tell()}")
        buf = bytearray(nbytes)
        view, done = memoryview(buf), 0
        while done < nbytes:
            n = m.readinto(view[done:])
            if not n:
                raise EOFError(f"{info.filename} ends early")
            done += n
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def remove_orphans(directory, stores=()) -> list[pathlib.Path]:
    """Remove from ``directory`` (not below it) what interrupted writes leave behind: temporary
    files of ``atomic_write`` (``.<name>.<8 chars>.tmp``) and, for each store name in ``stores``,
    arrays ``<name>-<8 hex>.npz`` that its ``<name>.json`` does not name (a store whose JSON is
    present but unreadable or names something else is left alone). Only names of exactly those
    forms; a link is removed, never followed. Call it only while no one else writes there (hold
    the directory's lock). Returns what was removed."""
    directory = pathlib.Path(directory)
    if directory.is_symlink() or not directory.is_dir():
        return []
    entries = {e.name: e for e in os.scandir(directory) if e.is_symlink() or e.is_file(follow_symlinks=False)}
    doomed = [n for n in entries if TEMP.fullmatch(n)]
    for store in stores:
        pattern, json_path = arrays_pattern(store), directory / f"{store}.json"
        keep = None
        if os.path.lexists(json_path):
            try:
                keep = read_json(json_path, "a store").get("arrays") if not json_path.is_symlink() else None
            except ValueError:
                keep = None
            if not (isinstance(keep, str) and pattern.fullmatch(keep)):
                continue  # unreadable or edited: the run that reads it says so; nothing is removed
        doomed += [n for n in entries if pattern.fullmatch(n) and n != keep]
    removed = []
    for n in doomed:
        try:
            (directory / n).unlink()
            removed.append(directory / n)
        except FileNotFoundError:
            pass
    return removed


def jsonable(obj):
    """NumPy scalars and dtypes, tuples, paths -> plain JSON values."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.dtype) or (isinstance(obj, type) and issubclass(obj, np.generic)):
        return np.dtype(obj).name
    if isinstance(obj, pathlib.PurePath):
        return str(obj)
    return obj
