"""PointProcess end to end on small data: it learns, predicts, samples, explains and refuses bad
input; and the command line around it (exit 2 and one line on bad input)."""

from __future__ import annotations

import numpy as np
import pytest

from unrolled.cli import main
from unrolled.tasks.tpp import dists
from unrolled.tasks.tpp.baselines import Poisson
from unrolled.tasks.tpp.events import EventData, EventSequence
from unrolled.tasks.tpp.metrics import evaluate
from unrolled.tasks.tpp.model import Intervals, PointProcess, network_inputs
from unrolled.tasks.tpp.network import PointProcessNetwork
from unrolled.tasks.tpp.synthetic import simulate

SMALL = dict(hidden_size=8, n_components=3, epochs=8, batch_size=16, progress=False)


@pytest.fixture(scope="module")
def hawkes():
    data = simulate("hawkes1", n_sequences=60, t_end=40.0, seed=1)
    return data.sequences[:40], data.sequences[40:50], data.sequences[50:]


@pytest.fixture(scope="module")
def marked():
    rng = np.random.default_rng(0)
    seqs = []
    for _ in range(30):  # marks alternate 0 -> 1 -> 2 -> 0: a model should learn the next mark
        n = rng.integers(5, 15)
        times = np.cumsum(rng.exponential(1.0, n))
        seqs.append(EventSequence(times, times[-1] + 1.0, (np.arange(n) + rng.integers(3)) % 3))
    return EventData(seqs, "cycle", "units", ("a", "b", "c"))


@pytest.mark.parametrize("model", ["lognormmix", "rmtpp"])
def test_it_learns_hawkes_better_than_poisson(hawkes, model):
    train, val, test = hawkes
    pp = PointProcess(model, **{**SMALL, "epochs": 25}).fit(train, validation=val)
    ours = pp.nll(test)["nll_per_event"]
    assert ours < evaluate(*Poisson().fit(train).intervals(test))["nll_per_event"] - 0.1
    assert pp.history_[-1]["val_loss"] < pp.history_[0]["val_loss"]


def test_marks_are_learned_and_scored(marked):
    pp = PointProcess(**{**SMALL, "epochs": 40, "lr": 2e-2}).fit(marked)
    out = evaluate(*pp.intervals(marked))
    assert out["mark_accuracy"] > 0.9 and out["mark_nll"] > 0
    assert out["nll_per_event"] == pytest.approx(out["time_nll"] + out["mark_nll"])
    assert pp.mark_names_ == ["a", "b", "c"]
    nxt = pp.predict_next(marked.sequences[0])
    assert nxt["mark_proba"].sum() == pytest.approx(1.0)
    assert nxt["mark_proba"].argmax() == (marked.sequences[0].marks[-1] + 1) % 3


def test_predict_next_is_conditioned_on_the_silence(hawkes):
    train, val, test = hawkes
    pp = PointProcess(**SMALL).fit(train, validation=val)
    seq = test[0]
    early = seq.head(seq.times[3] + 0.01)
    late = EventSequence(early.times, early.t_end + 3.0)  # the same events, a longer silence
    a, b = pp.predict_next(early), pp.predict_next(late)
    for out in (a, b):
        assert np.isfinite(out["median"]) and out["median"] > 0 and out["mean"] > 0
    # the same history, a longer silence: the wait still to come is read from S(elapsed + x) / S(elapsed)
    dist, _ = pp._after_last([early])
    elapsed = late.t_end - late.times[-1]
    u = 1 - np.exp(dist.log_survival(np.array([elapsed + b["median"]])) - dist.log_survival(np.array([elapsed])))
    assert u[0] == pytest.approx(0.5, abs=1e-6)
    assert b["time"] == pytest.approx(late.t_end + b["median"])


def test_sample_is_seeded_and_continues_after_the_history(hawkes):
    train, val, test = hawkes
    for model in ("lognormmix", "rmtpp"):
        pp = PointProcess(model, **SMALL).fit(train, validation=val)
        history = test[1].head(20.0)
        a, b, c = (pp.sample(history, 40.0, seed=s) for s in (3, 3, 4))
        np.testing.assert_array_equal(a.times, b.times)
        assert not np.array_equal(a.times, c.times)
        n = len(history)
        np.testing.assert_array_equal(a.times[:n], history.times)
        assert (a.times[n:] > 20.0).all() and (a.times < 40.0).all() and (np.diff(a.times) > 0).all()
        with pytest.raises(ValueError, match="after the history's last event"):
            pp.sample(history, history.times[-1])


def test_a_window_that_ends_at_its_last_event_scores_no_silence():
    seq = EventSequence([1.0, 2.5], 2.5)
    iv = Intervals([seq], 0.0, 1.0, 0)
    assert list(iv.tau) == [1.0, 1.5] and iv.observed.all() and iv.n_events == 2
    open_window = Intervals([EventSequence([1.0, 2.5], 4.0)], 0.0, 1.0, 0)
    assert list(open_window.tau) == [1.0, 1.5, 1.5] and list(open_window.observed) == [True, True, False]


