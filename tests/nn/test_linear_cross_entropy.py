"""The fused output layer (Linear + log-softmax + cross-entropy, nn/linear_cross_entropy.py):
finite differences in float64, parity with torch's cross_entropy of a Linear in float32 and
float64, on one thread and on two, in one chunk and in several; eval mode; and the language
model's fused path against its unfused one."""

import numpy as np
import pytest

import unrolled.nn.linear_cross_entropy as fused_module
from unrolled.fast import threads
from unrolled.nn.layers import Linear
from unrolled.nn.linear_cross_entropy import LinearCrossEntropy
from unrolled.nn.losses import CrossEntropyLoss
from unrolled.train.gradcheck import numerical_gradient


def problem(N, H, V, dtype, seed=0):
    rng = np.random.default_rng(seed)
    lin = Linear(H, V, dtype=dtype, seed=seed)
    h = rng.standard_normal((N, H)).astype(dtype)
    targets = rng.integers(0, V, N)
    return lin, h, targets


@pytest.fixture(params=["one thread", "two threads"])
def split(request, monkeypatch):
    """Run each test both ways: rows on this thread alone, and halves on our two threads."""
    two = request.param == "two threads"
    monkeypatch.setattr(threads, "wide", lambda rows, work: two and rows >= 4)
    return two


@pytest.fixture(params=["one chunk", "several chunks"])
def chunks(request, monkeypatch):
    """One chunk per thread, or chunks of 3 rows, so that each part adds several chunks' dW."""
    if request.param == "several chunks":
        monkeypatch.setattr(fused_module, "CHUNK_ELEMENTS", 3 * 13)  # 3 rows of V = 13
    return request.param


def test_finite_differences_float64(split, chunks):
    """Every entry of dL/dh, dL/dW, dL/db against central differences of L, relative error < 1e-6."""
    N, H, V = 10, 4, 13
    lin, h, targets = problem(N, H, V, np.float64, seed=1)
    f = LinearCrossEntropy(lin)
    lin.zero_grad()
    f.forward(h, targets)
    dh = f.backward()
    W, b = lin.params["weight"], lin.params["bias"]

    def loss():
        return LinearCrossEntropy(lin).forward(h, targets)

    for name, x, analytic in (("h", h, dh), ("weight", W, lin.grads["weight"]), ("bias", b, lin.grads["bias"])):
        numeric = numerical_gradient(loss, x)
        err = np.abs(analytic - numeric).max() / max(np.abs(numeric).max(), 1e-12)
        assert err < 1e-6, f"d{name}: relative error {err:.2e}"


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_matches_torch_cross_entropy_of_a_linear(dtype, rtol, split, chunks):
    torch = pytest.importorskip("torch")
    N, H, V = 12, 6, 13
    lin, h, targets = problem(N, H, V, dtype, seed=2)
    lin.params["weight"] *= 4  # logits of a few units: a peaked softmax, as a trained model's
    f = LinearCrossEntropy(lin)
    lin.zero_grad()
    loss = f.forward(h, targets)
    dh = f.backward()

    th = torch.tensor(h, requires_grad=True)
    tW = torch.tensor(lin.params["weight"], requires_grad=True)
    tb = torch.tensor(lin.params["bias"], requires_grad=True)
    tt = torch.tensor(targets)
    ref = torch.nn.functional.cross_entropy(torch.nn.functional.linear(th, tW, tb), tt)
    ref.backward()
    nll = torch.nn.functional.cross_entropy(torch.nn.functional.linear(th, tW, tb), tt, reduction="none")
    assert loss == pytest.approx(ref.item(), rel=rtol)
    np.testing.assert_allclose(f.nll, nll.detach().numpy(), rtol=rtol, atol=rtol)
    for name, ours, theirs in (("dh", dh, th.grad), ("dW", lin.grads["weight"], tW.grad), ("db", lin.grads["bias"], tb.grad)):
        theirs = theirs.numpy()
        scale = np.abs(theirs).max()
        assert ours.dtype == dtype
        assert np.abs(ours - theirs).max() <= rtol * scale, f"{name}: max diff {np.abs(ours - theirs).max():.3g}"


def test_backward_scales_by_the_upstream_gradient_and_adds_into_grads(split):
    lin, h, targets = problem(9, 5, 7, np.float64, seed=3)
    f = LinearCrossEntropy(lin)
    lin.zero_grad()
    f.forward(h, targets)
    dh1 = f.backward()
    g1 = {k: v.copy() for k, v in lin.grads.items()}
    f.forward(h, targets)
    dh3 = f.backward(3.0)  # adds 3 times the gradient to what is there: 4 times in all
    np.testing.assert_allclose(dh3, 3 * dh1, rtol=1e-14)
    for k in g1:
        np.testing.assert_allclose(lin.grads[k], 4 * g1[k], rtol=1e-13)
    with pytest.raises(RuntimeError, match="forward pass in training mode"):
        f.backward()  # one backward per forward


def test_eval_mode_is_the_loss_alone_and_rows_nats_are_kept():
    lin, h, targets = problem(8, 5, 7, np.float64, seed=4)
    lin.train()
    training = LinearCrossEntropy(lin).forward(h, targets)
    lin.eval()
    f = LinearCrossEntropy(lin)
    assert f.forward(h, targets) == training
    z = h @ lin.params["weight"].T + lin.params["bias"]
    logp = z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - z.max(1, keepdims=True)
    np.testing.assert_allclose(f.nll, -logp[np.arange(8), targets], rtol=1e-13)
    with pytest.raises(RuntimeError, match="training mode"):
        f.backward()


def test_bad_input_names_what_is_wrong():
    lin, h, targets = problem(4, 3, 5, np.float32)
    f = LinearCrossEntropy(lin)
    with pytest.raises(ValueError, match=r"expected h \(N, 3\)"):
        f.forward(h[:, :2], targets)
    with pytest.raises(ValueError, match=r"\[0, V=5\)"):
        f.forward(h, targets + 5)
    with pytest.raises(ValueError, match="integer targets"):
        f.forward(h, targets.astype(float))
    h[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN|finite"):
        f.forward(h, targets)


def test_the_language_models_fused_step_equals_linear_plus_cross_entropy():
    """RecurrentLM.forward_loss / backward_loss against forward -> CrossEntropyLoss -> backward,
    every gradient, float64; dropout on, the same masks drawn (same seed) both ways."""
    from unrolled.tasks.lm.network import RecurrentLM

    V, T, B = 17, 5, 4
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    state = tuple(rng.standard_normal((2, 2, B, 6)) * 0.5)
    nets = [RecurrentLM("lstm", V, 4, 6, num_layers=2, dropout=0.3, dtype=np.float64, seed=7) for _ in range(2)]
    loss_fn = CrossEntropyLoss()
    logits, (h_a, _) = nets[0].forward(x, state)
    loss_a = loss_fn.forward(logits, y)
    nets[0].backward(loss_fn.backward())
    loss_b, (h_b, _) = nets[1].forward_loss(x, y, state)
    nets[1].backward_loss()
    assert loss_b == pytest.approx(loss_a, rel=1e-13)
    np.testing.assert_array_equal(h_a, h_b)
    np.testing.assert_allclose(nets[1].output.nll.reshape(T, B).mean(), loss_a, rtol=1e-13)
    for k, g in nets[0].grads.items():
        np.testing.assert_allclose(nets[1].grads[k], g, rtol=1e-10, atol=1e-14, err_msg=k)
