"""A console password the key set: the plan ends the console sessions signed in with it.

Deleting (or resetting) a login profile stops new sign-ins, not a console session already signed
in (valid up to its duration, 12 h by default): the plan also puts AWSRevokeOlderSessions on the
password's user — resting on the password's record, which ``--execute`` confirms with CloudTrail
first — and says what was read of its sign-ins. IAM in moto; CloudTrail's Event history in
tests/fake_aws (``records_frame``'s genuine records are put there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from tests.actions.test_actions import (  # noqa: F401  (fixtures: "proxy", "cut_off_at_now")
    MOTO_ACCOUNT,
    NOW,
    cut_off_at_now,
    iam_client,
    key,
    ops,
    persistence_events,
    proxy_fixture,
    records_frame,
)
from tests.fake_aws import FakeAws
from tests.fake_aws.proxy import DENIED, THROTTLED, FaultProxy
from torinvest import actions as ac
from torinvest import runner as rn
from torinvest.actions.archive import revoke_older_sessions_policy
from torinvest.aws import Aws
from torinvest.passwords import PasswordUse
from torinvest.runner import run as rn_run
from torinvest.sources.records.passwords import SignIn, console_passwords
from torinvest.verdict import read_ledger

#: the runner's LookupEvents confirmations unpaced (quick_lookups, tests/conftest.py): these
#: tests are not about pacing
pytestmark = pytest.mark.usefixtures("quick_lookups")

IAM = "iam.amazonaws.com"
BENJAMIN_KEY = "AKIATFQR7NSCUXC3DDDP"


def _passwords(**kw: object) -> pd.DataFrame:
    """The Tor key sets alice's console password (CreateLoginProfile) and carol's
    (UpdateLoginProfile)."""
    return records_frame(
        [
            (
                "CreateLoginProfile",
                IAM,
                {"userName": "alice", "passwordResetRequired": False},
                None,
            ),
            ("UpdateLoginProfile", IAM, {"userName": "carol"}, None),
        ],
        **kw,  # type: ignore[arg-type]
    )


def _denies(plan: ac.Plan, user: str) -> list[ac.Action]:
    return [
        a
        for a in plan.actions
        if a.operation == "PutUserPolicy" and a.params.get("UserName") == user and not a.manual
    ]


def test_a_password_the_key_set_gets_a_deny_on_its_console_sessions() -> None:
    plan = ac.plan_remediation(key(BENJAMIN_KEY), _passwords(), now=NOW)
    ops_users = [(a.operation, a.targets[0] if a.targets else None) for a in plan.actions]
    # after the step that undoes each password: its user's sessions issued before now denied
    at = ops_users.index(("DeleteLoginProfile", "alice"))
    assert ops_users[at + 1] == ("PutUserPolicy", "alice")
    at = ops_users.index(("UpdateLoginProfile", "carol"))  # the manual reset
    assert ops_users[at + 1] == ("PutUserPolicy", "carol")
    policy = revoke_older_sessions_policy(NOW)
    for user, event, event_id in (
        ("alice", "CreateLoginProfile", "e0"),
        ("carol", "UpdateLoginProfile", "e1"),
    ):
        (deny,) = _denies(plan, user)
        assert deny.params["PolicyName"] == ac.REVOKE_POLICY_NAME
        assert orjson.loads(deny.params["PolicyDocument"]) == policy
        assert f"end the console sessions of {user}: {event} at " in deny.why
        assert f"(event {event_id}, by {BENJAMIN_KEY})" in deny.why
        assert "does not end a console session already signed in" in deny.why
        # it rests on the password's record: --execute confirms it with CloudTrail first
        (record,) = deny.records
        assert (record.event_id, record.event_name) == (event_id, event)
        assert ("requestParameters.userName", user) in record.fields
        # no sign-in was read here: said, never "not used"
        assert (
            "its sign-ins were not read here: console sessions signed in with it may be live"
            in (deny.why)
        )
    # one deny per principal: the finding's user's is still the first, and only one
    assert len(_denies(plan, "benjamin")) == 1


def _sign_in(minute: int, ip: str, result: str = "Success", tor: bool | None = None) -> SignIn:
    return SignIn(
        user_name="alice",
        event_time=pd.Timestamp(f"2023-07-10T12:{minute:02d}:00Z"),
        event_id=f"s{minute}",
        source_ip=ip,
        result=result,
        mfa_used="No",
        aws_region="us-east-1",
        user_agent="Mozilla/5.0",
        origin="test",
        tor=tor,
    )


def test_the_deny_says_what_was_read_of_the_sign_ins() -> None:
    events = _passwords()
    alice, carol = console_passwords(events, {BENJAMIN_KEY})
    signed = [
        _sign_in(20, "185.220.101.34", "Failure"),
        _sign_in(21, "185.220.101.34", tor=True),
        _sign_in(40, "198.51.100.7"),
    ]
    uses = [
        PasswordUse(alice, "read", None, signed),
        PasswordUse(carol, "not read", "no log file of 2023-07-10 was read"),
    ]
    plan = ac.plan_remediation(key(BENJAMIN_KEY), events, now=NOW, passwords=uses)
    (deny,) = _denies(plan, "alice")
    assert (
        "alice signed in to the console 2 time(s) after it (first at 2023-07-10 12:21:00Z from "
        "185.220.101.34 (a Tor exit then)): the deny ends those sessions" in deny.why
    )
    (deny,) = _denies(plan, "carol")
    assert (
        "its sign-ins were not read (no log file of 2023-07-10 was read): console sessions "
        "signed in with it may be live, and the deny covers them" in deny.why
    )
    uses = [PasswordUse(alice, "read", None, [signed[0]]), PasswordUse(carol, "read")]
    plan = ac.plan_remediation(key(BENJAMIN_KEY), events, now=NOW, passwords=uses)
    for user in ("alice", "carol"):
        (deny,) = _denies(plan, user)
        assert f"no console sign-in of {user} after it in the sources read" in deny.why
    # read over a window that ended: a sign-in after its end was not read (was: not said)
    end = pd.Timestamp("2023-07-10T13:00:00Z")
    uses = [PasswordUse(alice, "read", None, [], until=end)]
    plan = ac.plan_remediation(key(BENJAMIN_KEY), events, now=NOW, passwords=uses)
    (deny,) = _denies(plan, "alice")
    assert (
        "no console sign-in of alice after it in the sources read up to the window's end "
        "(2023-07-10T13:00:00Z): a sign-in after that was not read — run `torinvest events "
        "--username=alice --start=" in deny.why
    )
    assert deny.why.endswith("to read on (the deny covers any they do not hold)")


def test_the_findings_own_user_keeps_one_deny_that_says_its_console_sessions() -> None:
    """The key set its own user's password (no userName: the caller's): the deny the finding
    already puts on benjamin says it, and stays the finding's (no record, its user ID check)."""
    events = records_frame([("CreateLoginProfile", IAM, {}, None)])
    plan = ac.plan_remediation(key(BENJAMIN_KEY), events, now=NOW)
    (deny,) = _denies(plan, "benjamin")
    assert deny is plan.actions[1]
    assert "ends the console sessions signed in with the password CreateLoginProfile at" in (
        deny.why
    )
    assert deny.records == () and deny.identity == ("UserId", "benjamin", "AIDATFQR7NSC5U6Q3TMDR")


