"""The key's events found only in other accounts than the finding's: "could not look" there.

A finding of account A whose key's events were all recorded in account B (an organization
trail's logs hold B's copy of cross-account calls; A's own logs were not given): the reading for
"what did this key do in account A" is "could not look" — even though B's events were read, and
are shown —, never "incomplete": one place decides it
(:attr:`torinvest.events.Activity.could_not_look`) and every consumer follows it (report card,
``summary.json``'s ``reading``, the terminal's line, a verdict's evidence, the archive gate, the
``--all-open`` index, the remediation plan). A's logs read and holding no event of the key is a
real "no events in A", said apart; a key used in both accounts, A's logs read, stays complete.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.actions.test_actions import (  # noqa: F401  (proxy_fixture: the fixture "proxy")
    guardduty_finding,
    ops,
    proxy_fixture,
    run,
)
from tests.fake_aws import FakeAws
from tests.fake_aws.proxy import FaultProxy
from tests.offline_regions import SAMPLE_REGIONS
from tests.post.conftest import make_report
from tests.sample_window import COVERED, COVERED_FLAGS, REGIONS
from torinvest import actions, display, investigation, report, runner
from torinvest.analysis import NOT_SCORED
from torinvest.case import sample_case
from torinvest.errors import EXIT_COULD_NOT_LOOK, EXIT_REFUSED, RefusedError
from torinvest.investigation import NOTHING_READ_SOURCE, Investigation
from torinvest.post.answer import build_answer, reading
from torinvest.report import batch
from torinvest.runner.gate import blind_archive
from torinvest.verdict import make_verdict, read_ledger, record_verdict

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
A = "123837392027"  # the finding's account (and the sample records')
B = "111122223333"  # another account: where the key's events were recorded
KEY = "AKIATFQR7NSCUXC3DDDP"
SAMPLE = sample_case().root


def _log(path: Path, account: str) -> tuple[str, bytes]:
    """A sample log file as ``account`` recorded it: its records' account IDs and its name."""
    text = gzip.decompress(path.read_bytes()).decode()
    name = path.name.replace("218007301253", account)
    return name, gzip.compress(text.replace(A, account).encode())


def _put(case: Path, account: str, name: str, data: bytes) -> None:
    region = name.split("_CloudTrail_", 1)[1].split("_", 1)[0]  # its region's folder
    folder = case / "cloudtrail" / "AWSLogs" / account / "CloudTrail" / region / "2023/07/10"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def _case(root: Path, *, in_a: str = "") -> Path:
    """The sample findings (account A) and its trail's files as account B's — except, with
    ``in_a``: ``"background"`` one file without the key kept as A's (A's logs read, none of the
    key's calls in them), ``"key"`` one file with the key's calls kept as A's (used in both)."""
    case = root / "case"
    shutil.copytree(SAMPLE / "findings", case / "findings")
    files = sorted(SAMPLE.rglob("*.json.gz"))
    holds = {f: KEY.encode() in gzip.decompress(f.read_bytes()) for f in files}
    kept: set[Path] = set()
    if in_a:
        kept.add(next(f for f in files if holds[f] == (in_a == "key") and "_us-east-1_" in f.name))
        # and a file without the key in each of the trail's other regions: A's copy holds
        # every region its trail logs (a copy that lacks one is not read whole)
        others: list[tuple[str, bytes]] = []
        for region in SAMPLE_REGIONS:
            if not any(f"_{region}_" in f.name for f in kept):
                first = next(f for f in files if f"_{region}_" in f.name)
                name, data = _log(first, A)
                doc = json.loads(gzip.decompress(data))
                doc["Records"] = [r for r in doc["Records"] if KEY not in json.dumps(r)]
                others.append(
                    (
                        name.replace(".json.gz", "_bg.json.gz"),
                        gzip.compress(json.dumps(doc).encode()),
                    )
                )  # the region's file without the key's calls
        for f in kept:
            _put(case, A, *_log(f, A))
        for name, data in others:
            _put(case, A, name, data)
    for f in files:
        if f not in kept:
            _put(case, B, *_log(f, B))
    return case


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Investigation:
    case = _case(tmp_path_factory.mktemp("b_only"))
    return investigation.investigate(
        FINDING,
        investigation.sources_from_parameters(case_dir=str(case), regions=REGIONS),
        **COVERED,
    )


