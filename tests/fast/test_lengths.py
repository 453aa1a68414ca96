"""Batches of very different lengths on the fast schedule: rows sorted by length, only the running
rows computed and packed by time (``schedule.Packing``), the two directions side by side
(``threads.pair``). Pinned to the reference loop and to torch.nn's packed sequences, forward and
backward, every compiled cell and every variant of the schedule."""

import numpy as np
import pytest

from unrolled.fast import schedule, threads
from unrolled.fast.kernels import _blas
from unrolled.fast.workspace import Workspace

from conftest import COMPILED, as_list, make_layer, random_state
from test_schedules import VARIANTS, set_variant

# B = 13 rows, T = 12 steps: lengths from 1 to the whole T, repeated lengths (ties keep their
# order), a row of one step first and the longest last, so the sort moves rows both ways.
LENGTHS = np.array([1, 12, 3, 3, 7, 1, 12, 2, 9, 5, 11, 4, 6])
T, D, H = 12, 4, 5


def run(mode, lengths, schedule_name, bidirectional=True, num_layers=1, T=T, seed=3, dtype=np.float64):
    """Forward and backward of one layer: [y, final states, dx, initial-state gradients, every
    parameter gradient in name order]."""
    B = len(lengths)
    m = make_layer(mode, D, H, num_layers=num_layers, bidirectional=bidirectional, dtype=dtype, seed=seed)
    m.schedule = schedule_name
    r = np.random.default_rng(seed + 1)
    x = r.standard_normal((T, B, D))
    y, state = m.forward(x, random_state(m, B, r), lengths=lengths)
    dy = r.standard_normal(y.shape)
    dstate = [r.standard_normal(s.shape) for s in as_list(state)]
    dx, dstate0 = m.backward(dy, tuple(dstate) if len(dstate) == 2 else dstate[0])
    return [y, *as_list(state), dx, *as_list(dstate0)] + [m.grads[k] for k in sorted(m.grads)]


def assert_close(got, want, tol):
    for a, b in zip(got, want, strict=True):
        scale = max(np.max(np.abs(b)), 1.0)
        assert np.max(np.abs(a - b)) / scale < tol, np.max(np.abs(a - b))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("mode", COMPILED)
