"""The one base class every part shares: named parameters, their gradients, train / eval.

A module owns two dicts with the same keys:

* ``params[name]`` -- the parameter array, updated in place by optimizers, and
* ``grads[name]``  -- its gradient, accumulated with ``+=`` by ``backward``.

Keys follow ``torch.nn`` (``weight``, ``bias``, ``weight_ih_l0``, ...), so ``state_dict`` moves
both ways between unrolled and PyTorch with no reshuffling.
"""

from __future__ import annotations

import numpy as np


class Module:
    """Base class: parameters and gradients by name, ``train()`` / ``eval()``, state dicts."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True

    def _add_param(self, name: str, value: np.ndarray) -> np.ndarray:
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)
        return value

    # -- modes ---------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Training mode: caches for backward are kept and dropout is on."""
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        """Inference mode: nothing is cached for backward and dropout is off."""
        return self.train(False)

    def children(self) -> list["Module"]:
        return []

    # -- gradients -----------------------------------------------------------------------------
    def zero_grad(self) -> None:
        for g in self.grads.values():
            g.fill(0.0)

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter under torch.nn's keys."""
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state: dict) -> "Module":
        """Copy ``state`` into the parameters in place (arrays or torch tensors both work).

        Every key must be present with the right shape; nothing is changed unless all are.
        """
        missing = sorted(set(self.params) - set(state))
        unexpected = sorted(set(state) - set(self.params))
        if missing or unexpected:
            raise ValueError(
                f"state dict keys do not match: missing {missing}, unexpected {unexpected}; "
                f"expected exactly {sorted(self.params)}"
            )
        arrays = {}
        for k, p in self.params.items():
            v = state[k]
            if hasattr(v, "detach"):  # a torch tensor
                v = v.detach().cpu().numpy()
            v = np.asarray(v)
            if v.shape != p.shape:
                raise ValueError(f"state dict entry {k!r} has shape {v.shape}, expected {p.shape}")
            if not np.all(np.isfinite(v)):
                raise ValueError(f"state dict entry {k!r} contains NaN or inf")
            arrays[k] = v
        for k, v in arrays.items():
            np.copyto(self.params[k], v, casting="unsafe")
        return self

    def num_parameters(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)