def _investigate(case: Path) -> Investigation:
    return investigation.investigate(
        FINDING,
        investigation.sources_from_parameters(case_dir=str(case), regions=REGIONS),
        **COVERED,
    )


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).replace("&#x27;", "'")


def test_the_reading_is_could_not_look_for_the_findings_account(elsewhere: Investigation) -> None:
    inv = elsewhere
    assert inv.totals()["total"] > 0  # B's events were read, and are kept
    why = inv.could_not_look
    assert why is not None and why.startswith(f"could not look in account {A} (the finding's)")
    assert f"account(s) {B}" in why and f"AWSLogs/{A}/" in why  # where it read, what to add
    first = inv.data_issues[0]
    assert (first.source, first.problem) == (NOTHING_READ_SOURCE, why)
    assert not [i for i in inv.data_issues if i.source == f"account {A}"]  # said once
    data = investigation.summary(inv)
    assert data["reading"]["state"] == "could not look"
    assert data["reading"]["text"] == f"could not look: {why}"
    assert data["activity_issues"][0]["source"] == NOTHING_READ_SOURCE
    assert data["baseline"]["status"] == "partial"
    assert data["derived_keys_search"]["status"] == "partial"
    assert inv.score.band != NOT_SCORED  # B's events are scored, as a floor
    assert "score is a floor" in investigation.score_gaps(inv)


def test_the_verdict_evidence_could_not_look(elsewhere: Investigation) -> None:
    ev = investigation.evidence(elsewhere)
    assert ev["reading"] == "could not look"
    assert ev["could_not_look"] == elsewhere.could_not_look
    assert ev["events"] > 0


def test_the_report_card_says_could_not_look_in_the_findings_account(
    elsewhere: Investigation,
) -> None:
    state, line = display.activity_state(elsewhere)
    assert state == "events"  # the events are shown ...
    assert line.startswith(f"{len(elsewhere.events):,} events read, none of them recorded in ")
    assert f"Could not look in account {A} (the finding's)" in line  # ... and not A's
    card = display.activity_status(elsewhere).data
    assert "could not look in the finding's account" in _text(card) and "ti-danger" in card
    answer = _text(display.answer_html(elsewhere, {"status": "legitimate"}))
    assert f"none of them recorded in account {A}" in answer
    assert "Incomplete:" not in answer and "Complete:" not in answer
    assert "account" in display.activity_gap(elsewhere)


def test_the_terminal_line_and_the_answer_say_could_not_look(elsewhere: Investigation) -> None:
    data = investigation.summary(elsewhere)
    line = report.one_line_summary(data)
    assert "COULD NOT LOOK at the key's activity (in the finding's account: " in line
    assert "INCOMPLETE" not in line
    assert reading(data).startswith(f"COULD NOT LOOK: could not look in account {A}")
    answer = build_answer(data)  # what a ticket gets: the reading, and B's calls as read
    assert answer.reading == "could not look"
    assert f"Reading: COULD NOT LOOK: could not look in account {A}" in answer.text
    assert "Tor: 24 of 71 call(s) from Tor exits" in answer.text
    assert "Tor: not known" not in answer.text


def test_the_index_says_could_not_look(elsewhere: Investigation, tmp_path: Path) -> None:
    folder = tmp_path / "rep"
    make_report(folder, finding_id=FINDING, summary=report.summary_data(elsewhere))
    entry = batch.BatchEntry(FINDING, "ok")
    batch._set_reading(entry, folder)
    assert entry.reading == "could not look"
    assert (entry.could_not_look or "").startswith(f"could not look in account {A}")
    assert entry.reading_note().startswith("COULD NOT LOOK: could not look in account")


