"""A key minted as a session of a role in ANOTHER account: its calls are recorded there.

The Tor key calls ``sts:AssumeRole`` into ``arn:aws:iam::999999999999:role/…``: every call made
with the session it gets is recorded in account 999999999999's CloudTrail, never in the finding's.
A reading of the finding's account alone listed the minted key with "0 call(s)" and the signal
"it may have been used in regions or days not loaded" — the actor's move into another account
read as an unused key. Now, when no source read holds that account, it is a data issue of the
reading (naming the role, the account and where to read), the derived-key search is partial, the
report says the calls are not read; with that account's logs read beside, nothing is said.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_derived import ACCOUNT, END, START, SUSPECT, _record, _write
from torinvest import analysis
from torinvest.events import load_activity
from torinvest.options import EngineOptions
from torinvest.sources.records import FOLLOW_SOURCE

OTHER = "999999999999"
ROLE = f"arn:aws:iam::{OTHER}:role/OrganizationAccountAccessRole"
SESSION = "ASIAPROBEOTHERACCT1A"
SAME = "ASIAPROBESAMEACCT01A"


def _assume(role: str, minted: str, time: str, **more: Any) -> dict[str, Any]:
    request = {"roleArn": role, "roleSessionName": "x"}
    response = {
        "credentials": {"accessKeyId": minted, "expiration": "Jul 10, 2023, 6:00:00 PM"},
        "assumedRoleUser": {
            "arn": role.replace(":iam:", ":sts:").replace(":role/", ":assumed-role/") + "/x"
        },
    }
    return _record(SUSPECT, time, "AssumeRole", request=request, response=response, **more)


def _records() -> list[dict[str, Any]]:
    return [
        _record(SUSPECT, "12:00:00", "GetCallerIdentity"),
        _assume(ROLE, SESSION, "12:05:00"),
        _assume(f"arn:aws:iam::{ACCOUNT}:role/local", SAME, "12:06:00"),
        _record(SAME, "12:07:00", "ListBuckets"),
    ]


def _other_account_logs(folder: Path) -> Path:
    """Account OTHER's trail holding one call made with SESSION (as CloudTrail records it)."""
    who = {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{OTHER}:assumed-role/OrganizationAccountAccessRole/x",
        "accountId": OTHER,
        "accessKeyId": SESSION,
    }
    record = _record(SESSION, "12:08:00", "ListUsers", who=who, recipientAccountId=OTHER)
    base = folder / "AWSLogs" / OTHER / "CloudTrail" / "us-east-1" / "2023" / "07" / "10"
    base.mkdir(parents=True)
    name = f"{OTHER}_CloudTrail_us-east-1_20230710T1210Z_o.json.gz"
    (base / name).write_bytes(gzip.compress(json.dumps({"Records": [record]}).encode()))
    return folder / "AWSLogs"


def _load(logs: list[Path], engine: str) -> Any:
    return load_activity(
        logs=logs, access_key=SUSPECT, start=START, end=END, follow_derived=True,
        account=ACCOUNT, engine=EngineOptions(kind=engine),
    )  # fmt: skip


def _elsewhere(act: Any) -> list[str]:
    return [i.problem for i in act.issues if i.source == FOLLOW_SOURCE]


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_session_of_another_accounts_role_is_an_issue_when_that_account_is_not_read(
    tmp_path: Path, engine: str
) -> None:
    act = _load([_write(_records(), tmp_path / "mine")], engine)
    assert {d.access_key_id for d in act.derived} == {SESSION, SAME}
    (problem,) = _elsewhere(act)
    assert problem.startswith(
        f"{SESSION}, minted by {SUSPECT} with AssumeRole at 2023-07-10 12:05:00Z from "
        f"185.220.101.34, is a session of role {ROLE} in account {OTHER}: its calls are "
        f"recorded in that account's CloudTrail, and the sources read hold account(s) "
        f"{ACCOUNT} only"
    )
    assert f"AWSLogs/…/{OTHER}/" in problem and f"iam::{OTHER}:role/ROLE" in problem
    (issue,) = [i for i in act.issues if i.source == FOLLOW_SOURCE]
    assert issue.unread  # the reading is incomplete, not "0 calls"
    (session,) = [d for d in act.derived if d.access_key_id == SESSION]
    assert act.role_account_unread(session) == OTHER

    signals = analysis.signals(act.frame, derived_keys=act.derived)
    (unused,) = [s for s in signals if s.name == "derived_key_unused"]
    assert f"a role of account {OTHER}, whose CloudTrail records its calls" in unused.detail
    assert "regions or days not loaded" not in unused.detail


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_with_that_accounts_logs_read_the_session_is_followed_and_nothing_said(
    tmp_path: Path, engine: str
) -> None:
    logs = [_write(_records(), tmp_path / "mine"), _other_account_logs(tmp_path / "other")]
    act = _load(logs, engine)
    assert _elsewhere(act) == []
    calls = act.frame[act.frame["access_key_id"] == SESSION]
    assert list(calls["event_name"]) == ["ListUsers"]


def test_a_session_of_the_accounts_own_role_says_nothing(tmp_path: Path) -> None:
    records = [r for r in _records() if r["eventName"] != "AssumeRole" or SESSION not in str(r)]
    act = _load([_write(records, tmp_path / "mine")], "files")
    assert [d.access_key_id for d in act.derived] == [SAME] and _elsewhere(act) == []


def test_a_failed_assume_role_into_another_account_says_nothing(tmp_path: Path) -> None:
    records = _records()
    records[1] = _assume(ROLE, SESSION, "12:05:00", errorCode="AccessDenied")
    act = _load([_write(records, tmp_path / "mine")], "files")
    assert SESSION not in {d.access_key_id for d in act.derived} and _elsewhere(act) == []


def test_role_account_reads_only_role_arns() -> None:
    from torinvest.aws.ids import role_account

    assert role_account(ROLE) == OTHER
    assert role_account(f"arn:aws-us-gov:sts::{OTHER}:assumed-role/r/s") == OTHER
    assert role_account(f"arn:aws:iam::{OTHER}:user/u") is None
    assert role_account("arn:aws:iam::12345:role/r") is None  # not an account ID
    assert role_account(None) is None and role_account(42) is None
