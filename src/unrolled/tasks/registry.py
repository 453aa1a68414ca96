"""The task registry: one line per task, from which come ``unrolled.<Estimator>``, ``unrolled.load``,
the command line's task commands and the contract tests (``tests/tasks/test_contract.py``).

A task is its estimator class (a ``unrolled.tasks.base.TaskEstimator``) and, optionally, a
function that adds its subcommand to the ``unrolled`` parser. Both are named as ``"module:attr"``
and imported on first use, so that ``import unrolled`` stays light. Nothing else in the package
lists the tasks.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    estimator: object  # "module:Class", or the class itself
    cli: str | None = None  # "module:function" adding the task's subcommand, or None
    train_command: tuple[str, ...] = ()  # the subcommand that trains it, e.g. ("lm", "train")


TASKS: dict[str, Task] = {
    "forecast": Task("unrolled.tasks.forecast.forecaster:Forecaster", "unrolled.tasks.forecast.cli:add_parser",
                     ("forecast",)),
    "lm": Task("unrolled.tasks.lm.model:LanguageModel", "unrolled.tasks.lm.cli:add_parser", ("lm", "train")),
    "classify": Task("unrolled.tasks.classify.model:SequenceClassifier", "unrolled.tasks.classify.cli:add_parser",
                     ("classify", "train")),
    "regress": Task("unrolled.tasks.classify.model:SequenceRegressor"),  # trained by classify train --target rating
    "classify_arrays": Task("unrolled.tasks.classify.arrays:ArrayClassifier"),
    "tpp": Task("unrolled.tasks.tpp.model:PointProcess", "unrolled.tasks.tpp.cli:add_parser", ("tpp", "train")),
}


def register(name: str, estimator, cli: str | None = None, train_command: tuple[str, ...] = ()) -> None:
    """Add a task: its estimator (a class or ``"module:Class"``) and optionally its CLI function
    and the subcommand that trains it."""
    TASKS[name] = Task(estimator, cli, tuple(train_command))


def _resolve(ref):
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def estimator(task: str):
    """The estimator class registered as ``task``."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; registered tasks are {sorted(TASKS)}")
    return _resolve(TASKS[task].estimator)


def estimators() -> dict:
    """Every registered task's estimator class, by task name."""
    return {task: estimator(task) for task in TASKS}


def estimator_named(class_name: str):
    """The registered estimator whose class is called ``class_name``, or None."""
    for task, entry in TASKS.items():
        ref = entry.estimator
        name = ref.rpartition(":")[2] if isinstance(ref, str) else ref.__name__
        if name == class_name:
            return estimator(task)
    return None


def add_parsers(sub) -> None:
    """Every registered task's subcommand on the ``unrolled`` parser's subcommands ``sub``."""
    for entry in TASKS.values():
        if entry.cli is not None:
            _resolve(entry.cli)(sub)


def load(path):
    """The fitted estimator saved in ``path`` (a model directory, or a run's ``--out`` holding
    ``model/``), whatever its task: the task is read from the saved ``estimator.json``."""
    from unrolled.tasks.rundir import model_dir, saved_task

    directory = model_dir(path)
    task = saved_task(directory)
    if task not in TASKS:
        raise ValueError(f"{directory} holds a model of task {task!r}, which this version of unrolled does not "
                         f"know (registered: {sorted(TASKS)})")
    return estimator(task).load(directory)
