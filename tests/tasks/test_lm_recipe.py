"""Zaremba et al. (2014)'s recipe in the engine and the language model: the learning rate held for
some epochs, then divided after each (torch's schedules as the oracle; a resumed run restores the
rate exactly), every parameter from U(-a, a), dropout on the non-recurrent connections only, and
the presets that name the paper's two configurations."""

import json

import numpy as np
import pytest

from unrolled.cli import main
from unrolled.tasks.lm.model import LanguageModel
from unrolled.tasks.lm.network import RecurrentLM
from unrolled.tasks.lm.presets import PRESETS, preset
from unrolled.train import optim
from unrolled.train.config import TrainConfig

VERSE = ("Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n"
         "Rough winds do shake the darling buds of May,\nAnd summer's lease hath all too short a date;\n") * 4
TINY = dict(embedding_dim=8, hidden_size=16, num_layers=1, dropout=0.0, seq_len=10, batch_size=4, patience=None,
            progress=False)


def rates(scheduler, epochs):
    """The learning rate each epoch trains at, 1..epochs (the scheduler steps after each)."""
    out = []
    for _ in range(epochs):
        out.append(scheduler.get_last_lr())
        scheduler.step()
    return out


def sgd(lr=1.0):
    return optim.SGD(({"w": np.zeros(2)}, {"w": np.zeros(2)}), lr=lr)


def test_small_configs_schedule_is_their_codes():
    """main.lua: ``if epoch > max_epoch then lr = lr / decay`` at the end of each epoch: with
    max_epoch 4 and decay 2, epochs 1-5 at 1, then halved, 13 epochs."""
    got = rates(optim.ExponentialLR(sgd(), 0.5, after=4), 13)
    assert got == [1.0] * 5 + [0.5 ** k for k in range(1, 9)]


@pytest.mark.parametrize("after", [0, 3])
def test_schedules_match_torch(after):
    """ExponentialLR(after) = torch's LambdaLR(gamma ** max(0, e - after)); after=0 is torch's own
    ExponentialLR and StepLR."""
    torch = pytest.importorskip("torch")
    gamma = 1 / 1.2
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    ref = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([p], lr=1.0), lambda e: gamma ** max(0, e - after))
    expected = []
    for _ in range(12):
        expected.append(ref.get_last_lr()[0])
        ref.optimizer.step()
        ref.step()
    np.testing.assert_allclose(rates(optim.ExponentialLR(sgd(), gamma, after=after), 12), expected, rtol=1e-14)
    if after == 0:
        step = torch.optim.lr_scheduler.StepLR(torch.optim.SGD([p], lr=1.0), 3, 0.5)
        expected = []
        for _ in range(10):
            expected.append(step.get_last_lr()[0])
            step.optimizer.step()
            step.step()
        assert rates(optim.StepLR(sgd(), 3, 0.5), 10) == expected
    else:  # StepLR counts its steps from the end of epoch `after`
        assert rates(optim.StepLR(sgd(), 2, 0.5, after=after), 9) == [1, 1, 1, 1, 1, 0.5, 0.5, 0.25, 0.25]


def test_scheduler_state_and_config():
    s = optim.ExponentialLR(sgd(), 0.5, after=4)
    rates(s, 6)
    again = optim.ExponentialLR(sgd(0.25), 0.5).load_state_dict(json.loads(json.dumps(s.state_dict())))
    assert again.after == 4 and again.last_epoch == 6
    assert rates(again, 3) == [0.25, 0.125, 0.0625]
    built = optim.scheduler_for(sgd(), TrainConfig(schedule="exponential", gamma=0.5, decay_after=2))
    assert isinstance(built, optim.ExponentialLR) and rates(built, 4) == [1, 1, 1, 0.5]
    assert optim.scheduler_for(sgd(), TrainConfig()) is None
    with pytest.raises(ValueError, match="decay_after=-1 is invalid; use a whole number >= 0"):
        TrainConfig(decay_after=-1)
    with pytest.raises(ValueError, match="after=1.5 is invalid; use a whole number of epochs >= 0"):
        optim.ExponentialLR(sgd(), 0.5, after=1.5)


def test_the_language_model_trains_each_epoch_at_the_scheduled_rate():
    lm = LanguageModel(**TINY, optimizer="sgd", lr=1.0, lr_decay=0.5, lr_decay_after=2, epochs=5).fit(VERSE)
    assert [r["lr"] for r in lm.history_] == [1.0, 1.0, 1.0, 0.5, 0.25]


