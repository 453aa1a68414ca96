"""Optimizers, gradient clipping and learning-rate schedules, each matching ``torch.optim``.

Training is the seed's gradient descent (seed 004, eq. 13-15): after BPTT fills ``grads``,
every parameter matrix moves against its gradient,

    W_hx <- W_hx - eta * dL/dW_hx,   W_hh <- W_hh - eta * dL/dW_hh,   W_yh <- W_yh - eta * dL/dW_yh.

``SGD`` adds momentum, Nesterov and L2 weight decay; ``Adam`` / ``AdamW`` rescale each step by
running moments of the gradient. Parameters are updated in place (models keep references to
them) and keep their dtype; gradients are read, never changed, by ``step`` (but for
``step(grad_scale=c)``, which scales them in place first unless the optimizer folds ``c`` into
its update, as plain SGD does). ``clip_grad_norm_``
is the usual answer to the exploding gradients that seed 004 (section 9) warns about.
"""

from __future__ import annotations

import math

import numpy as np

from unrolled.fast import elementwise
from unrolled.nn.module import distinct


def _pair(obj):
    """``(params, grads)`` of a Module-like object or a ``(params_dict, grads_dict)`` tuple."""
    if hasattr(obj, "params") and hasattr(obj, "grads"):
        return obj.params, obj.grads
    if isinstance(obj, tuple) and len(obj) == 2 and all(isinstance(d, dict) for d in obj):
        return obj
    return None


