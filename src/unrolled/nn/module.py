"""The one base class every part shares: named parameters, child modules, train / eval, files.

A module owns parameters (``_add_param``) and child modules, registered by assigning them to an
attribute (``self.rnn = LSTM(...)`` registers the child ``"rnn"``, as in ``torch.nn``) or by
``add_module``. Two dicts with the same keys cover the whole tree:

* ``params[name]`` -- the parameter array, updated in place by optimizers, and
* ``grads[name]``  -- its gradient, accumulated with ``+=`` by ``backward``.

The module's own parameters come first, then each child's under ``"<child>.<name>"`` in
registration order. They hold the children's arrays themselves, not copies, so an optimizer
step on the parent moves the child's weights and the child's ``backward`` fills the parent's
gradients: a composite model needs no plumbing of its own. Keys follow ``torch.nn``
(``weight``, ``rnn.weight_ih_l0``, ...), so ``state_dict`` moves both ways between unrolled and
PyTorch with no reshuffling.

``save(directory)`` writes ``module.json`` (class, keys, shapes, dtypes) naming a
``module-<token>.npz`` of the parameters; ``load(directory)`` reads them back into a module
built with the same hyperparameters. No pickle either way.
"""

from __future__ import annotations

import pathlib

import numpy as np

from unrolled.fast import elementwise
from unrolled.files import load_store, save_store

FORMAT = "unrolled.module/1"


def distinct(arrays) -> list[np.ndarray]:
    """Each array once, in order: a tied weight is one array under two keys, and its gradient is
    zeroed, measured and stepped once."""
    return list({id(a): a for a in arrays}.values())


