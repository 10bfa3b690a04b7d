"""Every command that reads events says what ``investigate`` says about that reading.

A differential check: case folders built from the hostile tests' own records (a trail the key
stopped and GuardDuty it disabled, a session of another account's role, saved LookupEvents
answers of one region, log files of another account only, a finding on a temporary key whose
mint is read, the sample case) are investigated in-process (:func:`investigation.investigate`,
what ``torinvest investigate`` runs in its kernel) and read by ``torinvest events --case …
--access-key KEY --follow-derived --start/--end --account`` over the investigation's window and
its finding's account. Every data
issue of the investigation that concerns the reading of events must be an issue line of
``events`` (same words), every reading note a note; who minted the key is said by both; and the
exit statuses agree on complete / partial / could not look.

Differences that remain are documented (README, "What `events` says of its reading") and named
here: :data:`NEEDS_THE_FINDING` (issues that need the finding, which ``events`` does not have:
it says so in one note, :data:`torinvest.reading.UNJUDGED`), the notes of the activity that say
nothing is missing (data issues of an investigation, notes of ``events``), and :func:`_plain`
(``events`` reads no Tor exit list: "from Tor IP X" is "from X" there, "(a Tor exit then)" is
not said). Not in this corpus (they need LookupEvents or an opt-in region): a LookupEvents
window past 90 days is an error of the options in ``events`` (exit 1) and "could not look" in
``investigate`` (exit 3); the finding's region among those a trail folder must hold is
``investigate``'s alone (``events --regions`` names them).
"""

from __future__ import annotations

import copy
import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests import test_impairment as ti
from tests.cli_run import issues, run
from tests.lookup_export import lookup_event
from tests.offline_regions import SAMPLE_REGIONS
from tests.test_key_origin import SESSION_KEY
from torinvest import investigation
from torinvest.errors import group_issues
from torinvest.events import NOTES_SOURCE, RECENT_LOGS_NOTE
from torinvest.export import READING_SUFFIX, reading_path
from torinvest.last_used import SOURCE as LAST_USED_SOURCE
from torinvest.reading import UNJUDGED
from torinvest.schema import iso_utc

SAMPLE = ti.CASE.root
FINDING = ti.FINDING
SESSION_FINDING = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
OTHER_ACCOUNT = "999999999999"
ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/OrganizationAccountAccessRole"
MINTED = "ASIAPROBEOTHERACCT1A"
ADDED = "218007301253_CloudTrail_us-east-1_20230710T1230Z_AddEdRecords01.json.gz"


# --------------------------------------------------------------------------------------------
# the corpus: case folders (findings/ and cloudtrail/)
# --------------------------------------------------------------------------------------------
def _copy(root: Path) -> Path:
    shutil.copytree(SAMPLE, root)
    return root


def _add(case: Path, records: list[dict[str, Any]]) -> Path:
    day = case / ti.DAY.relative_to(SAMPLE)
    (day / ADDED).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return case


def stopped(root: Path) -> Path:
    """The key stopped the trail at 12:29:31 and disabled GuardDuty at 12:28 (from Tor); the
    log files delivered after 12:30 are gone (test_impairment's ``stopped_case``)."""
    case = _copy(root)
    for f in case.glob("cloudtrail/AWSLogs/*/CloudTrail/*/2023/07/10/*.json.gz"):
        if f.name.split("_")[3] > "20230710T1230Z":
            f.unlink()
    return _add(case, [ti.stop_logging(ti.T), ti.gd(ti.DISABLE, "2023-07-10T12:28:00Z")])


def assume_other(root: Path) -> Path:
    """The key assumed a role of another account (its session's calls are recorded there)."""
    rec = ti.as_key(ti.real(ti.CREATE_USER), "2023-07-10T12:25:00Z")
    rec.update(eventSource="sts.amazonaws.com", eventName="AssumeRole")
    rec["requestParameters"] = {"roleArn": ROLE, "roleSessionName": "x"}
    rec["responseElements"] = {
        "credentials": {"accessKeyId": MINTED, "expiration": "Jul 10, 2023, 6:00:00 PM"},
        "assumedRoleUser": {"arn": f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/x/x"},
    }
    return _add(_copy(root), [rec])


def lookup_one_region(root: Path) -> Path:
    """Saved LookupEvents answers of us-east-1 only, with the key's StopLogging among them."""
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("cloudtrail"))
    mine = [r for r in ti._background().values() if r["userIdentity"].get("accessKeyId") == ti.KEY]
    events = [lookup_event(r) for r in [*mine, ti.stop_logging(ti.T)]]
    (root / "cloudtrail").mkdir()
    (root / "cloudtrail" / "lookup-us-east-1.json").write_text(json.dumps({"Events": events}))
    return root


