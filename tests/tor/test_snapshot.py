"""The bundled exit lists' on-disk snapshot: read back exactly as parsed, keyed on what the
parse depends on, and never a reason to fail (corrupt, stale or unwritable: parsed instead)."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from torinvest.paths import tor_cache
from torinvest.tor import lists, snapshot


@pytest.fixture
def fresh() -> Iterator[None]:
    """No parsed lists kept in this process (each test sees what a new process sees), and no
    snapshot in the cache (the one tests/conftest.py's ``isolated_state`` starts it with)."""
    shutil.rmtree(snapshot.snapshot_dir(), ignore_errors=True)
    lists._bundled.cache_clear()
    yield
    lists._bundled.cache_clear()


@functools.cache
def parsed() -> lists.ExitLists:
    """The bundled lists parsed, once per process (read only: about 1 s a parse)."""
    return lists._parse_bundled(lists.bundled_dir(), lists.bundled_index())


def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> lists.ExitLists:
        raise AssertionError("the bundled lists were parsed, not read from the snapshot")

    monkeypatch.setattr(lists, "_parse_bundled", refuse)


def the_snapshot() -> Path:
    (path,) = snapshot.snapshot_dir().glob("tor-*.parquet")
    return path


def test_the_snapshot_reads_back_what_parsing_gives(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = parsed()
    assert not list(snapshot.snapshot_dir().glob("tor-*.parquet"))  # none yet (``fresh``)
    first = lists._bundled()  # parses, writes the snapshot
    assert the_snapshot().is_file()
    lists._bundled.cache_clear()
    no_parsing(monkeypatch)
    again = lists._bundled()  # a new process: the snapshot
    for got in (first, again):
        pd.testing.assert_frame_equal(got.observations, expected.observations)
        assert [s.to_dict() for s in got.sources] == [s.to_dict() for s in expected.sources]
        assert got.issues == [] and got.notes == []
    # what a Tor check reads is the same through load_exit_lists
    loaded = lists.load_exit_lists()
    pd.testing.assert_frame_equal(loaded.observations, expected.observations)
    # not in the Tor cache folder, whose every file is read as an exit list
    assert tor_cache() not in snapshot.snapshot_dir().parents
    assert snapshot.snapshot_dir() != tor_cache()


def test_the_key_follows_every_input(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("ExitAddress 1.2.3.4 2018-11-01 00:00:00\n")
    b.write_text("5.6.7.8\n")
    key = snapshot.snapshot_key([a, b], "/site-packages/torinvest/data/tor")
    assert key == snapshot.snapshot_key([a, b], "/site-packages/torinvest/data/tor")
    assert key != snapshot.snapshot_key([a, b], "/elsewhere/torinvest/data/tor")
    assert key != snapshot.snapshot_key([b, a], "/site-packages/torinvest/data/tor")
    b.write_text("5.6.7.9\n")  # one byte of one list
    assert key != snapshot.snapshot_key([a, b], "/site-packages/torinvest/data/tor")
    with pytest.raises(OSError):
        snapshot.snapshot_key([tmp_path / "gone.txt"], "x")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "rows", "other key"])
def test_a_damaged_or_stale_snapshot_is_parsed_over(
    fresh: None, damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = parsed()
    full_key = snapshot.snapshot_key(
        [lists.bundled_dir() / "INDEX.json"]
        + [lists.bundled_dir() / e["path"] for e in lists.bundled_index()],
        str(lists.bundled_dir()),
    )
    # what a first run leaves (the parse that writes it: test_the_snapshot_reads_back_…),
    # checked to be the snapshot a run reads, so the damage below is to the one it reads
    assert snapshot.write_snapshot(full_key, expected) == the_snapshot()
    with monkeypatch.context() as m:
        no_parsing(m)
        lists._bundled()
    lists._bundled.cache_clear()
    path = the_snapshot()
    key = path.stem.removeprefix("tor-")
    if damage == "garbage":
        path.write_bytes(b"not parquet at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "rows":  # rows lost: they no longer add up to the sources' counts
        short = lists.ExitLists(
            observations=expected.observations.iloc[:-10].reset_index(drop=True),
            sources=expected.sources,
        )
        assert snapshot.write_snapshot(full_key, short) == path
    else:  # the file name matches but the key stored in it does not (a collision, a copy)
        # stale: written by a version that knew one list fewer (rows and counts agree)
        gone = expected.sources[-1]
        frame = expected.observations
        other = lists.ExitLists(
            observations=frame[frame["list"] != gone.name].reset_index(drop=True),
            sources=expected.sources[:-1],
        )
        assert len(other.observations) < len(frame)
        stale = snapshot.write_snapshot("0" * 32 + key[32:], other)
        assert stale is not None and stale != path
        stale.rename(path)
    lists._bundled.cache_clear()
    got = lists._bundled()
    pd.testing.assert_frame_equal(got.observations, expected.observations)
    assert [s.to_dict() for s in got.sources] == [s.to_dict() for s in expected.sources]
    # and the snapshot is whole again: the next process reads it without parsing
    lists._bundled.cache_clear()
    no_parsing(monkeypatch)
    pd.testing.assert_frame_equal(lists._bundled().observations, expected.observations)


def test_an_unwritable_cache_only_costs_the_parse(
    fresh: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("TORINVEST_CACHE", str(blocker))
    got = lists._bundled()
    assert len(got) == len(parsed()) > 100_000
    assert got.issues == []
    assert not list(tmp_path.glob("**/tor-*.parquet"))
    assert not list(tmp_path.glob("**/*.tmp"))


def test_installations_sharing_a_cache_keep_their_snapshots(fresh: None) -> None:
    """Two virtual environments (or an upgrade and a rollback) on one cache: each keeps its
    snapshot; only snapshots beyond the newest few are removed."""
    lists = parsed()
    paths = []
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(snapshot.KEEP + 2)]
    for i, key in enumerate(keys):
        path = snapshot.write_snapshot(key, lists)
        assert path is not None
        os.utime(path, ns=(i * 10**9, i * 10**9))  # written in this order
        paths.append(path)
    snapshot._prune(snapshot.snapshot_dir())
    kept = sorted(snapshot.snapshot_dir().glob("tor-*.parquet"))
    assert kept == sorted(paths[-snapshot.KEEP :])
    assert snapshot.read_snapshot(keys[-1]) is not None
    assert snapshot.read_snapshot(keys[0]) is None
