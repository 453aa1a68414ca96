"""The ``unrolled`` command: each subcommand is a thin shell over a function in the library.

What ``main`` turns into one line on stderr, and why (a deliberate list; everything else is a bug
and keeps its traceback, so that a programming error is never hidden):

======================================  ====  ==================================================
exception                               exit  why it is the user's to fix
======================================  ====  ==================================================
ValueError (and UnicodeDecodeError)     2     bad input: the library's message names the fix
OSError (not found, no permission,      2     the environment: a path, its permissions, a full
read-only, disk full, name too long)          or read-only disk; the message names the file, the
                                              flag that gave it and what to do
MemoryError                             2     sizes too large for this machine; names the size
                                              flags given (the library checks the known ones first)
OverflowError                           2     a number too large for the arithmetic (a huge flag
                                              value, a diverged loss); names the numeric flags given
RecursionError                          2     input nested too deeply (JSON); the readers check
                                              first, this is the last resort
KeyboardInterrupt (Ctrl-C)              130   stopped by the user; a training run says how to
                                              resume (the engine saved ``last`` at a step boundary)
BrokenPipeError (``... | head``)        141   the reader left: stdout goes to /dev/null and the
                                              command exits quietly with 128 + SIGPIPE, what a
                                              shell reports for any tool a closed pipe stops, so
                                              ``set -o pipefail`` still sees the cut
======================================  ====  ==================================================

argparse's own errors (an unknown flag, a value of the wrong type) exit 2 through SystemExit.

Not caught, on purpose: KeyError, TypeError, AttributeError, IndexError, RuntimeError and the rest.
Edited or damaged files are turned into ValueErrors naming the file where they are read (a saved
model: ``TaskEstimator.load``; a checkpoint: ``Trainer.load``; a store: ``unrolled.files``), so
one of these reaching ``main`` is a bug, and its traceback is what a bug report needs.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys

from unrolled import set_num_threads
from unrolled.fast.threads import threads_from_environment
from unrolled.train.world import current as current_world

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE


def _demo(args) -> int:
    from unrolled.demo import run_demo

    if args.seed < 0:
        raise ValueError(f"--seed {args.seed} is invalid; use a whole number >= 0")
    run_demo(delay=args.delay, steps=args.steps, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unrolled", description="Recurrent networks written from their equations, checked against PyTorch.")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="compute threads, after any command (default: 2 where two cores are free, decided at "
                             "every layer call; also UNROLLED_NUM_THREADS)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="seed 003's LSTM step, a gradient check, and RNN/GRU/LSTM on a memory task")
    demo.add_argument("--delay", type=int, default=6, help="how many steps back the target bit lies (default 6)")
    demo.add_argument("--steps", type=int, default=300, help="Adam steps per cell (default 300)")
    demo.add_argument("--seed", type=int, default=0, help="seed for data and weights (default 0)")
    demo.set_defaults(func=_demo)
    from unrolled.tasks import registry

    registry.add_parsers(sub)  # one subcommand per registered task: forecast, lm, ...
    from unrolled.inside.cli import add_explain_parser, add_gradflow_parser

    add_explain_parser(sub)
    add_gradflow_parser(sub)
    from unrolled.onnx.cli import add_export_parser

    add_export_parser(sub)
    return parser


def main(argv=None) -> int:
    """Run the command in ``argv`` (default ``sys.argv[1:]``); its exit status (module docstring)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = None
    try:
        threads, argv = _threads_flag(argv)
        _processes(threads)
        _say_when_compiling()
        parser = build_parser()
        args = parser.parse_args(argv)
        if not hasattr(args, "func"):
            parser.print_help()
            return EXIT_BAD_INPUT
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at exit
        return code
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt as e:
        return _fail(_interrupted(e, args), EXIT_INTERRUPTED)
    except ValueError as e:  # bad input: the message says what to fix
        return _fail(str(e))
    except OSError as e:
        return _fail(_os_error(e, args))
    except MemoryError as e:
        return _fail(f"out of memory ({_short(str(e) or 'MemoryError')}); {_smaller(argv, 'sizes')}")
    except OverflowError as e:
        return _fail(f"a number grew too large ({e}); {_smaller(argv, 'values')}")
    except RecursionError:
        return _fail("the input is nested too deeply to read; give a flatter file")


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    world = current_world()
    if world.size > 1:  # one process's error ends every process now, not at their next collective
        message = f"process {world.rank} of {world.size}: {message}"
    print(f"unrolled: error: {message}" if code != EXIT_INTERRUPTED else f"unrolled: {message}", file=sys.stderr)
    if world.size > 1:
        sys.stderr.flush()
        world.comm.Abort(code)
    return code