def other_account(root: Path) -> Path:
    """The sample's log files as another account's (folders and recipientAccountId)."""
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("cloudtrail"))
    for f in SAMPLE.glob("cloudtrail/**/*.json.gz"):
        records = json.loads(gzip.decompress(f.read_bytes()))["Records"]
        for r in records:
            r["recipientAccountId"] = "555555555555"
        target = root / str(f.relative_to(SAMPLE)).replace("218007301253", "555555555555")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return root


def nothing_readable(root: Path) -> Path:
    """The case's cloudtrail/ holding a damaged log file only: nothing can be read."""
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("cloudtrail"))
    day = root / ti.DAY.relative_to(SAMPLE)
    day.mkdir(parents=True)
    (day / ADDED).write_bytes(b"\x1f\x8b\x08\x00 not gzip")
    return root


def session_key(root: Path) -> Path:
    """A finding on benjamin's GetSessionToken key (test_key_origin's ``tor_inv``)."""
    case = _copy(root)
    path = case / "findings" / "get-findings.json"
    data = json.loads(path.read_text())
    f = copy.deepcopy(data["Findings"][0])
    f["Arn"] = f["Arn"].replace(f["Id"], SESSION_FINDING)
    f["Id"] = SESSION_FINDING
    f["Resource"]["AccessKeyDetails"]["AccessKeyId"] = SESSION_KEY
    data["Findings"].append(f)
    path.write_text(json.dumps(data))
    return case


#: name → (builder, finding, regions)
CORPUS: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    "sample": (_copy, FINDING, ""),
    "sample-one-region-asked": (_copy, FINDING, "eu-west-1"),
    "stopped-trail-disabled-guardduty": (stopped, FINDING, ""),
    "session-of-another-accounts-role": (assume_other, FINDING, ""),
    "lookup-answers-one-region": (lookup_one_region, FINDING, ""),
    "other-account-only": (other_account, FINDING, ""),
    "nothing-readable": (nothing_readable, FINDING, ""),
    "temporary-key-minted": (session_key, SESSION_FINDING, ""),
}


# --------------------------------------------------------------------------------------------
# what each says
# --------------------------------------------------------------------------------------------
#: The investigation's issues that need the finding, which ``events`` does not have:
#: GuardDuty's sightings, IAM's last use — the one note :data:`torinvest.reading.UNJUDGED`
#: says so. (The finding's account ``events`` judges with ``--account``.)
NEEDS_THE_FINDING = (LAST_USED_SOURCE, "finding ")


def _plain(text: str) -> str:
    """``events`` reads no Tor exit list: the investigation's Tor wording taken out."""
    return text.replace("from Tor IP ", "from ").replace(" (a Tor exit then)", "")


def _needs_the_finding(source: str) -> bool:
    return source.startswith(NEEDS_THE_FINDING[1]) or source == NEEDS_THE_FINDING[0]


def _events_exit(code: int, err: str) -> str:
    if code == 3:
        return "could not look"
    assert code == 0, err
    return "partial" if "torinvest: note: partial result: " in err else "complete"


