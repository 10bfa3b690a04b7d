"""Forged log records: ``actions --execute`` undoes nothing a record says unless CloudTrail's Event
history (LookupEvents by its event ID) holds it as the record says.

Log files are files: whoever can write the trail's bucket (the compromised key often can) or the
case folder can add "the Tor key called CreateUser admin" with admin's real CreateDate and user
ID. IAM in moto; CloudTrail's Event history in tests/fake_aws (the genuine records of
``records_frame`` are put there; ``genuine=False`` makes a forged log file's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.actions.test_actions import (  # noqa: F401  (proxy_fixture: the fixture "proxy")
    iam_client,
    key,
    persistence_events,
    proxy_fixture,
    records_frame,
)
from tests.fake_aws import FakeAws
from tests.fake_aws.proxy import FaultProxy
from torinvest import actions as ac
from torinvest import runner as rn
from torinvest.aws import Aws
from torinvest.verdict import read_ledger

IAM = "iam.amazonaws.com"
DELETES = {
    "DeleteUser",
    "DeleteLoginProfile",
    "DeleteAccessKey",
    "DetachUserPolicy",
    "RemoveUserFromGroup",
}


def _setup(moto: str) -> tuple[Any, str]:
    """benjamin (the suspect key's user) and its key; returns (iam, key ID)."""
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    return iam, iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]


def _run(events: pd.DataFrame, suspect: str, ledger: Path) -> tuple[rn.RunReport, list[str]]:
    out: list[str] = []
    plan = ac.plan_remediation(key(suspect), events)
    report = rn.carry_out(Aws(), plan, execute=True, ledger=ledger, echo=out.append)
    return report, out


def _undone(proxy: FaultProxy) -> list[str]:
    return [c.operation for c in proxy.calls() if c.operation in DELETES]


def _left(report: rn.RunReport) -> dict[str, str]:
    return {r.action.operation: str(r.note) for r in report.left_alone}


def test_forged_create_user_leaves_the_real_admin(
    proxy: FaultProxy, moto: str, fake_aws: FakeAws, tmp_path: Path
) -> None:
    """The probe: a forged CreateUser admin (admin's real CreateDate and user ID), a forged
    CreateLoginProfile and AttachUserPolicy on it: admin keeps its login profile, its policy and
    itself; each step is left alone saying the record is not in the Event history of us-east-1."""
    iam, suspect = _setup(moto)
    made = iam.create_user(UserName="admin")["User"]
    iam.create_login_profile(UserName="admin", Password="Xx-12345678!")
    doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
    arn = iam.create_policy(PolicyName="ops-admin", PolicyDocument=doc)["Policy"]["Arn"]
    iam.attach_user_policy(UserName="admin", PolicyArn=arn)
    when = pd.Timestamp(made["CreateDate"]).tz_convert("UTC")
    forged = records_frame(
        [
            (
                "CreateUser",
                IAM,
                {"userName": "admin"},
                {"user": {"userName": "admin", "userId": made["UserId"]}},
            ),
            ("CreateLoginProfile", IAM, {"userName": "admin"}, None),
            ("AttachUserPolicy", IAM, {"userName": "admin", "policyArn": arn}, None),
        ],
        start=when,
        key=suspect,
        genuine=False,
    )
    report, out = _run(forged, suspect, tmp_path / "ledger")
    assert _undone(proxy) == []
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["benjamin", "admin"]
    assert iam.get_login_profile(UserName="admin")["LoginProfile"]["UserName"] == "admin"
    attached = iam.list_attached_user_policies(UserName="admin")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [arn]
    # nor is a deny put on admin's console sessions (the forged CreateLoginProfile's), nor one
    # removed
    assert iam.list_user_policies(UserName="admin")["PolicyNames"] == []
    left = _left(report)
    assert set(left) == {
        "DeleteUser",
        "DeleteLoginProfile",
        "DetachUserPolicy",
        "PutUserPolicy",
        "DeleteUserPolicy",
    }
    for note in left.values():
        assert "is not in CloudTrail's Event history of us-east-1" in note
        assert "a forged record" in note and "older than 90 days" in note
    assert not report.done or all(r.action.operation not in DELETES for r in report.done)
    # each record looked up once (the delete and the detach share the CreateUser's look-up)
    looked = fake_aws.calls("LookupEvents", region="us-east-1")
    assert len(looked) == 3
    # the look-ups are ledgered like other CHECK reads
    records = read_ledger(tmp_path / "ledger")[0]
    checks = [
        r
        for r in records
        if r.get("phase") == "start" and r["action"]["operation"] == "LookupEvents"
    ]
    assert len(checks) == 3
    assert any("e0" in line and "lookup-events" in line for line in out)


