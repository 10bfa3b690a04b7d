"""Every reader of JSON someone else wrote reads it as the log loader does
(:func:`torinvest.jsonread.loads`): an escape of a lone UTF-16 surrogate (``"\\ud800"``) becomes
U+FFFD, a number JSON has no word for (``NaN``, ``Infinity``, ``1e400``: Python's ``json.dumps``
writes them) is kept as its text, the rest is read as written, and an issue says so — never
the whole file, finding, event or verdict lost (orjson refuses both).

The log files and ``lookup-events`` files in a case folder are in ``test_log_files.py``; here:
LookupEvents' answers, findings files, fetched findings and the verdict ledger.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from torinvest import verdict
from torinvest.case import sample_case
from torinvest.findings import read_findings
from torinvest.findings.fetched import read_fetched, write_fetched
from torinvest.findings.records import Finding, FindingsResult
from torinvest.jsonread import loads as read_json
from torinvest.sources.lookup.fetch import Query
from torinvest.sources.lookup.pull import RegionPull, _answer_issues, _kept_events, _tables

CASE = sample_case()
FINDINGS = json.loads((CASE.root / "findings" / "get-findings.json").read_text())
FIRST = FINDINGS["Findings"][0]
USER = FIRST["Resource"]["AccessKeyDetails"]["UserName"]


@pytest.mark.parametrize(
    ("text", "value", "what"),
    [
        (b'{"a": "x\\ud800y"}', {"a": "x\ufffdy"}, "escape(s) of a lone UTF-16 surrogate"),
        (b'{"a": NaN, "b": "NaN"}', {"a": "NaN", "b": "NaN"}, "number(s) JSON has no word"),
        (b'{"a": [-Infinity, 1e400, 1.5]}', {"a": ["-Infinity", "1e400", 1.5]}, "2 number(s)"),
        (b'{"a": "\\ud83d\\ude00", "b": 1e308}', {"a": "\U0001f600", "b": 1e308}, None),
    ],
)
def test_the_one_reader(text: bytes, value: Any, what: str | None) -> None:
    got, repairs = read_json(text)
    assert got == value
    assert (what in repairs.describe()) if what else not repairs


def test_the_one_reader_refuses_what_is_not_json_as_orjson_does() -> None:
    with pytest.raises(orjson.JSONDecodeError) as caught:
        read_json(b'{"a": NaN')
    assert caught.value.pos == 6  # the error of the text as written


def _findings_doc(user: str, count: str) -> bytes:
    """get-findings.json with the first finding's user name and count as raw JSON text."""
    doc = copy.deepcopy(FINDINGS)
    doc["Findings"][0]["Resource"]["AccessKeyDetails"]["UserName"] = "USER-HERE"
    doc["Findings"][0]["Service"]["Count"] = "COUNT-HERE"
    text = json.dumps(doc).encode()
    return text.replace(b'"USER-HERE"', user.encode()).replace(b'"COUNT-HERE"', count.encode())


@pytest.mark.parametrize("shape", ["document", "json-lines"])
def test_a_findings_file_needing_repair_keeps_its_findings(tmp_path: Path, shape: str) -> None:
    """A findings file (CASE/findings/) whose finding holds a lone surrogate escape in its user
    name and NaN as its count: every finding read, the name with U+FFFD, one issue naming the
    finding (was: the whole file "invalid JSON", every finding in it lost)."""
    data = _findings_doc('"ben\\ud800"', "NaN")
    if shape == "json-lines":
        lines = [json.dumps(f) for f in FINDINGS["Findings"][1:]]
        first = data[data.index(b"[") + 1 :]  # the first finding's text, as written
        first = first[: first.index(b', {"AccountId"')] if lines else first
        data = b"\n".join([first, *(ln.encode() for ln in lines)])
    path = tmp_path / "findings" / ("f.json" if shape == "document" else "f.jsonl")
    path.parent.mkdir()
    path.write_bytes(data)
    result = read_findings(path.parent)
    assert len(result.findings) == len(FINDINGS["Findings"])
    assert result.failed == []
    by_id = {f.id: f for f in result.findings}
    assert by_id[FIRST["Id"]].data["resource"]["accessKeyDetails"]["userName"] == "ben\ufffd"
    repaired = [i.problem for i in result.issues if "lone UTF-16 surrogate" in i.problem]
    assert len(repaired) == 1, result.issues
    assert "number(s) JSON has no word for" in repaired[0]
    assert f"finding {FIRST['Id']} hold(s) it" in repaired[0]


