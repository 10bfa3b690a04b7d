"""Posting to Security Hub: the GuardDuty finding's copy (Id: its ARN, read from GuardDuty) gets a
note and a workflow status that follow the verdict — RESOLVED once a remediation was executed
and ledgered."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from tests.bounded import bounded
from tests.fake_aws.security import FakeSecurityServices
from tests.fake_tickets import FakeJira
from tests.post.conftest import (
    FINDING_ARN,
    FINDING_ID,
    REGION,
    could_not_look_summary,
    incomplete_quiet_summary,
    make_report,
    summary_data,
    variables,
)
from torinvest.post import post_report
from torinvest.post.answer import NOTE_MAX_CHARS
from torinvest.verdict import make_verdict, record_decision


def post(
    report: Path,
    ledger: Path,
    dests: list[str] | None = None,
    env: dict[str, str] | None = None,
    **kw,
):  # type: ignore[no-untyped-def]
    return post_report(
        report, dests or ["securityhub"], env=env or {}, ledger=ledger, backoff=0, **kw
    )


def decide(
    ledger: Path, status: str, rationale: str = "persistence created from Tor exits"
) -> None:
    record_decision(
        make_verdict(FINDING_ID, status=status, analyst="ana", rationale=rationale), ledger
    )


def hub_finding(security: FakeSecurityServices) -> dict:
    return security.securityhub(REGION).findings[FINDING_ARN]


def test_the_arn_is_read_from_guardduty_and_remembered(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    decide(ledger, "malicious")
    (o,) = post(report_dir, ledger).outcomes

    assert o.status == "posted", o.line
    (call,) = security.calls("BatchUpdateFindings")
    assert call.params["FindingIdentifiers"] == [
        {"Id": FINDING_ARN, "ProductArn": f"arn:aws:securityhub:{REGION}::product/aws/guardduty"}
    ]
    assert [r.operation for r in security.requests] == [
        "ListDetectors",
        "GetFindings",
        "BatchUpdateFindings",
    ]
    f = hub_finding(security)
    assert f["Workflow"] == {"Status": "NOTIFIED"}
    assert f["VerificationState"] == "TRUE_POSITIVE"
    note = f["Note"]["Text"]
    assert note.startswith("torinvest verdict: malicious by ana (")
    assert "persistence created from Tor exits" in note and len(note) <= NOTE_MAX_CHARS
    assert f["Note"]["UpdatedBy"] == "torinvest (ana)"
    assert "Report: " in note and str(report_dir) in note

    decide(ledger, "legitimate", "the owner's sanctioned privacy test")  # the ledger changes it
    security.clear_failures()
    before = len(security.requests)
    (again,) = post(report_dir, ledger).outcomes
    assert again.status == "posted"
    assert [r.operation for r in security.requests[before:]] == ["BatchUpdateFindings"]
    assert hub_finding(security)["Workflow"] == {"Status": "SUPPRESSED"}
    assert hub_finding(security)["VerificationState"] == "BENIGN_POSITIVE"


@pytest.mark.parametrize(
    ("status", "workflow"),
    [("legitimate", "SUPPRESSED"), ("malicious", "NOTIFIED"), ("inconclusive", "NOTIFIED")],
)
def test_workflow_follows_the_report_verdict(
    security: FakeSecurityServices, tmp_path: Path, ledger: Path, status: str, workflow: str
) -> None:
    data = summary_data()
    data["verdict"] = {
        "status": status,
        "analyst": "bo",
        "rationale": "why",
        "recorded_at": "2023-07-11T09:00:00Z",
    }
    folder = make_report(tmp_path / "f", summary=data)
    (o,) = post(folder, ledger).outcomes
    assert o.status == "posted"
    assert hub_finding(security)["Workflow"] == {"Status": workflow}


def test_pending_leaves_the_workflow_alone(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    (o,) = post(report_dir, ledger).outcomes
    assert o.status == "posted"
    (call,) = security.calls("BatchUpdateFindings")
    assert "Workflow" not in call.params and "VerificationState" not in call.params
    assert hub_finding(security)["Workflow"] == {"Status": "NEW"}
    assert call.params["Note"]["Text"].startswith("torinvest verdict: pending.")


def test_resolved_once_a_remediation_was_executed_and_ledgered(
    security: FakeSecurityServices,
    moto: str,
    report_dir: Path,
    ledger: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.actions.test_actions import key
    from torinvest import actions as ac
    from torinvest import runner as rn
    from torinvest.aws import Aws

    iam = boto3.client("iam")
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    decide(ledger, "malicious")
    post(report_dir, ledger)
    assert hub_finding(security)["Workflow"] == {"Status": "NOTIFIED"}

    plan = ac.plan_remediation(key(key_id))
    report = rn.carry_out(Aws(), plan, execute=True, ledger=ledger, echo=str)
    assert not report.failed
    (o,) = post(report_dir, ledger).outcomes
    assert o.status == "posted"
    f = hub_finding(security)
    assert f["Workflow"] == {"Status": "RESOLVED"}
    assert "Remediation executed" in f["Note"]["Text"]


def test_a_remediation_stopped_part_way_is_not_resolved(
    security: FakeSecurityServices,
    jira: FakeJira,
    moto: str,
    report_dir: Path,
    ledger: Path,
) -> None:
    """``actions --plan remediate --execute`` stopped (SIGTERM, Ctrl-C) after its first change:
    the other change never started. Jira is told how far it got, and Security Hub stays NOTIFIED;
    running the plan again finishes it and then it is RESOLVED."""
    from tests.actions.test_actions import key
    from torinvest import actions as ac
    from torinvest import runner as rn
    from torinvest.aws import Aws

    iam = boto3.client("iam")
    iam.create_user(UserName="benjamin")
    key_id = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    decide(ledger, "malicious")
    plan = ac.plan_remediation(key(key_id))
    assert len(plan.changes) == 2
    executed: list[str] = []

    def stop_at_the_second_change(line: str) -> None:
        if line.startswith("EXECUTE"):
            executed.append(line)
            if len(executed) == 2:
                raise KeyboardInterrupt  # what SIGTERM does in the CLI

    with pytest.raises(KeyboardInterrupt):
        rn.carry_out(Aws(), plan, execute=True, ledger=ledger, echo=stop_at_the_second_change)
    result = post(report_dir, ledger, ["jira:SEC-1", "securityhub"], env=variables(jira))
    assert [o.status for o in result.outcomes] == ["posted", "posted"]
    text = jira.issues["SEC-1"]["comments"][0]["body"]["content"][0]["content"][0]["text"]
    line = next(x for x in text.splitlines() if x.startswith("Remediation:"))
    assert "1 of 2 change(s) run; the run stopped: run the plan again" in line
    assert "remediation executed" not in text and "--plan remediate --execute" in text
    f = hub_finding(security)
    assert f["Workflow"] == {"Status": "NOTIFIED"}
    assert "Remediation NOT COMPLETE" in f["Note"]["Text"]

    rn.carry_out(Aws(), plan, execute=True, ledger=ledger, echo=str)  # run again: finishes it
    post(report_dir, ledger, ["securityhub"])
    assert hub_finding(security)["Workflow"] == {"Status": "RESOLVED"}


def test_the_note_names_the_ticket_posted_in_the_same_run(
    security: FakeSecurityServices, jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    decide(ledger, "malicious")
    result = post(report_dir, ledger, ["securityhub", "jira:SEC-1"], env=variables(jira))
    assert [o.destination for o in result.outcomes] == ["jira:SEC-1", "securityhub"]  # hub last
    assert hub_finding(security)["Note"]["Text"].endswith("Report: jira:SEC-1")


def test_a_long_rationale_is_cut_to_fit_512(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    decide(ledger, "inconclusive", "x" * 3000)
    (o,) = post(report_dir, ledger).outcomes
    assert o.status == "posted", o.line
    text = hub_finding(security)["Note"]["Text"]
    assert len(text) <= 512 and "Report: " in text and "…" in text


def test_a_finding_security_hub_does_not_hold_is_one_line(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    security.securityhub(REGION).findings.clear()
    (o,) = post(report_dir, ledger).outcomes
    assert o.status == "failed"
    assert o.line == (
        f"securityhub: Security Hub did not update finding {FINDING_ID}: FindingNotFound: "
        "Finding Not Found"
    )
    assert o.error is not None and "GuardDuty integration" in str(o.error.hint)


def test_an_update_answered_as_neither_processed_nor_refused_is_not_posted(
    security: FakeSecurityServices, jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    """BatchUpdateFindings answering empty lists updated nothing: a failure, posted again
    later — never "posted to securityhub" (the ticket beside it stays posted)."""
    decide(ledger, "malicious")
    security.securityhub(REGION).answer_nothing = True
    env = variables(jira)
    ticket, hub = post(report_dir, ledger, ["securityhub", "jira:SEC-1"], env=env).outcomes
    assert ticket.status == "posted" and hub.status == "failed", hub.line
    assert "did not say it updated finding" in hub.line and "processed" in hub.line
    security.securityhub(REGION).answer_nothing = False
    ticket, hub = post(report_dir, ledger, ["securityhub", "jira:SEC-1"], env=env).outcomes
    assert (ticket.status, hub.status) == ("already-posted", "posted"), hub.line
    assert hub_finding(security)["Workflow"]["Status"] == "NOTIFIED"


def test_a_finding_guardduty_does_not_show_names_the_way_out(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    security.reset()
    security.guardduty(REGION).add_detector()
    (o,) = post(report_dir, ledger).outcomes
    assert o.status == "failed"
    assert "GuardDuty in us-east-1 does not show finding" in o.line
    assert o.error is not None and "--to securityhub:arn:aws:guardduty:" in str(o.error.hint)
    assert security.calls("BatchUpdateFindings") == []


def test_a_govcloud_finding_guardduty_does_not_show_names_a_govcloud_arn(
    security: FakeSecurityServices, tmp_path: Path, ledger: Path
) -> None:
    """The way out a GovCloud analyst is given is an ARN of GovCloud's partition."""
    security.reset()
    data = summary_data()
    data["finding"]["region"] = "us-gov-west-1"
    security.guardduty("us-gov-west-1").add_detector()
    (o,) = post(make_report(tmp_path / "gov", summary=data), ledger).outcomes
    assert o.status == "failed"
    assert "GuardDuty in us-gov-west-1 does not show finding" in o.line
    hint = str(o.error.hint if o.error else "")
    assert "--to securityhub:arn:aws-us-gov:guardduty:" in hint and "arn:aws:" not in hint


