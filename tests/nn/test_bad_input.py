"""Bad input gets a ValueError that names the expected shape or the fix, before any work."""

import numpy as np
import pytest

import unrolled
from unrolled.nn.losses import CrossEntropyLoss, MSELoss
from unrolled.nn.layers import Dropout, Embedding, Linear


@pytest.fixture
def lstm():
    return unrolled.LSTM(4, 5, num_layers=2, seed=0)


def test_wrong_ndim(lstm):
    with pytest.raises(ValueError, match=r"3-D input \(T, B, D\) with D=4.*x\[:, None, :\]"):
        lstm.forward(np.zeros((7, 4)))


def test_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match="3 features.*input_size=4"):
        lstm.forward(np.zeros((7, 2, 3)))


def test_batch_first_layout_named():
    m = unrolled.GRU(4, 5, batch_first=True)
    with pytest.raises(ValueError, match=r"\(B, T, D\)"):
        m.forward(np.zeros((2, 4)))


def test_empty_input(lstm):
    with pytest.raises(ValueError, match="empty"):
        lstm.forward(np.zeros((0, 2, 4)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_input(lstm, bad):
    x = np.zeros((3, 2, 4))
    x[1, 0, 2] = bad
    with pytest.raises(ValueError, match=r"NaN or inf \(first at index \(1, 0, 2\)\)"):
        lstm.forward(x)


def test_non_numeric_input(lstm):
    with pytest.raises(ValueError, match="numeric array"):
        lstm.forward([["a"]])


def test_state_of_wrong_shape(lstm):
    h = np.zeros((1, 2, 5))  # should be (2 layers, B=2, H=5)
    with pytest.raises(ValueError, match=r"state h has shape \(1, 2, 5\), expected \(2, 2, 5\)"):
        lstm.forward(np.zeros((3, 2, 4)), (h, h))


def test_lstm_state_must_be_a_pair(lstm):
    with pytest.raises(ValueError, match=r"tuple \(h, c\)"):
        lstm.forward(np.zeros((3, 2, 4)), np.zeros((2, 2, 5)))


def test_gru_state_must_not_be_a_pair():
    with pytest.raises(ValueError, match="one array h"):
        unrolled.GRU(4, 5).forward(np.zeros((3, 2, 4)), (np.zeros((1, 2, 5)),) * 2)


def test_state_with_nan(lstm):
    h = np.zeros((2, 2, 5))
    c = h.copy()
    c[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="state c contains NaN"):
        lstm.forward(np.zeros((3, 2, 4)), (h, c))


@pytest.mark.parametrize("lengths,match", [
    ([0, 3], r"lengths must lie in \[1, T=3\]"),
    ([4, 3], r"lengths must lie in \[1, T=3\]"),
    ([3], r"expected \(2,\)"),
    ([1.5, 2], "integers"),
])
def test_lengths_out_of_range(lstm, lengths, match):
    with pytest.raises(ValueError, match=match):
        lstm.forward(np.zeros((3, 2, 4)), lengths=lengths)


def test_backward_checks(lstm):
    with pytest.raises(RuntimeError, match="forward pass in training mode"):
        lstm.backward(np.zeros((3, 2, 5)))
    lstm.forward(np.zeros((3, 2, 4)))
    with pytest.raises(ValueError, match=r"dy has shape \(3, 2, 4\), expected \(3, 2, 5\)"):
        lstm.backward(np.zeros((3, 2, 4)))


def test_eval_mode_keeps_no_cache(lstm):
    lstm.eval()
    lstm.forward(np.zeros((3, 2, 4)))
    with pytest.raises(RuntimeError, match="training mode"):
        lstm.backward(np.zeros((3, 2, 5)))


@pytest.mark.parametrize("kwargs,match", [
    (dict(hidden_size=0), "hidden_size=0 must be a positive integer"),
    (dict(num_layers=1.5), "num_layers=1.5"),
    (dict(dropout=1.0), r"dropout=1.0 must be a probability in \[0, 1\)"),
    (dict(dtype=np.int32), "use np.float32"),
])
def test_bad_hyperparameters(kwargs, match):
    args = dict(input_size=4, hidden_size=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        unrolled.LSTM(**args)


def test_bad_nonlinearity():
    with pytest.raises(ValueError, match="'tanh' or 'relu'"):
        unrolled.RNN(3, 4, nonlinearity="sigmoid")


def test_load_state_dict_mismatch_changes_nothing(lstm):
    before = lstm.state_dict()
    bad = dict(before)
    bad["weight_hh_l1"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"weight_hh_l1.*expected \(20, 5\)"):
        lstm.load_state_dict(bad)
    with pytest.raises(ValueError, match="missing"):
        lstm.load_state_dict({"weight_ih_l0": before["weight_ih_l0"]})
    assert all(np.array_equal(before[k], v) for k, v in lstm.state_dict().items())


def test_parts_and_losses():
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 3\)"):
        Linear(3, 2).forward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\).*<unk>"):
        Embedding(5, 2).forward(np.array([1, 5]))
    with pytest.raises(ValueError, match="integers"):
        Embedding(5, 2).forward(np.array([1.0]))
    with pytest.raises(ValueError, match="probability"):
        Dropout(1.2)
    with pytest.raises(ValueError, match="do not match"):
        CrossEntropyLoss().forward(np.zeros((3, 4)), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match=r"\[0, V=4\)"):
        CrossEntropyLoss().forward(np.zeros((3, 4)), np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="same shape"):
        MSELoss().forward(np.zeros(3), np.zeros(4))