def _say_when_compiling() -> None:
    """On a terminal, one line when numba starts compiling a kernel: the first run on a machine
    builds the fast path's kernels for its CPU (a few seconds, at first use, each cached on disk
    for every later run), and a silent pause would look like a hang."""
    if not sys.stderr.isatty():
        return
    from numba.core import event

    class Notice(event.Listener):
        said = False

        def on_start(self, ev):
            if not self.said:
                self.said = True
                print("unrolled: compiling the fast kernels for this machine (first run only; later runs read "
                      "them from the cache)", file=sys.stderr, flush=True)

        def on_end(self, ev):
            pass

    event.register("numba:compile", Notice())


def _threads_flag(argv):
    """``--threads N`` anywhere on the command line (every command takes it): (N or None, the rest)."""
    flag = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    flag.add_argument("--threads", type=str, default=None)
    known, rest = flag.parse_known_args(argv)
    if known.threads is None:
        return None, argv
    if not (known.threads.isascii() and known.threads.isdigit()) or int(known.threads) < 1:
        raise ValueError(f"--threads {known.threads} is invalid; give a whole number of compute threads >= 1")
    return int(known.threads), rest


def _processes(threads: int | None = None) -> None:
    """The compute threads: ``--threads N``, else ``UNROLLED_NUM_THREADS``, else the library's own
    choice at every layer call from the cores free (``unrolled.fast.threads``). Under ``mpiexec
    -n K``: the main process says so; the others print nothing to stdout (one console, one
    progress bar); each holds its compute threads to its share of the cores (default cores /
    processes on this host)."""
    world = current_world()
    threads = threads or threads_from_environment()
    if world.size == 1:
        if threads:
            set_num_threads(threads)
        return
    local = int(os.environ.get("MPI_LOCALNRANKS", world.size))  # processes on this host (Hydra sets it)
    threads = threads or max(1, (os.cpu_count() or 1) // local)
    set_num_threads(threads)
    if world.is_main:
        print(f"unrolled: {world.size} processes (MPI), {threads} compute thread(s) each", flush=True)
    else:
        _stdout_to_devnull()


def _stdout_to_devnull() -> None:
    """After a broken pipe: later writes (and the flush at exit) go nowhere instead of failing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (a test's capture): nothing to redirect
        pass


def _interrupted(e: KeyboardInterrupt, args) -> str:
    """The one line of Ctrl-C; a training run's ``TrainingInterrupted`` says how to resume."""
    if not hasattr(e, "checkpoint_dir"):
        return "interrupted"
    out = getattr(args, "out", None)
    if e.checkpoint_dir is None or out is None:
        return "interrupted; nothing was saved (give --out DIR to keep checkpoints that --resume continues)"
    if e.steps is None:
        return f"interrupted before the first checkpoint; start again with --out {out}"
    return f"interrupted; resume with --resume --out {out} (the same command plus --resume; from step {e.steps})"


_OS_FIX = {
    errno.ENOSPC: "free some space or choose another location",
    errno.EROFS: "the file system is read-only; choose another location",
    errno.EACCES: "check its permissions or choose another location",
    errno.EPERM: "check its permissions or choose another location",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "check the path",
    errno.EISDIR: "give a file, not a directory",
}
if hasattr(errno, "EDQUOT"):
    _OS_FIX[errno.EDQUOT] = "free some space or choose another location"


def _os_error(e: OSError, args) -> str:
    """``<file>: <what the system says>; <the fix> (<the flag that gave the file>)``."""
    name = e.filename if e.filename is not None else e.filename2
    what = e.strerror or str(e)
    fix = _OS_FIX.get(e.errno, "check the path and the disk")
    flag = _flag_of(name, args)
    where = f" (given by {flag})" if flag else ""
    return f"{_short(str(name)) + ': ' if name is not None else ''}{what}; {fix}{where}"


def _flag_of(filename, args) -> str | None:
    """The flag whose value ``filename`` is, or lies under (``--out DIR`` for ``DIR/model/x.npz``)."""
    if filename is None or args is None:
        return None
    name = os.fspath(filename) if isinstance(filename, (str, os.PathLike)) else str(filename)
    for key, value in vars(args).items():
        if isinstance(value, str) and value and (name == value or name.startswith(value.rstrip("/") + "/")):
            return "--" + key.replace("_", "-")
    return None


def _smaller(argv, what: str) -> str:
    """``use smaller values for --a, --b``: the numeric flags on the command line, or a general hint."""
    flags = []
    for i, token in enumerate(argv):
        flag, eq, value = token.partition("=")
        if not flag.startswith("--"):
            continue
        value = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
        try:
            float(value)
        except ValueError:
            continue
        flags.append(flag)
    return f"use smaller {what} for {', '.join(dict.fromkeys(flags))}" if flags else f"use smaller {what}"


def _short(text: str, most: int = 200) -> str:
    """``text`` cut to ``most`` characters (a 5000-character path stays a line)."""
    return text if len(text) <= most else text[:most - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