def differences(case: Path, finding: str, out: Path, regions: str = "") -> list[str]:
    """What ``events`` does not say of a reading that ``investigate`` says (empty: none)."""
    inv = investigation.investigate(
        finding, investigation.sources_from_parameters(case_dir=str(case), regions=regions or None)
    )
    data = investigation.summary(inv)
    start, end = inv.window
    narrowed = ["--regions", regions] if regions else []
    code, _, err = run(
        "events", "--case", str(case), "--access-key", inv.key.access_key_id,
        "--follow-derived", "--start", iso_utc(start), "--end", iso_utc(end), *narrowed,
        "--account", inv.key.account_id, "--out", str(out),
    )  # fmt: skip
    said = [_plain(line) for line in issues(err)]
    notes = [line.removeprefix("torinvest: note: ") for line in err.splitlines()]
    found = []
    reading = investigation.summary_reading(data)[0]
    unjudged = [n for n in notes if n.startswith(UNJUDGED)]
    gaps = 0  # the investigation's issues of the reading that events can judge
    for issue in group_issues(inv.data_issues):
        if issue.source == "impaired:guardduty":  # detection: events searches no finding
            if _plain(issue.problem) not in notes:
                found.append(f"not said (note): {issue.source}: {issue.problem}")
            continue
        if issue.source == NOTES_SOURCE and issue.problem not in inv.activity.gap_notes:
            # documented: a note of the activity that says nothing is missing (a region read
            # with those asked, the narrowing asked for) is said beside the reading by events
            if issue.problem not in notes:
                found.append(f"note not said: {issue.problem}")
            continue
        of_reading = issue in group_issues([*inv.unread_activity, *inv.activity.issues])
        gap = issue.source == NOTES_SOURCE  # events may be missing (Activity.gap_notes)
        if not (of_reading or gap) and not _needs_the_finding(issue.source):
            continue  # not of the reading of events (Tor lists, places, campaign…)
        line = _plain(f"torinvest: issue: {issue.source}: {issue.problem}")
        if issue.source == investigation.NOTHING_READ_SOURCE:  # could not look: the error
            if f"torinvest: error: {issue.problem}" not in err.splitlines():
                found.append(f"could not look not said: {issue.problem}")
            continue
        if _needs_the_finding(issue.source):
            if not unjudged:
                found.append(f"needs the finding, and events does not say so: {line}")
            continue
        gaps += 1
        if line not in said:
            found.append(f"not said: {line}")
    for note in data["reading_notes"]:
        if note in inv.tor_notes:  # the Tor status's (OR-address lists only): not of the reading
            continue
        if _plain(note) not in notes:
            found.append(f"note not said: {note}")
    origin = investigation.key_origin_phrase(data)
    if origin and _plain(origin) not in notes:
        found.append(f"origin not said: {origin}")
    expected = "partial" if gaps else "complete"
    if reading == investigation.READING_COULD_NOT_LOOK:  # nothing read, or other accounts only
        expected = "could not look"
    got = _events_exit(code, err)
    if got != expected:
        found.append(f"exit: investigate {reading}, events {got} (expected {expected})")
    return found


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_events_says_what_investigate_says_of_the_reading(tmp_path: Path, name: str) -> None:
    build, finding, regions = CORPUS[name]
    case = build(tmp_path / "case")
    assert differences(case, finding, tmp_path / "events.csv", regions) == []


# --------------------------------------------------------------------------------------------
# each class fixed
# --------------------------------------------------------------------------------------------
def _events(case: Path, key: str, *more: str) -> tuple[int, str, str]:
    return run(
        "events", "--case", str(case), "--access-key", key, "--follow-derived",
        "--start", "2023-07-01", "--end", "2023-07-20", *more,
    )  # fmt: skip


def test_events_says_the_trail_the_key_stopped_as_an_issue(tmp_path: Path) -> None:
    """A trail the key stopped is a gap in the log files read: partial, never "no events
    after T"; GuardDuty it disabled blinds detection, said beside the reading."""
    case = stopped(tmp_path / "case")
    code, _, err = _events(case, ti.KEY, "--out", str(tmp_path / "ev.csv"))
    assert code == 0, err
    [gap] = [i for i in issues(err) if "impaired:cloudtrail" in i]
    assert f"trail {ti.TRAIL} stopped logging at {ti.T} (StopLogging by {ti.KEY} from" in gap
    assert "torinvest: note: partial result: 3 data issue(s)" in err
    [blind] = [n for n in err.splitlines() if "GuardDuty detector" in n]
    assert blind.startswith("torinvest: note: ") and "disabled (UpdateDetector" in blind
    # the whole trail, no caller: another principal's StopLogging of a trail it made (the
    # sample's background) is no gap of it — the key's calls are what is judged
    code, _, err = run("events", "--case", str(case), "--out", str(tmp_path / "all.csv"))
    assert code == 0 and not [i for i in issues(err) if "impaired:" in i], err


def test_events_says_a_stop_that_blinds_nothing_read_as_a_note(tmp_path: Path) -> None:
    case = lookup_one_region(tmp_path / "case")
    code, _, err = _events(case, ti.KEY, "--out", str(tmp_path / "ev.csv"))
    assert code == 0, err
    assert not [i for i in issues(err) if "impaired:" in i]
    [note] = [n for n in err.splitlines() if "stopped logging" in n]
    assert "this reading is LookupEvents' Event history" in note


def test_events_says_who_minted_the_key(tmp_path: Path) -> None:
    code, _, err = _events(SAMPLE, SESSION_KEY, "--out", str(tmp_path / "ev.csv"))
    assert code == 0, err
    [said] = [n for n in err.splitlines() if n.startswith(f"torinvest: note: {SESSION_KEY} was")]
    assert "minted by arn:aws:iam::123837392027:user/benjamin" in said
    assert "with GetSessionToken at 2023-07-10T12:20:04Z from 109.70.100.66" in said