def test_a_renamed_or_elsewhere_user_gets_a_manual_deny_naming_it() -> None:
    """Renamed after its password was set: a deny under the old name would end nothing (and say
    "already done"); in another account: never a call with this account's credentials."""
    renamed = records_frame(
        [
            ("CreateLoginProfile", IAM, {"userName": "alice"}, None),
            ("UpdateUser", IAM, {"userName": "alice", "newUserName": "alice2"}, None),
        ]
    )
    plan = ac.plan_remediation(key(BENJAMIN_KEY), renamed, now=NOW)
    assert _denies(plan, "alice") == [] and _denies(plan, "alice2") == []
    (step,) = [a for a in plan.manual if a.operation == "PutUserPolicy"]
    assert "the activity renamed user alice to alice2" in (step.manual or "")
    assert "--user-name=alice2" in (step.manual or "")
    elsewhere = records_frame(
        [("CreateLoginProfile", IAM, {"userName": "alice"}, None)],
        recipientAccountId="210987654321",
    )
    plan = ac.plan_remediation(key(BENJAMIN_KEY), elsewhere, now=NOW)
    assert _denies(plan, "alice") == []
    (step,) = [a for a in plan.manual if a.operation == "PutUserPolicy"]
    assert (step.manual or "").startswith(
        f"in account 210987654321: attach {ac.REVOKE_POLICY_NAME} to user alice"
    )
    assert MOTO_ACCOUNT not in (step.manual or "")


