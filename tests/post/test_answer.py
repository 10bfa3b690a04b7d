"""The plain-text answer a post carries, from a real summary.json, and the verdict, remediation
and Security Hub states it leads to."""

from __future__ import annotations

from typing import Any

import pytest

from tests.post.conftest import FINDING_ID, UNKNOWN_TOR_LINE, summary_data, unknown_tor_summary
from torinvest.post.answer import (
    MAX_ANSWER_CHARS,
    NOTE_MAX_CHARS,
    build_answer,
    reading,
    remediation_state,
    security_hub_note,
)

EXPECTED_HEAD = [
    f"torinvest: UnauthorizedAccess:IAMUser/TorIPCaller — finding {FINDING_ID}",
    "Finding: account 123837392027, us-east-1, severity 5.0, seen 2023-07-10T12:17:08Z → "
    "2023-07-10T12:20:04Z (6 times)",
    "Reading: complete: every source was read.",
    "Key: AKIATFQR7NSCUXC3DDDP (long-term) of benjamin (IAMUser)",
    "Tor: 24 of 69 call(s) from Tor exits (3 IP(s): 185.220.101.34, 109.70.100.66, "
    "199.249.230.87); 10 failed",
    "What mattered: 11 sensitive call(s)",
]


def test_the_answer_of_a_real_report() -> None:
    a = build_answer(summary_data())
    lines = a.text.splitlines()
    assert lines[: len(EXPECTED_HEAD)] == EXPECTED_HEAD
    assert any(
        line.startswith("  - 2023-07-10T12:1")
        and "CreateUser [persistence] user svc-backup-sync" in line
        for line in lines
    )
    assert "Derived keys: ASIATFQR7NSCNGEI5QNT (the same actor holds them)" in lines
    score = next(line for line in lines if line.startswith("Score: "))
    assert score.startswith("Score: 100/100 (high) — a triage aid, not a verdict: sensitive:")
    assert "Verdict: pending (no decision yet)" in lines
    assert f"torinvest verdict {FINDING_ID} --status 'malicious|legitimate|inconclusive'" in a.text
    assert lines[-1] == "Generated 2026-12-04T15:27:24.838249Z by root@vm with torinvest 0.1.0."
    assert (a.workflow, a.verification, a.verdict_from_ledger) == (None, None, False)


@pytest.mark.parametrize(
    ("why", "said"),
    [
        (
            "the console password set for user svc-backup-sync: its sign-ins were not read",
            "the console password set for user svc-backup-sync: its sign-ins were not read",
        ),
        (None, "a key minted past the pass limit was not followed, or part of the activity"),
    ],
)
def test_a_partial_derived_keys_search_says_why(why: str | None, said: str) -> None:
    """The ticket says why the derived keys' search was partial (summary.json's ``why``), not a
    guess between two reasons; a summary without one keeps the general words."""
    data = summary_data()
    data["derived_keys_search"] = {"status": "partial", "why": why}
    [line] = [x for x in build_answer(data).text.splitlines() if x.startswith("Derived keys:")]
    assert f"— the search was partial: {said}" in line


def test_calls_no_exit_list_covers_are_never_counted_as_not_tor() -> None:
    lines = build_answer(unknown_tor_summary()).text.splitlines()
    assert UNKNOWN_TOR_LINE in lines
    mattered = [line for line in lines if line.startswith("  - ")]
    assert mattered and all(" (Tor status unknown)" in line for line in mattered)
    # some calls known, some not: both counted, the IPs named
    data = summary_data()
    data["events"]["tor_unknown"] = 5
    (tor,) = [line for line in build_answer(data).text.splitlines() if line.startswith("Tor:")]
    assert tor.startswith(
        "Tor: 24 of 69 call(s) from Tor exits, 5 of unknown Tor status "
        "(no loaded exit list can rule Tor out for them: the data issues say why) (3 IP(s): 185.220.101.34"
    )


