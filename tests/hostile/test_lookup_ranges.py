"""Saved LookupEvents answers do not record the time range they were asked for.

``aws cloudtrail lookup-events --start-time … --end-time …`` (and the console's Event history
filter) writes the events of the range asked and nothing of the range itself. An analyst's
export asked from 12:10, read over the whole day, read ``22 events``, complete, while the key's
42 calls from 11:42 to 12:08 were never exported: nothing said. Now a note names the span the
answers hold and the window they are read as covering, and what makes that right (asked for the
whole window, within Event history's 90 days). Log files say nothing of the kind; nor answers
read without a window.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_run import run
from tests.lookup_export import lookup_event
from torinvest.case import sample_case

SAMPLE = sample_case().root
KEY = "AKIATFQR7NSCUXC3DDDP"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")
DAY = ("--start", "2023-07-10", "--end", "2023-07-10")


def _records() -> list[dict[str, Any]]:
    logs = sorted((SAMPLE / "cloudtrail").rglob("*.json.gz"))
    return [r for p in logs for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]]


def _export(folder: Path, since: str, key: str | None = None) -> Path:
    """Each region's Event history from ``since`` (the analyst's ``--start-time``)."""
    folder.mkdir()
    for region in REGIONS:
        kept = [
            r
            for r in _records()
            if r["awsRegion"] == region
            and r["eventTime"] >= since
            and (key is None or r["userIdentity"].get("accessKeyId") == key)
        ]
        kept.sort(key=lambda r: r["eventTime"], reverse=True)
        answer = {"Events": [lookup_event(r) for r in kept]}
        (folder / f"lookup-{region}.json").write_text(json.dumps(answer))
    return folder


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def _note(err: str) -> str:
    (line,) = [x for x in err.splitlines() if "do not record the time range" in x]
    return line


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_answers_asked_for_part_of_the_window_say_the_span_they_hold(
    tmp_path: Path, engine: str
) -> None:
    folder = _export(tmp_path / "cloudtrail", since="2023-07-10T12:10:00Z")
    code, out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--engine", engine,
        "--regions", ",".join(REGIONS), *DAY, "--out", "ev.csv",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("22 events from 3 saved LookupEvents answer file(s)"), out
    note = _note(err)
    assert note.startswith("torinvest: note: the 3 saved LookupEvents answer(s) read do not")
    assert "they hold the key's events from 2023-07-10T12:11:02Z to 2023-07-10T12:27:46Z" in note
    assert "read as the window's (2023-07-10T00:00:00Z to 2023-07-10T23:59:59Z)" in note
    assert "--start-time 2023-07-10T00:00:00Z --end-time 2023-07-10T23:59:59Z" in note
    assert "Event history keeps 90 days" in note


def test_answers_holding_no_event_of_the_key_say_so(tmp_path: Path) -> None:
    folder = _export(tmp_path / "cloudtrail", since="2023-07-10T12:10:00Z", key="AKIANOTHEKEY0000")
    code, out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY,
        "--regions", ",".join(REGIONS), *DAY, "--out", "ev.csv",
    )  # fmt: skip
    assert code == 0 and out.startswith("0 events"), (out, err)
    assert "they hold no event of the key, and are read as the window's" in _note(err), err


def test_log_files_and_answers_read_without_a_window_say_nothing_of_it(tmp_path: Path) -> None:
    folder = _export(tmp_path / "cloudtrail", since="2023-07-10T12:10:00Z")
    code, _, err = run(
        "events", "--logs", str(folder), "--access-key", KEY,
        "--regions", ",".join(REGIONS), "--out", "ev.csv",
    )  # fmt: skip
    assert code == 0 and "do not record the time range" not in err, err
    code, _, err = run(
        "events", "--logs", str(SAMPLE / "cloudtrail"), "--access-key", KEY,
        "--regions", ",".join(REGIONS), *DAY, "--out", "ev2.csv",
    )  # fmt: skip
    assert code == 0 and "do not record the time range" not in err, err