def test_resume_restores_the_learning_rate_exactly(tmp_path):
    """Interrupted after epoch 2 (before epoch 3 is saved) and resumed: the same rate at every
    epoch, bit for bit (1/1.2 is no power of two: the rate is carried, not recomputed), and the
    same weights as the run that was never interrupted."""
    params = {**TINY, "optimizer": "sgd", "lr": 0.5, "lr_decay": 1 / 1.2, "lr_decay_after": 1, "epochs": 5}
    full = LanguageModel(**params).fit(VERSE)

    def crash(row):
        if row["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        LanguageModel(**params, checkpoint_dir=tmp_path).fit(VERSE, log=crash)
    saved = json.loads((tmp_path / "last.json").read_text())
    assert saved["epoch"] == 2 and saved["optimizer"]["hyperparams"]["lr"] == 0.5 / 1.2
    assert saved["scheduler"]["after"] == 1 and saved["scheduler"]["last_epoch"] == 2
    resumed = LanguageModel(checkpoint_dir=tmp_path, progress=False).fit(VERSE, resume=True)
    assert resumed.lr_decay_after == 1  # not given: the saved run's
    assert [r["lr"] for r in resumed.history_] == [r["lr"] for r in full.history_] == \
        [0.5, 0.5, 0.5 / 1.2, 0.5 / 1.2 / 1.2, 0.5 / 1.2 / 1.2 / 1.2]
    for k, v in full.net_.state_dict().items():
        assert np.array_equal(resumed.net_.params[k], v), k
    with pytest.raises(ValueError, match="--lr-decay-after 1; now --lr-decay-after 3"):
        LanguageModel(**{**params, "lr_decay_after": 3}, checkpoint_dir=tmp_path).fit(VERSE, resume=True)


def test_init_range_draws_every_parameter_uniformly():
    a = 0.05
    net = RecurrentLM("lstm", 300, 20, 30, num_layers=2, init_range=a, seed=3)
    for k, p in net.params.items():
        assert p.dtype == np.float32 and np.abs(p).max() <= a, k
        assert np.abs(p).max() > 0.9 * a and abs(p.mean()) < 0.2 * a, k  # spread over the whole range
    same = RecurrentLM("lstm", 300, 20, 30, num_layers=2, init_range=a, seed=3)
    assert all(np.array_equal(same.params[k], p) for k, p in net.params.items())
    other = RecurrentLM("lstm", 300, 20, 30, num_layers=2, init_range=a, seed=4)
    assert not np.array_equal(other.params["decoder.weight"], net.params["decoder.weight"])
    default = RecurrentLM("lstm", 300, 20, 30, num_layers=2, seed=3)
    assert np.abs(default.params["encoder.weight"]).max() > 1  # N(0, 1) embedding: each layer's own
    with pytest.raises(ValueError, match="init_range=0 is invalid"):
        RecurrentLM("lstm", 30, 4, 5, init_range=0)


def test_the_language_model_passes_init_range_on():
    lm = LanguageModel(**TINY, init_range=0.01, optimizer="sgd", lr=1e-12, max_steps=1).fit(VERSE)
    assert max(np.abs(p).max() for p in lm.net_.params.values()) <= 0.01 + 1e-9
    with pytest.raises(ValueError, match="init_range=-1 is invalid; use a positive number such as 0.1, or None"):
        LanguageModel(init_range=-1)


def test_dropout_touches_only_the_non_recurrent_connections():
    """A training forward with dropout equals the stack run layer by layer without dropout on
    inputs masked by the same masks: into layer 1, between the layers, out of layer 2 -- no mask
    inside the recurrence, as Zaremba et al."""
    from unrolled.nn.recurrent import LSTM

    V, E, H, T, B = 11, 4, 5, 6, 3
    net = RecurrentLM("lstm", V, E, H, num_layers=2, dropout=0.5, dtype=np.float64, seed=2)
    ids = np.random.default_rng(0).integers(0, V, (T, B))
    logits, _ = net.forward(ids)  # training mode
    between = net.rnn._cache[1][0]  # the stack's mask on layer 1's output
    assert net.drop_in._mask is not None and between is not None and net.drop_out._mask is not None
    layers = []
    for layer in range(2):
        single = LSTM(E if layer == 0 else H, H, dtype=np.float64).eval()
        single.load_state_dict({k.replace(f"_l{layer}", "_l0"): v for k, v in net.rnn.state_dict().items()
                                if k.endswith(f"_l{layer}")})
        layers.append(single)
    x = net.params["encoder.weight"][ids] * net.drop_in._mask
    y0, _ = layers[0].forward(x)
    y1, _ = layers[1].forward(y0 * between)
    expected = (y1 * net.drop_out._mask) @ net.params["decoder.weight"].T + net.params["decoder.bias"]
    np.testing.assert_allclose(logits, expected, rtol=1e-12, atol=1e-14)


def test_presets_are_the_papers_configurations():
    small, medium = PRESETS["zaremba-small"].params, PRESETS["zaremba-medium"].params
    for p in (small, medium):
        LanguageModel(**p).check_params()  # every value valid
        assert p["optimizer"] == "sgd" and p["patience"] is None and p["level"] == "spaced"
        assert p["embedding_dim"] == p["hidden_size"] and p["num_layers"] == 2 and p["batch_size"] == 20
        T = p["seq_len"]
        assert p["lr"] == 1.0 * T and p["clip_norm"] == pytest.approx(5.0 / T)  # lr 1, clip 5 of a loss summed over T
    assert (small["hidden_size"], small["seq_len"], small["dropout"], small["init_range"], small["epochs"]) == \
        (200, 20, 0.0, 0.1, 13)
    assert (small["lr_decay"], small["lr_decay_after"]) == (0.5, 4)
    assert (medium["hidden_size"], medium["seq_len"], medium["dropout"], medium["init_range"], medium["epochs"]) == \
        (650, 35, 0.5, 0.05, 39)
    assert (medium["lr_decay"], medium["lr_decay_after"]) == (1 / 1.2, 6)
    with pytest.raises(ValueError, match="unknown; use one of zaremba-small, zaremba-medium"):
        preset("zaremba-large")


def test_the_tied_preset_departs_from_the_medium_only_where_it_says():
    medium, tied = PRESETS["zaremba-medium"].params, PRESETS["medium-tied-3h"].params
    LanguageModel(**tied).check_params()
    changed = {k: tied.get(k) for k in set(medium) | set(tied) if medium.get(k) != tied.get(k)}
    assert changed == {"tie_weights": True, "epochs": 18, "lr_decay": 1 / 1.4, "lr_decay_after": 5}
    last = tied["lr_decay"] ** (tied["epochs"] - 1 - tied["lr_decay_after"])  # the 18th epoch's share of the rate
    assert last == pytest.approx(0.0177, abs=1e-4)  # 1.8%, as the preset's comment says


@pytest.mark.parametrize("norm", [0.3, 40.0])  # below and above the paper's bound of 5
def test_lr_T_clip_5_over_T_on_the_mean_is_lr_1_clip_5_on_the_sum(norm):
    """The presets' claim: the update of SGD lr 1 with the gradient of the loss summed over T
    clipped at 5 equals that of lr T with the mean's gradient clipped at 5 / T."""
    T = 20
    g_sum = np.random.default_rng(0).standard_normal(1000)
    g_sum *= norm / np.linalg.norm(g_sum)
    paper, ours = g_sum.copy(), g_sum / T
    optim.clip_grad_norm_({"g": paper}, 5.0)
    optim.clip_grad_norm_({"g": ours}, 5.0 / T)
    np.testing.assert_allclose(1.0 * paper, T * ours, rtol=1e-6)


def test_the_command_line_takes_the_preset_and_lets_flags_override(monkeypatch, tmp_path):
    import unrolled.tasks.lm.run as run

    calls = []
    monkeypatch.setattr(run, "train_lm", lambda text, **kw: calls.append((text, kw)) or {})
    assert main(["lm", "train", "--preset", "zaremba-small", "--lr", "10", "--max-steps", "3"]) == 0
    text, kw = calls[-1]
    assert text is None and kw["data"] == "ptb"  # the preset's corpus
    assert kw["lr"] == 10.0 and kw["max_steps"] == 3  # typed: they win
    assert {k: kw[k] for k in ("hidden_size", "seq_len", "lr_decay_after", "init_range", "clip_norm")} == \
        {"hidden_size": 200, "seq_len": 20, "lr_decay_after": 4, "init_range": 0.1, "clip_norm": 0.25}
    (tmp_path / "mine.txt").write_text(VERSE)
    assert main(["lm", "train", "--preset", "zaremba-medium", "--text", str(tmp_path / "mine.txt")]) == 0
    assert calls[-1][0] == str(tmp_path / "mine.txt") and calls[-1][1]["data"] is None
    assert calls[-1][1]["hidden_size"] == 650