def _collect(params) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, param, grad)`` triples; with a list, names get an ``"i."`` prefix to stay unique."""
    if _pair(params) is not None:
        sources = {"": _pair(params)}
    elif isinstance(params, (list, tuple)):
        sources = {f"{i}.": _pair(obj) for i, obj in enumerate(params)}
    else:
        sources = {"": None}
    triples, seen = [], {}  # id(param) -> (id(its gradient), the model it came from)
    for prefix, pair in sources.items():
        if pair is None:
            raise ValueError(f"cannot optimize {params!r:.60}; pass a Module (with .params and "
                             ".grads dicts), a list of Modules or a (params_dict, grads_dict) tuple")
        for k, p in pair[0].items():
            g = pair[1].get(k)
            if g is None or g.shape != p.shape:
                raise ValueError(f"parameter {prefix + k!r} has no gradient of shape {p.shape}; "
                                 "give grads the same keys and shapes as params")
            if id(p) in seen:  # a second in-place update of the same array would double the step
                if seen[id(p)] == (id(g), prefix):  # a weight tied inside one model (Module._share_param)
                    continue
                raise ValueError(f"parameter {prefix + k!r} is listed twice; pass each Module once")
            seen[id(p)] = (id(g), prefix)
            triples.append((prefix + k, p, g))
    return triples


def _require(ok: bool, name: str, value, fix: str) -> None:
    """ValueError naming the fix unless ``ok``; comparisons with NaN are False, so NaN fails."""
    if not ok:
        raise ValueError(f"{name}={value!r} is invalid; {fix}")


class Optimizer:
    """Shared machinery: the (name, param, grad) triples, per-parameter state and checkpoints.

    Subclasses list their hyperparameters in ``_HYPER``, check them in ``_validate`` and update
    one parameter in ``_update(p, g, state)``; ``step_count`` is the number of ``step`` calls.
    """

    _HYPER: tuple[str, ...] = ("lr",)

    def __init__(self, params) -> None:
        self.entries = _collect(params)
        self.state: dict[str, dict[str, np.ndarray]] = {name: {} for name, _, _ in self.entries}
        self.step_count = 0

    def _validate(self) -> None:
        _require(self.lr >= 0, "lr", self.lr, "use a learning rate >= 0, such as 1e-3")

    # Set by ``step``: True when the update itself checked that every parameter it wrote is
    # finite (the engine then skips its own pass over them), None when it did not.
    last_step_finite: bool | None = None

    def step(self, grad_scale: float = 1.0) -> None:
        """Update every parameter in place from its current gradient, times ``grad_scale``: a
        clip's coefficient (``clip_coefficient``), which the engine hands over in place of
        scaling the gradients where nothing reads them clipped. Here the gradients are scaled in
        place first, as ``clip_grad_norm_`` would have; ``SGD`` folds it into its update."""
        if grad_scale != 1.0:
            for _, _, g in self.entries:  # distinct arrays: _collect lists a tied weight once
                elementwise.scale(g, grad_scale)
        self.step_count += 1
        self.last_step_finite = None
        for name, p, g in self.entries:
            self._update(p, g, self.state[name])

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict) -> None:
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Set every gradient to zero in place (backward accumulates with ``+=``)."""
        for _, _, g in self.entries:  # distinct arrays: _collect lists a tied weight once
            elementwise.zero(g)

    def state_dict(self) -> dict:
        """Copies of the buffers plus JSON-serialisable metadata, enough for an exact resume."""
        hyper = {k: getattr(self, k) for k in self._HYPER}
        hyper = {k: list(v) if isinstance(v, tuple) else v for k, v in hyper.items()}
        return {
            "type": type(self).__name__,
            "hyperparams": hyper,
            "step_count": self.step_count,
            "state": {name: {k: v.copy() for k, v in s.items()} for name, s in self.state.items()},
        }

    def load_state_dict(self, state: dict) -> "Optimizer":
        """Restore hyperparameters, step count and buffers; nothing changes unless all fit."""
        if state.get("type") != type(self).__name__:
            raise ValueError(f"state dict is from a {state.get('type')!r} optimizer; load it into "
                             f"a {state.get('type')} instead of a {type(self).__name__}")
        names = {name: p for name, p, _ in self.entries}
        if set(state["state"]) != set(names):
            raise ValueError(f"state dict has parameters {sorted(state['state'])}, this optimizer "
                             f"has {sorted(names)}; build it over the same model")
        buffers = {}
        for name, s in state["state"].items():
            shape, dtype = names[name].shape, names[name].dtype
            buffers[name] = {k: np.array(v, dtype=dtype) for k, v in s.items()}
            if any(v.shape != shape for v in buffers[name].values()):
                raise ValueError(f"buffers of {name!r} do not have its shape {shape}; build the "
                                 "optimizer over the model the state dict was saved from")
        hyper = {k: state["hyperparams"][k] for k in self._HYPER}
        hyper = {k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()}
        probe = object.__new__(type(self))  # validate on a scratch object: all or nothing
        probe.__dict__.update(hyper)
        probe._validate()
        self.__dict__.update(hyper)
        self.state = buffers
        self.step_count = int(state["step_count"])
        return self


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``.

    With weight decay lambda, momentum mu, dampening tau and ``b`` the momentum buffer::

        d = dL/dW + lambda * W                         (L2 penalty folded into the gradient)
        b = d                     on the first step,
        b = mu * b + (1 - tau) * d  afterwards
        d = d + mu * b  if nesterov  else  b           (only when mu > 0)
        W <- W - eta * d

    With ``momentum=0`` and ``weight_decay=0`` this is exactly seed 004 eq. 13-15.
    """

    _HYPER = ("lr", "momentum", "dampening", "weight_decay", "nesterov")

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params)
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        _require(0 <= self.momentum < 1, "momentum", self.momentum,
                 "use a value in [0, 1): 0.9 is usual, 0 disables momentum")
        _require(0 <= self.dampening <= 1, "dampening", self.dampening,
                 "use a value in [0, 1]; 0 means no dampening")
        _require(self.weight_decay >= 0, "weight_decay", self.weight_decay,
                 "use a value >= 0; 0 disables it")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening=0; set momentum=0.9 "
                             "and dampening=0, or nesterov=False")

    def step(self, grad_scale: float = 1.0) -> None:
        """Plain SGD (no momentum, no weight decay): each parameter in one pass,
        ``p <- p - (eta * grad_scale) g``, that also checks the result is finite
        (``last_step_finite``); with ``grad_scale`` = a clip's coefficient this is the clipped
        update without a pass that scales g (one rounding fewer: eta * coefficient is rounded to
        the parameters' dtype once, instead of each product g * coefficient). Otherwise as every
        optimizer."""
        if self.momentum or self.weight_decay or type(self)._update is not SGD._update:  # a subclass's own update
            return super().step(grad_scale)
        self.step_count += 1
        finite = True
        for _, p, g in self.entries:
            finite = elementwise.add_scaled_finite(p, -self.lr * grad_scale, g) and finite
        self.last_step_finite = finite

    def _update(self, p, g, state):
        d = g + self.weight_decay * p if self.weight_decay else g
        if self.momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.array(d, dtype=p.dtype)
            else:
                b = state["momentum_buffer"]
                b *= self.momentum
                b += (1.0 - self.dampening) * d
            b = state["momentum_buffer"]
            d = d + self.momentum * b if self.nesterov else b
        elementwise.add_scaled(p, -self.lr, d)  # p -= lr * d, one pass, no temporary


class Adam(Optimizer):
    """Adam (Kingma & Ba), as ``torch.optim.Adam``; weight decay is L2 added to the gradient.

    At step t with gradient g, moments m and v (zero at t = 0)::

        g = g + lambda * W                   (Adam; AdamW instead does W <- W * (1 - eta*lambda))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                (amsgrad only; then v_max replaces v below)
        W <- W - eta / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    _HYPER = ("lr", "betas", "eps", "weight_decay", "amsgrad")
    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params)
        self.lr, self.betas, self.eps = lr, tuple(betas), eps
        self.weight_decay, self.amsgrad = weight_decay, amsgrad
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        if len(self.betas) != 2:
            raise ValueError(f"betas={self.betas!r} must be a pair such as (0.9, 0.999)")
        for i, b in enumerate(self.betas):
            _require(0 <= b < 1, f"betas[{i}]", b, "each beta must lie in [0, 1); the usual "
                     "pair is (0.9, 0.999)")
        _require(self.eps >= 0, "eps", self.eps, "use a small positive value such as 1e-8")
        _require(self.weight_decay >= 0, "weight_decay", self.weight_decay,
                 "use a value >= 0; 0 disables it")

    def _update(self, p, g, state):
        beta1, beta2 = self.betas
        t = self.step_count
        if self.weight_decay and self._decoupled:
            p *= 1.0 - self.lr * self.weight_decay
        elif self.weight_decay:
            g = g + self.weight_decay * p
        if not state:
            state["exp_avg"], state["exp_avg_sq"] = np.zeros_like(p), np.zeros_like(p)
            if self.amsgrad:
                state["max_exp_avg_sq"] = np.zeros_like(p)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1.0 - beta1) * (g - m)  # torch's lerp form of beta1 * m + (1 - beta1) * g
        v *= beta2
        v += (1.0 - beta2) * g * g
        if self.amsgrad:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        denom = np.sqrt(v) / math.sqrt(1.0 - beta2**t) + self.eps
        p -= (self.lr / (1.0 - beta1**t)) * (m / denom)


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter), as ``torch.optim.AdamW``: Adam with decoupled weight decay,
    ``W <- W * (1 - eta * lambda)`` before the Adam step, so decay is not rescaled by ``v``."""

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


def _distinct_grads(grads) -> list[np.ndarray]:
    """``_grad_arrays`` with a tied weight's gradient (one array under two keys) listed once."""
    return distinct(_grad_arrays(grads))