def test_forged_create_access_key_leaves_anothers_key(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """A forged CreateAccessKey naming alice's real key: the key is neither deactivated nor
    deleted."""
    iam, suspect = _setup(moto)
    iam.create_user(UserName="alice")
    theirs = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    forged = records_frame(
        [
            (
                "CreateAccessKey",
                IAM,
                {"userName": "alice"},
                {"accessKey": {"accessKeyId": theirs, "userName": "alice", "status": "Active"}},
            )
        ],
        key=suspect,
        genuine=False,
    )
    report, _ = _run(forged, suspect, tmp_path / "ledger")
    alice = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in alice] == [(theirs, "Active")]
    # the finding's key is deactivated (from the finding); nothing else is changed
    changed = [c.operation for c in proxy.calls() if c.operation.endswith("AccessKey")]
    assert changed == ["UpdateAccessKey"]
    left = _left(report)
    assert set(left) == {"UpdateAccessKey", "DeleteAccessKey"}
    assert all("not in CloudTrail's Event history" in n for n in left.values())


def test_altered_record_of_a_real_event(proxy: FaultProxy, moto: str, tmp_path: Path) -> None:
    """A genuine event ID under an altered record (the actor created svc-x; the record now says
    admin): CloudTrail's copy differs, the step is left alone saying how."""
    iam, suspect = _setup(moto)
    made = iam.create_user(UserName="admin")["User"]
    when = pd.Timestamp(made["CreateDate"]).tz_convert("UTC")
    records_frame(
        [("CreateUser", IAM, {"userName": "svc-x"}, {"user": {"userName": "svc-x"}})],
        start=when,
        key=suspect,
    )  # the genuine call, in the Event history
    altered = records_frame(
        [("CreateUser", IAM, {"userName": "admin"}, {"user": {"userName": "admin"}})],
        start=when,
        key=suspect,
        genuine=False,
    )
    report, _ = _run(altered, suspect, tmp_path / "ledger")
    assert _undone(proxy) == []
    assert "admin" in [u["UserName"] for u in iam.list_users()["Users"]]
    note = _left(report)["DeleteUser"]
    assert "requestParameters.userName is 'svc-x', not 'admin'" in note
    assert "the record was altered" in note


@pytest.mark.parametrize(
    "code", ["AccessDeniedException", "UnrecognizedClientException", "ThrottlingException"]
)
def test_lookup_refused_leaves_alone(
    proxy: FaultProxy, moto: str, fake_aws: FakeAws, tmp_path: Path, code: str
) -> None:
    """LookupEvents refused or failing: genuine records, but nothing they justify is undone; each
    step says it could not confirm (never "done", never "not found")."""
    iam, suspect = _setup(moto)
    new_key = "AKIATFQR7NSCXLGMGTIH"
    user_id = iam.create_user(UserName="svc-backup-sync")["User"]["UserId"]
    made = iam.get_user(UserName="svc-backup-sync")["User"]["CreateDate"]
    events = persistence_events(
        "svc-backup-sync",
        new_key,
        start=pd.Timestamp(made).tz_convert("UTC"),
        user_id=user_id,
    )
    fake_aws.fail("cloudtrail", "*", code, operation="LookupEvents")
    report, _ = _run(events, suspect, tmp_path / "ledger")
    assert _undone(proxy) == []
    assert "svc-backup-sync" in [u["UserName"] for u in iam.list_users()["Users"]]
    left = _left(report)
    assert {"DeleteUser", "DeleteLoginProfile", "DeleteAccessKey"} <= set(left)
    for note in left.values():
        assert note.startswith("could not confirm the ")
        assert "not in CloudTrail" not in note