def test_a_later_decision_in_the_ledger_is_the_current_verdict() -> None:
    ledger = [
        _verdict("malicious", "2024-01-02T00:00:00Z"),
        _verdict("pending", "2024-02-01T00:00:00Z"),
    ]
    a = build_answer(summary_data(), ledger)
    assert (
        'Verdict: malicious by ana at 2024-01-02T00:00:00Z — "keys made from Tor" (recorded in the ledger after this report)'
        in a.text
    )
    assert f"torinvest actions {FINDING_ID} --plan remediate --execute" in a.text
    assert (a.workflow, a.verification) == ("NOTIFIED", "TRUE_POSITIVE")


def test_a_verdict_for_another_finding_changes_nothing() -> None:
    other = {**_verdict("malicious", "2024-01-02T00:00:00Z"), "finding_id": "0" * 32}
    assert build_answer(summary_data(), [other]).verdict["status"] == "pending"


@pytest.mark.parametrize(
    ("issues", "total", "start"),
    [
        ([], 69, "complete: every source was read."),
        ([{"source": "s3://trail/AWSLogs/", "problem": "3 objects could not be downloaded: AccessDenied"}], 69,
         "INCOMPLETE: 1 data issue(s), e.g. s3://trail/AWSLogs/: 3 objects could not be downloaded"),
        ([{"source": "activity", "problem": "no source could be read: AccessDenied on every region."}], 0,
         "COULD NOT LOOK: no source could be read"),
        ([], 0, "no events: every source was read and none holds a call"),
    ],
)  # fmt: skip
def test_reading_states_never_read_alike(
    issues: list[dict[str, str]], total: int, start: str
) -> None:
    data = summary_data()
    data["data_issues"], data["events"]["total"] = issues, total
    assert reading(data).startswith(start)


@pytest.mark.parametrize(
    "problem",
    [
        "no source could be read: AccessDenied on every region.",
        "could not look in account 999988887777 (the finding's): the 62 log file(s) read are of "
        "account(s) 123837392027 (their AWSLogs/<account>/ folders or file names); none can hold "
        "a call recorded in account 999988887777.",
    ],
)
def test_could_not_look_lines_never_contradict_the_reading(problem: str) -> None:
    """A report that could not look — its sources failed, or they were read and are another
    account's — says "not known" for the Tor calls, what mattered and the derived keys, in words
    true of both: never "no activity source could be read" under a Reading line that says 62 log
    files were read (the ticket's reader would look for an access problem)."""
    data = summary_data()
    data["data_issues"] = [{"source": "activity", "problem": problem}]
    data["events"]["total"], data["sensitive_events"], data["derived_keys"] = 0, [], []
    data["signals"] = [{"name": "could_not_look", "weight": 0, "detail": problem}]
    text = build_answer(data).text
    assert "Reading: COULD NOT LOOK" in text
    for label in ("Tor", "What mattered", "Derived keys"):
        assert f"{label}: not known: the key's activity could not be looked at" in text
    assert "no activity source could be read" not in text


def _action(
    run: str,
    seq: int | None,
    phase: str,
    *,
    status: str | None = None,
    changes: bool = True,
    at: str = "2024-01-03T00:00:00Z",
    planned: int | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "kind": "action",
        "run_id": run,
        "finding_id": FINDING_ID,
        "plan": "remediate",
        "phase": phase,
        "at": at,
    }
    if seq is not None:
        rec["seq"] = seq
    if phase in ("start", "skipped"):
        rec["action"] = {
            "service": "iam",
            "operation": "UpdateAccessKey",
            "changes_aws": changes,
            "manual": None,
        }
    if status:
        rec["status"] = status
    if planned is not None:  # the run's first record: how many changes the plan has
        rec["planned_changes"] = planned
    if note is not None:
        rec["note"] = note
    return rec  # the shape torinvest.runner writes


