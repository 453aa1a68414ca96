"""The checkpoint module: the trainer's state round trip, older checkpoints, one state per process."""

import json

import numpy as np
import pytest
from test_hooks import GradientNoise
from toys import N_SEG, FakeWorld, same_params, stream_task

from unrolled.train.checkpoint import load_checkpoint, save_checkpoint, trainer_state
from unrolled.train.config import TrainConfig
from unrolled.train import Trainer

CONFIG = TrainConfig(optimizer="adam", lr=1e-2, schedule="exponential", gamma=0.7, epochs=3, patience=None,
                     progress=False, seed=2)


def shuffled(rng):
    return [int(k) for k in rng.permutation(N_SEG)]


def test_a_loaded_trainer_holds_exactly_the_saved_state(tmp_path):
    model, step, validate, *_ = stream_task()
    config = TrainConfig(**{**CONFIG.__dict__, "epochs": None, "max_steps": 7, "eval_every": 3})
    saved = Trainer(model, config, checkpoint_dir=tmp_path, hooks=[GradientNoise(1)])
    saved.fit(shuffled, step, validate)
    model, *_ = stream_task(seed=99)
    loaded = Trainer(model, config, hooks=[GradientNoise(5)]).load(tmp_path)
    (a_arrays, a_meta), (b_arrays, b_meta) = trainer_state(saved), trainer_state(loaded)
    assert sorted(a_arrays) == sorted(b_arrays) and any(k.startswith("optim/") for k in a_arrays)
    assert all(np.array_equal(a_arrays[k], b_arrays[k]) for k in a_arrays)
    assert json.dumps(a_meta) == json.dumps(b_meta)  # rng, pass position, hooks, scheduler, counters
    assert a_meta["batches"]["taken"] == 2 and a_meta["hooks"][0] is not None
    assert loaded.optimizer.lr == saved.optimizer.lr == pytest.approx(1e-2 * 0.7 ** 3)


def test_a_checkpoint_from_before_hooks_and_passes_still_resumes(tmp_path):
    model, step, validate, *_ = stream_task()
    Trainer(model, CONFIG).fit(shuffled, step, validate)
    expected = model.state_dict()

    model, step, validate, _, extra, load_extra = stream_task()
    Trainer(model, TrainConfig(**{**CONFIG.__dict__, "epochs": 2}), checkpoint_dir=tmp_path,
            extra_state=extra).fit(shuffled, step, validate)
    path = tmp_path / "last.json"
    meta = json.loads(path.read_text())
    for key in ("batches", "hooks", "world"):  # what an older engine did not write
        del meta[key]
    path.write_text(json.dumps(meta))
    model, step, validate, _, extra, load_extra = stream_task(seed=99)
    Trainer(model, CONFIG, checkpoint_dir=tmp_path, load_extra_state=load_extra).fit(
        shuffled, step, validate, resume=True)
    assert same_params(model, expected)


def test_each_process_resumes_its_own_random_state(tmp_path):
    model, step, validate, *_ = stream_task()
    Trainer(model, CONFIG, world=FakeWorld(rank=0), checkpoint_dir=tmp_path).fit(shuffled, step, validate)
    _, meta = load_checkpoint(tmp_path, "last")
    other = np.random.default_rng(1234).bit_generator.state  # what FakeWorld gathers from process 1
    assert meta["other_ranks"][0]["rng"] == other and meta["rng"] != other

    main = Trainer(model, CONFIG, world=FakeWorld(rank=0)).load(tmp_path)
    second = Trainer(model, CONFIG, world=FakeWorld(rank=1)).load(tmp_path)
    assert main.rng.bit_generator.state == meta["rng"] and second.rng.bit_generator.state == other
    third = FakeWorld(rank=2)
    third.size = 3
    with pytest.raises(ValueError, match="resume with as many processes"):
        Trainer(model, CONFIG, world=third).load(tmp_path)
    with pytest.raises(ValueError, match="world size"):  # one process lacks the gradient sync hook
        Trainer(model, CONFIG).load(tmp_path)


def test_foreign_or_broken_checkpoints_say_what_they_are(tmp_path):
    save_checkpoint(tmp_path, "ck", {"a": np.zeros(2)}, {"epoch": 1})
    meta = json.loads((tmp_path / "ck.json").read_text())
    (tmp_path / "ck.json").write_text(json.dumps({**meta, "format": "other"}))
    with pytest.raises(ValueError, match="not an unrolled checkpoint"):
        load_checkpoint(tmp_path, "ck")
    (tmp_path / "ck.json").write_text("{")
    with pytest.raises(ValueError, match="cannot read .*ck.json .*a checkpoint written by unrolled"):
        load_checkpoint(tmp_path, "ck")
