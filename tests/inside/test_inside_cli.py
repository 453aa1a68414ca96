"""``unrolled explain`` and ``unrolled gradflow``: no arguments, trained models, bad input."""

import numpy as np
import pytest

from unrolled import data
from unrolled.cli import main
from unrolled.tasks.forecast import Forecaster
import unrolled
from unrolled.tasks.lm import LanguageModel
from unrolled.tasks.lm.corpus import shakespeare


@pytest.fixture(scope="module")
def forecast_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("forecast") / "run"
    f = Forecaster(cell="lstm", lookback=5, hidden_size=4, num_layers=2, epochs=1, seed=0)
    f.fit(data.load("sp500").iloc[:300]).save(path / "model")
    return path


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("lm")
    lm = LanguageModel(level="char", cell="gru", embedding_dim=4, hidden_size=6, num_layers=1, dropout=0.0,
                       seq_len=20, batch_size=4, max_steps=3, epochs=1)
    lm.fit(shakespeare().train[:20000]).save(path)
    return path


def test_explain_no_arguments_prints_seed003(capsys):
    assert main(["explain"]) == 0
    out = capsys.readouterr().out
    assert "Seed 003" in out and "0.6091" in out and "0.608" in out and "candidate C~" in out


def test_explain_seed002_and_decimals(capsys):
    assert main(["explain", "--seed002", "--decimals", "3"]) == 0
    out = capsys.readouterr().out
    assert "sequence A" in out and "sequence B" in out and "0.969" in out


def test_explain_bad_input_exits_2(tmp_path, capsys):
    (tmp_path / "w.json").write_text('{"weight_ih_l0": [[1]]}')
    assert main(["explain", "--weights", str(tmp_path / "w.json"), "--input", str(tmp_path / "w.json")]) == 2
    assert "unrolled: error: --weights" in capsys.readouterr().err
    assert main(["explain", "--out", str(tmp_path)]) == 2
    assert "--model" in capsys.readouterr().err
    assert main(["explain", "--model", str(tmp_path)]) == 2
    assert "no trained model" in capsys.readouterr().err


def test_explain_forecast_model_writes_heatmaps(forecast_dir, tmp_path, capsys):
    out = tmp_path / "gates"
    assert main(["explain", "--model", str(forecast_dir), "--start", "1999-06-01", "--end", "1999-08-31",
                 "--out", str(out)]) == 0
    assert "1999-06-01" in capsys.readouterr().out
    assert (out / "gates_l0.png").stat().st_size > 0 and (out / "gates_l1.png").stat().st_size > 0
    est = unrolled.load(forecast_dir)
    x = est.inside_input(start="1999-06-01", end="1999-08-31")[0]
    y, _ = est.recurrent_layer().forward(x)  # the model's own fast path
    with np.load(out / "gates.npz") as z:
        np.testing.assert_allclose(z["l1/h"], y, atol=1e-6)
        assert z["l0/f"].shape == (len(x), 1, 4) and str(z["labels"][0]) == "1999-06-01"


def test_explain_forecast_model_bad_input(forecast_dir, capsys):
    assert main(["explain", "--model", str(forecast_dir), "--start", "2030-01-01"]) == 2
    assert "no rows dated" in capsys.readouterr().err
    assert main(["explain", "--model", str(forecast_dir), "--start", "yesterday-ish"]) == 2
    assert "not a date" in capsys.readouterr().err
    assert main(["explain", "--model", str(forecast_dir), "--text", "hello"]) == 2
    assert "date range" in capsys.readouterr().err


def test_explain_language_model(lm_dir, tmp_path, capsys):
    assert main(["explain", "--model", str(lm_dir), "--text", "To be", "--out", str(tmp_path)]) == 0
    assert "char-level language model" in capsys.readouterr().out
    with np.load(tmp_path / "gates.npz") as z:
        assert z["l0/z"].shape == (6, 1, 6)  # "\n" + "To be"
        assert list(z["labels"]) == ["\\n", "T", "o", "\u2423", "b", "e"]
    assert main(["explain", "--model", str(lm_dir), "--csv", "x.csv"]) == 2


def test_gradflow_writes_pngs_and_csvs(tmp_path, capsys):
    assert main(["gradflow", "--lags", "12", "--hidden-size", "6", "--clip-steps", "4", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "bound holds" in out and "NO" not in out and "clipping" in out
    for name in ("gradflow.png", "gradflow.csv", "clipping.png", "clipping.csv"):
        assert (tmp_path / name).stat().st_size > 0
    rows = (tmp_path / "gradflow.csv").read_text().splitlines()
    assert rows[0].startswith("cell,scale,lag,norm") and len(rows) == 1 + 3 * 4 * 13


def test_gradflow_with_models(forecast_dir, lm_dir, capsys):
    assert main(["gradflow", "--model", str(forecast_dir), "--lags", "8", "--clip-steps", "0"]) == 0
    assert "lstm (trained)" in capsys.readouterr().out
    assert main(["gradflow", "--model", str(lm_dir), "--lags", "8", "--clip-steps", "0"]) == 0
    assert "gru (trained)" in capsys.readouterr().out


def test_gradflow_bad_input(forecast_dir, capsys):
    assert main(["gradflow", "--lags", "0"]) == 2
    assert "--lags" in capsys.readouterr().err
    assert main(["gradflow", "--scales", "-1", "--clip-steps", "0"]) == 2
    assert main(["gradflow", "--model", str(forecast_dir), "--cells", "rnn"]) == 2
    with pytest.raises(SystemExit):
        main(["gradflow", "--cells", "transformer"])
