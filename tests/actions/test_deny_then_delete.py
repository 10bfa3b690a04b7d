"""A principal the plan both denies and deletes: the deny is removed just before the delete.

The activity created a role and assumed it, or created a user and minted a session from the key
it gave it (and set its password): the plan puts AWSRevokeOlderSessions on that principal (the
sessions outlive the key) and deletes it (the activity created it). IAM refuses DeleteUser and
DeleteRole with DeleteConflict while an inline policy is attached ("You must delete the items
attached to the user manually": the DeleteUser and DeleteRole references; moto does the same):
without the removal, the attacker's role or user survived the run. With it, the deny is taken
off under the delete's own checks, and put back at once when the delete then fails. IAM in moto;
CloudTrail's Event history in tests/fake_aws (``records_frame``'s genuine records are put
there)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.actions.test_actions import (  # noqa: F401  (fixtures: "proxy", "cut_off_at_now")
    FINDING,
    MOTO_ACCOUNT,
    NOW,
    SAMPLE_ACCOUNT,
    cut_off_at_now,
    iam_client,
    in_history,
    key,
    ops,
    proxy_fixture,
    records_frame,
    run,
)
from tests.fake_aws.proxy import DENIED, FaultProxy
from torinvest import actions as ac
from torinvest import runner as rn
from torinvest.actions.archive import revoke_older_sessions_policy
from torinvest.aws import Aws
from torinvest.case import sample_case
from torinvest.events import combine_frames
from torinvest.verdict import make_verdict, read_ledger, record_verdict

#: the runner's LookupEvents confirmations unpaced (quick_lookups, tests/conftest.py)
pytestmark = pytest.mark.usefixtures("quick_lookups")

IAM = "iam.amazonaws.com"
STS = "sts.amazonaws.com"
TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":'
    f'"arn:aws:iam::{MOTO_ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}'
)
SESSION_KEY = "ASIAQNZGKYQ7BACKDOOR"


def _assume_role(role_arn: str, role_id: str, session: str = "s") -> dict[str, Any]:
    return {
        "credentials": {
            "accessKeyId": SESSION_KEY,
            "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE",
            "expiration": "Jul 10, 2023, 1:20:04 PM",
        },
        "assumedRoleUser": {
            "assumedRoleId": f"{role_id}:{session}",
            "arn": f"{role_arn.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}"
            f"/{session}",
        },
    }


def _created_role(iam: Any, suspect: str) -> pd.DataFrame:
    """The suspect key creates role backdoor and assumes it (moto's role, the records at its
    creation time)."""
    role = iam.create_role(RoleName="backdoor", AssumeRolePolicyDocument=TRUST)["Role"]
    return records_frame(
        [
            (
                "CreateRole",
                IAM,
                {"roleName": "backdoor", "assumeRolePolicyDocument": TRUST},
                {
                    "role": {
                        "path": "/",
                        "roleName": "backdoor",
                        "roleId": role["RoleId"],
                        "arn": role["Arn"],
                        "createDate": f"{role['CreateDate']:%b %d, %Y, %I:%M:%S %p}",
                    }
                },
            ),
            (
                "AssumeRole",
                STS,
                {"roleArn": role["Arn"], "roleSessionName": "s"},
                _assume_role(role["Arn"], role["RoleId"]),
            ),
        ],
        key=suspect,
        start=pd.Timestamp(role["CreateDate"]),
    )


def _created_user(iam: Any, suspect: str, *, password: bool) -> pd.DataFrame:
    """The suspect key creates user svc and a key for it; that key mints a session
    (GetSessionToken); ``password``: the suspect key also sets svc's console password."""
    svc = iam.create_user(UserName="svc")["User"]
    made = iam.create_access_key(UserName="svc")["AccessKey"]["AccessKeyId"]
    if password:
        iam.create_login_profile(UserName="svc", Password="Xx-12345678!")
    start = pd.Timestamp(svc["CreateDate"])
    calls = [
        (
            "CreateUser",
            IAM,
            {"userName": "svc"},
            {"user": {"userName": "svc", "userId": svc["UserId"]}},
        ),
        (
            "CreateAccessKey",
            IAM,
            {"userName": "svc"},
            {"accessKey": {"accessKeyId": made, "userName": "svc", "status": "Active"}},
        ),
    ]
    if password:
        calls.append(("CreateLoginProfile", IAM, {"userName": "svc"}, None))
    by_suspect = records_frame(calls, key=suspect, start=start)
    minted = records_frame(
        [
            (
                "GetSessionToken",
                STS,
                {"durationSeconds": 3600},
                {
                    "credentials": {
                        "accessKeyId": SESSION_KEY,
                        "expiration": "Jul 10, 2023, 1:20:04 PM",
                    }
                },
            )
        ],
        key=made,
        prefix="m",
        start=start + pd.Timedelta(minutes=5),
        userIdentity={
            "type": "IAMUser",
            "accessKeyId": made,
            "userName": "svc",
            "accountId": MOTO_ACCOUNT,
            "principalId": svc["UserId"],
            "arn": f"arn:aws:iam::{MOTO_ACCOUNT}:user/svc",
        },
    )
    return combine_frames([by_suspect, minted])


