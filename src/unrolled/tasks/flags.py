"""A task's command line, from its hyperparameter table: one flag per ``Hyper`` (``--hidden-size``),
its help the declared reason, ``none`` for an optional value; and back, the flags typed as the
estimator's keyword arguments, each checked naming its flag. Flags not typed are left out, so a
resumed run can tell a value the user chose from a default (``unrolled.tasks.resume``)."""

from __future__ import annotations

import argparse

GIVEN = "_given_flags"  # the argparse namespace's record of the flags typed (add_arguments)


def add_arguments(cls, parser, exclude=()) -> None:
    """One flag per hyperparameter (``--hidden-size``), its help the declared reason."""
    parser.set_defaults(**{GIVEN: frozenset()})
    for key, h in cls.hyperparams.items():
        if h.flag is None or key in exclude:
            continue
        flag = h.flag or "--" + key.replace("_", "-")
        kind = h.type or getattr(h.check, "type", None) or type(h.default)
        metavar = {int: "N", float: "X"}.get(kind, "TEXT")
        if getattr(h.check, "none", None):
            kind = _or_none(kind)
        default_text = "none" if h.default is None else h.default
        if kind is bool:
            parser.add_argument(flag, dest=key, default=h.default, action=_BooleanFlag,
                                help=f"{h.why} (default {default_text})".replace("%", "%%"))
        else:
            parser.add_argument(flag, dest=key, default=h.default, type=kind, choices=h.choices,
                                metavar=None if h.choices else metavar, action=_Store,
                                help=f"{h.why} (default {default_text})".replace("%", "%%"))


def params_from_args(cls, args) -> dict:
    """The hyperparameters set by ``add_arguments``'s flags, as keyword arguments: those typed
    on the command line (the others are the defaults the estimator fills in itself, or, on
    ``--resume``, the saved run's), or all of them from a namespace of another parser."""
    given = getattr(args, GIVEN, None)
    params = {k: getattr(args, k) for k, h in cls.hyperparams.items()
              if h.flag is not None and hasattr(args, k) and (given is None or k in given)}
    for key, value in params.items():  # each checked now, its message naming the flag typed
        try:
            cls.hyperparams[key].validate(cls.__name__, key, value)
        except ValueError as e:
            raise ValueError(f"{cls.hyperparams[key].flag or '--' + key.replace('_', '-')}: {e}") from None
    return params


def flag_words(cls, keys, values) -> str:
    """``--lr 0.002 --no-calendar``: ``keys`` with ``values`` as they are typed on the command line."""
    words = []
    for k in keys:
        h, v = cls.hyperparams[k], values.get(k)
        flag = h.flag or "--" + k.replace("_", "-")
        if h.flag is None:
            words.append(f"{k}={v}")
        elif isinstance(v, bool):
            words.append(flag if v else "--no-" + flag[2:])
        elif isinstance(v, (list, tuple)):
            words.append(f"{flag} {','.join(map(str, v))!r}")
        else:
            words.append(f"{flag} {'none' if v is None else v}")
    return " ".join(words)


def _or_none(kind):
    """A flag type that also reads ``none`` (the Python None of an optional hyperparameter)."""

    def convert(text):
        return None if text.strip().lower() == "none" else kind(text)

    convert.__name__ = getattr(kind, "__name__", "value")  # argparse names it in its messages
    return convert


def _record(namespace, dest) -> None:
    setattr(namespace, GIVEN, frozenset(getattr(namespace, GIVEN, None) or ()) | {dest})


class _Store(argparse.Action):
    """argparse's ``store``, also recording that the flag was typed (``params_from_args``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        _record(namespace, self.dest)


class _BooleanFlag(argparse.BooleanOptionalAction):
    """``--name`` / ``--no-name``, also recording that the flag was typed."""

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, option_string)
        _record(namespace, self.dest)