@pytest.mark.parametrize("held", [True, False], ids=["held", "not-held"])
@pytest.mark.parametrize("period", [2, None], ids=["cycle-of-2", "fresh-for-ever"])
def test_guardduty_detectors_that_never_end_are_could_not_look_not_not_found(
    security: FakeSecurityServices,
    report_dir: Path,
    ledger: Path,
    monkeypatch: pytest.MonkeyPatch,
    period: int | None,
    held: bool,
) -> None:
    """ListDetectors tokens in a cycle, or fresh ones up to the cap: the detectors listed
    before are asked (a finding found there is posted); when none holds it, the ARN could not
    be read because the listing is incomplete — never "does not show finding"."""
    from torinvest.aws import pages

    monkeypatch.setitem(pages.MAX_PAGES, "ListDetectors", 5)
    decide(ledger, "malicious")
    if not held:
        security.reset()
        security.guardduty(REGION).add_detector()
    security.loop_tokens("guardduty", REGION, period=period, operation="ListDetectors")
    (o,) = bounded(lambda: post(report_dir, ledger).outcomes)
    calls = len(security.calls("ListDetectors"))
    assert calls == (5 if period is None else period + 1)
    assert len(security.calls("GetFindings")) == 1  # the one detector asked once
    if held:
        assert o.status == "posted", o.line
        return
    assert o.status == "failed"
    assert f"ListDetectors on guardduty in {REGION}: the endpoint" in o.line
    assert f"stopped after {calls} page(s), the results of this call are incomplete" in o.line
    assert "in none of the 1 detector(s) listed before" in o.line
    assert "does not show" not in o.line
    assert security.calls("BatchUpdateFindings") == []


