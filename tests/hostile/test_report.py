"""Hostile inputs to the report's first screen, the sensitive calls' targets and the tables:
forged CloudTrail records of the sample case (what a stolen key can write into its own log)
— markup, a bidi override, a huge name, hundreds of names, requestParameters that are not an
object — each shown as inert text or cut and counted, never lost, never breaking the page.

Catalogued in docs/hostile-inputs.md ("The report: answer, targets, tables")."""

from __future__ import annotations

import dataclasses
import gzip
import re
import shutil
from pathlib import Path

import orjson
import pandas as pd
import pytest

from torinvest import actions, display, investigation
from torinvest import analysis as an
from torinvest.case import sample_case
from torinvest.errors import DataIssue
from torinvest.investigation import Investigation
from torinvest.targets import MAX_TARGET_CHARS, MAX_TARGETS

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
BACKDOOR = "svc-backup-sync"
MARKUP = "<img src=x onerror=\"document.title='PWNED'\">"
KEY = "AKIATFQR7NSCUXC3DDDP"
TOR_CALLS = orjson.loads((sample_case().root / "STORY.json").read_bytes())["actor_events"][
    "from_tor"
]


def _investigate(case: Path) -> Investigation:
    return investigation.investigate(
        FINDING, investigation.sources_from_parameters(case_dir=str(case))
    )


def _text(html: str) -> str:
    """The visible text of an HTML fragment (tags dropped, entities kept)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _case_with(tmp: Path, logs: dict[str, bytes]) -> Path:
    """A case folder with the sample case's findings and only ``logs`` in cloudtrail/."""
    case = tmp / "case"
    shutil.copytree(sample_case().root / "findings", case / "findings")
    (case / "cloudtrail").mkdir(parents=True)
    for name, data in logs.items():
        (case / "cloudtrail" / name).write_bytes(data)
    return case


def _background_file() -> tuple[str, bytes]:
    """A real log file of the sample case without any call of the suspect key."""
    for path in sorted(sample_case().cloudtrail.rglob("*.json.gz")):
        data = path.read_bytes()
        if KEY.encode() not in gzip.decompress(data):
            return path.name, data
    raise AssertionError("every sample log file holds the key")


@pytest.fixture(scope="module")
def inv() -> Investigation:
    sources = investigation.sources_from_parameters(case_dir=str(sample_case().root))
    return investigation.investigate(FINDING, sources)


def _forged(inv: Investigation, event_name: str, request: object) -> Investigation:
    """``inv`` with the requestParameters of its (first) ``event_name`` call replaced."""
    events = inv.events.copy()
    row = events.index[events["event_name"] == event_name][0]
    text = request if isinstance(request, str) else orjson.dumps(request).decode()
    events["request_parameters"] = events["request_parameters"].astype("object")
    events.loc[row, "request_parameters"] = text
    return dataclasses.replace(
        inv, events=events, sensitive=an.sensitive_events(events, targets=True)
    )


def _summary_targets(inv: Investigation, event_name: str) -> list[str | None]:
    data = investigation.summary(inv, {"status": "pending"})
    orjson.dumps(data)  # JSON-ready
    return [e["target"] for e in data["sensitive_events"] if e["event_name"] == event_name]


def _shown(inv: Investigation) -> str:
    """Everything the report shows of the sensitive calls: the answer, the table, the plan."""
    plan = display.next_steps(inv, {"status": "malicious"}).data
    return (
        display.answer_html(inv, {"status": "pending"}) + display.sensitive_table(inv).data + plan
    )


def test_markup_in_a_created_user_name_is_text_everywhere(inv: Investigation) -> None:
    forged = _forged(inv, "CreateLoginProfile", {"userName": MARKUP})
    html = _shown(forged)
    assert MARKUP not in html and "<img" not in html
    escaped = "user &lt;img src=x onerror=&quot;document.title=&#x27;PWNED&#x27;&quot;&gt;"
    assert escaped in html
    assert _summary_targets(forged, "CreateLoginProfile") == [f"user {MARKUP}"]  # JSON: raw
    # nothing else lost: the other calls keep their targets
    assert f"user {BACKDOOR}, new key AKIATFQR7NSCXLGMGTIH" in html


def test_a_bidi_override_in_a_name_is_shown_escaped(inv: Investigation) -> None:
    forged = _forged(inv, "CreateUser", {"userName": "admin\u202etxt.exe"})
    (target,) = _summary_targets(forged, "CreateUser")
    assert target == "user admin\\u202etxt.exe"
    assert "\u202e" not in _shown(forged)


def test_a_huge_name_is_cut(inv: Investigation) -> None:
    forged = _forged(inv, "CreateUser", {"userName": "A" * 100_000})
    (target,) = _summary_targets(forged, "CreateUser")
    assert target == "user " + "A" * (MAX_TARGET_CHARS - 1) + "…"
    html = display.answer_html(forged, {"status": "pending"})
    assert "A" * MAX_TARGET_CHARS not in html


