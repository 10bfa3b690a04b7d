"""A console password the key (or a derived key) set is a credential it minted: listed beside the
derived keys, and its use — the user's console sign-ins (ConsoleLogin) after it was set — read,
or said not read (never "derived keys followed" while it is not).

Record shapes: the sample case's real CreateLoginProfile (synthetic actor, STORY.md), the real
Invictus (Stratus Red Team) CreateLoginProfile and ConsoleLogin of
``stratus-red-team-nmfalu-gfjyeaypjt``, ConsoleLogin records after the CloudTrail documentation's
examples (tests/fixtures/cloudtrail/awsdocs: "AWS console sign-in events"), and a console
session's call copied from benjamin's real ones in the sample (an ASIA key,
``sessionContext.attributes``; ``sessionCredentialFromConsole``).
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import json
import re
import shutil
from html import escape, unescape
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.campaign_case import ACCOUNT, FINDING, KEY, TRAIL_DAY, sample_records
from tests.cli_run import run
from tests.offline_regions import SAMPLE_REGIONS
from tests.sample_window import COVERED, COVERED_FLAGS
from torinvest import investigation, report
from torinvest.case import sample_case
from torinvest.display import answer, assessment
from torinvest.events import Activity
from torinvest.passwords import password_issues, password_uses, passwords_gap, passwords_phrase
from torinvest.post import answer as post_answer
from torinvest.sources.logs import load, load_logs
from torinvest.tor import ExitLists

USER = "svc-backup-sync"  # the sample's backdoor user: CreateLoginProfile by KEY at 12:17:19
SET_AT = "2023-07-10T12:17:19Z"
WINDOW_END = "2023-07-10T21:56:04Z"  # the end of the sample finding's window (COVERED)
TOR_EXIT = "199.249.230.87"  # listed on 2023-07-10 (the sample's exit lists)
COMMAND = f"torinvest events --username={USER} --start={SET_AT} …"
#: The Invictus run's key that gave a user a console password (CreateLoginProfile), and the user
#: who then signed in (a real ConsoleLogin, Success, MFAUsed No).
STRATUS_KEY = "AKIATFQR7NSC8Q4X20BJ"
STRATUS_USER = "stratus-red-team-nmfalu-gfjyeaypjt"
SESSION = "ASIATFQR7NSCCONSOLE1"  # the console session after the Tor sign-in
EARLY_SESSION = "ASIATFQR7NSCCONSOLE0"  # a console session of the user before the password


def _sign_in(
    user: str, when: str, ip: str, *, result: str = "Success", n: int = 0
) -> dict[str, Any]:
    """A ConsoleLogin record as the CloudTrail documentation's example writes it (an IAM user,
    no access key), in the sample's account."""
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDATFQR7NSCTQWQB8VOS",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
            "accountId": ACCOUNT,
            "userName": user,
        },
        "eventTime": when,
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; rv:102.0) Gecko/20100101 Firefox/102.0",
        "requestParameters": None,
        "responseElements": {"ConsoleLogin": result},
        "additionalEventData": {
            "LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No",
            "MFAUsed": "No",
        },
        "eventID": f"5c1e0f4a-0000-4000-8000-{n:012d}",
        "readOnly": False,
        "eventType": "AwsConsoleSignIn",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    if result != "Success":
        record["errorMessage"] = "Failed authentication"
    return record


def _console_call(
    user: str, when: str, ip: str, key: str = "ASIATFQR7NSCCONSOLE1", n: int = 0
) -> dict[str, Any]:
    """A call of a console session of ``user``: benjamin's real console-session record of the
    sample (an ASIA key, sessionContext) re-attributed."""
    base = next(
        r
        for r in sample_records()
        if r["userIdentity"].get("accessKeyId", "").startswith("ASIA")
        and r["userIdentity"].get("type") == "IAMUser"
    )
    r = copy.deepcopy(base)
    r["userIdentity"].update(
        arn=f"arn:aws:iam::{ACCOUNT}:user/{user}",
        userName=user,
        accessKeyId=key,
        principalId="AIDATFQR7NSCTQWQB8VOS",
    )
    r["userIdentity"].pop("invokedBy", None)
    r["sessionCredentialFromConsole"] = "true"
    r.update(eventTime=when, sourceIPAddress=ip, eventID=f"5c1e0f4a-0000-4000-8000-0000c0de{n:04d}")
    return r


def case_with(root: Path, records: list[dict[str, Any]]) -> Path:
    """A copy of the sample case with ``records`` in one more log file of its trail (compact
    JSON, as CloudTrail writes it: the key prefilter's byte path)."""
    case = root / "case"
    shutil.copytree(sample_case().root, case)
    name = "218007301253_CloudTrail_us-east-1_20230710T1235Z_consoleSignIns01.json.gz"
    body = json.dumps({"Records": records}, separators=(",", ":"))
    (case / "cloudtrail" / TRAIL_DAY / name).write_bytes(gzip.compress(body.encode()))
    return case


def _investigate(case: Path, **params: Any) -> investigation.Investigation:
    src = investigation.sources_from_parameters(case_dir=str(case), **params)
    src = dataclasses.replace(src, regions=list(SAMPLE_REGIONS))
    return investigation.investigate(FINDING, src, **COVERED)