def _grad_arrays(grads) -> list[np.ndarray]:
    """Gradient arrays from a dict, a Module-like object with ``.grads``, or a list of those."""
    if isinstance(grads, dict):
        return list(grads.values())
    if hasattr(grads, "grads"):
        return list(grads.grads.values())
    if isinstance(grads, (list, tuple)):
        return [g for item in grads for g in _grad_arrays(item)]
    if isinstance(grads, np.ndarray):
        return [grads]
    raise ValueError(f"cannot clip a {type(grads).__name__}; pass a dict of gradient arrays, a "
                     "Module or a list of those")


def _norm(g: np.ndarray, p: float) -> float:
    """``||g||_p``. The 2-norm sums the squares in float64, right to round-off: NumPy's
    float32 BLAS dot (np.linalg.norm) was 4e-5 off on a language model's 2M-entry decoder gradient
    (torch's float32 norm, 8e-4), and at lr 20 a clip that far off parts two runs within steps."""
    if p == 2:
        return math.sqrt(elementwise.sum_squares(g))
    return float(np.linalg.norm(g.ravel(), ord=p))


def clip_grad_norm_(grads, max_norm: float, norm_type: float = 2.0) -> float:
    """Scale all gradients in place so their joint norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: ``total = ||(||g_1||, ..., ||g_n||)||_p`` and every
    ``g *= min(1, max_norm / (total + 1e-6))``. Returns ``total``, the norm before clipping.
    """
    total, coef = clip_coefficient(grads, max_norm, norm_type)
    if coef < 1.0:
        for g in _distinct_grads(grads):
            elementwise.scale(g, coef)
    return total