def _run(
    moto: str, tmp_path: Path, made: str, **kw: Any
) -> tuple[Any, ac.Plan, rn.RunReport, list[str], Path]:
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    suspect = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    events = (
        _created_role(iam, suspect)
        if made == "role"
        else _created_user(iam, suspect, password=made == "user+password")
    )
    plan = ac.plan_remediation(key(suspect), events, now=NOW)
    ledger = tmp_path / "ledger.jsonl"
    printed: list[str] = []
    report = rn.carry_out(Aws(), plan, execute=True, ledger=ledger, echo=printed.append, **kw)
    return iam, plan, report, printed, ledger


def _kind(made: str) -> tuple[str, str, str]:
    return ("Role", "backdoor", "role") if made == "role" else ("User", "svc", "user")


def _exists(iam: Any, kind: str, name: str) -> bool:
    try:
        getattr(iam, f"get_{kind.lower()}")(**{f"{kind}Name": name})
    except iam.exceptions.NoSuchEntityException:
        return False
    return True


@pytest.mark.usefixtures("cut_off_at_now")
@pytest.mark.parametrize("made", ["role", "user", "user+password"])
def test_a_principal_denied_and_created_by_the_activity_is_deleted(
    proxy: FaultProxy, moto: str, tmp_path: Path, made: str
) -> None:
    """The deny goes on, its sessions end; then it comes off just before the delete, under the
    delete's checks, and the delete succeeds (was: DeleteConflict, the backdoor kept, exit 6)."""
    kind, name, word = _kind(made)
    iam, plan, report, printed, ledger = _run(moto, tmp_path, made)
    steps = [(a.operation, a.params.get(f"{kind}Name")) for a in plan.changes]
    deny, removal, delete = (
        (f"Put{kind}Policy", name),
        (f"Delete{kind}Policy", name),
        (
            f"Delete{kind}",
            name,
        ),
    )
    assert steps.count(deny) == 1 and steps.count(removal) == 1
    assert steps.index(deny) < steps.index(removal) == steps.index(delete) - 1
    (off,) = [a for a in plan.changes if (a.operation, a.params.get(f"{kind}Name")) == removal]
    (gone,) = [a for a in plan.changes if (a.operation, a.params.get(f"{kind}Name")) == delete]
    assert off.params["PolicyName"] == ac.REVOKE_POLICY_NAME
    # the delete's own checks: the same creation date, ID and records
    assert (off.created_at, off.identity, off.records) == (
        gone.created_at,
        gone.identity,
        gone.records,
    )
    assert off.created_at and off.identity and off.identity[0] == kind
    assert report.failed == [] and report.left_alone == [] and report.unknown == []
    assert rn.exit_problem(report) is None
    assert not _exists(iam, kind, name)
    executed = [p.split(" --")[0] for p in printed if p.startswith("EXECUTE  ")]
    at = executed.index(f"EXECUTE  aws iam delete-{word}-policy")
    assert executed[at + 1] == f"EXECUTE  aws iam delete-{word}"
    assert executed.index(f"EXECUTE  aws iam put-{word}-policy") < at
    summary = "\n".join(report.summary_lines())
    assert f"revoked: {SESSION_KEY} (the deny on {name}'s tokens issued before the run)" in summary
    assert (
        f"deny removed: {word} {name} ({ac.REVOKE_POLICY_NAME} taken off just before its "
        f"Delete{kind}, which deleted it: its sessions issued before the deny end with it)"
    ) in summary
    acts = [r for r in read_ledger(ledger)[0] if r.get("kind") == "action"]
    removed = next(
        r
        for r in acts
        if r["phase"] == "start" and r["action"]["operation"] == f"Delete{kind}Policy"
    )
    assert f"IAM deletes no {word} with an inline policy" in removed["action"]["why"]


