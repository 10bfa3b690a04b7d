"""Actions that change AWS, tried with the wrong credentials, without a verdict, against endpoints
that answer HTML or garbage, with a ledger that cannot be written and with a forged activity.

Every AWS request goes through tests/fake_aws/proxy.py (to moto for IAM/STS, to the GuardDuty
fake), which counts them: "refused with zero calls" is measured, not assumed.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from tests.actions.test_actions import (  # noqa: F401  (proxy_fixture: the fixture "proxy")
    BACKDOOR_KEY,
    BACKDOOR_USER,
    FINDING,
    MOTO_ACCOUNT,
    SAMPLE_ACCOUNT,
    SHAPES,
    SUSPECT,
    assert_paired,
    guardduty_finding,
    iam_client,
    key,
    ops,
    persistence_events,
    proxy_fixture,
    run,
    sample_case_with,
    verdict,
)
from tests.fake_aws import FakeAws
from tests.fake_aws.proxy import (
    DENIED,
    DROP,
    GARBAGE,
    HTML_200,
    HTML_500,
    LOST,
    THROTTLED,
    FaultProxy,
)
from torinvest import actions as ac
from torinvest import runner as rn
from torinvest.aws import Aws
from torinvest.case import sample_case
from torinvest.errors import EXIT_COULD_NOT_LOOK, EXIT_FAILED, EXIT_REFUSED, InputError
from torinvest.verdict import append as ledger_append
from torinvest.verdict import make_verdict, read_ledger, record_decision, record_verdict

#: the runner's LookupEvents confirmations unpaced (quick_lookups, tests/conftest.py): these
#: tests are not about pacing
pytestmark = pytest.mark.usefixtures("quick_lookups")

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
CUSTOM_ADMIN = f"arn:aws:iam::{SAMPLE_ACCOUNT}:policy/admin"


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("torinvest: error:")]


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text and "botocore." not in text


@pytest.fixture
def ready(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SimpleNamespace:
    """The sample story in moto, in the finding's account (MOTO_ACCOUNT_ID), with a malicious
    verdict in the ledger: everything a remediation needs, so that only the fault under test
    can stop it."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    suspect = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    other = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName=BACKDOOR_USER)
    backdoor = iam.create_access_key(UserName=BACKDOOR_USER)["AccessKey"]["AccessKeyId"]
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.create_policy(PolicyName="admin", PolicyDocument=json.dumps(doc))
    iam.attach_user_policy(UserName=BACKDOOR_USER, PolicyArn=CUSTOM_ADMIN)
    iam.create_login_profile(UserName=BACKDOOR_USER, Password="Xx-12345678!")
    case = sample_case_with(
        tmp_path, {SUSPECT: suspect, BACKDOOR_KEY: backdoor, ADMIN: CUSTOM_ADMIN}
    )
    ledger = tmp_path / "ledger.jsonl"
    verdict(ledger, "malicious")
    proxy.clear()
    return SimpleNamespace(
        case=case, ledger=ledger, iam=iam, suspect=suspect, other=other, backdoor=backdoor
    )


