"""Integers past 64 bits in CloudTrail records are shown and exported as the record writes them.

Anyone who can call an API chooses some of what CloudTrail records: a numeric parameter
(``maxResults: 123456789012345678901234567890``), a filter or tag value, a secret ID sent as a
number. orjson reads an integer past 64 bits as a float (``1.2345678901234568e+29``): a value no
record holds, and a secret read whose target vanished (``scalar_text`` of a float is None).
Every path below gave the float (the DuckDB engine aside, whose JSON reader keeps the digits);
each now gives the digits: the file loader (msgspec's fast path and the general path, JSON lines,
``lookup-events`` files), LookupEvents' answers, the DuckDB and Athena engines, copies told from
different records, the sensitive calls' targets, ``events.csv``, the report's events table and
``summary.json``.
"""

from __future__ import annotations

import copy
import csv
import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.fake_aws import AthenaRegion, FakeAws
from tests.sources.sql.helpers import Recorder, athena_results
from torinvest import investigation, report
from torinvest.analysis import sensitive_events
from torinvest.aws import Aws
from torinvest.case import sample_case
from torinvest.display.activity import events_view
from torinvest.jsonread import dumps, loads, parse
from torinvest.safety import csv_unescape, csv_unguard
from torinvest.sources import lookup as lk
from torinvest.sources.logs import load_logs
from torinvest.sources.lookup import pacer as lk_pacer
from torinvest.sources.records import normalize_records
from torinvest.sources.sql import load_sql
from torinvest.sources.sql.athena import AthenaEngine
from torinvest.sources.sql.duckdb import DuckDBEngine

CASE = sample_case().root
KEY = "AKIATFQR7NSCUXC3DDDP"  # the sample case's suspect key
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
BIG = 123456789012345678901234567890
#: Past 2**53 (a float cannot hold it), inside 64 bits (orjson reads it exactly).
PAST_53 = 9007199254740993
#: One past each end of what orjson reads as an integer.
EDGES = (2**64, -(2**63) - 1)
LOG = next(CASE.glob("cloudtrail/**/*T1225Z_aPhkJW0R8HSyp9vV.json.gz"))
#: The sample case's GetSecretValue by the derived key: a real record's shape.
BASE = next(
    r
    for r in json.loads(gzip.decompress(LOG.read_bytes()))["Records"]
    if r["eventID"] == "980214b0-09bb-4d04-8ad2-4b685b615f1d"
)


def big_record(n: int, name: str, params: dict[str, Any], second: int = 0) -> dict[str, Any]:
    """The sample record as the suspect key's call from its Tor exit, with ``params``."""
    rec = copy.deepcopy(BASE)
    rec["eventID"] = f"b16b16b1-0000-4000-8000-{n:012d}"
    rec["eventTime"] = f"2023-07-10T12:25:{second or n:02d}Z"
    rec["eventName"] = name
    rec["userIdentity"]["accessKeyId"] = KEY
    rec["sourceIPAddress"] = "185.220.101.34"
    rec["requestParameters"] = params
    return rec


LIST = {"maxResults": BIG, "filters": [{"key": "tag-value", "values": [BIG, *EDGES]}], "b": PAST_53}
READ = {"secretId": BIG}
#: The texts the records hold (Python's json writes integers as their digits).
LIST_TEXT = (
    '{"maxResults":123456789012345678901234567890,"filters":[{"key":"tag-value","values":'
    "[123456789012345678901234567890,18446744073709551616,-9223372036854775809]}],"
    '"b":9007199254740993}'
)
READ_TEXT = '{"secretId":123456789012345678901234567890}'


def records(first: int = 1) -> list[dict[str, Any]]:
    return [big_record(first, "ListSecrets", LIST), big_record(first + 1, "GetSecretValue", READ)]


def texts(frame: pd.DataFrame, ids: list[str]) -> list[str]:
    rows = frame.set_index("event_id").loc[ids]
    return rows["request_parameters"].astype("object").tolist()


def ids(recs: list[dict[str, Any]]) -> list[str]:
    return [r["eventID"] for r in recs]


