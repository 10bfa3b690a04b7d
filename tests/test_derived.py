"""Keys minted by the suspect key, followed the same way by every source: the log files,
DuckDB (rows and counted in the engine) and LookupEvents (tests/fake_aws).

The records are hand-made (after the tester's probe cases): a role chain longer than the round
limit, CreateAccessKey, successful mints whose key is not recorded, a key used before its mint
and a failed mint that carries credentials.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from torinvest.aws import Aws
from torinvest.display import assessment
from torinvest.errors import DataIssue
from torinvest.sources import lookup as lk
from torinvest.sources.logs import load_logs
from torinvest.sources.lookup import pacer as lk_pacer
from torinvest.sources.records import (
    MAX_DERIVED_ROUNDS,
    DerivedKey,
    derived_keys,
    is_unfollowed,
)
from torinvest.sources.sql import load_sql, minted_keys_sql
from torinvest.sources.sql.duckdb import DuckDBEngine

ACCOUNT = "123837392027"
SUSPECT = "AKIATFQR7NSCUXC3DDDP"
TOR = "185.220.101.34"
START = pd.Timestamp("2023-07-10T00:00:00Z")
END = pd.Timestamp("2023-07-10T23:59:59Z")
NOW = pd.Timestamp("2023-07-12T00:00:00Z")
#: A role chain two hops past the limit: the last key followed is CHAIN[MAX_DERIVED_ROUNDS - 1]
CHAIN = [f"ASIAPROBECHAIN{i:05d}A" for i in range(1, MAX_DERIVED_ROUNDS + 3)]
BACKDOOR = "AKIAPROBEBACKDOOR01A"  # CreateAccessKey for user backdoor
SKEWED = "ASIAPROBESKEWED0001A"  # used at 11:30, minted at 12:40
FAILED = "ASIAPROBEFAILED0001A"  # AssumeRole with an errorCode (crafted: it carries credentials)
UNRECORDED = "ASIAPROBENULLRESP01A"  # used, but its AssumeRole's responseElements is null
SOURCES = ["files", "duckdb", "lookup"]


def _who(key: str, user: str = "benjamin") -> dict[str, Any]:
    if key.startswith("AKIA"):
        return {
            "type": "IAMUser",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
            "accountId": ACCOUNT,
            "accessKeyId": key,
            "userName": user,
        }
    return {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s-{key[-4:]}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
    }


def _record(key: str, time: str, name: str, **more: Any) -> dict[str, Any]:
    source = "iam" if name in ("CreateAccessKey", "ListUsers") else "sts"
    if name in ("ListBuckets", "DeleteBucket"):
        source = "s3"
    return {
        "eventVersion": "1.08",
        "userIdentity": more.pop("who", None) or _who(key),
        "eventTime": f"2023-07-10T{time}Z",
        "eventSource": f"{source}.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": TOR,
        "userAgent": "aws-cli/2.13.0",
        "requestParameters": more.pop("request", None),
        "responseElements": more.pop("response", None),
        "eventID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key}-{time}-{name}")),
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
        **more,
    }


def _assume(caller: str, time: str, minted: str | None, role: str = "r", **more: Any) -> dict:
    response = (
        None
        if minted is None
        else {"credentials": {"accessKeyId": minted, "expiration": "Jul 10, 2023, 6:00:00 PM"}}
    )
    request = {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/{role}", "roleSessionName": "s"}
    return _record(caller, time, "AssumeRole", request=request, response=response, **more)


def chain_records() -> list[dict[str, Any]]:
    """The suspect key assumes a role, each session the next role, CHAIN's length deep."""
    out, caller = [], SUSPECT
    for i, key in enumerate(CHAIN):
        out.append(_assume(caller, f"12:{i * 2:02d}:00", key, role=f"r{i + 1}"))
        out.append(_record(key, f"12:{i * 2 + 1:02d}:00", "ListBuckets"))
        caller = key
    return out


def mint_records() -> list[dict[str, Any]]:
    """CreateAccessKey, mints not recorded, a key used before its mint, a failed mint."""
    created = {"accessKey": {"accessKeyId": BACKDOOR, "status": "Active", "userName": "backdoor"}}
    return [
        _record(SUSPECT, "12:00:00", "GetCallerIdentity"),
        _record(SUSPECT, "12:10:00", "CreateAccessKey", request={"userName": "backdoor"},
                response=created),
        _record(BACKDOOR, "12:11:00", "ListUsers", who=_who(BACKDOOR, "backdoor")),
        _assume(SUSPECT, "12:20:00", None, role="nullresp"),  # succeeded: no errorCode
        _record(UNRECORDED, "12:21:00", "DeleteBucket"),
        _record(SUSPECT, "12:22:00", "GetSessionToken", request={},
                response={"omitted": True, "originalSize": 20000}),
        _record(SKEWED, "11:30:00", "ListBuckets"),
        _assume(SUSPECT, "12:40:00", SKEWED, role="skew"),
        _assume(SUSPECT, "12:50:00", FAILED, role="denied", errorCode="AccessDenied",
                errorMessage="not authorized"),
        _record(FAILED, "12:51:00", "ListUsers"),
    ]  # fmt: skip