def test_the_archive_gate_refuses_a_legitimate_verdict_on_it(
    elsewhere: Investigation, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    record_verdict(
        make_verdict(
            FINDING,
            status="legitimate",
            analyst="ana",
            rationale="the owner says so",
            evidence=investigation.evidence(elsewhere),
            now=pd.Timestamp("2024-01-01T00:00:00Z"),
        ),
        ledger,
    )
    with pytest.raises(RefusedError) as e:
        runner.require_verdict(FINDING, "archive", ledger=ledger)
    said = str(e.value)
    assert "could not look at the key's activity" in said and "nothing was called" in said
    assert f"could not look in account {A} (the finding's)" in said
    assert f"AWSLogs/{A}/" in said  # how to read it
    gap = runner.verdict_gap(read_ledger(ledger)[0], FINDING, "archive", ledger)  # a dry run
    assert gap is not None and gap.startswith("--execute would be refused")
    assert f"could not look in account {A}" in gap


def test_the_remediation_plan_says_what_its_steps_rest_on(elsewhere: Investigation) -> None:
    plan = actions.plan_remediation(
        elsewhere.key, elsewhere.events, could_not_look=elsewhere.could_not_look
    )
    assert plan.evidence is not None
    assert plan.evidence.startswith(f"COULD NOT LOOK at the key's activity in account {A}")
    assert "recorded in other accounts" in plan.evidence
    assert "no undo step" not in plan.evidence  # its steps come from B's events
    assert plan.notes[0].startswith("built without the key's activity in the finding's account")


def test_the_findings_account_read_without_the_keys_calls_is_no_events_there(
    tmp_path: Path,
) -> None:
    """A's logs read, none of the key's calls in them (all recorded in B): not "could not look"
    — a real "no events in A", said beside the events; an archive may follow it."""
    inv = _investigate(_case(tmp_path, in_a="background"))
    assert inv.totals()["total"] > 0 and inv.could_not_look is None
    assert not inv.data_issues
    data = investigation.summary(inv)
    assert data["reading"]["state"] == "complete"
    note = f"no event in account {A} (the finding's)"
    assert any(n.startswith(note) and B in n for n in data["reading_notes"])
    assert note in _text(display.answer_html(inv, {"status": "legitimate"}))
    ev = investigation.evidence(inv)
    assert ev["reading"] == "complete" and "could_not_look" not in ev
    verdict = {"status": "legitimate", "evidence": ev, "finding_state": {"count": 1}}
    assert blind_archive(verdict, "archive", FINDING) is None


def test_a_key_used_in_both_accounts_with_the_findings_read_is_complete(tmp_path: Path) -> None:
    inv = _investigate(_case(tmp_path, in_a="key"))
    recipients = set(inv.events["recipient_account_id"].astype(str))
    assert recipients == {A, B}
    assert inv.could_not_look is None and not inv.data_issues
    data = investigation.summary(inv)
    assert data["reading"]["state"] == "complete"
    # no note on the reading (the Tor status's note — an IP "not Tor" by OR-address lists
    # only — is no note on what was read)
    assert data["reading_notes"] == inv.tor_notes
    assert investigation.evidence(inv)["reading"] == "complete"


def test_investigate_then_archive_execute_is_refused(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The colleague's case end to end: `investigate --verdict legitimate` over B's logs only
    says COULD NOT LOOK (exit 1, the report written, the verdict recorded with that evidence),
    and `actions --plan archive` says --execute would be refused; --execute refuses, naming the
    finding's account and how to read it, and GuardDuty archives nothing."""
    raw = guardduty_finding(fake_aws)
    assert raw["id"] == FINDING and raw["accountId"] == A
    ledger, out = tmp_path / "ledger.jsonl", tmp_path / "rep"
    code, stdout, err = run(
        "investigate", FINDING, "--case", str(_case(tmp_path)), "--out", str(out),
        "--ledger", str(ledger), "--verdict", "legitimate", "--analyst", "ana",
        "--rationale", "the owner says so", *COVERED_FLAGS,
    )  # fmt: skip
    assert code == EXIT_COULD_NOT_LOOK, err
    assert "COULD NOT LOOK at the key's activity (in the finding's account: " in stdout
    assert f"error: could not look in account {A} (the finding's)" in err
    assert report.check_summary(out / "summary.json")["reading"]["state"] == "could not look"
    (verdict,) = [r for r in read_ledger(ledger)[0] if r.get("kind") == "verdict"]
    assert verdict["status"] == "legitimate"
    assert verdict["evidence"]["reading"] == "could not look"
    monkeypatch.setenv("MOTO_ACCOUNT_ID", A)
    archive = ["actions", FINDING, "--plan", "archive", "--regions", "us-east-1"]
    archive += ["--ledger", str(ledger)]
    code, _, err = run(*archive)
    assert code == 0 and "--execute would be refused: the legitimate verdict" in err
    code, _, err = run(*archive, "--execute")
    assert code == EXIT_REFUSED and "nothing was called" in err
    assert f"could not look in account {A} (the finding's)" in err and f"AWSLogs/{A}/" in err
    assert "ArchiveFindings" not in ops(proxy) and fake_aws.archived_ids == set()
