"""A verdict recorded on a finding that changed since its evidence was read: every path that
records one (the notebook's form, the parameters of `investigate --verdict`, `torinvest
verdict`) reads the finding again right before recording, against the GuardDuty fake. A change
(count, updatedAt, eventLastSeen, key, archived, severity) is refused with what changed and how
to re-run, unless accepted; a finding that cannot be read again is recorded and says so — in
the ledger, `verdicts`, summary.json and the answer. And a remediation over a verdict recorded
without evidence goes ahead, saying so first and in the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import torinvest.cli.verdicts as cli_verdicts
from tests.actions.test_actions import (  # noqa: F401  (proxy_fixture: the fixture "proxy")
    ADMIN,
    BACKDOOR_KEY,
    BACKDOOR_USER,
    FINDING,
    SAMPLE_ACCOUNT,
    SHAPES,
    SUSPECT,
    assert_paired,
    iam_client,
    ops,
    proxy_fixture,
    run,
    sample_case_with,
)
from tests.fake_aws import FakeAws
from tests.fake_aws.proxy import FaultProxy
from torinvest import display, investigation, report
from torinvest.case import sample_case
from torinvest.display.answer import verdict_warnings
from torinvest.errors import EXIT_REFUSED
from torinvest.findings.recheck import changes, watched_facts
from torinvest.post.answer import build_answer
from torinvest.verdict import read_ledger

OTHER_KEY = "AKIATFQR7NSCOTHERKEY"
LOGS = str(sample_case().root / "cloudtrail")


def raw_finding() -> dict[str, Any]:
    return json.loads((SHAPES / "single_raw.json").read_text())


def put(fake_aws: FakeAws, raw: dict[str, Any]) -> None:
    """Store ``raw`` in the fake GuardDuty of us-east-1 (replacing the finding of its ID)."""
    gd = fake_aws.guardduty("us-east-1")
    if not gd.detector_ids:
        gd.add_detector(raw["service"]["detectorId"])
    gd.add_findings([raw])


def new_activity(raw: dict[str, Any], count: int = 900) -> dict[str, Any]:
    """``raw`` after more Tor calls: GuardDuty raised its count, eventLastSeen and updatedAt."""
    return {
        **raw,
        "updatedAt": "2026-12-01T10:00:00.000Z",
        "service": {**raw["service"], "count": count, "eventLastSeen": "2026-12-01T09:59:00Z"},
    }


@pytest.fixture
def aws_inv(
    fake_aws: FakeAws, moto: str, monkeypatch: pytest.MonkeyPatch
) -> investigation.Investigation:
    """The sample finding in the GuardDuty fake, investigated from AWS (us-east-1)."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    put(fake_aws, raw_finding())
    sources = investigation.sources_from_parameters(regions="us-east-1")
    return investigation.investigate(FINDING, sources)


def get_findings(fake_aws: FakeAws) -> int:
    return len(fake_aws.calls("GetFindings"))


# --------------------------------------------------------------------------------------------
# what is compared
# --------------------------------------------------------------------------------------------
def test_each_watched_fact_that_changed_is_said_from_to() -> None:
    judged = {
        "id": FINDING,
        "updated_at": "2023-07-10T12:26:31.468Z",
        "last_seen": "2023-07-10T12:20:04Z",
        "count": 6,
        "access_key_id": SUSPECT,
        "archived": False,
        "severity": 5.0,
    }
    now = {
        **judged,
        "updated_at": "2026-12-01T10:00:00Z",
        "count": 900,
        "access_key_id": OTHER_KEY,
        "archived": "true",
        "severity": 8,
    }
    said = changes(watched_facts(judged), watched_facts(now))
    assert said == [
        "updatedAt 2023-07-10T12:26:31.468000Z → 2026-12-01T10:00:00Z",
        "count 6 → 900",
        f"access key {SUSPECT} → {OTHER_KEY}",
        "archived false → true",
        "severity 5 → 8",
    ]
    assert changes(watched_facts(judged), watched_facts(dict(judged))) == []
    # a fact the older copy lacks is nothing to compare; one GuardDuty dropped is a change
    assert changes(watched_facts({**judged, "severity": None}), watched_facts(now))[-1] == (
        "archived false → true"
    )
    assert "count 6 → none" in changes(
        watched_facts(judged), watched_facts({**judged, "count": None})
    )