def test_the_arn_can_be_given(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    (o,) = post(report_dir, ledger, [f"securityhub:{FINDING_ARN}"]).outcomes
    assert o.status == "posted"
    assert security.calls("ListDetectors") == [] and security.calls("GetFindings") == []
    other = FINDING_ARN.replace(FINDING_ID, "0" * 32)
    (bad,) = post(report_dir, ledger, [f"securityhub:{other}"]).outcomes
    assert bad.status == "failed" and "not finding" in bad.line


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        (":123837392027:", ":999999999999:", "names account 999999999999, but the report's "
         f"finding {FINDING_ID} is in account 123837392027: not sent"),
        (f":{REGION}:", ":eu-west-1:", "names region eu-west-1, but the report's finding "
         f"{FINDING_ID} is in region {REGION}: not sent"),
    ],
)  # fmt: skip
def test_a_given_arn_of_another_account_or_region_is_refused_before_sending(
    security: FakeSecurityServices, report_dir: Path, ledger: Path, old: str, new: str, said: str
) -> None:
    """``securityhub:ARN`` with the report's finding ID but another account (or region): the
    finding ID alone does not make it the report's finding's copy — refused, naming both, and
    nothing is sent (it used to be, and came back FindingNotFound)."""
    assert old in FINDING_ARN
    (o,) = post(report_dir, ledger, [f"securityhub:{FINDING_ARN.replace(old, new)}"]).outcomes
    assert o.status == "failed"
    assert said in o.line
    assert security.requests == []