def test_hundreds_of_secrets_in_one_call_are_counted(inv: Investigation) -> None:
    names = [f"prod/app-{i}" for i in range(500)]
    forged = _forged(
        inv, "GetSecretValue", {"secretId": "x"} | {"secretIdList": names}
    )  # one call naming 501 secrets
    (target, *_) = _summary_targets(forged, "GetSecretValue")
    shown = target.split(", ")
    assert len(shown) == MAX_TARGETS + 1
    assert shown[-1] == f"and {501 - MAX_TARGETS} more (see the event)"


@pytest.mark.parametrize(
    "request_parameters",
    ["not json {", "[1, 2, 3]", "42", '{"userName": true}', '{"userName": {"a": 1}}', ""],
    ids=["invalid", "list", "number", "boolean", "object", "empty"],
)
def test_parameters_that_are_not_an_object_name_nothing(
    inv: Investigation, request_parameters: str
) -> None:
    forged = _forged(inv, "CreateUser", request_parameters)
    assert _summary_targets(forged, "CreateUser") == [None]
    # the call is still listed; the others keep their targets
    assert len(forged.sensitive) == len(inv.sensitive)
    html = display.answer_html(forged, {"status": "pending"})
    assert "CreateUser" in html and f"user {BACKDOOR}, new key" in html


def test_hundreds_of_sensitive_calls_keep_the_answer_short(inv: Investigation) -> None:
    rows = inv.events[inv.events["event_name"] == "GetSecretValue"].iloc[:1]
    many = pd.concat([inv.events, *[rows] * 400], ignore_index=True)
    forged = dataclasses.replace(
        inv, events=many, sensitive=an.sensitive_events(many, targets=True)
    )
    html = display.answer_html(forged, {"status": "pending"})
    total = len(forged.sensitive)
    assert total > 400
    assert f"The first {display.ANSWER_MAX_CALLS} of {total:,}" in html
    assert html.count("<tr>") == display.ANSWER_MAX_CALLS + 1  # the header and 12 calls
    assert len(display.sensitive_table(forged).data) > len(html)  # section 4 lists them all


def test_the_plan_names_markup_targets_as_text(inv: Investigation) -> None:
    forged = _forged(inv, "CreateUser", {"userName": MARKUP})
    plan = actions.plan_remediation(forged.key, forged.events)
    assert any(MARKUP in a.targets for a in plan.actions)  # data, as written
    assert MARKUP not in display.next_steps(forged, {"status": "malicious"}).data


def test_no_events_could_not_look_and_nothing_to_read_read_differently(tmp_path: Path) -> None:
    name, data = _background_file()
    none = _investigate(_case_with(tmp_path / "none", {name: data}))
    failed = _investigate(_case_with(tmp_path / "failed", {"broken.json.gz": data[:200]}))
    nothing = _investigate(_case_with(tmp_path / "nothing", {}))
    denied_issue = DataIssue("lookup:us-east-1", "access denied: cloudtrail:LookupEvents")
    denied = dataclasses.replace(
        none, activity=dataclasses.replace(none.activity, issues=[denied_issue])
    )
    answers = {}
    for label, case, state, tor_value in (
        ("none", none, "none", "no events"),
        ("failed", failed, "failed", "could not look"),
        ("nothing", nothing, "nothing", "nothing read"),
        ("denied", denied, "denied", "could not look"),
    ):
        assert display.activity_state(case)[0] == state, label
        html = display.answer_html(case, {"status": "pending"})
        answers[label] = _text(html.split('class="ti-tiles"')[0])  # title and state line
        assert f'<div class="ti-value">{tor_value}</div>' in html, label
        assert "0 calls read" in _text(html)
    assert "No events: every source was read (1 file(s)" in answers["none"]
    assert "not an access problem" in answers["none"]
    assert "Could not look: no event was read and 1 source(s) failed" in answers["failed"]
    assert "not evidence that the key was unused" in answers["failed"]
    assert "Nothing to read" in answers["nothing"]
    assert "Could not look: 1 source(s) refused access" in answers["denied"]
    assert len(set(answers.values())) == 4


def test_a_partial_reading_says_so_at_the_top(tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(sample_case().root, case)
    bad = case / "cloudtrail" / "x<img src=x onerror=document.title=1>.json"
    bad.write_text('{"Records": [{"userIdentity": {"accessKeyId": "' + KEY + '"')
    partial = _investigate(case)
    html = display.answer_html(partial, {"status": "pending"})
    top = _text(html.split('class="ti-tiles"')[0])
    assert "⚠ Incomplete: 1 data issue(s)" in top
    assert "x&lt;img src=x onerror=document.title=1&gt;.json" in top and "<img" not in html
    assert f"{TOR_CALLS} of {len(partial.events)} calls" in _text(html)  # every event counted
