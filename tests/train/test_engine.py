"""The training engine: seeded shuffling, exact resume, atomic checkpoints, early stopping."""

import json

import numpy as np
import pytest

from unrolled.train import TrainConfig, Trainer, index_batches
from unrolled.train.checkpoint import load_checkpoint, save_checkpoint
from unrolled.tasks.forecast.network import ManyToOne
from unrolled.nn.losses import MSELoss

T, N, D = 6, 40, 3


def toy_task(seed=0, dropout=0.2):
    """A 2-layer LSTM with dropout (so the model's Generator matters) on a fixed regression set."""
    rng = np.random.default_rng(123)
    X = rng.standard_normal((T, N, D))  # (T, N, D)
    Y = X.sum(axis=(0, 2))[:, None] / 5  # (N, 1)
    model = ManyToOne("lstm", D, 5, 1, num_layers=2, dropout=dropout, seed=seed)
    loss_fn = MSELoss()

    def step(idx):
        loss = loss_fn.forward(model.forward(X[:, idx]), Y[idx].astype(np.float32))
        model.backward(loss_fn.backward())
        return loss

    def validate():
        return float(np.mean((model.forward(X[:, :10]) - Y[:10]) ** 2))

    return model, step, validate


CONFIG = dict(epochs=6, batch_size=8, optimizer="sgd", lr=0.05, momentum=0.9, schedule="step",
              step_size=2, gamma=0.5, patience=None, progress=False, seed=7)


def test_index_batches_seeded_shuffle_and_order():
    batches = index_batches(10, 4)
    a = batches(np.random.default_rng(1))
    b = batches(np.random.default_rng(1))
    assert [x.tolist() for x in a] == [x.tolist() for x in b]  # same seed, same order
    assert sorted(np.concatenate(a).tolist()) == list(range(10))  # every example once
    assert [len(x) for x in a] == [4, 4, 2]
    assert np.concatenate(batches(None)).tolist() == list(range(10))  # no rng: in order (LM streams)
    c = batches(np.random.default_rng(2))
    assert [x.tolist() for x in a] != [x.tolist() for x in c]


def test_same_seed_same_run_and_shuffle_changes_with_seed():
    runs = []
    for seed in (7, 7, 8):
        model, step, validate = toy_task()
        Trainer(model, TrainConfig(**{**CONFIG, "seed": seed})).fit(index_batches(N, 8), step, validate)
        runs.append(model.state_dict())
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(np.array_equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_resume_after_a_crash_equals_the_uninterrupted_run(tmp_path):
    model, step, validate = toy_task()
    full = Trainer(model, TrainConfig(**CONFIG))
    full.fit(index_batches(N, 8), step, validate)
    expected = model.state_dict()

    model, step, validate = toy_task()
    calls = {"n": 0}

    def crashing_step(idx):  # dies in the middle of epoch 4
        calls["n"] += 1
        if calls["n"] == 3 * 5 + 2:
            raise KeyboardInterrupt
        return step(idx)

    with pytest.raises(KeyboardInterrupt):
        Trainer(model, TrainConfig(**CONFIG), checkpoint_dir=tmp_path).fit(index_batches(N, 8), crashing_step, validate)
    assert json.loads((tmp_path / "last.json").read_text())["epoch"] == 3

    model, step, validate = toy_task(seed=99)  # other initial weights: all must come from the checkpoint
    resumed = Trainer(model, TrainConfig(**CONFIG), checkpoint_dir=tmp_path)
    history = resumed.fit(index_batches(N, 8), step, validate, resume=True)
    for k, v in expected.items():
        assert np.array_equal(model.params[k], v), f"{k}: max diff {np.abs(model.params[k] - v).max()}"
    assert history == full.history
    assert resumed.optimizer.lr == full.optimizer.lr == 0.05 * 0.5 ** 3


def test_early_stopping_keeps_the_best_weights(tmp_path):
    model, step, _ = toy_task(dropout=0.0)
    losses = iter([5.0, 3.0, 4.0, 4.5, 6.0, 1.0])  # best at epoch 2, then 3 worse epochs
    seen = {}

    def validate():
        seen[len(seen) + 1] = model.state_dict()
        return next(losses)

    config = TrainConfig(**{**CONFIG, "patience": 3})
    trainer = Trainer(model, config, checkpoint_dir=tmp_path)
    history = trainer.fit(index_batches(N, 8), step, validate)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5] and trainer.stopped_early
    assert trainer.best_epoch == 2
    for k, v in seen[2].items():
        assert np.array_equal(model.params[k], v)
    arrays, meta = load_checkpoint(tmp_path, "best")
    assert meta["epoch"] == 2 and np.array_equal(arrays["model/head.weight"], seen[2]["head.weight"])


