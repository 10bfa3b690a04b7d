"""The IAM policies in policies/ cover every AWS operation the kit calls, in the right policy.

Every flow runs against the local endpoints while each botocore API call is recorded: what an
investigation calls must be in the read-only policy, what an executed action changes must be in
the actions policy.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import boto3
import botocore.client
import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from torinvest import actions as ac
from torinvest import data_trails, last_used
from torinvest.aws import Aws, AwsConfig, iam_action
from torinvest.case import sample_case
from torinvest.findings import fetch_findings, read_findings
from torinvest.sources import lookup as lk
from torinvest.sources.logs import load_logs
from torinvest.sources.lookup import pacer as lk_pacer

ROOT = Path(__file__).parent.parent
SHAPES = Path(__file__).parent / "fixtures" / "guardduty" / "shapes"


def allowed(name: str) -> set[str]:
    doc = json.loads((ROOT / "policies" / name).read_text())
    out: set[str] = set()
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow"
        out |= set(st["Action"])
    return out


READONLY = allowed("torinvest-investigate-readonly.json")
ACTIONS = allowed("torinvest-actions.json")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def record(self: botocore.client.BaseClient, operation_name: str, api_params: dict) -> dict:
        action = iam_action(self.meta.service_model.service_name, operation_name)
        if action == "s3:GetObject" and "VersionId" in api_params:  # GetObject, HeadObject
            action = "s3:GetObjectVersion"  # an object's version: IAM's other action
        seen.append(action)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return seen


def test_policies_are_valid_documents() -> None:
    assert READONLY.isdisjoint(ACTIONS)
    for action in READONLY | ACTIONS:
        service, op = action.split(":")
        assert service and op[0].isupper(), action
    # nothing that writes in the read-only policy
    writes = ("Put", "Update", "Delete", "Create", "Archive", "Attach", "Detach", "Remove")
    assert not [a for a in READONLY if a.split(":")[1].startswith(writes)]


def test_investigation_calls_are_all_read_only(
    calls: list[str], fake_aws: FakeAws, moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    finding = json.loads((SHAPES / "single_raw.json").read_text())
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.guardduty("us-east-1").add_findings([finding])
    fake_aws.set_lookup_rate(None)
    lk_pacer._PACERS.clear()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="trail")
    s3.create_bucket(Bucket="versioned-trail")  # a log file deleted there: read by version
    s3.put_bucket_versioning(
        Bucket="versioned-trail", VersioningConfiguration={"Status": "Enabled"}
    )
    for f in list(sample_case().cloudtrail.rglob("*.json.gz"))[:3]:
        key = str(f.relative_to(sample_case().cloudtrail))
        s3.put_object(Bucket="trail", Key=key, Body=f.read_bytes())
        s3.put_object(Bucket="versioned-trail", Key=key, Body=f.read_bytes())
    s3.delete_object(Bucket="versioned-trail", Key=key)
    calls.clear()  # only what the kit calls from here on
    aws = Aws()
    aws.regions("guardduty")  # ec2:DescribeRegions
    fetch_findings(aws, ["us-east-1"])
    lk.lookup_events(
        aws,
        "AKIATFQR7NSCUXC3DDDP",
        start=pd.Timestamp("2023-07-10", tz="UTC"),
        end=pd.Timestamp("2023-07-11", tz="UTC"),
        regions=["us-east-1"],
        cache_dir=False,
        rate=100.0,
        now=pd.Timestamp("2023-07-12", tz="UTC"),
    )
    load_logs("s3://trail/AWSLogs/", aws=aws)
    load_logs("s3://versioned-trail/AWSLogs/", aws=aws, start="2023-07-10", end="2023-07-10")
    calls_before = len(calls)
    boto3.client("iam").create_user(UserName="benjamin")
    made = boto3.client("iam").create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    del calls[calls_before:]  # the set-up's, not the kit's
    last_used.read_last_used(aws, made)  # IAM's last use of the key (torinvest.last_used)
    # which trails record data events (torinvest.data_trails): CloudTrail's trails in moto
    monkeypatch.delenv("AWS_ENDPOINT_URL_CLOUDTRAIL")
    calls_before = len(calls)
    boto3.client("cloudtrail").create_trail(Name="org-trail", S3BucketName="trail")
    del calls[calls_before:]  # the set-up's
    trails = data_trails.check_data_trails(Aws(), "us-east-1", None)
    assert trails.status == data_trails.CHECKED, trails
    Aws(AwsConfig(role_arn="arn:aws:iam::210987654321:role/investigator")).client(
        "sts"
    ).get_caller_identity()
    used = set(calls)
    assert used - READONLY == set()
    assert {
        "guardduty:ListFindings",
        "cloudtrail:LookupEvents",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:GetBucketVersioning",
        "s3:ListBucketVersions",
        "s3:GetObjectVersion",
        "ec2:DescribeRegions",
        "iam:GetAccessKeyLastUsed",
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetEventSelectors",
        "sts:AssumeRole",
    } <= used


def test_actions_use_the_actions_policy_and_reads_stay_read_only(
    calls: list[str],
    fake_aws: FakeAws,
    moto: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Remediation and archive runs, guards, probes and inventory included, twice (the second
    run takes the "already done" paths)."""
    from tests.actions.test_actions import (
        _other_persistence,
        event_history,
        key,
        persistence_events,
    )
    from torinvest import runner as rn
    from torinvest.events import combine_frames

    iam = boto3.client("iam")
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    created = iam.create_user(UserName="svc")["User"]["CreateDate"]
    iam.create_role(RoleName="backdoor", AssumeRolePolicyDocument="{}")
    with event_history(fake_aws):  # genuine records: confirmed with CloudTrail, then undone
        events = combine_frames(
            [
                persistence_events("svc", "AKIAEXAMPLE000000000", start=pd.Timestamp(created)),
                _other_persistence(),
            ]
        )
    calls.clear()
    plan = ac.plan_remediation(key(key_id), events)
    results = []
    for _ in range(2):
        report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=str)
        results += report.results
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "123837392027")  # the finding's account
    row = read_findings(SHAPES / "single_raw.json").frame().iloc[0]
    gd = fake_aws.guardduty("us-east-1")  # the detector holds the finding (an archive checks)
    gd.add_findings([row["raw"]], detector_id=gd.add_detector(row["detector_id"]))
    for _ in range(2):
        report = rn.carry_out(
            Aws(),
            ac.plan_archive(row, suppress=True, scope="principal"),
            execute=True,
            ledger=tmp_path / "l",
            echo=str,
        )
        results += report.results
    changed = {r.action.name for r in results if r.action.changes_aws and not r.action.manual}
    assert changed - ACTIONS == set()
    assert set(calls) - (READONLY | ACTIONS) == set()
    read = {c for c in calls if c not in ACTIONS}
    assert read - READONLY == set()
    assert {
        "guardduty:ArchiveFindings",
        "guardduty:CreateFilter",
        "guardduty:ListFilters",
        "guardduty:GetFilter",
        "guardduty:GetAdministratorAccount",
        "sts:GetCallerIdentity",
        "iam:ListGroupsForUser",
        "iam:GetUserPolicy",
        "iam:GetUser",
        "iam:GetPolicy",
        "cloudtrail:LookupEvents",
    } <= set(calls)


