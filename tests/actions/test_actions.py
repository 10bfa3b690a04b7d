"""Actions after a verdict: plans that follow the evidence, and runs behind the verdict gate and
the account guard, each call printed and ledgered — against moto (IAM, STS) and the GuardDuty
fake, through a counting proxy (tests/fake_aws/proxy.py)."""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import orjson
import pandas as pd
import pytest

from tests.cli_run import run
from tests.fake_aws import FakeAws
from tests.fake_aws.proxy import FaultProxy
from torinvest import actions as ac
from torinvest import runner as rn
from torinvest.aws import Aws, AwsConfig
from torinvest.case import sample_case
from torinvest.errors import EXIT_REFUSED, InputError
from torinvest.findings import KeyLocation, read_findings
from torinvest.investigation import investigate, sources_from_parameters
from torinvest.sources.records import normalize_records
from torinvest.verdict import make_verdict, read_ledger, record_verdict

#: the runner's LookupEvents confirmations unpaced (quick_lookups, tests/conftest.py): these
#: tests are not about pacing
pytestmark = pytest.mark.usefixtures("quick_lookups")

SHAPES = Path(__file__).parent.parent / "fixtures" / "guardduty" / "shapes"
NOW = pd.Timestamp("2023-07-10T13:00:00Z")
STORY = json.loads((sample_case().root / "STORY.json").read_text())
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
SAMPLE_ACCOUNT = STORY["account_id"]  # 123837392027
MOTO_ACCOUNT = "123456789012"
SUSPECT = STORY["suspect_key"]["access_key_id"]
BACKDOOR_USER = STORY["derived"]["backdoor_user"]
BACKDOOR_KEY = STORY["derived"]["backdoor_key"]
ASIA = STORY["derived"]["asia_key"]
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
#: The sample case's CreateLoginProfile and CreateUser of the backdoor user (event name and ID)
PASSWORD_EVENT = "CreateLoginProfile 6518df82-7d82-4850-955f-9fe48e1264a8"
CREATE_USER_EVENT = "CreateUser a5a980fe-2e53-4b5b-98fa-180c12cb2503"
#: The calls a guard or a probe makes (read only); everything else a plan calls changes AWS.
GUARD_READS = {
    "AssumeRole",
    "GetCallerIdentity",
    "ListDetectors",
    "GetAdministratorAccount",
    "GetFindings",
    "ListFilters",
    "ListAccessKeys",
    "GetUserPolicy",
    "GetRolePolicy",
    "GetUser",
    "GetRole",
    "GetGroup",
    "GetPolicy",
    "GetAccessKeyLastUsed",
    "ListUsers",
    "ListGroups",
    "ListAttachedGroupPolicies",
    "ListGroupPolicies",
    "GetLoginProfile",
    "ListMFADevices",
    "ListAttachedUserPolicies",
    "ListUserPolicies",
    "ListGroupsForUser",
    "LookupEvents",
}


# --------------------------------------------------------------------------------------------
# helpers (also used by tests/hostile/test_actions.py and tests/test_policies.py)
# --------------------------------------------------------------------------------------------


def key(
    access_key_id: str,
    *,
    user: str = "benjamin",
    user_type: str = "IAMUser",
    account: str = MOTO_ACCOUNT,
) -> KeyLocation:
    return KeyLocation(
        finding_id=FINDING,
        finding_type="UnauthorizedAccess:IAMUser/TorIPCaller",
        access_key_id=access_key_id,
        kind="long-term" if access_key_id.startswith("AKIA") else "temporary",
        principal_id="AIDATFQR7NSC5U6Q3TMDR",
        user_name=user,
        user_type=user_type,
        account_id=account,
        region="us-east-1",
        tor_ip="109.70.100.66",
        api="GetSessionToken",
        service_name="sts.amazonaws.com",
        first_seen=None,
        last_seen=None,
    )


#: The fake AWS of the running test (set by the ``proxy`` fixture): the records
#: :func:`records_frame` makes are put in its CloudTrail Event history, where ``--execute``
#: confirms them (LookupEvents by event ID) before undoing them.
_HISTORY: list[FakeAws] = []


@contextmanager
def event_history(fake_aws: FakeAws) -> Iterator[FakeAws]:
    """While inside, the records :func:`records_frame` makes are genuine: in ``fake_aws``'s
    CloudTrail Event history (the ``proxy`` fixture does this for its tests)."""
    _HISTORY.append(fake_aws)
    try:
        yield fake_aws
    finally:
        _HISTORY.remove(fake_aws)


def in_history(records: Iterable[Mapping[str, Any]]) -> None:
    """Put CloudTrail log records in the Event history of the running test's fake AWS (each in
    its awsRegion), as CloudTrail would hold the calls they record: genuine records. A record
    CloudTrail could not have written (no eventID, no parsable eventTime) is not put there."""
    if not _HISTORY:
        return
    for record in records:
        try:
            _HISTORY[-1].cloudtrail(str(record.get("awsRegion"))).add_records([record])
        except (KeyError, TypeError, ValueError, AttributeError):
            continue


def case_in_history(root: Path) -> None:
    """Every record of a case folder's CloudTrail log files in the Event history
    (:func:`in_history`): the case's activity is genuine."""
    for f in sorted(root.rglob("*.json.gz")):
        data = json.loads(gzip.decompress(f.read_bytes()))
        if isinstance(data, dict) and isinstance(data.get("Records"), list):
            in_history(data["Records"])


def records_frame(
    calls: list[tuple[str, str, dict | None, dict | None]],
    *,
    genuine: bool = True,
    source: str = "logs",
    **base: Any,
) -> Any:
    """Events from (eventName, eventSource, requestParameters, responseElements), a minute apart
    from ``start`` (default 2023-07-10T12:10Z), by ``key`` (default benjamin's). ``genuine``:
    the records are also in CloudTrail's Event history (:func:`in_history`, under the ``proxy``
    fixture); False: a forged log file's, which CloudTrail never recorded. ``source``: the
    events frame's (``lookup``: rows read from LookupEvents itself)."""
    start = pd.Timestamp(base.pop("start", "2023-07-10T12:10:00Z"))
    prefix = base.pop("prefix", "e")
    access_key = base.pop("key", "AKIATFQR7NSCUXC3DDDP")
    identity = {
        "type": "IAMUser",
        "accessKeyId": access_key,
        "userName": "benjamin",
        "accountId": MOTO_ACCOUNT,
        "principalId": "AIDATFQR7NSC5U6Q3TMDR",
    }
    records = []
    for i, (name, service, req, resp) in enumerate(calls):
        when = start + pd.Timedelta(minutes=i)
        records.append(
            {
                "eventVersion": "1.08",
                "userIdentity": identity,
                "eventSource": service,
                "awsRegion": "us-east-1",
                "sourceIPAddress": "185.220.101.34",
                "userAgent": "aws-cli/2.13.0",
                "eventType": "AwsApiCall",
                "eventName": name,
                "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventID": f"{prefix}{i}",
                "requestParameters": req,
                "responseElements": resp,
                **base,
            }
        )
    if genuine:
        in_history(records)
    return normalize_records(records, source=source, origin="test")


def persistence_events(
    user: str,
    new_key: str,
    policy_arn: str = ADMIN,
    *,
    start: Any = "2023-07-10T12:10:00Z",
    user_id: str | None = None,
) -> pd.DataFrame:
    """The sample case's persistence calls as CloudTrail records, the CreateUser at ``start``
    (its answer with ``user_id``, when given), plus a read and a call that was denied (neither
    is undone)."""
    iam = "iam.amazonaws.com"
    made = {"userName": user, **({"userId": user_id} if user_id else {})}
    calls = [
        ("CreateUser", iam, {"userName": user}, {"user": made}),
        (
            "CreateAccessKey",
            iam,
            {"userName": user},
            {"accessKey": {"accessKeyId": new_key, "userName": user, "status": "Active"}},
        ),
        ("AttachUserPolicy", iam, {"userName": user, "policyArn": policy_arn}, None),
        ("CreateLoginProfile", iam, {"userName": user, "passwordResetRequired": False}, None),
        ("ListUsers", iam, {}, None),
    ]
    frame = records_frame(calls, start=start)
    denied = records_frame(
        [("CreateUser", iam, {"userName": "x"}, None)],
        start=pd.Timestamp(start) + pd.Timedelta(minutes=9),
        errorCode="AccessDenied",
        prefix="denied",
    )
    from torinvest.events import combine_frames

    return combine_frames([frame, denied])