@dataclass
class Loaded:
    frame: pd.DataFrame
    derived: list[DerivedKey]
    issues: list[DataIssue]


Loader = Callable[[list[dict[str, Any]]], Loaded]


def _write(records: list[dict[str, Any]], folder: Path) -> Path:
    """The records as one account-layout log file per 10 minutes."""
    base = folder / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1" / "2023" / "07" / "10"
    base.mkdir(parents=True)
    files: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        files.setdefault(r["eventTime"][11:15], []).append(r)
    for hm, recs in files.items():
        name = f"{ACCOUNT}_CloudTrail_us-east-1_20230710T{hm.replace(':', '')}0Z_t.json.gz"
        (base / name).write_bytes(gzip.compress(json.dumps({"Records": recs}).encode()))
    return folder / "AWSLogs"


@pytest.fixture(params=SOURCES)
def load(request: pytest.FixtureRequest, tmp_path: Path) -> Loader:
    """Load the suspect key's activity, following derived keys, from one source."""

    def files(records: list[dict[str, Any]]) -> Loaded:
        r = load_logs(
            _write(records, tmp_path), access_keys=SUSPECT, start=START, end=END,
            regions=["us-east-1"], follow_derived=True, progress=False, workers=1,
        )  # fmt: skip
        return Loaded(r.frame, r.derived, r.issues)

    def duckdb(records: list[dict[str, Any]]) -> Loaded:
        with DuckDBEngine(_write(records, tmp_path)) as engine:
            r = load_sql(
                engine, access_keys=SUSPECT, start=START, end=END, regions=["us-east-1"],
                follow_derived=True,
            )  # fmt: skip
        return Loaded(r.frame, r.derived, r.issues)

    def lookup(records: list[dict[str, Any]]) -> Loaded:
        fake: FakeAws = request.getfixturevalue("fake_aws")
        request.getfixturevalue("moto")
        fake.cloudtrail("us-east-1").add_records(records)
        fake.set_lookup_rate(None)
        lk_pacer._PACERS.clear()
        r = lk.lookup_events(
            Aws(), SUSPECT, start=START, end=END, regions=["us-east-1"], cache_dir=False,
            follow_derived=True, rate=200.0, now=NOW,
        )  # fmt: skip
        return Loaded(r.frame, r.derived, r.issues)

    return {"files": files, "duckdb": duckdb, "lookup": lookup}[request.param]


def _keys(frame: pd.DataFrame) -> set[str]:
    return set(frame["access_key_id"].dropna().astype(str))


def test_a_chain_is_followed_to_the_limit_and_the_keys_past_it_are_named(load: Loader) -> None:
    got = load(chain_records())
    followed = CHAIN[:MAX_DERIVED_ROUNDS]
    assert [d.access_key_id for d in got.derived] == followed
    assert [d.minted_by for d in got.derived] == [SUSPECT, *followed[:-1]]
    assert _keys(got.frame) == {SUSPECT, *followed}  # every followed key's calls
    (issue,) = [i for i in got.issues if is_unfollowed(i)]
    past = CHAIN[MAX_DERIVED_ROUNDS]  # minted by the last key followed, in its activity
    assert issue.problem.startswith(
        f"{past} minted by a derived key, not followed: pass limit {MAX_DERIVED_ROUNDS} reached"
    )
    assert f"torinvest events --access-key={past}" in issue.problem
    assert CHAIN[-1] not in issue.problem  # its minting call is in the activity not read


def test_a_chain_within_the_limit_is_followed_whole_without_an_issue(load: Loader) -> None:
    records = [r for r in chain_records() if r["eventTime"] < "2023-07-10T12:10:00Z"]
    got = load(records)  # 5 deep: the log sources stopped after 3 rounds
    assert [d.access_key_id for d in got.derived] == CHAIN[:5]
    assert _keys(got.frame) == {SUSPECT, *CHAIN[:5]}
    assert got.issues == []


def test_a_key_the_suspect_key_created_is_followed(load: Loader) -> None:
    """CreateAccessKey returns the new key's secret to the caller: the actor holds it."""
    got = load(mint_records())
    (created,) = [d for d in got.derived if d.access_key_id == BACKDOOR]
    assert (created.minted_by, created.event_name) == (SUSPECT, "CreateAccessKey")
    frame = got.frame
    assert frame.loc[frame["access_key_id"] == BACKDOOR, "derived"].tolist() == [True]


def test_a_failed_mint_is_not_followed(load: Loader) -> None:
    got = load(mint_records())
    assert FAILED not in {d.access_key_id for d in got.derived}
    assert FAILED not in _keys(got.frame)


def test_a_successful_mint_whose_key_is_not_recorded_is_an_issue(load: Loader) -> None:
    got = load(mint_records())
    problems = {i.problem.split(" ")[0]: i.problem for i in got.issues}
    assert problems["AssumeRole"].startswith("AssumeRole at 2023-07-10T12:20:00Z (event ")
    assert problems["AssumeRole"].endswith(
        "succeeded but its minted key is not recorded: its activity cannot be followed "
        f"(role arn:aws:iam::{ACCOUNT}:role/nullresp)"
    )
    assert problems["GetSessionToken"].startswith("GetSessionToken at 2023-07-10T12:22:00Z (event ")
    assert problems["GetSessionToken"].endswith(
        "its minted key is not recorded: its activity cannot be followed"
    )