class Module:
    """Base class: parameters and child modules by name, ``train()`` / ``eval()``, state dicts."""

    def __init__(self) -> None:
        self._params: dict[str, np.ndarray] = {}
        self._grads: dict[str, np.ndarray] = {}
        self._children: dict[str, Module] = {}
        self.training = True

    def _add_param(self, name: str, value: np.ndarray) -> np.ndarray:
        if "." in name:
            raise ValueError(f"parameter name {name!r} must not contain '.': it separates a child's prefix")
        self._params[name] = value
        self._grads[name] = np.zeros_like(value)
        return value

    def _share_param(self, name: str, owner: "Module", owner_name: str) -> np.ndarray:
        """Make parameter ``name`` the very array of ``owner``'s ``owner_name``, and its gradient
        ``owner``'s gradient (weight tying): both backward passes add into the one gradient, and
        optimizers, which skip a key that repeats both arrays, step it once."""
        value, grad = owner._params[owner_name], owner._grads[owner_name]
        mine = self._params.get(name)
        if mine is None or mine.shape != value.shape or mine.dtype != value.dtype:
            got = None if mine is None else f"{mine.shape} {mine.dtype}"
            raise ValueError(f"cannot tie {name!r} ({got}) to {owner_name!r} ({value.shape} {value.dtype}); "
                             "a tied pair needs one shape and dtype")
        self._params[name], self._grads[name] = value, grad
        return value

    # -- the tree ------------------------------------------------------------------------------
    def __setattr__(self, name, value):
        if isinstance(value, Module):
            self.add_module(name, value)
        elif name in self.__dict__.get("_children", ()):  # a child replaced by something else
            del self._children[name]
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self.__dict__.get("_children", {}).pop(name, None)
        object.__delattr__(self, name)

    def add_module(self, name: str, module: "Module") -> "Module":
        """Register ``module`` as the child ``name``; assignment does this, and this serves names
        that are not identifiers (``Sequential``'s ``"0"``). A re-registered name keeps its place."""
        if "_children" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning child modules")
        if not isinstance(module, Module):
            raise ValueError(f"child {name!r} is a {type(module).__name__}, not a Module")
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"child name {name!r} must be a non-empty string without '.'; "
                             "it becomes the prefix of the child's parameter keys")
        self._children[name] = module
        return module

    def children(self) -> list["Module"]:
        """Direct children in registration order (the training engine finds every dropout
        Generator this way, and checkpoints rely on that order)."""
        return list(self._children.values())

    def named_children(self) -> list[tuple[str, "Module"]]:
        return list(self._children.items())

    def modules(self) -> list["Module"]:
        """This module and every module below it, depth first in registration order."""
        return [self] + [m for child in self._children.values() for m in child.modules()]

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Every parameter of the tree by key (the arrays themselves); add one with ``_add_param``."""
        return self._gather("_params")

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """Every gradient, under the same keys as ``params``."""
        return self._gather("_grads")

    def _gather(self, attr: str) -> dict[str, np.ndarray]:
        own = self.__dict__[attr]
        if not self._children:
            return own  # a leaf's own dict: layers read it on every forward, so no copy
        tree = dict(own)
        for name, child in self._children.items():
            tree.update((f"{name}.{k}", v) for k, v in child._gather(attr).items())
        return tree

    def parameters(self) -> list[np.ndarray]:
        return list(self.params.values())

    def named_parameters(self) -> list[tuple[str, np.ndarray]]:
        return list(self.params.items())

    def num_parameters(self) -> int:
        """Parameters counted once each (a tied array appears under two keys)."""
        return int(sum(p.size for p in distinct(self.params.values())))

    # -- modes ---------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Training mode: caches for backward are kept and dropout is on."""
        self.training = bool(mode)
        for child in self._children.values():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        """Inference mode: nothing is cached for backward and dropout is off."""
        return self.train(False)

    # -- gradients -----------------------------------------------------------------------------
    grad_buckets: tuple[str, ...] = ()  # children whose backward ends early, in order (gradients_final)

    def zero_grad(self) -> None:
        for g in distinct(self.grads.values()):
            elementwise.zero(g)

    def gradients_final(self, child: str) -> None:
        """Say, from inside ``backward``, that the gradients of ``child`` are complete: with
        several processes the engine may send them (``AverageGradients(overlap=True)``) while the
        rest of the backward runs. A network lists such children in ``grad_buckets`` in the order
        its backward finishes them, calls this once for each, and shares no parameter between them
        and the rest. Without a listener (one process, or no overlap) it does nothing."""
        listener = self.__dict__.get("_gradients_listener")
        if listener is not None:
            listener(child)

    def listen_gradients(self, listener) -> None:
        """``listener(child)`` hears every ``gradients_final`` of this module; None stops it."""
        object.__setattr__(self, "_gradients_listener", listener)

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter under torch.nn's keys."""
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state: dict) -> "Module":
        """Copy ``state`` into the parameters in place (arrays or torch tensors both work).

        Every key must be present with the right shape and a floating-point dtype; nothing is
        changed unless all are.
        """
        params = self.params
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        if missing or unexpected:
            raise ValueError(
                f"state dict keys do not match: missing {missing}, unexpected {unexpected}; "
                f"expected exactly {sorted(params)}"
            )
        arrays = {}
        for k, p in params.items():
            v = state[k]
            if hasattr(v, "detach"):  # a torch tensor
                v = v.detach().cpu().numpy()
            v = np.asarray(v)
            if v.shape != p.shape:
                raise ValueError(f"state dict entry {k!r} has shape {v.shape}, expected {p.shape}")
            if v.dtype.kind != "f":  # bool, int, complex: casting would silently change values
                raise ValueError(f"state dict entry {k!r} has dtype {v.dtype}; parameters are floating "
                                 f"point: pass it as floats, e.g. .astype(np.{p.dtype})")
            if not np.all(np.isfinite(v)):
                raise ValueError(f"state dict entry {k!r} contains NaN or inf")
            arrays[k] = v
        first = {}  # a tied weight (_share_param): one array under two keys, which must agree
        for k, p in params.items():
            other = first.setdefault(id(p), k)
            if other != k and not np.array_equal(arrays[other], arrays[k]):
                raise ValueError(f"state dict entries {other!r} and {k!r} differ, but this model ties them (one "
                                 "array); give both the same values, or load into an untied model")
        for k, v in arrays.items():
            np.copyto(params[k], v, casting="unsafe")
        return self

    # -- files ---------------------------------------------------------------------------------
    def save(self, directory) -> pathlib.Path:
        """Write the parameters to ``directory``: ``module.json`` (class, keys, shapes, dtypes)
        naming a fresh ``module-<token>.npz``, atomically (``unrolled.files.save_store``): a crash
        leaves the previous save whole. Returns the JSON's path."""
        state = self.state_dict()
        return save_store(directory, "module", state, {"class": type(self).__name__, "params": _spec(state)}, FORMAT)

    def load(self, directory) -> "Module":
        """Read what ``save`` wrote to ``directory`` into this module, in place.

        A Module does not record the hyperparameters it was built with, so it cannot rebuild
        itself: build one with the same sizes, layers and dtype, then ``load``. ValueError, naming
        the fix, for a missing or broken file, another class, or other keys, shapes or dtypes;
        nothing changes unless everything fits.
        """
        directory = pathlib.Path(directory)
        arrays, meta = load_store(directory, "module", FORMAT, "saved module",
                                  "call module.save(directory) first, or point to the directory it wrote")
        name = type(self).__name__
        if meta.get("class") != name:
            raise ValueError(f"{directory} holds a saved {meta.get('class')}, not a {name}; load it into a "
                             f"{meta.get('class')}")
        if _spec(arrays) != meta.get("params"):
            raise ValueError(f"the arrays in {directory} do not match module.json (edited, or mixed "
                             "with another save); save the module again")
        not_float = sorted(k for k, a in arrays.items() if a.dtype.kind != "f")
        if not_float:  # save writes floats only: this file was made some other way
            raise ValueError(f"{directory} holds non-float arrays {not_float}; parameters are floating "
                             "point: save the module again with module.save")
        mismatch = _mismatch(meta["params"], _spec(self.params))
        if mismatch:
            raise ValueError(f"the saved {name} does not fit this one: {mismatch}; build it with the "
                             "hyperparameters (sizes, layers, dtype) it was saved with")
        return self.load_state_dict(arrays)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)


def _spec(arrays: dict) -> dict:
    """What a file must agree on: ``{key: {"shape": [...], "dtype": name}}`` (JSON-ready)."""
    return {k: {"shape": list(v.shape), "dtype": v.dtype.name} for k, v in arrays.items()}


def _mismatch(saved: dict, here: dict) -> str:
    """The differences between two ``_spec``s in words; empty when they agree."""
    missing, unexpected = sorted(set(here) - set(saved)), sorted(set(saved) - set(here))
    differ = [f"{k} saved {saved[k]['dtype']} {tuple(saved[k]['shape'])}, here {here[k]['dtype']} "
              f"{tuple(here[k]['shape'])}" for k in here if k in saved and saved[k] != here[k]]
    words = ([f"missing {missing}"] if missing else []) + ([f"unexpected {unexpected}"] if unexpected else [])
    return "; ".join(words + differ)