def remediate(ready: SimpleNamespace, *extra: str) -> tuple[int, str, str]:
    return run(
        "actions", FINDING, "--case", str(ready.case), "--plan", "remediate", "--execute",
        "--ledger", str(ready.ledger), *extra,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# the account guard
# --------------------------------------------------------------------------------------------
def test_credentials_of_another_account_are_refused(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """The issue's own reproduction: a local IAM as account 123456789012, the sample finding in
    123837392027 — with a same-named backdoor user there that must survive."""
    iam = iam_client(moto)
    iam.create_user(UserName=BACKDOOR_USER)
    ledger = tmp_path / "ledger.jsonl"
    verdict(ledger, "malicious")
    proxy.clear()
    code, out, err = run(
        "actions", FINDING, "--case", str(sample_case().root), "--plan", "remediate",
        "--execute", "--ledger", str(ledger),
    )  # fmt: skip
    assert code == EXIT_REFUSED
    (line,) = errors(err)
    assert f"finding {FINDING} is in account {SAMPLE_ACCOUNT}" in line
    assert f"are account {MOTO_ACCOUNT}" in line and "nothing was changed" in line
    assert "--profile" in line and f"--role-arn arn:aws:iam::{SAMPLE_ACCOUNT}:role/" in line
    assert [(c.service, c.operation) for c in proxy.calls()] == [("sts", "GetCallerIdentity")]
    assert BACKDOOR_USER in {u["UserName"] for u in iam.list_users()["Users"]}
    acts = assert_paired(read_ledger(ledger)[0])
    assert [r["phase"] for r in acts] == ["start", "outcome", "refused"]
    assert "is in account 123837392027" in acts[-1]["reason"]
    no_traceback(out, err)


def test_a_dry_run_with_another_accounts_credentials_reads_nothing_there(
    proxy: FaultProxy, moto: str
) -> None:
    iam_client(moto).create_user(UserName="benjamin")
    proxy.clear()
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP", account=SAMPLE_ACCOUNT))
    printed: list[str] = []
    report = rn.carry_out(Aws(), plan, echo=printed.append)
    assert ops(proxy) == ["GetCallerIdentity"]  # no inventory of another account's "benjamin"
    assert {r.status for r in report.results if not r.action.changes_aws} == {"not-run"}
    assert any("(not run: wrong account)" in p for p in printed)
    assert report.notes and report.notes[0].startswith("--execute would be refused: finding")


def archive(ledger: Path, finding: str = FINDING, *extra: str) -> tuple[int, str, str]:
    return run(
        "actions", finding, "--plan", "archive", "--suppress", "--scope", "principal", "--regions", "us-east-1",
        "--execute", "--ledger", str(ledger), *extra,
    )  # fmt: skip


def test_a_guardduty_member_account_cannot_archive(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    guardduty_finding(fake_aws)
    fake_aws.guardduty("us-east-1").set_administrator("999999999999")
    verdict(tmp_path / "l.jsonl", "legitimate")
    code, out, err = archive(tmp_path / "l.jsonl")
    assert code == EXIT_REFUSED
    (line,) = errors(err)
    assert (
        f"account {SAMPLE_ACCOUNT} is a GuardDuty member of administrator account 999999999999"
        in line
    )
    assert "only 999999999999 can archive" in line
    assert "--role-arn arn:aws:iam::999999999999:role/" in line
    assert "ArchiveFindings" not in ops(proxy) and "CreateFilter" not in ops(proxy)
    assert fake_aws.archived_ids == set() and fake_aws.filters == []
    no_traceback(out, err)


def test_an_account_that_is_neither_the_findings_nor_its_administrator_cannot_archive(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the caller's own detector does not hold the finding (read from the case folder)
    fake_aws.guardduty("us-east-1").add_detector("b" * 32)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111122223333")
    verdict(tmp_path / "l.jsonl", "legitimate")
    case = sample_case().root
    code, _out, err = archive(tmp_path / "l.jsonl", FINDING, "--case", str(case))
    assert code == EXIT_REFUSED
    (line,) = errors(err)
    assert f"finding {FINDING} is in account {SAMPLE_ACCOUNT}" in line
    assert "are account 111122223333, which is neither that account nor its GuardDuty" in line
    assert "ArchiveFindings" not in ops(proxy)


# --------------------------------------------------------------------------------------------
# the verdict gate
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("plan", "recorded", "said"),
    [
        ("remediate", [], "has no verdict"),
        ("remediate", ["pending"], "has only pending"),
        ("remediate", ["legitimate"], "its latest decided verdict is legitimate"),
        ("remediate", ["malicious", "legitimate", "pending"], "is legitimate"),
        ("archive", [], "has no verdict"),
        ("archive", ["malicious"], "its latest decided verdict is malicious"),
        ("archive", ["inconclusive", "pending"], "is inconclusive"),
    ],
)
def test_no_matching_verdict_is_refused_with_zero_calls(
    proxy: FaultProxy, tmp_path: Path, plan: str, recorded: list[str], said: str
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    for i, status in enumerate(recorded):
        verdict(ledger, status, minutes=i)
    before = ledger.read_bytes() if ledger.exists() else b""
    code, out, err = run(
        "actions", FINDING, "--case", str(sample_case().root), "--plan", plan, "--execute",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == EXIT_REFUSED
    (line,) = errors(err)
    assert said in line and "nothing was called" in line
    # one readable sentence: it said "the ledger L has its latest decided verdict is …"
    assert f"verdict on {FINDING}; in the ledger {ledger}, it" in line
    assert " has its latest" not in line
    status = "malicious" if plan == "remediate" else "legitimate"
    assert (
        f"torinvest verdict {FINDING} --status {status} --analyst NAME --rationale "
        f"'WHY (the evidence)' --ledger={ledger}"
    ) in line
    assert proxy.calls() == []
    assert (ledger.read_bytes() if ledger.exists() else b"") == before
    assert out == ""


def test_a_later_pending_never_hides_a_decided_verdict(ready: SimpleNamespace) -> None:
    verdict(ready.ledger, "pending", minutes=5)
    code, out, err = remediate(ready)
    assert code == 0, err
    assert "following the malicious verdict" in err
    assert "2 change(s) done" in out  # the backdoor user (moto's, made today) is left alone


# --------------------------------------------------------------------------------------------
# endpoints that do not answer like AWS
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", [HTML_500, HTML_200, GARBAGE, DROP])
def test_sts_not_answering_like_aws_refuses_before_any_other_call(
    ready: SimpleNamespace, proxy: FaultProxy, fault: str
) -> None:
    proxy.fault("GetCallerIdentity", fault)
    code, out, err = remediate(ready)
    assert code == EXIT_COULD_NOT_LOOK
    (line,) = errors(err)
    assert "refused: could not tell whose credentials these are" in line
    assert ops(proxy) == ["GetCallerIdentity"]
    assert sum(x.startswith("  FAILED:") for x in out.splitlines()) == 1
    assert_paired(read_ledger(ready.ledger)[0])
    no_traceback(out, err)


@pytest.mark.parametrize("fault", [HTML_500, HTML_200, GARBAGE, DROP])
def test_iam_not_answering_like_aws_fails_each_call_on_one_line(
    ready: SimpleNamespace, proxy: FaultProxy, fault: str
) -> None:
    proxy.fault("*", fault, service="iam")
    code, out, err = remediate(ready)
    assert code == EXIT_FAILED
    (line,) = errors(err)
    assert "change(s) failed" in line
    iam_calls = proxy.calls(service="iam")
    calls = out[: out.index("summary of run")].splitlines()
    # a read fails; a change whose answer is not AWS's may have reached AWS: outcome unknown
    failed_lines = [x for x in calls if x.startswith(("  FAILED:", "  OUTCOME UNKNOWN:"))]
    assert len(failed_lines) == len(iam_calls) > 0  # one line per call, each call once
    assert all("\n" not in x for x in failed_lines)
    assert all(
        "whether it took effect is unknown" in x
        for x in failed_lines
        if x.startswith("  OUTCOME UNKNOWN:")
    )
    assert not any(x.startswith(("  done:", "  already done:")) for x in out.splitlines())
    summary = out[out.index("summary of run") :]
    assert "0 change(s) done" in summary
    assert "could not look: ListAccessKeys benjamin" in summary  # never "has no other key"
    assert "has no other access key" not in out and "has no console password" not in out
    acts = assert_paired(read_ledger(ready.ledger)[0])
    failed = [r for r in acts if r["phase"] == "outcome" and r["status"] in ("failed", "unknown")]
    assert len(failed) == len(iam_calls)
    assert all(r["error"]["code"] and r["error"]["message"] for r in failed)
    # nothing changed in moto
    keys = ready.iam.list_access_keys(UserName="benjamin")["AccessKeyMetadata"]
    assert {k["Status"] for k in keys} == {"Active"}
    no_traceback(out, err)


def test_a_200_html_page_to_a_change_is_not_reported_done(
    ready: SimpleNamespace, proxy: FaultProxy
) -> None:
    """UpdateAccessKey has no output: botocore accepts any 200. Without a request ID the answer
    is not AWS's, and whether the key was deactivated is unknown: said so, never "done"."""
    proxy.fault("UpdateAccessKey", HTML_200, times=1)
    code, out, err = remediate(ready)
    assert code == EXIT_FAILED
    first = out.split("EXECUTE  aws iam update-access-key", 1)[1].splitlines()[1]
    assert first.startswith("  OUTCOME UNKNOWN: UpdateAccessKey benjamin ")
    assert "the endpoint answered HTTP 200 with" in first
    assert "1 change(s) done, 0 already done, 0 failed, 1 outcome(s) unknown" in out
    assert_paired(read_ledger(ready.ledger)[0])
    no_traceback(out, err)


def test_guardduty_answering_html_500_to_the_archive(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    guardduty_finding(fake_aws)
    verdict(tmp_path / "l.jsonl", "legitimate")
    proxy.fault("ArchiveFindings", HTML_500)
    code, out, err = archive(tmp_path / "l.jsonl")
    assert code == EXIT_FAILED
    assert "  OUTCOME UNKNOWN: ArchiveFindings " in out
    assert "the endpoint answered HTTP 500" in out
    assert "1 change(s) done, 0 already done, 0 failed, 1 outcome(s) unknown" in out
    assert fake_aws.archived_ids == set()
    assert_paired(read_ledger(tmp_path / "l.jsonl")[0])
    no_traceback(out, err)


# --------------------------------------------------------------------------------------------
# the ledger, the resources, the evidence
# --------------------------------------------------------------------------------------------
def test_a_ledger_that_cannot_be_written_stops_before_any_call(
    ready: SimpleNamespace, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(path: Any, record: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("torinvest.runner.recorder.ledger_append", full)
    code, out, err = remediate(ready)
    assert code == 1
    (line,) = errors(err)
    assert f"cannot write the ledger {ready.ledger}: No space left on device" in line
    assert proxy.calls() == []
    no_traceback(out, err)


def test_a_same_named_user_created_at_another_time_is_left_alone(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """The activity created svc-backup-sync in 2023; moto's svc-backup-sync, made today with a
    console password, a key and a policy, is someone else's: its identity is checked before any
    undo step on it, and none is made."""
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="svc-backup-sync")  # today; the activity's CreateUser is in 2023
    iam.create_login_profile(UserName="svc-backup-sync", Password="Xx-12345678!")
    new_key = iam.create_access_key(UserName="svc-backup-sync")["AccessKey"]["AccessKeyId"]
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    arn = iam.create_policy(PolicyName="ops", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="svc-backup-sync", PolicyArn=arn)
    events = persistence_events("svc-backup-sync", new_key, arn)
    plan = ac.plan_remediation(key(key_id), events)
    said: list[str] = []
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=said.append)
    assert ops(proxy, changes_only=True) == ["UpdateAccessKey", "PutUserPolicy"]  # benjamin's
    assert ops(proxy).count("GetUser") == 1  # once, before the first undo step on it
    # the reason is printed once; the other steps it covers are named
    assert sum("LEFT ALONE: user svc-backup-sync" in line for line in said) == 1
    assert "  LEFT ALONE: DeleteUser too (the same reason)" in said
    left = report.left_alone
    assert [r.action.operation for r in left] == [
        "DeleteLoginProfile",
        "PutUserPolicy",  # the deny on its console sessions: for the user the activity made only
        "DetachUserPolicy",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "DeleteUserPolicy",
        "DeleteUser",
    ]
    assert all(
        "was created at" in r.note and "not by the activity's CreateUser at 2023-07-10" in r.note
        for r in left
    )
    summary = "\n".join(report.summary_lines())
    assert (
        "(DeleteLoginProfile, PutUserPolicy, DetachUserPolicy, UpdateAccessKey, DeleteAccessKey, "
        "DeleteUserPolicy, DeleteUser not made)"
    ) in summary
    assert iam.list_user_policies(UserName="svc-backup-sync")["PolicyNames"] == []
    assert iam.get_login_profile(UserName="svc-backup-sync")["LoginProfile"]
    keys = iam.list_access_keys(UserName="svc-backup-sync")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(new_key, "Active")]
    assert iam.list_attached_user_policies(UserName="svc-backup-sync")["AttachedPolicies"]
    assert report.failed == []


def test_a_same_named_role_created_at_another_time_is_left_alone(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    trust = {"Version": "2012-10-17", "Statement": []}
    iam.create_role(RoleName="backdoor", AssumeRolePolicyDocument=json.dumps(trust))
    allow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="backdoor", PolicyName="all", PolicyDocument=json.dumps(allow))
    iam_ = "iam.amazonaws.com"
    from tests.actions.test_actions import records_frame

    events = records_frame(
        [
            ("CreateRole", iam_, {"roleName": "backdoor"}, None),
            ("PutRolePolicy", iam_, {"roleName": "backdoor", "policyName": "all"}, None),
        ]
    )
    plan = ac.plan_remediation(key(key_id), events)
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert ops(proxy, changes_only=True) == ["UpdateAccessKey", "PutUserPolicy"]
    assert [r.action.operation for r in report.left_alone] == ["DeleteRolePolicy", "DeleteRole"]
    assert iam.list_role_policies(RoleName="backdoor")["PolicyNames"] == ["all"]


def test_forged_names_in_the_activity_stay_inert(proxy: FaultProxy, tmp_path: Path) -> None:
    case = sample_case_with(tmp_path, {})
    evil = "svc\x1b[2J\x1b]0;pwned\x07$(rm -rf ~);`id`"
    record = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "accessKeyId": SUSPECT,
            "userName": "benjamin",
            "accountId": SAMPLE_ACCOUNT,
            "principalId": "AIDATFQR7NSC5U6Q3TMDR",
        },
        "eventTime": "2023-07-10T12:18:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateUser",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "185.220.101.34",
        "userAgent": "aws-cli/2.13.0",
        "requestParameters": {"userName": evil},
        "responseElements": {"user": {"userName": evil}},
        "eventID": "forged-1",
        "eventType": "AwsApiCall",
    }
    (case / "cloudtrail" / "forged.json").write_text(json.dumps({"Records": [record]}))
    code, out, err = run("actions", FINDING, "--case", str(case), "--plan", "remediate")
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    (line,) = [x for x in out.splitlines() if "delete-user" in x and "pwned" in x]
    assert "--user-name='svc\\x1b[2J\\x1b]0;pwned\\x07$(rm -rf ~);`id`'" in line
    assert proxy.calls() == []


@pytest.mark.parametrize(
    ("criteria", "problem"),
    [
        (
            {"type": {"Eq": ["Recon:IAMUser/TorIPCaller", "UnauthorizedAccess:IAMUser/TorIPCaller"]},
             "resource.accessKeyDetails.principalId": {"Eq": ["AIDA1"]}},
            "exactly one Tor finding type",
        ),
        ({"type": {"Eq": ["Recon:IAMUser/TorIPCaller"]}}, "exactly one principal or one access key"),
        (
            {"type": {"Eq": ["Recon:IAMUser/TorIPCaller"]},
             "resource.accessKeyDetails.principalId": {"Neq": ["AIDA1"]}},
            "exactly one principal",
        ),
        (
            {"type": {"Eq": ["Recon:IAMUser/TorIPCaller"]},
             "resource.accessKeyDetails.principalId": {"Eq": ["AIDA1"]},
             "severity": {"Gte": 0}},
            "unexpected criteria",
        ),
        (
            {"type": {"Eq": ["Recon:IAMUser/TorIPCaller"]},
             "resource.accessKeyDetails.principalId": {"Eq": [""]}},
            "exactly one principal",
        ),
    ],
)  # fmt: skip
def test_suppression_rules_broader_than_one_principal_are_never_made(
    criteria: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InputError, match=problem):
        ac.check_suppression_scope({"Criterion": criteria})


def test_a_finding_without_its_principal_gets_no_suppression_rule(tmp_path: Path) -> None:
    raw = json.loads((SHAPES / "single_raw.json").read_text())
    del raw["resource"]["accessKeyDetails"]["principalId"]
    case = tmp_path / "case"
    (case / "findings").mkdir(parents=True)
    (case / "findings" / "f.json").write_text(json.dumps(raw))
    code, out, err = run(
        "actions",
        raw["id"],
        "--case",
        str(case),
        "--plan",
        "archive",
        "--suppress",
        "--scope",
        "principal",
    )
    assert code == 1
    (line,) = errors(err)
    assert "has no resource.accessKeyDetails.principalId" in line and "broader" in line
    assert "archive without --suppress" in line
    assert out == ""


def test_a_verdict_ledger_time_that_cannot_be_read_is_no_decision(tmp_path: Path) -> None:
    from torinvest.verdict import latest_decided_verdict

    records = [
        {"kind": "verdict", "finding_id": FINDING, "status": "legitimate", "recorded_at": "garbage",
         "analyst": "a", "rationale": "r"},
        {"kind": "verdict", "finding_id": FINDING, "status": "malicious",
         "recorded_at": "2024-01-01T00:00:00Z", "analyst": "a", "rationale": "r"},
        {"kind": "verdict", "finding_id": FINDING, "status": "pending",
         "recorded_at": str(pd.Timestamp("2030-01-01", tz="UTC"))},
    ]  # fmt: skip
    assert latest_decided_verdict(records, FINDING)["status"] == "malicious"


# --------------------------------------------------------------------------------------------
# a malformed verdict record (no analyst, no rationale, a wrong status or time: not written by
# torinvest, which refuses to) is never a decision: flagged wherever the ledger is read, and
# --execute refuses, naming the line
# --------------------------------------------------------------------------------------------
#: the tester's record: malicious, analyst and rationale null (written by hand or another tool)
NO_ANALYST = Path(__file__).parents[1] / "fixtures" / "ledger-malicious-no-analyst.jsonl"
GONE = object()  # the field is left out of the record
MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({}, "no analyst and no rationale"),  # the fixture as it is
    ({"analyst": GONE, "rationale": "r"}, "no analyst"),
    ({"analyst": "", "rationale": "r"}, "a blank analyst"),
    ({"analyst": " \t", "rationale": "r"}, "a blank analyst"),
    ({"analyst": 7, "rationale": "r"}, "an analyst that is not text"),
    ({"analyst": "ana", "rationale": GONE}, "no rationale"),
    ({"analyst": "ana", "rationale": "\n"}, "a blank rationale"),
    ({"analyst": "ana", "rationale": ["r"]}, "a rationale that is not text"),
    ({"analyst": "ana", "rationale": "r", "status": "guilty"}, "status 'guilty', which is not"),
    ({"analyst": "ana", "rationale": "r", "status": GONE}, "no status"),
    ({"analyst": "ana", "rationale": "r", "status": 3}, "no status"),
    ({"analyst": "ana", "rationale": "r", "recorded_at": GONE}, "no recorded_at"),
    ({"analyst": "ana", "rationale": "r", "recorded_at": "yesterday"}, "recorded_at 'yesterday'"),
]


def malformed_record(changes: dict[str, Any]) -> dict[str, Any]:
    """The fixture's record on FINDING with ``changes`` (GONE: the field left out)."""
    record = {**json.loads(NO_ANALYST.read_text()), "finding_id": FINDING, **changes}
    return {k: v for k, v in record.items() if v is not GONE}


@pytest.mark.parametrize("earlier", [None, "malicious", "legitimate"])
@pytest.mark.parametrize(("changes", "said"), MALFORMED)
def test_a_malformed_verdict_record_never_authorizes_execute(
    proxy: FaultProxy, tmp_path: Path, changes: dict[str, Any], said: str, earlier: str | None
) -> None:
    """Also after a well-formed verdict the plan follows: the ledger's last word on the finding
    cannot be followed, so the analyst records the verdict again."""
    ledger = tmp_path / "ledger.jsonl"
    if earlier:
        verdict(ledger, earlier)
    # written by another tool through torinvest's append (a line added by hand is also a
    # break of the hash chain: tests/test_ledger_chain.py)
    ledger_append(ledger, malformed_record(changes))
    line = 2 if earlier else 1
    before = ledger.read_bytes()
    code, out, err = run(
        "actions", FINDING, "--case", str(sample_case().root), "--plan", "remediate",
        "--execute", "--ledger", str(ledger),
    )  # fmt: skip
    assert code == EXIT_REFUSED
    (error,) = errors(err)
    assert f"the latest verdict record on {FINDING}, {ledger}:{line}, is malformed" in error
    assert said in error and "nothing was called" in error
    assert f"record the verdict again: torinvest verdict {FINDING} --status malicious" in error
    assert proxy.calls() == [] and out == ""
    assert ledger.read_bytes() == before
    records, issues = read_ledger(ledger)
    assert len(records) == line  # kept as it is
    assert [i.source for i in issues] == [f"{ledger}:{line}"] and said in issues[0].problem


@pytest.mark.parametrize(("changes", "said"), MALFORMED)
def test_a_malformed_verdict_record_is_flagged_never_current(
    tmp_path: Path, changes: dict[str, Any], said: str
) -> None:
    """`verdicts` shows it (state malformed) where the analyst would look, never as the current
    verdict, with an issue naming the line; the dry run says --execute would be refused; a
    well-formed verdict recorded after it is current and authorizes."""
    from torinvest.verdict import latest_verdict

    ledger = tmp_path / "ledger.jsonl"
    verdict(ledger, "legitimate")
    # written by another tool through torinvest's append (a line added by hand is also a
    # break of the hash chain: tests/test_ledger_chain.py)
    ledger_append(ledger, malformed_record(changes))
    records, _ = read_ledger(ledger)
    assert latest_verdict(records, FINDING)["status"] == "legitimate"  # not the malformed one
    code, out, err = run("verdicts", "--ledger", str(ledger), "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["state"] for r in rows] == ["malformed", "current"]
    assert said in rows[0]["problem"] and rows[1]["problem"] is None
    assert f"torinvest: issue: {ledger}:2: a verdict record with {said}" in err
    assert "record the verdict again: torinvest verdict" in err
    code, out, _ = run("verdicts", "--ledger", str(ledger))
    assert "malformed" in out.splitlines()[2] and "current" in out.splitlines()[3]

    code, _, err = run(
        "actions", FINDING, "--case", str(sample_case().root), "--plan", "archive",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    assert f"torinvest: issue: {ledger}:2: a verdict record with {said}" in err
    assert f"the latest verdict record on {FINDING} is malformed" in err
    assert "--execute would be refused until it is recorded again" in err

    verdict(ledger, "legitimate", minutes=1)  # recorded again: the malformed one is history
    assert rn.require_verdict(FINDING, "archive", ledger=ledger)["status"] == "legitimate"
    code, out, _ = run("verdicts", "--ledger", str(ledger), "--json")
    assert [r["state"] for r in json.loads(out)] == ["current"]


# --------------------------------------------------------------------------------------------
# a verdict recorded while the plan is built or run
# --------------------------------------------------------------------------------------------
def test_a_legitimate_verdict_recorded_during_the_investigation_stops_the_remediation(
    ready: SimpleNamespace, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another analyst records `legitimate` while the investigation runs (minutes against AWS):
    no change is made, the refusal is printed and ledgered."""
    from torinvest.cli import actions as cli_actions

    real = cli_actions._investigate

    def investigate_then_decide(*args: Any, **kwargs: Any) -> Any:
        inv = real(*args, **kwargs)
        verdict(ready.ledger, "legitimate", minutes=5)
        return inv

    monkeypatch.setattr(cli_actions, "_investigate", investigate_then_decide)
    code, out, err = remediate(ready)
    assert code == EXIT_REFUSED
    assert ops(proxy, changes_only=True) == []
    (line,) = errors(err)
    assert "refused while running" in line and "latest decided verdict is legitimate" in line
    assert "REFUSED  refused while running" in out and "STOPPED:" in out
    assert "EXECUTE" not in out
    refusals = [r for r in read_ledger(ready.ledger)[0] if r.get("phase") == "refused"]
    assert len(refusals) == 1 and "legitimate" in refusals[0]["reason"]
    keys = ready.iam.list_access_keys(UserName="benjamin")["AccessKeyMetadata"]
    assert {k["Status"] for k in keys} == {"Active"}
    no_traceback(out, err)


def test_a_verdict_changed_between_two_changes_stops_the_next_one(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    ledger = tmp_path / "l"
    verdict(ledger, "malicious")
    plan = ac.plan_remediation(key(key_id), None)

    def echo(line: str) -> None:
        if line.startswith("EXECUTE  aws iam update-access-key"):
            verdict(ledger, "legitimate", minutes=5)

    report = rn.carry_out(Aws(), plan, execute=True, ledger=ledger, echo=echo, recheck_verdict=True)
    assert ops(proxy, changes_only=True) == ["UpdateAccessKey"]  # not the PutUserPolicy
    problem = rn.exit_problem(report)
    assert report.stopped is not None and type(problem) is type(report.stopped)
    # the last line says the refusal, then what the run changed before it and what it did not
    assert problem.message == (
        f"{report.stopped.message}; this run: 1 change(s) made (UpdateAccessKey benjamin "
        f"{key_id}), 1 not made (the run stopped before them)"
    )
    assert [r.status for r in report.results][:2] == ["done", "not-run"]
    assert iam.list_user_policies(UserName="benjamin")["PolicyNames"] == []


def test_a_verdict_recorded_during_a_change_call_waits_for_the_call(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob records legitimate while the remediation's UpdateAccessKey is in flight, over ana's
    malicious. The gate's last look at the verdict and the change call were not one critical
    section with verdict recording: bob's verdict was appended between them, and the key was
    deactivated under a verdict that was no longer current. Now bob's recording waits for the
    call (it would read the finding again after it); the next change reads bob's verdict."""
    import torinvest.runner.run as run_mod
    from tests.test_verdict_race import Race

    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    ledger = tmp_path / "l"
    verdict(ledger, "malicious")
    plan = ac.plan_remediation(key(key_id), None)
    race = Race(monkeypatch)
    real = run_mod._change

    def change(runner: Any, action: Any) -> Any:
        race.pause()  # the first change's call in flight
        return real(runner, action)

    monkeypatch.setattr(run_mod, "_change", change)
    bob = make_verdict(FINDING, status="legitimate", analyst="bob", rationale="his laptop")
    got = race.run(
        lambda: rn.carry_out(
            Aws(), plan, execute=True, ledger=ledger, echo=lambda _: None, recheck_verdict=True
        ),
        lambda: record_decision(bob, ledger),
    )
    records, _ = read_ledger(ledger)
    at_bob = next(i for i, r in enumerate(records) if r.get("analyst") == "bob")
    made = [
        i
        for i, r in enumerate(records)
        if r.get("phase") == "outcome" and r.get("status") == "done"
    ]
    assert made and got["second"].added
    assert made[0] < at_bob  # the call in flight ended before bob's verdict was appended
    # each change is made under the verdict current when its call starts: none after bob's
    report = got["first"]
    assert all(i < at_bob for i in made)
    assert report.stopped is not None or len(made) == len(plan.changes)
    assert race.second_waited


def test_a_malicious_verdict_recorded_meanwhile_stops_the_archive(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torinvest.investigation as investigation

    raw = guardduty_finding(fake_aws)
    ledger = tmp_path / "ledger.jsonl"
    verdict(ledger, "legitimate", raw["id"])
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    real = investigation.locate

    def locate_then_decide(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        verdict(ledger, "malicious", raw["id"], minutes=5)
        return found

    monkeypatch.setattr(investigation, "locate", locate_then_decide)
    code, _out, err = run(
        "actions", raw["id"], "--plan", "archive", "--suppress", "--scope", "principal", "--regions", "us-east-1",
        "--execute", "--ledger", str(ledger),
    )  # fmt: skip
    assert code == EXIT_REFUSED
    assert "latest decided verdict is malicious" in err
    assert fake_aws.archived_ids == set() and fake_aws.filters == []
    assert "ArchiveFindings" not in ops(proxy) and "CreateFilter" not in ops(proxy)


# --------------------------------------------------------------------------------------------
# --ledger naming a folder
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["verdict", FINDING, "--status", "malicious", "--analyst", "a", "--rationale", "r"],
        ["verdict", FINDING, "--status", "pending", "--analyst", "a", "--rationale", "r"],
        ["verdicts"],
        ["verdicts", "--history"],
        ["actions", FINDING, "--case", "CASE", "--plan", "remediate"],
        ["actions", FINDING, "--case", "CASE", "--plan", "remediate", "--execute"],
    ],
    ids=["verdict", "verdict-pending", "verdicts", "history", "actions", "actions-execute"],
)
def test_a_ledger_that_is_a_folder_is_one_line_naming_it(
    argv: list[str], proxy: FaultProxy, tmp_path: Path
) -> None:
    folder = tmp_path / "ledgers"
    folder.mkdir()
    argv = [str(sample_case().root) if a == "CASE" else a for a in argv]
    code, out, err = run(*argv, "--ledger", str(folder))
    assert code == 1
    (line,) = errors(err)
    assert f"the ledger {folder}: Is a directory" in line and "internal error" not in line
    assert proxy.calls() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledgers"]  # nothing written beside
    no_traceback(out, err)


# --------------------------------------------------------------------------------------------
# what the activity created: never someone else's same-named thing
# --------------------------------------------------------------------------------------------
def _someone_elses_user(iam: Any, name: str) -> None:
    """A user made today, with a console password: not the activity's (made in 2023)."""
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password="Xx-12345678!")


def _benjamin(iam: Any) -> str:
    iam.create_user(UserName="benjamin")
    return str(iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"])


def test_a_user_created_at_no_usable_time_is_never_undone_by_a_call(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """CreateUser's record has no usable eventTime: whether the svc-reporting in AWS is the one
    it created cannot be checked, so every undo step on it is a manual step saying why."""
    from tests.actions.test_actions import records_frame
    from torinvest.events import combine_frames

    iam = iam_client(moto)
    key_id = _benjamin(iam)
    _someone_elses_user(iam, "svc-reporting")
    iam_ = "iam.amazonaws.com"
    create = records_frame(
        [("CreateUser", iam_, {"userName": "svc-reporting"}, None)], eventTime="not-a-time"
    )
    profile = records_frame(
        [("CreateLoginProfile", iam_, {"userName": "svc-reporting"}, None)], prefix="p"
    )
    plan = ac.plan_remediation(key(key_id), combine_frames([create, profile]))
    on_it = [a for a in plan.actions if "svc-reporting" in a.targets]
    # the deny on its console sessions too: for the user the activity made only
    assert [a.operation for a in on_it] == ["DeleteLoginProfile", "PutUserPolicy", "DeleteUser"]
    assert all(a.manual and "has no usable time" in a.manual for a in on_it)
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert ops(proxy, changes_only=True) == ["UpdateAccessKey", "PutUserPolicy"]  # benjamin's
    assert iam.get_login_profile(UserName="svc-reporting")["LoginProfile"]
    assert "cannot be checked that user svc-reporting in AWS is the one it created" in "\n".join(
        report.summary_lines()
    )


@pytest.mark.parametrize("member", [None, "alice"])
def test_a_group_the_activity_created_is_deleted_only_when_it_holds_nothing_else(
    proxy: FaultProxy, moto: str, tmp_path: Path, member: str | None
) -> None:
    """CreateGroup ops-g (then a policy attached and an inline one put on it): undone like a
    user or role — GetGroup first (its creation time), its policies removed, then DeleteGroup.
    A member the activity did not add (alice, added by someone else) is never taken along: the
    delete is left alone naming her and the commands; the group stays."""
    from tests.actions.test_actions import records_frame

    iam = iam_client(moto)
    key_id = _benjamin(iam)
    made = iam.create_group(GroupName="ops-g")["Group"]
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    arn = iam.create_policy(PolicyName="g-all", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
    iam.attach_group_policy(GroupName="ops-g", PolicyArn=arn)
    iam.put_group_policy(GroupName="ops-g", PolicyName="p", PolicyDocument=json.dumps(doc))
    if member:
        iam.create_user(UserName=member)
        iam.add_user_to_group(GroupName="ops-g", UserName=member)
    iam_ = "iam.amazonaws.com"
    answer = {"group": {"groupName": "ops-g", "groupId": made["GroupId"]}}
    events = records_frame(
        [
            ("CreateGroup", iam_, {"groupName": "ops-g"}, answer),
            ("AttachGroupPolicy", iam_, {"groupName": "ops-g", "policyArn": arn}, None),
            ("PutGroupPolicy", iam_, {"groupName": "ops-g", "policyName": "p"}, None),
        ],
        start=pd.Timestamp(made["CreateDate"]),
    )
    plan = ac.plan_remediation(key(key_id), events)
    (delete,) = [a for a in plan.changes if a.operation == "DeleteGroup"]
    assert delete.identity == ("Group", "ops-g", made["GroupId"]) and delete.created_at
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert report.failed == []
    assert ops(proxy).count("GetGroup") == 2  # its identity, then its members before the delete
    undone = ["DeleteGroupPolicy", "DetachGroupPolicy"]
    assert [r.action.operation for r in report.done][2:] == undone + (
        [] if member else ["DeleteGroup"]
    )
    groups = {g["GroupName"] for g in iam.list_groups()["Groups"]}
    if member is None:
        assert "ops-g" not in groups
        return
    assert "ops-g" in groups
    (left,) = report.left_alone
    assert left.action.operation == "DeleteGroup"
    assert "group ops-g still holds what the run did not see the activity add" in (left.note or "")
    assert "member(s) alice (aws iam remove-user-from-group --user-name NAME" in (left.note or "")
    assert [u["UserName"] for u in iam.get_group(GroupName="ops-g")["Users"]] == ["alice"]


def test_iam_names_are_compared_without_case(proxy: FaultProxy, moto: str, tmp_path: Path) -> None:
    """IAM treats Svc-Ops and svc-ops as one user: the CreateLoginProfile on Svc-Ops is an undo
    step on the user the activity created as svc-ops, so it waits for that user's check — and
    moto's svc-ops, made today, is someone else's: nothing is undone on it. (moto, unlike IAM,
    compares names with case: the check reads the user as the CreateUser spelled it.)"""
    from tests.actions.test_actions import records_frame

    iam = iam_client(moto)
    key_id = _benjamin(iam)
    _someone_elses_user(iam, "svc-ops")
    iam_ = "iam.amazonaws.com"
    events = records_frame(
        [
            ("CreateUser", iam_, {"userName": "svc-ops"}, None),
            ("CreateLoginProfile", iam_, {"userName": "Svc-Ops"}, None),
            ("PutUserPolicy", iam_, {"userName": "SVC-OPS", "policyName": "p"}, None),
        ]
    )
    plan = ac.plan_remediation(key(key_id), events)
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert ops(proxy, changes_only=True) == ["UpdateAccessKey", "PutUserPolicy"]  # benjamin's
    assert ops(proxy).count("GetUser") == 1  # one check for all three spellings
    assert [r.action.operation for r in report.left_alone] == [
        "DeleteUserPolicy",
        "DeleteLoginProfile",
        "PutUserPolicy",  # the deny on its console sessions (Svc-Ops): the same check
        "DeleteUserPolicy",
        "DeleteUser",
    ]
    assert iam.get_login_profile(UserName="svc-ops")["LoginProfile"]


def test_a_same_named_policy_or_login_profile_made_at_another_time_is_left_alone(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """Not only users and roles: a managed policy the activity created, and a console password
    it added to a user it did not create, are checked by their own CreateDate (GetPolicy,
    GetLoginProfile) before they are deleted; a Lambda function (no creation date to read) and a
    virtual MFA device are manual steps."""
    from tests.actions.test_actions import records_frame

    iam = iam_client(moto)
    key_id = _benjamin(iam)
    _someone_elses_user(iam, "carol")
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}  # fmt: skip
    arn = iam.create_policy(PolicyName="ops-readonly", PolicyDocument=json.dumps(doc))["Policy"][
        "Arn"
    ]
    iam_, lam = "iam.amazonaws.com", "lambda.amazonaws.com"
    events = records_frame(
        [
            ("CreatePolicy", iam_, {"policyName": "ops-readonly"}, {"policy": {"arn": arn}}),
            ("CreateLoginProfile", iam_, {"userName": "carol"}, None),
            ("CreateFunction20150331", lam, {"functionName": "billing-export"}, None),
            (
                "CreateVirtualMFADevice",
                iam_,
                {"virtualMFADeviceName": "x"},
                {"virtualMFADevice": {"serialNumber": f"arn:aws:iam::{MOTO_ACCOUNT}:mfa/x"}},
            ),
        ]
    )
    plan = ac.plan_remediation(key(key_id), events)
    manual = {a.operation for a in plan.manual}
    assert {"DeleteFunction", "DeleteVirtualMFADevice"} <= manual
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    # benjamin's deny; and carol's: the key set carol's console password (a genuine record),
    # and a console session signed in with it outlives the password — whichever login profile
    # carol has now (carol is no user the activity created: nothing to check it against)
    assert ops(proxy, changes_only=True) == ["UpdateAccessKey", "PutUserPolicy", "PutUserPolicy"]
    assert iam.list_user_policies(UserName="carol")["PolicyNames"] == [ac.REVOKE_POLICY_NAME]
    left = {r.action.operation: r.note or "" for r in report.left_alone}
    assert set(left) == {"DeletePolicy", "DeleteLoginProfile"}
    assert "managed policy arn:aws:iam::" in left["DeletePolicy"]
    assert "not by the activity's CreatePolicy at 2023-07-10" in left["DeletePolicy"]
    assert "the login profile of user carol was created at" in left["DeleteLoginProfile"]
    assert iam.get_policy(PolicyArn=arn)["Policy"]
    assert iam.get_login_profile(UserName="carol")["LoginProfile"]


# --------------------------------------------------------------------------------------------
# a temporary key: the deny goes on its issuer, taken from the issuer ARN, in this account only
# --------------------------------------------------------------------------------------------
def _session_events(identity: dict[str, Any]) -> pd.DataFrame:
    from torinvest.sources.records import normalize_records

    record = {
        "eventVersion": "1.08",
        "eventID": "s1",
        "eventTime": "2023-07-10T12:18:00Z",
        "eventName": "ListBuckets",
        "eventSource": "s3.amazonaws.com",
        "awsRegion": "us-east-1",
        "readOnly": True,
        "userIdentity": identity,
    }
    return normalize_records([record], source="logs", origin="t")


def _assumed(issuer: str, session_key: str = "ASIAZZZZZZZZZZZZZZZ1") -> dict[str, Any]:
    account = issuer.split(":")[4]
    return {
        "type": "AssumedRole",
        "accessKeyId": session_key,
        "arn": f"arn:aws:sts::{account}:assumed-role/Admin/ops",
        "accountId": account,
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": issuer}},
    }


@pytest.mark.parametrize(
    ("issuer", "where"),
    [
        ("arn:aws:iam::999999999999:role/Admin", "in account 999999999999"),
        (f"arn:aws-cn:iam::{MOTO_ACCOUNT}:role/Admin", "(partition aws-cn)"),
        (None, None),  # no issuer in the events: the finding's role ID must match
    ],
    ids=["another-account", "another-partition", "role-id"],
)
def test_a_role_session_is_never_revoked_on_a_same_named_role_elsewhere(
    issuer: str | None, where: str | None, proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """The finding names role session key ASIA… of "Admin"; this account has its own, unrelated
    role Admin. The deny is never put on it: an issuer in another account (or partition) is a
    manual step there, and a role named by the finding alone must have the finding's role ID."""
    from dataclasses import replace

    iam = iam_client(moto)
    trust = {"Version": "2012-10-17", "Statement": []}
    iam.create_role(RoleName="Admin", AssumeRolePolicyDocument=json.dumps(trust))
    kid = "ASIAZZZZZZZZZZZZZZZ1"
    loc = replace(
        key(kid, user="Admin", user_type="AssumedRole"), principal_id="AROAXXXXXXXXXXXXXXXXX:ops"
    )
    events = _session_events(_assumed(issuer)) if issuer else None
    plan = ac.plan_remediation(loc, events)
    if where:
        (step,) = [a for a in plan.actions if a.operation == "PutRolePolicy"]
        assert step.manual and where in step.manual and "role Admin" in step.manual
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert "PutRolePolicy" not in ops(proxy)
    assert iam.list_role_policies(RoleName="Admin")["PolicyNames"] == []
    summary = "\n".join(report.summary_lines())
    assert "  revoked:" not in summary and "  to revoke:" not in summary
    if not where:
        (left,) = report.left_alone
        assert "not the finding's role AROAXXXXXXXXXXXXXXXXX" in (left.note or "")


def test_a_federated_session_is_revoked_on_its_issuer_not_on_a_user_of_its_name(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """A FederatedUser finding names "alice" (the federation name, not an IAM user): the deny
    goes on the IAM user its issuer ARN names (benjamin, who called GetFederationToken), never on
    the unrelated IAM user alice."""
    from dataclasses import replace

    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    iam.create_user(UserName="alice")
    kid = "ASIAZZZZZZZZZZZZZZZ2"
    loc = replace(
        key(kid, user="alice", user_type="FederatedUser"),
        principal_id=f"{MOTO_ACCOUNT}:alice",
    )
    identity = {
        "type": "FederatedUser",
        "accessKeyId": kid,
        "arn": f"arn:aws:sts::{MOTO_ACCOUNT}:federated-user/alice",
        "accountId": MOTO_ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {
                "type": "IAMUser",
                "arn": f"arn:aws:iam::{MOTO_ACCOUNT}:user/benjamin",
            }
        },
    }
    plan = ac.plan_remediation(loc, _session_events(identity))
    rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert ops(proxy, changes_only=True) == ["PutUserPolicy"]
    assert iam.list_user_policies(UserName="alice")["PolicyNames"] == []
    assert iam.list_user_policies(UserName="benjamin")["PolicyNames"] == [ac.REVOKE_POLICY_NAME]


# --------------------------------------------------------------------------------------------
# a renamed suspect user: "no such user" is not "done"
# --------------------------------------------------------------------------------------------
def _renamed_benjamin(iam: Any) -> tuple[str, pd.DataFrame]:
    from tests.actions.test_actions import records_frame

    key_id = _benjamin(iam)
    iam.update_user(UserName="benjamin", NewUserName="benjamin-old")
    iam_ = "iam.amazonaws.com"
    events = records_frame(
        [("UpdateUser", iam_, {"userName": "benjamin", "newUserName": "benjamin-old"}, None)]
    )
    return key_id, events


def test_a_renamed_suspect_user_is_found_by_its_keys_id(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The actor renamed benjamin to benjamin-old: ListAccessKeys benjamin says "no such
    entity", which is not "the key no longer exists". The key is looked up by its ID
    (GetAccessKeyLastUsed names its user) and deactivated under benjamin-old; the inventory is
    read there too; the plan names the rename."""
    from torinvest.runner import recorder

    iam = iam_client(moto)
    key_id, events = _renamed_benjamin(iam)
    real = recorder.invoke

    def current_name(aws: Any, action: Any) -> dict[str, Any]:
        answer = real(aws, action)
        if action.operation == "GetAccessKeyLastUsed":  # moto keeps the old name; IAM does not
            answer["UserName"] = "benjamin-old"
        return answer

    monkeypatch.setattr(recorder, "invoke", current_name)
    plan = ac.plan_remediation(key(key_id), events)
    (rename,) = [a for a in plan.manual if a.operation == "UpdateUser"]
    assert "renamed user benjamin to benjamin-old" in rename.manual
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert report.already == []
    (key_meta,) = iam.list_access_keys(UserName="benjamin-old")["AccessKeyMetadata"]
    assert key_meta["Status"] == "Inactive"
    assert iam.list_user_policies(UserName="benjamin-old")["PolicyNames"] == [ac.REVOKE_POLICY_NAME]
    assert any("benjamin-old has no console password" in line for line in report.inventory)


def test_no_such_user_is_never_already_done_nor_no_console_password(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """When the key's user cannot be found (here moto's GetAccessKeyLastUsed names the old,
    gone name), nothing says "already done" or "no console password": the deactivation is left
    alone saying so, and the inventory reads say they could not look at the user."""
    iam = iam_client(moto)
    key_id, events = _renamed_benjamin(iam)
    report = rn.carry_out(
        Aws(),
        ac.plan_remediation(key(key_id), events),
        execute=True,
        ledger=tmp_path / "l",
        echo=lambda s: None,
    )
    assert report.already == []
    left, deny = report.left_alone
    assert left.action.operation == "UpdateAccessKey"
    assert "could not look at user benjamin (renamed or deleted?)" in (left.note or "")
    assert deny.action.operation == "PutUserPolicy"  # GetUser: not there, so not denied
    assert "user benjamin is not there (renamed or deleted?)" in (deny.note or "")
    summary = "\n".join(report.summary_lines())
    assert "no console password" not in summary
    assert "could not look: GetLoginProfile benjamin: could not look at user benjamin" in summary
    (key_meta,) = iam.list_access_keys(UserName="benjamin-old")["AccessKeyMetadata"]
    assert key_meta["Status"] == "Active"  # nothing claimed, and the summary says why


@pytest.mark.parametrize("fate", ["renamed", "deleted", "no-id"])
def test_a_created_user_not_found_by_name_is_already_done_only_if_its_id_is_gone(
    proxy: FaultProxy, moto: str, tmp_path: Path, fate: str
) -> None:
    """The activity created svc-x (CreateUser gives its user ID); there is no svc-x now. A
    rename by someone else looks the same as a delete by name: the user is looked up by its ID
    (ListUsers). Renamed → left alone naming the new name (its console password still there);
    no user with that ID → "already done"; no ID in the record → left alone, saying it may have
    been deleted or renamed. Never "already done" from the name alone."""
    from tests.actions.test_actions import records_frame

    iam = iam_client(moto)
    key_id = _benjamin(iam)
    uid = iam.create_user(UserName="svc-x")["User"]["UserId"]
    iam.create_login_profile(UserName="svc-x", Password="Xx-12345678!")
    if fate == "deleted":
        iam.delete_login_profile(UserName="svc-x")
        iam.delete_user(UserName="svc-x")
    else:
        iam.update_user(UserName="svc-x", NewUserName="svc-x2")  # someone else's rename
    made = {"user": {"userName": "svc-x", "userId": uid}} if fate != "no-id" else None
    iam_ = "iam.amazonaws.com"
    events = records_frame(
        [
            ("CreateUser", iam_, {"userName": "svc-x"}, made),
            ("CreateLoginProfile", iam_, {"userName": "svc-x"}, None),
        ]
    )
    plan = ac.plan_remediation(key(key_id), events)
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert ops(proxy, changes_only=True) == ["UpdateAccessKey", "PutUserPolicy"]  # benjamin's
    on_it = [r for r in report.results if "svc-x" in r.action.targets]
    assert [r.action.operation for r in on_it] == [
        "DeleteLoginProfile",
        "PutUserPolicy",  # the deny on its console sessions: the same check
        "DeleteUserPolicy",
        "DeleteUser",
    ]
    notes = {r.status: r.note or "" for r in on_it}
    if fate == "deleted":
        assert set(notes) == {"already-done"}
        assert f"no user in this account has its ID {uid}" in notes["already-done"]
    else:
        assert set(notes) == {"left-alone"}
        assert report.already == []
        said = notes["left-alone"]
        if fate == "renamed":
            assert f"user svc-x was renamed svc-x2 (the same user ID {uid}" in said
        else:
            assert "no user named svc-x now; it may have been deleted or renamed" in said
        assert iam.get_login_profile(UserName="svc-x2")["LoginProfile"]
    assert "ListUsers" in ops(proxy) if fate != "no-id" else "ListUsers" not in ops(proxy)


def test_a_console_password_of_a_user_not_found_by_name_is_never_already_done(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """The actor added a console password to ops (not its creation); ops was renamed since.
    GetLoginProfile ops says "no such user", not "no login profile": the step is left alone
    saying no user of that name is there, and the password stays."""
    from tests.actions.test_actions import records_frame

    iam = iam_client(moto)
    key_id = _benjamin(iam)
    _someone_elses_user(iam, "ops")
    iam.update_user(UserName="ops", NewUserName="ops2")
    events = records_frame(
        [("CreateLoginProfile", "iam.amazonaws.com", {"userName": "ops"}, None)],
        start=pd.Timestamp.now(tz="UTC"),
    )
    report = rn.carry_out(
        Aws(),
        ac.plan_remediation(key(key_id), events),
        execute=True,
        ledger=tmp_path / "l",
        echo=lambda s: None,
    )
    assert report.already == []
    (left,) = [r for r in report.left_alone if r.action.operation == "DeleteLoginProfile"]
    assert "no user named ops now; it may have been deleted or renamed" in (left.note or "")
    # nor is the deny on its console sessions "already done": no user of that name to put it on
    (failed,) = report.failed
    assert (failed.action.operation, failed.action.params["UserName"]) == ("PutUserPolicy", "ops")
    assert failed.error is not None and failed.error.code == "NoSuchEntity"
    assert iam.get_login_profile(UserName="ops2")["LoginProfile"]


def _renamed_then_replaced(iam: Any) -> tuple[str, Any]:
    """benjamin (key K) renamed to benjamin-old, then a new, unrelated benjamin: K's owner and
    the finding (whose principal ID is the first benjamin's)."""
    from dataclasses import replace as with_fields

    key_id = _benjamin(iam)
    first = iam.get_user(UserName="benjamin")["User"]["UserId"]
    iam.update_user(UserName="benjamin", NewUserName="benjamin-old")
    iam.create_user(UserName="benjamin")
    return key_id, with_fields(key(key_id), principal_id=first)


def _stale_last_used(monkeypatch: pytest.MonkeyPatch, name: str | None) -> None:
    """GetAccessKeyLastUsed names ``name`` (moto keeps the old name; IAM names the current)."""
    from torinvest.runner import recorder

    real = recorder.invoke

    def answer(aws: Any, action: Any) -> dict[str, Any]:
        said = real(aws, action)
        if action.operation == "GetAccessKeyLastUsed" and name is not None:
            said["UserName"] = name
        return said

    monkeypatch.setattr(recorder, "invoke", answer)


def test_a_key_not_listed_under_a_same_named_newcomer_is_found_by_its_id(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """benjamin renamed to benjamin-old, a new benjamin made: ListAccessKeys benjamin answers
    (the newcomer's keys) without K, which is not "K no longer exists". K is looked up by its ID
    and deactivated on benjamin-old; the deny and the inventory go there, never on the
    newcomer."""
    iam = iam_client(moto)
    _, found = _renamed_then_replaced(iam)
    _stale_last_used(monkeypatch, "benjamin-old")
    report = rn.carry_out(
        Aws(), ac.plan_remediation(found), execute=True, ledger=tmp_path / "l", echo=lambda s: None
    )
    assert report.already == [] and report.left_alone == [] and report.failed == []
    (meta,) = iam.list_access_keys(UserName="benjamin-old")["AccessKeyMetadata"]
    assert meta["Status"] == "Inactive"
    assert iam.list_user_policies(UserName="benjamin-old")["PolicyNames"] == [ac.REVOKE_POLICY_NAME]
    assert iam.list_user_policies(UserName="benjamin")["PolicyNames"] == []
    assert any("benjamin-old has no console password" in line for line in report.inventory)
    assert "1 already done" not in "\n".join(report.summary_lines())


def test_a_key_not_listed_and_not_found_elsewhere_is_never_already_done(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """Same story, but looking K up by its ID names benjamin again (moto's stale name): nothing
    claims K is done, K stays active (left alone, saying so), and the newcomer benjamin — not
    the finding's user ID — gets no deny."""
    iam = iam_client(moto)
    key_id, found = _renamed_then_replaced(iam)
    report = rn.carry_out(
        Aws(), ac.plan_remediation(found), execute=True, ledger=tmp_path / "l", echo=lambda s: None
    )
    assert report.already == []
    left = {r.action.operation: r.note or "" for r in report.left_alone}
    assert f"user benjamin does not list key {key_id}" in left["UpdateAccessKey"]
    assert "not the finding's user" in left["PutUserPolicy"]
    assert ops(proxy, changes_only=True) == []
    (meta,) = iam.list_access_keys(UserName="benjamin-old")["AccessKeyMetadata"]
    assert meta["Status"] == "Active"
    assert iam.list_user_policies(UserName="benjamin")["PolicyNames"] == []


def test_a_deleted_key_is_done_but_the_deny_only_goes_on_the_findings_user(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """K deleted ("no such entity" for the key itself): its deactivation is already done. The
    deny goes on benjamin only when GetUser shows the finding's user ID: the same user → denied;
    a newcomer of that name (the first one deleted) → left alone."""
    from dataclasses import replace as with_fields

    iam = iam_client(moto)
    key_id = _benjamin(iam)
    first = iam.get_user(UserName="benjamin")["User"]["UserId"]
    iam.delete_access_key(UserName="benjamin", AccessKeyId=key_id)
    found = with_fields(key(key_id), principal_id=first)
    report = rn.carry_out(
        Aws(), ac.plan_remediation(found), execute=True, ledger=tmp_path / "l", echo=lambda s: None
    )
    (done,) = report.already
    assert f"key {key_id} does not exist in this account" in (done.note or "")
    assert iam.list_user_policies(UserName="benjamin")["PolicyNames"] == [ac.REVOKE_POLICY_NAME]

    iam.delete_user_policy(UserName="benjamin", PolicyName=ac.REVOKE_POLICY_NAME)
    iam.delete_user(UserName="benjamin")
    iam.create_user(UserName="benjamin")
    report = rn.carry_out(
        Aws(), ac.plan_remediation(found), execute=True, ledger=tmp_path / "l", echo=lambda s: None
    )
    (left,) = report.left_alone
    assert left.action.operation == "PutUserPolicy"
    assert f"not the finding's user {first}" in (left.note or "")
    assert iam.list_user_policies(UserName="benjamin")["PolicyNames"] == []


def test_two_sessions_of_one_role_get_two_key_rules_and_no_principal_rule(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two findings of one role, sessions …:botocore-session-1688991000 and …-1688995555: a
    principal rule is refused (the session name is the caller's choice); key rules (each
    session's own ASIA key) are two rules, each name carrying the hash of its criteria, and a
    re-run of each is already done."""
    import copy

    from torinvest.findings import read_findings

    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    raw = json.loads((SHAPES / "single_raw.json").read_text())
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector(raw["service"]["detectorId"])
    rows = []
    for fid, session in (("a" * 32, "1688991000"), ("b" * 32, "1688995555")):
        r = copy.deepcopy(raw)
        r["id"], r["arn"] = fid, r["arn"].replace(raw["id"], fid)
        r["resource"]["accessKeyDetails"] = {
            "accessKeyId": "ASIATFQR7NSC" + fid[:8].upper(),
            "principalId": f"AROATFQR7NSCABCDEFGHI:botocore-session-{session}",
            "userName": "deploy",
            "userType": "AssumedRole",
        }
        rows.append(r)
    path = tmp_path / "findings.json"
    path.write_text(json.dumps(rows))
    gd.add_findings(rows)
    plans = [
        ac.plan_archive(row, suppress=True, scope="key")
        for _, row in read_findings(path).frame().iterrows()
    ]
    for _, row in read_findings(path).frame().iterrows():
        with pytest.raises(InputError, match="session name is chosen by whoever assumes"):
            ac.plan_archive(row, suppress=True, scope="principal")
    names = [p.actions[1].params["Name"] for p in plans]
    assert len(set(names)) == 2 and all(len(n) <= 64 for n in names)
    for plan in plans:
        report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
        assert [r.status for r in report.results] == ["done", "done"]
    sessions = [
        f["FindingCriteria"]["Criterion"]["resource.accessKeyDetails.accessKeyId"]["Eq"]
        for f in fake_aws.filters
    ]
    assert sessions == [["ASIATFQR7NSCAAAAAAAA"], ["ASIATFQR7NSCBBBBBBBB"]]
    again = rn.carry_out(Aws(), plans[1], execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert [r.status for r in again.results] == ["already-done", "already-done"]


def test_an_undo_carries_every_parameter_that_scoped_the_call(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """AddPermission on alias "live" of payments (qualifier): its RemovePermission names the
    alias too — without it Lambda looks in the function's own policy, answers "not found", and
    the backdoor statement on the alias stays while the run says "already done". Lambda does
    not say when a statement was added (nor when the function was created): the step is a
    manual one saying so, never a call, with the command to run once checked."""
    import io
    import zipfile

    import boto3

    from tests.actions.test_actions import records_frame

    iam = iam_client(moto)
    key_id = _benjamin(iam)
    trust = {"Version": "2012-10-17", "Statement": []}
    role = iam.create_role(RoleName="lambda-exec", AssumeRolePolicyDocument=json.dumps(trust))
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("index.py", "def h(e, c): pass")
    lam = boto3.client("lambda", endpoint_url=moto, region_name="us-east-1")
    lam.create_function(
        FunctionName="payments",
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="index.h",
        Code={"ZipFile": code.getvalue()},
    )
    version = lam.publish_version(FunctionName="payments")["Version"]
    lam.create_alias(FunctionName="payments", Name="live", FunctionVersion=version)
    lam.add_permission(
        FunctionName="payments",
        StatementId="backdoor",
        Action="lambda:InvokeFunction",
        Principal="999999999999",
        Qualifier="live",
    )
    request = {
        "functionName": "payments",
        "statementId": "backdoor",
        "action": "lambda:InvokeFunction",
        "principal": "999999999999",
        "qualifier": "live",
    }
    events = records_frame([("AddPermission20150331v2", "lambda.amazonaws.com", request, None)])
    plan = ac.plan_remediation(key(key_id), events)
    (undo,) = [a for a in plan.actions if a.operation == "RemovePermission"]
    assert undo.manual and "cannot be checked" in undo.manual
    assert (
        "aws lambda remove-permission --region=us-east-1 --function-name=payments "
        "--statement-id=backdoor --qualifier=live"
    ) in undo.manual
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert "RemovePermission" not in ops(proxy)
    assert [r.status for r in report.results if r.action.operation == "RemovePermission"] == [
        "manual"
    ]
    left = json.loads(lam.get_policy(FunctionName="payments", Qualifier="live")["Policy"])
    assert [st.get("Sid") for st in left["Statement"]] == ["backdoor"]  # for the analyst


def test_a_region_that_is_not_a_region_name_never_aborts_the_run(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """A record names awsRegion "US-EAST-1": its undo is a manual step saying so (planning), and
    any call that cannot even be sent (here a hand-made action in that region) is one failed
    step, ledgered start and outcome — the run goes on with the next change."""
    from tests.actions.test_actions import records_frame
    from torinvest.events import combine_frames

    iam = iam_client(moto)
    key_id = _benjamin(iam)
    iam.create_user(UserName="later-user")
    lam_ = "lambda.amazonaws.com"
    bad = records_frame(
        [("AddPermission20150331v2", lam_, {"functionName": "f1", "statementId": "s"}, None)],
        awsRegion="US-EAST-1",
        prefix="b",
    )
    good = records_frame(
        [("CreateUser", "iam.amazonaws.com", {"userName": "later-user"}, None)],
        start=pd.Timestamp.now(tz="UTC"),  # moto's later-user: the one it created
    )
    plan = ac.plan_remediation(key(key_id), combine_frames([bad, good]))
    (step,) = [a for a in plan.actions if a.operation == "RemovePermission"]
    assert step.manual and "'US-EAST-1', which is not an AWS region name" in step.manual
    forced = ac.Action(
        "lambda",
        "RemovePermission",
        {"FunctionName": "f1", "StatementId": "s"},
        why="a hand-made step",
        region="US-EAST-1",
        absent_ok=True,
    )
    plan.actions.insert(2, forced)
    ledger = tmp_path / "l"
    report = rn.carry_out(Aws(), plan, execute=True, ledger=ledger, echo=lambda s: None)
    (failed,) = report.failed
    assert failed.action is forced and "invalid region name 'US-EAST-1'" in str(failed.error)
    assert "DeleteUser" in ops(proxy, changes_only=True)  # the run went on
    assert iam.list_users()["Users"] and "later-user" not in {
        u["UserName"] for u in iam.list_users()["Users"]
    }
    records, _ = read_ledger(ledger)
    assert_paired(records)


# --------------------------------------------------------------------------------------------
# an answer lost after the request was sent
# --------------------------------------------------------------------------------------------
def test_a_change_whose_answer_was_lost_is_unknown_not_failed(
    ready: SimpleNamespace, proxy: FaultProxy
) -> None:
    """The connection breaks after UpdateAccessKey was sent: AWS may have applied it. The run
    says the outcome is unknown (check it, or re-run), never "FAILED" as if nothing happened;
    the inventory in the summary is labelled as read before the undo steps."""
    proxy.fault("UpdateAccessKey", DROP, times=1)
    code, out, err = remediate(ready)
    assert code == EXIT_FAILED
    first = out.split("EXECUTE  aws iam update-access-key", 1)[1].splitlines()[1]
    assert first.startswith("  OUTCOME UNKNOWN: UpdateAccessKey benjamin ")
    assert "whether it took effect is unknown" in first
    (line,) = errors(err)
    assert "1 with an unknown outcome (the answer was lost)" in line
    summary = out[out.index("summary of run") :]
    assert "1 outcome(s) unknown" in summary
    assert "  inventory, read before the undo steps (what they changed is not in it):" in summary
    acts = assert_paired(read_ledger(ready.ledger)[0])
    assert [r["status"] for r in acts if r["phase"] == "outcome" and r.get("status") == "unknown"]
    no_traceback(out, err)


def test_a_retried_delete_that_finds_nothing_was_probably_made_by_this_run(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DeleteAccessKey's first answer is lost; botocore retries and AWS says "no such entity"
    (the first attempt deleted it). That is not "already done … nothing to remove": the run
    says it probably made the change itself."""
    from tests.actions.test_actions import records_frame

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    iam = iam_client(moto)
    key_id = _benjamin(iam)
    made = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    iam.delete_access_key(UserName="benjamin", AccessKeyId=made)  # what the lost answer did
    response = {"accessKey": {"accessKeyId": made, "userName": "benjamin"}}
    events = records_frame(
        [("CreateAccessKey", "iam.amazonaws.com", {"userName": "benjamin"}, response)]
    )
    plan = ac.plan_remediation(key(key_id), events)
    proxy.fault("DeleteAccessKey", DROP, times=1)
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert ops(proxy).count("DeleteAccessKey") == 2  # the first, dropped, and botocore's retry
    (result,) = [r for r in report.results if r.action.operation == "DeleteAccessKey"]
    assert result.status == "done"
    assert "this run probably made the change" in (result.note or "")


def _plan_undoing_a_created_key(iam: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """benjamin's key made a key (CreateAccessKey): the remediation plan that deletes it, and the
    made key's ID; botocore retries each call once (standard mode, 2 attempts)."""
    from tests.actions.test_actions import records_frame

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    key_id = _benjamin(iam)
    made = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    response = {"accessKey": {"accessKeyId": made, "userName": "benjamin"}}
    events = records_frame(
        [("CreateAccessKey", "iam.amazonaws.com", {"userName": "benjamin"}, response)]
    )
    return ac.plan_remediation(key(key_id), events), made


@pytest.mark.parametrize("first", [LOST, DROP, HTML_500])
def test_a_retried_change_whose_retry_fails_otherwise_is_unknown_not_failed(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    """DeleteAccessKey's first attempt loses its answer (LOST: IAM made the change; DROP, a 500:
    it may have); botocore retries and gets another error (AccessDenied). That error says
    nothing of the first attempt: "OUTCOME UNKNOWN" (ledgered so), never "FAILED"; exit 1."""
    iam = iam_client(moto)
    plan, made = _plan_undoing_a_created_key(iam, monkeypatch)
    proxy.fault_sequence("DeleteAccessKey", [first, DENIED])
    ledger = tmp_path / "l"
    said: list[str] = []
    report = rn.carry_out(Aws(), plan, execute=True, ledger=ledger, echo=said.append)
    assert ops(proxy).count("DeleteAccessKey") == 2  # the first, and botocore's retry
    if first == LOST:  # the first attempt made it
        keys = iam.list_access_keys(UserName="benjamin")["AccessKeyMetadata"]
        assert made not in {k["AccessKeyId"] for k in keys}
    (result,) = [r for r in report.results if r.action.operation == "DeleteAccessKey"]
    assert result.status == "unknown" and report.failed == []
    assert "an earlier attempt may have reached AWS but its answer was lost" in (result.note or "")
    assert "retry got AccessDenied" in (result.note or "")
    assert any(line.startswith("  OUTCOME UNKNOWN: DeleteAccessKey ") for line in said)
    problem = rn.exit_problem(report)
    assert problem is not None and "1 with an unknown outcome" in problem.message
    acts = assert_paired(read_ledger(ledger)[0])
    (outcome,) = [r for r in acts if r["phase"] == "outcome" and r.get("status") == "unknown"]
    assert outcome["error"]["code"] == "AccessDenied"


def test_a_change_refused_after_a_throttled_attempt_is_failed(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retried after an attempt that cannot have been applied (a 4xx answer), then refused:
    that is "FAILED" — only an attempt whose answer was lost makes the outcome unknown."""
    iam = iam_client(moto)
    plan, _ = _plan_undoing_a_created_key(iam, monkeypatch)
    proxy.fault_sequence("DeleteAccessKey", [THROTTLED, DENIED])
    report = rn.carry_out(Aws(), plan, execute=True, ledger=tmp_path / "l", echo=lambda s: None)
    assert ops(proxy).count("DeleteAccessKey") == 2  # throttled, then botocore's retry
    (result,) = [r for r in report.results if r.action.operation == "DeleteAccessKey"]
    assert result.status == "failed" and report.unknown == []


# --------------------------------------------------------------------------------------------
# the finding as GuardDuty holds it now (not the copy the verdict or the plan read)
# --------------------------------------------------------------------------------------------
def _updated_raw(**service: Any) -> dict[str, Any]:
    """The sample finding as GuardDuty updated it after 2024-01-01 (new activity: count 900,
    another Tor IP, another API)."""
    raw = json.loads((SHAPES / "single_raw.json").read_text())
    raw["updatedAt"] = "2024-06-01T09:00:00.000Z"
    raw["service"].update(count=900, eventLastSeen="2024-06-01T08:59:00.000Z", **service)
    call = raw["service"]["action"]["awsApiCallAction"]
    call["remoteIpDetails"]["ipAddressV4"] = "185.220.101.34"
    call["api"] = "CreateUser"
    return raw


def _hold(fake_aws: FakeAws, raw: dict[str, Any], region: str = "us-east-1") -> None:
    gd = fake_aws.guardduty(region)
    gd.add_findings([raw], detector_id=gd.add_detector(raw["service"]["detectorId"]))


def _judged(ledger: Path, status: str, judged: dict[str, Any], *, at: str) -> None:
    """A verdict that stored the state of the finding it judged (``judged``: a raw finding)."""
    from torinvest.findings import read_findings as read

    path = ledger.parent / "judged.json"
    path.write_text(json.dumps(judged))
    row = read(path).frame().iloc[0]
    record_verdict(
        make_verdict(
            FINDING, status=status, analyst="ana", rationale="read the activity",
            finding=row, now=pd.Timestamp(at),
        ),
        ledger,
    )  # fmt: skip


def _nothing_changed(proxy: FaultProxy, fake_aws: FakeAws) -> None:
    assert "ArchiveFindings" not in ops(proxy) and "CreateFilter" not in ops(proxy)
    assert fake_aws.archived_ids == set() and fake_aws.filters == []


def test_a_legitimate_verdict_older_than_guarddutys_update_archives_nothing(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verdict (2024-01-01) judged the finding as it was; GuardDuty then updated the same
    finding with new activity (2024-06-01): the archive and its rule would hide what nobody
    reviewed. The dry run says so too."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    _hold(fake_aws, _updated_raw())
    ledger = tmp_path / "l.jsonl"
    verdict(ledger, "legitimate")  # an older record: no finding state, its time decides
    code, out, err = archive(ledger)
    assert code == EXIT_REFUSED, err
    (line,) = errors(err)
    assert f"refused: finding {FINDING} changed since the legitimate verdict of ana" in line
    assert "GuardDuty updated it at 2024-06-01T09:00:00Z, after the verdict" in line
    assert "count 900, last seen 2024-06-01T08:59:00Z" in line
    assert f"torinvest investigate {FINDING}" in line and "--status legitimate" in line
    # both commands name the run's sources (its --regions), no placeholder to fill in
    assert "REGION" not in line and line.count("--regions=us-east-1") == 2, line
    _nothing_changed(proxy, fake_aws)
    no_traceback(out, err)
    code, out, err = run(
        "actions", FINDING, "--plan", "archive", "--suppress", "--scope", "principal", "--regions", "us-east-1",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    assert "--execute would be refused: finding" in err and "changed since the legitimate" in err
    _nothing_changed(proxy, fake_aws)


def test_a_legitimate_verdict_dated_in_the_future_archives_nothing(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A verdict without the finding's state is compared with GuardDuty by its time; one whose
    ``recorded_at`` is after now (a ledger line edited to 2099, a host's clock years ahead)
    would look newer than every update: GuardDuty's new activity (2024-06-01) would be archived
    unreviewed. Its time dates nothing: refused, said, and so does the dry run."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    _hold(fake_aws, _updated_raw())
    ledger = tmp_path / "l.jsonl"
    record_verdict(  # a host whose clock is decades ahead (edited by hand: a broken chain)
        make_verdict(
            FINDING,
            status="legitimate",
            analyst="ana",
            rationale="read the activity",
            evidence={"reading": "complete"},
            now=pd.Timestamp("2099-01-01T00:00:00Z"),
        ),
        ledger,
    )
    code, out, err = archive(ledger)
    assert code == EXIT_REFUSED, err
    (line,) = errors(err)
    assert f"refused: finding {FINDING} changed since the legitimate verdict of ana" in line
    assert "recorded at 2099-01-01T00:00:00Z" in line and "after this host's time now" in line
    assert "updatedAt 2024-06-01T09:00:00Z, count 900" in line
    _nothing_changed(proxy, fake_aws)
    no_traceback(out, err)
    code, out, err = run(
        "actions", FINDING, "--plan", "archive", "--regions", "us-east-1", "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    assert "--execute would be refused: finding" in err and "after this host's time now" in err
    _nothing_changed(proxy, fake_aws)


def test_a_verdict_that_judged_an_older_state_archives_nothing_even_if_recorded_later(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded after GuardDuty's update, but on the evidence of the finding before it (a case
    copy, a notebook run earlier): the stored state tells, naming what changed. Recorded again
    on the finding as it is now, the archive goes ahead."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    raw = _updated_raw()
    _hold(fake_aws, raw)
    ledger = tmp_path / "l.jsonl"
    old = json.loads((SHAPES / "single_raw.json").read_text())
    _judged(ledger, "legitimate", old, at="2024-07-01T00:00:00Z")
    code, _out, err = archive(ledger)
    assert code == EXIT_REFUSED
    (line,) = errors(err)
    assert "count 6 → 900" in line
    assert "last seen 2023-07-10T12:20:04Z → 2024-06-01T08:59:00Z" in line
    _nothing_changed(proxy, fake_aws)
    _judged(ledger, "legitimate", raw, at="2024-07-01T00:05:00Z")  # re-investigated
    code, out, err = archive(ledger)
    assert code == 0, err
    assert "2 change(s) done" in out and fake_aws.archived_ids == {FINDING}


def test_recording_the_same_decision_on_an_updated_finding_is_a_new_record(
    tmp_path: Path,
) -> None:
    """The analyst re-investigates and records the same decision again: it is recorded (it
    judged another state of the finding); the same state again adds nothing."""
    from torinvest.verdict import record_decision

    ledger = tmp_path / "l.jsonl"
    old = {"updated_at": "2023-07-10T12:26:31Z", "count": 6, "last_seen": "2023-07-10T12:20:04Z"}
    new = {**old, "updated_at": "2024-06-01T09:00:00Z", "count": 900}

    def decide(state: dict[str, Any]) -> bool:
        v = make_verdict(FINDING, status="legitimate", analyst="ana", rationale="r", finding=state)
        return record_decision(v, ledger).added

    assert decide(old) and not decide(old) and decide(new)
    (last,) = [r for r in read_ledger(ledger)[0] if r.get("finding_state", {}).get("count") == 900]
    assert last["finding_state"] == {
        "updated_at": "2024-06-01T09:00:00Z",
        "count": 900,
        "last_seen": "2023-07-10T12:20:04Z",
    }


def test_the_verdict_command_stores_the_state_of_the_finding_it_judged(tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    code, _out, err = run(
        "verdict", FINDING, "--status", "legitimate", "--analyst", "ana", "--rationale", "r",
        "--case", str(sample_case().root), "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    (rec,) = read_ledger(ledger)[0]
    state = rec["finding_state"]
    assert set(state) == {"updated_at", "count", "last_seen"}
    assert state["updated_at"].startswith("2023-07-10T") and isinstance(state["count"], int)


def test_a_remediation_goes_ahead_on_a_finding_changed_since_its_verdict_and_says_so(
    ready: SimpleNamespace, proxy: FaultProxy
) -> None:
    """Newer activity does not make a remediation wrong: a note, never a refusal."""
    stale = json.loads((SHAPES / "single_raw.json").read_text())
    stale["service"]["count"] = 1
    _judged(ready.ledger, "malicious", stale, at="2024-02-01T00:00:00Z")
    code, _out, err = remediate(ready)
    assert code == 0, err
    assert "changed since the malicious verdict of ana" in err and "count 1 → " in err
    assert "the plan is built from the evidence read now" in err
    assert "UpdateAccessKey" in ops(proxy, changes_only=True)


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (
            {"principalId": "AIDAOTHERADMINUSER000", "accessKeyId": "AKIAOTHERADMINKEY000"},
            [
                "principal: the plan's copy says AIDAOTHERADMINUSER000, GuardDuty says "
                "AIDATFQR7NSC5U6Q3TMDR",
                "access key: the plan's copy says AKIAOTHERADMINKEY000, GuardDuty says "
                "AKIATFQR7NSCUXC3DDDP",
            ],
        ),
        (
            {"type": "Recon:IAMUser/TorIPCaller"},
            [
                "type: the plan's copy says Recon:IAMUser/TorIPCaller, GuardDuty says "
                "UnauthorizedAccess:IAMUser/TorIPCaller"
            ],
        ),
        (
            {"accountId": "111122223333"},
            [f"account: the plan's copy says 111122223333, GuardDuty says {SAMPLE_ACCOUNT}"],
        ),
    ],
    ids=["principal-and-key", "type", "account"],
)
def test_a_case_copy_that_is_not_guarddutys_finding_archives_nothing(
    proxy: FaultProxy,
    fake_aws: FakeAws,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    edit: dict[str, str],
    said: list[str],
) -> None:
    """The case file's copy of the finding (same ID) names another principal, type or account
    than GuardDuty's: the rule would suppress someone else's findings. GuardDuty's copy is read
    in the detector that would change, and the run refuses naming both values — also when the
    caller is the finding's account (no administrator check needed)."""
    raw = json.loads((SHAPES / "single_raw.json").read_text())
    _hold(fake_aws, raw)
    copy = json.loads(json.dumps(raw))
    for name, value in edit.items():
        if name in ("principalId", "accessKeyId"):
            copy["resource"]["accessKeyDetails"][name] = value
        else:
            copy[name] = value
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)  # GuardDuty's account
    case = tmp_path / "case"
    (case / "findings").mkdir(parents=True)
    (case / "findings" / "f.json").write_text(json.dumps([copy]))
    ledger = tmp_path / "l.jsonl"
    verdict(ledger, "legitimate")
    code, out, err = run(
        "actions", FINDING, "--case", str(case), "--plan", "archive", "--suppress", "--scope", "principal", "--execute",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == EXIT_REFUSED, out
    (line,) = errors(err)
    assert f"GuardDuty's finding {FINDING}" in line and "is not the one the plan was built" in line
    for part in said:
        assert part in line
    _nothing_changed(proxy, fake_aws)
    no_traceback(out, err)


def test_a_detector_that_does_not_hold_the_finding_is_never_archived_in(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case copy says eu-west-1; GuardDuty holds the finding in us-east-1. GuardDuty answers
    an ArchiveFindings of IDs it does not hold as done: the run refuses before it, never
    "done"."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    raw = json.loads((SHAPES / "single_raw.json").read_text())
    _hold(fake_aws, raw)
    fake_aws.guardduty("eu-west-1").add_detector("e" * 32)
    copy = {**raw, "region": "eu-west-1"}
    case = tmp_path / "case"
    (case / "findings").mkdir(parents=True)
    (case / "findings" / "f.json").write_text(json.dumps([copy]))
    ledger = tmp_path / "l.jsonl"
    verdict(ledger, "legitimate")
    code, out, err = run(
        "actions", FINDING, "--case", str(case), "--plan", "archive", "--execute",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == EXIT_REFUSED, out
    (line,) = errors(err)
    assert f"detector {'e' * 32} in region eu-west-1 does not hold finding {FINDING}" in line
    assert "done" not in out
    _nothing_changed(proxy, fake_aws)


def test_an_archive_is_done_only_when_guardduty_reads_it_back_archived(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ArchiveFindings answers, but the finding is not archived (read back): failed, never
    done; the read-back itself failing: outcome unknown."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    _hold(fake_aws, json.loads((SHAPES / "single_raw.json").read_text()))
    ledger = tmp_path / "l.jsonl"
    verdict(ledger, "legitimate")
    monkeypatch.setattr(FakeAws, "_guardduty_ArchiveFindings", lambda self, *a: {})
    code, out, err = run(
        "actions", FINDING, "--plan", "archive", "--regions", "us-east-1", "--execute",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == EXIT_FAILED
    assert "  done: ArchiveFindings" not in out
    assert (
        f"  FAILED: ArchiveFindings answered, but GuardDuty's read-back says: finding {FINDING} "
        "is still not archived"
    ) in out
    assert "0 change(s) done, 0 already done, 1 failed" in out
    verified = [r for r in read_ledger(ledger)[0] if r.get("phase") == "verified"]
    assert [r["status"] for r in verified] == ["failed"]

    real = FakeAws._set_archived

    def archive_then_fail_reads(self: FakeAws, *a: Any) -> dict[str, Any]:
        real(self, *a)
        proxy.fault("GetFindings", HTML_500, times=1)
        return {}

    monkeypatch.setattr(FakeAws, "_guardduty_ArchiveFindings", archive_then_fail_reads)
    code, out, err = run(
        "actions", FINDING, "--plan", "archive", "--regions", "us-east-1", "--execute",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == EXIT_FAILED
    assert "  OUTCOME UNKNOWN: ArchiveFindings " in out and "reading the finding back" in out
    assert "1 outcome(s) unknown" in out
    no_traceback(out, err)
