"""torinvest.paths: the one folder walk every reader uses (files and issues, never a traceback)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from torinvest.export import write_frame
from torinvest.paths import walk_files, write_atomic
from torinvest.verdict import append


def tree(root: Path, names: list[str]) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)


def test_walk_order_is_each_folders_files_sorted_then_its_subfolders(tmp_path: Path) -> None:
    tree(tmp_path, ["b.json", "a.json", "sub/z.json", "sub/deeper/y.json", "a2/x.json", "c.txt"])
    walk = walk_files(tmp_path, wanted=lambda rel: rel.endswith(".json"))
    rel = [os.path.relpath(f.path, tmp_path) for f in walk.files]
    assert rel == ["a.json", "b.json", "a2/x.json", "sub/z.json", "sub/deeper/y.json"]
    assert walk.issues == []
    assert [f.size for f in walk.files] == [len(r) for r in rel]  # each file holds its name
    assert [f.rel for f in walk.files] == rel  # its path below the root, as the walk saw it


def test_a_root_file_is_the_one_file_whatever_its_name(tmp_path: Path) -> None:
    tree(tmp_path, ["export.txt"])
    walk = walk_files(tmp_path / "export.txt", wanted=lambda rel: rel.endswith(".json"))
    assert [f.path for f in walk.files] == [str(tmp_path / "export.txt")]
    assert [f.rel for f in walk.files] == [""]


def test_a_missing_root_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        walk_files(tmp_path / "nope")


def test_skipped_folders_and_unwanted_names_cost_nothing_and_say_nothing(tmp_path: Path) -> None:
    tree(tmp_path, ["CloudTrail-Digest/d.json", "keep/k.json"])
    (tmp_path / "README").symlink_to(tmp_path / "gone")  # not wanted: not even looked at
    walk = walk_files(
        tmp_path,
        wanted=lambda rel: rel.endswith(".json"),
        skip_folder=lambda name: name == "CloudTrail-Digest",
    )
    assert [os.path.relpath(f.path, tmp_path) for f in walk.files] == ["keep/k.json"]
    assert walk.issues == []


def test_links_are_followed_and_each_folder_read_once(tmp_path: Path) -> None:
    tree(tmp_path, ["real/a.json"])
    (tmp_path / "also").symlink_to(tmp_path / "real")  # a second way to the same folder
    (tmp_path / "real" / "file-link.json").symlink_to(tmp_path / "real" / "a.json")
    walk = walk_files(tmp_path)
    rel = [os.path.relpath(f.path, tmp_path) for f in walk.files]
    assert rel == ["also/a.json", "also/file-link.json"]  # "also" sorts first; "real" is its copy
    assert walk.issues == []  # nothing is missing: each file was read once


def test_a_link_to_a_folder_above_is_a_loop_reported_once(tmp_path: Path) -> None:
    tree(tmp_path, ["a.json", "sub/b.json"])
    (tmp_path / "sub" / "up").symlink_to("..")
    (tmp_path / "sub" / "me").symlink_to(".")
    walk = walk_files(tmp_path)
    assert [os.path.relpath(f.path, tmp_path) for f in walk.files] == ["a.json", "sub/b.json"]
    assert [os.path.relpath(i.source, tmp_path) for i in walk.issues] == ["sub/me", "sub/up"]
    assert all(
        i.problem.startswith("a symbolic link to a folder above it (a loop)") for i in walk.issues
    )


# --------------------------------------------------------------------------------------------
# durable writes: evidence files are synced to the disk, then renamed, then their folder synced
# --------------------------------------------------------------------------------------------
Synced = list[tuple[str, int, bool]]


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> Synced:
    """Each ``os.fsync``: ("file" or "folder", its inode, whether ``out`` existed then)."""
    calls: Synced = []
    real = os.fsync

    def spy(fd: int) -> None:
        st = os.fstat(fd)
        kind = "folder" if stat.S_ISDIR(st.st_mode) else "file"
        calls.append((kind, st.st_ino, any(p.exists() for p in _WATCHED)))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return calls


_WATCHED: list[Path] = []


def _watch(path: Path) -> Path:
    _WATCHED[:] = [path]
    return path


def test_an_evidence_file_is_synced_before_its_rename_and_its_folder_after(
    tmp_path: Path, synced: Synced
) -> None:
    """summary.json, the manifest, index and post records, fetched findings (write_atomic):
    after a crash the name holds the whole file or none — its bytes reached the disk before the
    rename, and the rename itself after it (was: renamed into place without any fsync)."""
    out = _watch(tmp_path / "summary.json")
    write_atomic(out, b'{"ok": true}\n')
    assert synced == [
        ("file", out.stat().st_ino, False),  # the bytes, before the name exists
        ("folder", tmp_path.stat().st_ino, True),  # the rename, after it
    ]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_every_events_export_is_synced(tmp_path: Path, synced: Synced, suffix: str) -> None:
    out = _watch(tmp_path / f"ev{suffix}")
    write_frame(pd.DataFrame({"event_id": ["a", "b"], "n": [1, 2]}), out)
    assert synced == [("file", out.stat().st_ino, False), ("folder", tmp_path.stat().st_ino, True)]


def test_a_cache_is_not_synced(tmp_path: Path, synced: Synced) -> None:
    write_atomic(_watch(tmp_path / "snapshot.parquet"), b"x", durable=False)
    assert synced == []


def test_a_new_ledger_is_synced_with_its_folder(tmp_path: Path, synced: Synced) -> None:
    """The verdict and actions ledger: each record synced (as it was); a new ledger's name
    too (its folder), once."""
    ledger = _watch(tmp_path / "ledger.jsonl")
    append(ledger, {"kind": "note", "n": 1})
    append(ledger, {"kind": "note", "n": 2})
    ino = ledger.stat().st_ino
    assert synced == [
        ("file", ino, True),
        ("folder", tmp_path.stat().st_ino, True),
        ("file", ino, True),
    ]
