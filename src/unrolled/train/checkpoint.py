"""Checkpoints: atomic ``.json`` + ``.npz`` pairs, and the trainer's state in and out of them.

A checkpoint holds NumPy arrays in a ``.npz`` (never unpickled; only the members its JSON lists
are read) and everything else in a ``.json``. Writes are atomic (temporary file, then
``os.replace``): the JSON names its arrays file, and a crash at any point leaves the previous
checkpoint whole. The directory is untrusted: see ``unrolled.files``.

The trainer's checkpoint (``trainer_state`` / ``restore_trainer``) holds the model, the best
weights, the config, epoch, step count, history, optimizer and scheduler state, the early-stopping
counters, the task's ``extra_state`` and the random state of every process (``random_state``):
the engine's Generator and the position in the current pass over the batches, each module's
dropout ``rng``, and whatever the hooks and the world return from ``state_dict()``. That is all
a step depends on, so a run resumed from a checkpoint equals the uninterrupted run bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from unrolled.files import load_store, save_store

FORMAT = "unrolled-checkpoint-1"


# -- the files: one store per checkpoint (unrolled.files) ---------------------------------------
def save_checkpoint(directory, name: str, arrays: dict[str, np.ndarray], meta: dict) -> pathlib.Path:
    """Write ``<name>.json`` (``meta``) naming a fresh ``<name>-<token>.npz`` (``arrays``),
    atomically: until the JSON's rename the old one still names the old arrays, so nothing
    already saved is ever lost (``unrolled.files.save_store``)."""
    return save_store(directory, name, arrays, meta, FORMAT)


def load_checkpoint(directory, name: str) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, meta)`` of the checkpoint ``name`` in ``directory``; ValueError if absent or broken."""
    return load_store(directory, name, FORMAT, "checkpoint",
                      f"train first, or point to the directory that holds {name}.json")


# -- the optimizer ------------------------------------------------------------------------------
def _flatten_optimizer(state: dict) -> tuple[dict, dict]:
    """Split an optimizer state dict into arrays (``optim/<param>/<buffer>``) and JSON metadata."""
    arrays = {f"optim/{p}/{k}": v for p, s in state["state"].items() for k, v in s.items()}
    meta = {k: v for k, v in state.items() if k != "state"}
    meta["buffers"] = {p: sorted(s) for p, s in state["state"].items()}
    return arrays, meta


def _unflatten_optimizer(arrays: dict, meta: dict) -> dict:
    state = {p: {k: arrays[f"optim/{p}/{k}"] for k in ks} for p, ks in meta["buffers"].items()}
    return {**{k: v for k, v in meta.items() if k != "buffers"}, "state": state}


# -- random state -------------------------------------------------------------------------------
def module_generators(model) -> list[np.random.Generator]:
    """Every Generator a module tree draws from (dropout masks), in a fixed order."""
    found, stack = [], [model]
    while stack:
        m = stack.pop(0)
        rng = getattr(m, "rng", None)
        if isinstance(rng, np.random.Generator) and all(rng is not g for g in found):
            found.append(rng)
        stack.extend(m.children())
    return found


def _state_of(obj):
    return obj.state_dict() if callable(getattr(obj, "state_dict", None)) else None


def random_state(trainer) -> dict:
    """This process's random state (JSON): what differs from process to process."""
    return {
        "rng": trainer.rng.bit_generator.state,
        "batches": trainer.stream.state_dict(),
        "model_rngs": [g.bit_generator.state for g in module_generators(trainer.model)],
        "hooks": [_state_of(h) for h in trainer.hooks],
        "world": _state_of(trainer.world),
        # with K processes, a task's own state may differ too (the language model's streams)
        "extra": trainer.extra_state() if trainer.world.size > 1 and trainer.extra_state is not None else None,
    }