def test_a_key_used_before_its_mint_is_kept_and_is_an_issue(load: Loader) -> None:
    got = load(mint_records())
    frame = got.frame  # LookupEvents asks from the window's start, as the log files are read
    assert frame.loc[frame["access_key_id"] == SKEWED, "event_name"].tolist() == ["ListBuckets"]
    (problem,) = [i.problem for i in got.issues if i.problem.startswith(SKEWED)]
    assert problem.startswith(
        f"{SKEWED} made 1 call(s) from 2023-07-10T11:30:00Z, before AssumeRole minted it at "
        "2023-07-10T12:40:00Z"
    )
    assert "a clock skewed or a forged record" in problem


def test_the_minted_keys_are_the_same_whatever_the_source(load: Loader) -> None:
    got = load(mint_records())
    assert [(d.access_key_id, d.minted_by) for d in got.derived] == [
        (BACKDOOR, SUSPECT),
        (SKEWED, SUSPECT),
    ]
    assert _keys(got.frame) == {SUSPECT, BACKDOOR, SKEWED}
    assert len(got.issues) == 3, got.issues  # two mints not recorded, one early use


def test_counted_in_the_engine_the_minted_keys_are_the_same(tmp_path: Path) -> None:
    """The minted-keys query (the path of activity too large to load) says what the rows do."""
    with DuckDBEngine(_write(mint_records() + chain_records(), tmp_path)) as engine:
        got = minted_keys_sql(
            engine, access_keys=SUSPECT, start=START, end=END, regions=["us-east-1"]
        )
    assert [d.access_key_id for d in got.derived] == [
        CHAIN[0], BACKDOOR, SKEWED, *CHAIN[1:MAX_DERIVED_ROUNDS]
    ]  # fmt: skip
    problems = [i.problem for i in got.issues]
    assert len(problems) == 3, problems
    assert any(
        "AssumeRole at 2023-07-10T12:20:00Z" in p and "role/nullresp)" in p for p in problems
    )
    assert any(p.startswith("GetSessionToken at 2023-07-10T12:22:00Z") for p in problems)
    assert any(
        p.startswith(f"{CHAIN[MAX_DERIVED_ROUNDS]} minted by a derived key") for p in problems
    )


def test_the_report_says_keys_past_the_limit_are_not_in_the_activity() -> None:
    issue = DataIssue("follow-derived", f"{CHAIN[-1]} minted by a derived key, not followed: "
                      f"pass limit {MAX_DERIVED_ROUNDS} reached; …")  # fmt: skip
    inv: Any = SimpleNamespace(activity=SimpleNamespace(issues=[issue]))
    assert is_unfollowed(issue)
    text = assessment._unfollowed_html(inv)
    assert "are <b>not</b> in the activity above" in text and CHAIN[-1] in text
    inv.activity.issues = [DataIssue("follow-derived", "something else")]
    assert assessment._unfollowed_html(inv) == ""


def test_the_file_counts_say_what_following_found_in_a_file(tmp_path: Path) -> None:
    """A file holding a mint not recorded is "read with issues" for that, in a few words (not
    the issue's text cut at the time's first colon)."""
    result = load_logs(
        _write(mint_records(), tmp_path), access_keys=SUSPECT, start=START, end=END,
        follow_derived=True, progress=False, workers=1,
    )  # fmt: skip
    assert result.counts is not None
    assert result.counts.issue_reasons() == "1 with a mint whose key is not recorded"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("2023-07-10T12:00:00Z", "2023-07-10T12:00:00Z"),
        ("2023-07-10T17:30:00+05:30", "2023-07-10T12:00:00Z"),
        ("2023-07-10T12:00:00", "2023-07-10T12:00:00Z"),  # no zone: UTC, as every engine reads it
        ("2300-01-01T00:00:00.1234567Z", "2300-01-01T00:00:00.123456Z"),
        ("2023-07-10T23:59:60Z", None),  # a leap second: no engine reads it
        ("not a time", None),
        ("", None),
        (None, None),
    ],
)
def test_a_mint_in_records_is_timed_as_the_events_frame_times_it(
    written: str | None, read: str | None
) -> None:
    """derived_keys over records (the Python API) reads a forged eventTime as the loaders do,
    and one they cannot read is an unknown time: no traceback (a time without a zone raised
    TypeError, a malformed one ValueError)."""
    record = {
        "eventTime": written,
        "eventName": "GetSessionToken",
        "eventID": "mint-1",
        "userIdentity": {"accessKeyId": "AKIATFQR7NSCUXC3DDDP"},
        "responseElements": {"credentials": {"accessKeyId": "ASIATFQR7NSCUXC3AAAA"}},
    }
    (minted,) = derived_keys([record])
    assert minted.event_time == (None if read is None else pd.Timestamp(read))
