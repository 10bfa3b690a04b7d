"""The guarded path's known leftovers: a root key's plan, renamed users, MFA devices' enable
dates, a verdict without evidence, the archive's one read of the finding, and --external-id —
against moto (IAM, STS) and the GuardDuty fake, through the counting proxy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.actions.test_actions import (  # noqa: F401  (proxy_fixture: the fixture "proxy")
    FINDING,
    MOTO_ACCOUNT,
    NOW,
    SAMPLE_ACCOUNT,
    SHAPES,
    guardduty_finding,
    iam_client,
    key,
    ops,
    proxy_fixture,
    run,
)
from tests.fake_aws import FakeAws
from tests.fake_aws.proxy import FaultProxy
from torinvest import actions as ac
from torinvest import runner as rn
from torinvest.aws import Aws
from torinvest.case import sample_case
from torinvest.errors import EXIT_REFUSED, TorinvestError
from torinvest.findings import read_findings
from torinvest.sources.records import normalize_records
from torinvest.verdict import make_verdict, read_ledger, record_verdict

IAM, STS = "iam.amazonaws.com", "sts.amazonaws.com"
ROOT_KEY = "AKIAROOTKEYTOR000001"


def events(
    calls: list[tuple[str, str, dict | None, dict | None]],
    identity: dict[str, Any],
    *,
    times: list[str | None] | None = None,
) -> pd.DataFrame:
    """CloudTrail records of ``calls`` by ``identity``, a minute apart from 12:10Z (or at
    ``times``, None: a record without a usable eventTime)."""
    records = []
    for i, (name, source, req, resp) in enumerate(calls):
        when = (
            (pd.Timestamp("2023-07-10T12:10:00Z") + pd.Timedelta(minutes=i)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            if times is None
            else times[i]
        )
        records.append(
            {
                "eventVersion": "1.08",
                "userIdentity": identity,
                "eventSource": source,
                "awsRegion": "us-east-1",
                "sourceIPAddress": "185.220.101.34",
                "userAgent": "aws-cli/2.13.0",
                "eventType": "AwsApiCall",
                "eventName": name,
                "eventTime": when,
                "eventID": f"g{i}",
                "requestParameters": req,
                "responseElements": resp,
                "recipientAccountId": MOTO_ACCOUNT,
            }
        )
    return normalize_records(records, source="logs", origin="test")


# --------------------------------------------------------------------------------------------
# 1. a key of the account's root user
# --------------------------------------------------------------------------------------------
ROOT = {
    "type": "Root",
    "principalId": MOTO_ACCOUNT,
    "arn": f"arn:aws:iam::{MOTO_ACCOUNT}:root",
    "accountId": MOTO_ACCOUNT,
    "accessKeyId": ROOT_KEY,
}


def _root_plan() -> ac.Plan:
    minted = {"accessKeyId": "ASIAROOTSESSION00001", "expiration": "Jul 12, 2023, 12:20:04 AM"}
    activity = events(
        [
            ("GetSessionToken", STS, {"durationSeconds": 3600}, {"credentials": minted}),
            ("GetSessionToken", STS, {}, None),  # a record that does not name its key
            ("CreateAccessKey", IAM, {}, {"accessKey": {"accessKeyId": "AKIAROOTNEWKEY000001"}}),
            ("EnableMFADevice", IAM, {"serialNumber": "arn:aws:iam::1:mfa/x"}, None),
        ],
        ROOT,
    )
    root = replace(key(ROOT_KEY, user="Root", user_type="Root"), principal_id=MOTO_ACCOUNT)
    return ac.plan_remediation(root, activity, now=NOW)


def test_a_root_keys_plan_is_manual_steps_by_signing_in_as_root() -> None:
    """A root key, the sessions it minted (named or not) and the keys and MFA it made on itself:
    no IAM call (none applies to root; no policy can be attached to it), never a deny on an IAM
    user (the finding's "Root", or a "nan" from a missing name) — each a manual step saying root
    is managed only by signing in as root."""
    plan = _root_plan()
    assert plan.changes == [] and plan.reads == []
    assert all(not a.params for a in plan.actions)
    said = [a.manual or "" for a in plan.manual]
    assert len(said) == 5
    assert all("managed only by signing in as the root user" in s for s in said)
    assert "delete the root access key AKIAROOTKEYTOR000001" in said[0]
    assert any("ASIAROOTSESSION00001" in s and "no call revokes it" in s for s in said)
    assert any("the unnamed key of GetSessionToken" in s for s in said)
    assert any("made CreateAccessKey (AKIAROOTNEWKEY000001)" in s for s in said)
    assert not any("user Root" in s or "nan" in s for s in said)


def test_a_root_keys_run_changes_nothing_in_iam(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """--execute of that plan in the finding's account makes no IAM call — also when an IAM
    user named Root exists there (someone else's)."""
    iam = iam_client(moto)
    iam.create_user(UserName="Root")
    proxy.clear()
    lines: list[str] = []
    report = rn.carry_out(
        Aws(), _root_plan(), execute=True, ledger=tmp_path / "l", echo=lines.append
    )
    assert ops(proxy) == ["GetCallerIdentity"]
    assert iam.list_user_policies(UserName="Root")["PolicyNames"] == []
    assert sum(line.startswith("MANUAL") for line in lines) == 5
    assert not report.failed and not report.done


def test_a_rule_on_a_root_key_says_it_is_roots() -> None:
    row = (
        read_findings(
            Path(__file__).parent.parent / "fixtures" / "guardduty" / "shapes" / "single_raw.json"
        )
        .frame()
        .iloc[0]
    )
    row = row.copy()
    row["user_type"], row["user_name"] = "Root", "Root"
    rule = ac.plan_archive(row, suppress=True, scope="key").actions[1]
    assert "the account's root user's access key" in rule.why
    assert "(Root Root)" not in rule.why
    with pytest.raises(Exception, match="root user"):
        ac.plan_archive(row, suppress=True, scope="principal")


def test_a_minting_call_whose_user_is_missing_never_names_a_user_nan() -> None:
    """A missing userIdentity.userName is a missing value, not the text "nan": the deny goes on
    the finding's user."""
    identity = {"type": "IAMUser", "accessKeyId": "AKIATFQR7NSCUXC3DDDP", "accountId": MOTO_ACCOUNT}
    minted = {"accessKeyId": "ASIAMINTED0000000001", "expiration": "Jul 12, 2023, 12:20:04 AM"}
    activity = events([("GetSessionToken", STS, {}, {"credentials": minted})], identity)
    plan = ac.plan_remediation(key("AKIATFQR7NSCUXC3DDDP"), activity, now=NOW)
    names = [a.params.get("UserName") for a in plan.changes]
    assert "nan" not in names and set(names) == {"benjamin"}


# --------------------------------------------------------------------------------------------
# 5. the archive reads the finding once
# --------------------------------------------------------------------------------------------
def test_the_archive_reads_the_finding_once_right_before_archiving_it(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One GetFindings before the archive tells all the guard and the probe need (held, the
    same finding, not changed since the verdict, already archived?); the read-back after it is
    the only other. A finding archived meanwhile (by the console) is "already done" from that
    same answer, and a finding updated since the verdict is refused from it."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    raw = guardduty_finding(fake_aws)
    row = read_findings(SHAPES / "single_raw.json").frame().iloc[0]
    lines: list[str] = []
    report = rn.carry_out(
        Aws(), ac.plan_archive(row), execute=True, ledger=tmp_path / "l", echo=lines.append
    )
    assert [r.status for r in report.results] == ["done"]
    assert ops(proxy) == [
        "GetCallerIdentity",
        "ListDetectors",
        "GetAdministratorAccount",
        "GetFindings",  # held, the same, unchanged, not archived: right before the archive
        "ArchiveFindings",
        "GetFindings",  # read back
    ]
    assert any("from the GetFindings answer above" in line for line in lines)
    proxy.clear()
    again = rn.carry_out(
        Aws(), ac.plan_archive(row), execute=True, ledger=tmp_path / "l", echo=lines.append
    )
    assert [r.status for r in again.results] == ["already-done"]
    assert ops(proxy).count("GetFindings") == 1 and "ArchiveFindings" not in ops(proxy)
    # changed since the verdict: refused on that one read, before any change
    record_verdict(
        make_verdict(raw["id"], status="legitimate", analyst="ana", rationale="ok", finding=row),
        tmp_path / "l2",
    )
    fake_aws.guardduty("us-east-1").add_findings(
        [{**raw, "service": {**raw["service"], "count": 900}}]
    )
    proxy.clear()
    decided = read_ledger(tmp_path / "l2")[0][-1]
    with pytest.raises(TorinvestError, match=r"count \d+ → 900"):
        rn.carry_out(
            Aws(),
            ac.plan_archive(row),
            execute=True,
            ledger=tmp_path / "l2",
            echo=lines.append,
            verdict=decided,
        )
    assert ops(proxy).count("GetFindings") == 1 and "ArchiveFindings" not in ops(proxy)


# --------------------------------------------------------------------------------------------
# 2. a user the activity created, then renamed
# --------------------------------------------------------------------------------------------
BENJAMIN = {
    "type": "IAMUser",
    "accessKeyId": "AKIATFQR7NSCUXC3DDDP",
    "userName": "benjamin",
    "accountId": MOTO_ACCOUNT,
    "principalId": "AIDATFQR7NSC5U6Q3TMDR",
}


def _rename_plan(
    calls: list[tuple[str, str, dict | None, dict | None]],
    times: list[str | None] | None = None,
    *,
    calls_made: tuple[str, ...] = ("UpdateAccessKey", "PutUserPolicy"),
) -> dict[str, list[str]]:
    plan = ac.plan_remediation(
        key("AKIATFQR7NSCUXC3DDDP"), events(calls, BENJAMIN, times=times), now=NOW
    )
    assert [a.operation for a in plan.changes] == list(calls_made)
    steps: dict[str, list[str]] = {}
    for a in plan.manual:
        steps.setdefault(a.operation, []).append(a.manual or "")
    for a in plan.changes[len(calls_made) - 1 :]:
        steps.setdefault(f"call {a.operation}", []).append(a.cli())
    return steps


def _user(name: str, new: str) -> tuple[str, str, dict, None]:
    return ("UpdateUser", IAM, {"userName": name, "newUserName": new}, None)


CREATE = ("CreateUser", IAM, {"userName": "backdoor"}, {"user": {"userName": "backdoor"}})
PASSWORD = ("CreateLoginProfile", IAM, {"userName": "backdoor"}, None)


@pytest.mark.parametrize(
    ("renames", "now", "said"),
    [
        ([_user("backdoor", "b2"), _user("b2", "b3")], "b3", "backdoor to b2 to b3"),
        ([_user("b2", "b3"), _user("backdoor", "b2")], "b2", "backdoor to b2"),  # b2→b3 first
        ([_user("backdoor", "b2"), _user("b2", "backdoor")], "backdoor", "to b2 to backdoor"),
        ([_user("BACKDOOR", "b2"), _user("B2", "b3")], "b3", "backdoor to b2 to b3"),
    ],
)
def test_renames_are_followed_in_event_order_to_the_current_name(
    renames: list[Any], now: str, said: str
) -> None:
    """Created, given a console password, then renamed (once or more, back, in another letter
    case): every step is for the name it has now, the renames followed in event order — never
    the name of a rename in between, nor the old name."""
    steps = _rename_plan([CREATE, PASSWORD, *renames])
    for op, cli in (("DeleteLoginProfile", "delete-login-profile"), ("DeleteUser", "delete-user")):
        (step,) = steps[op]
        assert said in step
        assert f"aws iam {cli} --user-name={now}" in step, step


def test_a_step_made_after_the_rename_is_on_the_new_name_and_the_old_names_next_user_alone() -> (
    None
):
    """CreateUser backdoor, renamed b2, then a new CreateUser backdoor (the old name, another
    user): the first user's steps are for b2; the second one's are its own (backdoor) — neither
    is sent to the other."""
    second = ("CreateUser", IAM, {"userName": "backdoor"}, None)
    steps = _rename_plan(
        [CREATE, _user("backdoor", "b2"), second],
        calls_made=("UpdateAccessKey", "PutUserPolicy", "DeleteUser"),
    )
    (first,) = steps["DeleteUser"]  # by hand, for b2
    assert "--user-name=b2" in first and "backdoor to b2" in first
    assert steps["call DeleteUser"] == ["aws iam delete-user --user-name=backdoor"]  # the second


def test_a_rename_without_a_time_says_the_current_name_cannot_be_told() -> None:
    steps = _rename_plan(
        [CREATE, PASSWORD, _user("backdoor", "b2"), _user("b2", "b3")],
        times=["2023-07-10T12:10:00Z", "2023-07-10T12:11:00Z", "2023-07-10T12:12:00Z", None],
    )
    for op in ("DeleteLoginProfile", "DeleteUser"):
        (step,) = steps[op]
        assert "cannot be told what user" in step and "b3" in step
        assert "--user-name=b2" not in step  # never the name of a rename in between as sure


# --------------------------------------------------------------------------------------------
# 3. MFA devices: when each was enabled, against the first Tor call
# --------------------------------------------------------------------------------------------
def test_the_inventory_tells_an_mfa_device_enabled_in_the_window_from_the_owners(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """benjamin's own device (enabled before the first Tor call) and one enabled after it (the
    actor's?) read apart by their EnableDate; the plan carries the first Tor call."""
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    kid = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    for name in ("owners", "actors"):
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
        iam.enable_mfa_device(
            UserName="benjamin",
            SerialNumber=serial["SerialNumber"],
            AuthenticationCode1="123456",
            AuthenticationCode2="654321",
        )
    listed = iam.list_mfa_devices(UserName="benjamin")["MFADevices"]
    dates = {d["SerialNumber"]: pd.Timestamp(d["EnableDate"]) for d in listed}
    first = max(dates.values())  # the Tor calls began as the last device was enabled
    plan = ac.plan_remediation(replace(key(kid), first_seen=first), None, now=NOW)
    assert plan.first_tor == first.tz_convert("UTC").isoformat()
    report = rn.carry_out(Aws(), plan, ledger=tmp_path / "l", echo=lambda s: None)
    (mfa,) = [line for line in report.inventory if "MFA device" in line]
    assert "has 2 MFA device(s)" in mfa
    for serial, when in dates.items():
        part = mfa.split(serial, 1)[1].split(";", 1)[0]
        assert ("AFTER the first Tor call" in part) == (when >= first), part
        assert ("before the first Tor call" in part) == (when < first), part


@pytest.mark.parametrize(
    ("device", "first", "said"),
    [
        (
            {"SerialNumber": "arn:aws:iam::1:mfa/new", "EnableDate": "2023-07-10T12:30:00Z"},
            "2023-07-10T12:00:00Z",
            "AFTER the first Tor call at 2023-07-10 12:00:00Z: it may be the actor's",
        ),
        (
            {"SerialNumber": "arn:aws:iam::1:mfa/old", "EnableDate": "2021-01-01T00:00:00Z"},
            "2023-07-10T12:00:00Z",
            "before the first Tor call at 2023-07-10 12:00:00Z: the owner's",
        ),
        (
            {"SerialNumber": "arn:aws:iam::1:mfa/undated"},
            "2023-07-10T12:00:00Z",
            "its EnableDate is missing or not a time: when it was enabled is not known",
        ),
        (
            {"SerialNumber": "arn:aws:iam::1:mfa/odd", "EnableDate": "yesterday-ish"},
            "2023-07-10T12:00:00Z",
            "its EnableDate is missing or not a time",
        ),
        (
            {"SerialNumber": "arn:aws:iam::1:mfa/new", "EnableDate": "2023-07-10T12:30:00Z"},
            None,
            "the first Tor call is not known",
        ),
    ],
)
def test_each_mfa_device_is_said_by_its_enable_date(
    device: dict[str, Any], first: str | None, said: str
) -> None:
    action = ac.inventory("benjamin")[2]
    assert action.operation == "ListMFADevices"
    text = rn.describe_answer(action, {"MFADevices": [device]}, None, first) or ""
    assert said in text, text


# --------------------------------------------------------------------------------------------
# 4. a verdict recorded without evidence
# --------------------------------------------------------------------------------------------
def test_a_verdict_without_evidence_is_said_and_never_archived(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`torinvest verdict` without a source (the procedure's step 4 after `investigate`) records
    the decision, saying it is WITHOUT EVIDENCE; an archive refuses to follow it before any call
    (it stores no state of the finding to tell later activity by) — a dry run says so —, and a
    remediation follows it (its plan reads the evidence itself). Recorded again with a source,
    the archive follows."""
    raw = guardduty_finding(fake_aws)
    ledger = tmp_path / "ledger.jsonl"
    base = ["verdict", raw["id"], "--status", "legitimate", "--analyst", "ana"]
    base += ["--rationale", "ok", "--ledger", str(ledger)]
    code, out, err = run(*base)
    assert code == 0 and out.startswith("recorded: legitimate"), err
    assert "torinvest: note: WITHOUT EVIDENCE: no source option was given" in err
    (record,) = read_ledger(ledger)[0]
    assert record["evidence"] == {} and record["finding_state"] == {}
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    archive = ["actions", raw["id"], "--plan", "archive", "--regions", "us-east-1"]
    archive += ["--ledger", str(ledger)]
    code, _out, err = run(*archive)
    assert code == 0 and "--execute would be refused: the legitimate verdict" in err
    assert "verdict without evidence" in err
    proxy.clear()
    code, _out, err = run(*archive, "--execute")
    assert (
        code == EXIT_REFUSED and "verdict without evidence" in err and "nothing was called" in err
    )
    assert f"torinvest verdict {raw['id']} --status legitimate" in err and "--regions" in err
    assert proxy.calls() == [] and fake_aws.archived_ids == set()
    assert rn.verdict_gap(read_ledger(ledger)[0], raw["id"], "archive", ledger) is not None
    code, out, err = run(*base, "--case", str(sample_case().root))
    assert code == 0 and out.startswith("recorded: legitimate"), out + err
    assert "WITHOUT EVIDENCE" not in err
    code, _out, err = run(*archive, "--execute")
    assert code == 0, err
    assert fake_aws.archived_ids == {raw["id"]}


def test_a_remediation_follows_a_verdict_without_evidence(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    code, _, err = run(
        "verdict", FINDING, "--status", "malicious", "--analyst", "ana", "--rationale", "bad",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0 and "WITHOUT EVIDENCE" in err
    assert rn.require_verdict(FINDING, "remediate", ledger=ledger)["status"] == "malicious"
    assert rn.verdict_gap(read_ledger(ledger)[0], FINDING, "remediate", ledger) is None


# --------------------------------------------------------------------------------------------
# 6. --external-id wherever --role-arn is taken
# --------------------------------------------------------------------------------------------
def test_the_external_id_reaches_assume_role_from_verdict_and_investigate(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`verdict` (and `investigate`, `actions`: one builder of the sources' AWS access) pass
    --external-id to the STS AssumeRole of --role-arn, as moto's STS receives it."""
    import botocore.client

    seen: list[dict[str, Any]] = []
    real = botocore.client.BaseClient._make_api_call

    def spy(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "AssumeRole":
            seen.append(dict(params))
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    raw = guardduty_finding(fake_aws)
    role = f"arn:aws:iam::{SAMPLE_ACCOUNT}:role/ir"
    code, _out, err = run(
        "verdict", raw["id"], "--status", "malicious", "--analyst", "ana", "--rationale", "x",
        "--regions", "us-east-1", "--role-arn", role, "--external-id", "ext-4242",
        "--ledger", str(tmp_path / "l"),
    )  # fmt: skip
    assert seen and all(p.get("ExternalId") == "ext-4242" for p in seen), (seen, err)
    assert "AssumeRole" in ops(proxy)
    assert "sts:AssumeRole" not in err  # the role was assumed (the sample finding is old: --logs)
    code, _out, err = run("investigate", raw["id"], "--external-id", "ext-4242", "--out", "o")
    assert code == 2 and "--external-id goes with --role-arn" in err
    code, _out, err = run("notebook", "--triage", "--role-arn", role, "--external-id", "e-1")
    assert code == 2 and "--external-id goes with --role-arn and a FINDING_ID" in err


def test_the_investigation_notebook_takes_the_external_id() -> None:
    from torinvest.options import RunOptions
    from torinvest.report.parameters import parameters, run_sources

    role = f"arn:aws:iam::{SAMPLE_ACCOUNT}:role/ir"
    options = RunOptions(regions="us-east-1", role_arn=role, external_id="ext-4242")
    assert run_sources(options).aws.config.external_id == "ext-4242"
    assert parameters(FINDING, Path("out"), options)["external_id"] == "ext-4242"
    with pytest.raises(Exception, match="without role_arn"):
        run_sources(RunOptions(regions="us-east-1", external_id="ext-4242"))
