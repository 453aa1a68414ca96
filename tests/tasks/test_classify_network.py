"""The classifier's network: the hand-derived backward through every pooling against finite
differences (tier 1), and padding that changes nothing."""

import numpy as np
import pytest

from unrolled.tasks.classify.network import SequenceClassifier
from unrolled.train.gradcheck import gradcheck

V, E, H, C, T, B = 9, 3, 4, 3, 5, 3


def net(pooling, bidirectional=True, cell="lstm", seed=0):
    return SequenceClassifier(cell, V, E, H, C, num_layers=2, bidirectional=bidirectional, pooling=pooling,
                              dtype=np.float64, seed=seed)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_backward_matches_finite_differences(pooling, bidirectional):
    rng = np.random.default_rng(1)
    m = net(pooling, bidirectional)
    ids, lengths = rng.integers(0, V, size=(T, B)), np.array([5, 2, 3])
    dout = rng.standard_normal((B, C))

    def loss():
        return float((m.forward(ids, lengths) * dout).sum())

    m.zero_grad()
    loss()
    m.backward(dout)
    gradcheck(loss, m.params, m.grads, tol=1e-6)


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_padding_changes_nothing(pooling):
    """A sentence alone, or padded in a batch with longer ones: the same logits and gradients."""
    rng = np.random.default_rng(2)
    short = rng.integers(0, V, size=(2, 1))
    padded = np.concatenate([short, rng.integers(0, V, size=(4, 1))])  # garbage after its end
    other = rng.integers(0, V, size=(6, 1))
    alone, batched = net(pooling), net(pooling)
    a = alone.forward(short, [2])
    b = batched.forward(np.concatenate([padded, other], axis=1), [2, 6])
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal((1, C))
    alone.backward(dout)
    batched.backward(np.concatenate([dout, np.zeros((1, C))]))
    for k in alone.grads:
        np.testing.assert_allclose(alone.grads[k], batched.grads[k], rtol=1e-10, atol=1e-12, err_msg=k)