def test_remediation_state_reads_the_runner_records() -> None:
    dry_reads = [
        _action("r0", 1, "start", changes=False),
        _action("r0", 1, "outcome", status="read"),
    ]
    assert remediation_state(dry_reads, FINDING_ID) is None  # reads only: nothing executed
    failed = [_action("r1", 1, "start"), _action("r1", 1, "outcome", status="failed")]
    state = remediation_state(dry_reads + failed, FINDING_ID)
    assert state is not None and (state.changes, state.failed, state.complete) == (1, 1, False)
    done = [
        _action("r2", 1, "start", at="2024-01-04T00:00:00Z", planned=2),
        _action("r2", 1, "outcome", status="done", at="2024-01-04T00:00:01Z"),
        _action("r2", None, "skipped", status="already-done", at="2024-01-04T00:00:02Z"),
    ]
    state = remediation_state(failed + done, FINDING_ID)
    assert state is not None and state.run_id == "r2" and state.complete and state.changes == 2
    ledger = [_verdict("malicious", "2024-01-02T00:00:00Z"), *failed, *done]
    a = build_answer(summary_data(), ledger)
    assert a.workflow == "RESOLVED"
    assert "Remediation: executed at 2024-01-04T00:00:02Z (run r2): 2 change(s)" in a.text
    partial = build_answer(summary_data(), [_verdict("malicious", "2024-01-02T00:00:00Z"), *failed])
    assert partial.workflow == "NOTIFIED" and "1 FAILED" in partial.text


def test_a_runs_time_is_its_latest_record_in_utc_not_in_text_order() -> None:
    """A run's records written with an offset (another host, an edited ledger) or a fraction:
    the run's time is the latest instant, not the text that sorts last."""
    run = [
        _action("r5", 1, "start", at="2024-01-04T20:00:00.000Z", planned=1),
        _action("r5", 1, "outcome", status="done", at="2024-01-05T01:00:00+09:00"),  # 16:00Z
    ]
    state = remediation_state(run, FINDING_ID)
    assert state is not None and state.at == "2024-01-04T20:00:00.000Z"
    run[1]["at"] = "not a time"
    state = remediation_state(run, FINDING_ID)
    assert state is not None and state.at == "2024-01-04T20:00:00.000Z"


def test_a_change_whose_run_stopped_mid_call_is_neither_done_nor_failed() -> None:
    """``actions --execute`` killed between a change's start record and its outcome: the change
    may or may not have been made. The answer says exactly that, not "done" (the finding is not
    resolved) and not "FAILED" (it may have gone through)."""
    stopped = [
        _action("r3", 1, "start", at="2024-01-05T00:00:00Z", planned=2),
        _action("r3", 1, "outcome", status="done", at="2024-01-05T00:00:01Z"),
        _action("r3", 2, "start", at="2024-01-05T00:00:02Z"),  # no outcome: the run was killed
    ]
    state = remediation_state(stopped, FINDING_ID)
    assert state is not None
    assert (state.changes, state.failed, state.unrecorded, state.complete) == (2, 0, 1, False)
    a = build_answer(summary_data(), [_verdict("malicious", "2024-01-02T00:00:00Z"), *stopped])
    assert a.workflow == "NOTIFIED"
    line = next(x for x in a.text.splitlines() if x.startswith("Remediation:"))
    assert "2 change(s), 1 without a recorded outcome" in line and "FAILED" not in line
    assert "--plan remediate --execute" in a.text  # the next step is still to run it
    note, _ = security_hub_note(a, "jira:SEC-1")
    assert "(1 change(s) without a recorded outcome)." in note and "FAILED" not in note