# --------------------------------------------------------------------------------------------
# the one reader and writer
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        b'{"n": 123456789012345678901234567890}',
        b"[18446744073709551616, -9223372036854775809, 18446744073709551615, 9007199254740993]",
        b'{"a": [1.5, "1234567890123456789012", -99999999999999999999999999999999999999]}',
        b"\n 123456789012345678901234567890",
        b'{"roleSessionName": "aws-go-sdk-1688990797103471741", "n": [-123456789012345678901234567890]}',
    ],
    ids=["object", "edges", "mixed", "whitespace", "after-digits-in-a-string"],
)
def test_the_one_reader_reads_every_integer_exactly(text: bytes) -> None:
    """orjson read ``123456789012345678901234567890`` as ``1.2345678901234568e+29``; the one
    reader gives the integer, and the one writer its digits (as Python's json reads and
    writes them); bytes, text and a memoryview alike."""
    expected = json.loads(text)
    for data in (text, text.decode(), memoryview(text)):
        assert parse(data) == expected
        assert loads(bytes(data) if isinstance(data, memoryview) else data)[0] == expected
    assert json.loads(dumps(parse(text))) == expected
    assert dumps(parse(text)) == json.dumps(expected, separators=(",", ":")).encode()


def test_a_value_nested_as_deep_as_orjson_reads_keeps_its_big_integer() -> None:
    """1,000 levels (orjson reads 1,024; past Python's recursion limit for msgspec and json)."""
    text = b"[" * 1_000 + b"123456789012345678901234567890" + b"]" * 1_000
    value = parse(text)
    for _ in range(1_000):
        (value,) = value
    assert value == BIG
    assert dumps(parse(text)) == text


def test_a_text_needing_repair_keeps_its_big_integers() -> None:
    value, repairs = loads(b'{"a": NaN, "b": 123456789012345678901234567890}')
    assert value == {"a": "NaN", "b": BIG} and repairs


# --------------------------------------------------------------------------------------------
# the sources
# --------------------------------------------------------------------------------------------
def _dumped(recs: list[dict[str, Any]]) -> str:
    return json.dumps(recs[0]) if len(recs) == 1 else "\n".join(json.dumps(r) for r in recs)


def test_log_files_of_every_shape_keep_big_integers(tmp_path: Path) -> None:
    """A log file (msgspec's fast path), JSON lines and a lookup-events file (the general
    path), and a log file with whitespace msgspec cannot vouch for: each call's
    requestParameters as its text (was ``{"maxResults":1.2345678901234568e+29,…}``)."""
    shapes = {
        "log.json.gz": (records(1), lambda r: gzip.compress(json.dumps({"Records": r}).encode())),
        "lines.jsonl": (records(3), lambda r: _dumped(r).encode()),
        "lookup.json": (
            records(5),
            lambda r: json.dumps(
                {"Events": [{"EventId": x["eventID"], "CloudTrailEvent": json.dumps(x)} for x in r]}
            ).encode(),
        ),
        "pretty.json": (records(7), lambda r: json.dumps({"Records": r}, indent=2).encode()),
    }
    for name, (recs, write) in shapes.items():
        (tmp_path / name).write_bytes(write(recs))
    result = load_logs([tmp_path], access_keys=KEY)
    assert result.issues == []
    for name, (recs, _) in shapes.items():
        assert texts(result.frame, ids(recs)) == [LIST_TEXT, READ_TEXT], name