def test_a_fetched_findings_file_needing_repair_is_read_and_says_so(tmp_path: Path) -> None:
    """The fetched-findings file a command keeps for its notebook, written by another tool
    (or edited) with a lone surrogate escape: read back with the finding, and an issue (was: the
    whole file refused as "not a file of findings fetched by torinvest")."""
    raw = copy.deepcopy(FIRST)
    raw["Resource"]["AccessKeyDetails"]["UserName"] = "USER-HERE"
    origin = "guardduty:us-east-1"
    from torinvest.findings.checks import sanitize
    from torinvest.findings.shapes import camelize

    clean, _ = sanitize(camelize(raw), origin)
    found = FindingsResult(sources=[origin])
    found.findings.append(Finding(data=clean, origin=origin, shape="api", original=raw))
    path = write_fetched(found, tmp_path / "findings-x.json")
    path.write_bytes(path.read_bytes().replace(b'"USER-HERE"', b'"ben\\udc00"'))
    back = read_fetched(path)
    assert [f.id for f in back.findings] == [FIRST["Id"]]
    assert back.findings[0].original["Resource"]["AccessKeyDetails"]["UserName"] == "ben\ufffd"
    assert [i.source for i in back.issues] == [str(path)]
    assert f"finding {FIRST['Id']} hold(s) it" in back.issues[0].problem


def test_a_ledger_line_needing_repair_keeps_its_verdict(tmp_path: Path) -> None:
    """A verdict appended by another tool (``json.dumps``: its rationale with a lone surrogate
    escape, a score NaN): kept, followed, and flagged (was: "unreadable ledger line (an
    interrupted write?)", the verdict lost)."""
    ledger = tmp_path / "ledger.jsonl"
    record = verdict.make_verdict(
        FIRST["Id"], status="malicious", analyst="ana", rationale="REASON-HERE"
    ).to_dict()
    record["evidence"] = {"score": float("nan")}
    line = json.dumps(record).replace('"REASON-HERE"', '"tor \\ud800 key"')
    ledger.write_text(line + "\n")
    records, issues = verdict.read_ledger_lines(ledger)
    assert [n for n, _ in records] == [1]
    assert records[0][1]["rationale"] == "tor \ufffd key"
    assert records[0][1]["evidence"] == {"score": "NaN"}
    assert [i.source for i in issues] == [f"{ledger}:1"]
    assert "the record hold(s) it" in issues[0].problem
    assert "unreadable" not in issues[0].problem


def _page(texts: list[str]) -> list[dict[str, Any]]:
    when = pd.Timestamp("2023-07-10T12:00:00Z").to_pydatetime()
    return [
        {"EventId": f"id-{i}", "EventName": "GetCallerIdentity", "EventTime": when,
         "AccessKeyId": "AKIATFQR7NSCUXC3DDDP", "CloudTrailEvent": text}
        for i, text in enumerate(texts)
    ]  # fmt: skip


def test_lookup_events_answers_needing_repair_keep_their_records() -> None:
    """LookupEvents' ``CloudTrailEvent`` text with a lone surrogate escape, or NaN: the record is
    read whole (its source IP, user agent, request kept), named in one issue, and the window is
    not cached (a re-run names it again) — was: "not JSON", only the fields LookupEvents lists
    beside it kept."""

    def record(i: int, agent: str, extra: str = "") -> str:
        return (
            f'{{"eventVersion": "1.08", "eventID": "id-{i}", "eventTime": "2023-07-10T12:00:00Z",'
            f' "eventName": "GetCallerIdentity", "eventSource": "sts.amazonaws.com",'
            f' "sourceIPAddress": "185.220.101.{i}", "userAgent": "{agent}",'
            f' "userIdentity": {{"accessKeyId": "AKIATFQR7NSCUXC3DDDP"}}{extra}}}'
        )

    texts = [
        record(0, "curl\\ud800"),
        record(1, "boto3", ', "requestParameters": {"n": NaN}'),
        record(2, "aws-cli"),
    ]
    query = Query(
        "AccessKeyId",
        "AKIATFQR7NSCUXC3DDDP",
        pd.Timestamp("2023-07-10T00:00:00Z"),
        pd.Timestamp("2023-07-11T00:00:00Z"),
    )
    pull = RegionPull("us-east-1")
    kept = _kept_events(_page(texts), query, pull)
    assert len(kept) == 3 and pull.unusable == [] and pull.flawed
    pull.events = [ev["CloudTrailEvent"] for ev in kept]
    issues: list[Any] = []
    frame = _tables([pull], issues)[0].to_pandas()
    assert issues == []
    assert list(frame["source_ip"]) == ["185.220.101.0", "185.220.101.1", "185.220.101.2"]
    assert list(frame["user_agent"]) == ["curl\ufffd", "boto3", "aws-cli"]
    assert json.loads(frame["request_parameters"][1]) == {"n": "NaN"}
    (issue,) = _answer_issues(pull)
    assert issue.source == "lookup:us-east-1"
    assert issue.problem.startswith("LookupEvents returned 2 CloudTrailEvent text(s) repaired")
    assert "id-0, id-1 hold it" in issue.problem
