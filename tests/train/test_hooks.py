"""Hooks at their points of the loop, and the world: who writes files, what all processes agree on."""

import numpy as np
import pytest
from toys import N_SEG, FakeWorld, same_params, stream_task

from unrolled.train import optim
from unrolled.train.config import TrainConfig
from unrolled.train.hooks import GradNormProbe, grad_norm, on
from unrolled.train import Trainer
from unrolled.train.world import AverageGradients, SingleProcess

BASE = dict(optimizer="sgd", lr=0.05, clip_norm=None, epochs=2, patience=None, shuffle=False, progress=False)


def in_order(_rng):
    return range(N_SEG)


def test_hooks_run_at_their_points_in_the_loop():
    model, step, validate, *_ = stream_task()
    events = []

    class Recorder:
        def after_backward(self, t):
            events.append(("after_backward", t.steps, grad_norm(t.model)))

        def after_clip(self, t):
            events.append(("after_clip", t.steps, grad_norm(t.model)))

        def after_step(self, t):
            events.append(("after_step", t.steps, t.loss))

        def after_epoch(self, t):
            events.append(("after_epoch", t.steps, len(t.history)))

    trainer = Trainer(model, TrainConfig(**{**BASE, "clip_norm": 1e-3}), hooks=[Recorder()])
    trainer.fit(in_order, step, validate)
    names = [e[0] for e in events]
    assert names == (["after_backward", "after_clip", "after_step"] * N_SEG + ["after_epoch"]) * 2
    backward, clipped = events[0], events[1]
    assert backward[1] == clipped[1] == 0 and events[2][1] == 1  # steps counts after the optimizer step
    assert backward[2] > 1e-3 >= clipped[2] * (1 - 1e-5)  # before clipping, then clipped to clip_norm
    assert events[N_SEG * 3] == ("after_epoch", N_SEG, 1)  # the epoch's row already in the history
    losses = [e[2] for e in events[:N_SEG * 3] if e[0] == "after_step"]  # trainer.loss of each step
    assert trainer.history[0]["train_loss"] == pytest.approx(np.mean(losses), rel=1e-12)


def test_an_after_backward_hook_changes_what_the_optimizer_sees():
    """Halving every gradient after the backward pass is, for plain SGD, halving the learning rate."""
    def run(lr, hooks=()):
        model, step, validate, *_ = stream_task()
        Trainer(model, TrainConfig(**{**BASE, "lr": lr}), hooks=hooks).fit(in_order, step, validate)
        return model.state_dict()

    def halve(t):
        for g in t.model.grads.values():
            g *= 0.5

    halved = run(0.05, [on("after_backward", halve)])
    assert all(np.array_equal(halved[k], v) for k, v in run(0.025).items())
    assert not all(np.array_equal(halved[k], v) for k, v in run(0.05).items())


def test_grad_norm_probe_records_the_norm_before_and_after_clipping():
    model, step, validate, *_ = stream_task()
    probe = GradNormProbe()
    norms = []

    def measure(t):  # clip_grad_norm_'s own measure of the unclipped norm, at the same point
        norms.append(optim.clip_grad_norm_(t.model, 1e9))

    Trainer(model, TrainConfig(**{**BASE, "clip_norm": 0.2}), hooks=[on("after_backward", measure), probe]).fit(
        in_order, step, validate)
    before, after = np.array(probe.norm_before), np.array(probe.norm_after)
    assert len(probe.loss) == len(before) == len(after) == 2 * N_SEG
    np.testing.assert_allclose(before, norms, rtol=1e-6)
    assert np.all(after <= 0.2 * (1 + 1e-5)) and np.any(before > 0.2)
    small = before <= 0.2
    np.testing.assert_array_equal(after[small], before[small])


def test_bad_hooks_say_what_to_do():
    model, *_ = stream_task()
    with pytest.raises(ValueError, match="has none of the methods"):
        Trainer(model, TrainConfig(**BASE), hooks=[lambda t: None])
    with pytest.raises(ValueError, match="unknown hook event 'before_backward'"):
        on("before_backward", print)
    with pytest.raises(ValueError, match="lacks"):
        Trainer(model, TrainConfig(**BASE), world=object())


