"""Actions after a verdict: planned, printed, dry run by default, executed against moto/fake."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import orjson
import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from torinvest import actions as ac
from torinvest.aws import Aws
from torinvest.errors import InputError
from torinvest.findings import KeyLocation, read_findings
from torinvest.sources.records import normalize_records
from torinvest.verdict import read_ledger

SHAPES = Path(__file__).parent / "fixtures" / "guardduty" / "shapes"
NOW = pd.Timestamp("2023-07-10T13:00:00Z")


def key(access_key_id: str, *, user: str = "benjamin", user_type: str = "IAMUser") -> KeyLocation:
    return KeyLocation(
        finding_id="6dde0a8f8d46f6acad893b30f905e97c",
        finding_type="UnauthorizedAccess:IAMUser/TorIPCaller",
        access_key_id=access_key_id,
        kind="long-term" if access_key_id.startswith("AKIA") else "temporary",
        principal_id="AIDATFQR7NSC5U6Q3TMDR",
        user_name=user,
        user_type=user_type,
        account_id="123456789012",
        region="us-east-1",
        tor_ip="109.70.100.66",
        api="GetSessionToken",
        service_name="sts.amazonaws.com",
        first_seen=None,
        last_seen=None,
    )


ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def persistence_events(user: str, new_key: str, policy_arn: str = ADMIN) -> pd.DataFrame:
    """The sample case's persistence calls, as CloudTrail records (new key id from moto)."""
    base = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "accessKeyId": "AKIATFQR7NSCUXC3DDDP",
            "userName": "benjamin",
            "accountId": "123456789012",
        },
        "eventSource": "iam.amazonaws.com",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "185.220.101.34",
        "userAgent": "aws-cli/2.13.0",
        "readOnly": False,
        "eventType": "AwsApiCall",
    }
    calls = [
        ("CreateUser", {"userName": user}, {"user": {"userName": user}}),
        (
            "CreateAccessKey",
            {"userName": user},
            {"accessKey": {"accessKeyId": new_key, "userName": user, "status": "Active"}},
        ),
        (
            "AttachUserPolicy",
            {"userName": user, "policyArn": policy_arn},
            None,
        ),
        ("CreateLoginProfile", {"userName": user, "passwordResetRequired": False}, None),
        ("ListUsers", {}, None),
    ]
    records = [
        {
            **base,
            "eventName": n,
            "eventTime": f"2023-07-10T12:1{i}:00Z",
            "eventID": f"e{i}",
            "requestParameters": req,
            "responseElements": resp,
        }
        for i, (n, req, resp) in enumerate(calls)
    ]
    records.append(
        {
            **records[0],
            "eventID": "denied",
            "eventTime": "2023-07-10T12:19:00Z",
            "errorCode": "AccessDenied",
            "requestParameters": {"userName": "x"},
        }
    )
    return normalize_records(records, source="logs", origin="test")


def test_long_term_key_plan_in_order() -> None:
    events = persistence_events("svc-backup-sync", "AKIATFQR7NSCXLGMGTIH")
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP"), events, now=NOW)
    ops = [a.operation for a in plan.actions]
    assert ops == [
        "UpdateAccessKey",
        "PutUserPolicy",
        "ListAccessKeys",
        "GetLoginProfile",
        "ListMFADevices",
        # undo, newest first: a user is deleted after its key, policy and login profile
        "DeleteLoginProfile",
        "DetachUserPolicy",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "DeleteUser",
    ]
    deactivate = plan.actions[0]
    assert deactivate.params == {
        "UserName": "benjamin",
        "AccessKeyId": "AKIATFQR7NSCUXC3DDDP",
        "Status": "Inactive",
    }
    assert deactivate.cli() == (
        "aws iam update-access-key --user-name benjamin --access-key-id AKIATFQR7NSCUXC3DDDP "
        "--status Inactive"
    )
    doc = orjson.loads(plan.actions[1].params["PolicyDocument"])
    assert doc["Statement"][0]["Condition"] == {
        "DateLessThan": {"aws:TokenIssueTime": "2023-07-10T13:00:00Z"}
    }
    assert [a.changes_aws for a in plan.actions[2:5]] == [False, False, False]


def test_role_session_gets_revoke_older_sessions_on_the_role() -> None:
    events = normalize_records(
        [
            {
                "eventVersion": "1.08",
                "eventID": "1",
                "eventTime": "2023-07-10T12:00:00Z",
                "eventName": "ListBuckets",
                "eventSource": "s3.amazonaws.com",
                "awsRegion": "us-east-1",
                "userIdentity": {
                    "type": "AssumedRole",
                    "accessKeyId": "ASIAXXXXXXXXXXXXXXXX",
                    "arn": "arn:aws:sts::123456789012:assumed-role/app-role/i-0abc",
                    "sessionContext": {
                        "sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/service/app-role"}
                    },
                },
            }
        ],
        source="logs",
        origin="t",
    )
    loc = key("ASIAXXXXXXXXXXXXXXXX", user="app-role", user_type="AssumedRole")
    (action,) = ac.plan_remediation(loc, events, now=NOW).actions
    assert action.operation == "PutRolePolicy"
    assert action.params["RoleName"] == "app-role"
    assert action.params["PolicyName"] == "AWSRevokeOlderSessions"


