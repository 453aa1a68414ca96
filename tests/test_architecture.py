"""The layers of docs/ARCHITECTURE.md hold: each part of the package imports only the parts below it.

Read statically from the source (every ``import`` and ``from ... import``, also inside
functions), so a new import across the layers fails here with the file and the line.
"""

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).parents[1] / "src" / "unrolled"

# part -> the parts it may import (a part is a dotted prefix below ``unrolled``). The math at the
# bottom of nn/ (activations, cells, the reference loop, checks) sits below fast/; the layers of
# nn/ (recurrent, layers, module, losses) sit above it: they run the compiled schedule.
MATH = ("nn.activations", "nn.cells", "nn.loop", "nn.checks")
ALLOWED = {
    "files": (),
    "data": (),
    **{m: MATH + ("fast.kernels.loops",) for m in MATH},  # a cell names its compiled kernel's code
    "fast": ("fast", "nn.loop"),
    "nn": ("nn", "fast", "files"),
    "train": ("train", "nn", "fast", "files"),  # fast: the optimizers' whole-array passes
    "tasks": ("tasks", "train", "nn", "files", "data"),
    "inside": ("inside", "tasks", "train", "nn", "files", "data"),
    "onnx": ("onnx", "tasks", "nn", "files"),
    "demo": ("demo", "nn", "train"),
    "cli": ("cli", "demo", "tasks", "inside", "onnx", "train.world", "fast.threads", "set_num_threads"),  # the world: one console; threads
    "__init__": ("nn", "train", "tasks", "fast.threads"),  # unrolled.set_num_threads
}


def _part(module: str, table) -> str:
    """The longest key of ``table`` that ``module`` (dotted, below unrolled) falls under."""
    hits = [p for p in table if module == p or module.startswith(p + ".")]
    return max(hits, key=len) if hits else module


def _imports(path: pathlib.Path):
    """(line, what it may mean) for every import of unrolled in the file: ``from X import a``
    imports the module ``X.a`` or a name of ``X``, so either may be the allowed one."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "unrolled":
            for alias in node.names:
                meanings = [f"{node.module}.{alias.name}"] + ([node.module] if node.module != "unrolled" else [])
                yield node.lineno, [m[len("unrolled."):] for m in meanings]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("unrolled."):
                    yield node.lineno, [alias.name[len("unrolled."):]]


FILES = sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_each_part_imports_only_the_parts_below_it(path):
    rel = path.relative_to(SRC).with_suffix("")
    module = ".".join(p for p in rel.parts if p != "__init__") or "__init__"
    here = _part(module, ALLOWED)
    assert here in ALLOWED, f"{rel}: part {here!r} is not in the map; add it to docs/ARCHITECTURE.md and here"
    for line, meanings in _imports(path):
        ok = any(m == p or m.startswith(p + ".") for m in meanings for p in ALLOWED[here] + (here,))
        assert ok, f"{rel}:{line} imports unrolled.{meanings[0]}; {here} may import only {ALLOWED[here]}"


def test_the_map_covers_every_folder():
    folders = {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders <= {k.split(".")[0] for k in ALLOWED}, folders
