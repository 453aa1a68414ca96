"""The contract every registered task passes: same seed, same result; save / load (and
``unrolled.load``), same predictions; ``sklearn.base.clone``; a bad hyperparameter names the fix;
the training command exits 2 on bad input. A task gets these tests by registering.

``Toy`` below is the proof: a new task in one class and one registry line.
"""

import numpy as np
import pytest

import unrolled
from unrolled.cli import main
from unrolled.nn.losses import MSELoss
from unrolled.tasks import registry
from unrolled.tasks.base import TaskEstimator, network_hyperparams, training_hyperparams
from unrolled.tasks.forecast.network import ManyToOne
from unrolled.train.hyperparams import Hyper, whole
from unrolled.train import Trainer, index_batches

sklearn_base = pytest.importorskip("sklearn.base")


class Toy(TaskEstimator):
    """Predict the next value of a series from the last ``window`` values: the smallest task."""

    task = "toy"
    hyperparams = {
        **network_hyperparams("gru", 4),
        "window": Hyper(6, "values read per prediction", whole(2)),
        **training_hyperparams(epochs=2, batch_size=16, lr=1e-2, clip_norm=1.0, patience=None),
    }
    learned = ("history_",)

    def _windows(self, series):
        s = np.asarray(series, dtype=np.float64)
        idx = np.arange(self.window)[:, None] + np.arange(len(s) - self.window)[None, :]  # (L, N)
        return s[idx][:, :, None].astype(np.float32), s[self.window:, None].astype(np.float32)  # (L, N, 1), (N, 1)

    def _build_network(self):
        return ManyToOne(self.cell, 1, self.hidden_size, 1, self.num_layers, self.dropout, seed=self.seed)

    def fit(self, series):
        self.check_params()
        X, Y = self._windows(series)
        self.model_ = self._build_network()
        loss = MSELoss()

        def step(idx):
            out = self.model_.forward(X[:, idx])
            value = loss.forward(out, Y[idx])
            self.model_.backward(loss.backward())
            return value

        trainer = Trainer(self.model_, self.train_config())
        self.history_ = trainer.fit(index_batches(X.shape[1], self.batch_size), step)
        return self

    @classmethod
    def contract_example(cls):
        return {"epochs": 2}, np.sin(np.arange(120) / 4.0)

    def contract_predictions(self, series):
        self._check_fitted()
        self.model_.eval()
        return self.model_.forward(self._windows(series)[0])[:, 0]


registry.register("toy", Toy)  # the one registry line

TASKS = sorted(registry.TASKS)


def fitted(task, **change):
    cls = registry.estimator(task)
    params, data = cls.contract_example()
    return cls(**{**params, **change}).fit_example(data), data


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_result_other_seed_another(task):
    a, data = fitted(task, seed=3)
    b, _ = fitted(task, seed=3)
    c, _ = fitted(task, seed=4)
    np.testing.assert_array_equal(a.contract_predictions(data), b.contract_predictions(data))
    assert not np.array_equal(a.contract_predictions(data), c.contract_predictions(data))


@pytest.mark.parametrize("task", TASKS)
def test_save_then_load_predicts_the_same(task, tmp_path):
    est, data = fitted(task)
    est.save(tmp_path / "model")
    for back in (type(est).load(tmp_path / "model"), unrolled.load(tmp_path / "model"), unrolled.load(tmp_path)):
        assert type(back) is type(est)
        np.testing.assert_array_equal(back.contract_predictions(data), est.contract_predictions(data))
        assert {k: v for k, v in back.get_params().items() if k not in ("checkpoint_dir", "progress", "dtype")} == \
            {k: v for k, v in est.get_params().items() if k not in ("checkpoint_dir", "progress", "dtype")}


@pytest.mark.parametrize("task", TASKS)
def test_clone_copies_the_parameters_not_the_fit(task):
    est, data = fitted(task)
    twin = sklearn_base.clone(est)
    assert type(twin) is type(est) and twin.get_params() == est.get_params()
    assert getattr(twin, twin.network_attr, None) is None  # unfitted
    with pytest.raises(ValueError, match="not fitted"):
        twin.contract_predictions(data)
    np.testing.assert_array_equal(twin.fit_example(data).contract_predictions(data), est.contract_predictions(data))
    assert repr(twin) == repr(est) and repr(est).startswith(type(est).__name__ + "(")


@pytest.mark.parametrize("task", TASKS)
def test_every_bad_hyperparameter_names_itself_and_the_fix(task):
    cls = registry.estimator(task)
    checked = [k for k, h in cls.hyperparams.items() if h.check is not None or h.choices is not None]
    assert checked, "a task must check its hyperparameters"
    for name in checked:
        with pytest.raises(ValueError) as e:
            cls(**{name: object()})
        assert f"{cls.__name__}: {name}=" in str(e.value) and "use" in str(e.value), str(e.value)
    with pytest.raises(ValueError, match="unknown parameter"):
        cls().set_params(no_such_parameter=1)
    with pytest.raises(TypeError, match="unknown parameter"):
        cls(no_such_parameter=1)


@pytest.mark.parametrize("task", TASKS)
def test_the_estimator_is_reachable_from_the_package_root(task):
    cls = registry.estimator(task)
    assert getattr(unrolled, cls.__name__) is cls


@pytest.mark.parametrize("task", [t for t in TASKS if registry.TASKS[t].train_command])
def test_training_command_exits_2_naming_the_bad_flag(task, capsys):
    command = list(registry.TASKS[task].train_command)
    assert main([*command, "--hidden-size", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unrolled: error: ") and "hidden_size=0" in err and "use a whole number" in err
    with pytest.raises(SystemExit) as e:
        main([*command, "--cell", "transformer"])
    assert e.value.code == 2