def test_the_same_decision_read_again_unchanged_is_new_over_one_that_was_not() -> None:
    """Recorded from a case folder (not re-read), then again with GuardDuty read unchanged: a
    new record, so that the ledger says the finding was checked; the other way round, or
    unchanged twice, it is the same decision."""
    from torinvest.verdict import make_verdict, same_decision

    def with_check(state: str) -> dict[str, Any]:
        return make_verdict(
            FINDING, status="malicious", analyst="ana", rationale="x",
            finding_check={"state": state, "at": "2026-12-01T00:00:00Z"},
        ).to_dict()  # fmt: skip

    unchanged, offline = with_check("unchanged"), with_check("not re-read")
    assert not same_decision(offline, unchanged)
    assert not same_decision({**offline, "finding_check": {}}, unchanged)  # an older record
    assert same_decision(unchanged, offline) and same_decision(unchanged, with_check("unchanged"))


# --------------------------------------------------------------------------------------------
# the notebook's form
# --------------------------------------------------------------------------------------------
def test_the_form_warns_of_a_changed_finding_and_records_only_what_was_confirmed(
    aws_inv: investigation.Investigation, fake_aws: FakeAws, tmp_path: Path
) -> None:
    """The report was made, GuardDuty then saw more Tor calls, the analyst presses Record
    verdict: nothing is recorded, a warning card says what changed (from → to) and how to
    re-run; a confirmation box appears. Confirmed, it covers only the changes it showed: a
    later change is warned again. Each press reads the finding once (one GetFindings)."""
    ledger = tmp_path / "ledger.jsonl"
    form = display.VerdictForm(
        aws_inv, report.decide(aws_inv, finding_id=FINDING, ledger=ledger), analyst="ana"
    )
    assert form.confirm.layout.display == "none"  # no confirmation to give yet
    put(fake_aws, new_activity(raw_finding()))
    form.status.value, form.rationale.value = "legitimate", "red team drill"
    before = get_findings(fake_aws)
    form.button.click()
    assert get_findings(fake_aws) == before + 1
    shown = form.message.value
    assert "Not recorded: the finding changed since this report" in shown
    assert (
        "count 6 → 900" in shown
        and "eventLastSeen 2023-07-10T12:20:04Z → 2026-12-01T09:59:00Z" in shown
    )
    assert (
        "Run All Cells" in shown and f"torinvest investigate {FINDING} --regions=us-east-1" in shown
    )
    assert "--verdict legitimate --analyst ana --rationale &#x27;red team drill&#x27;" in shown
    assert form.confirm.layout.display is None and form.confirm.value is False
    assert not ledger.exists()

    put(fake_aws, new_activity(raw_finding(), count=950))  # changed again before the confirmation
    form.confirm.value = True
    form.button.click()
    assert "count 6 → 950" in form.message.value and not ledger.exists()
    assert form.confirm.value is False  # to be confirmed again, over what it now shows

    form.confirm.value = True
    form.button.click()
    assert "Recorded: <b>legitimate</b>" in form.message.value
    assert "recorded although the finding changed since its evidence was read" in (
        form.message.value
    )
    assert form.confirm.layout.display == "none"
    (record,) = read_ledger(ledger)[0]
    assert record["finding_state"]["count"] == 6  # what the evidence judged, kept as it was
    check = record["finding_check"]
    assert check["state"] == "changed" and "count 6 → 950" in check["changes"]
    assert check["accepted"] == display.widgets.CHANGED_CONFIRMED
    assert "recorded although the finding changed" in json.dumps(form.output.outputs)


