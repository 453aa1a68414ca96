"""Resuming a task's run (``fit(..., resume=True)``, ``--resume``).

Every checkpoint carries the estimator's parameters and a description of its data
(``trainer_for``). Before any training, ``check_resume`` compares them with this estimator's: a
parameter set explicitly (a keyword to the constructor or ``set_params``, a flag typed on the
command line) must equal the saved one, else a ValueError names every differing flag with both
values; a parameter left at its default takes the saved value (and ``check_resume`` returns
those, for the run to say so). Only ``RESUME_MAY_CHANGE`` -- how long to train -- may be set to a
new value. Refusing, not silently overriding, is the choice: a resumed run cannot differ from the
one its checkpoint came from without the user seeing it.
"""

from __future__ import annotations

import pathlib

from unrolled.files import jsonable, read_json
from unrolled.tasks.flags import flag_words
from unrolled.train.world import current as current_world
from unrolled.train.trainer import Trainer

RUN_ONLY = ("checkpoint_dir", "progress")  # how one run goes, not what the model is: never saved
RESUME_MAY_CHANGE = ("epochs", "max_steps", "max_minutes")  # how long to train: a resumed run may go on longer
RESUME_STATE = "estimator"  # the key of the parameters in a checkpoint's extra state


def saved_params(est) -> dict:
    """The parameters a checkpoint or a saved model records: all but ``RUN_ONLY``, as JSON."""
    return jsonable({k: v for k, v in est.get_params().items() if k not in RUN_ONLY})


def trainer_for(est, net, config=None, *, data=None, extra_state=None, load_extra_state=None, **kw) -> Trainer:
    """The engine for ``fit``: a ``Trainer`` writing to ``checkpoint_dir``, whose checkpoints also
    carry these parameters (and ``data``, a JSON description of what is trained on) for
    ``check_resume``. ``extra_state`` / ``load_extra_state``: the task's own, as ``Trainer``'s."""
    record = {"task": est.task, "params": saved_params(est), "data": jsonable(data)}

    def save():
        state = dict(extra_state() or {}) if extra_state is not None else {}
        state[RESUME_STATE] = record
        return state

    def load(state):
        saved = (state or {}).get(RESUME_STATE) or {}
        if saved.get("data") is not None and record["data"] is not None and saved["data"] != record["data"]:
            raise ValueError(f"--resume: this run was started on {_words(saved['data'])}; now on "
                             f"{_words(record['data'])}; resume with the same data (the same --csv and "
                             "--test-fraction, or --text), or start a new run in another --out")
        if load_extra_state is not None:
            load_extra_state(state)

    kw.setdefault("world", current_world())  # under mpiexec -n K: data parallel over the K processes
    return Trainer(net, config or est.train_config(), checkpoint_dir=est.checkpoint_dir, extra_state=save,
                   load_extra_state=load, **kw)


def check_resume(est, name: str = "last") -> list[str]:
    """Before a resumed ``fit``: the parameters saved in ``checkpoint_dir``'s checkpoint against
    these (module docstring). Raises ValueError naming every explicitly set flag that differs;
    sets the others to the saved values and returns them as flags (``["--lr 0.01"]``)."""
    if est.checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir: the directory the interrupted run wrote to")
    path = pathlib.Path(est.checkpoint_dir) / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"--resume: no checkpoint {path}; resume continues a run interrupted in the same --out "
                         "(train without --resume first)")
    meta = read_json(path, "a checkpoint")
    if meta.get("stopped_early") is True:  # a finished run: resuming would train nothing and say nothing
        raise ValueError(f"--resume: the run in {path.parent.parent} stopped early after epoch {meta.get('epoch')} "
                         "(no better validation loss for --patience epochs), so there is nothing to continue; "
                         "start a new run (--overwrite, or another --out)")
    record = (meta.get("extra") or {}).get(RESUME_STATE) if isinstance(meta.get("extra"), dict) else None
    if isinstance(record, dict) and isinstance(record.get("params"), dict):
        if record.get("task") not in (None, est.task):
            raise ValueError(f"--resume: {path} is a checkpoint of a {record['task']!r} run, not a "
                             f"{est.task!r} one; give the --out of a {est.task} run")
        saved = {k: v for k, v in record["params"].items() if k in est.hyperparams and k not in RUN_ONLY}
    else:  # a checkpoint from before the parameters were saved: its TrainConfig
        config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
        saved = {k: config[k] for k in ("batch_size", "optimizer", "lr", "weight_decay", "clip_norm", "patience",
                                        "seed") if k in config and k in est.hyperparams}
    now = saved_params(est)
    differ = [k for k, v in saved.items() if not same(now.get(k), v)]
    given = getattr(est, "_given", frozenset())
    clash = [k for k in differ if k in given and k not in RESUME_MAY_CHANGE]
    if clash:
        raise ValueError(f"--resume: this run was started with {flag_words(type(est), clash, saved)}; now "
                         f"{flag_words(type(est), clash, now)}; resume with the same flags (or drop them to use the "
                         "saved ones)")
    adopted = [k for k in differ if k not in given]
    for k in adopted:
        setattr(est, k, saved[k])
    est.check_params()
    return [flag_words(type(est), [k], saved) for k in adopted]


def _words(data) -> str:
    """A task's JSON description of its data, in words (``rows 4276, dates 1999-01-04 to 2015-12-30``)."""
    if isinstance(data, dict):
        return ", ".join(f"{k} {_words(v)}" for k, v in data.items())
    if isinstance(data, (list, tuple)):
        return " to ".join(map(str, data))
    return str(data)


def same(a, b) -> bool:
    """``a == b`` for parameter values, also for values whose ``==`` is not a bool."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b