@pytest.mark.usefixtures("cut_off_at_now")
@pytest.mark.parametrize("genuine", [True, False])
def test_execute_puts_the_deny_once_cloudtrail_confirms_the_password(
    proxy: FaultProxy, moto: str, fake_aws: FakeAws, tmp_path: Path, genuine: bool
) -> None:
    """Against moto: the deny is put on alice with the plan's document and ledgered; a forged
    CreateLoginProfile (not in CloudTrail's Event history) denies nothing and says so."""
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    suspect = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="alice")
    made = iam.create_login_profile(UserName="alice", Password="Xx-12345678!")["LoginProfile"]
    events = records_frame(
        [("CreateLoginProfile", IAM, {"userName": "alice"}, None)],
        key=suspect,
        genuine=genuine,
        start=pd.Timestamp(made["CreateDate"]),  # the login profile it made
    )
    plan = ac.plan_remediation(key(suspect), events, now=NOW)
    ledger = tmp_path / "ledger.jsonl"
    printed: list[str] = []
    report = rn.carry_out(Aws(), plan, execute=True, ledger=ledger, echo=printed.append)
    names = iam.list_user_policies(UserName="alice")["PolicyNames"]
    if not genuine:
        assert names == []
        assert ops(proxy, changes_only=True) == ["UpdateAccessKey", "PutUserPolicy"]  # benjamin
        left = {r.action.operation: str(r.note) for r in report.left_alone}
        assert "is not in CloudTrail's Event history of us-east-1" in left["PutUserPolicy"]
        assert iam.get_login_profile(UserName="alice")["LoginProfile"]  # nor undone
        return
    assert ops(proxy, changes_only=True) == [
        "UpdateAccessKey",
        "PutUserPolicy",  # benjamin's (the finding's)
        "DeleteLoginProfile",
        "PutUserPolicy",  # alice's console sessions
    ]
    assert report.failed == [] and report.left_alone == []
    assert names == [ac.REVOKE_POLICY_NAME]
    doc = iam.get_user_policy(UserName="alice", PolicyName=ac.REVOKE_POLICY_NAME)["PolicyDocument"]
    assert doc == revoke_older_sessions_policy(NOW)
    records, issues = read_ledger(ledger)
    assert issues == []
    acts = [r for r in records if r.get("kind") == "action"]
    start = next(
        r
        for r in acts
        if r["phase"] == "start"
        and r["action"]["operation"] == "PutUserPolicy"
        and r["action"]["params"]["UserName"] == "alice"
    )
    assert "end the console sessions of alice: CreateLoginProfile" in start["action"]["why"]
    outcome = next(r for r in acts if r["phase"] == "outcome" and r["seq"] == start["seq"])
    assert outcome["status"] == "done"
    # the record confirmed once, for both steps that rest on it
    assert len(fake_aws.calls("LookupEvents")) == 1
    assert any(
        line.startswith("EXECUTE  aws iam put-user-policy --user-name=alice ") for line in printed
    )


def test_a_password_record_without_an_event_id_is_never_confirmed() -> None:
    """No eventID (a damaged or forged record): the deny is in the plan, resting on a record the
    run cannot confirm — it is left alone saying so, never made and never silently dropped."""
    events = records_frame([("CreateLoginProfile", IAM, {"userName": "alice"}, None)])
    events["event_id"] = None
    plan = ac.plan_remediation(key(BENJAMIN_KEY), events, now=NOW)
    (deny,) = _denies(plan, "alice")
    (record,) = deny.records
    assert record.event_id is None and not record.from_lookup
    assert "(event (no eventID), by " in deny.why


