"""Saved LookupEvents answers exported for one key, user, API or service hold nothing else.

AWS's procedure for a Tor finding is to search the key's ID in CloudTrail's event history:
``aws cloudtrail lookup-events --lookup-attributes AttributeKey=AccessKeyId,AttributeValue=KEY``.
A case folder holding only that export read as whole: ``2 derived key(s)`` with their search
``followed``, the IP pivot ``looked`` (nobody else), and the reading ``complete`` — while the
638 calls the sample case's attacker made with the keys it minted, and every other caller from
the Tor addresses, were never exported. Now each is an issue: the minted keys' calls and the
pivot's other callers are named as not in what was read.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.lookup_export import lookup_event
from torinvest.case import sample_case
from torinvest.events import load_activity
from torinvest.options import EngineOptions
from torinvest.pivot import PARTIAL, load_ip_pivot

KEY = "AKIATFQR7NSCUXC3DDDP"
TOR_IPS = ["109.70.100.66", "185.220.101.34"]
START, END = "2023-07-09", "2023-07-11"
ENGINES = ["files", "duckdb"]


def _records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted((sample_case().root / "cloudtrail").rglob("*.json.gz")):
        out += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    return sorted(out, key=lambda r: r["eventTime"], reverse=True)


RECORDS = _records()


def _export(folder: Path, name: str, keep: Callable[[dict[str, Any]], bool]) -> None:
    """The sample case's records ``keep`` takes, as ``aws cloudtrail lookup-events`` writes them
    (each event's lookup attributes beside its CloudTrailEvent)."""
    events = [lookup_event(r) for r in RECORDS if keep(r)]
    assert events
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps({"Events": events}))


def _of(key: str) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["userIdentity"].get("accessKeyId") == key


def _activity(folder: Path, engine: str) -> Any:
    return load_activity(
        logs=[folder],
        access_key=KEY,
        start=START,
        end=END,
        follow_derived=True,
        engine=EngineOptions(kind=engine),
    )


def _minted_issues(act: Any) -> list[str]:
    return [i.problem for i in act.issues if "the key minted" in i.problem]


@pytest.mark.parametrize("engine", ENGINES)
def test_an_export_for_the_key_alone_names_the_minted_keys_and_the_pivot_partial(
    tmp_path: Path, engine: str
) -> None:
    _export(tmp_path / "case", "lookup-key.json", _of(KEY))
    act = _activity(tmp_path / "case", engine)
    minted = sorted(d.access_key_id for d in act.derived)
    assert minted == ["AKIATFQR7NSCXLGMGTIH", "ASIATFQR7NSCNGEI5QNT"]
    (problem,) = _minted_issues(act)
    assert f"every one of its 64 event(s) is of AccessKeyId {KEY}, and nothing else was read" in (
        problem
    )
    assert f"the key minted 2 key(s) ({', '.join(minted)}) whose calls are not in" in problem
    assert not act.complete

    pivot = load_ip_pivot(
        TOR_IPS, logs=[tmp_path / "case"], start=START, end=END, engine=EngineOptions(kind=engine)
    )
    assert pivot.status == PARTIAL
    assert any(
        "other callers from these addresses are not in it" in i.problem for i in pivot.issues
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_exports_for_each_minted_key_beside_it_are_whole(tmp_path: Path, engine: str) -> None:
    folder = tmp_path / "case"
    _export(folder, "lookup-key.json", _of(KEY))
    for minted in ("AKIATFQR7NSCXLGMGTIH", "ASIATFQR7NSCNGEI5QNT"):
        _export(folder, f"lookup-{minted}.json", _of(minted))
    act = _activity(folder, engine)
    assert _minted_issues(act) == []
    assert len(act.frame) > 64  # the minted keys' calls are read


@pytest.mark.parametrize("engine", ENGINES)
def test_a_whole_export_or_log_files_beside_it_say_nothing_of_scope(
    tmp_path: Path, engine: str
) -> None:
    whole = tmp_path / "whole"
    _export(whole, "lookup.json", lambda r: True)  # every caller: no shared attribute
    act = _activity(whole, engine)
    assert _minted_issues(act) == []
    pivot = load_ip_pivot(TOR_IPS, logs=[whole], start=START, end=END)
    assert not any("other callers" in i.problem for i in pivot.issues)

    beside = tmp_path / "beside"
    _export(beside, "lookup-key.json", _of(KEY))
    (beside / "logs").symlink_to(sample_case().root / "cloudtrail", target_is_directory=True)
    act = _activity(beside, engine)
    assert _minted_issues(act) == []


def test_an_export_for_one_api_names_the_keys_other_calls_as_missing(tmp_path: Path) -> None:
    _export(tmp_path / "case", "lookup-s3.json", lambda r: r["eventSource"] == "s3.amazonaws.com")
    act = _activity(tmp_path / "case", "files")
    issues = [i.problem for i in act.issues if "calls of other APIs and services" in i.problem]
    assert len(issues) == 1
    assert "is of EventSource s3.amazonaws.com: it was exported for that EventSource" in issues[0]
    assert f"AttributeValue={KEY} --output json" in issues[0]
