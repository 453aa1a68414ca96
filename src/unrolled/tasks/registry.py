"""The task registry: one line per task, from which come ``unrolled.<Estimator>``, ``unrolled.load``,
the CLI's task commands and the contract tests.

A task registers its estimator class (a ``unrolled.tasks.base.TaskEstimator``) under its name; the
class names its command, its saved-model file and its flags. Nothing else in the package lists
the tasks.
"""

from __future__ import annotations

import importlib

# name -> "module:Class"; imported on first use so that `import unrolled` stays light
TASKS = {
    "forecast": "unrolled.tasks.forecast.forecaster:Forecaster",
    "lm": "unrolled.tasks.lm.model:LanguageModel",
}


def estimator(task: str):
    """The estimator class registered as ``task``."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; registered tasks are {sorted(TASKS)}")
    module, _, cls = TASKS[task].partition(":")
    return getattr(importlib.import_module(module), cls)


def estimators() -> dict:
    """Every registered task's estimator class, by task name."""
    return {task: estimator(task) for task in TASKS}


def estimator_named(class_name: str):
    """The registered estimator whose class is called ``class_name``, or None."""
    for task, path in TASKS.items():
        if path.rpartition(":")[2] == class_name:
            return estimator(task)
    return None


def load(path):
    """Open a saved model directory of any registered task and return its estimator."""
    raise NotImplementedError  # filled in with the task base