def test_rows_from_lookup_need_no_confirmation(
    proxy: FaultProxy, moto: str, fake_aws: FakeAws, tmp_path: Path
) -> None:
    """Rows read from LookupEvents are CloudTrail's own answer: undone with no look-up."""
    iam, suspect = _setup(moto)
    made = iam.create_user(UserName="svc-made")["User"]
    events = records_frame(
        [
            (
                "CreateUser",
                IAM,
                {"userName": "svc-made"},
                {"user": {"userName": "svc-made", "userId": made["UserId"]}},
            )
        ],
        start=pd.Timestamp(made["CreateDate"]).tz_convert("UTC"),
        key=suspect,
        genuine=False,
        source="lookup",
    )
    report, _ = _run(events, suspect, tmp_path / "ledger")
    assert fake_aws.calls("LookupEvents") == []
    assert "DeleteUser" in [r.action.operation for r in report.done]
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["benjamin"]


def test_genuine_records_are_undone(
    proxy: FaultProxy, moto: str, fake_aws: FakeAws, tmp_path: Path
) -> None:
    """The same steps from genuine records (in the Event history): confirmed, then undone."""
    iam, suspect = _setup(moto)
    made = iam.create_user(UserName="svc-made")["User"]
    iam.create_login_profile(UserName="svc-made", Password="Xx-12345678!")
    events = records_frame(
        [
            (
                "CreateUser",
                IAM,
                {"userName": "svc-made"},
                {"user": {"userName": "svc-made", "userId": made["UserId"]}},
            ),
            ("CreateLoginProfile", IAM, {"userName": "svc-made"}, None),
        ],
        start=pd.Timestamp(made["CreateDate"]).tz_convert("UTC"),
        key=suspect,
    )
    report, _ = _run(events, suspect, tmp_path / "ledger")
    assert len(fake_aws.calls("LookupEvents", region="us-east-1")) == 2
    assert {"DeleteUser", "DeleteLoginProfile"} <= {r.action.operation for r in report.done}
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["benjamin"]


def test_dry_run_says_records_are_confirmed_first() -> None:
    """A dry run says each step justified by a record is confirmed with CloudTrail first, and a
    step from the finding (deactivate the finding's key) is not."""
    events = persistence_events("svc-backup-sync", "AKIATFQR7NSCXLGMGTIH")
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP"), events)
    out: list[str] = []
    rn.carry_out(Aws(), plan, offline=True, echo=out.append)
    delete = next(line for line in out if "delete-user " in line)
    assert "--execute confirms its record(s) with CloudTrail LookupEvents first" in delete
    assert "CreateUser e0" in delete
    first = next(line for line in out if "update-access-key" in line)
    assert "AKIATFQR7NSCUXC3DDDP" in first and "LookupEvents" not in first
    undo_steps = [a for a in plan.changes if a.absent_ok]
    assert undo_steps and all(a.records for a in undo_steps)
    assert not plan.actions[0].records  # the finding's key: from the finding, not a record