def clip_coefficient(grads, max_norm: float, norm_type: float = 2.0) -> tuple[float, float]:
    """``(total, coef)``: the joint norm of the gradients and ``min(1, max_norm / (total + 1e-6))``,
    what ``clip_grad_norm_`` scales them by, without scaling them (``Optimizer.step(grad_scale=coef)``
    takes it instead)."""
    _require(max_norm > 0, "max_norm", max_norm, "use a positive threshold such as 1.0 or 5.0")
    _require(norm_type > 0, "norm_type", norm_type, "use 2.0, 1.0 or math.inf")
    arrays = _distinct_grads(grads)
    if not arrays:
        return 0.0, 1.0
    norms = [_norm(g, norm_type) for g in arrays]
    total = float(np.linalg.norm(np.asarray(norms, dtype=np.float64), ord=norm_type))
    return total, min(max_norm / (total + 1e-6), 1.0)


def clip_grad_value_(grads, clip_value: float) -> None:
    """Clamp every gradient entry in place to ``[-clip_value, clip_value]``."""
    _require(clip_value > 0, "clip_value", clip_value, "use a positive bound such as 1.0")
    for g in _grad_arrays(grads):
        np.clip(g, -clip_value, clip_value, out=g)


class LRScheduler:
    """Changes ``optimizer.lr`` once per epoch; call ``step()`` after the epoch's updates.

    As in torch, building the scheduler counts as epoch 0 and leaves the rate alone; each
    ``step()`` then multiplies the current rate by ``gamma`` when ``_decays(e)`` says so, where
    ``e = epoch - after`` counts the epochs past the first ``after``, whose ends leave the rate
    alone (Zaremba et al. 2014: ``after=4`` with ``gamma=1/2`` trains epochs 1-5 at ``base_lr``,
    epoch 6 at half of it, and so on -- their code's ``if epoch > max_epoch: lr = lr / decay``).
    The rate itself lives in the optimizer (and its state dict), so a resumed run has it exactly.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, after: int = 0) -> None:
        _require(gamma > 0, "gamma", gamma, "use a positive decay factor, usually in (0, 1]")
        _require(not isinstance(after, bool) and isinstance(after, int) and after >= 0, "after", after,
                 "use a whole number of epochs >= 0")
        self.optimizer, self.gamma, self.after = optimizer, gamma, after
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def _decays(self, epoch: int) -> bool:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        if self.last_epoch > self.after and self._decays(self.last_epoch - self.after):
            self.optimizer.lr = self.optimizer.lr * self.gamma

    def get_last_lr(self) -> float:
        return self.optimizer.lr

    def state_dict(self) -> dict:
        """Plain numbers (JSON-serialisable); the rate itself lives in the optimizer's state."""
        state = {k: v for k, v in vars(self).items() if k != "optimizer"}
        return {"type": type(self).__name__, **state}

    def load_state_dict(self, state: dict) -> "LRScheduler":
        if state.get("type") != type(self).__name__:
            raise ValueError(f"state dict is from a {state.get('type')!r}; load it into that "
                             f"scheduler instead of a {type(self).__name__}")
        for k, v in state.items():
            if k != "type":
                setattr(self, k, v)
        return self


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (e // step_size)``, ``e = max(0, epoch - after)``; with ``after=0``
    as ``torch.optim.lr_scheduler.StepLR``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, after: int = 0) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"step_size={step_size!r} is invalid; use a positive whole number "
                             "of epochs")
        super().__init__(optimizer, gamma, after)
        self.step_size = step_size

    def _decays(self, epoch: int) -> bool:
        return epoch % self.step_size == 0


class ExponentialLR(LRScheduler):
    """``lr = base_lr * gamma ** max(0, epoch - after)``; with ``after=0`` as
    ``torch.optim.lr_scheduler.ExponentialLR``."""

    def _decays(self, epoch: int) -> bool:
        return True


def scheduler_for(optimizer: Optimizer, config) -> LRScheduler | None:
    """The schedule a ``TrainConfig`` names (``schedule``, ``gamma``, ``step_size``, ``decay_after``)
    over ``optimizer``; None for a constant rate."""
    if config.schedule is None:
        return None
    if config.schedule == "step":
        return StepLR(optimizer, config.step_size, config.gamma, after=config.decay_after)
    return ExponentialLR(optimizer, config.gamma, after=config.decay_after)