class GradientNoise:
    """A hook that owns a Generator: Gaussian noise on every gradient (so resume needs its state)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def after_backward(self, t):
        for g in t.model.grads.values():
            g += 0.01 * self.rng.standard_normal(g.shape).astype(g.dtype)

    def state_dict(self):
        return self.rng.bit_generator.state

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state


def test_a_hooks_generator_rides_in_the_checkpoint(tmp_path):
    config = TrainConfig(**{**BASE, "epochs": 3})
    model, step, validate, *_ = stream_task()
    Trainer(model, config, hooks=[GradientNoise(1)]).fit(in_order, step, validate)
    expected = model.state_dict()

    model, step, validate, *_ = stream_task()
    calls = {"n": 0}

    def crashing_step(k):  # dies in epoch 3
        calls["n"] += 1
        if calls["n"] == 2 * N_SEG + 2:
            raise KeyboardInterrupt
        return step(k)

    with pytest.raises(KeyboardInterrupt):
        Trainer(model, config, checkpoint_dir=tmp_path, hooks=[GradientNoise(1)]).fit(in_order, crashing_step, validate)
    model, step, validate, *_ = stream_task()
    Trainer(model, config, checkpoint_dir=tmp_path, hooks=[GradientNoise(7)]).fit(in_order, step, validate, resume=True)
    assert same_params(model, expected)  # the noise Generator's seed 7 was replaced by the saved state


def test_gradients_are_averaged_before_any_other_hook():
    """The other process's gradient is 3x ours: the mean is 2x, which for plain SGD is 2x the rate."""
    def run(lr, world=None):
        model, step, validate, *_ = stream_task()
        norms = []
        trainer = Trainer(model, TrainConfig(**{**BASE, "lr": lr}), world=world,
                          hooks=[on("after_backward", lambda t: norms.append(grad_norm(t.model)))])
        trainer.fit(in_order, step, validate)
        return trainer, norms

    world = FakeWorld(mean_factor=2.0)
    synced, synced_norms = run(0.05, world)
    assert isinstance(synced.hooks[0], AverageGradients)
    assert world.calls["allreduce_mean"] == 2 * N_SEG  # one flat buffer per step, every gradient in it
    alone, norms = run(0.1, SingleProcess())
    assert same_params(synced.model, alone.model.state_dict())
    assert synced_norms[0] == pytest.approx(2 * norms[0], rel=1e-6)  # the probe saw the averaged gradients
    assert alone.hooks[1:] == [] and not isinstance(alone.hooks[0], AverageGradients)


def test_only_the_main_process_writes_checkpoints_and_logs(tmp_path):
    model, step, validate, *_ = stream_task()
    rows = []
    trainer = Trainer(model, TrainConfig(**{**BASE, "seed": 4}), world=FakeWorld(rank=1),
                      checkpoint_dir=tmp_path / "ck", log=rows.append)
    trainer.fit(in_order, step, validate)
    assert not (tmp_path / "ck").exists() and rows == [] and len(trainer.history) == 2
    assert trainer.world.calls["gather"] == 2  # yet it hands its random state to the main process
    assert np.random.default_rng(4).bit_generator.state == Trainer(model, TrainConfig(seed=4), world=FakeWorld(
        rank=1)).rng.bit_generator.state  # every process shuffles alike: the global batches do not depend on K


def test_every_process_stops_when_any_runs_out_of_time():
    """The local clock has plenty of time left, but the other process's clock runs out at the
    8th agreement: the clip's path at construction (call 1), before epoch 1 (call 2), before
    steps 2-5 (calls 3-6), before epoch 2 (call 7), before its step 2 (call 8). Both stop after
    step 6."""
    model, step, validate, *_ = stream_task()
    world = FakeWorld(time_up_at_call=8)
    trainer = Trainer(model, TrainConfig(**{**BASE, "epochs": 5, "max_seconds": 1e9}), world=world)
    history = trainer.fit(in_order, step, validate)
    assert trainer.out_of_time and [r["steps"] for r in history] == [5, 6]
    world = FakeWorld(time_up_at_call=1)
    Trainer(model, TrainConfig(**BASE), world=world).fit(in_order, step, validate)
    assert world.calls["agree_any"] == 1  # the clip's path, once; no budget: no collective per step


def test_early_stopping_follows_the_main_process():
    """Here the validation loss falls every epoch, but the main process's rises after epoch 2:
    with patience 3 every process stops after epoch 5 and keeps epoch 2's weights."""
    model, step, _, *_ = stream_task()
    falling = iter([5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.2])
    world = FakeWorld(main_losses=[5.0, 3.0, 4.0, 4.5, 6.0, 1.0])
    trainer = Trainer(model, TrainConfig(**{**BASE, "epochs": 7, "patience": 3}), world=world)
    history = trainer.fit(in_order, step, lambda: next(falling))
    assert len(history) == 5 and trainer.stopped_early and trainer.best_epoch == 2
    assert [r["val_loss"] for r in history] == [5.0, 4.0, 3.0, 2.0, 1.0]  # its own row stays its own