def test_events_says_what_it_cannot_judge_without_the_finding(tmp_path: Path) -> None:
    """Log files of another account only: ``investigate`` says "could not look in account …"
    (exit 3); ``events`` has no finding, so no account to judge — it names the accounts read
    and what it does not judge, never silence."""
    case = other_account(tmp_path / "case")
    code, _, err = _events(case, ti.KEY, "--out", str(tmp_path / "ev.csv"))
    assert code == 0, err
    [note] = [n for n in err.splitlines() if UNJUDGED in n]
    assert "the events read were recorded in account(s) 555555555555" in note
    assert "whether they hold the calls GuardDuty saw the key make" in note
    code, _, err = run("events", "--case", str(case), "--out", str(tmp_path / "all.csv"))
    assert code == 0 and UNJUDGED not in err  # no key: nothing a finding would judge


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_the_file_written_does_not_look_complete_when_the_reading_was_partial(
    tmp_path: Path, suffix: str
) -> None:
    """The export holds the rows read and nothing else: the reading file beside it says the
    reading's state and its data issues; a later run writes it again (never a stale one)."""
    out = tmp_path / f"events{suffix}"
    beside = reading_path(out)
    code, _, err = _events(stopped(tmp_path / "case"), ti.KEY, "--out", str(out))
    assert code == 0, err
    said = json.loads(beside.read_text())
    assert said["state"] == "incomplete" and said["export"] == out.name
    assert said["events"] == len(_rows(out))
    assert [i["source"] for i in said["data_issues"]].count("impaired:cloudtrail") == 1
    assert f"are not in {out}, as {out}{READING_SUFFIX} says" in err
    assert any(UNJUDGED in n for n in said["notes"])
    code, _, err = run(  # the sample trail, its regions named: no issue, no event of that key
        "events",
        "--case",
        str(SAMPLE),
        "--access-key",
        "AKIANOBODY0000000000",
        "--regions",
        ",".join(SAMPLE_REGIONS),
        "--out",
        str(out),
    )
    assert code == 0, err
    said = json.loads(beside.read_text())
    assert said["state"] == "no events" and said["data_issues"] == [] and said["events"] == 0


def _rows(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True) if path.stat().st_size else pd.DataFrame()
    return pd.read_csv(path)


def test_events_says_the_last_minutes_not_delivered_as_an_issue(tmp_path: Path) -> None:
    """A window reaching the last 15 minutes: CloudTrail has not delivered their calls yet —
    an issue of the reading in investigate, and now in events (was a note: complete)."""
    now = pd.Timestamp.now(tz="UTC").floor("s")
    code, _, err = run(
        "events", "--case", str(SAMPLE), "--access-key", ti.KEY, "--start", "2023-07-10",
        "--end", iso_utc(now), "--out", str(tmp_path / "ev.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert f"torinvest: issue: {NOTES_SOURCE}: {RECENT_LOGS_NOTE}" in issues(err)
    assert f"torinvest: note: {RECENT_LOGS_NOTE}" not in err.splitlines()
    said = json.loads(reading_path(tmp_path / "ev.csv").read_text())
    assert said["state"] == "incomplete"
    assert {"source": NOTES_SOURCE, "problem": RECENT_LOGS_NOTE} in said["data_issues"]


def test_events_with_the_account_sought_could_not_look_in_it(tmp_path: Path) -> None:
    """``--account``: log files of other accounts only are "could not look in account …" (exit
    3), as investigate says; the events read there are written, and said to be this run's."""
    case = other_account(tmp_path / "case")
    out = tmp_path / "ev.csv"
    code, stdout, err = _events(case, ti.KEY, "--account", "123837392027", "--out", str(out))
    assert code == 3, err
    assert "torinvest: error: could not look in account 123837392027 (the finding's)" in err
    assert "555555555555" in err and "was not written" not in err
    assert stdout.startswith("71 events") and len(_rows(out)) == 71  # --follow-derived
    assert json.loads(reading_path(out).read_text())["state"] == "could not look"
    assert "whether the sources read hold the finding's account" not in err  # judged
    code, _, err = _events(SAMPLE, ti.KEY, "--account", "123837392027", "--out", str(out))
    assert code == 0 and "could not look" not in err.replace("'could not look' there", "")