def test_a_change_whose_answer_was_lost_is_of_unknown_outcome_not_failed() -> None:
    """The runner ledgers ``unknown`` when a change's answer was lost after the request may have
    reached AWS: the answer says so (not FAILED, not done) and the finding is not resolved."""
    lost = [
        _action("r5", 1, "start", at="2024-01-05T00:00:00Z", planned=2),
        _action("r5", 1, "outcome", status="done", at="2024-01-05T00:00:01Z"),
        _action("r5", 2, "start", at="2024-01-05T00:00:02Z"),
        _action("r5", 2, "outcome", status="unknown", at="2024-01-05T00:00:09Z"),
    ]
    state = remediation_state(lost, FINDING_ID)
    assert state is not None
    assert (state.failed, state.unknown, state.complete) == (0, 1, False)
    a = build_answer(summary_data(), [_verdict("malicious", "2024-01-02T00:00:00Z"), *lost])
    assert a.workflow == "NOTIFIED"
    line = next(x for x in a.text.splitlines() if x.startswith("Remediation:"))
    assert "1 of unknown outcome (the request may have reached AWS" in line
    assert "FAILED" not in line
    note, _ = security_hub_note(a, "jira:SEC-1")
    assert "1 change(s) of unknown outcome" in note and "FAILED" not in note


def _run(*records: dict[str, Any]) -> Any:
    return build_answer(summary_data(), [_verdict("malicious", "2024-01-02T00:00:00Z"), *records])


def test_a_run_stopped_before_its_other_changes_is_not_complete() -> None:
    """Killed after 2 of 7 changes (the 5 others never started): every started change has its
    outcome, but the run is not the plan: NOTIFIED, and the answer says N of M and what to do."""
    stopped = [
        _action("r4", 1, "start", changes=False, planned=7),  # GetCallerIdentity
        _action("r4", 1, "outcome", status="read"),
        _action("r4", 2, "start"),
        _action("r4", 2, "outcome", status="done"),
        _action("r4", 3, "start"),
        _action("r4", 3, "outcome", status="done"),
    ]
    a = _run(*stopped)
    assert a.remediation is not None and not a.remediation.complete
    assert a.workflow == "NOTIFIED"
    line = next(x for x in a.text.splitlines() if x.startswith("Remediation:"))
    assert "2 of 7 change(s) run; the run stopped: run the plan again" in line
    assert "executed" not in line
    assert f"torinvest actions {FINDING_ID} --plan remediate --execute" in a.text
    assert "remediation executed" not in a.text
    note, _ = security_hub_note(a, "jira:SEC-1")
    assert "Remediation NOT COMPLETE" in note and "2 of 7 change(s) run: the run stopped" in note
    again = [  # run again: 2 already done, 5 done
        _action("r5", 1, "start", changes=False, planned=7),
        _action("r5", 1, "outcome", status="read"),
        *[_action("r5", None, "skipped", status="already-done") for _ in range(2)],
        *[r for seq in range(2, 7) for r in (
            _action("r5", seq, "start"), _action("r5", seq, "outcome", status="done"))],
    ]  # fmt: skip
    assert _run(*stopped, *again).workflow == "RESOLVED"


def test_a_run_ledgered_without_its_plan_size_is_not_known_complete() -> None:
    """A ledger written before runs recorded their plan's size: the run may have been stopped,
    so it is not called complete, and the answer says why."""
    old = [_action("r6", 1, "start"), _action("r6", 1, "outcome", status="done")]
    a = _run(*old)
    assert a.workflow == "NOTIFIED"
    line = next(x for x in a.text.splitlines() if x.startswith("Remediation:"))
    assert "how many changes the plan had is unknown" in line and "run the plan again" in line
    assert "not known to be complete" in security_hub_note(a, "x")[0]


