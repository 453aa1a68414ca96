"""Every data file under src/ ships with the package: pyproject's package-data names it.

(After the layout moved ``unrolled.lm`` to ``unrolled.tasks.lm``, an editable install still found
the Shakespeare corpus, but a wheel would have left it out: this catches such a move.)
"""

import fnmatch
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).parents[1]
DATA_SUFFIXES = (".gz", ".xz", ".json", ".csv", ".txt", ".npz")


def test_every_bundled_data_file_is_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    src = ROOT / "src"
    missing = []
    for path in (src / "unrolled").rglob("*"):
        if not path.is_file() or not path.name.endswith(DATA_SUFFIXES) or "__pycache__" in path.parts:
            continue
        covered = False
        for package, patterns in config.items():
            base = src.joinpath(*package.split("."))
            if base in path.parents:
                rel = path.relative_to(base).as_posix()
                covered |= any(fnmatch.fnmatch(rel, pat) for pat in patterns)
        if not covered:
            missing.append(str(path.relative_to(src)))
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"