@pytest.mark.usefixtures("cut_off_at_now")
@pytest.mark.parametrize("made", ["role", "user"])
def test_a_delete_that_fails_after_the_removal_puts_the_deny_back(
    proxy: FaultProxy, moto: str, tmp_path: Path, made: str
) -> None:
    """The delete refused after the deny came off: the deny is put back at once (printed,
    ledgered, the plan's document), and the summary says the principal still holds it."""
    kind, name, word = _kind(made)
    proxy.fault(f"Delete{kind}", DENIED)
    iam, _plan, report, printed, _ledger = _run(moto, tmp_path, made)
    assert ops(proxy, changes_only=True)[-3:] == [
        f"Delete{kind}Policy",
        f"Delete{kind}",
        f"Put{kind}Policy",
    ]
    assert _exists(iam, kind, name)
    listed = getattr(iam, f"list_{word}_policies")(**{f"{kind}Name": name})["PolicyNames"]
    assert listed == [ac.REVOKE_POLICY_NAME]
    doc = getattr(iam, f"get_{word}_policy")(
        **{f"{kind}Name": name, "PolicyName": ac.REVOKE_POLICY_NAME}
    )["PolicyDocument"]
    assert doc == revoke_older_sessions_policy(NOW)
    executed = [p for p in printed if p.startswith("EXECUTE  aws iam ")]
    assert executed[-1].startswith(f"EXECUTE  aws iam put-{word}-policy --{word}-name={name} ")
    (kept,) = report.kept
    assert kept.in_force
    summary = "\n".join(report.summary_lines())
    assert (
        f"deny kept: {word} {name} still holds {ac.REVOKE_POLICY_NAME} (its Delete{kind} failed"
    ) in summary
    assert "deny removed:" not in summary
    assert [r.action.operation for r in report.failed] == [f"Delete{kind}"]