def test_dry_run_changes_nothing_and_prints_every_call(moto: str, tmp_path: Path) -> None:
    iam = boto3.client("iam")
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    plan = ac.plan_remediation(key(key_id), None, now=NOW)
    printed: list[str] = []
    results = ac.run_plan(Aws(), plan.actions, ledger=tmp_path / "l.jsonl", echo=printed.append)
    assert [r.status for r in results] == ["dry-run", "dry-run", "read", "failed", "read"]
    assert printed[0].startswith("DRY RUN  aws iam update-access-key")
    assert printed[4].startswith("FAILED   GetLoginProfile")
    assert iam.list_access_keys(UserName="benjamin")["AccessKeyMetadata"][0]["Status"] == "Active"
    assert not (tmp_path / "l.jsonl").exists()  # nothing changed, nothing logged


def test_execute_remediates_and_logs(moto: str, tmp_path: Path) -> None:
    iam = boto3.client("iam")
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="svc-backup-sync")
    new_key = iam.create_access_key(UserName="svc-backup-sync")["AccessKey"]["AccessKeyId"]
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    arn = iam.create_policy(PolicyName="admin", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="svc-backup-sync", PolicyArn=arn)
    iam.create_login_profile(UserName="svc-backup-sync", Password="Xx-12345678!")
    events = persistence_events("svc-backup-sync", new_key, arn)
    plan = ac.plan_remediation(key(key_id), events, now=NOW)
    ledger = tmp_path / "ledger.jsonl"
    printed: list[str] = []
    results = ac.run_plan(
        Aws(),
        plan.actions,
        execute=True,
        ledger=ledger,
        echo=printed.append,
        context={"finding_id": "6dde0a8f8d46f6acad893b30f905e97c"},
    )
    failed = [r.action.operation for r in results if r.status == "failed"]
    assert failed == ["GetLoginProfile"]  # benjamin has no console password: a read, reported
    assert iam.list_access_keys(UserName="benjamin")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert "AWSRevokeOlderSessions" in iam.list_user_policies(UserName="benjamin")["PolicyNames"]
    users = {u["UserName"] for u in iam.list_users()["Users"]}
    assert "svc-backup-sync" not in users
    records, _ = read_ledger(ledger)
    changes = [a for a in plan.actions if a.changes_aws]
    assert len(records) == 2 * len(changes)
    assert {r["phase"] for r in records} == {"start", "done"}
    assert all(r["finding_id"] == "6dde0a8f8d46f6acad893b30f905e97c" for r in records)
    assert printed[0].startswith("EXECUTE  aws iam update-access-key")


def _finding_row() -> dict:
    frame = read_findings(SHAPES / "single_raw.json").frame()
    return frame.iloc[0].to_dict()


def test_archive_and_scoped_suppression(fake_aws: FakeAws, tmp_path: Path) -> None:
    row = _finding_row()
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector(row["detector_id"])
    gd.add_findings([json.loads((SHAPES / "single_raw.json").read_text())])
    assert ac.check_can_archive(Aws(), "us-east-1") is None
    plan = ac.plan_archive(row, suppress=True)
    ac.run_plan(Aws(), plan.actions, execute=True, ledger=tmp_path / "l.jsonl", echo=lambda s: None)
    assert fake_aws.archived_ids == {row["id"]}
    (flt,) = fake_aws.filters
    assert flt["Action"] == "ARCHIVE"
    assert flt["FindingCriteria"]["Criterion"] == {
        "type": {"Eq": ["UnauthorizedAccess:IAMUser/TorIPCaller", "Recon:IAMUser/TorIPCaller"]},
        "resource.accessKeyDetails.principalId": {"Eq": [row["principal_id"]]},
    }


def test_archive_dry_run_leaves_the_finding(fake_aws: FakeAws, tmp_path: Path) -> None:
    row = _finding_row()
    fake_aws.guardduty("us-east-1").add_detector(row["detector_id"])
    ac.run_plan(Aws(), ac.plan_archive(row).actions, ledger=tmp_path / "l", echo=lambda s: None)
    assert fake_aws.archived_ids == set()
    assert fake_aws.calls("ArchiveFindings") == []


def test_member_account_gets_an_explanation(fake_aws: FakeAws) -> None:
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector()
    gd.set_administrator("999999999999")
    why = ac.check_can_archive(Aws(), "us-east-1")
    assert why is not None
    assert "administrator account 999999999999" in why


def test_suppression_is_never_broader_than_asked() -> None:
    with pytest.raises(InputError, match="broader"):
        ac.plan_archive(_finding_row(), suppress=True, scope="account")
