"""Hyperparameters declared once: a default, a one-line reason and a check.

``Hyper`` is the declaration; the task estimators (``unrolled.tasks.base``) derive from their
``Hyper`` tables the constructor, its checks, ``get_params`` / ``set_params``, the repr, the
command-line flags with their help, and the mapping onto ``TrainConfig``::

    "lr": Hyper(2e-3, "Adam's rate for models of this size", positive()),

A check is a function ``value -> None`` that raises ``ValueError`` with the fix, without the
name (``Hyper.validate`` puts ``"<owner>: <name>=<value> is invalid; "`` in front), so every
message names the parameter, its bad value and what to use instead.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: ``default``, why that default (also the ``--help`` text), a ``check``.

    ``flag`` is the command-line name (default ``--<name with dashes>``; None keeps it off the
    command line, e.g. a dtype or a directory the run command chooses); ``type`` converts the
    flag's text (default: the type of the default, or ``check.type``).
    """

    default: Any
    why: str
    check: Callable[[Any], None] | None = None
    flag: str | None = ""
    type: Callable | None = None
    choices: tuple | None = None

    def validate(self, owner: str, name: str, value) -> None:
        validate(owner, name, value, self.check, self.choices)


def validate(owner: str, name: str, value, check=None, choices=None) -> None:
    """``value`` against ``choices`` and ``check``; ValueError ``"<owner>: <name>=<value> is
    invalid; <the fix>"``."""
    if choices is not None and value not in choices:
        names = [repr(c) for c in choices]
        either = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise ValueError(f"{owner}: {name}={value!r} is invalid; use {either}")
    if check is not None:
        try:
            check(value)
        except ValueError as e:
            raise ValueError(f"{owner}: {name}={value!r} is invalid; {e}") from None


def _fail(fix: str):
    raise ValueError(fix)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def whole(low: int = 1, none: str | None = None):
    """A whole number >= ``low``; None allowed when ``none`` says what None means."""

    def check(v):
        if v is None and none is not None:
            return
        if not (_is_int(v) and v >= low):
            _fail(f"use a whole number >= {low}" + (f", or None {none}" if none else ""))

    check.type, check.none = int, none
    return check


def positive(none: str | None = None, upper: float | None = None, example: float | None = None):
    """A finite number > 0 (and <= ``upper``); None allowed when ``none`` says what None means."""

    def check(v):
        if v is None and none is not None:
            return
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0
        if not ok or (upper is not None and v > upper):
            bound = f" and at most {upper:g}" if upper is not None else ""
            such = f" such as {example:g}" if example is not None else ""
            _fail(f"use a positive number{bound}{such}" + (f", or None {none}" if none else ""))

    check.type, check.none = float, none
    return check


def nonnegative():
    """A finite number >= 0."""

    def check(v):
        if not (isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v >= 0):
            _fail("use a number >= 0")

    check.type = float
    return check


def fraction(low: float = 0.0, high: float = 1.0, closed_low: bool = True, closed_high: bool = False,
             example: float | None = None):
    """A number in [low, high) (``closed_low`` False: from above low; ``closed_high``: up to high)."""

    def check(v):
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
        if not (ok and (v >= low if closed_low else v > low) and (v <= high if closed_high else v < high)):
            interval = f"{'[' if closed_low else '('}{low:g}, {high:g}{']' if closed_high else ')'}"
            _fail(f"use a number in {interval}" + (f" such as {example:g}" if example is not None else ""))

    check.type = float
    return check


def flag_value():
    """True or False."""

    def check(v):
        if not isinstance(v, (bool, np.bool_)):
            _fail("use True or False")

    check.type = bool
    return check


def optional_flag():
    """True, False or None (None: decide from the context, e.g. a bar only on a terminal)."""

    def check(v):
        if v is not None and not isinstance(v, (bool, np.bool_)):
            _fail("use True, False or None")

    check.type = bool
    return check


def text(none: str | None = None):
    """A non-empty string; None allowed when ``none`` says what None means."""

    def check(v):
        if v is None and none is not None:
            return
        if not (isinstance(v, str) and v.strip()):
            _fail("use a non-empty name" + (f", or None {none}" if none else ""))

    check.type, check.none = str, none
    return check


def anything():
    """No check: the value is checked where it is used (a path, a dtype, a list of columns)."""
    return None