def test_a_score_can_pick_the_best_epoch():
    """monitor="val_accuracy", maximize=True: the epoch of the highest accuracy is kept even
    where the loss is not lowest; a monitored column validate() does not return is named."""
    model, step, _ = toy_task(dropout=0.0)
    rows = iter([(1.0, 0.6), (0.8, 0.7), (0.9, 0.8), (1.2, 0.75), (1.3, 0.7), (1.4, 0.7)])
    config = TrainConfig(**{**CONFIG, "patience": 3, "monitor": "val_accuracy", "maximize": True})
    trainer = Trainer(model, config)
    trainer.fit(index_batches(N, 8), step, lambda: dict(zip(("loss", "accuracy"), next(rows))))
    assert trainer.best_epoch == 3 and trainer.stopped_early and len(trainer.history) == 6
    config = TrainConfig(**{**CONFIG, "monitor": "val_f1"})
    with pytest.raises(ValueError, match="monitor='val_f1' is not in the epoch's row"):
        Trainer(model, config).fit(index_batches(N, 8), step, lambda: 1.0)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, "ck", {"a": np.arange(3.0)}, {"epoch": 1})

    def broken_savez(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path, "ck", {"a": np.arange(5.0)}, {"epoch": 2})
    arrays, meta = load_checkpoint(tmp_path, "ck")  # the good checkpoint is untouched
    assert meta["epoch"] == 1 and arrays["a"].tolist() == [0.0, 1.0, 2.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [meta["arrays"], "ck.json"]  # no leftovers
    monkeypatch.undo()
    save_checkpoint(tmp_path, "ck", {"a": np.arange(5.0)}, {"epoch": 2})
    assert len(list(tmp_path.glob("ck-*.npz"))) == 1  # the replaced arrays file is removed


def test_progress_bar_shows_the_running_loss(capsys):
    model, step, validate = toy_task()
    Trainer(model, TrainConfig(**{**CONFIG, "epochs": 1, "progress": True})).fit(index_batches(N, 8), step, validate)
    assert "loss=" in capsys.readouterr().err


def test_weight_decay_and_clipping_change_the_run():
    def run(**kw):
        model, step, validate = toy_task()
        Trainer(model, TrainConfig(**{**CONFIG, "epochs": 2, **kw})).fit(index_batches(N, 8), step, validate)
        return model.params["head.weight"].copy()

    base = run()
    assert not np.array_equal(base, run(weight_decay=0.1))
    assert not np.array_equal(base, run(clip_norm=1e-3))
    assert not np.array_equal(base, run(optimizer="adamw", lr=1e-2))


@pytest.mark.parametrize("kw, fix", [
    ({"optimizer": "rmsprop"}, "'sgd', 'adam' or 'adamw'"),
    ({"epochs": 0}, "whole number >= 1"),
    ({"lr": -1.0}, "use a positive number such as 0.001"),
    ({"schedule": "cosine"}, "'step' or 'exponential'"),
    ({"patience": 0}, "or None for no early stopping"),
    ({"clip_norm": 0.0}, "or None to turn it off"),
])
def test_bad_config_names_the_fix(kw, fix):
    with pytest.raises(ValueError, match="TrainConfig") as e:
        TrainConfig(**kw)
    assert fix in str(e.value)


def test_non_finite_loss_and_resume_without_checkpoint_say_what_to_do(tmp_path):
    model, _, _ = toy_task()
    with pytest.raises(ValueError, match="lower the learning rate"):
        Trainer(model, TrainConfig(progress=False)).fit(index_batches(N, 8), lambda idx: float("nan"))
    with pytest.raises(ValueError, match="no checkpoint"):
        Trainer(model, TrainConfig(progress=False), checkpoint_dir=tmp_path).fit(
            index_batches(N, 8), lambda idx: 0.0, resume=True)


def test_language_model_style_use_in_order_with_carried_state_and_extra_metrics(tmp_path):
    """Stateful truncated BPTT: batches in order (no shuffle), the task carries its hidden state
    between batches, validation reports perplexity, and the task's own state rides in checkpoints."""
    model, step, _ = toy_task(dropout=0.0)
    seen, carried = [], {"h": 0}

    def batches(rng):
        assert rng is None  # shuffle=False: the engine hands no Generator
        carried["h"] = 0  # a new epoch starts the streams afresh
        return [np.arange(i, i + 8) for i in range(0, N, 8)]

    def stateful_step(idx):
        seen.append(int(idx[0]))
        carried["h"] += 1  # stands for the hidden state, detached between batches
        return step(idx)

    def validate():
        return {"loss": 1.0, "perplexity": float(np.exp(1.0))}

    config = TrainConfig(**{**CONFIG, "epochs": 2, "shuffle": False})
    trainer = Trainer(model, config, checkpoint_dir=tmp_path, extra_state=lambda: {"h": carried["h"]},
                      load_extra_state=lambda s: carried.update(s))
    history = trainer.fit(batches, stateful_step, validate)
    assert seen == [0, 8, 16, 24, 32] * 2
    assert history[-1]["val_perplexity"] == pytest.approx(np.e)
    carried["h"] = -1
    Trainer(model, config, checkpoint_dir=tmp_path, load_extra_state=lambda s: carried.update(s)).load(tmp_path)
    assert carried["h"] == 5


def timed_task(monkeypatch):
    """``toy_task`` on a fake clock: each training step takes 1 s, each validation 3 s."""
    import unrolled.train.trainer as engine

    clock = {"now": 0.0}
    monkeypatch.setattr(engine.time, "perf_counter", lambda: clock["now"])
    model, step, validate = toy_task()

    def timed_step(idx):
        clock["now"] += 1.0
        return step(idx)

    def timed_validate():
        clock["now"] += 3.0
        return validate()

    return model, timed_step, timed_validate, clock


def test_max_seconds_cuts_the_epoch_and_stops_within_the_budget(monkeypatch):
    """A fake clock: each training step takes 1 s and validation 3 s. With a 20 s budget the
    first and second epochs (5 steps each) and their validations end at 8 s and 16 s; the third
    must stop after the one step that still leaves 3 s to validate, and no fourth starts."""
    model, timed_step, timed_validate, clock = timed_task(monkeypatch)
    trainer = Trainer(model, TrainConfig(**{**CONFIG, "epochs": 10, "max_seconds": 20}))
    history = trainer.fit(index_batches(N, 8), timed_step, timed_validate)
    assert trainer.out_of_time and len(history) == 3
    assert [row["steps"] for row in history] == [5, 10, 11]  # 16 s + 1 step + 3 s validating = 20 s
    assert clock["now"] == 20
    with pytest.raises(ValueError, match="max_seconds"):
        TrainConfig(max_seconds=0)


def test_a_budget_spent_at_an_epoch_boundary_ends_the_run_cleanly(monkeypatch):
    """Two epochs of 5 one-second steps and 3 s of validation take 16 s: with a 16 s budget no
    step of a third epoch fits, and the run ends there (it used to fail for want of a first step)."""
    model, timed_step, timed_validate, clock = timed_task(monkeypatch)
    trainer = Trainer(model, TrainConfig(**{**CONFIG, "epochs": 10, "max_seconds": 16}))
    history = trainer.fit(index_batches(N, 8), timed_step, timed_validate)
    assert trainer.out_of_time and [row["steps"] for row in history] == [5, 10] and clock["now"] == 16


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_clip_folded_into_the_step_trains_as_the_clip_itself(optimizer):
    """Without an after_clip hook the engine hands the clip's coefficient to the step instead of
    scaling the gradients; with one (which reads them clipped) it clips them first. The two runs
    agree to round-off, and the clip acts in both (a tight bound changes the run)."""
    from unrolled.train.hooks import on

    def run(hooks, clip_norm=0.05):
        model, step, validate = toy_task(dropout=0.0)
        cfg = TrainConfig(**{**CONFIG, "epochs": 2, "momentum": 0.0, "optimizer": optimizer,
                             "lr": 0.05 if optimizer == "sgd" else 1e-2, "clip_norm": clip_norm})
        trainer = Trainer(model, cfg, hooks=hooks)
        trainer.fit(index_batches(N, 8), step, validate)
        return trainer, {k: v.copy() for k, v in model.params.items()}

    seen = []
    folded, a = run([])
    clipped, b = run([on("after_clip", lambda t: seen.append(max(abs(g).max() for g in t.model.grads.values())))])
    assert folded._fold_clip and not clipped._fold_clip and seen
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)
    _, unclipped = run([], clip_norm=None)
    assert not all(np.allclose(a[k], unclipped[k]) for k in a)