def test_a_step_left_alone_is_not_a_full_remediation() -> None:
    """A step skipped because what it would delete is not the actor's (a same-named user made at
    another time): the rest is done, but the finding is not resolved, and the answer says what
    was left alone."""
    why = "user svc-backup-sync was created at 2020-01-01 00:00:00Z, not by the activity's …"
    run = [
        _action("r7", 1, "start", planned=2),
        _action("r7", 1, "outcome", status="done"),
        _action("r7", None, "skipped", status="left-alone", note=why),
    ]
    a = _run(*run)
    assert a.remediation is not None and a.remediation.left_alone == (why,)
    assert a.workflow == "NOTIFIED"
    assert f"1 LEFT ALONE: {why}" in a.text
    assert "1 step(s) were left alone" in a.text and "check them by hand" in a.text
    assert "(1 left alone)" in security_hub_note(a, "x")[0]
    more = _run(*run, _action("r7", None, "skipped", status="left-alone", note=why))
    assert f"2 LEFT ALONE: {why} (2 steps)" in more.text  # one reason, said once


def test_the_security_hub_note_fits_512_and_keeps_where_the_report_is() -> None:
    ledger = [{**_verdict("inconclusive", "2024-01-02T00:00:00Z"), "rationale": "why " * 400}]
    a = build_answer(summary_data(), ledger)
    text, by = security_hub_note(a, "jira:SEC-1, servicenow:incident:abc")
    assert len(text) <= NOTE_MAX_CHARS and text.endswith(
        "Report: jira:SEC-1, servicenow:incident:abc"
    )
    assert text.startswith("torinvest verdict: inconclusive by ana (2024-01-02T00:00:00Z): why why")
    assert by == "torinvest (ana)"


def _verdict(status: str, at: str) -> dict[str, Any]:
    return {
        "kind": "verdict",
        "finding_id": FINDING_ID,
        "status": status,
        "analyst": "ana" if status != "pending" else "",
        "rationale": "keys made from Tor" if status != "pending" else "",
        "recorded_at": at,
    }


def test_long_calls_give_way_before_the_score_verdict_and_next_step() -> None:
    """Attacker-long targets on many sensitive calls fill the answer: the list of calls is
    shortened (naming how many more the report has), never the score, the verdict or the next
    step."""
    data = summary_data()
    call = data["sensitive_events"][0]
    data["sensitive_events"] = [
        {
            **call,
            "event_name": "GetSecretValue" + "x" * 100,
            "target": "secret " + "A" * 600,
            "source_ip": "2001:db8::" + "f" * 60,
            "error_code": "E" * 80,
        }
        for _ in range(40)
    ]
    data["verdict"] = {
        "status": "malicious",
        "analyst": "a" * 100,
        "rationale": "r" * 1000,
        "recorded_at": "2023-07-11T09:00:00Z",
    }
    text = build_answer(data).text
    assert len(text) <= MAX_ANSWER_CHARS
    lines = text.splitlines()
    for start in ("Reading: ", "Score: 100/100", "Verdict: malicious", "Next step: ", "Generated "):
        assert any(line.startswith(start) for line in lines), start
    assert "What mattered: 40 sensitive call(s)" in lines
    more = next(line for line in lines if line.startswith("  … and "))
    shown = sum(line.startswith("  - ") for line in lines)
    assert more == f"  … and {40 - shown} more (in the report)" and 0 < shown < 12
    assert "cut here" not in text


def test_calls_of_unknown_outcome_are_never_read_as_succeeded_in_the_answer() -> None:
    """A summary counting calls of unknown outcome (LookupEvents' events without a usable
    record): the Tor line counts them apart and each such sensitive call says so."""
    data = summary_data()
    data["events"]["outcome_unknown"] = 2
    (call,) = [e for e in data["sensitive_events"] if e["event_name"] == "CreateUser"][:1]
    call.update(error_code=None, outcome="unknown")
    lines = build_answer(data).text.splitlines()
    (tor,) = [line for line in lines if line.startswith("Tor:")]
    assert tor.endswith("; 10 failed, 2 of unknown outcome"), tor
    (shown,) = [line for line in lines if "CreateUser [persistence]" in line]
    assert shown.endswith(", OUTCOME UNKNOWN (no usable record)"), shown
