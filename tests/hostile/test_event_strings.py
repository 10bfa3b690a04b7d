"""``aws cloudtrail lookup-events … --query 'Events[].CloudTrailEvent'`` saved as the events.

The CLI's ``--output json`` of that query is a JSON list of strings, each one record's JSON: it
read "not CloudTrail records (a list without CloudTrail records)", nothing loaded. It is a saved
LookupEvents answer (the records alone): read, and judged as one — by the regions it holds
(Event history is per region: tests/hostile/test_lookup_regions.py), management events only.
The same with ``--output text`` (the strings tab-separated on one line) read "invalid JSON …
the file is damaged": it is named as the AWS CLI's text output, with what to run instead.
Catalogue: docs/hostile-inputs.md, "Saved command outputs".
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_run import issues, run
from torinvest.case import sample_case
from torinvest.sniff import CLI_OUTPUT_DO, CLI_TEXT, sniff
from torinvest.sources.records import answer_regions, answer_scope, is_lookup_answer
from torinvest.sources.records.documents import parse_records

KEY = "AKIATFQR7NSCUXC3DDDP"

LOGS = sorted((sample_case().root / "cloudtrail").rglob("*.json.gz"))


def _records(region: str | None = None) -> list[dict[str, Any]]:
    out = [r for p in LOGS for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]]
    return [r for r in out if region is None or r["awsRegion"] == region]


def _strings(records: list[dict[str, Any]]) -> list[str]:
    """Each record's JSON as LookupEvents' CloudTrailEvent holds it (newest first)."""
    newest_first = sorted(records, key=lambda r: r["eventTime"], reverse=True)
    return [json.dumps(r, separators=(",", ":")) for r in newest_first]


def _as_json(path: Path, records: list[dict[str, Any]]) -> Path:
    """``--output json``: the CLI's 4-space indented list."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_strings(records), indent=4) + "\n")
    return path


def _as_text(path: Path, records: list[dict[str, Any]]) -> Path:
    """``--output text``: the strings of one page on one line, tab-separated."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\t".join(_strings(records)) + "\n")
    return path


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_the_records_json_strings_are_read_as_a_saved_answer_of_their_region(
    tmp_path: Path, engine: str
) -> None:
    """us-east-1's Event history saved as the query's JSON: its 60 calls read (was: none, "not
    CloudTrail records"), and, being one region's answer, the regions it cannot hold named."""
    folder = tmp_path / "cloudtrail"
    _as_json(folder / "lookup-us-east-1.json", _records("us-east-1"))
    code, out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--engine", engine,
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", "ev.csv",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("60 events from 1 saved LookupEvents answer file(s)")
    (line,) = issues(err)
    assert "saved LookupEvents answer(s) read hold region(s) us-east-1 only" in line
    assert "ap-southeast-1" in line and "partial result" in err
    assert "LookupEvents returns management events only" in err


def test_every_region_exported_is_no_issue(tmp_path: Path) -> None:
    folder = tmp_path / "cloudtrail"
    for region in ("us-east-1", "eu-west-1", "ap-southeast-1"):
        _as_json(folder / f"lookup-{region}.json", _records(region))
    code, out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY,
        "--regions", "us-east-1,eu-west-1,ap-southeast-1",
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", "ev.csv",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("64 events from 3 saved LookupEvents answer file(s)")
    assert issues(err) == []


def test_the_list_is_recognised_as_an_answer_of_one_key_and_region(tmp_path: Path) -> None:
    """The answer's rules hold for this shape: its regions, its one key (``answer_scope``); a
    string that is not a record is left out and said; a list of other strings is not one."""
    data = json.dumps([*_strings(_records("eu-west-1")), "not a record"]).encode()
    assert is_lookup_answer(data)
    assert answer_regions(data) == frozenset({"eu-west-1"})
    scope = answer_scope(data)
    assert scope is not None and (scope.attribute, scope.value) == ("AccessKeyId", KEY)
    records, problems = parse_records(data, where="x.json")
    assert len(records) == 2
    assert [p.problem for p in problems] == [
        "1 of 3 strings of the list are not CloudTrail records' JSON (first at index 2): left out"
    ]
    other = json.dumps(["a", "b"]).encode()
    assert not is_lookup_answer(other)
    records, problems = parse_records(other, where="y.json")
    assert records == [] and "not CloudTrail records" in problems[0].problem


def test_the_text_output_is_named_as_the_clis_text_output(tmp_path: Path) -> None:
    """``--output text`` (tab-separated on one line, or a line per page): named, with what to
    run instead (was: "invalid JSON … the file is damaged"); named the same under another
    name (sniffed), and a log file beside it is read."""
    folder = tmp_path / "cloudtrail"
    records = _records("us-east-1")
    _as_text(folder / "lookup.json", records)
    code, _out, err = run(
        "events", "--logs", str(folder / "lookup.json"), "--access-key", KEY,
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", "ev.csv",
    )  # fmt: skip
    assert code != 0
    # the only source, nothing read: the error line states its one problem whole (said once)
    assert issues(err) == [], err
    assert err.startswith(
        f"torinvest: error: nothing could be loaded: {folder / 'lookup.json'}: {CLI_TEXT}: not "
        f"read, so its events, if any, are missing; {CLI_OUTPUT_DO}"
    ), err
    assert err.count(CLI_TEXT) == 1, err
    pages = "\t".join(_strings(records[:30])) + "\n" + "\t".join(_strings(records[30:])) + "\n"
    (folder / "lookup.json").write_text(pages)
    _, _, err = run(
        "events", "--logs", str(folder / "lookup.json"), "--access-key", KEY,
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", "ev.csv",
    )  # fmt: skip
    assert f"{CLI_TEXT}: not read" in err
    found = sniff(pages.encode())
    assert found is not None and (found.kind, found.what) == ("cloudtrail-text", CLI_TEXT)


def test_a_first_record_longer_than_the_head_looked_at_is_still_named(tmp_path: Path) -> None:
    """The text output's first record past the bytes the sniffer reads: named from the JSON
    error (a whole record, then a tab)."""
    records = _records("us-east-1")[:2]
    records = [{**r, "requestParameters": {"padding": "x" * 70_000}} for r in records]
    data = ("\t".join(_strings(records)) + "\n").encode()
    got, problems = parse_records(data, where="big.json")
    assert got == []
    assert [p.problem for p in problems] == [
        f"{CLI_TEXT}: not read, so its events, if any, are missing; {CLI_OUTPUT_DO}"
    ]


def test_under_another_name_the_json_strings_are_read(tmp_path: Path) -> None:
    """Saved as ``events.txt`` in the folder: looked at, found CloudTrail, read."""
    folder = tmp_path / "cloudtrail"
    _as_json(folder / "events.txt", _records("eu-west-1"))
    code, out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--regions", "eu-west-1",
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", "ev.csv",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("2 events from 1 saved LookupEvents answer file(s)")
    assert "events.txt" in err and "hold CloudTrail JSON and were read" in err
