"""The fast schedule (hoisted GEMMs, fused gate math) is pinned to the plain step-by-step one."""

import numpy as np
from hypothesis import given, settings, strategies as st

from unrolled.fast import threads
from unrolled.fast import schedule

from conftest import COMPILED, as_list, make_layer, random_state


VARIANTS = ["small-loop", "packed-loop", "two-threads", "two-threads-small", "two-directions"]
DEFAULTS = threads.MIN_ROWS, threads.MIN_WORK  # the library's own thresholds, restored by every other variant


@settings(max_examples=80, deadline=None)
@given(
    mode=st.sampled_from(COMPILED),
    B=st.integers(1, 4), T=st.integers(1, 6), D=st.integers(1, 5), H=st.integers(1, 6),
    num_layers=st.integers(1, 3), bidirectional=st.booleans(), batch_first=st.booleans(),
    residual=st.booleans(), use_lengths=st.booleans(), seed=st.integers(0, 2**16),
    dtype=st.sampled_from([np.float32, np.float64]),
    variant=st.sampled_from(VARIANTS),
)
def test_fast_equals_reference(mode, B, T, D, H, num_layers, bidirectional, batch_first, residual,
                               use_lengths, seed, dtype, variant):
    """Every variant of the fast schedule against the reference, in float64 and float32."""
    saved = schedule.SMALL_PRODUCT_MACS, threads.MIN_ROWS, threads.MIN_WORK, threads.PAIR, threads._chosen
    set_variant(variant)
    try:
        _check(mode, B, T, D, H, num_layers, bidirectional, batch_first, residual, use_lengths, seed, dtype)
    finally:
        schedule.SMALL_PRODUCT_MACS, threads.MIN_ROWS, threads.MIN_WORK, threads.PAIR, threads._chosen = saved


def set_variant(variant, setattr=setattr):
    """The compiled time loop's recurrent product by the kernels' own small product (small-loop)
    or by the packed product (packed-loop), on one thread; two-threads(-small): the same on two
    parts of the batch in two threads, every GEMM split the same way (any batch of 2 rows or
    more, where by default only large jobs are); two-directions: a bidirectional layer's
    directions side by side, one on each thread (``threads.pair``), a one-way layer as
    two-threads."""
    split = variant.startswith("two-")
    setattr(schedule, "SMALL_PRODUCT_MACS", 1 << 62 if variant.endswith("small") else -1)
    setattr(threads, "MIN_ROWS", 1 if split else DEFAULTS[0])
    setattr(threads, "MIN_WORK", 0 if split else 1 << 62)
    setattr(threads, "PAIR", variant == "two-directions")
    setattr(threads, "_chosen", threads.THREADS)  # as many threads as there are, whatever else runs beside the test


def _check(mode, B, T, D, H, num_layers, bidirectional, batch_first, residual, use_lengths, seed, dtype):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T + 1, size=B) if use_lengths else None
    outs = {}
    for name in ("fast", "reference"):
        m = make_layer(mode, D, H, num_layers=num_layers, bidirectional=bidirectional,
                       batch_first=batch_first, residual=residual, dtype=dtype, seed=seed)
        m.schedule = name
        r = np.random.default_rng(seed + 1)
        x = r.standard_normal((B, T, D) if batch_first else (T, B, D))
        state = random_state(m, B, r)
        y, st_ = m.forward(x, state, lengths=lengths)
        dy = r.standard_normal(y.shape)
        dx, dstate = m.backward(dy, tuple(r.standard_normal(s.shape) for s in as_list(st_))
                                if len(as_list(st_)) == 2 else r.standard_normal(st_.shape))
        outs[name] = [y, *as_list(st_), dx, *as_list(dstate)] + [m.grads[k] for k in sorted(m.grads)]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(outs["fast"], outs["reference"]):
        assert a.dtype == dtype
        scale = max(np.max(np.abs(b)), 1.0)
        assert np.max(np.abs(a - b)) / scale < tol, np.max(np.abs(a - b))



import pytest  # noqa: E402


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", COMPILED)
def test_wider_batch_with_lengths_equals_reference(mode, variant, monkeypatch):
    set_variant(variant, monkeypatch.setattr)
    _check(mode, 19, 7, 3, 5, 2, True, False, False, True, 11, np.float64)


def test_blas_is_found_next_to_numpy():
    """NumPy's wheels bundle OpenBLAS; a layer on two threads holds it to one thread."""
    from unrolled.fast.kernels import _blas

    assert _blas.CAN_HOLD, "NumPy's bundled OpenBLAS was not found; batches would not be split"


def test_two_threads_leave_the_blas_thread_count_as_it_was(monkeypatch):
    """A wide layer holds BLAS to one thread while it runs and gives the count back, also when
    the layer fails part way."""
    from unrolled.fast.kernels import _blas

    if not (_blas.CAN_HOLD and threads.THREADS >= 2):
        pytest.skip("no BLAS thread control or a single core here")
    set_variant("two-threads", monkeypatch.setattr)
    before = _blas._get_threads()
    seen = []
    real = schedule.loops.forward_loop

    def spy(*args):
        seen.append(_blas._get_threads())
        return real(*args)

    monkeypatch.setattr(schedule.loops, "forward_loop", spy)
    m = make_layer("lstm", 3, 5, seed=0)
    m(np.ones((4, 6, 3)))
    assert seen and set(seen) == {1} and _blas._get_threads() == before
    monkeypatch.setattr(schedule.loops, "forward_loop", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        m(np.ones((4, 6, 3)))
    assert _blas._get_threads() == before


def test_dot_splits_wide_products_and_gives_the_blas_threads_back(monkeypatch):
    """threads.dot (the Linear layer's products) equals a @ b, split or not, and leaves
    BLAS's thread count as it found it."""
    from unrolled.fast.kernels import _blas

    monkeypatch.setattr(threads, "MIN_WORK", 0)
    r = np.random.default_rng(0)
    before = _blas._get_threads() if _blas.CAN_HOLD else None
    for rows in (1, 2 * threads.MIN_ROWS, 301):
        a, b = r.standard_normal((rows, 17)), r.standard_normal((17, 9))
        assert np.allclose(threads.dot(a, b), a @ b, rtol=1e-12, atol=1e-12)
        assert np.allclose(threads.dot(a.T.copy().T, b), a @ b, rtol=1e-12, atol=1e-12)
    if before is not None:
        assert _blas._get_threads() == before