@pytest.mark.parametrize("model", ["lognormmix", "rmtpp"])
def test_contributions_are_the_gradient_of_log_intensity_times_the_input(model):
    """contributions()'s log-tau part against central differences of log lambda*(t_end) in each
    event's standardised log inter-event time (a float64 network, unmarked: the input is that
    number alone)."""
    pp = PointProcess(model, hidden_size=5, n_components=2, progress=False)
    pp.m_, pp.s_, pp.n_marks_, pp.mark_names_ = -0.3, 1.2, 0, None
    pp.net_ = PointProcessNetwork(model, "gru", 0, 4, 5, n_components=2, dtype=np.float64, seed=2)
    seq = EventSequence([0.4, 1.1, 1.3, 2.9], 3.6)
    got = pp.contributions(seq)

    def log_lambda(time_x):
        pp.net_.eval()
        theta, _ = pp.net_.forward(time_x, np.zeros(time_x.shape[:2], dtype=np.int64), np.array([5]))
        dist = pp._distribution(theta[4])
        return dist.log_intensity(np.array([0.7]))[0]

    base, _, _ = network_inputs([seq], pp.m_, pp.s_, 0)
    eps = 1e-6
    for j in range(1, 5):
        up, down = base.copy(), base.copy()
        up[j, 0, 0] += eps
        down[j, 0, 0] -= eps
        grad = (log_lambda(up) - log_lambda(down)) / (2 * eps)
        assert got[j] == pytest.approx(grad * base[j, 0, 0], rel=1e-5, abs=1e-9)
    assert isinstance(pp._distribution(np.zeros((1, pp.net_.n_params))), (dists.RMTPP, dists.LogNormMix))


def test_fit_refuses_what_is_not_event_data():
    with pytest.raises(ValueError, match="EventData or a non-empty list of EventSequence"):
        PointProcess(progress=False).fit([[1.0, 2.0]])
    with pytest.raises(ValueError, match="out of order"):
        PointProcess(progress=False).fit([EventSequence([2.0, 1.0], 3.0), EventSequence([1.0], 3.0)])
    with pytest.raises(ValueError, match="not fitted"):
        PointProcess().predict_next(EventSequence([1.0], 2.0))


def _cli(capsys, *args):
    """Run ``unrolled args`` in this process: (exit status, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    ("time\n3\n1\n2\n", "sort each sequence's events by time"),
    ("time\nabc\n1\n", "neither a number nor a timestamp"),
    ("time\n1\n", "no events to score"),
    ("when\n1\n2\n", "no column 'time'"),
    ("", "is empty"),
])
def test_tpp_train_on_a_bad_csv_exits_2_with_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "events.csv"
    path.write_text(content)
    code, err = _cli(capsys, "tpp", "train", "--csv", path, "--epochs", "1", "--out", tmp_path / "run")
    assert code == 2, err
    assert err.startswith("unrolled: error: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_tpp_flags_are_checked_before_any_work(tmp_path, capsys):
    code, err = _cli(capsys, "tpp", "train", "--sequences", "1", "--data", "hawkes1")
    assert code == 2 and "--sequences 1 is invalid" in err
    code, err = _cli(capsys, "tpp", "train", "--n-components", "0")
    assert code == 2 and "--n-components" in err
    code, err = _cli(capsys, "tpp", "sample", "--model", tmp_path)
    assert code == 2 and "no trained model" in err
    code, err = _cli(capsys, "tpp", "sample", "--model", tmp_path, "--n", "0")
    assert code == 2 and "--n 0 is invalid" in err


@pytest.mark.parametrize("key, value, message", [
    ("s_", 0.0, "0 < s_ < 100"), ("m_", None, "finite numbers"), ("m_", 1e300, "m_. < 100"), ("n_marks_", -1, "whole number of marks"),
    ("mark_names_", ["a"], "one per mark"), ("t_end_", float("inf"), "positive finite time"),
])
def test_a_tampered_saved_model_is_refused_with_the_file_named(tmp_path, hawkes, key, value, message):
    import json

    import unrolled

    train, val, _ = hawkes
    PointProcess(**{**SMALL, "epochs": 1}).fit(train, validation=val).save(tmp_path)
    meta_path = tmp_path / "estimator.json"
    meta = json.loads(meta_path.read_text())
    meta["learned"][key] = value
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=message) as e:
        unrolled.load(tmp_path)
    assert "estimator.json" in str(e.value) and "train and save it again" in str(e.value)


def test_sampling_steps_the_state_and_says_when_it_stops_early(hawkes):
    train, val, _ = hawkes
    pp = PointProcess(**SMALL).fit(train, validation=val)
    seq = pp.sample(None, 1e9, seed=0, max_events=50)
    assert len(seq) == 50 and pp.truncated_
    assert not pp.sample(None, 5.0, seed=0).times.size > 200 and not pp.truncated_


def test_times_out_of_floating_point_range_are_refused_before_training(tmp_path, capsys):
    path = tmp_path / "huge.csv"
    path.write_text("time\n0\n1e300\n3e300\n")
    code, err = _cli(capsys, "tpp", "train", "--csv", path, "--out", tmp_path / "run")
    assert code == 2 and "give the times in another unit" in err and not (tmp_path / "run" / "metrics.json").exists()


def test_a_semicolon_csv_reads_and_a_forgotten_seq_col_is_suggested(tmp_path):
    from unrolled.tasks.tpp.data import read_event_csv

    path = tmp_path / "semi.csv"
    path.write_text("seq;time\na;0\na;1.5\na;2\nb;0\nb;1\n")
    d = read_event_csv(path, "time", "seq")
    assert [list(q.times) for q in d.sequences] == [[1.5, 2.0], [1.0]]
    with pytest.raises(ValueError, match="pass --seq-col seq"):
        read_event_csv(path, "time")