def test_very_different_lengths_equal_the_reference(mode, bidirectional, variant, monkeypatch):
    set_variant(variant, monkeypatch.setattr)
    assert_close(run(mode, LENGTHS, "fast", bidirectional, num_layers=2),
                 run(mode, LENGTHS, "reference", bidirectional, num_layers=2), 1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", COMPILED)
def test_padding_past_the_longest_and_float32(mode, variant, monkeypatch):
    """T longer than every sequence (steps where no row runs), in float32."""
    set_variant(variant, monkeypatch.setattr)
    lengths = LENGTHS.clip(max=8)
    assert_close(run(mode, lengths, "fast", T=15, dtype=np.float32),
                 run(mode, lengths, "reference", T=15, dtype=np.float32), 1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_bidirectional_lengths_equal_torch_packed_sequences(mode, variant, monkeypatch):
    """The classifier's shape of layer against torch.nn over pack_padded_sequence(enforce_sorted=False)."""
    torch = pytest.importorskip("torch")
    TORCH = {"rnn_tanh": lambda *a, **k: torch.nn.RNN(*a, nonlinearity="tanh", **k),
             "rnn_relu": lambda *a, **k: torch.nn.RNN(*a, nonlinearity="relu", **k),
             "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    set_variant(variant, monkeypatch.setattr)
    B = len(LENGTHS)
    m = make_layer(mode, D, H, bidirectional=True, seed=5)
    tm = TORCH[mode](D, H, bidirectional=True, dtype=torch.float64)
    tm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    r = np.random.default_rng(6)
    x = r.standard_normal((T, B, D))
    y, state = m.forward(x, lengths=LENGTHS)
    dy, dh = r.standard_normal(y.shape), r.standard_normal(as_list(state)[0].shape)
    dx, _ = m.backward(dy, (dh, np.zeros_like(dh)) if isinstance(state, tuple) else dh)

    xt = torch.tensor(x, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(LENGTHS), enforce_sorted=False)
    yt, st = tm(packed)
    yt, _ = torch.nn.utils.rnn.pad_packed_sequence(yt, total_length=T)
    h_t = st[0] if isinstance(st, tuple) else st
    ((yt * torch.tensor(dy)).sum() + (h_t * torch.tensor(dh)).sum()).backward()
    checks = {"y": (y, yt.detach().numpy()), "h_n": (as_list(state)[0], h_t.detach().numpy()),
              "dx": (dx, xt.grad.numpy())}
    checks.update({name: (m.grads[name], p.grad.numpy()) for name, p in tm.named_parameters()})
    errors = {k: float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12)) for k, (a, b) in checks.items()}
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-10, f"max relative difference {errors[worst]:.2e} in {worst}; all: {errors}"


def test_packing_sorts_by_length_and_packs_by_time():
    lengths = np.array([2, 4, 1, 4, 3])
    T, B = 5, len(lengths)
    mask = (np.arange(T)[:, None] < lengths)[:, :, None].astype(np.float32)
    p = schedule.Packing.of(mask, T, B)
    assert p.order.tolist() == [1, 3, 4, 0, 2]  # longest first, ties in the caller's order
    assert p.counts.tolist() == [5, 4, 3, 2, 0]  # rows running at each time; none at t = 4
    assert p.starts.tolist() == [0, 5, 9, 12, 14, 14]
    assert p.rows.tolist() == [1, 3, 4, 0, 2, 6, 8, 9, 5, 11, 13, 14, 16, 18]  # t * B + order[r]
    a = np.arange(B * 2.0).reshape(B, 2)
    assert np.array_equal(p.unsort(p.sort(a)), a)
    flat = np.arange(T * B * 3.0).reshape(T * B, 3)
    packed = p.pack(flat, Workspace(), 0)
    assert np.array_equal(packed, flat[p.rows])
    back = p.unpack(packed, T, B)
    assert np.array_equal(back, np.where(mask, flat.reshape(T, B, 3), 0))
    # the threads' cut: rows 0:2 take about half of the 14 steps (4 + 4 = 8 of them)
    assert p.half == 2


def test_packing_without_lengths_moves_nothing():
    p = schedule.Packing.of(None, 3, 4)
    assert p.rows is None and p.counts.tolist() == [4, 4, 4] and p.starts.tolist() == [0, 4, 8, 12]
    a = np.ones((12, 2))
    assert p.pack(a, None, 0) is a


def test_a_mask_that_is_not_of_lengths_is_refused():
    mask = np.ones((3, 2, 1))
    mask[1, 0] = 0  # a hole: running again at t = 2
    with pytest.raises(ValueError, match="mask of lengths"):
        schedule.Packing.of(mask, 3, 2)


def test_directions_side_by_side_on_two_threads(monkeypatch):
    """A bidirectional layer large enough runs its directions through threads.pair, forward and
    backward, with BLAS held to one thread and given back; a one-way layer never does."""
    if not (_blas.CAN_HOLD and threads.THREADS >= 2):
        pytest.skip("no BLAS thread control or a single core here")
    set_variant("two-directions", monkeypatch.setattr)
    calls, counts = [], []
    real = threads.pair

    def spy(first, second):
        calls.append(1)

        def first_seen():  # on the other thread, inside the pair
            counts.append(_blas._get_threads())
            return first()

        return real(first_seen, second)

    monkeypatch.setattr(threads, "pair", spy)
    before = _blas._get_threads()
    run("lstm", LENGTHS, "fast")
    assert len(calls) == 2 and set(counts) == {1} and _blas._get_threads() == before  # forward and backward
    run("lstm", LENGTHS, "fast", bidirectional=False)
    assert len(calls) == 2
    monkeypatch.setattr(threads, "PAIR", False)
    run("lstm", LENGTHS, "fast")
    assert len(calls) == 2


def test_pair_gives_the_blas_threads_back_when_a_job_fails():
    if not _blas.CAN_HOLD:
        pytest.skip("no BLAS thread control here")
    before = _blas._get_threads()
    with pytest.raises(ZeroDivisionError):
        threads.pair(lambda: 1, lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        threads.pair(lambda: 1 / 0, lambda: 1)
    assert _blas._get_threads() == before
    assert threads.pair(lambda: "a", lambda: "b") == ("a", "b")
