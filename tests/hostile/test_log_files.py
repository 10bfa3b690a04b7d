"""Hostile CloudTrail log files and folders: each damaged file, bad path or odd record is one data
issue naming it, and no valid record beside it is lost — in the full read and the key-filtered
read alike, in worker processes and in this process (catalogue: docs/hostile-inputs.md, section
"CloudTrail log files").

Every input is built in ``tmp_path`` from the real records in ``tests/fixtures/cloudtrail/``; each
test counts the valid records it expects by their event IDs.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import os
import re
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from torinvest import paths as walk
from torinvest.aws import Aws
from torinvest.case import sample_case
from torinvest.cli import main
from torinvest.events import EngineOptions, combine_frames, files_text, load_activity
from torinvest.findings import read_findings
from torinvest.sources import logs
from torinvest.sources.logs import DEFAULT_MAX_FILE_BYTES, LogsResult, load_logs
from torinvest.sources.logs import load as logs_load
from torinvest.sources.logs import pool as logs_pool
from torinvest.sources.logs import read as logs_read
from torinvest.sources.lookup import pacer as lk_pacer
from torinvest.sources.records import duplicate_issues, normalize_records
from torinvest.sources.sql import DuckDBEngine, load_sql
from torinvest.tor import load_exit_lists

FIXTURES = Path(__file__).parent.parent / "fixtures"
CT = FIXTURES / "cloudtrail"
INVICTUS = sorted((CT / "invictus").glob("*.json"))
OTRF = CT / "otrf" / "ec2_proxy_s3_exfiltration_2020-09-14011940.json"
FINDING = FIXTURES / "guardduty" / "raw_TorIPCaller_sample_finding.json"
SUSPECT = "AKIATFQR7NSC8Q4X20BJ"  # the IAM user key behind most invictus activity
DAY = (pd.Timestamp("2023-07-10T00:00:00Z"), pd.Timestamp("2023-07-10T23:59:59Z"))
KEYS = pytest.mark.parametrize("key", [None, SUSPECT], ids=["full-read", "key-filtered"])


# --------------------------------------------------------------------------------------------
# building inputs
# --------------------------------------------------------------------------------------------
def records(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_bytes())["Records"]


def compact(recs: list[dict[str, Any]]) -> bytes:
    return json.dumps({"Records": recs}, separators=(",", ":")).encode()


def write(path: Path, data: bytes, *, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def of_key(recs: list[dict[str, Any]], key: str | None) -> set[str]:
    """The event IDs of ``recs`` a read for ``key`` (None: every record) must give."""
    return {
        r["eventID"]
        for r in recs
        if key is None or (r.get("userIdentity") or {}).get("accessKeyId") == key
    }


#: Four real log files (138 records, 105 of SUSPECT) beside every hostile input.
GOOD = [r for p in INVICTUS[:4] for r in records(p)]
#: The records the damaged files are made of (117 records, 111 of SUSPECT).
OTHER = records(INVICTUS[4])


def good_folder(root: Path) -> Path:
    for i, p in enumerate(INVICTUS[:4]):
        write(root / "logs" / f"good{i}.json.gz", compact(records(p)), gz=True)
    return root / "logs"


@pytest.fixture(params=["in-process", "workers"])
def workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many workers to ask for: 1 reads in this process; 2, with the thresholds at 0 and
    small batches, reads every file in worker processes."""
    if request.param == "in-process":
        return 1
    monkeypatch.setattr(logs_pool, "SEQUENTIAL_MAX_FILES", 0)
    monkeypatch.setattr(logs_pool, "SEQUENTIAL_MAX_BYTES", 0)
    monkeypatch.setattr(logs_pool, "BATCH_BYTES", 20_000)
    return 2


def read(folder: Path, key: str | None, workers: int, **kwargs: Any) -> LogsResult:
    return load_logs(folder, access_keys=key, workers=workers, progress=False, **kwargs)


def issue_of(result: LogsResult, source: str | Path) -> str:
    """The one issue about ``source`` (its problem text)."""
    found = [i.problem for i in result.issues if i.source == str(source)]
    assert len(found) == 1, (source, result.issues)
    return found[0]


def assert_loaded(result: LogsResult, expected: set[str]) -> None:
    """Exactly the expected records, each once: nothing valid lost, nothing extra."""
    got = list(result.frame["event_id"])
    assert len(got) == len(expected), (len(got), len(expected))
    assert set(got) == expected


# --------------------------------------------------------------------------------------------
# damaged files: one issue each, whether or not they hold the key; the rest loads
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Damaged:
    """A damaged file: how to write it into a folder, what its issue says, the records of it
    that must still load (what it held whole)."""

    write: Callable[[Path], Path]
    problem: str  # a regular expression the issue matches
    salvaged: Callable[[], list[dict[str, Any]]] = list
    line: int | None = None  # JSON lines: the issue names the file and line