def test_every_call_a_plan_can_contain_is_in_the_actions_policy() -> None:
    from tests.actions.test_actions import _other_persistence, key, persistence_events
    from torinvest import runner as rn
    from torinvest.events import combine_frames

    events = persistence_events("svc", "AKIAEXAMPLE000000000")
    extra = events.iloc[[0] * 5].copy()
    names = ["AddUserToGroup", "PutUserPolicy", "CreateRole", "AttachRolePolicy", "PutRolePolicy"]
    params = [
        {"userName": "svc", "groupName": "g"},
        {"userName": "svc", "policyName": "p"},
        {"roleName": "r"},
        {"roleName": "r", "policyArn": "arn:p"},
        {"roleName": "r", "policyName": "p"},
    ]
    extra["event_name"] = pd.Categorical(names)
    extra["request_parameters"] = pd.array([json.dumps(p) for p in params], dtype="string")
    extra["event_id"] = pd.array([f"x{i}" for i in range(5)], dtype="string")
    mfa = _mfa_and_groups()
    plans = [
        ac.plan_remediation(
            key("AKIAEXAMPLE000000001"), combine_frames([events, extra, _other_persistence(), mfa])
        ),
        ac.plan_remediation(
            replace(
                key("ASIAEXAMPLE000000001", user_type="AssumedRole"),
                principal_id="AROAEXAMPLE000000001:s",
            )
        ),
        ac.plan_archive(
            read_findings(SHAPES / "single_raw.json").frame().iloc[0],
            suppress=True,
            scope="principal",
        ),
    ]
    actions = [a for p in plans for a in p.actions if not a.manual]
    writes = {a.name for a in actions if a.changes_aws}
    reads = {a.name for a in actions if not a.changes_aws}
    probes = [rn._probe(a) for a in actions if a.changes_aws]
    reads |= {probe[0].name for probe in probes if probe is not None}
    checks = [rn.identity_probe(a) for a in actions if a.changes_aws]
    reads |= {check[0].name for check in checks if check is not None}
    reads |= {
        "sts:GetCallerIdentity",
        "guardduty:ListDetectors",
        "guardduty:GetAdministratorAccount",
        "guardduty:GetFindings",
    }  # the guards'
    assert writes - ACTIONS == set()
    assert reads - READONLY == set()
    assert ACTIONS - writes == set()  # and the policy allows nothing a plan never calls
    assert len(writes) >= 19


def _mfa_and_groups() -> pd.DataFrame:
    from tests.actions.test_actions import records_frame

    iam = "iam.amazonaws.com"
    serial = "arn:aws:iam::123456789012:mfa/evil"
    return records_frame(
        [
            ("CreateVirtualMFADevice", iam, {"virtualMFADeviceName": "evil"},
             {"virtualMFADevice": {"serialNumber": serial}}),
            ("EnableMFADevice", iam, {"userName": "svc", "serialNumber": serial}, None),
            ("CreateGroup", iam, {"groupName": "g"}, None),  # new: its policies are undone
            ("AttachGroupPolicy", iam, {"groupName": "g", "policyArn": "arn:p"}, None),
            ("PutGroupPolicy", iam, {"groupName": "g", "policyName": "p"}, None),
        ],
        start="2023-07-10T12:40:00Z",
        prefix="m",
    )  # fmt: skip