# --------------------------------------------------------------------------------------------
# a user the activity created: the deny stays in force unless the user is deleted
# --------------------------------------------------------------------------------------------
def _created_user_run(
    proxy: FaultProxy, moto: str, tmp_path: Path, *, fail_put_back: bool = False
) -> tuple[Any, rn.RunReport, list[str], Path]:
    """The key created svc and set its console password (as in the sample case); the plan
    denies svc's sessions, removes the deny just before DeleteUser, deletes svc. Run with
    ``--execute`` against moto (the faults are the caller's). ``fail_put_back``: every
    PutUserPolicy after the DeleteUser is denied."""
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    suspect = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    svc = iam.create_user(UserName="svc")["User"]
    new_key = iam.create_access_key(UserName="svc")["AccessKey"]["AccessKeyId"]
    iam.create_login_profile(UserName="svc", Password="Xx-12345678!")
    events = persistence_events(
        "svc", new_key, start=pd.Timestamp(svc["CreateDate"]), user_id=svc["UserId"]
    )
    plan = ac.plan_remediation(key(suspect), events, now=NOW)
    ledger = tmp_path / "ledger.jsonl"
    printed: list[str] = []

    def echo(line: str) -> None:
        printed.append(line)
        if fail_put_back and line.startswith("EXECUTE  aws iam delete-user "):
            proxy.fault("PutUserPolicy", DENIED)

    report = rn.carry_out(Aws(), plan, execute=True, ledger=ledger, echo=echo)
    return iam, report, printed, ledger


@pytest.mark.usefixtures("cut_off_at_now")
@pytest.mark.parametrize("fault", [DENIED, THROTTLED])
def test_a_delete_user_that_fails_puts_the_deny_back(
    proxy: FaultProxy, moto: str, tmp_path: Path, fault: str
) -> None:
    """DeleteUser refused or throttled after the deny was removed: the deny is put back with
    the plan's document (printed, ledgered) and the summary says svc still holds it."""
    proxy.fault("DeleteUser", fault)
    iam, report, printed, ledger = _created_user_run(proxy, moto, tmp_path)
    assert ops(proxy, changes_only=True)[-3:] == ["DeleteUserPolicy", "DeleteUser", "PutUserPolicy"]
    assert iam.list_user_policies(UserName="svc")["PolicyNames"] == [ac.REVOKE_POLICY_NAME]
    doc = iam.get_user_policy(UserName="svc", PolicyName=ac.REVOKE_POLICY_NAME)["PolicyDocument"]
    assert doc == revoke_older_sessions_policy(NOW)
    executed = [p for p in printed if p.startswith("EXECUTE  aws iam ")]
    assert executed[-1].startswith("EXECUTE  aws iam put-user-policy --user-name=svc ")
    assert executed[-2].startswith("EXECUTE  aws iam delete-user --user-name=svc ")
    (kept,) = report.kept
    assert kept.in_force
    summary = "\n".join(report.summary_lines())
    assert f"deny kept: user svc still holds {ac.REVOKE_POLICY_NAME} (its DeleteUser failed" in (
        summary
    )
    assert "DENY NOT IN FORCE" not in summary
    assert [r.action.operation for r in report.failed] == ["DeleteUser"]
    records, _ = read_ledger(ledger)
    starts = [
        r["action"]
        for r in records
        if r.get("kind") == "action" and r["phase"] == "start"
        if r["action"]["operation"] == "PutUserPolicy"
    ]
    assert "put back the AWSRevokeOlderSessions deny on user svc" in starts[-1]["why"]