def iam_client(moto_url: str, account: str | None = None) -> Any:
    """An IAM client straight to moto (not through the proxy), in ``account`` when given."""
    if account is None:
        return boto3.client("iam", endpoint_url=moto_url)
    creds = boto3.client("sts", endpoint_url=moto_url).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/setup", RoleSessionName="setup"
    )["Credentials"]
    return boto3.client(
        "iam",
        endpoint_url=moto_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def guardduty_finding(fake_aws: FakeAws, detector: str | None = None) -> dict[str, Any]:
    """The raw sample Tor finding (tests/fixtures shapes), put in the fake GuardDuty of
    us-east-1 under its detector (or ``detector``)."""
    raw = json.loads((SHAPES / "single_raw.json").read_text())
    gd = fake_aws.guardduty("us-east-1")
    gd.add_findings([raw], detector_id=gd.add_detector(detector or raw["service"]["detectorId"]))
    return raw


def verdict(ledger: Path, status: str, finding: str = FINDING, *, minutes: int = 0) -> None:
    """A decided verdict with the evidence summary of a reading that read everything (no
    finding state: compared with GuardDuty by time)."""
    record_verdict(
        make_verdict(
            finding,
            status=status,
            analyst="ana",
            rationale="read the activity",
            evidence={"reading": "complete"},
            now=pd.Timestamp("2024-01-01T00:00:00Z") + pd.Timedelta(minutes=minutes),
        ),
        ledger,
    )


def assert_paired(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every call's start has exactly one outcome with the same run and sequence number; the
    action records, in ledger order."""
    acts = [r for r in records if r.get("kind") == "action"]
    starts = [(r["run_id"], r["seq"]) for r in acts if r["phase"] == "start"]
    outcomes = [(r["run_id"], r["seq"]) for r in acts if r["phase"] == "outcome"]
    assert sorted(starts) == sorted(outcomes)
    assert len(set(starts)) == len(starts)
    return acts


@functools.cache
def _sample_case_files() -> tuple[tuple[Path, bytes, bool], ...]:
    """The sample case's files, read once per process: (path in the case, content — a gzip
    file's decompressed —, whether the file is gzip)."""
    src = sample_case().root
    files = []
    for f in sorted(src.rglob("*")):
        if f.is_file():
            packed = f.name.endswith(".gz")
            data = f.read_bytes()
            files.append((f.relative_to(src), gzip.decompress(data) if packed else data, packed))
    return tuple(files)


def sample_case_with(root: Path, replace: Mapping[str, str]) -> Path:
    """A copy of the sample case with strings replaced in every file (gzip too): the case's key
    IDs become the ones moto made. (gzip's fastest level: what is read back is the same.)"""
    dst = root / "case"
    for relative, content, packed in _sample_case_files():
        out = dst / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        data = content
        for old, new in replace.items():
            data = data.replace(old.encode(), new.encode())
        out.write_bytes(gzip.compress(data, compresslevel=1) if packed else data)
    return dst


@pytest.fixture
def cut_off_at_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's deny cutoff (the time of its call) pinned to the plans' ``NOW``: the tests
    that compare the deny's document with the plan's, or a re-run's probe with the first run's
    deny, take no clock reading."""
    from torinvest.runner import probes

    monkeypatch.setattr(probes, "call_time", lambda: NOW)


@pytest.fixture(name="proxy")
def proxy_fixture(
    moto: str, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultProxy]:
    """Every boto3 client of the kit goes through a counting, fault-injecting proxy: IAM/STS to
    moto, GuardDuty to the fake. One attempt per call (a fault is answered once, not retried)."""
    with FaultProxy({"guardduty": fake_aws.url}, default=moto) as p:
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_GUARDDUTY", p.url)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        with event_history(fake_aws):
            yield p


def ops(proxy: FaultProxy, *, changes_only: bool = False) -> list[str]:
    names = [c.operation for c in proxy.calls()]
    return [n for n in names if n not in GUARD_READS] if changes_only else names


# --------------------------------------------------------------------------------------------
# plans
# --------------------------------------------------------------------------------------------
INVENTORY = [op for op, _ in ac.INVENTORY_OPERATIONS]


def test_long_term_key_plan_in_order() -> None:
    events = persistence_events("svc-backup-sync", "AKIATFQR7NSCXLGMGTIH")
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP"), events, now=NOW)
    assert [a.operation for a in plan.actions] == [
        "UpdateAccessKey",
        "PutUserPolicy",
        *INVENTORY,
        # undo, newest first: a user is deleted after its key, policy and login profile; the
        # console sessions of the password the key set are denied (and the deny removed just
        # before the user is deleted: IAM deletes no user with an inline policy)
        "DeleteLoginProfile",
        "PutUserPolicy",
        "DetachUserPolicy",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "DeleteUserPolicy",
        "DeleteUser",
    ]
    deactivate = plan.actions[0]
    assert deactivate.params == {
        "UserName": "benjamin",
        "AccessKeyId": "AKIATFQR7NSCUXC3DDDP",
        "Status": "Inactive",
    }
    assert deactivate.cli() == (
        "aws iam update-access-key --user-name=benjamin --access-key-id=AKIATFQR7NSCUXC3DDDP "
        "--status=Inactive"
    )
    doc = orjson.loads(plan.actions[1].params["PolicyDocument"])
    assert doc["Statement"][0]["Condition"] == {
        "DateLessThan": {"aws:TokenIssueTime": "2023-07-10T13:00:00Z"}
    }
    assert all(not a.changes_aws for a in plan.actions[2:8])
    assert (plan.kind, plan.account_id, plan.finding_id) == ("remediate", MOTO_ACCOUNT, FINDING)


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


def test_sample_case_plan_follows_the_evidence() -> None:
    """The plan built from the sample case lists the created user, its key, its login profile,
    the attached policy, the secrets read (by the derived key) and the minted session key."""
    inv = investigate(FINDING, sources_from_parameters(case_dir=str(sample_case().root)))
    plan = ac.plan_remediation(inv.key, inv.events, now=NOW)
    calls = [(a.operation, dict(a.params)) for a in plan.actions if not a.manual]
    assert calls[0] == (
        "UpdateAccessKey",
        {"UserName": "benjamin", "AccessKeyId": SUSPECT, "Status": "Inactive"},
    )
    revoke = plan.actions[1]
    assert (revoke.operation, revoke.params["UserName"]) == ("PutUserPolicy", "benjamin")
    assert ASIA in revoke.targets and ASIA in revoke.why and "GetSessionToken" in revoke.why
    # the key it created is a derived key (its calls are in the activity), but a long-term one:
    # deactivated and deleted below, never "revoked" as a session of benjamin's
    assert BACKDOOR_KEY in {d.access_key_id for d in inv.activity.derived}
    assert inv.events.loc[inv.events["access_key_id"] == BACKDOOR_KEY, "derived"].all()
    assert not any(BACKDOOR_KEY in a.targets or BACKDOOR_KEY in a.why for a in plan.actions[:2])
    undo = [(op, p) for op, p in calls if op not in INVENTORY][2:]
    sessions = {
        "UserName": BACKDOOR_USER,
        "PolicyName": ac.REVOKE_POLICY_NAME,
        "PolicyDocument": revoke.params["PolicyDocument"],
    }
    assert undo == [
        ("DeleteLoginProfile", {"UserName": BACKDOOR_USER}),
        ("PutUserPolicy", sessions),  # the console sessions of the password the key set
        ("DetachUserPolicy", {"UserName": BACKDOOR_USER, "PolicyArn": ADMIN}),
        (
            "UpdateAccessKey",
            {"UserName": BACKDOOR_USER, "AccessKeyId": BACKDOOR_KEY, "Status": "Inactive"},
        ),
        ("DeleteAccessKey", {"UserName": BACKDOOR_USER, "AccessKeyId": BACKDOOR_KEY}),
        ("DeleteUserPolicy", {"UserName": BACKDOOR_USER, "PolicyName": ac.REVOKE_POLICY_NAME}),
        ("DeleteUser", {"UserName": BACKDOOR_USER}),
    ]
    read = inv.events[
        (inv.events["event_name"] == "GetSecretValue") & inv.events["error_code"].isna()
    ]
    secrets = [json.loads(p)["secretId"] for p in read["request_parameters"]]
    assert len(secrets) == 2 and set(read["access_key_id"]) == {ASIA}
    rotations = [a for a in plan.manual if a.operation == "RotateSecret"]
    assert [a.targets for a in rotations] == [(s,) for s in secrets]
    assert all(
        s in a.manual and "us-east-1" in a.manual for s, a in zip(secrets, rotations, strict=True)
    )
    assert any("prod/db/credentials (ResourceNotFoundException)" in n for n in plan.notes)
    assert not any("prod/db/credentials" in (a.manual or "") for a in plan.actions)


def _other_persistence() -> pd.DataFrame:
    iam, lam = "iam.amazonaws.com", "lambda.amazonaws.com"
    return records_frame(
        [
            ("CreateRole", iam, {"roleName": "backdoor"}, None),
            ("UpdateAssumeRolePolicy", iam, {"roleName": "ops", "policyDocument": "{}"}, None),
            ("PutRolePolicy", iam, {"roleName": "backdoor", "policyName": "all"}, None),
            ("AttachRolePolicy", iam, {"roleName": "backdoor", "policyArn": ADMIN}, None),
            ("AddUserToGroup", iam, {"userName": "benjamin", "groupName": "admins"}, None),
            ("PutUserPolicy", iam, {"userName": "benjamin", "policyName": "inline"}, None),
            (
                "CreatePolicy",
                iam,
                {"policyName": "p"},
                {"policy": {"arn": "arn:aws:iam::123456789012:policy/p"}},
            ),
            ("CreateFunction20150331", lam, {"functionName": "exfil"}, None),
            ("AddPermission20150331v2", lam, {"functionName": "exfil", "statementId": "s1"}, None),
            ("UpdateFunctionCode20150331v2", lam, {"functionName": "billing"}, None),
            ("StopLogging", "cloudtrail.amazonaws.com", {"name": "main-trail"}, None),
            (
                "GetParameter",
                "ssm.amazonaws.com",
                {"name": "/prod/db", "withDecryption": True},
                None,
            ),
            ("GetParameters", "ssm.amazonaws.com", {"names": ["/a", "/b"]}, None),
            (
                "AssumeRole",
                "sts.amazonaws.com",
                {"roleArn": "arn:aws:iam::123456789012:role/deploy", "roleSessionName": "x"},
                {"credentials": {"accessKeyId": "ASIAROLE000000000001", "expiration": "soon"}},
            ),
            (
                "GetFederationToken",
                "sts.amazonaws.com",
                {"name": "fed"},
                {"credentials": {"accessKeyId": "ASIAFEDERATED0000001"}},
            ),
            (
                "AssumeRole",
                "sts.amazonaws.com",
                {"roleArn": "arn:aws:iam::999999999999:role/outside", "roleSessionName": "x"},
                {"credentials": {"accessKeyId": "ASIAROLE000000000002"}},
            ),
        ],
        prefix="o",
    )


def test_plan_follows_roles_functions_parameters_and_minted_credentials() -> None:
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP"), _other_persistence(), now=NOW)
    by_op: dict[str, list[ac.Action]] = {}
    for a in plan.actions:
        by_op.setdefault(a.operation, []).append(a)
    # minted credentials: the federation token by benjamin's deny; the role's sessions by its own
    (user_revoke,) = by_op["PutUserPolicy"]
    assert (
        user_revoke.params["UserName"] == "benjamin"
        and "ASIAFEDERATED0000001" in user_revoke.targets
    )
    role_revokes = [a for a in by_op["PutRolePolicy"] if not a.manual]
    assert [a.params["RoleName"] for a in role_revokes] == ["deploy"]
    assert "ASIAROLE000000000001" in role_revokes[0].targets
    outside = [a for a in by_op["PutRolePolicy"] if a.manual]
    assert len(outside) == 1 and "in account 999999999999" in outside[0].manual
    # undo, newest first
    undo = [(a.operation, dict(a.params)) for a in plan.actions if a.absent_ok and not a.manual]
    assert undo == [
        ("DeletePolicy", {"PolicyArn": "arn:aws:iam::123456789012:policy/p"}),
        # benjamin's inline policy and group: maybe there before (below); backdoor's: new
        ("DetachRolePolicy", {"RoleName": "backdoor", "PolicyArn": ADMIN}),
        ("DeleteRolePolicy", {"RoleName": "backdoor", "PolicyName": "all"}),
        ("DeleteRole", {"RoleName": "backdoor"}),
    ]
    # Lambda does not say when a function was created, nor a statement added: manual steps
    (remove,) = by_op["RemovePermission"]
    assert remove.manual and "cannot be checked" in remove.manual
    assert "--function-name=exfil --statement-id=s1" in remove.manual
    (delete_fn,) = by_op["DeleteFunction"]
    assert delete_fn.manual and "cannot be checked" in delete_fn.manual
    assert "aws lambda delete-function --region=us-east-1 --function-name=exfil" in delete_fn.manual
    manual = {a.operation: a for a in plan.manual}
    assert "trust policy of role ops" in manual["UpdateAssumeRolePolicy"].manual
    assert "billing" in manual["UpdateFunctionCode20150331v2"].manual
    assert "main-trail" in manual["StopLogging"].manual
    params = [a.targets[0] for a in plan.manual if a.operation == "PutParameter"]
    assert params == ["/prod/db", "/a", "/b"]


def test_an_mfa_device_or_a_lambda_permission_is_undone_by_a_call_only_when_checkable() -> None:
    """Like every other undo: DeactivateMFADevice is a call only on a user the activity created
    (checked by GetUser first); on benjamin (not created by it) it is a manual step with the
    command; RemovePermission (no date to read in Lambda) is always a manual step."""
    iam, lam = "iam.amazonaws.com", "lambda.amazonaws.com"
    serial = "arn:aws:iam::123456789012:mfa/evil"
    events = records_frame(
        [
            ("CreateUser", iam, {"userName": "svc"}, {"user": {"userName": "svc"}}),
            ("EnableMFADevice", iam, {"userName": "svc", "serialNumber": serial}, None),
            ("EnableMFADevice", iam, {"userName": "benjamin", "serialNumber": serial}, None),
            ("AddPermission20150331v2", lam, {"functionName": "f", "statementId": "s"}, None),
        ]
    )
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP"), events, now=NOW)
    steps = [a for a in plan.actions if a.operation in ("DeactivateMFADevice", "RemovePermission")]
    assert [(a.operation, a.targets[0], bool(a.manual)) for a in steps] == [
        ("RemovePermission", "f", True),
        ("DeactivateMFADevice", "benjamin", True),
        ("DeactivateMFADevice", "svc", False),
    ]
    remove, on_benjamin, on_svc = steps
    assert on_svc.identity == ("User", "svc") and on_svc.created_at  # GetUser svc first
    assert "user benjamin was not created by the activity" in (on_benjamin.manual or "")
    assert f"aws iam deactivate-mfa-device --user-name=benjamin --serial-number={serial}" in (
        on_benjamin.manual or ""
    )
    assert "aws lambda remove-permission --region=us-east-1 --function-name=f --statement-id=s" in (
        remove.manual or ""
    )


def test_writes_that_may_have_found_it_there_are_not_undone_blindly() -> None:
    """An attach or a group membership succeeds the same when already in place, and a Put
    overwrites an inline policy: on a principal the activity did not create, CloudTrail cannot
    tell the actor's change from a legitimate permission, so the undo is a manual check — unless
    the activity created the principal, the group or the managed policy before the call."""
    iam = "iam.amazonaws.com"
    mine = "arn:aws:iam::123456789012:policy/mine"
    events = records_frame(
        [
            ("AttachUserPolicy", iam, {"userName": "benjamin", "policyArn": ADMIN}, None),
            ("AddUserToGroup", iam, {"userName": "benjamin", "groupName": "admins"}, None),
            ("PutUserPolicy", iam, {"userName": "benjamin", "policyName": "inline"}, None),
            ("PutRolePolicy", iam, {"roleName": "ops", "policyName": "inline"}, None),
            ("AttachGroupPolicy", iam, {"groupName": "admins", "policyArn": ADMIN}, None),
            ("PutGroupPolicy", iam, {"groupName": "admins", "policyName": "g"}, None),
            ("CreatePolicy", iam, {"policyName": "mine"}, {"policy": {"arn": mine}}),
            ("AttachUserPolicy", iam, {"userName": "benjamin", "policyArn": mine}, None),
            ("CreateGroup", iam, {"groupName": "crew"}, None),
            ("AddUserToGroup", iam, {"userName": "benjamin", "groupName": "crew"}, None),
        ]
    )
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP"), events, now=NOW)
    undo = [(a.operation, dict(a.params)) for a in plan.changes if a.absent_ok]
    assert undo == [
        ("RemoveUserFromGroup", {"UserName": "benjamin", "GroupName": "crew"}),
        ("DeleteGroup", {"GroupName": "crew"}),  # the activity created it: undone too
        ("DetachUserPolicy", {"UserName": "benjamin", "PolicyArn": mine}),
        ("DeletePolicy", {"PolicyArn": mine}),
    ]
    manual = {(a.operation, a.targets): a.manual or "" for a in plan.manual}
    assert set(manual) >= {
        ("DetachUserPolicy", ("benjamin", ADMIN)),
        ("RemoveUserFromGroup", ("benjamin", "admins")),
        ("DeleteUserPolicy", ("benjamin", "inline")),
        ("DeleteRolePolicy", ("ops", "inline")),
        ("DetachGroupPolicy", ("admins", ADMIN)),
        ("DeleteGroupPolicy", ("admins", "g")),
    }
    inline = manual[("DeleteUserPolicy", ("benjamin", "inline"))]
    assert "already had inline policy inline" in inline and "restore its earlier" in inline
    assert "aws iam delete-user-policy --user-name=benjamin --policy-name=inline" in inline
    attached = manual[("DetachUserPolicy", ("benjamin", ADMIN))]
    assert f"could not tell whether {ADMIN} was already attached to user benjamin" in attached


def test_suppression_is_scoped_to_the_type_account_and_principal() -> None:
    row = read_findings(SHAPES / "single_raw.json").frame().iloc[0]
    plan = ac.plan_archive(row, suppress=True, scope="principal")
    rule = plan.actions[1].params
    assert rule["FindingCriteria"] == {
        "Criterion": {
            "type": {"Eq": ["UnauthorizedAccess:IAMUser/TorIPCaller"]},
            "accountId": {"Eq": [SAMPLE_ACCOUNT]},
            "resource.accessKeyDetails.principalId": {"Eq": ["AIDATFQR7NSC5U6Q3TMDR"]},
        }
    }
    keyed = ac.plan_archive(row, suppress=True, scope="key").actions[1].params
    assert keyed["FindingCriteria"]["Criterion"]["resource.accessKeyDetails.accessKeyId"] == {
        "Eq": [SUSPECT]
    }
    assert keyed["Name"] != rule["Name"]
    with pytest.raises(InputError, match="broader"):
        ac.plan_archive(row, suppress=True, scope="account")


# --------------------------------------------------------------------------------------------
# runs: the library
# --------------------------------------------------------------------------------------------
def test_dry_run_changes_nothing_and_reads_the_inventory(proxy: FaultProxy, moto: str) -> None:
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    other = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    plan = ac.plan_remediation(key(key_id), None, now=NOW)
    printed: list[str] = []
    report = rn.carry_out(Aws(), plan, echo=printed.append)
    assert [r.status for r in report.results] == ["dry-run", "dry-run"] + ["read"] * 6
    assert ops(proxy) == ["GetCallerIdentity", *INVENTORY]
    assert printed[0].startswith("CHECK    aws sts get-caller-identity")
    assert any(line.startswith("DRY RUN  aws iam update-access-key") for line in printed)
    assert f"benjamin has another active key {other}" in "\n".join(report.summary_lines())
    assert "benjamin has no console password" in report.inventory
    assert iam.list_access_keys(UserName="benjamin")["AccessKeyMetadata"][0]["Status"] == "Active"


def test_execute_remediates_in_order_and_ledgers_every_call(
    proxy: FaultProxy, moto: str, fake_aws: FakeAws, tmp_path: Path
) -> None:
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    created = iam.create_user(UserName="svc-backup-sync")["User"]["CreateDate"]
    new_key = iam.create_access_key(UserName="svc-backup-sync")["AccessKey"]["AccessKeyId"]
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    arn = iam.create_policy(PolicyName="admin", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="svc-backup-sync", PolicyArn=arn)
    iam.create_login_profile(UserName="svc-backup-sync", Password="Xx-12345678!")
    events = persistence_events("svc-backup-sync", new_key, arn, start=pd.Timestamp(created))
    plan = ac.plan_remediation(key(key_id), events, now=NOW)
    ledger = tmp_path / "ledger.jsonl"
    printed: list[str] = []
    report = rn.carry_out(Aws(), plan, execute=True, ledger=ledger, echo=printed.append)

    assert ops(proxy, changes_only=True) == [
        "UpdateAccessKey",
        "PutUserPolicy",
        "DeleteLoginProfile",
        "PutUserPolicy",  # the console sessions of the password the key set
        "DetachUserPolicy",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "DeleteUserPolicy",  # that deny, so that IAM deletes the user
        "DeleteUser",
    ]
    assert ops(proxy)[0] == "GetCallerIdentity"
    assert report.failed == [] and len(report.done) == 9
    assert iam.list_access_keys(UserName="benjamin")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert "AWSRevokeOlderSessions" in iam.list_user_policies(UserName="benjamin")["PolicyNames"]
    assert "svc-backup-sync" not in {u["UserName"] for u in iam.list_users()["Users"]}

    records, issues = read_ledger(ledger)
    assert issues == []
    acts = assert_paired(records)
    started = [r["action"]["operation"] for r in acts if r["phase"] == "start"]
    # one start per call, in the order the calls were made (CloudTrail's: to the fake directly)
    assert [op for op in started if op != "LookupEvents"] == ops(proxy)
    looked = [op for op in started if op == "LookupEvents"]
    assert len(looked) == len(fake_aws.calls("LookupEvents")) == 4  # each record once
    assert all(r["finding_id"] == FINDING and r["caller_account"] for r in acts[2:])
    outcome = {r["seq"]: r for r in acts if r["phase"] == "outcome"}
    listed = next(
        r for r in acts if r["phase"] == "start" and r["action"]["operation"] == "ListAccessKeys"
    )
    keys = outcome[listed["seq"]]["response"]["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [key_id]  # the answer itself is in the ledger
    assert printed.index(next(p for p in printed if p.startswith("EXECUTE  aws iam update"))) > 0


@pytest.mark.usefixtures("cut_off_at_now")
def test_rerunning_an_executed_plan_says_already_done(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    svc = iam.create_user(UserName="svc")["User"]
    new_key = iam.create_access_key(UserName="svc")["AccessKey"]["AccessKeyId"]
    iam.create_login_profile(UserName="svc", Password="Xx-12345678!")
    events = persistence_events(
        "svc", new_key, start=pd.Timestamp(svc["CreateDate"]), user_id=svc["UserId"]
    )
    events = events[events["event_name"] != "AttachUserPolicy"]
    plan = ac.plan_remediation(key(key_id), events, now=NOW)
    first = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert first.failed == [] and first.already == []
    proxy.clear()
    printed: list[str] = []
    again = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=printed.append)
    assert again.done == [] and again.failed == []
    assert len(again.already) == len(plan.changes)
    # the changes whose probe shows them done are not called again (svc is gone: no user has
    # its ID, the one CreateUser's answer gave)
    assert ops(proxy, changes_only=True) == []
    assert sum(line.startswith("  already done:") for line in printed) == len(plan.changes)
    assert "AWSRevokeOlderSessions is already on benjamin" in "\n".join(printed)
    records, _ = read_ledger(tmp_path / "l")
    assert_paired(records)
    assert {r["status"] for r in records if r.get("phase") == "skipped"} == {"already-done"}


def test_archive_in_the_findings_account_with_a_narrow_rule(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)  # the credentials are the finding's
    row = read_findings(SHAPES / "single_raw.json").frame().iloc[0]
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector(row["detector_id"])
    gd.add_findings([json.loads((SHAPES / "single_raw.json").read_text())])
    plan = ac.plan_archive(row, suppress=True, scope="principal")
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert report.failed == []
    assert ops(proxy) == [
        "GetCallerIdentity",
        "ListDetectors",
        "GetAdministratorAccount",
        "GetFindings",  # the detector holds the finding the plan was built from; archived?
        "ArchiveFindings",
        "GetFindings",  # read back: archived now
        "ListFilters",
        "CreateFilter",
    ]
    assert fake_aws.archived_ids == {row["id"]}
    (flt,) = fake_aws.filters
    assert flt["Action"] == "ARCHIVE"
    assert flt["FindingCriteria"]["Criterion"] == {
        "type": {"Eq": ["UnauthorizedAccess:IAMUser/TorIPCaller"]},
        "accountId": {"Eq": [SAMPLE_ACCOUNT]},
        "resource.accessKeyDetails.principalId": {"Eq": [row["principal_id"]]},
    }
    proxy.clear()
    again = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert [r.status for r in again.results] == ["already-done", "already-done"]
    assert "ArchiveFindings" not in ops(proxy) and "CreateFilter" not in ops(proxy)


def test_the_guardduty_administrator_archives_a_member_finding(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111122223333")  # the administrator account
    raw = json.loads((SHAPES / "single_raw.json").read_text())
    row = read_findings(SHAPES / "single_raw.json").frame().iloc[0]
    gd = fake_aws.guardduty("us-east-1")
    admin_detector = gd.add_detector("a" * 32)
    gd.add_findings(
        [raw], detector_id=admin_detector
    )  # the administrator sees the member's finding
    report = rn.carry_out(
        Aws(), ac.plan_archive(row), execute=True, ledger=tmp_path / "l", echo=lambda s: None
    )
    assert report.failed == [] and fake_aws.archived_ids == {row["id"]}
    (archive,) = fake_aws.calls("ArchiveFindings")
    assert archive.params["DetectorId"] == admin_detector  # the administrator's own detector


def test_whose_credentials_the_notebook_shows(
    proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP", account=SAMPLE_ACCOUNT))
    offline = rn.whose_credentials(plan, None)
    assert "environment variables (AWS_ACCESS_KEY_ID testing)" in offline
    assert "account 123837392027 (the finding's)" in offline
    assert proxy.calls() == []
    online = rn.whose_credentials(plan, Aws())
    assert f"account {MOTO_ACCOUNT}" in online and "--execute would be refused" in online
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    assert "--execute may run" in rn.whose_credentials(plan, Aws())

    config = tmp_path / "config"
    config.write_text(
        "[profile ir]\nsso_session = corp\nsso_account_id = 123837392027\n"
        "[profile jump]\nrole_arn = arn:aws:iam::123837392027:role/ir\nsource_profile = ir\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    assert rn.credentials_source(AwsConfig(profile="ir")) == "profile ir (SSO)"
    assert rn.credentials_source(AwsConfig(profile="jump")) == (
        "profile jump (role arn:aws:iam::123837392027:role/ir from ir)"
    )
    assert rn.credentials_source(AwsConfig(role_arn="arn:aws:iam::1:role/r")).startswith(
        "role arn:aws:iam::1:role/r, assumed with environment variables"
    )


def test_the_notebook_plan_says_whose_credentials(tmp_path: Path) -> None:
    from torinvest import display

    inv = investigate(FINDING, sources_from_parameters(case_dir=str(sample_case().root)))
    html = display.next_steps(inv, {"status": "malicious"}).data
    assert "--execute would run with environment variables (AWS_ACCESS_KEY_ID testing)" in html
    assert "account 123837392027 (the finding&#x27;s)" in html
    assert "svc-backup-sync" in html and ASIA in html


# --------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------
def test_case_dry_run_calls_nothing(proxy: FaultProxy, tmp_path: Path) -> None:
    code, out, err = run(
        "actions", FINDING, "--case", str(sample_case().root), "--plan", "remediate",
        "--ledger", str(tmp_path / "l.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == (
        f"DRY RUN  aws iam update-access-key --user-name=benjamin --access-key-id={SUSPECT} "
        "--status=Inactive  # deactivate the suspect key first (delete only after the "
        "investigation)"
    )
    assert any(
        line.startswith("READ     aws iam list-access-keys") and line.endswith("(not run)")
        for line in lines
    )
    assert "dry run: 9 call(s) that change AWS were not made; re-run with --execute" in lines
    # the console password the key set: deleting it ends no console session already signed in,
    # so the sessions of its user are denied too (after --execute confirms the password's record)
    (deny,) = [
        line
        for line in lines
        if line.startswith(f"DRY RUN  aws iam put-user-policy --user-name={BACKDOOR_USER} ")
    ]
    assert lines.index(deny) == 1 + lines.index(
        f"DRY RUN  aws iam delete-login-profile --user-name={BACKDOOR_USER}  # undo "
        "CreateLoginProfile at 2023-07-10 12:17:19Z from 185.220.101.34 (--execute confirms its "
        f"record(s) with CloudTrail LookupEvents first: {PASSWORD_EVENT}, {CREATE_USER_EVENT})"
    )
    assert "--policy-name=AWSRevokeOlderSessions" in deny and "aws:TokenIssueTime" in deny
    # the document printed holds the plan's cutoff; the call's own is the time of the call
    assert "(--execute sets its aws:TokenIssueTime to the time of its call)" in deny
    assert (
        f"# end the console sessions of {BACKDOOR_USER}: CreateLoginProfile at 2023-07-10 "
        f"12:17:19Z (event {PASSWORD_EVENT.split()[1]}, by {SUSPECT}) set its console password"
    ) in deny
    assert f"no console sign-in of {BACKDOOR_USER} after it in the sources read" in deny
    # read over the finding's window, which ended: what was not read is said (was: not said)
    assert (
        "in the sources read up to the window"  # its 's is escaped in the printed comment
        in deny
    )
    assert (
        "end (2023-07-17T12:20:04Z): a sign-in after that was not read — run `torinvest "
        f"events --username={BACKDOOR_USER} --start=2023-07-10T12:17:19Z …` to read on (the "
        "deny covers any they do not hold)"
    ) in deny
    assert deny.endswith(
        f"(--execute confirms its record(s) with CloudTrail LookupEvents first: {PASSWORD_EVENT})"
    )
    assert f"torinvest verdict {FINDING} --status malicious" in err  # said, not refused
    assert "--execute would run with environment variables" in err
    assert proxy.calls() == []
    assert not (tmp_path / "l.jsonl").exists()


def test_sample_case_remediation_in_the_findings_account(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample story replayed in moto's account 123837392027, reached with --role-arn: the
    calls run in order, each answer is printed and ledgered, the inventory shows benjamin's
    other key, and the backdoor user — which moto created today, not at the story's time — is
    left alone: not one undo step on it, a human checks it."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    iam = iam_client(moto, SAMPLE_ACCOUNT)
    iam.create_user(UserName="benjamin")
    suspect = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    other = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName=BACKDOOR_USER)
    backdoor = iam.create_access_key(UserName=BACKDOOR_USER)["AccessKey"]["AccessKeyId"]
    iam.attach_user_policy(UserName=BACKDOOR_USER, PolicyArn=ADMIN)
    iam.create_login_profile(UserName=BACKDOOR_USER, Password="Xx-12345678!")
    case = sample_case_with(tmp_path, {SUSPECT: suspect, BACKDOOR_KEY: backdoor})
    case_in_history(case)  # the story's calls are CloudTrail's, not a forged log file's
    ledger = tmp_path / "ledger.jsonl"
    verdict(ledger, "malicious")
    proxy.clear()

    code, out, err = run(
        "actions", FINDING, "--case", str(case), "--plan", "remediate", "--execute",
        "--ledger", str(ledger), "--role-arn", f"arn:aws:iam::{SAMPLE_ACCOUNT}:role/responder",
    )  # fmt: skip
    assert code == 0, err
    assert ops(proxy, changes_only=True) == ["UpdateAccessKey", "PutUserPolicy"]
    assert ops(proxy)[:2] == ["AssumeRole", "GetCallerIdentity"]
    assert "following the malicious verdict of ana" in err
    assert f"benjamin has another active key {other}" in out
    assert f"benjamin's suspect key {suspect} is inactive" in out  # read after it was contained
    summary = out[out.index("summary of run") :]
    assert f"benjamin has another active key {other}" in summary
    assert "benjamin has no console password" in summary
    assert "left alone: user svc-backup-sync was created at" in summary
    assert "manual: rotate secret stratus-red-team-retrieve-secret-6" in summary
    assert f"revoked: {ASIA} (the deny on benjamin's tokens issued before the run)" in summary
    keys = iam.list_access_keys(UserName="benjamin")["AccessKeyMetadata"]
    assert {k["AccessKeyId"]: k["Status"] for k in keys} == {suspect: "Inactive", other: "Active"}
    assert len(iam.list_access_keys(UserName=BACKDOOR_USER)["AccessKeyMetadata"]) == 1
    assert len(iam.list_attached_user_policies(UserName=BACKDOOR_USER)["AttachedPolicies"]) == 1
    acts = assert_paired(read_ledger(ledger)[0])
    assert {r["caller_account"] for r in acts[2:]} == {SAMPLE_ACCOUNT}


def test_archive_command_needs_legitimate_and_the_right_account(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = guardduty_finding(fake_aws)
    ledger = tmp_path / "ledger.jsonl"
    verdict(ledger, "legitimate", raw["id"])
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    code, out, err = run(
        "actions", raw["id"], "--plan", "archive", "--suppress", "--scope", "principal", "--regions", "us-east-1",
        "--execute", "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    assert "EXECUTE  aws guardduty archive-findings --region=us-east-1" in out
    assert "2 change(s) done, 0 already done, 0 failed" in out
    assert fake_aws.archived_ids == {raw["id"]}
    code, out, err = run(
        "actions", raw["id"], "--plan", "archive", "--suppress", "--scope", "principal", "--regions", "us-east-1",
        "--execute", "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    assert "0 change(s) done, 2 already done, 0 failed" in out


def test_a_dry_run_says_which_verdict_execute_needs(tmp_path: Path) -> None:
    """runner.verdict_gap: the note of a dry run (the rule `torinvest actions` prints)."""
    ledger = tmp_path / "ledger.jsonl"
    gap = rn.verdict_gap(read_ledger(ledger)[0], FINDING, "remediate", ledger)
    assert gap is not None
    assert "no verdict is recorded on" in gap and "malicious or inconclusive" in gap
    assert f"torinvest verdict {FINDING} --status malicious" in gap and str(ledger) in gap
    verdict(ledger, "legitimate")
    records = read_ledger(ledger)[0]
    assert rn.verdict_gap(records, FINDING, "archive", ledger) is None
    assert "is legitimate" in (rn.verdict_gap(records, FINDING, "remediate") or "")


# --------------------------------------------------------------------------------------------
# the evidence's own account
# --------------------------------------------------------------------------------------------
OTHER_ACCOUNT = "999988887777"
CROSS_KEY = "ASIACROSSACCT0000001"


def _every_undo_kind() -> list[tuple[str, str, dict | None, dict | None]]:
    """One write of each kind the plan knows how to undo (and a catalogue-only write)."""
    iam, lam = "iam.amazonaws.com", "lambda.amazonaws.com"
    return [
        ("CreateUser", iam, {"userName": "ops-admin"}, {"user": {"userName": "ops-admin"}}),
        (
            "CreateAccessKey",
            iam,
            {"userName": "ops-admin"},
            {"accessKey": {"accessKeyId": "AKIACROSS00000000001", "userName": "ops-admin"}},
        ),
        (
            "UpdateAccessKey",
            iam,
            {"userName": "ops-admin", "accessKeyId": "AKIACROSS00000000002", "status": "Active"},
            None,
        ),
        ("CreateLoginProfile", iam, {"userName": "ops-admin"}, None),
        ("AttachUserPolicy", iam, {"userName": "ops-admin", "policyArn": ADMIN}, None),
        ("PutUserPolicy", iam, {"userName": "ops-admin", "policyName": "p"}, None),
        ("AddUserToGroup", iam, {"userName": "ops-admin", "groupName": "admins"}, None),
        ("AttachGroupPolicy", iam, {"groupName": "admins", "policyArn": ADMIN}, None),
        ("PutGroupPolicy", iam, {"groupName": "admins", "policyName": "p"}, None),
        ("CreateRole", iam, {"roleName": "r"}, None),
        ("AttachRolePolicy", iam, {"roleName": "r", "policyArn": ADMIN}, None),
        ("PutRolePolicy", iam, {"roleName": "r", "policyName": "p"}, None),
        (
            "CreatePolicy",
            iam,
            {"policyName": "p"},
            {"policy": {"arn": f"arn:aws:iam::{OTHER_ACCOUNT}:policy/p"}},
        ),
        ("EnableMFADevice", iam, {"userName": "ops-admin", "serialNumber": "arn:mfa/x"}, None),
        (
            "CreateVirtualMFADevice",
            iam,
            {"virtualMFADeviceName": "x"},
            {"virtualMFADevice": {"serialNumber": f"arn:aws:iam::{OTHER_ACCOUNT}:mfa/x"}},
        ),
        ("CreateFunction20150331", lam, {"functionName": "f"}, None),
        ("AddPermission20150331v2", lam, {"functionName": "f", "statementId": "s"}, None),
        ("StopLogging", "cloudtrail.amazonaws.com", {"name": "main-trail"}, None),
        (
            "GetSessionToken",
            "sts.amazonaws.com",
            {},
            {"credentials": {"accessKeyId": "ASIACROSSMINTED00001"}},
        ),
    ]


@pytest.mark.parametrize(
    "where",
    [
        {"recipientAccountId": OTHER_ACCOUNT},  # the account that logged it
        {  # no recipientAccountId: the caller's ARN says where
            "userIdentity": {
                "type": "AssumedRole",
                "accessKeyId": CROSS_KEY,
                "arn": f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/partner-access/s",
                "accountId": OTHER_ACCOUNT,
            }
        },
    ],
)
def test_writes_in_another_account_are_manual_steps_naming_it(where: dict[str, Any]) -> None:
    """Every undo derived from an event of another account is a manual step there: a call would
    go to the finding's account, where a same-named thing may be legitimate."""
    events = records_frame(_every_undo_kind(), key=CROSS_KEY, **where)
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP"), events, now=NOW)
    undo = [a for a in plan.actions if a.operation not in INVENTORY][2:]
    assert len(undo) >= len(_every_undo_kind()) - 1  # GetSessionToken: a revoke, not an undo
    assert all(a.manual and not a.params for a in undo), [a.cli() for a in undo if not a.manual]
    assert all(a.manual.startswith(f"in account {OTHER_ACCOUNT}") for a in undo)
    assert "delete-login-profile --user-name=ops-admin" in next(
        a.manual for a in undo if a.operation == "DeleteLoginProfile"
    )
    calls = [a for a in plan.changes]
    assert [a.operation for a in calls] == ["UpdateAccessKey", "PutUserPolicy"]
    assert all(a.params["UserName"] == "benjamin" for a in calls)
    assert "ASIACROSSMINTED00001" not in calls[1].targets  # minted there: revoked there


def test_the_same_writes_in_the_findings_account_are_undone() -> None:
    events = records_frame(_every_undo_kind(), key=CROSS_KEY, recipientAccountId=MOTO_ACCOUNT)
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP"), events, now=NOW)
    assert {"DeleteLoginProfile", "DeleteUser", "DeleteRole", "DeactivateMFADevice"} <= {
        a.operation for a in plan.changes
    }
    # no creation date to read: a manual step, the call to make only once checked
    assert {"DeleteFunction", "DeleteVirtualMFADevice", "RemovePermission"} <= {
        a.operation for a in plan.manual
    }


def test_a_run_never_undoes_another_accounts_writes_here(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """The tester's case: an AssumeRole'd key wrote to ops-admin in 999988887777; the finding's
    account has a legitimate ops-admin with a console password and the same policy."""
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="ops-admin")
    iam.create_login_profile(UserName="ops-admin", Password="Xx-12345678!")
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    arn = iam.create_policy(PolicyName="ops", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="ops-admin", PolicyArn=arn)
    iam_calls = [
        (
            "AttachUserPolicy",
            "iam.amazonaws.com",
            {"userName": "ops-admin", "policyArn": arn},
            None,
        ),
        ("CreateLoginProfile", "iam.amazonaws.com", {"userName": "ops-admin"}, None),
    ]
    events = records_frame(iam_calls, key=CROSS_KEY, recipientAccountId=OTHER_ACCOUNT)
    plan = ac.plan_remediation(key(key_id), events, now=NOW)
    printed: list[str] = []
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=printed.append)
    assert ops(proxy, changes_only=True) == ["UpdateAccessKey", "PutUserPolicy"]
    assert report.already == [] and report.failed == []
    assert iam.get_login_profile(UserName="ops-admin")["LoginProfile"]["UserName"] == "ops-admin"
    attached = iam.list_attached_user_policies(UserName="ops-admin")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [arn]
    summary = "\n".join(report.summary_lines())
    assert f"manual: in account {OTHER_ACCOUNT}: by hand: aws iam delete-login-profile" in summary


# --------------------------------------------------------------------------------------------
# an AWSRevokeOlderSessions already there
# --------------------------------------------------------------------------------------------
def _deny(actions: Any, before: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": actions,
                    "Resource": "*",
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": before}},
                }
            ],
        }
    )