def signed_in_records() -> list[dict[str, Any]]:
    """The backdoor user signs in from Tor after its password was set: a failed then a
    successful sign-in, one before the password (not its use), another user's, and a call of
    the console session; a console session begun before the password beside."""
    return [
        _sign_in(USER, "2023-07-10T12:05:00Z", "167.99.201.43", n=1),  # before SET_AT
        _sign_in(USER, "2023-07-10T12:29:50Z", TOR_EXIT, result="Failure", n=2),
        _sign_in(USER, "2023-07-10T12:30:10Z", TOR_EXIT, n=3),
        _sign_in("benjamin", "2023-07-10T12:31:00Z", "10.248.16.43", n=4),  # not set
        _console_call(USER, "2023-07-10T12:31:30Z", TOR_EXIT, n=1),
        # a session begun before the password was set: not its use
        _console_call(USER, "2023-07-10T12:06:00Z", "167.99.201.43", EARLY_SESSION, n=2),
    ]


@pytest.fixture(scope="module")
def signed_in_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample case with :func:`signed_in_records` in one more log file."""
    return case_with(tmp_path_factory.mktemp("console"), signed_in_records())


@pytest.fixture(scope="module")
def signed_in(signed_in_case: Path) -> investigation.Investigation:
    return _investigate(signed_in_case)


# --------------------------------------------------------------------------------------------
# the sample case: the password is listed, its sign-ins read (none)
# --------------------------------------------------------------------------------------------
def test_the_sample_case_lists_the_password_the_tor_key_set_and_reads_its_sign_ins() -> None:
    inv = _investigate(sample_case().root)
    data = investigation.summary(inv)
    [said] = data["console_passwords"]
    assert said == {
        "user_name": USER,
        "event_name": "CreateLoginProfile",
        "event_time": SET_AT,
        "event_id": said["event_id"],
        "set_by": KEY,
        "source_ip": "185.220.101.34",
        "outcome": "succeeded",
        "sign_ins_search": {"status": "read", "why": None, "until": WINDOW_END},
        "sign_ins": [],
        "signed_in": 0,
        "sessions_read": True,
        "sessions": [],
    }
    assert said["event_id"]
    assert report.summary_problems(data) == []  # the contract holds it
    # read, and none: the search of credentials it minted is whole
    assert data["derived_keys_search"] == {"status": "followed", "why": None}
    assert not [i for i in inv.data_issues if i.source.startswith("console password")]
    html = assessment.derived_keys(inv).data
    assert "Console passwords set (1)" in html
    assert f"<code>{USER}</code>" in html
    # read over the finding's window, which ended: a sign-in after its end was not read, and
    # every surface says so as the card does (was: "(no sign-in in what was read)" on the
    # terminal's line and in the tickets' answers, read as "unused")
    after = (
        f" up to the window's end ({WINDOW_END}): a sign-in after that was not read — run "
        f"`torinvest events --username={USER} --start={SET_AT} …` to read on"
    )
    assert escape(f"no console sign-in of that user after it in the sources read{after}") in html
    assert investigation.derived_keys_phrase(data).endswith(
        f", 1 console password(s) set (no sign-in in what was read{after})"
    )
    text = post_answer.build_answer(data).text
    assert f"console password(s) set (no sign-in in what was read{after})" in text


# --------------------------------------------------------------------------------------------
# sign-ins after the password: read, with Tor and MFA; the sessions' calls said not read
# --------------------------------------------------------------------------------------------
def test_sign_ins_after_the_password_are_its_use_with_tor_and_mfa(
    signed_in: investigation.Investigation,
) -> None:
    data = investigation.summary(signed_in)
    [said] = data["console_passwords"]
    assert said["sign_ins_search"] == {"status": "read", "why": None, "until": WINDOW_END}
    assert [
        (s["event_time"], s["source_ip"], s["tor"], s["result"], s["mfa_used"])
        for s in said["sign_ins"]
    ] == [
        ("2023-07-10T12:29:50Z", TOR_EXIT, True, "Failure", "No"),
        ("2023-07-10T12:30:10Z", TOR_EXIT, True, "Success", "No"),
    ]
    assert said["signed_in"] == 1
    assert report.summary_problems(data) == []
    # the console session after the sign-in: followed as a derived key, minted by ConsoleLogin
    assert (said["sessions_read"], said["sessions"]) == (True, [SESSION])
    [session] = [d for d in signed_in.activity.derived if d.access_key_id == SESSION]
    assert (session.minted_by, session.event_name, session.source_ip) == (
        KEY,
        "ConsoleLogin",
        TOR_EXIT,
    )
    assert session.event_time == pd.Timestamp("2023-07-10T12:30:10Z")
    frame = signed_in.events
    calls = frame[frame["access_key_id"] == SESSION]
    assert len(calls) == 1 and bool(calls["derived"].all()) and bool(calls["tor"].all())
    assert SESSION in data["derived_keys"]
    # the session begun before the password is not its use; sign-ins are not rows
    assert EARLY_SESSION not in set(frame["access_key_id"].dropna())
    assert "ConsoleLogin" not in set(frame["event_name"].dropna())
    # everything it minted was read: the search is whole, nothing said
    assert data["derived_keys_search"] == {"status": "followed", "why": None}
    assert not [i for i in signed_in.data_issues if i.source.startswith("console password")]


def test_the_report_card_and_the_answer_say_the_sign_ins(
    signed_in: investigation.Investigation,
) -> None:
    html = assessment.derived_keys(signed_in).data
    assert "Console passwords set (1)" in html and "ti-danger" in html
    assert "<b>2 console sign-in(s)</b> of that user after it" in html
    assert f"Success at 2023-07-10 12:30:10 UTC from <code>{TOR_EXIT}</code> (Tor, MFA No)" in html
    assert "the calls of its console sessions are in the activity, followed as derived" in html
    assert f"<code>{SESSION}</code>" in html
    said = answer.answer_html(signed_in, {})
    assert "Console passwords the key set (1)" in said and "2 console sign-in(s)" in said
    phrase = investigation.derived_keys_phrase(investigation.summary(signed_in))
    assert phrase.endswith(", 1 console password(s) set (SIGNED IN 1 time(s))")


# --------------------------------------------------------------------------------------------
# the DuckDB engine: one query by user name (sign-ins, sessionCredentialFromConsole calls);
# "not read" where no source read them, never "none"
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def signed_in_duckdb(signed_in_case: Path) -> investigation.Investigation:
    return _investigate(signed_in_case, engine="duckdb")


def test_the_duckdb_engine_reads_the_sign_ins_and_sessions_as_the_file_loader(
    signed_in_duckdb: investigation.Investigation, signed_in: investigation.Investigation
) -> None:
    inv = signed_in_duckdb
    data = investigation.summary(inv)
    [said] = data["console_passwords"]
    assert said["sign_ins_search"] == {"status": "read", "why": None, "until": WINDOW_END}
    # the same sign-ins as the file loader's, their MFA too (additionalEventData.MFAUsed)
    assert [(s["event_time"], s["tor"], s["result"], s["mfa_used"]) for s in said["sign_ins"]] == [
        ("2023-07-10T12:29:50Z", True, "Failure", "No"),
        ("2023-07-10T12:30:10Z", True, "Success", "No"),
    ]
    assert said["sign_ins"] == investigation.summary(signed_in)["console_passwords"][0]["sign_ins"]
    assert "(Tor, MFA No)" in assessment.derived_keys(inv).data
    # the console session after the sign-in: followed as the file loader follows it (a derived
    # key minted by ConsoleLogin, its call a derived row); the one begun before the password not
    assert (said["sessions_read"], said["sessions"]) == (True, [SESSION])
    files = investigation.summary(signed_in)
    assert (
        data["derived_keys_search"]
        == files["derived_keys_search"]
        == {
            "status": "followed",
            "why": None,
        }
    )
    assert data["derived_keys"] == files["derived_keys"]
    [session] = [d for d in inv.activity.derived if d.access_key_id == SESSION]
    assert session == next(d for d in signed_in.activity.derived if d.access_key_id == SESSION)
    calls = inv.events[inv.events["access_key_id"] == SESSION]
    assert len(calls) == 1 and bool(calls["derived"].all()) and bool(calls["tor"].all())
    assert EARLY_SESSION not in set(inv.events["access_key_id"].dropna())
    assert "ConsoleLogin" not in set(inv.events["event_name"].dropna())
    assert sorted(inv.events["event_id"]) == sorted(signed_in.events["event_id"])
    assert not [i for i in inv.data_issues if i.source.startswith("console password")]


def test_sign_ins_past_the_row_limit_are_not_read_and_said(signed_in_case: Path) -> None:
    """The engine counts a read past --max-rows instead of loading it: the user's sign-ins are
    then not rows, and "no sign-in" would be wrong."""
    inv = _investigate(signed_in_case, engine="duckdb", max_rows=3)
    data = investigation.summary(inv)
    [said] = data["console_passwords"]
    assert said["sign_ins_search"]["status"] == "not read"
    assert "more than the row limit" in said["sign_ins_search"]["why"]
    assert said["sign_ins"] == [] and said["signed_in"] == 0
    assert data["derived_keys_search"]["status"] == "partial"
    assert "its sign-ins were not read" in data["derived_keys_search"]["why"]
    [issue] = [i for i in inv.data_issues if i.source == f"console password of {USER}"]
    assert "whether it was used is not known" in issue.problem
    assert f"run `{COMMAND}`" in issue.problem
    html = assessment.derived_keys(inv).data
    assert "Console passwords set: use not read (1)" in html
    assert "no console sign-in" not in html


def test_sessions_beside_an_activity_counted_past_the_row_limit_are_said_not_read(
    signed_in_case: Path,
) -> None:
    """The key's activity is counted in the engine (its rows: the sensitive calls only) but the
    sign-ins and sessions' calls are within the limit: the sign-ins are read, the sessions'
    calls are not rows beside counts — said, with the command that shows them."""
    inv = _investigate(signed_in_case, engine="duckdb", max_rows=5)
    assert inv.activity.aggregates is not None
    [said] = investigation.summary(inv)["console_passwords"]
    assert said["sign_ins_search"]["status"] == "read" and said["signed_in"] == 1
    assert (said["sessions_read"], said["sessions"]) == (False, [])
    assert SESSION not in {d.access_key_id for d in inv.activity.derived}
    [issue] = [i for i in inv.data_issues if i.source == f"console password of {USER}"]
    assert "the calls of those console sessions" in issue.problem
    assert f"run `{COMMAND}`" in issue.problem


def test_a_source_that_reads_by_key_only_says_not_read() -> None:
    """LookupEvents by AccessKeyId (no log files, no engine): a sign-in holds no key."""
    frame = load_logs(
        str(sample_case().cloudtrail), access_keys=KEY, start="2023-07-10", end="2023-07-10"
    ).frame
    activity = Activity(frame=frame)  # nothing searched the sign-ins
    [use] = password_uses(
        activity, frame, [KEY], ExitLists(), tolerance_hours=1.0, follow_derived=True
    )
    assert (use.status, use.sign_ins) == ("not read", [])
    assert "LookupEvents by AccessKeyId never returns them" in (use.why or "")
    [issue] = password_issues([use])
    assert issue.problem.startswith(
        f"CreateLoginProfile at {SET_AT} (event {use.password.event_id}) with key {KEY} set a "
        f"console password for user {USER}: whether it was used is not known"
    )


def test_not_followed_says_so_and_reads_nothing(signed_in_case: Path) -> None:
    src = investigation.sources_from_parameters(case_dir=str(signed_in_case))
    src = dataclasses.replace(src, regions=list(SAMPLE_REGIONS))
    inv = investigation.investigate(FINDING, src, follow_derived=False, **COVERED)
    data = investigation.summary(inv)
    [said] = data["console_passwords"]
    assert said["sign_ins_search"]["status"] == "not followed"
    assert said["sign_ins"] == []
    # not followed is said so, never "not read"
    assert investigation.derived_keys_phrase(data) == (
        "derived keys not followed, 1 console password(s) set (sign-ins of 1 not followed)"
    )


# --------------------------------------------------------------------------------------------
# the log files' pass: real records; none when no password was set
# --------------------------------------------------------------------------------------------
def test_the_real_stratus_sign_in_after_its_login_profile_is_read() -> None:
    res = load_logs(
        str(sample_case().cloudtrail),
        access_keys=STRATUS_KEY,
        start="2023-07-10",
        end="2023-07-10",
        follow_derived=True,
        workers=1,
    )
    assert STRATUS_USER in res.sign_ins_searched
    [s] = [s for s in res.sign_ins if s.user_name == STRATUS_USER]
    assert (s.event_time, s.result, s.mfa_used, s.source_ip) == (
        pd.Timestamp("2023-07-10T12:23:15Z"),
        "Success",
        "No",
        "192.168.10.20",
    )
    assert "ConsoleLogin" not in set(res.frame["event_name"].dropna())  # not the key's calls


def test_no_password_set_no_extra_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a sign-in pass without a password set")

    monkeypatch.setattr(load, "_read_sign_ins", refuse)
    res = load_logs(
        str(sample_case().cloudtrail),
        access_keys="AKIATFQR7NSCXLGMGTIH",  # the backdoor user's key: set no password
        start="2023-07-10",
        end="2023-07-10",
        follow_derived=True,
        workers=1,
    )
    assert len(res.frame) and res.sign_ins == [] and res.sign_ins_searched == frozenset()


# --------------------------------------------------------------------------------------------
# hostile: a user name written by whoever forged the record
# --------------------------------------------------------------------------------------------
def test_a_forged_user_name_is_text_in_the_report_and_one_argument_in_the_command(
    tmp_path: Path,
) -> None:
    name = "--out=<img src=x onerror=alert(1)>"
    forged = next(r for r in sample_records() if r["eventName"] == "CreateLoginProfile")
    forged = copy.deepcopy(forged)
    forged["requestParameters"]["userName"] = name
    forged["eventID"] = "5c1e0f4a-0000-4000-8000-00000000bad1"
    forged["eventTime"] = "2023-07-10T12:18:00Z"
    case = case_with(tmp_path, [forged, _sign_in(name, "2023-07-10T12:19:00Z", TOR_EXIT, n=9)])
    inv = _investigate(case)
    [use] = [u for u in inv.console_passwords if u.password.user_name == name]
    assert [s.event_time for s in use.sign_ins] == [pd.Timestamp("2023-07-10T12:19:00Z")]
    html = assessment.derived_keys(inv).data
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert use.command().startswith("torinvest events '--username=--out=<img src=x")


# --------------------------------------------------------------------------------------------
# the command (the one notebook run): report, summary.json and the terminal say it
# --------------------------------------------------------------------------------------------
def test_investigate_says_the_password_and_its_sign_in_everywhere(
    signed_in_case: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    code, stdout, stderr = run(
        "investigate", FINDING, "--case", str(signed_in_case), *COVERED_FLAGS, "--out", str(out)
    )
    assert code == 0, stderr
    assert "3 derived key(s), 1 console password(s) set (SIGNED IN 1 time(s))" in stdout
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Console passwords set (1)" in html and "2 console sign-in(s)" in html
    assert SESSION in html  # the console session, a derived key
    data = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [(u["signed_in"], u["sessions"]) for u in data["console_passwords"]] == [(1, [SESSION])]
    assert data["derived_keys_search"]["status"] == "followed"


def test_the_sample_report_says_the_window_end_on_every_surface(sample_report: Path) -> None:
    """The report ``investigate`` writes (the session's sample run, default window): the
    window's end in ``summary.json``, and the same words in the line ``investigate`` prints,
    the report's card and the answer a post carries."""
    data = json.loads((sample_report / "summary.json").read_text(encoding="utf-8"))
    [said] = data["console_passwords"]
    until = data["window"]["end"]
    assert said["sign_ins_search"] == {"status": "read", "why": None, "until": until}
    words = (
        f"no sign-in in what was read up to the window's end ({until}): a sign-in after that "
        f"was not read — run `torinvest events --username={USER} --start={SET_AT} …` to read on"
    )
    assert f"1 console password(s) set ({words})" in report.one_line_summary(data)
    assert f"1 console password(s) set ({words})" in post_answer.build_answer(data).text
    html = (sample_report / "report.html").read_text(encoding="utf-8")
    assert f"after it in the sources read up to the window's end ({until})" in unescape(html)


# --------------------------------------------------------------------------------------------
# what a console session did: the keys and passwords it minted are followed in turn
# --------------------------------------------------------------------------------------------
SECOND = "svc-report-view"  # the user a password is set for from the console session
SECOND_SESSION = "ASIATFQR7NSCCONSOLE2"  # that user's console session
CONSOLE_KEY = "AKIATFQR7NSCCONSOLEK"  # the key the console session created


def _as_call(
    name: str, user: str, when: str, ip: str, key: str = SESSION, n: int = 0
) -> dict[str, Any]:
    """A console-session call of ``user`` made as the sample's real ``name`` record (its
    eventSource, request and response)."""
    real = next(r for r in sample_records() if r["eventName"] == name)
    r = _console_call(user, when, ip, key, n=n)
    for field in ("eventSource", "eventName", "requestParameters", "responseElements"):
        r[field] = copy.deepcopy(real[field])
    return r


def _key_call(key: str, user: str, when: str, ip: str, n: int = 0) -> dict[str, Any]:
    """A call of a long-term key: the sample's real GetCallerIdentity of the Tor key,
    re-attributed."""
    real = next(
        r
        for r in sample_records()
        if r["eventName"] == "GetCallerIdentity" and r["userIdentity"].get("accessKeyId") == KEY
    )
    r = copy.deepcopy(real)
    r["userIdentity"].update(
        accessKeyId=key, userName=user, arn=f"arn:aws:iam::{ACCOUNT}:user/{user}"
    )
    r.update(eventTime=when, sourceIPAddress=ip, eventID=f"5c1e0f4a-0000-4000-8000-0000ca11{n:04d}")
    return r


def _chain_records() -> list[dict[str, Any]]:
    """USER (the Tor key set its password) signs in from Tor; in that console session it
    creates an access key (used at 12:40) and sets a console password for SECOND, who signs in
    at 12:35 and calls through its own console session."""
    minting = _as_call("CreateAccessKey", USER, "2023-07-10T12:32:00Z", TOR_EXIT, n=3)
    minting["responseElements"]["accessKey"]["accessKeyId"] = CONSOLE_KEY
    password = _as_call("CreateLoginProfile", USER, "2023-07-10T12:33:00Z", TOR_EXIT, n=4)
    password["requestParameters"]["userName"] = SECOND
    return [
        _sign_in(USER, "2023-07-10T12:30:10Z", TOR_EXIT, n=3),
        minting,
        password,
        _sign_in(SECOND, "2023-07-10T12:34:50Z", TOR_EXIT, n=5),
        _console_call(SECOND, "2023-07-10T12:35:30Z", TOR_EXIT, SECOND_SESSION, n=5),
        _key_call(CONSOLE_KEY, USER, "2023-07-10T12:40:00Z", TOR_EXIT, n=6),
    ]


@pytest.fixture(scope="module")
def chain_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return case_with(tmp_path_factory.mktemp("chain"), _chain_records())


@pytest.fixture(scope="module")
def chain(chain_case: Path) -> investigation.Investigation:
    return _investigate(chain_case)


def test_a_key_a_console_session_minted_is_followed_as_a_derived_key(
    chain: investigation.Investigation,
) -> None:
    """A console session that calls CreateAccessKey: the key it minted is followed as the
    Tor key's derived keys are — its calls read, flagged derived (was: named, not followed)."""
    derived = {d.access_key_id: d for d in chain.activity.derived}
    made = derived[CONSOLE_KEY]
    assert (made.minted_by, made.event_name) == (SESSION, "CreateAccessKey")
    assert derived[SESSION].minted_by == KEY
    frame = chain.events
    calls = frame[frame["access_key_id"] == CONSOLE_KEY]
    assert list(calls["event_name"]) == ["GetCallerIdentity"]
    assert bool(calls["derived"].all())
    assert not [i for i in chain.data_issues if "minted by a console session" in i.problem]
    data = investigation.summary(chain)
    assert CONSOLE_KEY in data["derived_keys"]
    assert data["derived_keys_search"] == {"status": "followed", "why": None}


def test_a_password_set_from_a_console_session_is_followed(
    chain: investigation.Investigation,
) -> None:
    """The console session sets another user's password: that user's sign-ins and console
    session are read too (was: never looked for, and nothing said)."""
    data = investigation.summary(chain)
    by_user = {u["user_name"]: u for u in data["console_passwords"]}
    assert set(by_user) == {USER, SECOND}
    second = by_user[SECOND]
    assert (second["set_by"], second["event_time"]) == (SESSION, "2023-07-10T12:33:00Z")
    assert second["sign_ins_search"] == {"status": "read", "why": None, "until": WINDOW_END}
    assert [(s["event_time"], s["result"], s["tor"]) for s in second["sign_ins"]] == [
        ("2023-07-10T12:34:50Z", "Success", True)
    ]
    assert (second["sessions_read"], second["sessions"]) == (True, [SECOND_SESSION])
    [session] = [d for d in chain.activity.derived if d.access_key_id == SECOND_SESSION]
    assert (session.minted_by, session.event_name) == (SESSION, "ConsoleLogin")
    frame = chain.events
    assert bool(frame[frame["access_key_id"] == SECOND_SESSION]["derived"].all())
    assert SECOND_SESSION in data["derived_keys"]
    assert report.summary_problems(data) == []
    assert not [i for i in chain.data_issues if i.source.startswith("console password")]
    html = assessment.derived_keys(chain).data
    assert "Console passwords set (2)" in html and f"<code>{SECOND}</code>" in html
    assert investigation.derived_keys_phrase(data).endswith(
        ", 2 console password(s) set (SIGNED IN 2 time(s))"
    )


def test_the_sign_in_passes_stop_at_their_limit_and_say_so(
    chain_case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the limit of sign-in passes the password set from a console session is "not
    read", with why and the command that reads it — never "no sign-in"."""
    monkeypatch.setattr(load, "MAX_PASSWORD_ROUNDS", 1)
    res = load_logs(
        str(chain_case / "cloudtrail"),
        access_keys=KEY,
        start="2023-07-10",
        end="2023-07-10",
        follow_derived=True,
        workers=1,
    )
    assert res.sign_ins_searched == frozenset({USER})
    assert set(res.sign_ins_unread) == {SECOND}
    assert f"set with {SESSION}" in res.sign_ins_unread[SECOND]
    assert (
        "found after the 1 pass(es) over the log files for console sign-ins that following "
        "allows (the limit" in res.sign_ins_unread[SECOND]
    )
    assert SECOND_SESSION not in {d.access_key_id for d in res.derived}
    activity = Activity(
        frame=res.frame,
        derived=res.derived,
        sign_ins=res.sign_ins,
        sign_ins_searched=res.sign_ins_searched,
        sign_ins_unread=res.sign_ins_unread,
        sessions_read=res.sign_ins_searched,
    )
    uses = password_uses(
        activity,
        res.frame,
        [KEY, *(d.access_key_id for d in res.derived)],
        ExitLists(),
        tolerance_hours=1.0,
        follow_derived=True,
    )
    [cut] = [u for u in uses if u.password.user_name == SECOND]
    assert (cut.status, cut.sign_ins) == ("not read", [])
    [issue] = [i for i in password_issues(uses) if i.source == f"console password of {SECOND}"]
    assert "whether it was used is not known" in issue.problem
    assert "(the limit: each pass reads the users of the passwords set" in issue.problem
    assert f"run `torinvest events --username={SECOND} --start=2023-07-10T12:33:00Z …`" in (
        issue.problem
    )
    gap = passwords_gap(uses) or ""
    assert f"the console password set for user {SECOND}: its sign-ins were not read" in gap


def test_events_says_the_sign_ins_as_investigate_does(
    chain_case: Path,
    signed_in_case: Path,
    signed_in_duckdb: investigation.Investigation,
    tmp_path: Path,
) -> None:
    """``torinvest events --follow-derived`` says the passwords and their sign-ins (was:
    nothing), and, over a source that cannot tell the console sessions' calls, the same issue
    as investigate (no exit list: no Tor)."""
    code, _, err = run(
        "events", "--case", str(chain_case), "--access-key", KEY, "--follow-derived",
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", str(tmp_path / "a.csv"),
    )  # fmt: skip
    assert code == 0, err
    notes = [line.removeprefix("torinvest: note: ") for line in err.splitlines()]
    assert "2 console password(s) set (SIGNED IN 2 time(s)) (credentials the key minted" in err
    [second] = [n for n in notes if n.startswith(f"console password for user {SECOND},")]
    assert f"set with CreateLoginProfile at 2023-07-10T12:33:00Z by {SESSION}" in second
    assert f"Success at 2023-07-10T12:34:50Z from {TOR_EXIT} (MFA No)" in second
    assert f"followed as derived keys (minted by ConsoleLogin): {SECOND_SESSION}" in second
    assert not [line for line in err.splitlines() if "console password of" in line]
    # the DuckDB engine reads the sign-ins and the sessions' calls too: said alike, no issue
    code, _, err = run(
        "events", "--case", str(signed_in_case), "--access-key", KEY, "--follow-derived",
        "--engine", "duckdb", "--start", "2023-07-10", "--end", "2023-07-10",
        "--out", str(tmp_path / "b.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert not [i for i in signed_in_duckdb.data_issues if i.source.startswith("console password")]
    assert not [line for line in err.splitlines() if "console password of" in line]
    assert f"followed as derived keys (minted by ConsoleLogin): {SESSION}" in err


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_no_sign_in_up_to_a_window_end_says_the_window_ended(
    signed_in_case: Path, tmp_path: Path, engine: str
) -> None:
    """The reproduction: the window ends at 12:25, eight minutes after the password was set;
    the user signs in from Tor at 12:30. ``events --follow-derived --end 2023-07-10T12:25:00Z``
    said "no console sign-in of that user after it in the sources read" — read as "unused",
    though nothing after 12:25 was read. The window's end is said, and the command that
    reads on."""
    code, _, err = run(
        "events", "--case", str(signed_in_case), "--access-key", KEY, "--follow-derived",
        "--engine", engine, "--start", "2023-07-10", "--end", "2023-07-10T12:25:00Z",
        "--out", str(tmp_path / "a.csv"),
    )  # fmt: skip
    assert code == 0, err
    [note] = [n for n in err.splitlines() if f"console password for user {USER}," in n]
    assert note.endswith(
        "no console sign-in of that user after it in the sources read up to the window's end "
        "(2023-07-10T12:25:00Z): a sign-in after that was not read — run `torinvest events "
        f"--username={USER} --start={SET_AT} …` to read on"
    )


def test_no_sign_in_without_a_window_end_or_one_to_come_says_no_window(
    signed_in: investigation.Investigation,
) -> None:
    """Read to no end (the sources' last file), or to an end still to come: nothing to add."""
    [use] = signed_in.console_passwords
    bare = "no console sign-in of that user after it in the sources read"
    assert dataclasses.replace(use, until=None).none_read() == bare
    later = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    assert dataclasses.replace(use, until=later).none_read() == bare


def test_over_an_engine_a_key_a_console_session_minted_is_named_not_followed(
    tmp_path: Path,
) -> None:
    """DuckDB: a console session that calls CreateAccessKey: the session is followed (one
    round), the key it minted is not read — an issue names it and the command (never
    "followed"; the log files follow it: above)."""
    create = next(r for r in sample_records() if r["eventName"] == "CreateAccessKey")
    minting = _console_call(USER, "2023-07-10T12:32:00Z", TOR_EXIT, n=3)
    for field in ("eventSource", "eventName", "requestParameters", "responseElements"):
        minting[field] = copy.deepcopy(create[field])
    minting["responseElements"]["accessKey"]["accessKeyId"] = "AKIATFQR7NSCCONSOLEK"
    case = case_with(tmp_path, [_sign_in(USER, "2023-07-10T12:30:10Z", TOR_EXIT, n=3), minting])
    inv = _investigate(case, engine="duckdb")
    assert SESSION in {d.access_key_id for d in inv.activity.derived}
    [issue] = [i for i in inv.data_issues if "minted by a console session" in i.problem]
    assert issue.problem.startswith("AKIATFQR7NSCCONSOLEK minted by a console session")
    assert "torinvest events --access-key=AKIATFQR7NSCCONSOLEK --follow-derived" in issue.problem
    assert investigation.summary(inv)["derived_keys_search"]["status"] == "partial"


def test_the_posted_answer_names_the_password_beside_the_derived_keys(
    signed_in: investigation.Investigation,
) -> None:
    data = investigation.summary(signed_in)
    line = post_answer._derived_line(data, data["reading"]["state"])
    assert line.startswith("Derived keys: ")
    assert line.endswith(", 1 console password(s) set (SIGNED IN 1 time(s))")


def test_over_an_engine_a_password_a_console_session_set_is_named_not_followed(
    chain_case: Path,
) -> None:
    """DuckDB: the console session sets a password for another user: its sign-ins are not read
    (the engine reads one round of sessions) — an issue names the user, the session and the
    command that reads them (never "followed"; the log files follow it: above)."""
    inv = _investigate(chain_case, engine="duckdb")
    problems = [i.problem for i in inv.data_issues]
    start = f"a console password for user {SECOND} set by console session {SESSION} "
    [said] = [p for p in problems if p.startswith(start)]
    assert "(CreateLoginProfile at 2023-07-10T12:33:00Z)" in said
    assert f"run `torinvest events --username={SECOND} --start=2023-07-10T12:33:00Z …`" in said
    assert [p for p in problems if p.startswith(f"{CONSOLE_KEY} minted by a console session")]
    assert investigation.summary(inv)["derived_keys_search"]["status"] == "partial"


def test_the_one_line_phrase_says_the_window_end_it_read_to() -> None:
    """``summary.json``'s ``sign_ins_search.until``: a window that ended says its end and the
    command that reads on (one per user); one still to come, or a summary written before
    ``until`` (none), says what it said."""
    use = {
        "user_name": USER,
        "event_time": SET_AT,
        "sign_ins_search": {"status": "read", "why": None, "until": "2023-07-10T21:56:04Z"},
        "signed_in": 0,
    }
    phrase = passwords_phrase({"console_passwords": [use]})
    assert phrase == (
        ", 1 console password(s) set (no sign-in in what was read up to the window's end "
        "(2023-07-10T21:56:04Z): a sign-in after that was not read — run `torinvest events "
        f"--username={USER} --start={SET_AT} …` to read on)"
    )
    bare = ", 1 console password(s) set (no sign-in in what was read)"
    later = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for until in (later, None):
        search = {"status": "read", "why": None, "until": until}
        assert passwords_phrase({"console_passwords": [{**use, "sign_ins_search": search}]}) == bare
    old = {**use, "sign_ins_search": {"status": "read", "why": None}}  # before ``until``
    assert passwords_phrase({"console_passwords": [old]}) == bare


@pytest.mark.parametrize(
    ("status", "signed_in", "said"),
    [
        ("read", 0, "no sign-in in what was read"),
        ("read", 2, "SIGNED IN 2 time(s)"),
        ("not read", 0, "sign-ins of 1 not read"),
        ("not followed", 0, "sign-ins of 1 not followed"),
    ],
)
def test_the_one_line_phrase_tells_none_found_from_not_read(
    status: str, signed_in: int, said: str
) -> None:
    """The one-line summary's words for a password's sign-ins (``investigate``'s line,
    ``events``' note, a ticket's answer): "read, and none" never reads as "not read" — it said
    ``no sign-in read``, which a reader takes for "the sign-ins were not read"."""
    use = {"sign_ins_search": {"status": status, "why": None}, "signed_in": signed_in}
    phrase = passwords_phrase({"console_passwords": [use]})
    assert phrase == f", 1 console password(s) set ({said})"
    if status == "read":
        assert not re.search(r"\bsign-ins? read\b", phrase)


# --------------------------------------------------------------------------------------------
# a password set for a user the call does not name (a role session's CreateLoginProfile)
# --------------------------------------------------------------------------------------------
ROLE_SESSION = "ASIATFQR7NSCROLESES1"  # a role session the Tor key assumed
ROLE_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/ops-admin/alice"
UNNAMED_AT = "2023-07-10T12:36:00Z"


def _unnamed_records() -> list[dict[str, Any]]:
    """The Tor key assumes a role (the sample's real AssumeRole, re-attributed) and, as that
    role session, calls CreateLoginProfile without requestParameters.userName (the sample's real
    one, its userName taken out): whose password it set is not known ("alice" is the
    session's name)."""
    real = next(
        r for r in sample_records() if r["eventName"] == "AssumeRole" and not r.get("errorCode")
    )
    assume = copy.deepcopy(real)
    tor_call = next(r for r in sample_records() if r["userIdentity"].get("accessKeyId") == KEY)
    assume["userIdentity"] = copy.deepcopy(tor_call["userIdentity"])
    assume["responseElements"]["credentials"]["accessKeyId"] = ROLE_SESSION
    assume["responseElements"]["assumedRoleUser"]["arn"] = ROLE_ARN
    assume.update(
        eventTime="2023-07-10T12:35:00Z",
        sourceIPAddress=TOR_EXIT,
        eventID="5c1e0f4a-0000-4000-8000-0000a55e0001",
    )
    password = copy.deepcopy(
        next(r for r in sample_records() if r["eventName"] == "CreateLoginProfile")
    )
    password["requestParameters"].pop("userName")
    password["responseElements"]["loginProfile"]["userName"] = "victim-user"
    password["userIdentity"] = {
        "type": "AssumedRole",
        "principalId": "AROATFQR7NSCWWVLB7BES:alice",
        "arn": ROLE_ARN,
        "accountId": ACCOUNT,
        "accessKeyId": ROLE_SESSION,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROATFQR7NSCWWVLB7BES",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/ops-admin",
                "accountId": ACCOUNT,
                "userName": "ops-admin",
            },
            "attributes": {"creationDate": "2023-07-10T12:35:00Z", "mfaAuthenticated": "false"},
        },
    }
    password.update(
        eventTime=UNNAMED_AT,
        sourceIPAddress=TOR_EXIT,
        eventID="5c1e0f4a-0000-4000-8000-0000a55e0002",
    )
    return [assume, password]


@pytest.fixture(scope="module")
def unnamed_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return case_with(tmp_path_factory.mktemp("unnamed"), _unnamed_records())


#: What every place says of the password set for a user the call does not name.
UNNAMED_SAID = (
    f"a password was set by {ROLE_ARN} at {UNNAMED_AT} for a user the call does not name: whose "
    "sign-ins to search is not known"
)


def test_a_password_set_for_a_user_the_call_does_not_name_is_said_everywhere(
    unnamed_case: Path, tmp_path: Path
) -> None:
    """A role session the Tor key assumed calls CreateLoginProfile without userName: the plan
    made a manual step, but the investigation said nothing — "1 console password(s) set (no
    sign-in in what was read)" and "derived keys followed" read as complete. Now the terminal
    line, summary.json (a data issue, ``console_passwords_unnamed``, derived keys partial), the
    report's card and ``events``' notes say it in the same words, with what to check."""
    out = tmp_path / "report"
    code, stdout, stderr = run(
        "investigate", FINDING, "--case", str(unnamed_case), *COVERED_FLAGS, "--out", str(out)
    )
    assert code == 0, stderr
    assert (
        "1 console password(s) set for a user the call does not name (whose sign-ins to search "
        "is not known)"
    ) in stdout
    data = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    (unnamed,) = data["console_passwords_unnamed"]
    assert unnamed["caller_arn"] == ROLE_ARN and unnamed["set_by"] == ROLE_SESSION
    assert unnamed["said"].startswith(UNNAMED_SAID)
    assert "aws iam get-login-profile --user-name USER" in unnamed["said"]
    assert f"torinvest events --username USER --start {UNNAMED_AT} …" in unnamed["said"]
    assert "alice" not in [u["user_name"] for u in data["console_passwords"]]
    issues = [
        i for i in data["data_issues"] if i["source"] == "console password of a user not named"
    ]
    assert [i["problem"] for i in issues] == [unnamed["said"]]
    assert data["derived_keys_search"]["status"] == "partial"
    assert UNNAMED_SAID in data["derived_keys_search"]["why"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Console passwords set: use not read" in html
    assert UNNAMED_SAID in html
    # events: the same words, as a note and an issue
    code, _, err = run(
        "events", "--case", str(unnamed_case), "--access-key", KEY, "--follow-derived",
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", str(tmp_path / "a.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert "1 console password(s) set for a user the call does not name" in err
    notes = [line for line in err.splitlines() if line.startswith("torinvest: note: a password")]
    assert [n.removeprefix("torinvest: note: ") for n in notes] == [unnamed["said"]]
    assert f"torinvest: issue: console password of a user not named: {unnamed['said']}" in err