# --------------------------------------------------------------------------------------------
# the user's path: `torinvest actions FINDING --case … --plan remediate --execute`
# --------------------------------------------------------------------------------------------
def _case(root: Path, suspect: str, role: dict[str, Any]) -> Path:
    """A case folder: the sample case's finding, naming ``suspect`` and seen at ``role``'s
    creation, and one CloudTrail log file in which the suspect key creates the role and assumes
    it (the records in CloudTrail's Event history too: genuine)."""
    seen = pd.Timestamp(role["CreateDate"]).tz_convert("UTC").floor("s")
    stamp = f"{seen:%Y-%m-%dT%H:%M:%SZ}"
    raw = json.loads((sample_case().root / "findings" / "get-findings.json").read_text())
    finding = next(f for f in raw["Findings"] if f["Id"] == FINDING)
    finding["Resource"]["AccessKeyDetails"]["AccessKeyId"] = suspect
    finding["Service"]["EventFirstSeen"] = finding["Service"]["EventLastSeen"] = stamp
    finding["CreatedAt"] = finding["UpdatedAt"] = stamp
    (root / "findings").mkdir(parents=True)
    (root / "findings" / "get-findings.json").write_text(json.dumps({"Findings": [finding]}))
    identity = {
        "type": "IAMUser",
        "principalId": "AIDATFQR7NSC5U6Q3TMDR",
        "arn": f"arn:aws:iam::{SAMPLE_ACCOUNT}:user/benjamin",
        "accountId": SAMPLE_ACCOUNT,
        "accessKeyId": suspect,
        "userName": "benjamin",
    }
    made = {
        "path": "/",
        "roleName": "backdoor",
        "roleId": role["RoleId"],
        "arn": role["Arn"],
        "createDate": f"{seen:%b %d, %Y, %I:%M:%S %p}",
    }
    calls = [
        (
            "iam",
            "CreateRole",
            {"roleName": "backdoor", "assumeRolePolicyDocument": TRUST},
            {"role": made},
        ),
        (
            "sts",
            "AssumeRole",
            {"roleArn": role["Arn"], "roleSessionName": "s"},
            _assume_role(role["Arn"], role["RoleId"]),
        ),
    ]
    records = [
        {
            "eventVersion": "1.08",
            "userIdentity": identity,
            "eventTime": stamp,  # the same second (a later one may be after the run's now)
            "eventSource": f"{service}.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "185.220.101.34",
            "userAgent": "aws-cli/2.13.0",
            "requestParameters": req,
            "responseElements": resp,
            "eventID": f"0b1c2d3e-0000-4000-8000-00000000000{i}",
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": SAMPLE_ACCOUNT,
            "eventCategory": "Management",
        }
        for i, (service, name, req, resp) in enumerate(calls)
    ]
    in_history(records)
    day = root / "cloudtrail" / "AWSLogs" / SAMPLE_ACCOUNT / "CloudTrail" / "us-east-1"
    day = day / f"{seen:%Y/%m/%d}"
    day.mkdir(parents=True)
    name = f"{SAMPLE_ACCOUNT}_CloudTrail_us-east-1_{seen:%Y%m%dT%H%M}Z_AbCdEfGhIjKlMnOp.json.gz"
    (day / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return root


def test_actions_execute_deletes_the_role_the_key_created_and_assumed(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the command: the role's sessions are revoked, the deny removed, the role deleted,
    exit 0 (was: `failed: DeleteRole backdoor: … DeleteConflict: Cannot delete entity, must
    delete policies first.`, the backdoor role kept, exit 6)."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    suspect = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    role = iam.create_role(RoleName="backdoor", AssumeRolePolicyDocument=TRUST)["Role"]
    case = _case(tmp_path / "case", suspect, role)
    ledger = tmp_path / "ledger.jsonl"
    record_verdict(
        make_verdict(
            FINDING,
            status="malicious",
            analyst="ana",
            rationale="read the activity",
            access_key_id=suspect,
            evidence={"reading": "complete"},
            now=pd.Timestamp("2024-01-01T00:00:00Z"),
        ),
        ledger,
    )
    proxy.clear()
    code, out, err = run(
        "actions", FINDING, "--case", str(case), "--plan", "remediate", "--execute",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err + out
    assert ops(proxy, changes_only=True) == [
        "UpdateAccessKey",
        "PutUserPolicy",
        "PutRolePolicy",
        "DeleteRolePolicy",
        "DeleteRole",
    ]
    assert not _exists(iam, "Role", "backdoor")
    summary = out[out.index("summary of run") :]
    assert "0 failed" in summary
    assert f"revoked: {SESSION_KEY} (the deny on backdoor's tokens issued before the run)" in (
        summary
    )
    assert "deny removed: role backdoor (AWSRevokeOlderSessions taken off just before its " in (
        summary
    )
