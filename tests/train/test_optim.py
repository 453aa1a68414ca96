"""Optimizers, clipping and schedules against torch.optim in float64.

Both sides follow their own trajectory under the same gradient field, grad = A p + b + 0.1 p^3,
so any difference in one update changes every later gradient and grows instead of hiding.
"""

import json
import math

import numpy as np
import pytest
torch = pytest.importorskip("torch")  # the oracle of every test here

from unrolled.nn.module import Module
from unrolled.train.optim import (SGD, Adam, AdamW, ExponentialLR, StepLR, clip_coefficient, clip_grad_norm_,
                            clip_grad_value_)

SHAPES = {"weight_ih_l0": (4, 3), "weight_hh_l0": (4, 4), "bias_ih_l0": (4,)}
STEPS = 12


def assert_close(actual, expected, tol, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    diff = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    assert diff <= tol, f"{what}: max abs difference {diff:.3e} > {tol:.0e}"


def initial_params(seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s) for k, s in SHAPES.items()}


def _field(seed=1):
    rng = np.random.default_rng(seed)
    return {k: (rng.standard_normal((math.prod(s), math.prod(s))) / math.prod(s),
                rng.standard_normal(s)) for k, s in SHAPES.items()}


FIELD = _field()


def grad_of(name, p):
    A, b = FIELD[name]
    return (A @ p.ravel()).reshape(p.shape) + b + 0.1 * p**3


def make_model(params):
    m = Module()
    for k, v in params.items():
        m._add_param(k, v.copy())
    return m


def run_unrolled(opt_cls, kwargs, steps=STEPS, dtype=np.float64, scheduler=None):
    model = make_model({k: v.astype(dtype) for k, v in initial_params().items()})
    opt = opt_cls(model, **kwargs)
    sched = scheduler(opt) if scheduler else None
    traj = []
    for _ in range(steps):
        train(model, opt, 1)
        if sched:
            sched.step()
        traj.append({k: p.copy() for k, p in model.params.items()})
    return traj, model


def train(model, opt, steps):
    for _ in range(steps):
        opt.zero_grad()
        for k, p in model.params.items():
            model.grads[k] += grad_of(k, p)
        opt.step()


def run_torch(opt_cls, kwargs, steps=STEPS, scheduler=None):
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in initial_params().items()}
    opt = opt_cls(list(tensors.values()), **kwargs)
    sched = scheduler(opt) if scheduler else None
    traj = []
    for _ in range(steps):
        for k, t in tensors.items():
            t.grad = torch.from_numpy(grad_of(k, t.detach().numpy().copy()))
        opt.step()
        if sched:
            sched.step()
        traj.append({k: t.detach().numpy().copy() for k, t in tensors.items()})
    return traj


def assert_same_trajectory(ours, theirs, tol, what):
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for k in a:
            assert_close(a[k], b[k], tol, f"{what} step {step + 1} {k}")


SGD_CASES = [
    dict(lr=0.05),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.8, dampening=0.5),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.03, momentum=0.9, weight_decay=0.05, nesterov=True),
]
ADAM_CASES = [
    dict(lr=0.05),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, amsgrad=True),
    dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, amsgrad=True),
]
ADAMW_CASES = [dict(lr=0.05), dict(lr=0.05, weight_decay=0.2, amsgrad=True)]


@pytest.mark.parametrize("kwargs", SGD_CASES, ids=str)
def test_sgd_matches_torch(kwargs):
    ours, _ = run_unrolled(SGD, kwargs)
    assert_same_trajectory(ours, run_torch(torch.optim.SGD, kwargs), 1e-10, f"SGD{kwargs}")


@pytest.mark.parametrize("kwargs", ADAM_CASES, ids=str)
def test_adam_matches_torch(kwargs):
    ours, _ = run_unrolled(Adam, kwargs)
    assert_same_trajectory(ours, run_torch(torch.optim.Adam, kwargs), 1e-10, f"Adam{kwargs}")


@pytest.mark.parametrize("kwargs", ADAMW_CASES, ids=str)
def test_adamw_matches_torch(kwargs):
    ours, _ = run_unrolled(AdamW, kwargs)
    assert_same_trajectory(ours, run_torch(torch.optim.AdamW, kwargs), 1e-10, f"AdamW{kwargs}")


def test_plain_sgd_is_seed_gradient_descent():
    """Seed 004 eq. 13-15: W <- W - eta * dL/dW, one step, by hand."""
    ours, _ = run_unrolled(SGD, dict(lr=0.1), steps=1)
    for k, p0 in initial_params().items():
        assert_close(ours[0][k], p0 - 0.1 * grad_of(k, p0), 1e-15, f"one SGD step {k}")