def _load_random_state(trainer, state: dict) -> None:
    trainer.rng.bit_generator.state = state["rng"]
    trainer.stream.load_state_dict(state.get("batches"))
    gens = module_generators(trainer.model)
    if len(gens) != len(state["model_rngs"]):
        raise ValueError(f"checkpoint has {len(state['model_rngs'])} model Generators, this model "
                         f"{len(gens)}; resume with the model the checkpoint was written from")
    for g, s in zip(gens, state["model_rngs"]):
        g.bit_generator.state = s
    if state.get("extra") is not None and trainer.load_extra_state is not None:
        trainer.load_extra_state(state["extra"])  # this process's own (after the main one's checks)
    hooks = state.get("hooks") or [None] * len(trainer.hooks)
    if len(hooks) != len(trainer.hooks):
        raise ValueError(f"checkpoint has the state of {len(hooks)} hooks, this trainer {len(trainer.hooks)}; "
                         "resume with the hooks (and world size) the run was started with")
    for h, s in zip(trainer.hooks, hooks):
        if s is not None:
            h.load_state_dict(s)
    if state.get("world") is not None:
        trainer.world.load_state_dict(state["world"])


# -- the trainer --------------------------------------------------------------------------------
def trainer_state(trainer, ranks: list[dict] | None = None) -> tuple[dict, dict]:
    """``(arrays, meta)`` of a ``Trainer``; ``ranks`` every process's ``random_state`` (default:
    this one's). Process 0's random state sits at the top of ``meta``, the others' in ``other_ranks``."""
    ranks = ranks or [random_state(trainer)]
    opt_arrays, opt_meta = _flatten_optimizer(trainer.optimizer.state_dict())
    arrays = {f"model/{k}": v for k, v in trainer.model.state_dict().items()}
    arrays.update(opt_arrays)
    if trainer.best_params is not None:
        arrays.update({f"best/{k}": v for k, v in trainer.best_params.items()})
    meta = {
        "config": dataclasses.asdict(trainer.config),
        "epoch": trainer.epoch,
        "history": trainer.history,
        "best_loss": trainer.best_loss, "best_epoch": trainer.best_epoch, "bad_epochs": trainer.bad_epochs,
        "stopped_early": trainer.stopped_early, "steps": trainer.steps,
        "optimizer": opt_meta,
        "scheduler": None if trainer.scheduler is None else trainer.scheduler.state_dict(),
        **ranks[0],
        "extra": None if trainer.extra_state is None else trainer.extra_state(),
    }
    if len(ranks) > 1:
        meta["other_ranks"] = ranks[1:]
    return arrays, meta


def restore_trainer(trainer, arrays: dict, meta: dict) -> None:
    """Put a ``trainer_state`` back into ``trainer`` and its model (built with the same shapes)."""
    if trainer.load_extra_state is not None and meta.get("extra") is not None:
        # first: the task's own state and checks (is it the same data?), so that a refused resume
        # names its reason instead of a shape that differs because the data did
        trainer.load_extra_state(meta["extra"])
    model = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    best = {k[len("best/"):]: v for k, v in arrays.items() if k.startswith("best/")}
    trainer.model.load_state_dict(model)
    trainer.optimizer.load_state_dict(_unflatten_optimizer(arrays, meta["optimizer"]))
    if trainer.scheduler is not None and meta["scheduler"] is not None:
        trainer.scheduler.load_state_dict(meta["scheduler"])
    rank, others = trainer.world.rank, meta.get("other_ranks", [])
    if rank > len(others):
        raise ValueError(f"the checkpoint was written by {len(others) + 1} processes; this is process {rank} "
                         f"of {trainer.world.size}: resume with as many processes as the run had")
    _load_random_state(trainer, meta if rank == 0 else others[rank - 1])
    trainer.epoch, trainer.history = int(meta["epoch"]), list(meta["history"])
    trainer.best_loss, trainer.best_epoch = float(meta["best_loss"]), int(meta["best_epoch"])
    trainer.bad_epochs, trainer.stopped_early = int(meta["bad_epochs"]), bool(meta["stopped_early"])
    trainer.steps = int(meta.get("steps", 0))
    trainer.best_params = best or None
