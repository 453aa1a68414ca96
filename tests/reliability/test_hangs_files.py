"""Files that would hang a read or fill the memory: FIFOs and devices where a JSON or an arrays file
should be, and npz files whose members are larger than they look (unrolled/files.py)."""

import contextlib
import json
import os
import signal
import tracemalloc
import zipfile

import numpy as np
import pytest

import unrolled
import unrolled.files
from unrolled.cli import main
from unrolled.files import load_store, read_json, save_store
from unrolled.tasks.rundir import RunDir


class StillBlocked(Exception):
    """Not an OSError: no ``except OSError`` on the way may take it for an unreadable file."""


@contextlib.contextmanager
def finishes_within(seconds: float):
    """Fail (StillBlocked) instead of hanging when the block is still blocked after ``seconds``."""
    def stop(*_):
        raise StillBlocked(f"still blocked after {seconds} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def store(tmp_path, arrays=None, name="module"):
    """A store written by save_store; returns (directory, its arrays file)."""
    d = tmp_path / "store"
    save_store(d, name, arrays or {"w": np.arange(4.0)}, {"k": 1}, "F")
    return d, d / json.loads((d / f"{name}.json").read_text())["arrays"]


# -- FIFOs and devices ---------------------------------------------------------------------------------
def test_a_fifo_or_device_as_json_is_refused_at_once(tmp_path):
    fifo = tmp_path / "estimator.json"
    os.mkfifo(fifo)
    with finishes_within(5):
        with pytest.raises(ValueError, match="not a regular file"):
            read_json(fifo, "a model directory")
        with pytest.raises(ValueError, match="not a regular file"):
            read_json("/dev/zero", "a model directory")  # would read 64 MiB of zeros, then fail
        with pytest.raises(ValueError, match="not a regular file"):
            unrolled.tasks.rundir.saved_task(tmp_path)


def test_json_is_read_with_a_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(unrolled.files, "MAX_JSON_BYTES", 3 << 20)
    (tmp_path / "a.json").write_text(json.dumps({"k": "x" * (4 << 20)}))
    with pytest.raises(ValueError, match="larger than 3 MiB"):
        read_json(tmp_path / "a.json", "a store")
    (tmp_path / "a.json").write_text(json.dumps({"k": "x" * (2 << 20)}))
    assert len(read_json(tmp_path / "a.json", "a store")["k"]) == 2 << 20


def test_saving_over_a_fifo_does_not_hang(tmp_path):
    d = tmp_path / "ckpt"
    d.mkdir()
    os.mkfifo(d / "last.json")  # save_store reads the old JSON to find the arrays it replaces
    with finishes_within(5):
        save_store(d, "last", {"w": np.ones(3)}, {}, "F")
    assert load_store(d, "last", "F", "checkpoint", "fix")[0]["w"].tolist() == [1, 1, 1]


def test_a_fifo_as_arrays_file_is_refused_at_once(tmp_path):
    d, arrays = store(tmp_path)
    arrays.unlink()
    os.mkfifo(arrays)
    with finishes_within(5), pytest.raises(ValueError, match="not a plain file"):
        load_store(d, "module", "F", "saved module", "fix")


def test_a_run_directory_with_fifos_does_not_hang(tmp_path, capsys):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "model").mkdir()
    os.mkfifo(out / "checkpoints" / "last.json")
    os.mkfifo(out / "model" / "estimator.json")
    (out / "checkpoints" / "last-0123abcd.npz").write_text("x")
    with finishes_within(20):  # opening it reads both JSONs (orphaned arrays); resuming reads last.json
        with RunDir(out, training=True, resume=True):
            pass
        assert main(["forecast", "--resume", "--epochs", "1", "--no-progress", "--out", str(out)]) == 2
        assert main(["explain", "--model", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint" in err and "no trained model" in err
    assert (out / "checkpoints" / "last-0123abcd.npz").exists()  # its JSON unreadable: kept


# -- npz members larger than they look ---------------------------------------------------------------
def add_member(path, name, header_shape, data: bytes, compress=zipfile.ZIP_STORED, repeat=1):
    """Append ``name.npy`` to the npz ``path``: a float64 header claiming ``header_shape``, then
    ``data`` written ``repeat`` times."""
    with zipfile.ZipFile(path, "a", compression=compress) as z, z.open(f"{name}.npy", "w", force_zip64=True) as m:
        np.lib.format.write_array_header_1_0(m, {"descr": "<f8", "fortran_order": False, "shape": header_shape})
        for _ in range(repeat):
            m.write(data)


def test_an_unused_huge_member_is_never_read(tmp_path):
    d, arrays = store(tmp_path)
    mib = 1 << 20
    add_member(arrays, "junk", (256 * mib // 8,), bytes(mib), zipfile.ZIP_DEFLATED, repeat=256)  # 256 MiB
    assert arrays.stat().st_size < 2 * mib
    tracemalloc.start()
    try:
        loaded, _ = load_store(d, "module", "F", "saved module", "fix")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert set(loaded) == {"w"} and loaded["w"].tolist() == [0, 1, 2, 3]
    assert peak < 16 * mib


def test_a_module_with_an_extra_member_loads(tmp_path):
    lin = unrolled.Linear(3, 2)
    lin.save(tmp_path)
    arrays = tmp_path / json.loads((tmp_path / "module.json").read_text())["arrays"]
    add_member(arrays, "extra", (1,), bytes(8))
    other = unrolled.Linear(3, 2)
    other.load(tmp_path)
    assert all(np.array_equal(a, b) for a, b in zip(lin.state_dict().values(), other.state_dict().values()))


@pytest.mark.parametrize("shape, data, fix", [
    ((10 ** 12,), bytes(8), "its header claims"),  # 8 TB claimed by 8 bytes: no allocation, a clear error
    ((2,), bytes(24), "its header claims"),  # padded: more bytes than the header says
])
def test_a_listed_member_must_hold_what_its_header_claims(tmp_path, shape, data, fix):
    d, arrays = store(tmp_path)
    add_member(arrays, "big", shape, data)
    meta = json.loads((d / "module.json").read_text())
    meta["members"].append("big")
    (d / "module.json").write_text(json.dumps(meta))
    with finishes_within(5), pytest.raises(ValueError, match=fix):
        load_store(d, "module", "F", "saved module", "fix")


def test_compressed_arrays_may_not_unpack_beyond_the_file(tmp_path):
    d = tmp_path / "store"
    save_store(d, "module", {"w": np.zeros(1)}, {}, "F")
    meta = json.loads((d / "module.json").read_text())
    np.savez_compressed(d / meta["arrays"], w=np.zeros(4 << 20))  # 32 MiB of zeros in a few kB
    with pytest.raises(ValueError, match="more bytes than the file holds on disk"):
        load_store(d, "module", "F", "saved module", "fix")


def test_a_store_without_a_member_list_still_loads(tmp_path):
    d, _ = store(tmp_path, {"a": np.ones(2), "b": np.zeros((2, 3), dtype=np.float32)})
    meta = json.loads((d / "module.json").read_text())
    del meta["members"]  # as written before the list existed
    (d / "module.json").write_text(json.dumps(meta))
    loaded, _ = load_store(d, "module", "F", "saved module", "fix")
    assert set(loaded) == {"a", "b"} and loaded["b"].dtype == np.float32

    meta["members"] = ["a", "missing"]
    (d / "module.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="no array 'missing'"):
        load_store(d, "module", "F", "saved module", "fix")


def test_a_text_above_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """lm train holds about 19 bytes per character (bench/peak_memory.py --task lm): a text over
    MAX_TEXT_BYTES is refused from its size, naming the limit, not read into memory."""
    from unrolled.tasks.lm import corpus

    monkeypatch.setattr(corpus, "MAX_TEXT_BYTES", 1 << 20)
    big = tmp_path / "big.txt"
    big.write_text("x" * ((1 << 20) + 1))
    with pytest.raises(ValueError, match="larger than 1 MiB \\(MAX_TEXT_BYTES\\)"):
        corpus.read_text(big)
