"""Engine-owned ``max_steps`` and ``eval_every``: epochs of N steps read from passes back to back,
the language model's numbers through them, and resume in the middle of a pass."""

import json
import math

import numpy as np
import pytest
from toys import N_SEG, same_params, stream_task

from unrolled.train.config import TrainConfig
from unrolled.train import Trainer

BASE = dict(optimizer="adam", lr=1e-2, clip_norm=0.5, patience=None, shuffle=False, progress=False, seed=3)


def test_eval_every_reads_passes_back_to_back_and_max_steps_cuts_the_last_epoch():
    model, step, validate, *_ = stream_task()
    seen, passes = [], []

    def batches(rng):
        passes.append(rng)
        return range(N_SEG)

    def recording_step(k):
        seen.append(k)
        return step(k)

    trainer = Trainer(model, TrainConfig(**{**BASE, "epochs": None, "max_steps": 11, "eval_every": 3}))
    history = trainer.fit(batches, recording_step, validate)
    assert [r["steps"] for r in history] == [3, 6, 9, 11]  # the last epoch cut at max_steps
    assert seen == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0]  # epochs end mid-pass, passes restart at the end
    assert passes == [None, None, None]  # one call per pass, not per epoch; in order: no Generator
    assert trainer.steps == 11 and trainer.epoch == 4


def test_max_steps_stops_a_pass_midway_and_epochs_still_bound_the_run():
    model, step, validate, *_ = stream_task()
    trainer = Trainer(model, TrainConfig(**{**BASE, "epochs": 10, "max_steps": 7}))
    assert [r["steps"] for r in trainer.fit(lambda rng: range(N_SEG), step, validate)] == [5, 7]
    model, step, validate, *_ = stream_task()
    trainer = Trainer(model, TrainConfig(**{**BASE, "epochs": 2, "max_steps": 100, "eval_every": 2}))
    assert [r["steps"] for r in trainer.fit(lambda rng: range(N_SEG), step, validate)] == [2, 4]


@pytest.mark.parametrize("kw, fix", [
    ({"epochs": None}, "set max_steps"),
    ({"max_steps": 0}, "or None to let epochs decide"),
    ({"eval_every": 2.5}, "use a whole number >= 1, or None for one pass per epoch"),
])
def test_bad_step_settings_name_the_fix(kw, fix):
    with pytest.raises(ValueError, match="TrainConfig") as e:
        TrainConfig(**kw)
    assert fix in str(e.value)


def test_the_language_model_numbers_through_the_engine():
    """The language model today: ``steps_per_epoch`` segments per epoch, ``max_steps`` in all, its
    ``batches`` returning the next segment numbers from ``trainer.steps`` and ``epochs`` worked out
    from max_steps. Through the engine the task gives only its whole pass: the same run, bit for bit."""
    per_epoch, max_steps = 3, 11  # 3 does not divide the pass of 5; 11 cuts the fourth epoch

    model, step, validate, carried, *_ = stream_task()
    config = TrainConfig(**{**BASE, "epochs": math.ceil(max_steps / per_epoch)})
    old = Trainer(model, config)

    def task_batches(_rng):
        done = old.steps
        return [(done + k) % N_SEG for k in range(min(per_epoch, max_steps - done))]

    old.fit(task_batches, step, validate)
    expected, expected_state = model.state_dict(), carried["state"]

    model, step, validate, carried, *_ = stream_task()
    config = TrainConfig(**{**BASE, "epochs": None, "max_steps": max_steps, "eval_every": per_epoch})
    new = Trainer(model, config)
    assert new.fit(lambda _rng: range(N_SEG), step, validate) == old.history
    assert same_params(model, expected)
    assert all(np.array_equal(a, b) for a, b in zip(carried["state"], expected_state))


def _in_order(rng):
    return range(N_SEG)


def _shuffled(rng):
    return [int(k) for k in rng.permutation(N_SEG)]


def _drawn_lazily(rng):  # each batch drawn from the engine's Generator as it is read
    yield 0  # a pass starts the streams afresh
    for _ in range(N_SEG - 1):
        yield int(rng.integers(1, N_SEG))


@pytest.mark.parametrize("batches, shuffle", [(_in_order, False), (_shuffled, True), (_drawn_lazily, True)])
def test_resume_in_the_middle_of_a_pass_equals_the_uninterrupted_run(tmp_path, batches, shuffle):
    config = TrainConfig(**{**BASE, "shuffle": shuffle, "epochs": None, "max_steps": 13, "eval_every": 3})
    model, step, validate, carried, *_ = stream_task()
    full = Trainer(model, config)
    full.fit(batches, step, validate)
    expected, expected_state = model.state_dict(), carried["state"]

    model, step, validate, carried, extra, load_extra = stream_task()
    calls = {"n": 0}

    def crashing_step(k):  # dies in epoch 3, after the checkpoint at step 6 (1 batch into pass 2)
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return step(k)

    trainer = Trainer(model, config, checkpoint_dir=tmp_path, extra_state=extra, load_extra_state=load_extra)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(batches, crashing_step, validate)
    meta = json.loads((tmp_path / "last.json").read_text())
    assert meta["steps"] == 6 and meta["batches"]["taken"] == 1

    model, step, validate, carried, extra, load_extra = stream_task(seed=99)  # all must come from the checkpoint
    resumed = Trainer(model, config, checkpoint_dir=tmp_path, extra_state=extra, load_extra_state=load_extra)
    assert resumed.fit(batches, step, validate, resume=True) == full.history
    assert same_params(model, expected)
    assert all(np.array_equal(a, b) for a, b in zip(carried["state"], expected_state))
    assert resumed.rng.bit_generator.state == full.rng.bit_generator.state