def test_a_case_folder_cloudtrail_never_recorded_undoes_nothing(
    proxy: FaultProxy, moto: str, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``actions --case … --execute`` over a case folder whose log files CloudTrail's Event history
    does not hold (written into the folder): the key is contained (from the finding), the
    backdoor user and everything on it stay, each undo step says why; exit 0, no traceback."""
    from tests.actions.test_actions import (
        BACKDOOR_KEY,
        BACKDOOR_USER,
        FINDING,
        SAMPLE_ACCOUNT,
        SUSPECT,
        ops,
        sample_case_with,
        verdict,
    )
    from tests.cli_run import run

    iam = iam_client(moto, SAMPLE_ACCOUNT)
    iam.create_user(UserName="benjamin")
    suspect = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName=BACKDOOR_USER)
    backdoor = iam.create_access_key(UserName=BACKDOOR_USER)["AccessKey"]["AccessKeyId"]
    iam.create_login_profile(UserName=BACKDOOR_USER, Password="Xx-12345678!")
    case = sample_case_with(tmp_path, {SUSPECT: suspect, BACKDOOR_KEY: backdoor})
    ledger = tmp_path / "ledger.jsonl"
    verdict(ledger, "malicious")
    proxy.clear()
    code, out, err = run(
        "actions", FINDING, "--case", str(case), "--plan", "remediate", "--execute",
        "--ledger", str(ledger), "--role-arn", f"arn:aws:iam::{SAMPLE_ACCOUNT}:role/responder",
    )  # fmt: skip
    assert code == 0, err
    assert "Traceback" not in out + err
    assert ops(proxy, changes_only=True) == ["UpdateAccessKey", "PutUserPolicy"]
    assert fake_aws.calls("LookupEvents")
    assert "is not in CloudTrail's Event history of us-east-1: a forged record" in out
    keys = iam.list_access_keys(UserName=BACKDOOR_USER)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(backdoor, "Active")]
    assert iam.get_login_profile(UserName=BACKDOOR_USER)["LoginProfile"]


def _assume(role_arn: str, minted: str, **kw: Any) -> pd.DataFrame:
    return records_frame(
        [
            (
                "AssumeRole",
                "sts.amazonaws.com",
                {"roleArn": role_arn, "roleSessionName": "s"},
                {
                    "credentials": {
                        "accessKeyId": minted,
                        "sessionToken": "x",
                        "expiration": "Jul 12, 2023, 12:20:04 AM",
                    },
                    "assumedRoleUser": {"arn": f"{role_arn}/s", "assumedRoleId": "AROAX:s"},
                },
            )
        ],
        **kw,
    )


@pytest.mark.parametrize("genuine", [False, True])
def test_a_forged_assume_role_revokes_no_role(
    proxy: FaultProxy, moto: str, tmp_path: Path, genuine: bool
) -> None:
    """A forged AssumeRole of the key on a production role: no deny on the role's sessions (it
    would cut off every current session of it); the genuine one: the deny is put."""
    iam, suspect = _setup(moto)
    arn = iam.create_role(RoleName="prod-app", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    events = _assume(arn, "ASIAFORGEDMINTED0001", key=suspect, genuine=genuine)
    report, _ = _run(events, suspect, tmp_path / "ledger")
    puts = [c.operation for c in proxy.calls() if c.operation == "PutRolePolicy"]
    names = iam.list_role_policies(RoleName="prod-app")["PolicyNames"]
    if genuine:
        assert puts == ["PutRolePolicy"] and names == [ac.REVOKE_POLICY_NAME]
        return
    assert puts == [] and names == []
    assert "is not in CloudTrail's Event history of us-east-1" in _left(report)["PutRolePolicy"]
    # the finding's own user still gets its deny (from the finding, not a record)
    assert "PutUserPolicy" in [r.action.operation for r in report.done]


def test_one_genuine_mint_is_enough_for_the_revoke(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """A revoke two minting records justify, one forged: the genuine one carries it (a forged
    record must not hold a genuine revoke back)."""
    from torinvest.events import combine_frames

    iam, suspect = _setup(moto)
    arn = iam.create_role(RoleName="prod-app", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    forged = _assume(arn, "ASIAFORGEDMINTED0001", key=suspect, genuine=False, prefix="f")
    real = _assume(
        arn, "ASIAGENUINEMINTED001", key=suspect, prefix="g", start="2023-07-10T12:20:00Z"
    )
    report, _ = _run(combine_frames([forged, real]), suspect, tmp_path / "ledger")
    assert iam.list_role_policies(RoleName="prod-app")["PolicyNames"] == [ac.REVOKE_POLICY_NAME]
    assert "PutRolePolicy" in [r.action.operation for r in report.done]