def test_adamw_differs_from_adam_with_l2():
    """Guards the decoupling: with the same weight decay the two must not coincide."""
    a, _ = run_unrolled(Adam, dict(lr=0.05, weight_decay=0.2))
    w, _ = run_unrolled(AdamW, dict(lr=0.05, weight_decay=0.2))
    diff = max(np.max(np.abs(a[-1][k] - w[-1][k])) for k in SHAPES)
    assert diff > 1e-4, f"Adam(L2) and AdamW ended only {diff:.3e} apart"


@pytest.mark.parametrize("opt_cls, kwargs", [(SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
                                             (Adam, dict(lr=0.05, amsgrad=True)),
                                             (AdamW, dict(lr=0.05))])
def test_float32_stays_float32_and_tracks_float64(opt_cls, kwargs):
    ours32, model = run_unrolled(opt_cls, kwargs, dtype=np.float32)
    ours64, _ = run_unrolled(opt_cls, kwargs)
    for k, p in model.params.items():
        assert p.dtype == np.float32, f"{k} became {p.dtype}"
        assert_close(ours32[-1][k], ours64[-1][k], 1e-4, f"float32 vs float64 {k}")


def test_step_updates_in_place_and_leaves_grads_alone():
    model = make_model(initial_params())
    refs = dict(model.params)
    for k, g in model.grads.items():
        g += grad_of(k, model.params[k])
    grads_before = {k: g.copy() for k, g in model.grads.items()}
    Adam(model, lr=0.1, weight_decay=0.1).step()
    for k in SHAPES:
        assert model.params[k] is refs[k], f"{k} was replaced, not updated in place"
        assert_close(model.grads[k], grads_before[k], 0.0, f"grad {k} changed by step")
        assert np.max(np.abs(model.params[k] - initial_params()[k])) > 1e-3, f"{k} did not move"


def test_module_list_and_tuple_inputs_agree():
    p = initial_params()
    a, b = make_model(p), make_model(p)
    pair_params = {k: v.copy() for k, v in p.items()}
    pair = (pair_params, {k: np.zeros_like(v) for k, v in p.items()})
    opts = [SGD(a, lr=0.1, momentum=0.9), SGD([b], lr=0.1, momentum=0.9),
            SGD(pair, lr=0.1, momentum=0.9)]
    assert [n for n, _, _ in opts[1].entries] == [f"0.{k}" for k in SHAPES]
    for _ in range(3):
        for params, grads in [(a.params, a.grads), (b.params, b.grads), pair]:
            for k in SHAPES:
                grads[k][...] = grad_of(k, params[k])
        for opt in opts:
            opt.step()
    for k in SHAPES:
        assert_close(b.params[k], a.params[k], 0.0, f"list input {k}")
        assert_close(pair_params[k], a.params[k], 0.0, f"tuple input {k}")


def test_zero_grad():
    model = make_model(initial_params())
    for g in model.grads.values():
        g += 1.0
    SGD(model, lr=0.1).zero_grad()
    for k, g in model.grads.items():
        assert_close(g, np.zeros_like(g), 0.0, f"grad {k} after zero_grad")


@pytest.mark.parametrize("opt_cls, kwargs", [(SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
                                             (Adam, dict(lr=0.05, amsgrad=True)),
                                             (AdamW, dict(lr=0.05, weight_decay=0.1))])
def test_state_dict_round_trip_resumes_exactly(opt_cls, kwargs):
    full, _ = run_unrolled(opt_cls, kwargs, steps=10)
    model = make_model(initial_params())
    opt = opt_cls(model, **kwargs)
    train(model, opt, 5)
    saved, checkpoint = opt.state_dict(), model.state_dict()
    json.dumps({k: v for k, v in saved.items() if k != "state"})  # metadata is JSON-ready
    train(model, opt, 1)  # later steps must not leak into the saved copy
    # a fresh model and optimizer, as after loading a checkpoint; lr and momentum are
    # deliberately wrong so the state dict has to restore them
    model2 = make_model(checkpoint)
    resumed = opt_cls(model2, lr=123.0).load_state_dict(saved)
    assert resumed.lr == kwargs["lr"], f"lr not restored: {resumed.lr}"
    train(model2, resumed, 5)
    for k in SHAPES:
        assert_close(model2.params[k], full[-1][k], 0.0, f"resumed {opt_cls.__name__} {k}")


def test_load_state_dict_rejects_mismatches():
    model = make_model(initial_params())
    saved = Adam(model).state_dict()
    with pytest.raises(ValueError, match="load it into a Adam"):
        SGD(model, lr=0.1).load_state_dict(saved)
    other = make_model({"weight": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="same model"):
        Adam(other).load_state_dict(saved)
    bad = Adam(model).state_dict()
    bad["hyperparams"]["lr"] = -1.0
    opt = Adam(model, lr=0.01)
    with pytest.raises(ValueError, match="lr"):
        opt.load_state_dict(bad)
    assert opt.lr == 0.01, "a rejected state dict must leave the optimizer unchanged"


def random_grads(seed, scale):
    rng = np.random.default_rng(seed)
    return {k: scale * rng.standard_normal(s) for k, s in SHAPES.items()}


def torch_params_with_grads(grads):
    params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads.values()]
    for p, g in zip(params, grads.values()):
        p.grad = torch.tensor(g)  # a copy: ours clips the numpy arrays, torch its own
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    grads = random_grads(2, 3.0)
    params = torch_params_with_grads(grads)
    expected = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type).item()
    total = clip_grad_norm_(grads, max_norm, norm_type)
    assert_close(total, expected, 1e-12, f"total norm (p={norm_type})")
    for (k, g), p in zip(grads.items(), params):
        assert_close(g, p.grad.numpy(), 1e-12, f"clipped {k} (p={norm_type}, max={max_norm})")
    if max_norm < total:
        after = clip_grad_norm_(grads, 1e9, norm_type)
        assert after <= max_norm * (1 + 1e-9), f"norm after clipping {after} > {max_norm}"


def test_clip_grad_norm_accepts_module_and_list():
    g = random_grads(3, 2.0)
    a, b = make_model(initial_params()), make_model(initial_params())
    for m in (a, b):
        for k in SHAPES:
            m.grads[k][...] = g[k]
    total_dict = clip_grad_norm_(g, 1.0)
    total_mod = clip_grad_norm_(a, 1.0)
    total_list = clip_grad_norm_([b.grads], 1.0)
    assert_close([total_mod, total_list], [total_dict] * 2, 0.0, "total norm by input kind")
    for k in SHAPES:
        assert_close(a.grads[k], g[k], 0.0, f"module clip {k}")
        assert_close(b.grads[k], g[k], 0.0, f"list clip {k}")


def test_clip_grad_norm_keeps_float32():
    grads = {k: v.astype(np.float32) for k, v in random_grads(4, 5.0).items()}
    clip_grad_norm_(grads, 1.0)
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("clip_value", [0.3, 1e6])
def test_clip_grad_value_matches_torch(clip_value):
    grads = random_grads(5, 1.0)
    params = torch_params_with_grads(grads)
    torch.nn.utils.clip_grad_value_(params, clip_value)
    clip_grad_value_(grads, clip_value)
    for (k, g), p in zip(grads.items(), params):
        assert_close(g, p.grad.numpy(), 0.0, f"clip_grad_value_ {k}")


SCHEDULERS = [
    (lambda o: StepLR(o, step_size=3, gamma=0.5),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    (lambda o: ExponentialLR(o, gamma=0.9),
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
]


@pytest.mark.parametrize("ours, theirs", SCHEDULERS, ids=["StepLR", "ExponentialLR"])
def test_schedulers_match_torch(ours, theirs):
    model = make_model(initial_params())
    opt = SGD(model, lr=0.2)
    t_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    sched, t_sched = ours(opt), theirs(t_opt)
    lrs, t_lrs = [sched.get_last_lr()], [t_sched.get_last_lr()[0]]
    for _ in range(10):
        t_opt.step()
        sched.step()
        t_sched.step()
        lrs.append(sched.get_last_lr())
        t_lrs.append(t_sched.get_last_lr()[0])
    assert_close(lrs, t_lrs, 1e-15, "learning rates per epoch")
    assert_close(opt.lr, lrs[-1], 0.0, "optimizer.lr follows the scheduler")
    # and a training run under the schedule follows torch's trajectory
    a, _ = run_unrolled(Adam, dict(lr=0.05), scheduler=ours)
    b = run_torch(torch.optim.Adam, dict(lr=0.05), scheduler=theirs)
    assert_same_trajectory(a, b, 1e-10, "Adam under schedule")


def test_scheduler_state_dict_round_trip():
    opt = SGD(make_model(initial_params()), lr=0.2)
    sched = StepLR(opt, step_size=3, gamma=0.5)
    for _ in range(4):
        sched.step()
    saved_opt, saved = opt.state_dict(), json.loads(json.dumps(sched.state_dict()))
    expected = []
    for _ in range(6):
        sched.step()
        expected.append(opt.lr)
    opt2 = SGD(make_model(initial_params()), lr=0.2)
    opt2.load_state_dict(saved_opt)
    sched2 = StepLR(opt2, step_size=1, gamma=0.9).load_state_dict(saved)
    got = []
    for _ in range(6):
        sched2.step()
        got.append(opt2.lr)
    assert_close(got, expected, 0.0, "resumed StepLR rates")


def _model():
    return make_model(initial_params())


BAD = [
    (lambda: SGD(_model(), lr=-0.1), "lr"),
    (lambda: SGD(_model(), lr=float("nan")), "lr"),
    (lambda: SGD(_model(), lr=0.1, momentum=1.0), "momentum"),
    (lambda: SGD(_model(), lr=0.1, momentum=-0.5), "momentum"),
    (lambda: SGD(_model(), lr=0.1, nesterov=True), "nesterov"),
    (lambda: SGD(_model(), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening=0"),
    (lambda: SGD(_model(), lr=0.1, weight_decay=-1e-4), "weight_decay"),
    (lambda: Adam(_model(), betas=(0.9, 1.0)), "betas"),
    (lambda: Adam(_model(), betas=(-0.1, 0.999)), "betas"),
    (lambda: Adam(_model(), betas=(float("nan"), 0.999)), "betas"),
    (lambda: Adam(_model(), eps=-1.0), "eps"),
    (lambda: AdamW(_model(), weight_decay=float("nan")), "weight_decay"),
    (lambda: SGD([_model(), "oops"], lr=0.1), "pass a Module"),
    (lambda: SGD(({"w": np.zeros(2)}, {"w": np.zeros(3)}), lr=0.1), "gradient of shape"),
    (lambda: SGD(({"w": np.zeros(2)}, {}), lr=0.1), "gradient of shape"),
    (lambda: clip_grad_norm_(random_grads(0, 1.0), 0.0), "max_norm"),
    (lambda: clip_grad_norm_(random_grads(0, 1.0), float("nan")), "max_norm"),
    (lambda: clip_grad_value_(random_grads(0, 1.0), -1.0), "clip_value"),
    (lambda: StepLR(SGD(_model(), lr=0.1), step_size=0), "step_size"),
    (lambda: ExponentialLR(SGD(_model(), lr=0.1), gamma=-0.5), "gamma"),
]


@pytest.mark.parametrize("make, word", BAD, ids=[w + str(i) for i, (_, w) in enumerate(BAD)])
def test_bad_hyperparameters_raise(make, word):
    with pytest.raises(ValueError, match=word) as info:
        make()
    # the message must name the fix, not just the problem
    assert any(w in str(info.value) for w in ("use", "set", "must", "pass", "give")), str(info.value)


def test_shared_parameter_listed_twice_is_rejected():
    m = _model()
    with pytest.raises(ValueError, match="pass each Module once"):
        SGD([m, m], lr=0.1)


@pytest.mark.parametrize("opt_cls, kwargs", [(SGD, dict(lr=0.3)), (SGD, dict(lr=0.3, momentum=0.9)),
                                             (Adam, dict(lr=0.01))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_step_with_grad_scale_is_a_clip_then_a_step(opt_cls, kwargs, dtype):
    """step(grad_scale=coef) is clip_grad_norm_ followed by step(): the same parameters, to the
    one rounding plain SGD saves (eta * coef rounded once instead of each g * coef)."""
    g = {k: v.astype(dtype) for k, v in random_grads(5, 4.0).items()}
    folded, clipped = make_model(initial_params()), make_model(initial_params())
    for m in (folded, clipped):
        for k in SHAPES:
            m.params[k][...] = m.params[k].astype(dtype)
            m.grads[k][...] = g[k]
    total, coef = clip_coefficient(folded, 1.0)
    assert coef < 1 and total == clip_grad_norm_(clipped, 1.0)
    a, b = opt_cls(folded, **kwargs), opt_cls(clipped, **kwargs)
    a.step(grad_scale=coef)
    b.step()
    tol = 2e-6 if dtype == np.float32 else 1e-14
    for k in SHAPES:
        np.testing.assert_allclose(folded.params[k], clipped.params[k], rtol=tol, atol=tol)
    plain = opt_cls is SGD and "momentum" not in kwargs
    assert a.last_step_finite is (True if plain else None)  # plain SGD checked what it wrote


def test_plain_sgd_says_when_its_step_made_a_parameter_non_finite():
    model = make_model(initial_params())
    for g in model.grads.values():
        g[...] = 1.0
    model.grads["weight_hh_l0"][1, 2] = np.inf
    opt = SGD(model, lr=0.1)
    opt.step()
    assert opt.last_step_finite is False and not np.isfinite(model.params["weight_hh_l0"][1, 2])
    model.grads["weight_hh_l0"][1, 2] = 0.0
    model.params["weight_hh_l0"][1, 2] = 0.0
    opt.step()
    assert opt.last_step_finite is True