def _truncated_gzip(folder: Path) -> Path:
    data = gzip.compress(compact(OTHER), mtime=0)
    return write(folder / "truncated.json.gz", data[: len(data) // 2])


def _corrupt_gzip(folder: Path) -> Path:
    data = bytearray(gzip.compress(compact(OTHER), mtime=0))
    data[-8] ^= 0xFF  # the CRC-32 of the content: the inflated bytes are not what was written
    return write(folder / "crc.json.gz", bytes(data))


def _cut(recs: list[dict[str, Any]], keep_whole: int) -> bytes:
    """A compact log file cut in the middle of record ``keep_whole`` (the ones before are whole)."""
    data = compact(recs)
    start = data.index(json.dumps(recs[keep_whole], separators=(",", ":")).encode())
    return data[: start + 100]


def _truncated_json(folder: Path) -> Path:
    return write(folder / "cut.json", _cut(OTHER, 70))


NOT_SUSPECT = [r for r in OTHER if r["userIdentity"].get("accessKeyId") != SUSPECT]


def _truncated_json_without_the_key(folder: Path) -> Path:
    return write(folder / "cut-other-keys.json", _cut(NOT_SUSPECT, 4))


def _html_page(folder: Path) -> Path:
    page = b"<html><body><h1>503 Service Unavailable</h1></body></html>"
    return write(folder / "error-page.json.gz", page, gz=True)


def _findings(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(FINDING, folder / "finding.json"))


def _empty(folder: Path) -> Path:
    return write(folder / "empty.json", b"")


def _digest(folder: Path) -> Path:
    doc = {"digestStartTime": "2023-07-10T11:00:00Z", "logFiles": [], "digestSignatureAlgorithm": 1}
    return write(folder / "log.json.gz", json.dumps(doc).encode(), gz=True)


OTRF_LINES = OTRF.read_bytes().splitlines()


def _bad_json_line(folder: Path) -> Path:
    lines = list(OTRF_LINES)
    lines[5] = lines[5][:60]  # a line cut short (the OTRF records are not SUSPECT's)
    return write(folder / "logstash.ndjson", b"\n".join(lines) + b"\n")


def _otrf_but_line_6() -> list[dict[str, Any]]:
    return [json.loads(line) for i, line in enumerate(OTRF_LINES) if i != 5 and line.strip()]


def _nested(depth: int) -> bytes:
    """JSON text of an object nested ``depth`` levels deep (built as text: no recursion)."""
    return b'{"a":' * depth + b'"x"' + b"}" * depth


def _deep_record(rec: dict[str, Any], depth: int) -> bytes:
    """``rec`` as compact JSON, its requestParameters nested ``depth`` levels deep."""
    text = json.dumps({**rec, "requestParameters": "@"}, separators=(",", ":")).encode()
    return text.replace(b'"requestParameters":"@"', b'"requestParameters":' + _nested(depth))


def _too_deep(folder: Path) -> Path:
    """OTHER with record 10 nested past the 1,024 levels JSON readers accept."""
    parts = [json.dumps(r, separators=(",", ":")).encode() for r in OTHER]
    parts[10] = _deep_record(OTHER[10], 1_100)
    return write(folder / "too-deep.json.gz", b'{"Records":[' + b",".join(parts) + b"]}", gz=True)


DAMAGED = {
    "truncated-gzip": Damaged(_truncated_gzip, r"^cannot decompress: .*truncated"),
    "gzip-crc-mismatch": Damaged(_corrupt_gzip, r"^cannot decompress: "),
    "truncated-json": Damaged(
        _truncated_json,
        r"^invalid JSON .*: the file is cut short \(a download or copy that stopped\?\); the 70 whole record\(s\) in it "
        r"were loaded, 1 part\(s\) could not be read",
        lambda: OTHER[:70],
    ),
    "truncated-json-without-the-key": Damaged(
        _truncated_json_without_the_key,
        r"^invalid JSON .*: the file is cut short \(a download or copy that stopped\?\); the 4 whole record\(s\)",
        lambda: NOT_SUSPECT[:4],
    ),
    "nested-too-deep": Damaged(
        _too_deep,
        r"^invalid JSON .*depth limit.*: a value in it nests deeper than 1,024 levels.*; the 116 "
        r"whole record\(s\) in it were loaded, 1 part\(s\) could not be read",
        lambda: OTHER[:10] + OTHER[11:],
    ),
    "html-error-page": Damaged(_html_page, r"^an HTML page, not JSON: a sign-in or error page"),
    "guardduty-finding": Damaged(_findings, r"^a GuardDuty finding, not CloudTrail records"),
    "empty-file": Damaged(_empty, r"^the file is empty$"),
    "digest-named-as-a-log": Damaged(_digest, r"^a CloudTrail digest file, not log records"),
    "bad-json-line": Damaged(
        _bad_json_line,
        r"^line 6: invalid JSON: .*; the other lines were loaded$",
        _otrf_but_line_6,
        line=6,
    ),
}


@pytest.mark.parametrize("kind", sorted(DAMAGED))
@KEYS
def test_a_damaged_file_is_one_issue_and_the_rest_loads(
    tmp_path: Path, workers: int, key: str | None, kind: str
) -> None:
    folder = good_folder(tmp_path)
    damaged = DAMAGED[kind]
    bad = damaged.write(folder / "damaged")
    result = read(folder, key, workers)
    source = f"{bad}:{damaged.line}" if damaged.line else bad
    assert re.search(damaged.problem, issue_of(result, source)), result.issues
    assert len(result.issues) == 1
    assert_loaded(result, of_key(GOOD, key) | of_key(damaged.salvaged(), key))
    assert result.files_read == 5
    if key is not None:  # a file that could not be read cannot be shown not to hold the key
        assert result.issues == read(folder, None, workers).issues


def _untimed(folder: Path) -> Path:
    recs = copy.deepcopy(OTHER[:8])
    del recs[0]["eventTime"]
    return write(folder / "no-time.json.gz", compact(recs), gz=True)


def _bad_utf8(folder: Path) -> Path:
    data = compact(OTHER).replace(b'"userAgent":"', b'"userAgent":"\xff', 1)
    return write(folder / "bad-utf8.json.gz", data, gz=True)


def _lone_surrogate(folder: Path) -> Path:
    recs = copy.deepcopy(OTHER)
    recs[1]["requestParameters"] = {"bucketName": "LONE-HERE"}
    data = compact(recs).replace(b"LONE-HERE", b"\\ud800lone")
    return write(folder / "lone-surrogate.json.gz", data, gz=True)


def _bad_entries(folder: Path) -> Path:
    return write(folder / "entries.json.gz", compact([*OTHER[:4], 5, "x"]), gz=True)


def _no_records(folder: Path) -> Path:
    return write(folder / "no-records.json.gz", compact([5, "x", {"a": 1}]), gz=True)


#: A file of each kind beside the four good ones → how the counts say it: failed (nothing read
#: from it) or read with issues (its records loaded, with a caveat); never a number twice.
FILE_STATES = {
    "truncated-gzip": (_truncated_gzip, "failed", "1 failed: 1 cannot decompress"),
    "guardduty-finding": (_findings, "failed", "1 failed: 1 a GuardDuty finding"),
    "html-error-page": (_html_page, "failed", "1 failed: 1 HTML pages, not JSON"),
    "no-records": (_no_records, "failed", "1 failed: 1 with entries that are not records"),
    "untimed": (_untimed, "issues", "1 read with issues: 1 with records without a usable time"),
    "truncated-json": (
        _truncated_json,
        "issues",
        "1 read with issues: 1 damaged (its whole records loaded)",
    ),
    "bad-utf8": (_bad_utf8, "issues", "1 read with issues: 1 with invalid UTF-8 replaced"),
    "lone-surrogate": (
        _lone_surrogate,
        "issues",
        "1 read with issues: 1 with lone surrogate escapes replaced",
    ),
    "bad-entries": (_bad_entries, "issues", "1 read with issues: 1 with entries that are not"),
    "bad-json-line": (_bad_json_line, "issues", "1 read with issues: 1 with bad JSON lines"),
}


@pytest.mark.parametrize("kind", sorted(FILE_STATES))
@KEYS
def test_file_counts_tell_failed_files_from_files_read_with_issues(
    tmp_path: Path, workers: int, key: str | None, kind: str
) -> None:
    folder = good_folder(tmp_path)
    make, state, words = FILE_STATES[kind]
    bad = str(make(folder / "x"))
    counts = read(folder, key, workers).counts
    assert counts.listed == 5
    if state == "failed":
        assert list(counts.failed) == [bad] and counts.with_issues == {}
        assert counts.read == 4
    else:
        assert counts.failed == {} and list(counts.with_issues) == [bad]
        assert counts.read == 5
    code, out, _ = run("events", "--logs", str(folder), "--out", str(tmp_path / "ev.parquet"))
    assert code == 0
    files = "4 of 5 log file(s)" if state == "failed" else "5 log file(s)"
    assert f" from {files} ({words}" in out.splitlines()[0], out
    assert not re.search(r"\b\d+ \d+ ", out.splitlines()[0])  # never "1 1 record"


@pytest.mark.parametrize("depth", [300, 1_000])
@pytest.mark.parametrize("shape", ["log-file", "json-lines"])
@KEYS
def test_deeply_nested_values_are_kept_as_they_were_written(
    tmp_path: Path, workers: int, key: str | None, shape: str, depth: int
) -> None:
    """Anyone who can call an API can send a value nested hundreds of levels deep (orjson
    writes 254 at most): the record loads, its text as it would be written, the rest beside."""
    folder = good_folder(tmp_path)
    deep = [_deep_record(r, depth) for r in OTHER[:3]]
    if shape == "log-file":
        write(folder / "deep.json.gz", b'{"Records":[' + b",".join(deep) + b"]}", gz=True)
    else:
        write(folder / "deep.jsonl", b"\n".join(deep) + b"\n")
    result = read(folder, key, workers)
    assert result.issues == []
    assert_loaded(result, of_key(GOOD, key) | of_key(OTHER[:3], key))
    texts = result.frame.set_index("event_id")["request_parameters"]
    for r in OTHER[:3]:
        if r["eventID"] in texts.index:
            assert texts[r["eventID"]] == _nested(depth).decode()


@pytest.mark.parametrize("fault", ["permission-denied", "vanished-after-listing"])
@KEYS
def test_a_file_that_cannot_be_read_is_one_issue(
    tmp_path: Path, workers: int, key: str | None, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = good_folder(tmp_path)
    bad = write(folder / "z.json.gz", compact(OTHER), gz=True)
    if fault == "permission-denied":  # tests run as root: chmod would not stop the read
        real_open = os.open

        def denied(path: Any, *args: Any, **kwargs: Any) -> int:
            if os.fspath(path) == str(bad):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(logs_read.os, "open", denied)
        expected = r"^cannot read: Permission denied$"
    else:
        real_list = logs.list_logs

        def listed_then_removed(*args: Any, **kwargs: Any) -> Any:
            out = real_list(*args, **kwargs)
            bad.unlink()
            return out

        monkeypatch.setattr(logs_load, "list_logs", listed_then_removed)
        expected = r"^cannot read: No such file or directory$"
    result = read(folder, key, workers)
    assert re.search(expected, issue_of(result, bad))
    assert len(result.issues) == 1
    assert_loaded(result, of_key(GOOD, key))


# --------------------------------------------------------------------------------------------
# one bad record costs that record's bytes, not its file
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["log-file", "json-lines"])
@KEYS
def test_invalid_utf8_is_replaced_flagged_and_the_record_kept(
    tmp_path: Path, workers: int, key: str | None, shape: str
) -> None:
    folder = good_folder(tmp_path)
    recs = copy.deepcopy(OTHER)
    target = next(r for r in recs if r["userIdentity"].get("accessKeyId") == SUSPECT)
    target["userAgent"] = "curl/BAD-HERE"
    if shape == "log-file":
        data = compact(recs)
        bad = write(folder / "bad-utf8.json.gz", data.replace(b"BAD-HERE", b"\xff\xfe"), gz=True)
    else:
        lines = [json.dumps(r, separators=(",", ":")).encode() for r in recs]
        data = b"\n".join(lines).replace(b"BAD-HERE", b"\xc3\x28")  # a cut 2-byte sequence
        bad = write(folder / "bad-utf8.jsonl", data)
    result = read(folder, key, workers)
    problem = issue_of(result, bad)
    assert re.search(
        r"^\d invalid UTF-8 byte sequence\(s\) \(the first at byte [\d,]+\) were "
        r"replaced with U\+FFFD: the record\(s\) ",
        problem,
    )
    assert target["eventID"] in problem and "every other byte is as written" in problem
    assert_loaded(result, of_key(GOOD, key) | of_key(recs, key))
    row = result.frame[result.frame["event_id"] == target["eventID"]].iloc[0]
    assert row["user_agent"].startswith("curl/\ufffd") and row["access_key_id"] == SUSPECT


#: Each lone surrogate escape (→ U+FFFD), beside a pair and an escaped backslash that stay.
LONE = {
    b"\\ud800lone": "\ufffdlone",  # a high half followed by text
    b"x\\udc00": "x\ufffd",  # a low half alone
    b"\\udbff\\ud800": "\ufffd\ufffd",  # two high halves
    b"\\ud83d\\ude00 \\\\ud800": "\U0001f600 \\ud800",  # a pair, a backslash: as written
}


@pytest.mark.parametrize("shape", ["log-file", "json-lines"])
@KEYS
def test_lone_surrogate_escapes_are_replaced_flagged_and_the_records_kept(
    tmp_path: Path, workers: int, key: str | None, shape: str
) -> None:
    """``"\\ud800"`` is legal JSON text that no Unicode text holds (orjson and msgspec refuse
    it): the records are kept, the lone halves replaced with U+FFFD and named in one issue."""
    folder = good_folder(tmp_path)
    recs = copy.deepcopy(OTHER)
    targets = [r for r in recs if r["userIdentity"].get("accessKeyId") == SUSPECT][: len(LONE)]
    for i, target in enumerate(targets):
        target["requestParameters"] = {"bucketName": f"LONE-{i}"}
    if shape == "log-file":
        data, name = compact(recs), "lone.json.gz"
    else:
        data = b"\n".join(json.dumps(r, separators=(",", ":")).encode() for r in recs)
        name = "lone.jsonl"
    for i, raw in enumerate(LONE):
        data = data.replace(f"LONE-{i}".encode(), raw)
    bad = write(folder / name, data, gz=shape == "log-file")
    result = read(folder, key, workers)
    problem = issue_of(result, bad)
    assert re.search(
        r"^4 escape\(s\) of a lone UTF-16 surrogate .* replaced with U\+FFFD: the record\(s\) ",
        problem,
    ), problem
    assert (
        all(t["eventID"] in problem for t in targets[:3]) and targets[3]["eventID"] not in problem
    )
    assert len(result.issues) == 1
    assert_loaded(result, of_key(GOOD, key) | of_key(recs, key))
    texts = result.frame.set_index("event_id")["request_parameters"]
    for target, text in zip(targets, LONE.values(), strict=True):
        assert json.loads(texts[target["eventID"]]) == {"bucketName": text}


#: Numbers JSON has no word for (Python's ``json.dumps`` writes the first three for floats that
#: are not finite; orjson refuses all four), and what each record then holds: its text.
NOT_JSON_NUMBERS = {b"NaN": "NaN", b"Infinity": "Infinity", b"-Infinity": "-Infinity"}
NOT_JSON_NUMBERS[b"1e400"] = "1e400"


@pytest.mark.parametrize("shape", ["log-file", "json-lines"])
@KEYS
def test_nan_and_infinity_are_kept_as_text_flagged_and_the_records_kept(
    tmp_path: Path, workers: int, key: str | None, shape: str
) -> None:
    """A record holding ``NaN``, ``Infinity``, ``-Infinity`` or ``1e400`` (a SIEM's or a script's
    ``json.dumps``) is kept, each such number written as its text, and one issue names them
    (was: the whole log file's records past it lost as "damaged", and a JSON-lines file whose
    first line held one read as nothing at all). ``"NaN"`` inside a string is left alone."""
    folder = good_folder(tmp_path)
    recs = copy.deepcopy(OTHER)
    targets = [r for r in recs if r["userIdentity"].get("accessKeyId") == SUSPECT][:4]
    recs.insert(0, recs.pop(recs.index(targets[0])))  # the first line holds one
    for i, target in enumerate(targets):
        target["requestParameters"] = {"size": f"NUM-{i}", "name": "NaN Infinity"}
    if shape == "log-file":
        data, name = compact(recs), "nan.json.gz"
    else:
        data = b"\n".join(json.dumps(r, separators=(",", ":")).encode() for r in recs)
        name = "nan.jsonl"
    for i, raw in enumerate(NOT_JSON_NUMBERS):
        data = data.replace(f'"NUM-{i}"'.encode(), raw)
    bad = write(folder / name, data, gz=shape == "log-file")
    result = read(folder, key, workers)
    problem = issue_of(result, bad)
    assert re.search(
        r"^4 number\(s\) JSON has no word for \(NaN, Infinity, or past a double's range; "
        r'the first NaN at byte [\d,]+\) were kept as text \("NaN"\): the record\(s\) ',
        problem,
    ), problem
    assert all(t["eventID"] in problem for t in targets)
    assert len(result.issues) == 1
    assert_loaded(result, of_key(GOOD, key) | of_key(recs, key))
    texts = result.frame.set_index("event_id")["request_parameters"]
    for target, text in zip(targets, NOT_JSON_NUMBERS.values(), strict=True):
        assert json.loads(texts[target["eventID"]]) == {"size": text, "name": "NaN Infinity"}


def test_a_lookup_events_file_whose_cloudtrail_events_need_repair_keeps_every_record(
    tmp_path: Path,
) -> None:
    """``aws cloudtrail lookup-events`` output in a case folder: a ``CloudTrailEvent`` text
    holding a lone surrogate escape or NaN is read as the log files are (U+FFFD; the number as
    text), the record kept whole and named (was: "no parsable CloudTrailEvent", the record
    lost)."""
    recs = [r for r in OTHER if r["userIdentity"].get("accessKeyId") == SUSPECT][:3]
    texts = [json.dumps(r) for r in recs]
    texts[0] = texts[0].replace('"userAgent": "', '"userAgent": "\\ud800', 1)
    texts[1] = texts[1].replace('"eventVersion": "1.08"', '"eventVersion": "1.08", "n": NaN', 1)
    events = [
        {"EventId": r["eventID"], "EventName": r["eventName"], "CloudTrailEvent": t}
        for r, t in zip(recs, texts, strict=True)
    ]
    bad = write(tmp_path / "logs" / "lookup.json", json.dumps({"Events": events}).encode())
    result = read(tmp_path / "logs", None, 1)
    problem = issue_of(result, bad)
    assert problem.startswith("2 CloudTrailEvent text(s) repaired (1 escape(s) of a lone UTF-16")
    assert recs[0]["eventID"] in problem and recs[1]["eventID"] in problem
    assert recs[2]["eventID"] not in problem
    assert_loaded(result, {r["eventID"] for r in recs})
    agents = result.frame.set_index("event_id")["user_agent"]
    assert agents[recs[0]["eventID"]] == "\ufffd" + recs[0]["userAgent"]
    assert agents[recs[1]["eventID"]] == recs[1]["userAgent"]


@KEYS
def test_records_without_a_usable_time_are_kept_in_a_windowed_read(
    tmp_path: Path, workers: int, key: str | None
) -> None:
    folder = good_folder(tmp_path)
    recs = copy.deepcopy(OTHER[:6])
    del recs[0]["eventTime"]
    recs[1]["eventTime"] = "yesterday"
    recs[2]["eventTime"] = ""
    recs[3]["eventTime"] = "2023-07-10T12:00:00Z"
    recs[4]["userIdentity"]["accessKeyId"] = (
        "AKIAOTHERKEY00000000"  # not SUSPECT's: not read for it
    )
    del recs[4]["eventTime"]
    bad = write(folder / "no-time.json", compact(recs))
    result = read(folder, key, workers, start=DAY[0], end=DAY[1])
    untimed = of_key([recs[0], recs[1], recs[2], recs[4]], key)
    problem = issue_of(result, bad)
    assert problem.startswith(f"{len(untimed)} record(s) without a usable eventTime")
    assert all(i in problem for i in untimed) and "kept with an unknown time (NA)" in problem
    assert_loaded(result, of_key(GOOD, key) | of_key(recs, key))
    frame = result.frame
    assert set(frame.loc[frame["event_time"].isna(), "event_id"]) == untimed
    assert frame["event_time"].isna().iloc[-len(untimed) :].all()  # sorted last
    # a window that excludes every timed record still keeps the records of unknown time
    outside = read(folder, key, workers, start="2024-01-01", end="2024-01-02")
    assert set(outside.frame["event_id"]) == untimed


def test_the_sql_engines_keep_and_report_records_without_a_usable_time(tmp_path: Path) -> None:
    """The same class through DuckDB (the queries Athena runs too): a windowed query keeps the
    records whose time is unknown, as the file loader does, with the same issue per file; over
    the row limit they are counted, and said to be."""
    folder = good_folder(tmp_path)
    recs = copy.deepcopy(OTHER[:4])
    for r in recs:
        r["userIdentity"]["accessKeyId"] = SUSPECT
    del recs[0]["eventTime"]
    recs[1]["eventTime"] = "yesterday"
    bad = write(folder / "no-time.json.gz", compact(recs), gz=True)
    for p in folder.glob("*.json"):  # the engine reads {"Records": [...]} files: gzip them too
        write(p.with_suffix(".json.gz"), p.read_bytes(), gz=True)
        p.unlink()
    untimed = {recs[0]["eventID"], recs[1]["eventID"]}
    files = load_logs(folder, access_keys=SUSPECT, start=DAY[0], end=DAY[1], progress=False)
    with DuckDBEngine(folder) as engine:
        rows = load_sql(engine, access_keys=SUSPECT, start=DAY[0], end=DAY[1])
        outside = load_sql(engine, access_keys=SUSPECT, start="2024-01-01", end="2024-01-02")
        counted = load_sql(engine, access_keys=SUSPECT, start=DAY[0], end=DAY[1], max_rows=1)
    assert set(rows.frame["event_id"]) == set(files.frame["event_id"])
    assert set(rows.frame.loc[rows.frame["event_time"].isna(), "event_id"]) == untimed
    assert [(i.source, i.problem) for i in rows.issues] == [
        (i.source, i.problem) for i in files.issues
    ]
    (issue,) = rows.issues
    assert issue.source == str(bad) and all(i in issue.problem for i in untimed)
    assert set(outside.frame["event_id"]) == untimed
    assert counted.aggregates is not None and counted.aggregates.total == len(rows.frame)
    assert any("2 record(s) without a usable eventTime" in i.problem for i in counted.issues)


# --------------------------------------------------------------------------------------------
# the same record, and different records sharing an eventID
# --------------------------------------------------------------------------------------------
def conflict_files(folder: Path) -> tuple[dict[str, Any], dict[str, Any], Path, Path]:
    """A record of SUSPECT in good0 (``listed``); here a DeleteUser with its eventID, and an
    exact copy of it."""
    listed = next(
        r for r in records(INVICTUS[0]) if r["userIdentity"].get("accessKeyId") == SUSPECT
    )
    deleted = copy.deepcopy(listed)
    deleted["eventName"] = "DeleteUser"
    deleted["requestParameters"] = {"userName": "alice"}
    other = write(folder / "other.json", compact([deleted]))
    same = write(folder / "zz-copy.json", compact([copy.deepcopy(listed)]))
    return listed, deleted, other, same


@KEYS
def test_different_records_sharing_an_event_id_are_both_kept_and_named(
    tmp_path: Path, workers: int, key: str | None
) -> None:
    folder = good_folder(tmp_path)
    listed, _, other, same = conflict_files(folder)
    result = read(folder, key, workers)
    problem = issue_of(result, folder / "good0.json.gz")
    assert problem.startswith(f"eventID {listed['eventID']} is shared by 2 different records: ")
    assert f"{listed['eventName']} by {SUSPECT}" in problem and str(other) in problem
    assert f"DeleteUser by {SUSPECT}" in problem
    assert "they differ in event_name, request_parameters" in problem
    assert len(result.issues) == 1  # the exact copy is the same record: no issue
    rows = result.frame[result.frame["event_id"] == listed["eventID"]]
    assert sorted(rows["event_name"]) == sorted(["DeleteUser", listed["eventName"]])
    assert str(same) not in set(rows["origin"])  # the copy was dropped, the first kept
    assert len(result.frame) == len(of_key(GOOD, key)) + 1


def _with_float(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``recs`` whose requestParameters hold a number: as written (1) and as a float (1.0)."""
    out = copy.deepcopy(recs)
    for r in out:
        r["requestParameters"] = {"maxResults": 1, "zeta": {"b": 2, "a": [1, {"y": 1, "x": 0}]}}
    return out


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_copy_with_reordered_json_keys_is_the_same_record(tmp_path: Path, engine: str) -> None:
    """The same records saved with sorted keys (``jq -S``, SIEM exports) and with ``1.0`` for
    ``1``: one row each, no conflict issue; a real change is still a conflict."""
    recs = _with_float(records(INVICTUS[0])[:3])
    folder = tmp_path / "logs"
    write(folder / "a.json.gz", compact(recs), gz=True)
    resorted = json.dumps({"Records": recs}, sort_keys=True, indent=2).encode()
    resorted = resorted.replace(b'"maxResults": 1', b'"maxResults": 1.0')
    write(folder / "b-sorted.json.gz", resorted, gz=True)
    if engine == "files":
        result = load_logs(folder, progress=False)
        frame, issues = result.frame, result.issues
    else:
        with DuckDBEngine(folder) as duck:
            got = load_sql(duck)
        frame, issues = got.frame, got.issues
    assert issues == []
    assert sorted(frame["event_id"]) == sorted(r["eventID"] for r in recs)
    assert set(frame["origin"]) == {str(folder / "a.json.gz")}  # the first copy kept
    # a real difference inside the JSON is still two records, named
    changed = copy.deepcopy(recs)
    changed[0]["requestParameters"]["zeta"]["b"] = 3
    write(folder / "b-sorted.json.gz", json.dumps({"Records": changed}, sort_keys=True).encode())
    result = load_logs(folder, progress=False)
    (issue,) = result.issues
    assert "they differ in request_parameters" in issue.problem
    assert len(result.frame) == 4


def test_lookup_events_and_a_log_file_differing_in_key_order_are_one_record() -> None:
    recs = _with_float(records(INVICTUS[0])[:3])
    a = normalize_records(recs, source="logs", origin="a")
    lookup = [
        json.loads(json.dumps(r, sort_keys=True).replace('"maxResults": 1', '"maxResults": 1.0'))
        for r in recs
    ]
    b = normalize_records(lookup, source="lookup", origin="lookup:us-east-1")
    both = combine_frames([a, b])
    assert len(both) == 3 and duplicate_issues(both) == []


def test_a_lookup_events_copy_is_the_same_record_and_a_changed_one_is_not(tmp_path: Path) -> None:
    folder = good_folder(tmp_path)
    recs = records(INVICTUS[0])
    changed = copy.deepcopy(recs[3])
    changed["sourceIPAddress"] = "185.220.101.34"
    export = {
        "Events": [
            {"EventId": r["eventID"], "CloudTrailEvent": json.dumps(r)} for r in [*recs, changed]
        ]
    }
    lookup = write(folder / "lookup-events.json", json.dumps(export).encode())
    result = load_logs(folder, progress=False)
    (issue,) = result.issues
    assert issue.problem.startswith(f"eventID {changed['eventID']} is shared by 2 different")
    assert "they differ in source_ip" in issue.problem and str(lookup) in issue.problem
    assert set(result.frame["event_id"]) == of_key(GOOD, None)  # copies dropped: 138 IDs …
    assert len(result.frame) == len(GOOD) + 1  # … and the changed one is a 139th row


def test_sources_combined_keep_different_records_and_drop_copies(
    tmp_path: Path, fake_aws: FakeAws, moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.set_lookup_rate(None)
    lk_pacer._PACERS.clear()
    folder = good_folder(tmp_path)
    mine = [r for r in GOOD if r["userIdentity"].get("accessKeyId") == SUSPECT]
    changed = copy.deepcopy(mine[0])
    changed["eventName"] = "DeleteUser"
    fake_aws.cloudtrail("us-east-1").add_records([*mine[1:10], changed])  # copies, and a change
    act = load_activity(
        logs=[folder],
        lookup=Aws(),
        access_key=SUSPECT,
        start=DAY[0],
        end=DAY[1],
        regions=["us-east-1"],
        cache_dir=False,
        now=pd.Timestamp("2023-07-12T00:00:00Z"),
    )
    (issue,) = act.issues
    assert issue.problem.startswith(f"eventID {changed['eventID']} is shared by 2 different")
    assert "lookup:us-east-1" in issue.problem and "they differ in event_name" in issue.problem
    assert len(act.frame) == len(mine) + 1
    assert set(act.frame["event_id"]) == of_key(GOOD, SUSPECT)
    assert set(act.frame.loc[act.frame["source"] == "lookup", "event_name"]) == {"DeleteUser"}
    # combine_frames alone: the same rule
    a = normalize_records(mine, source="logs", origin="a")
    b = normalize_records([*mine[:5], changed], source="lookup", origin="b")
    both = combine_frames([a, b])
    assert len(both) == len(mine) + 1
    assert [i.problem.split(":")[0] for i in duplicate_issues(both)] == [
        f"eventID {changed['eventID']} is shared by 2 different records"
    ]


def test_the_duckdb_engine_keeps_the_same_records_as_the_file_loader(tmp_path: Path) -> None:
    folder = good_folder(tmp_path)
    listed, _, _, _ = conflict_files(folder)
    for p in folder.glob("*.json"):  # the engine reads {"Records": [...]} files: gzip them too
        write(p.with_suffix(".json.gz"), p.read_bytes(), gz=True)
        p.unlink()
    with DuckDBEngine(folder) as engine:
        sql = load_sql(engine, access_keys=SUSPECT)
    files = load_logs(folder, access_keys=SUSPECT, progress=False)
    assert len(sql.frame) == len(files.frame) == len(of_key(GOOD, SUSPECT)) + 1
    names = sql.frame.loc[sql.frame["event_id"] == listed["eventID"], "event_name"]
    assert sorted(names) == sorted(["DeleteUser", listed["eventName"]])
    assert [i.problem for i in sql.issues] == [i.problem for i in files.issues]
    assert len(sql.issues) == 1


#: Every damaged or odd file, for the engines' comparison (but two DuckDB reads otherwise:
#: entries of Records that are not records, and a value nested past orjson's depth limit).
ODD_FILES: dict[str, Callable[[Path], Path]] = {
    **{kind: d.write for kind, d in DAMAGED.items() if kind != "nested-too-deep"},
    **{
        kind: make
        for kind, (make, _, _) in FILE_STATES.items()
        if kind not in ("bad-entries", "no-records")
    },
}


@pytest.mark.parametrize("kind", sorted(ODD_FILES))
@KEYS
def test_the_duckdb_engine_reads_damaged_files_as_the_file_loader(
    tmp_path: Path, key: str | None, kind: str
) -> None:
    """A file DuckDB cannot read (damaged, another shape, invalid UTF-8…) is read by the file
    loader for it: the same rows (the whole records of a damaged file too), the same issue
    naming the file, the same counts; never a logger line."""
    folder = good_folder(tmp_path)
    ODD_FILES[kind](folder / "odd")
    files = load_logs(folder, access_keys=key, start=DAY[0], end=DAY[1], progress=False)
    with DuckDBEngine(folder) as engine:
        sql = load_sql(engine, access_keys=key, start=DAY[0], end=DAY[1])
    assert sorted(sql.frame["event_id"].dropna()) == sorted(files.frame["event_id"].dropna())
    assert len(sql.frame) == len(files.frame)
    assert [(i.source, i.problem) for i in sql.issues] == [
        (i.source, i.problem) for i in files.issues
    ]
    assert sql.counts is not None
    assert (sql.counts.failed, sql.counts.with_issues) == (
        files.counts.failed,
        files.counts.with_issues,
    )
    assert files_text(sql.counts) == files_text(files.counts)


def test_counting_in_the_engine_counts_different_records_sharing_an_event_id(
    tmp_path: Path,
) -> None:
    """Over the row limit DuckDB counts instead of loading rows: the counts are the rows', the
    record sharing an eventID included, its exact copy not."""
    folder = good_folder(tmp_path)
    conflict_files(folder)
    for p in folder.glob("*.json"):
        write(p.with_suffix(".json.gz"), p.read_bytes(), gz=True)
        p.unlink()
    with DuckDBEngine(folder) as engine:
        rows = load_sql(engine, access_keys=SUSPECT, start=DAY[0], end=DAY[1])
        counted = load_sql(engine, access_keys=SUSPECT, start=DAY[0], end=DAY[1], max_rows=10)
    assert counted.aggregates is not None
    assert counted.aggregates.total == len(rows.frame) == len(of_key(GOOD, SUSPECT)) + 1


def test_athena_drops_copies_by_the_same_content_key() -> None:
    from sqlglot import parse_one

    from torinvest.sources.records import SAME_RECORD_COLUMNS
    from torinvest.sources.sql import events_query, make_scope, span_query
    from torinvest.sources.sql.athena import AthenaEngine

    scope = make_scope(access_keys=SUSPECT, start=DAY[0], end=DAY[1])
    for query in (events_query(scope), span_query(scope)):
        trino = AthenaEngine(database="security").sql(query)
        parse_one(trino, read="trino")
        assert "PARTITION BY event_id, content_key" in " ".join(trino.split())
        key = trino[trino.index("XXHASH64(") : trino.index("AS content_key")]
        assert key.count("'-'") == len(SAME_RECORD_COLUMNS)  # each content column, NULL as '-'
        for field in ("eventname", "requestparameters", "responseelements", "useragent"):
            assert field in key


# --------------------------------------------------------------------------------------------
# folders: a bad path is one issue, every walk goes on
# --------------------------------------------------------------------------------------------
def _dangling(folder: Path, name: str) -> tuple[Path, str]:
    (folder / name).symlink_to(folder / "gone" / name)
    return folder / name, r"^a symbolic link to a missing target \('.*gone.*'\): not read$"


def _self_link(folder: Path, name: str) -> tuple[Path, str]:
    (folder / name).symlink_to(name)
    return folder / name, r"^a symbolic link that loops \(it points back to itself\): not read$"


def _folder_loop(folder: Path, name: str) -> tuple[Path, str]:
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to("..")
    return folder / "sub" / "up", r"^a symbolic link to a folder above it \(a loop\): not followed"


def _fifo(folder: Path, name: str) -> tuple[Path, str]:
    os.mkfifo(folder / name)
    return folder / name, r"^not a regular file \(a named pipe\): not read$"


def _unlistable(folder: Path, name: str) -> tuple[Path, str]:
    (folder / "locked").mkdir()
    (folder / "locked" / name).write_text("{}")
    return folder / "locked", r"^cannot list the folder: Permission denied; the files in it"


PATH_FAULTS: dict[str, Callable[[Path, str], tuple[Path, str]]] = {
    "dangling-symlink": _dangling,
    "self-referencing-symlink": _self_link,
    "symlink-loop-to-a-parent": _folder_loop,
    "named-pipe": _fifo,
    "unlistable-subfolder": _unlistable,
}


@pytest.fixture
def deny_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    """``locked`` folders cannot be listed (tests run as root: chmod would not stop it)."""
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if not isinstance(path, int) and os.path.basename(os.fspath(path)) == "locked":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(walk.os, "scandir", scandir)


@pytest.mark.parametrize("fault", sorted(PATH_FAULTS))
@KEYS
def test_a_bad_path_in_a_log_folder_is_one_issue(
    tmp_path: Path, workers: int, key: str | None, fault: str, deny_listing: None
) -> None:
    folder = good_folder(tmp_path)
    bad, problem = PATH_FAULTS[fault](folder, "bad.json.gz")
    result = read(folder, key, workers)
    assert re.search(problem, issue_of(result, bad))
    assert len(result.issues) == 1
    assert_loaded(result, of_key(GOOD, key))


@pytest.mark.parametrize("fault", sorted(PATH_FAULTS))
def test_a_bad_path_in_a_findings_folder_is_one_issue(
    tmp_path: Path, fault: str, deny_listing: None
) -> None:
    folder = tmp_path / "findings"
    folder.mkdir()
    shutil.copy(FINDING, folder / "finding.json")
    bad, problem = PATH_FAULTS[fault](folder, "more.json")
    result = read_findings(folder)
    (issue,) = result.issues
    assert issue.source == str(bad) and re.search(problem, issue.problem)
    assert len(result.findings) == 1


@pytest.mark.parametrize("fault", sorted(PATH_FAULTS))
def test_a_bad_path_in_an_exit_list_folder_is_one_issue(
    tmp_path: Path, fault: str, deny_listing: None
) -> None:
    folder = tmp_path / "tor"
    folder.mkdir()
    exit_list = sample_case().tor / "danmeuk-exit-2023-07-10.txt"
    shutil.copy(exit_list, folder / exit_list.name)
    alone = load_exit_lists(folder / exit_list.name, bundled=False)
    bad, problem = PATH_FAULTS[fault](folder, "more-2023-07-10.txt")
    result = load_exit_lists(folder, bundled=False)
    (issue,) = result.issues
    assert issue.source == str(bad) and re.search(problem, issue.problem)
    assert len(result.observations) == len(alone.observations) > 0


def test_a_symlinked_log_folder_is_read_through_the_link(tmp_path: Path) -> None:
    folder = good_folder(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere / "other.json.gz", compact(OTHER), gz=True)
    (folder / "linked").symlink_to(elsewhere)
    result = load_logs(folder, progress=False)
    assert result.issues == []
    assert_loaded(result, of_key(GOOD + OTHER, None))


def test_the_duckdb_engine_reports_a_bad_path_and_reads_the_rest(tmp_path: Path) -> None:
    folder = good_folder(tmp_path)
    bad, problem = _dangling(folder, "bad.json.gz")
    with DuckDBEngine(folder) as engine:
        result = load_sql(engine, access_keys=SUSPECT)
    (issue,) = result.issues
    assert issue.source == str(bad) and re.search(problem, issue.problem)
    assert set(result.frame["event_id"]) == of_key(GOOD, SUSPECT)


# --------------------------------------------------------------------------------------------
# decompression bombs and oversized files: bounded, one issue, the rest loads
# --------------------------------------------------------------------------------------------
LIMIT = 1 << 20  # 1 MiB: small enough for tests; the default is DEFAULT_MAX_FILE_BYTES


def gzip_bomb(size: int, *, members: int = 1) -> bytes:
    """A gzip file that inflates to ``size`` bytes of a log file's whitespace (a few KB)."""
    out = b""
    for i in range(members):
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        body = b'{"Records":[' if i == 0 else b""
        body += b" " * (size // members)
        body += b"]}" if i == members - 1 else b""
        out += c.compress(body) + c.flush()
    return out


BOMBS = {
    "gzip-bomb": lambda: ("bomb.json.gz", gzip_bomb(8 * LIMIT)),
    "multi-member-gzip-bomb": lambda: ("members.json.gz", gzip_bomb(8 * LIMIT, members=4)),
    "oversized-plain-json": lambda: ("huge.json", compact(OTHER * 5) + b" " * LIMIT),
}


def assert_too_large(problem: str) -> None:
    assert problem.startswith("not read: ")
    assert "more than the 1 MiB limit for one log file" in problem
    assert "raise the limit: --max-file-mb N (notebook parameter max_file_mb" in problem


@pytest.mark.parametrize("kind", sorted(BOMBS))
@KEYS
def test_a_decompression_bomb_is_one_issue_and_the_rest_loads(
    tmp_path: Path, workers: int, key: str | None, kind: str
) -> None:
    folder = good_folder(tmp_path)
    name, data = BOMBS[kind]()
    bad = write(folder / name, data)
    assert len(data) < LIMIT or kind == "oversized-plain-json"
    result = read(folder, key, workers, max_file_bytes=LIMIT)
    assert_too_large(issue_of(result, bad))
    assert len(result.issues) == 1
    assert_loaded(result, of_key(GOOD, key))
    # raised, the limit lets it be read (the bomb is whitespace: no records, no issue)
    raised = read(folder, key, workers, max_file_bytes=16 * LIMIT)
    expected = of_key(GOOD + (OTHER if kind == "oversized-plain-json" else []), key)
    assert raised.issues == [] and set(raised.frame["event_id"]) == expected


def test_the_default_limit_is_well_above_real_log_files() -> None:
    assert DEFAULT_MAX_FILE_BYTES == 512 << 20  # CloudTrail files: tens of MB at the busiest


@pytest.fixture
def trail_bucket(moto: str, tmp_path: Path) -> tuple[Aws, list[str]]:
    aws = Aws()
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="trail")
    keys = []
    for i, p in enumerate(INVICTUS[:4]):
        key = f"logs/good{i}.json.gz"
        s3.put_object(Bucket="trail", Key=key, Body=gzip.compress(compact(records(p)), mtime=0))
        keys.append(key)
    s3.put_object(Bucket="trail", Key="logs/bomb.json.gz", Body=gzip_bomb(8 * LIMIT))
    s3.put_object(Bucket="trail", Key="logs/huge.json", Body=compact(OTHER) + b" " * LIMIT)
    return aws, keys


@KEYS
def test_bombs_in_s3_are_issues_and_oversized_objects_are_not_downloaded(
    trail_bucket: tuple[Aws, list[str]], workers: int, key: str | None
) -> None:
    aws, _ = trail_bucket
    downloads: list[str] = []
    aws.client("s3").meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: downloads.append(params["Key"])
    )
    result = load_logs(
        "s3://trail/logs/",
        access_keys=key,
        aws=aws,
        workers=workers,
        progress=False,
        max_file_bytes=LIMIT,
    )
    assert_too_large(issue_of(result, "s3://trail/logs/bomb.json.gz"))
    assert_too_large(issue_of(result, "s3://trail/logs/huge.json"))
    assert "on disk" in issue_of(result, "s3://trail/logs/huge.json")
    assert "logs/huge.json" not in downloads  # its listed size said so
    assert_loaded(result, of_key(GOOD, key))


def test_the_duckdb_engine_bounds_a_bomb_too(tmp_path: Path) -> None:
    folder = good_folder(tmp_path)
    bad = write(folder / "bomb.json.gz", gzip_bomb(8 * LIMIT))
    with DuckDBEngine(folder, max_file_bytes=LIMIT) as engine:
        result = load_sql(engine, access_keys=SUSPECT)
    (issue,) = result.issues
    assert issue.source == str(bad)
    assert_too_large(issue.problem)
    assert set(result.frame["event_id"]) == of_key(GOOD, SUSPECT)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def test_cli_events_reports_a_bomb_and_max_file_mb_raises_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = good_folder(tmp_path)
    bad = write(folder / "bomb.json.gz", gzip_bomb(3 << 20))
    out_file = tmp_path / "ev.parquet"
    code, out, err = run(
        "events", "--logs", str(folder), "--max-file-mb", "1", "--out", str(out_file)
    )
    assert code == 0
    assert out.startswith(
        f"{len(GOOD)} events from 4 of 5 log file(s) (1 failed: 1 over the size limit"
    )
    assert (
        f"torinvest: issue: {bad}: not read: its content, once decompressed, is more than the "
        "1 MiB limit"
    ) in err
    code, out, err = run(
        "events", "--logs", str(folder), "--max-file-mb", "4", "--out", str(out_file)
    )
    assert code == 0 and "issue" not in err
    for bad_value, said in (
        ("0", "0 is less than 1"),
        ("-3", "-3 is less than 1"),
        ("lots", "not a number: 'lots'"),
    ):  # a usage error: exit 2, saying why
        with pytest.raises(SystemExit) as exited:
            run("events", "--logs", str(folder), "--max-file-mb", bad_value, "--out", "x.csv")
        assert exited.value.code == 2
        said_err = capsys.readouterr().err
        assert f"argument --max-file-mb: {said}" in said_err
        assert "a whole number of MiB from 1 to 1,048,576" in said_err


def test_engine_options_refuse_a_limit_that_is_not_positive() -> None:
    from torinvest.errors import InputError

    with pytest.raises(InputError, match="invalid file size limit"):
        EngineOptions(max_file_bytes=0)
    with pytest.raises(InputError, match="invalid file size limit"):
        load_logs([], max_file_bytes=-1, progress=False)


# --------------------------------------------------------------------------------------------
# the investigation copes with what the loader now keeps
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_investigate_reports_each_problem_and_keeps_every_valid_record(
    tmp_path: Path, sample_report: Path
) -> None:
    """A case with a record of the key without a time (a CreateAccessKey: sensitive, and one
    the remediation plan undoes), two different records sharing an eventID, a dangling link and
    a bomb: the report is written (exit 0), summary.json lists each problem, and counts every
    valid record — the untimed one among the sensitive calls, with a null time (two more than
    the sample case's report with the default options: the suite's shared one)."""
    case = tmp_path / "case"
    shutil.copytree(sample_case().root, case)
    day = case / "cloudtrail/AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10"
    key = "AKIATFQR7NSCUXC3DDDP"
    mine = [
        r
        for f in sorted(day.glob("*.json.gz"))
        for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]
        if (r.get("userIdentity") or {}).get("accessKeyId") == key
    ]
    listed = next(r for r in mine if r["eventName"] == "ListUsers")
    untimed = copy.deepcopy(listed)
    del untimed["eventTime"]
    untimed.update(
        eventID="11111111-1111-4111-8111-111111111111",
        eventName="CreateAccessKey",
        requestParameters={"userName": "backdoor"},
        responseElements={"accessKey": {"accessKeyId": "AKIAHOSTILE000000001", "status": "Active"}},
    )
    changed = copy.deepcopy(listed)
    changed["eventName"] = "DeleteUser"
    write(
        day / "123837392027_CloudTrail_us-east-1_20230710T1230Z_hostile00000000.json",
        compact([untimed, changed]),
    )
    (day / "dangling.json.gz").symlink_to(day / "gone.json.gz")
    write(day / "bomb.json.gz", gzip_bomb(3 << 20))
    before = json.loads((sample_report / "summary.json").read_text())
    summary = json.loads(run_investigate(case, tmp_path / "after", "--max-file-mb", "1"))
    problems = " | ".join(f"{i['source']}: {i['problem']}" for i in summary["data_issues"])
    assert "1 record(s) without a usable eventTime" in problems and untimed["eventID"] in problems
    assert f"eventID {listed['eventID']} is shared by 2 different records" in problems
    assert "a symbolic link to a missing target" in problems
    assert "more than the 1 MiB limit" in problems
    assert summary["events"]["total"] == before["events"]["total"] + 2
    (sensitive,) = [e for e in summary["sensitive_events"] if e["event_time"] is None]
    assert sensitive["event_name"] == "CreateAccessKey"


def run_investigate(case: Path, out: Path, *extra: str) -> str:
    code, _, err = run(
        "investigate",
        "6dde0a8f8d46f6acad893b30f905e97c",
        "--case",
        str(case),
        "--out",
        str(out),
        *extra,
    )
    assert code == 0, err
    return (out / "summary.json").read_text()


@pytest.mark.parametrize("shape", ["records", "json-lines"])
@pytest.mark.parametrize("engine", ["files", "duckdb"])
@pytest.mark.parametrize(
    "odd", [["AKIATFQR7NSC8Q4X20BJ"], {"id": "AKIATFQR7NSC8Q4X20BJ"}], ids=["list", "object"]
)
def test_an_access_key_id_that_is_not_text_loses_nothing_beside_it(
    tmp_path: Path, shape: str, engine: str, odd: object
) -> None:
    """A record whose userIdentity.accessKeyId is a list or an object (holding the key's text)
    is no call of the key: every other record of the key in the file is found, by both engines
    (a DuckDB file of another shape is read by the file loader). It was an internal error
    (TypeError: unhashable type) that lost the whole run."""
    recs = records(INVICTUS[0])
    mine = [r for r in recs if (r.get("userIdentity") or {}).get("accessKeyId") == SUSPECT]
    bad = copy.deepcopy(mine[0])
    bad["eventID"], bad["userIdentity"]["accessKeyId"] = "odd-key", odd
    path = tmp_path / "log.json"
    if shape == "records":
        path.write_text(json.dumps({"Records": [bad, *recs]}))
    else:
        path.write_text("\n".join(json.dumps(r) for r in [bad, *recs]))
    act = load_activity(
        logs=[tmp_path], access_key=SUSPECT, engine=EngineOptions(kind=engine, max_rows=None)
    )
    assert sorted(act.frame["event_id"]) == sorted(r["eventID"] for r in mine)
