"""``unrolled export --model DIR --onnx FILE``: every task's saved model becomes an ONNX file that
runs in ONNX Runtime with the network's own outputs; bad input is one line and exit 2."""

import numpy as np
import pytest

pytest.importorskip("onnx", reason="unrolled export needs the onnx package (pip install -e '.[onnx]')")
pytest.importorskip("onnxruntime", reason="the exported graphs run in onnxruntime (pip install -e '.[onnx]')")

import onnx  # noqa: E402

from unrolled.cli import main  # noqa: E402
from unrolled.tasks.registry import estimator  # noqa: E402

from onnx_testing import assert_outputs, network_case, run_ort  # noqa: E402

TASKS = ("forecast", "lm", "classify", "classify_arrays", "tpp")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """task -> (directory of its saved contract-example model, the fitted estimator)."""
    out = {}
    for task in TASKS:
        cls = estimator(task)
        params, data = cls.contract_example()
        fitted = cls(**params).fit_example(data)
        directory = tmp_path_factory.mktemp(task) / "model"
        fitted.save(directory)
        out[task] = directory, fitted
    return out


@pytest.mark.parametrize("task", TASKS)
def test_export_writes_a_graph_that_runs_like_the_saved_network(task, saved, tmp_path, capsys):
    directory, fitted = saved[task]
    path = tmp_path / f"{task}.onnx"
    assert main(["export", "--model", str(directory), "--onnx", str(path), "--opset", "18"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {path}" in printed and "opset 18" in printed and "inputs" in printed
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 18
    net = getattr(fitted, fitted.network_attr)
    feeds, expected = network_case(net, np.random.default_rng(3), 7, 3)
    assert_outputs(run_ort(model, feeds), expected)


def test_the_language_model_carries_its_state_with_state(saved, tmp_path):
    directory, fitted = saved["lm"]
    path = tmp_path / "lm.onnx"
    assert main(["export", "--model", str(directory), "--onnx", str(path), "--state"]) == 0
    feeds, expected = network_case(fitted.net_, np.random.default_rng(4), 5, 2, state=True)
    assert_outputs(run_ort(onnx.load(str(path)), feeds), expected)


def _one_line_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("unrolled: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_bad_input_is_one_line_naming_the_fix(saved, tmp_path, capsys):
    directory, _ = saved["classify"]
    target = str(tmp_path / "out.onnx")
    assert "is not a directory; give the --out directory of a training run" in _one_line_error(
        capsys, ["export", "--model", str(tmp_path / "none"), "--onnx", target])
    assert "use an ONNX opset from 14" in _one_line_error(
        capsys, ["export", "--model", str(directory), "--onnx", target, "--opset", "9"])
    assert "applies to a language model" in _one_line_error(
        capsys, ["export", "--model", str(directory), "--onnx", target, "--state"])
    assert "does not exist; create it or choose another path" in _one_line_error(
        capsys, ["export", "--model", str(directory), "--onnx", str(tmp_path / "no" / "dir" / "x.onnx")])
    assert "is a directory; give a file name" in _one_line_error(
        capsys, ["export", "--model", str(directory), "--onnx", str(tmp_path)])
    assert not (tmp_path / "out.onnx").exists()


def test_only_a_file_or_a_link_is_replaced(saved, tmp_path, capsys):
    """A FIFO (or a device: ``--onnx /dev/null`` run as root once replaced the device node with a
    file) is never replaced; an empty name or a folder that is a file is named; a link is replaced,
    not written through."""
    import os

    directory, _ = saved["forecast"]
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    assert "not a regular file" in _one_line_error(capsys, ["export", "--model", str(directory), "--onnx", str(fifo)])
    assert fifo.is_fifo()
    assert "names no file" in _one_line_error(capsys, ["export", "--model", str(directory), "--onnx", ""])
    (tmp_path / "file").write_text("x")
    assert "is not a folder" in _one_line_error(
        capsys, ["export", "--model", str(directory), "--onnx", str(tmp_path / "file" / "x.onnx")])
    (tmp_path / "kept").write_text("kept")
    (tmp_path / "link.onnx").symlink_to(tmp_path / "kept")
    assert main(["export", "--model", str(directory), "--onnx", str(tmp_path / "link.onnx")]) == 0
    assert (tmp_path / "kept").read_text() == "kept" and not (tmp_path / "link.onnx").is_symlink()


def test_a_damaged_model_directory_is_refused(saved, tmp_path, capsys):
    import shutil

    directory, _ = saved["forecast"]
    copy = tmp_path / "model"
    shutil.copytree(directory, copy)
    (copy / "estimator.json").write_text('{"format": "unrolled-estimator-1", "task": "forecast", "arrays": "../x"}')
    err = _one_line_error(capsys, ["export", "--model", str(copy), "--onnx", str(tmp_path / "x.onnx")])
    assert "estimator.json" in err or "saved model" in err


def test_without_the_onnx_package_the_fix_is_named(saved, tmp_path, capsys, monkeypatch):
    import sys

    import unrolled.onnx

    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    err = _one_line_error(capsys, ["export", "--model", str(saved["lm"][0]), "--onnx", str(tmp_path / "x.onnx")])
    assert "pip install 'unrolled[onnx]'" in err
    with pytest.raises(ImportError, match="pip install 'unrolled\\[onnx\\]'"):
        unrolled.onnx.load(tmp_path / "x.onnx")