def test_the_form_records_an_unchanged_finding_at_once_saying_it_was_read_again(
    aws_inv: investigation.Investigation, fake_aws: FakeAws, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    form = display.VerdictForm(
        aws_inv, report.decide(aws_inv, finding_id=FINDING, ledger=ledger), analyst="ana"
    )
    form.status.value, form.rationale.value = "malicious", "CreateUser from Tor"
    form.button.click()
    assert "Recorded: <b>malicious</b>" in form.message.value and "⚠" not in form.message.value
    (record,) = read_ledger(ledger)[0]
    assert record["finding_check"]["state"] == "unchanged"
    assert record["finding_check"]["where"].startswith("GuardDuty us-east-1, detector ")
    code, out, _ = run("verdicts", "--ledger", str(ledger))
    assert code == 0 and "finding re-read" in out and "unchanged" in out


# --------------------------------------------------------------------------------------------
# the parameters (investigate --verdict, papermill): report.decide, as the notebook's cell
# --------------------------------------------------------------------------------------------
def test_the_parameters_verdict_is_refused_over_a_changed_finding_unless_accepted(
    aws_inv: investigation.Investigation, fake_aws: FakeAws, tmp_path: Path
) -> None:
    """Archived by someone else, its severity raised, another key: each said; nothing recorded
    (the note says the re-run command and --finding-changed-ok); accepted, recorded and said."""
    ledger = tmp_path / "ledger.jsonl"
    raw = raw_finding()
    changed = {**raw, "severity": 8, "service": {**raw["service"], "archived": True}}
    changed["resource"] = {
        **raw["resource"],
        "accessKeyDetails": {**raw["resource"]["accessKeyDetails"], "accessKeyId": OTHER_KEY},
    }
    put(fake_aws, changed)
    ask = {"finding_id": FINDING, "status": "legitimate", "analyst": "ana", "rationale": "ok"}
    v = report.decide(aws_inv, **ask, ledger=ledger, out_dir=tmp_path / "r")
    assert not v["added"] and v["status"] == "pending" and not ledger.exists()
    assert v["finding_changed"] == [
        f"access key {SUSPECT} → {OTHER_KEY}",
        "archived false → true",
        "severity 5 → 8",
    ]
    note = v["note"]
    assert note.startswith(f"NOT RECORDED: legitimate by ana — finding {FINDING} changed since")
    assert f"torinvest investigate {FINDING} --regions=us-east-1 --out={tmp_path / 'r'}" in note
    assert "--finding-changed-ok" in note and "-p finding_changed_ok true" in note
    assert "NOT RECORDED" in verdict_warnings(v)[0]

    v = report.decide(aws_inv, **ask, ledger=ledger, finding_changed_ok=True)
    assert v["added"] and v["finding_check"]["state"] == "changed"
    assert v["finding_check"]["accepted"] == investigation.CHANGED_OK_PARAMETER
    summary = investigation.summary(aws_inv, v)
    assert summary["verdict"]["finding_check"]["changes"][1] == "archived false → true"
    report.check_summary_data(summary)  # the contract takes it
    assert "recorded although the finding changed" in build_answer(summary).text


def test_a_finding_that_cannot_be_read_again_is_recorded_and_never_reads_as_checked(
    aws_inv: investigation.Investigation, fake_aws: FakeAws, tmp_path: Path
) -> None:
    """GetFindings denied at recording time: the verdict is recorded (the analyst decided on
    the evidence shown) and says it was not re-read, and why — in the ledger, the form's card,
    `verdicts` (table, note and --json), summary.json and the answer. A record written before
    the check says "not checked", not "unchanged"."""
    ledger = tmp_path / "ledger.jsonl"
    fake_aws.fail("guardduty", "us-east-1", "AccessDeniedException", operation="GetFindings")
    v = report.decide(
        aws_inv, finding_id=FINDING, status="malicious", analyst="ana", rationale="x",
        ledger=ledger,
    )  # fmt: skip
    assert v["added"]
    check = v["finding_check"]
    assert check["state"] == "not re-read" and "GetFindings in us-east-1 failed" in check["why"]
    assert "AccessDenied" in check["why"] or "not authorized" in check["why"].lower()
    warnings = verdict_warnings(v)
    assert any(w.startswith("finding not re-read when the verdict was recorded") for w in warnings)
    summary = investigation.summary(aws_inv, v)
    report.check_summary_data(summary)
    assert "finding not re-read when the verdict was recorded" in build_answer(summary).text

    old = {**read_ledger(ledger)[0][0], "finding_id": "7f176d541deef88b1ad653b9ed646f29"}
    old.pop("finding_check")  # a record written before torinvest read findings again
    with ledger.open("a") as fh:
        fh.write(json.dumps(old) + "\n")
    code, out, err = run("verdicts", "--ledger", str(ledger))
    assert code == 0
    rows = {line.split()[2]: line for line in out.splitlines()[2:]}
    assert "NOT RE-READ" in rows[FINDING] and "not checked" in rows[old["finding_id"]]
    assert f"malicious on {FINDING}" in err and "finding not re-read when the verdict" in err
    code, out, _ = run("verdicts", "--ledger", str(ledger), "--json")
    got = {r["finding_id"]: r for r in json.loads(out)}
    assert got[FINDING]["finding_checked"] == "NOT RE-READ"
    assert got[FINDING]["finding_check"]["state"] == "not re-read"
    assert (got[old["finding_id"]]["finding_checked"], got[old["finding_id"]]["finding_check"]) == (
        "not checked",
        None,
    )


# --------------------------------------------------------------------------------------------
# torinvest verdict
# --------------------------------------------------------------------------------------------
def test_torinvest_verdict_reads_the_finding_again_right_before_recording(
    fake_aws: FakeAws, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finding changes while `torinvest verdict --regions` reads the key's activity: exit
    1, nothing recorded, what changed and the exact command to run again; with
    --finding-changed-ok it is recorded and says so. From --case (offline) and without a
    source, it is recorded saying the finding was not re-read."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    put(fake_aws, raw_finding())
    real = cli_verdicts._investigate

    def investigate_then_guardduty_updates(*args: Any, **kwargs: Any) -> Any:
        inv = real(*args, **kwargs)
        put(fake_aws, new_activity(raw_finding(), count=int(inv.finding["count"]) + 100))
        return inv

    monkeypatch.setattr(cli_verdicts, "_investigate", investigate_then_guardduty_updates)
    ledger = tmp_path / "ledger.jsonl"
    base = ["verdict", FINDING, "--status", "legitimate", "--analyst", "ana"]
    base += ["--rationale", "owner: pentest", "--ledger", str(ledger), "--regions", "us-east-1"]
    base += ["--logs", LOGS]  # the sample finding is older than LookupEvents keeps
    code, out, err = run(*base)
    assert code == EXIT_REFUSED and out == "" and not ledger.exists(), out + err
    assert (
        f"torinvest: error: verdict NOT recorded: finding {FINDING} changed since the evidence"
        in err
    )
    assert "count 6 → 106" in err and "updatedAt 2023-07-10T12:26:31.468000Z → 2026-12-01" in err
    assert (
        f"torinvest verdict {FINDING} --status legitimate --analyst ana --rationale "
        f"'owner: pentest' --ledger={ledger} --regions=us-east-1 --logs={LOGS}" in err
    )
    assert "add --finding-changed-ok" in err

    code, out, err = run(*base, "--finding-changed-ok")
    assert code == 0 and out.startswith("recorded: legitimate"), err
    assert "recorded although the finding changed since its evidence was read (" in err
    (record,) = read_ledger(ledger)[0]
    assert record["finding_check"]["accepted"] == "--finding-changed-ok"
    assert "count 106 → 206" in record["finding_check"]["changes"]  # read, then updated again

    monkeypatch.setattr(cli_verdicts, "_investigate", real)
    case_ledger = tmp_path / "case.jsonl"
    code, out, err = run(
        "verdict", FINDING, "--status", "malicious", "--analyst", "ana", "--rationale", "x",
        "--ledger", str(case_ledger), "--case", str(sample_case().root),
    )  # fmt: skip
    assert code == 0, err
    assert (
        "finding not re-read when the verdict was recorded: the finding was read from the " in err
    )
    assert "(offline): GuardDuty was not asked" in err
    code, out, err = run(
        "verdict", "7f176d541deef88b1ad653b9ed646f29", "--status", "malicious", "--analyst",
        "ana", "--rationale", "x", "--ledger", str(case_ledger),
    )  # fmt: skip
    assert code == 0 and "WITHOUT EVIDENCE" in err
    code, out, err = run("verdicts", "--ledger", str(case_ledger), "--json")
    assert [r["finding_checked"] for r in json.loads(out)] == ["NOT RE-READ", "NOT RE-READ"]
    assert "no source option was given" in err and "case folder" in err


# --------------------------------------------------------------------------------------------
# investigate --verdict, end to end (papermill)
# --------------------------------------------------------------------------------------------
def test_investigate_verdict_is_refused_when_the_finding_changed_during_the_run(
    fake_aws: FakeAws, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command fetches the finding, GuardDuty updates it, the kernel records the verdict:
    the kernel reads it again, records nothing, the report and the command say what changed
    (exit 1); --finding-changed-ok records it, saying so."""
    import torinvest.report as report_package

    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    put(fake_aws, raw_finding())
    counts = iter((900, 950))
    real = report_package.run_report

    def fetched_then_guardduty_updates(*args: Any, **kwargs: Any) -> Any:
        put(fake_aws, new_activity(raw_finding(), count=next(counts)))
        return real(*args, **kwargs)

    monkeypatch.setattr(report_package, "run_report", fetched_then_guardduty_updates)
    ledger = tmp_path / "ledger.jsonl"
    given = ["investigate", FINDING, "--regions", "us-east-1", "--ledger", str(ledger)]
    given += ["--logs", LOGS]  # the sample finding is older than LookupEvents keeps
    given += ["--verdict", "legitimate", "--analyst", "ana", "--rationale", "drill"]
    code, _out, err = run(*given, "--out", str(tmp_path / "r1"))
    assert code == EXIT_REFUSED, err
    assert "verdict NOT RECORDED: legitimate by ana — finding" in err and "count 6 → 900" in err
    summary = json.loads((tmp_path / "r1" / "summary.json").read_text())
    assert (
        summary["verdict"]["status"] == "pending" and "count 6 → 900" in summary["verdict"]["note"]
    )
    assert "count 6 → 900" in (tmp_path / "r1" / "report.html").read_text()
    assert read_ledger(ledger)[0] == [], ledger.read_text()

    code, _out, err = run(*given, "--out", str(tmp_path / "r2"), "--finding-changed-ok")
    assert code == 0, err
    assert "torinvest: note: verdict: recorded although the finding changed" in err
    (record,) = read_ledger(ledger)[0]
    assert "count 900 → 950" in record["finding_check"]["changes"]
    summary = json.loads((tmp_path / "r2" / "summary.json").read_text())
    assert summary["verdict"]["finding_check"]["accepted"] == investigation.CHANGED_OK_PARAMETER


# --------------------------------------------------------------------------------------------
# a remediation over a verdict without evidence
# --------------------------------------------------------------------------------------------
def test_a_remediation_over_a_verdict_without_evidence_says_so_first_and_in_the_ledger(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It goes ahead (containment is not held back), but the dry run and --execute warn before
    the plan, with the command that records the verdict with its evidence, and every call's
    ledger record says the verdict it followed had none. A verdict with evidence: no warning."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    iam = iam_client(moto, SAMPLE_ACCOUNT)
    iam.create_user(UserName="benjamin")
    suspect = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName=BACKDOOR_USER)
    backdoor = iam.create_access_key(UserName=BACKDOOR_USER)["AccessKey"]["AccessKeyId"]
    iam.attach_user_policy(UserName=BACKDOOR_USER, PolicyArn=ADMIN)
    case = sample_case_with(tmp_path, {SUSPECT: suspect, BACKDOOR_KEY: backdoor})
    ledger = tmp_path / "ledger.jsonl"
    code, _, err = run(
        "verdict", FINDING, "--status", "malicious", "--analyst", "ana", "--rationale", "bad",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0 and "WITHOUT EVIDENCE" in err
    remediate = ["actions", FINDING, "--case", str(case), "--plan", "remediate"]
    remediate += ["--ledger", str(ledger)]
    role = ["--role-arn", f"arn:aws:iam::{SAMPLE_ACCOUNT}:role/responder"]
    code, _, err = run(*remediate)
    assert code == 0, err
    assert (
        f"torinvest: warning: VERDICT WITHOUT EVIDENCE: the malicious verdict on {FINDING}" in err
    )
    assert f"torinvest verdict {FINDING} --status malicious" in err and "--case=" in err
    proxy.clear()
    code, _out, err = run(*remediate, "--execute", *role)
    assert code == 0, err
    assert "VERDICT WITHOUT EVIDENCE" in err
    assert ops(proxy, changes_only=True) == ["UpdateAccessKey", "PutUserPolicy"]
    acts = assert_paired(read_ledger(ledger)[0])
    assert acts and {r.get("verdict_evidence") for r in acts} == {"none"}

    evidenced = tmp_path / "evidenced.jsonl"
    code, _, err = run(
        "verdict", FINDING, "--status", "malicious", "--analyst", "ana", "--rationale", "bad",
        "--ledger", str(evidenced), "--case", str(case),
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run(*remediate[:-1], str(evidenced))
    assert code == 0 and "WITHOUT EVIDENCE" not in err