def test_a_deny_that_cannot_be_put_back_is_said_loudly_with_its_command(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    proxy.fault("DeleteUser", DENIED)
    iam, report, _, _ = _created_user_run(proxy, moto, tmp_path, fail_put_back=True)
    assert iam.list_user_policies(UserName="svc")["PolicyNames"] == []
    summary = "\n".join(report.summary_lines())
    assert f"DENY NOT IN FORCE: user svc lost {ac.REVOKE_POLICY_NAME} before its DeleteUser" in (
        summary
    )
    assert "run now: aws iam put-user-policy --user-name=svc" in summary
    assert "--policy-document=" in summary
    assert rn.exit_problem(report) is not None


def test_a_run_stopped_before_delete_user_puts_the_deny_back(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted between the removal and the DeleteUser: the deny is put back before the
    interruption goes on."""
    real = rn_run._change

    def change(runner: rn.Runner, action: ac.Action, **kw: Any) -> rn.CallResult:
        if action.operation == "DeleteUser":
            raise KeyboardInterrupt
        return real(runner, action, **kw)

    monkeypatch.setattr(rn_run, "_change", change)
    with pytest.raises(KeyboardInterrupt):
        _created_user_run(proxy, moto, tmp_path)
    iam = iam_client(moto)
    assert ops(proxy, changes_only=True)[-2:] == ["DeleteUserPolicy", "PutUserPolicy"]
    assert iam.list_user_policies(UserName="svc")["PolicyNames"] == [ac.REVOKE_POLICY_NAME]


def test_the_summary_names_the_users_whose_console_sessions_are_ended() -> None:
    """From the steps' data (their ``ends_sessions_of``), in a dry run as after one."""
    plan = ac.plan_remediation(key(BENJAMIN_KEY), _passwords(), now=NOW)
    report = rn.carry_out(Aws(), plan, offline=True, echo=lambda _: None)
    summary = report.summary_lines()
    assert any(line.startswith("  console sessions to end: alice (") for line in summary)
    assert any(line.startswith("  console sessions to end: carol (") for line in summary)
    done = rn.RunReport(plan, True, "r", results=[rn.CallResult(_denies(plan, "alice")[0], "done")])
    assert any(
        line.startswith("  console sessions ended: alice (") for line in done.summary_lines()
    )


def test_the_password_reset_step_does_not_claim_to_end_sessions() -> None:
    plan = ac.plan_remediation(key(BENJAMIN_KEY), _passwords(), now=NOW)
    (reset,) = [a for a in plan.manual if a.operation == "UpdateLoginProfile"]
    assert "sign out" not in (reset.manual or "")
    assert "resets the password only" in (reset.manual or "")
    assert _denies(plan, "carol")  # the step that does end them


# --------------------------------------------------------------------------------------------
# the actor's own inline policy named like the deny (AWSRevokeOlderSessions): never the deny's end
# --------------------------------------------------------------------------------------------
_ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


def _actors_policy(kind: str, name: str) -> tuple[str, str, dict, None]:
    """The actor's PutUserPolicy/PutRolePolicy of an Allow * named like the plan's deny."""
    owner = {"userName": name} if kind == "user" else {"roleName": name}
    op = "PutUserPolicy" if kind == "user" else "PutRolePolicy"
    return (
        op,
        IAM,
        {**owner, "policyName": ac.REVOKE_POLICY_NAME, "policyDocument": _ALLOW_ALL},
        None,
    )


def test_the_actors_policy_named_like_the_deny_is_never_said_to_be_deleted() -> None:
    """The key put an Allow * named AWSRevokeOlderSessions on the finding's user and on alice
    (whose password it set): the plan's denies overwrite it. The manual undo (CloudTrail cannot
    say whether the name was there before) used to end 'if not: aws iam delete-user-policy …
    --policy-name=AWSRevokeOlderSessions' — the analyst following it after the run deleted the
    deny, and the sessions the summary says ended worked again."""
    events = records_frame(
        [
            ("CreateLoginProfile", IAM, {"userName": "alice"}, None),
            _actors_policy("user", "alice"),
            _actors_policy("user", "benjamin"),
        ]
    )
    plan = ac.plan_remediation(key(BENJAMIN_KEY), events, now=NOW)
    assert _denies(plan, "alice") and _denies(plan, "benjamin")
    report = rn.carry_out(Aws(), plan, offline=True, echo=lambda _: None)
    summary = "\n".join(report.summary_lines())
    assert "console sessions to end: alice (" in summary
    for user in ("alice", "benjamin"):
        assert f"delete-user-policy --user-name={user} " not in summary
        (step,) = [
            a for a in plan.manual if a.operation == "DeleteUserPolicy" and a.targets[:1] == (user,)
        ]
        said = step.manual or ""
        assert f"the actor put an inline policy named {ac.REVOKE_POLICY_NAME} on user {user}" in (
            said
        )
        assert "do NOT delete that policy" in said
        assert f"aws iam get-user-policy --user-name={user} " in said


def test_the_undo_of_the_actors_same_named_role_policy_runs_before_the_deny() -> None:
    """A role the activity created, then assumed (its session minted by the key), then gave an
    inline policy named AWSRevokeOlderSessions: its DeleteRolePolicy is a call — before the
    deny on that role, never after it (it would delete the deny)."""
    arn = f"arn:aws:iam::{MOTO_ACCOUNT}:role/escape"
    events = records_frame(
        [
            (
                "CreateRole",
                IAM,
                {"roleName": "escape"},
                {"role": {"roleName": "escape", "roleId": "AROAXXXXXXXXXXXXXXXXX", "arn": arn}},
            ),
            (
                "AssumeRole",
                "sts.amazonaws.com",
                {"roleArn": arn, "roleSessionName": "x"},
                {"credentials": {"accessKeyId": "ASIAESCAPE0000000001"}},
            ),
            _actors_policy("role", "escape"),
        ]
    )
    plan = ac.plan_remediation(key(BENJAMIN_KEY), events, now=NOW)
    steps = [
        (a.operation, a.params.get("PolicyName"))
        for a in plan.actions
        if not a.manual and a.params.get("RoleName") == "escape"
    ]
    deny = ("PutRolePolicy", ac.REVOKE_POLICY_NAME)
    undo = ("DeleteRolePolicy", ac.REVOKE_POLICY_NAME)
    assert deny in steps and undo in steps
    assert steps.index(undo) < steps.index(deny)


def test_a_failed_delete_user_after_undoing_the_actors_same_named_policy_is_no_alarm(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """A user the activity created, with the actor's policy named AWSRevokeOlderSessions and no
    password (no deny of this plan on it): its DeleteUserPolicy undoes the actor's policy. When
    DeleteUser then fails, nothing of the plan's deny was removed: no put-back, no 'DENY NOT IN
    FORCE' (it used to say the deny was lost and 'the attacker's password' sessions worked again)."""
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    suspect = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    svc = iam.create_user(UserName="svc")["User"]
    iam.put_user_policy(UserName="svc", PolicyName=ac.REVOKE_POLICY_NAME, PolicyDocument=_ALLOW_ALL)
    made = {"userName": "svc", "userId": svc["UserId"]}
    events = records_frame(
        [("CreateUser", IAM, {"userName": "svc"}, {"user": made}), _actors_policy("user", "svc")],
        key=suspect,
        start=pd.Timestamp(svc["CreateDate"]),
    )
    plan = ac.plan_remediation(key(suspect), events, now=NOW)
    proxy.fault("DeleteUser", DENIED)
    report = rn.carry_out(
        Aws(), plan, execute=True, ledger=tmp_path / "ledger.jsonl", echo=lambda _: None
    )
    assert ops(proxy, changes_only=True)[-2:] == ["DeleteUserPolicy", "DeleteUser"]
    assert iam.list_user_policies(UserName="svc")["PolicyNames"] == []
    assert report.kept == []
    summary = "\n".join(report.summary_lines())
    assert "DENY NOT IN FORCE" not in summary and "deny kept" not in summary
    assert [r.action.operation for r in report.failed] == ["DeleteUser"]


# --------------------------------------------------------------------------------------------
# the deny's cutoff: the time of its call, not of the plan
# --------------------------------------------------------------------------------------------
def test_the_deny_cuts_off_at_its_call_not_at_the_plan(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan is built at NOW (13:00:00Z); its calls run minutes later (records confirmed
    with CloudTrail, inventory reads, the verdict read again before each change). A console
    sign-in with the actor's password at 13:05, before its DeleteLoginProfile ran, got a token
    a 13:00:00 cutoff spares (valid 12 h) while the summary says alice's console sessions
    ended. The deny put is stamped at its call, rounded up to the second (DateLessThan is
    strict): 13:07:00.4 → 13:07:01Z; the ledger holds the document put."""
    from torinvest.runner import probes

    call = NOW + pd.Timedelta(minutes=7, milliseconds=400)
    monkeypatch.setattr(probes, "call_time", lambda: call)
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    suspect = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="alice")
    made = iam.create_login_profile(UserName="alice", Password="Xx-12345678!")["LoginProfile"]
    events = records_frame(
        [("CreateLoginProfile", IAM, {"userName": "alice"}, None)],
        key=suspect,
        start=pd.Timestamp(made["CreateDate"]),
    )
    plan = ac.plan_remediation(key(suspect), events, now=NOW)
    ledger = tmp_path / "ledger.jsonl"
    report = rn.carry_out(Aws(), plan, execute=True, ledger=ledger, echo=lambda _: None)
    assert report.failed == [] and report.left_alone == []
    cutoff = "2023-07-10T13:07:01Z"
    for user in ("benjamin", "alice"):
        doc = iam.get_user_policy(UserName=user, PolicyName=ac.REVOKE_POLICY_NAME)
        assert doc["PolicyDocument"] == revoke_older_sessions_policy(pd.Timestamp(cutoff))
    assert "console sessions ended: alice (" in "\n".join(report.summary_lines())
    records, _ = read_ledger(ledger)
    put = [
        r["action"]["params"]["PolicyDocument"]
        for r in records
        if r.get("kind") == "action"
        and r["phase"] == "start"
        and r["action"]["operation"] == "PutUserPolicy"
    ]
    assert len(put) == 2 and all(cutoff in d for d in put)


# --------------------------------------------------------------------------------------------
# a password call that names no user, made by no IAM user: its target is not known
# --------------------------------------------------------------------------------------------
ROLE_SESSION_KEY = "ASIAQNZGKYQ7ROLESESS"


@pytest.mark.parametrize(
    ("kind", "arn"),
    [
        ("AssumedRole", f"arn:aws:sts::{MOTO_ACCOUNT}:assumed-role/ops/alice"),
        ("FederatedUser", f"arn:aws:sts::{MOTO_ACCOUNT}:federated-user/alice"),
    ],
)
def test_a_password_call_naming_no_user_by_a_session_never_denies_a_same_named_user(
    kind: str, arn: str
) -> None:
    """CreateLoginProfile without requestParameters.userName by a role session (or a federated
    user) named "alice": "alice" is the session's name, the caller's to choose — not a user. No
    deny goes on IAM user alice (an innocent one may be named so); a manual step says the
    target is not known and what to check (was: a PutUserPolicy deny on user alice)."""
    identity = {
        "type": kind,
        "accessKeyId": ROLE_SESSION_KEY,
        "accountId": MOTO_ACCOUNT,
        "principalId": "AROAQNZGKYQ7EXAMPLE:alice",
        "arn": arn,
        **(
            {
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "arn": f"arn:aws:iam::{MOTO_ACCOUNT}:role/ops",
                        "userName": "ops",
                        "principalId": "AROAQNZGKYQ7EXAMPLE",
                        "accountId": MOTO_ACCOUNT,
                    }
                }
            }
            if kind == "AssumedRole"
            else {}
        ),
    }
    events = records_frame(
        [("CreateLoginProfile", IAM, {"passwordResetRequired": False}, None)],
        key=ROLE_SESSION_KEY,
        userIdentity=identity,
    )
    assert console_passwords(events, {ROLE_SESSION_KEY}) == []  # nobody's password is known
    finding = key(ROLE_SESSION_KEY, user="ops", user_type="AssumedRole")
    plan = ac.plan_remediation(finding, events, now=NOW)
    on_alice = [a for a in plan.actions if "alice" in a.params.values()]
    assert on_alice == []
    (step,) = [a for a in plan.manual if a.operation == "PutUserPolicy"]
    said = step.manual or ""
    assert said.startswith(
        f"CreateLoginProfile at 2023-07-10 12:10:00Z (event e0, by {ROLE_SESSION_KEY}) names no "
        f"user (requestParameters.userName) and was made by a caller of type {kind} ({arn}), not an "
        "IAM user: whose console password it set is not known"
    )
    assert "the name at the end of that ARN is the session's, chosen by its caller" in said
    assert "aws iam get-login-profile --user-name=USER" in said
    assert f"attach {ac.REVOKE_POLICY_NAME} to that user" in said


def test_a_password_call_naming_no_user_by_an_iam_user_is_its_own() -> None:
    """The same call by an IAM user sets its own password: its userName (AWS's) is the target."""
    events = records_frame([("CreateLoginProfile", IAM, {}, None)])
    (p,) = console_passwords(events, {BENJAMIN_KEY})
    assert p.user_name == "benjamin"
    # a record whose identity type is missing (not known to be an IAM user): no user taken
    events["user_type"] = None
    assert console_passwords(events, {BENJAMIN_KEY}) == []


# --------------------------------------------------------------------------------------------
# a password user the activity deleted since: no console session is left to end
# --------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("cut_off_at_now")
@pytest.mark.parametrize("genuine", [True, False], ids=["confirmed", "forged-delete"])
def test_a_deny_on_a_user_the_activity_deleted_says_user_gone_not_failed(
    proxy: FaultProxy, moto: str, fake_aws: FakeAws, tmp_path: Path, genuine: bool
) -> None:
    """The key set alice's password, then deleted alice (DeleteUser after CreateLoginProfile):
    the deny on alice's console sessions got NoSuchEntity — "failed", exit 1, as if a live
    session were left. IAM ends a user's console sessions with the user: once CloudTrail
    confirms that DeleteUser, the step says "user alice gone: no session to end" (already done,
    the run not failed). A DeleteUser CloudTrail never recorded (a forged log file) proves
    nothing: the NoSuchEntity stays a failure."""
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    suspect = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="alice")
    made = iam.create_login_profile(UserName="alice", Password="Xx-12345678!")["LoginProfile"]
    iam.delete_login_profile(UserName="alice")
    iam.delete_user(UserName="alice")
    set_at = pd.Timestamp(made["CreateDate"])
    password = records_frame(
        [("CreateLoginProfile", IAM, {"userName": "alice"}, None)], key=suspect, start=set_at
    )
    deleted = records_frame(
        [("DeleteUser", IAM, {"userName": "alice"}, None)],
        key=suspect,
        genuine=genuine,
        start=set_at + pd.Timedelta(minutes=5),
        prefix="d",
    )
    events = pd.concat([password, deleted], ignore_index=True)
    plan = ac.plan_remediation(key(suspect), events, now=NOW)
    (deny,) = _denies(plan, "alice")
    assert deny.deleted_by is not None and deny.deleted_by.event_id == "d0"
    assert "the activity deleted user alice after it (DeleteUser at " in deny.why
    assert "IAM ends a user's console sessions with the user" in deny.why
    printed: list[str] = []
    report = rn.carry_out(
        Aws(), plan, execute=True, ledger=tmp_path / "ledger.jsonl", echo=printed.append
    )
    (result,) = [r for r in report.results if r.action.params.get("UserName") == "alice"
                 and r.action.operation == "PutUserPolicy"]  # fmt: skip
    lines = report.summary_lines()
    if not genuine:
        assert result.status == "failed"
        assert "NoSuchEntity" in str(result.error and result.error.code)
        assert "could not be confirmed with CloudTrail" in "\n".join(printed)
        assert rn_run.exit_problem(report) is not None
        return
    assert result.status == "already-done", result
    note = str(result.note)
    assert note.startswith("user alice gone: no session to end — IAM has no user alice (")
    assert "the activity deleted it (DeleteUser at " in note and "(event d0)" in note
    assert "confirmed with CloudTrail" in note
    assert report.failed == []
    assert rn_run.exit_problem(report) is None
    assert f"  {note}" in lines
    assert not [line for line in lines if line.startswith("  console sessions ended: alice")]
    assert lines[0].count(" 0 failed") == 1
