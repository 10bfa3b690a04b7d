"""The benchmarks' generated trail (benchmarks/gen.py) is read as a real one is: its digest
files name every log file with the SHA-256 of its content, so that a load given a window (as
``make bench`` loads it) pays for the comparison an investigation pays for, and finds nothing
to say about data that is whole."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from benchmarks.gen import generate, log_files, window
from torinvest.sources.logs import load_logs


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory):
    return generate(events=600, files=12, seed=3, out=tmp_path_factory.mktemp("bench"))


def _digests(root: Path) -> list[dict]:
    return [
        orjson.loads(gzip.decompress(p.read_bytes()))
        for p in sorted(root.glob("AWSLogs/*/CloudTrail-Digest/*/*/*/*/*.json.gz"))
    ]


def test_every_log_file_is_named_by_one_digest_with_its_hash(trail) -> None:
    named = [f["s3Object"] for d in _digests(Path(trail.root)) for f in d["logFiles"]]
    files = [str(p.relative_to(trail.root)) for p in log_files(trail)]
    assert sorted(named) == sorted(files)
    assert all(len(f["hashValue"]) == 64 for d in _digests(Path(trail.root)) for f in d["logFiles"])


def test_the_benchmark_load_reads_it_whole(trail) -> None:
    start, end = window(trail)
    result = load_logs(
        Path(trail.root) / "AWSLogs", start=start, end=end, regions=trail.regions, progress=False
    )  # the benchmark's windowed load names the trail's regions, as this does
    assert result.issues == []
    assert result.files_read == trail.files


def test_a_file_changed_after_generation_is_caught_by_its_digest(trail, tmp_path: Path) -> None:
    """The hashes are real and compared: the same load over a copy with one file's content
    changed names that file (without the digests' hashes it would read as whole)."""
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(trail.root, root)
    victim = sorted(root.glob("AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"))[0]
    doc = orjson.loads(gzip.decompress(victim.read_bytes()))
    doc["Records"] = doc["Records"][1:]  # one record deleted
    victim.write_bytes(gzip.compress(orjson.dumps(doc)))
    start, end = window(trail)
    result = load_logs(root / "AWSLogs", start=start, end=end, progress=False)
    altered = [i for i in result.issues if "hash does not match" in i.problem]
    assert [Path(i.source).name for i in altered] == [victim.name]