def test_lookup_events_keeps_big_integers(
    fake_aws: FakeAws, moto: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """LookupEvents' CloudTrailEvent texts (read by the one reader), live and from the cache."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    recs = records()
    fake_aws.cloudtrail("us-east-1").add_records(recs)
    fake_aws.set_lookup_rate(None)
    lk_pacer._PACERS.clear()
    kw: dict[str, Any] = {
        "start": pd.Timestamp("2023-07-10T00:00:00Z"),
        "end": pd.Timestamp("2023-07-11T00:00:00Z"),
        "regions": ["us-east-1"],
        "cache_dir": tmp_path,
        "follow_derived": False,
        "rate": 200.0,
        "now": pd.Timestamp("2023-07-12T00:00:00Z"),
    }
    for _ in ("pulled", "cached"):
        result = lk.lookup_events(Aws(), KEY, **kw)
        assert result.issues == []
        assert texts(result.frame, ids(recs)) == [LIST_TEXT, READ_TEXT]


def _big_case(root: Path) -> Path:
    """The sample case with one more log file holding the two calls."""
    case = root / "case"
    shutil.copytree(CASE, case)
    log = case / LOG.relative_to(CASE)
    doc = {"Records": records()}
    log.with_name(log.name.replace("aPhkJW0R8HSyp9vV", "bigIntegers00001")).write_bytes(
        gzip.compress(json.dumps(doc).encode())
    )
    return case


def test_duckdb_and_athena_keep_big_integers(tmp_path: Path, fake_athena: AthenaRegion) -> None:
    """The engines' requestParameters, and the secret read's target from them: DuckDB's text
    as the file loader's, Athena's (its result rows are text) the same."""
    case = _big_case(tmp_path)
    recorder = Recorder(DuckDBEngine(case / "cloudtrail"))
    window: dict[str, Any] = {"access_keys": KEY, "start": "2023-07-10", "end": "2023-07-10"}
    with recorder.engine:
        rows = load_sql(recorder, **window)  # type: ignore[arg-type]
    files = load_logs([case / "cloudtrail"], **window)
    fake_athena.add_answers(*[athena_results(t, dict(q.columns)) for q, t in recorder.outputs])
    athena = load_sql(AthenaEngine(database="security", sleep=lambda _: None), **window)
    for frame in (files.frame, rows.frame, athena.frame):
        assert texts(frame, ids(records())) == [LIST_TEXT, READ_TEXT]
        found = sensitive_events(frame, targets=True)
        read = found[found["event_id"] == ids(records())[1]]
        assert read["target"].tolist() == [f"secret {BIG}"]


def test_records_that_differ_in_a_big_integer_are_not_copies() -> None:
    """Two records sharing an event ID whose maxResults differ in the last digit: both kept,
    a conflict (was: one dropped as a copy, both read as the same float)."""
    one, two = records()[0], copy.deepcopy(records()[0])
    two["requestParameters"]["maxResults"] = BIG + 1
    frame = normalize_records([one, two])
    assert len(frame) == 2
    assert sorted(frame["request_parameters"]) == sorted(
        [LIST_TEXT, LIST_TEXT.replace("567890,", "567891,", 1)]
    )


# --------------------------------------------------------------------------------------------
# what the analyst reads: the report's tables, events.csv, summary.json
# --------------------------------------------------------------------------------------------
def test_the_report_csv_and_summary_show_big_integers_exactly(tmp_path: Path) -> None:
    case = _big_case(tmp_path)
    inv = investigation.investigate(
        FINDING, investigation.sources_from_parameters(case_dir=str(case))
    )
    list_id, read_id = ids(records())
    table = events_view(inv).set_index("event_id") if "event_id" in events_view(inv) else None
    shown = events_view(inv)["request_parameters"].astype("object").tolist()
    assert LIST_TEXT in shown and READ_TEXT in shown
    assert table is None or table.loc[read_id, "request_parameters"] == READ_TEXT
    read = inv.sensitive[inv.sensitive["event_id"] == read_id]
    assert read["target"].tolist() == [f"secret {BIG}"]
    written = report.export_tables(inv, tmp_path / "out")
    with open(written["events.csv"], newline="", encoding="utf-8") as fh:
        cells = {r["event_id"]: r["request_parameters"] for r in csv.DictReader(fh)}
    assert [csv_unescape(csv_unguard(cells[i])) for i in (list_id, read_id)] == [
        LIST_TEXT,
        READ_TEXT,
    ]
    data = report.summary_data(inv, {"status": "pending"})
    (event,) = [e for e in data["sensitive_events"] if e["event_time"] == "2023-07-10T12:25:02Z"]
    assert event["targets"] == [{"kind": "secret", "value": str(BIG)}]