@pytest.mark.usefixtures("cut_off_at_now")
@pytest.mark.parametrize("kind", ["user", "role"])
@pytest.mark.parametrize(
    "existing",
    [
        _deny("sqs:ListQueues", "2030-01-01T00:00:00Z"),  # too narrow
        _deny("*", "2020-01-01T00:00:00Z"),  # too early: the key's tokens are from 2023
        _deny(["*"], "2023-07-10T12:59:59Z"),  # a second before the plan's cutoff
    ],
    ids=["narrow", "early", "a-second-early"],
)
def test_a_revoke_policy_that_revokes_less_is_replaced(
    kind: str, existing: str, proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """An inline AWSRevokeOlderSessions that does not deny everything to the tokens the plan
    revokes is not "already done": it is replaced, printed as a change."""
    iam = iam_client(moto)
    if kind == "user":
        iam.create_user(UserName="benjamin")
        key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
        iam.put_user_policy(
            UserName="benjamin", PolicyName=ac.REVOKE_POLICY_NAME, PolicyDocument=existing
        )
        plan = ac.plan_remediation(key(key_id), None, now=NOW)
        put = "PutUserPolicy"
    else:
        trust = {"Version": "2012-10-17", "Statement": []}
        made = iam.create_role(RoleName="app-role", AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(
            RoleName="app-role", PolicyName=ac.REVOKE_POLICY_NAME, PolicyDocument=existing
        )
        loc = replace(
            key("ASIAXXXXXXXXXXXXXXXX", user="app-role", user_type="AssumedRole"),
            principal_id=f"{made['Role']['RoleId']}:i-0abc",
        )
        plan = ac.plan_remediation(loc, None, now=NOW)
        put = "PutRolePolicy"
    printed: list[str] = []
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=printed.append)
    assert put in ops(proxy, changes_only=True)
    assert report.already == [] and report.failed == []
    assert any(line.startswith("  replacing: the AWSRevokeOlderSessions") for line in printed)
    get = iam.get_user_policy if kind == "user" else iam.get_role_policy
    who = {"UserName": "benjamin"} if kind == "user" else {"RoleName": "app-role"}
    doc = get(**who, PolicyName=ac.REVOKE_POLICY_NAME)["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    assert doc["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"] == (
        "2023-07-10T13:00:00Z"
    )


@pytest.mark.usefixtures("cut_off_at_now")
def test_a_revoke_policy_that_revokes_as_much_is_already_done(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    iam.put_user_policy(
        UserName="benjamin",
        PolicyName=ac.REVOKE_POLICY_NAME,
        PolicyDocument=_deny("*", "2023-07-10T14:00:00Z"),
    )
    plan = ac.plan_remediation(key(key_id), None, now=NOW)
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert "PutUserPolicy" not in ops(proxy, changes_only=True)
    assert [r.action.operation for r in report.already] == ["PutUserPolicy"]


# --------------------------------------------------------------------------------------------
# plans from incomplete evidence
# --------------------------------------------------------------------------------------------
def test_a_plan_from_incomplete_evidence_says_so_first() -> None:
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP"), None, now=NOW, data_issues=2)
    assert plan.notes[0] == (
        "built from incomplete evidence: 2 data issue(s); changes in what could not be read are "
        "not in this plan"
    )
    assert not any("incomplete" in n for n in ac.plan_remediation(key("AKIAX"), None).notes)


def test_a_truncated_log_file_is_said_at_the_top_of_the_plan(tmp_path: Path) -> None:
    case = sample_case_with(tmp_path, {})
    log = sorted(case.rglob("*.json.gz"))[-1]
    log.write_bytes(log.read_bytes()[:200])  # cut mid-stream
    code, _out, err = run(
        "actions", FINDING, "--case", str(case), "--plan", "remediate",
        "--ledger", str(tmp_path / "l"),
    )  # fmt: skip
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("torinvest: note:")]
    # the cut file is one of the issues (the case's trail also holds one day of the window)
    issues = [ln for ln in err.splitlines() if ln.startswith("torinvest: issue:")]
    # counted as printed (and as the report and summary.json count them: the trail's three
    # region folders without a log file those days are one issue, not three)
    assert notes[0].startswith(f"torinvest: note: built from incomplete evidence: {len(issues)} ")
    assert any(log.name in ln for ln in issues)


def test_a_finding_without_its_user_takes_it_from_the_keys_events() -> None:
    events = records_frame([("ListUsers", "iam.amazonaws.com", {}, None)] * 3)
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP", user=""), events, now=NOW)
    first = plan.actions[0]
    assert (first.operation, first.params["UserName"]) == ("UpdateAccessKey", "benjamin")
    assert plan.notes[0] == (
        "the finding names no user: benjamin is the user of AKIATFQR7NSCUXC3DDDP in all 3 "
        "CloudTrail event(s) made with it (userIdentity.userName, written by AWS)"
    )


@pytest.mark.parametrize(
    ("names", "said"),
    [([None, None], "the events made with it name none"), (["a", "b"], "name several (a, b)")],
)
def test_a_finding_without_its_user_says_why_there_is_no_deactivation(
    names: list[str | None], said: str
) -> None:
    frames = [
        records_frame([("ListUsers", "iam.amazonaws.com", {}, None)], prefix=f"n{i}").assign(
            user_name=pd.Series([n], dtype="category")
        )
        for i, n in enumerate(names)
    ]
    from torinvest.events import combine_frames

    plan = ac.plan_remediation(
        key("AKIATFQR7NSCUXC3DDDP", user=""), combine_frames(frames), now=NOW
    )
    assert plan.changes == []
    (note,) = plan.notes
    assert (
        note.startswith("the finding names no user for key AKIATFQR7NSCUXC3DDDP") and said in note
    )
    assert "IAMUser principal" not in note


def test_undo_steps_on_a_user_the_activity_renamed_are_manual_under_its_new_name() -> None:
    """The actor created backdoor, gave it a console password, then renamed it backdoor2: a call
    under the old name would find nothing ("already done") while backdoor2 lives on — so each
    undo step is a manual one for backdoor2, and the rename is named."""
    iam = "iam.amazonaws.com"
    events = records_frame(
        [
            ("CreateUser", iam, {"userName": "backdoor"}, None),
            ("CreateLoginProfile", iam, {"userName": "backdoor"}, None),
            ("UpdateUser", iam, {"userName": "backdoor", "newUserName": "backdoor2"}, None),
        ]
    )
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP"), events, now=NOW)
    assert [a.operation for a in plan.changes] == ["UpdateAccessKey", "PutUserPolicy"]
    steps = {a.operation: a.manual or "" for a in plan.manual}
    assert "renamed user backdoor to backdoor2" in steps["UpdateUser"]
    for op, cli in (("DeleteLoginProfile", "delete-login-profile"), ("DeleteUser", "delete-user")):
        assert "the activity renamed user backdoor to backdoor2" in steps[op]
        assert f"aws iam {cli} --user-name=backdoor2" in steps[op]


# --------------------------------------------------------------------------------------------
# evidence older than LookupEvents' 90 days: the trail's log files (--logs), as investigate
# --------------------------------------------------------------------------------------------
def _old_finding_in_guardduty(fake_aws: FakeAws) -> str:
    """The sample finding (July 2023: far beyond LookupEvents' 90 days) in GuardDuty."""
    return str(guardduty_finding(fake_aws)["id"])


def test_an_old_findings_remediation_plan_reads_the_trails_log_files(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finding older than 90 days: without log files the command says to give --logs — an
    option it takes —, and with --logs (and the engine options investigate has) the dry run
    is built from the trail's files: the undo steps of the activity they hold."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    finding = _old_finding_in_guardduty(fake_aws)
    logs = str(sample_case().root / "cloudtrail")
    base = ["actions", finding, "--regions", "us-east-1", "--plan", "remediate"]
    base += ["--ledger", str(tmp_path / "l.jsonl")]
    code, out, err = run(*base)
    assert code == 1 and "more than 90 days ago" in err and "--logs" in err
    for engine in ("files", "duckdb"):
        code, out, err = run(*base, "--logs", logs, "--engine", engine, "--max-file-mb", "64")
        assert code == 0, err
        assert (
            f"DRY RUN  aws iam update-access-key --user-name=benjamin --access-key-id={SUSPECT}"
            in out
        )
        assert f"DRY RUN  aws iam delete-login-profile --user-name={BACKDOOR_USER}" in out
        assert "Traceback" not in err and "unrecognized arguments" not in err
        # the log files cover what LookupEvents no longer keeps: not a data issue (the
        # --regions narrowing of the log files is one: the other regions' files are left out)
        issues = [ln for ln in err.splitlines() if ln.startswith("torinvest: issue:")]
        assert issues and not any("LookupEvents" in ln for ln in issues), err
        assert "built from incomplete evidence: " in err


def test_an_old_findings_verdict_stores_the_evidence_of_the_trails_log_files(
    fake_aws: FakeAws, moto: str, tmp_path: Path
) -> None:
    """`verdict` with AWS options and --logs investigates as `investigate` does: the evidence of
    a finding older than 90 days comes from the log files."""
    finding = _old_finding_in_guardduty(fake_aws)
    ledger = tmp_path / "l.jsonl"
    code, _, err = run(
        "verdict", finding, "--status", "malicious", "--analyst", "ana", "--rationale", "r",
        "--regions", "us-east-1", "--logs", str(sample_case().root / "cloudtrail"),
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    (record,) = [r for r in read_ledger(ledger)[0] if r.get("kind") == "verdict"]
    assert record["access_key_id"] == SUSPECT
    assert record["evidence"]["events"] > 0, record["evidence"]


# --------------------------------------------------------------------------------------------
# verdicts on evidence that could not look
# --------------------------------------------------------------------------------------------
def _unreadable_case(root: Path) -> Path:
    """The sample case with every log file cut short: no activity source can be read."""
    case = sample_case_with(root, {})
    for log in case.rglob("*.json.gz"):
        log.write_bytes(log.read_bytes()[:100])
    return case


def test_a_legitimate_verdict_that_could_not_look_is_said_and_never_archived(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`verdict --case` whose evidence read none of the key's activity says so (the issues and
    COULD NOT LOOK), stores it (evidence.reading), and the archive refuses to follow it — a dry
    run says it would — before any call: archiving would hide a finding nobody could read."""
    raw = guardduty_finding(fake_aws)
    ledger = tmp_path / "ledger.jsonl"
    code, _out, err = run(
        "verdict", raw["id"], "--status", "legitimate", "--analyst", "ana", "--rationale", "ok",
        "--case", str(_unreadable_case(tmp_path)), "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    assert "torinvest: issue: activity: nothing could be loaded" in err
    assert (
        "torinvest: note: partial result: COULD NOT LOOK: this verdict's evidence read none" in err
    )
    (record,) = read_ledger(ledger)[0]
    assert record["evidence"]["reading"] == "could not look"
    assert "cannot decompress" in record["evidence"]["could_not_look"]
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    base = ["actions", raw["id"], "--plan", "archive", "--regions", "us-east-1"]
    base += ["--ledger", str(ledger)]
    code, _out, err = run(*base)
    assert code == 0, err
    assert "--execute would be refused: the legitimate verdict" in err
    proxy.clear()
    code, _out, err = run(*base, "--suppress", "--scope", "key", "--execute")
    assert code == EXIT_REFUSED
    assert "refused: the legitimate verdict" in err and "could not look" in err
    assert "nothing was called" in err and "Traceback" not in err
    assert proxy.calls() == [] and fake_aws.archived_ids == set() and fake_aws.filters == []


def test_a_verdict_on_incomplete_evidence_says_so_and_the_archive_follows_it(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Evidence read in part (data issues) is said as INCOMPLETE and stored; it does not stop
    an archive (the analyst read what there was)."""
    raw = guardduty_finding(fake_aws)
    ledger = tmp_path / "ledger.jsonl"
    code, _, err = run(
        "verdict", raw["id"], "--status", "legitimate", "--analyst", "ana", "--rationale", "ok",
        "--case", str(sample_case().root), "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    assert "torinvest: issue: " in err and "torinvest: note: partial result: INCOMPLETE: " in err
    assert read_ledger(ledger)[0][0]["evidence"]["reading"] == "incomplete"
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    code, _out, err = run(
        "actions", raw["id"], "--plan", "archive", "--regions", "us-east-1", "--execute",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    assert fake_aws.archived_ids == {raw["id"]}


def test_a_remediation_plan_that_could_not_look_never_reads_as_nothing_to_undo(
    tmp_path: Path,
) -> None:
    """No activity source read: the plan holds the finding's key only, and both the first note
    and the summary on stdout (what a ticket gets) say COULD NOT LOOK — not "incomplete", and
    not a short plan that reads as "nothing to undo"; evidence read in part says INCOMPLETE."""
    base = ["actions", FINDING, "--plan", "remediate", "--ledger", str(tmp_path / "l")]
    code, out, err = run(*base, "--case", str(_unreadable_case(tmp_path / "none")))
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("torinvest: note:")]
    assert notes[0].startswith(
        "torinvest: note: built without the key's activity: COULD NOT LOOK at the key's activity "
        "(nothing could be loaded: "
    )
    summary = out[out.index("dry run") :]
    assert "  evidence: COULD NOT LOOK at the key's activity (" in summary
    assert "no undo step, minted-key revocation or rotation is in this plan" in summary
    assert "built from incomplete evidence" not in err
    code, out, err = run(*base, "--case", str(sample_case().root))
    assert code == 0, err
    summary = out[out.index("dry run") :]
    assert "  evidence: INCOMPLETE: " in summary and "COULD NOT LOOK" not in out + err


def test_credentials_minted_without_their_key_in_the_record_are_never_left_unsaid(
    tmp_path: Path,
) -> None:
    """A lookup-events export whose Events lack CloudTrailEvent (rebuilt from LookupEvents' own
    fields: no request, no response) and a record with responseElements null: the keys those
    AssumeRole and GetSessionToken calls minted are not named, but they are valid — the plan
    says what revokes them (a manual step on the role, named when the request names it; the
    user's deny covers its GetSessionToken, said there), never silence ("no key minted")."""
    case = sample_case_with(tmp_path, {})
    rebuilt = [
        {"EventId": f"rb{i}", "EventName": name, "EventSource": "sts.amazonaws.com",
         "ReadOnly": "false", "AccessKeyId": SUSPECT, "EventTime": f"2023-07-10T12:3{i}:00Z",
         "Username": "benjamin"}
        for i, name in enumerate(("AssumeRole", "GetSessionToken"))
    ]  # fmt: skip
    (case / "cloudtrail" / "lookup.json").write_text(json.dumps({"Events": rebuilt}))
    role = f"arn:aws:iam::{SAMPLE_ACCOUNT}:role/ops-admin"
    record = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "accessKeyId": SUSPECT, "userName": "benjamin",
                         "accountId": SAMPLE_ACCOUNT},
        "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "awsRegion": "us-east-1",
        "sourceIPAddress": "185.220.101.34", "eventTime": "2023-07-10T12:35:00Z",
        "eventID": "null-response", "recipientAccountId": SAMPLE_ACCOUNT,
        "requestParameters": {"roleArn": role, "roleSessionName": "x"},
        "responseElements": None,
    }  # fmt: skip
    (case / "cloudtrail" / "more.json").write_text(json.dumps({"Records": [record]}))
    code, out, err = run(
        "actions", FINDING, "--case", str(case), "--plan", "remediate",
        "--ledger", str(tmp_path / "l"),
    )  # fmt: skip
    assert code == 0, err
    manual = [line for line in out.splitlines() if line.startswith("  manual: ")]
    assert any(
        "AssumeRole at 2023-07-10 12:30:00Z (event rb0" in m
        and "the role it assumed is not recorded either" in m
        for m in manual
    ), manual
    assert any(
        "AssumeRole at 2023-07-10 12:35:00Z (event null-response" in m
        and "attach AWSRevokeOlderSessions to role ops-admin" in m
        for m in manual
    ), manual
    deny = next(line for line in out.splitlines() if "put-user-policy --user-name=benjamin" in line)
    assert "revokes the unnamed key of GetSessionToken at 2023-07-10 12:31:00Z (event rb1" in deny


def test_the_notebook_plans_of_a_reading_that_could_not_look_say_so(tmp_path: Path) -> None:
    """The report's plan cards of a reading that read nothing: the remediation says COULD NOT
    LOOK first (not "incomplete"), the archive that a legitimate verdict from it is not
    followed."""
    from torinvest import display

    case = _unreadable_case(tmp_path)
    inv = investigate(FINDING, sources_from_parameters(case_dir=str(case)))
    html = display.next_steps(inv, {"status": "pending"}).data
    archive, remediation = html.split("If not legitimate: remediation plan")
    assert "COULD NOT LOOK at the key&#x27;s activity (nothing could be loaded" in archive
    assert "is not followed by --execute" in archive
    assert "built without the key&#x27;s activity: COULD NOT LOOK" in remediation
    assert "built from incomplete evidence" not in html


def test_a_verdict_recorded_again_after_could_not_look_is_what_the_archive_follows(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The way out the refusal names works: the same decision (analyst, rationale) recorded
    again with evidence that read the activity — or with none — is a new record (it was "already
    recorded: nothing added", and the archive stayed refused); recorded again blind, it is not."""
    raw = guardduty_finding(fake_aws)
    ledger = tmp_path / "ledger.jsonl"
    blind = _unreadable_case(tmp_path / "blind")
    base = ["verdict", raw["id"], "--status", "legitimate", "--analyst", "ana"]
    base += ["--rationale", "ok", "--ledger", str(ledger)]
    assert run(*base, "--case", str(blind))[0] == 0
    code, out, _ = run(*base, "--case", str(blind))
    assert code == 0 and out.startswith("already recorded: ")
    code, out, err = run(*base, "--case", str(sample_case().root))
    assert code == 0 and out.startswith("recorded: legitimate"), out + err
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    code, _out, err = run(
        "actions", raw["id"], "--plan", "archive", "--regions", "us-east-1", "--execute",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    assert fake_aws.archived_ids == {raw["id"]}
    assert run(*base)[1].startswith("already recorded: ")  # it read the activity: the same