def test_security_hub_not_enabled_is_one_line(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    security.fail(
        "securityhub", "*", "InvalidAccessException", status=401,
        message="Account 123837392027 is not subscribed to AWS Security Hub",
    )  # fmt: skip
    (o,) = post(report_dir, ledger).outcomes
    assert o.status == "failed"
    assert "InvalidAccessException: Account 123837392027 is not subscribed" in o.line
    assert o.error is not None and "Security Hub is not enabled in us-east-1" in str(o.error.hint)


@pytest.mark.parametrize(
    ("summary", "said"),
    [
        (could_not_look_summary, "Reading: COULD NOT LOOK"),
        (incomplete_quiet_summary, "Reading: INCOMPLETE"),
    ],
)
def test_the_note_says_when_the_verdict_stands_on_a_reading_that_is_not_whole(
    security: FakeSecurityServices, tmp_path: Path, ledger: Path, summary, said: str
) -> None:  # type: ignore[no-untyped-def]
    """A SUPPRESSED finding whose activity could not be (wholly) read says so in its note:
    the status and the verdict alone read as decided on the whole activity."""
    folder = make_report(tmp_path / "f", summary=summary())
    decide(ledger, "legitimate", "r" * 3000)  # a long rationale does not push it out
    (o,) = post(folder, ledger).outcomes
    assert o.status == "posted", o.line
    finding = hub_finding(security)
    assert finding["Workflow"]["Status"] == "SUPPRESSED"
    text = finding["Note"]["Text"]
    assert said in text and len(text) <= NOTE_MAX_CHARS and "Report: " in text


def test_the_note_of_a_whole_reading_does_not_speak_of_it(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    decide(ledger, "malicious")
    post(report_dir, ledger)
    assert "Reading:" not in hub_finding(security)["Note"]["Text"]
