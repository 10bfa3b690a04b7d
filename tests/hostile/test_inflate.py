"""Decompression bombs and damaged compressed files among findings exports and Tor exit lists:
each is one data issue naming the file, holds no more than the limit in memory, and the files
beside it load whole. (CloudTrail log files: tests/hostile/test_log_files.py.)"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import shutil
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from torinvest import inflate, tor
from torinvest.case import sample_case
from torinvest.findings import files as findings_files
from torinvest.findings import read_findings
from torinvest.tor import lists as tor_lists

LIMIT = 1 << 20  # 1 MiB: the tests' limit (the default is inflate.DEFAULT_LIMIT, 512 MiB)
COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "xz": lzma.compress,
    "bzip2": bz2.compress,
}


def bomb(compress: Callable[[bytes], bytes], size: int = 8 * LIMIT) -> bytes:
    """``size`` zero bytes, compressed (a few KB)."""
    if compress is gzip.compress:  # stream it: no `size` bytes held to make it
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb") as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(size >> 20):
                f.write(chunk)
        return out.getvalue()
    return compress(b"\0" * size)


# --------------------------------------------------------------------------------------------
# the module: every format, the limit, damage
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", COMPRESSORS)
def test_inflate_stops_at_the_limit_and_reads_every_stream(kind: str) -> None:
    compress = COMPRESSORS[kind]
    assert inflate.compression(compress(b"x")) == kind
    data = b'{"a": 1}\n' * 1000
    assert inflate.inflate(compress(data) + compress(data), LIMIT) == data * 2
    with pytest.raises(inflate.TooLargeError, match="inflates to more than 1 MiB"):
        inflate.inflate(bomb(compress), LIMIT)
    with pytest.raises(inflate.DAMAGED):
        inflate.inflate(compress(data)[:-12], LIMIT)
    assert inflate.inflate(data, LIMIT) == data  # not compressed: as is


def test_a_bomb_in_concatenated_gzip_members_is_caught_across_members() -> None:
    member = gzip.compress(b"\0" * (LIMIT // 2 + 1))  # two halves: only together too big
    with pytest.raises(inflate.TooLargeError):
        inflate.inflate(member + member, LIMIT)


# --------------------------------------------------------------------------------------------
# findings exports
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", COMPRESSORS)
def test_a_findings_bomb_is_one_issue_and_the_other_findings_load(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(findings_files, "MAX_FINDINGS_BYTES", LIMIT)
    folder = tmp_path / "findings"
    shutil.copytree(sample_case().findings, folder)
    before = read_findings(sample_case().findings)
    (folder / "bomb.json.gz").write_bytes(bomb(COMPRESSORS[kind]))
    result = read_findings(folder)
    (issue,) = [i for i in result.issues if i.source.endswith("bomb.json.gz")]
    assert "inflates to more than 1 MiB (a decompression bomb?): not read" in issue.problem
    assert sorted(f.id for f in result.findings) == sorted(f.id for f in before.findings)


def test_a_compressed_findings_export_reads_as_the_plain_one(tmp_path: Path) -> None:
    plain = sample_case().findings / "get-findings.json"
    for kind, compress in COMPRESSORS.items():
        (tmp_path / f"get-findings-{kind}.json.gz").write_bytes(compress(plain.read_bytes()))
    want = read_findings(plain).findings
    for path in sorted(tmp_path.iterdir()):
        got = read_findings(path)
        assert [f.id for f in got.findings] == [f.id for f in want] and not got.issues, path


def test_a_truncated_findings_gzip_is_one_issue(tmp_path: Path) -> None:
    data = gzip.compress((sample_case().findings / "get-findings.json").read_bytes())
    (tmp_path / "cut.json.gz").write_bytes(data[: len(data) // 2])
    _, issues = findings_files.read_findings_file(tmp_path / "cut.json.gz")
    (issue,) = issues
    assert issue.problem.startswith("cannot read the file: ") and "truncated" in issue.problem


# --------------------------------------------------------------------------------------------
# Tor exit lists: files and archive members
# --------------------------------------------------------------------------------------------
GOOD_LIST = "danmeuk-exit-2023-07-10.txt"


@pytest.mark.parametrize("kind", COMPRESSORS)
def test_an_exit_list_bomb_is_one_issue_and_the_lists_beside_it_load(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tor_lists, "MAX_LIST_BYTES", LIMIT)
    good = sample_case().tor / GOOD_LIST
    shutil.copy(good, tmp_path / GOOD_LIST)
    (tmp_path / "bomb-2023-07-10.txt.gz").write_bytes(bomb(COMPRESSORS[kind]))
    lists = tor.load_exit_lists(tmp_path, bundled=False)
    (issue,) = lists.issues
    assert issue.source.endswith("bomb-2023-07-10.txt.gz")
    assert "inflates to more than 1 MiB (a decompression bomb?): not read" in issue.problem
    alone = tor.load_exit_lists(good, bundled=False)
    assert len(lists.observations) == len(alone.observations) > 0


def test_an_archive_member_past_the_limit_is_one_issue_and_the_others_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tor_lists, "MAX_LIST_BYTES", LIMIT)
    good = (sample_case().tor / GOOD_LIST).read_bytes()
    archive = tmp_path / "exit-list-2023-07.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        for name, data in (
            ("2023-07-10-00-02-00", good),
            ("2023-07-10-01-02-00", b"\0" * 3 * LIMIT),
        ):
            info = tarfile.TarInfo(f"exit-list-2023-07/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert archive.stat().st_size < LIMIT
    lists = tor.read_exit_list(archive)
    (issue,) = lists.issues
    assert issue.source == f"{archive}:exit-list-2023-07/2023-07-10-01-02-00"
    assert "holds more than 1 MiB (a decompression bomb?): not read" in issue.problem
    assert len(lists.observations) > 0


def test_a_damaged_compressed_exit_list_is_one_issue(tmp_path: Path) -> None:
    data = zlib.compress(b"x")  # zlib, not gzip: read as text and not a list
    cut = gzip.compress((sample_case().tor / GOOD_LIST).read_bytes())
    (tmp_path / "cut-2023-07-10.txt.gz").write_bytes(cut[: len(cut) // 2])
    (tmp_path / "z-2023-07-10.txt").write_bytes(data)
    lists = tor.load_exit_lists(tmp_path, bundled=False)
    problems = {Path(i.source).name: i.problem for i in lists.issues}
    assert problems["cut-2023-07-10.txt.gz"].startswith("damaged compressed file: ")
    assert "z-2023-07-10.txt" in problems
