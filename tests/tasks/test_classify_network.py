"""The classifier's network: the hand-derived backward through every pooling against finite
differences (tier 1), and padding that changes nothing."""

import numpy as np
import pytest

from unrolled.tasks.classify.network import ClassifierNetwork
from unrolled.train.gradcheck import gradcheck

V, E, H, C, T, B = 9, 3, 4, 3, 5, 3


def net(pooling, bidirectional=True, cell="lstm", seed=0):
    return ClassifierNetwork(cell, V, E, H, C, num_layers=2, bidirectional=bidirectional, pooling=pooling,
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


@pytest.mark.parametrize("pooling", ["last", "max"])
def test_contributions_are_gradient_times_input(pooling):
    """a_t = e_t . d s_c / d e_t with s_c = z_c - mean_k z_k: scaling one step's embedding by
    (1 + a) changes s_c by a * a_t to first order (central differences); no contribution past a
    text's end, and the network's mode and parameter gradients are left as they were."""
    rng = np.random.default_rng(3)
    m = net(pooling, seed=4)
    m.eval()
    ids, lengths, target = rng.integers(0, V, size=(T, B)), np.array([5, 2, 3]), np.array([0, 2, 1])
    m.zero_grad()
    s = m.contributions(ids, lengths, target)  # (T, B)
    assert all(not g.any() for g in m.grads.values()) and not m.training and not m.rnn.training
    e = m.encoder.params["weight"][ids]  # (T, B, E)
    for t in range(T):
        for b in range(B):
            numeric = (logp_at(m, e, lengths, target, (t, b), 1e-6) - logp_at(m, e, lengths, target, (t, b), -1e-6))
            np.testing.assert_allclose(s[t, b], numeric[b] / 2e-6, atol=1e-7, err_msg=f"t={t} b={b}")
    assert np.all(s[lengths[1]:, 1] == 0) and np.all(s[lengths[2]:, 2] == 0) and np.abs(s).sum() > 0.01


def logp_at(m, e, lengths, target, where, a):
    """s_target = z_target - mean_k z_k with the embedding at ``where`` scaled by 1 + a, fed as numbers."""
    x = e.copy()
    x[where] *= 1 + a
    encoder, m.encoder = m.encoder, None
    try:
        out = m.forward(x, lengths)
    finally:
        m.encoder = encoder
    return out[np.arange(len(target)), target] - out.mean(axis=1)
