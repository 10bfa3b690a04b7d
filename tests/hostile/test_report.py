"""Hostile inputs to the report's first screen, the sensitive calls' targets and the tables:
forged CloudTrail records of the sample case (what a stolen key can write into its own log)
— markup, a bidi override, a huge name, hundreds of names, requestParameters that are not an
object — each shown as inert text or cut and counted, never lost, never breaking the page.

Catalogued in docs/hostile-inputs.md ("The report: answer, targets, tables")."""

from __future__ import annotations

import dataclasses
import gzip
import html
import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pandas as pd
import pytest

from tests.offline_regions import SAMPLE_REGIONS
from tests.once import made_once
from tests.sample_window import COVERED
from torinvest import actions, display, investigation
from torinvest import analysis as an
from torinvest.case import sample_case
from torinvest.errors import DataIssue
from torinvest.findings.locate import SEEN_FALLBACK
from torinvest.investigation import Investigation
from torinvest.targets import MAX_TARGET_CHARS, MAX_TARGETS

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
BACKDOOR = "svc-backup-sync"
MARKUP = "<img src=x onerror=\"document.title='PWNED'\">"
KEY = "AKIATFQR7NSCUXC3DDDP"
TOR_CALLS = orjson.loads((sample_case().root / "STORY.json").read_bytes())["actor_events"][
    "from_tor"
]


def _investigate(case: Path, regions: tuple[str, ...] = ()) -> Investigation:
    return investigation.investigate(FINDING, _sources(case, regions), **COVERED)


def _sources(case: Path, regions: tuple[str, ...] = ()) -> investigation.Sources:
    """The case folder as the investigation's source, read for ``regions`` (none: every
    region; named on Sources: sources_from_parameters does not take them with a case folder)."""
    sources = investigation.sources_from_parameters(case_dir=str(case))
    return dataclasses.replace(sources, regions=list(regions)) if regions else sources


def _plain(fragment: str) -> str:
    """:func:`_text` with entities decoded (``&#x27;`` → ``'``)."""
    return html.unescape(_text(fragment))


def _text(html: str) -> str:
    """The visible text of an HTML fragment (tags dropped, entities kept)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _case_with(tmp: Path, logs: dict[str, bytes], *, as_named: bool = False) -> Path:
    """A case folder with the sample case's findings and only ``logs`` in cloudtrail/, each
    saved as an export (``export-NAME``): a flat folder of files keeping CloudTrail's names is
    judged by the regions and days they give (tests/hostile/test_flat_folders.py), which is not
    what these tests are about (``as_named``: keep the names)."""
    case = tmp / "case"
    shutil.copytree(sample_case().root / "findings", case / "findings")
    (case / "cloudtrail").mkdir(parents=True)
    for name, data in logs.items():
        (case / "cloudtrail" / (name if as_named else f"export-{name}")).write_bytes(data)
    return case


def _background_file() -> tuple[str, bytes]:
    """A real log file of the sample case without any call of the suspect key."""
    for path in sorted(sample_case().cloudtrail.rglob("*.json.gz")):
        data = path.read_bytes()
        if KEY.encode() not in gzip.decompress(data):
            return path.name, data
    raise AssertionError("every sample log file holds the key")


@pytest.fixture(scope="module")
def inv(sample_investigation: Investigation) -> Investigation:
    """The sample investigation (tests/conftest.py: built once per worker, read only)."""
    return sample_investigation


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
    n = display.ANSWER_MAX_CALLS
    assert (
        f"showing {n} of {total:,} sensitive calls (the first in time); {total - n:,} more not "
        f"shown here: all {total:,} are in events.csv (its sensitive column)"
    ) in html
    assert html.count("<tr>") == n + 1  # the header and 12 calls
    assert len(display.sensitive_table(forged).data) > len(html)  # section 4 lists more


def test_the_plan_names_markup_targets_as_text(inv: Investigation) -> None:
    forged = _forged(inv, "CreateUser", {"userName": MARKUP})
    plan = actions.plan_remediation(forged.key, forged.events)
    assert any(MARKUP in a.targets for a in plan.actions)  # data, as written
    assert MARKUP not in display.next_steps(forged, {"status": "malicious"}).data


def _no_sightings(inv: Investigation) -> Investigation:
    """``inv`` for a finding whose times stand in from createdAt/updatedAt: GuardDuty's
    sightings of the key's calls unknown, so a file without a call of the key is "no events"
    (with them, it misses the calls GuardDuty saw: "missed", tests/test_sightings.py)."""
    return dataclasses.replace(inv, key=dataclasses.replace(inv.key, seen_from=SEEN_FALLBACK))


@dataclasses.dataclass(frozen=True)
class EmptyReadings:
    """The investigations of three case folders holding no call of the key: a log file of
    others' calls only (``missed``: GuardDuty saw calls it does not hold), one that cannot be
    read (``failed``) and no log file at all (``nothing``)."""

    missed: Investigation
    failed: Investigation
    nothing: Investigation


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> EmptyReadings:
    """Made once for the module's tests that only read them (each copies what it changes)."""
    tmp = tmp_path_factory.mktemp("empty")
    name, data = _background_file()
    return EmptyReadings(
        missed=_investigate(_case_with(tmp / "none", {name: data})),
        failed=_investigate(_case_with(tmp / "failed", {"broken.json.gz": data[:200]})),
        nothing=_investigate(_case_with(tmp / "nothing", {})),
    )


def test_no_events_could_not_look_and_nothing_to_read_read_differently(
    empty: EmptyReadings,
) -> None:
    missed, failed, nothing = empty.missed, empty.failed, empty.nothing
    none = _no_sightings(missed)
    denied_issue = DataIssue("lookup:us-east-1", "access denied: cloudtrail:LookupEvents")
    denied = dataclasses.replace(
        none, activity=dataclasses.replace(none.activity, issues=[denied_issue])
    )
    answers = {}
    for label, case, state, tor_value in (
        ("none", none, "none", "no events"),
        ("missed", missed, "missed", "incomplete: calls GuardDuty saw not read"),
        ("failed", failed, "failed", "could not look"),
        ("nothing", nothing, "nothing", "nothing read"),
        ("denied", denied, "partial", "incomplete: no call read"),
    ):
        assert display.activity_state(case)[0] == state, label
        listed = _plain(display.events_table(case).data)  # the table says the same
        assert ("No events to list." in listed) == (state == "none"), (label, listed)
        assert state == "none" or display.activity_state(case)[1] in listed, (label, listed)
        html = display.answer_html(case, {"status": "pending"})
        answers[label] = _text(html.split('class="ti-tiles"')[0])  # title and state line
        assert f'<div class="ti-value">{tor_value}</div>' in html, label
        assert "0 calls read" in _text(html)
    assert "No events: every CloudTrail source was read (1 file(s)" in answers["none"]
    assert "not an access problem" in answers["none"]
    assert "though GuardDuty saw it called from 109.70.100.66" in answers["missed"]
    assert "No events" not in answers["missed"] and "ould not look" not in answers["missed"]
    # the file, said once: by the reading's issue (nothing read), naming it and its cause
    unread = len(investigation.summary(failed)["activity_issues"])
    assert unread == 1 and f"{unread} data issue(s)" in _text(display.data_issues(failed).data)
    assert (
        f"Could not look: no event was read; {unread} data issue(s) name what could not be read"
        in answers["failed"]
    )
    assert "not evidence that the key was unused" in answers["failed"]
    assert "Nothing to read" in answers["nothing"]
    # one source refused access, the log file read and holding no call: a partial reading,
    # never "could not look" (summary.json, the terminal and the index say "incomplete")
    assert "Incomplete: 1 data issue(s) name what was not read" in answers["denied"]
    assert "1 of them refused access; what was read (1 file(s)" in answers["denied"]
    assert "Could not look" not in answers["denied"]
    failed_beside = dataclasses.replace(
        none, activity=dataclasses.replace(none.activity, issues=[failed.activity.issues[0]])
    )
    state, line = display.activity_state(failed_beside)
    assert state == "partial" and line.startswith(
        "Incomplete: 1 data issue(s) name what was not read (a source that failed or refused "
        "access, days or regions not there); what was read (1 file(s), region(s) or table(s)) "
        "holds no call made with this key"
    )
    assert len(set(answers.values())) == 5


def _chart_texts(figure: object) -> list[str]:
    return [a.text for a in figure.layout.annotations]  # type: ignore[attr-defined]


def test_every_empty_chart_table_and_card_says_what_the_activity_amounts_to(
    empty: EmptyReadings,
) -> None:
    """No event read because sources failed, access was refused or nothing was there to read:
    the five charts, the per-IP table, the sensitive calls, the derived keys (card and answer)
    and summary.json's derived_keys_search each say so — they said "no events", "No source
    IP: no events.", "None of the catalogued sensitive calls.", "none minted by this key in
    its activity" and ``followed`` whatever the activity card said ("Not allowed to look")."""
    from torinvest import charts

    missed, failed, nothing = empty.missed, empty.failed, empty.nothing
    none = _no_sightings(missed)
    denied_issue = DataIssue("lookup:us-east-1", "access denied: cloudtrail:LookupEvents")
    denied = dataclasses.replace(
        none, activity=dataclasses.replace(none.activity, issues=[denied_issue])
    )
    beside = dataclasses.replace(  # one file read (no call of the key), one not
        none, activity=dataclasses.replace(none.activity, issues=[failed.activity.issues[0]])
    )
    said = {}
    for label, case in (
        ("none", none),
        ("missed", missed),
        ("failed", failed),
        ("nothing", nothing),
        ("denied", denied),
        ("beside", beside),
    ):
        complete = label == "none"
        empty = display.empty_reason(case)
        said[label] = empty
        assert (empty == "no events") == complete, (label, empty)
        figures = (
            charts.timeline(case.by_time, empty=empty),
            charts.calls_per_ip(case.by_time, empty=empty),
            charts.event_mix(case.by_time, empty=empty),
            charts.user_agents(case.by_agent, empty=empty),
            charts.regions(case.by_region, empty=empty),
        )
        for figure in figures:
            assert _chart_texts(figure) == [empty], label
        line = display.activity_state(case)[1]
        per_ip = _plain(display.per_ip_table(case).data)
        assert ("no events" in per_ip) == complete and (complete or line in per_ip), per_ip
        sensitive = _plain(display.sensitive_table(case).data)
        card = _plain(display.derived_keys(case).data)
        answer = _plain(display.answer_html(case, {"status": "pending"}))
        search = investigation.summary(case, {"status": "pending"})["derived_keys_search"]
        if complete:
            assert "None of the catalogued sensitive calls." in sensitive
            assert "responseElements.accessKey of CreateAccessKey)." in card
            assert "none minted by this key in its activity" in answer
            assert search == {"status": "followed", "why": None}
            continue
        assert "no call of the key was read" in sensitive and line in sensitive, label
        assert "no call of the key was read" in card and line in card, label
        assert "Derived keys: none found — no call of the key was read" in answer, label
        assert "none minted" not in answer, label
        assert search["status"] == "partial" and search["why"], (label, search)
    assert said["denied"] == said["beside"] == "incomplete: no call in what was read"
    assert said["missed"] == "incomplete: the finding's calls are not in what was read"
    assert len(set(said.values())) == 5  # denied and beside are one state: read in part


def test_the_notebook_tells_every_chart_what_the_activity_amounts_to() -> None:
    """Each chart of the investigation notebook is given :func:`display.empty_reason`: an
    empty chart never says "no events" over a reading that could not look."""
    import ast

    source = (Path(__file__).resolve().parents[2] / "notebooks" / "investigate.py").read_text()
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "charts"
    ]
    assert len(calls) == 5
    for call in calls:
        (empty,) = [k.value for k in call.keywords if k.arg == "empty"]
        assert ast.unparse(empty) == "display.empty_reason(inv)", ast.unparse(call)


def test_no_events_beside_an_unreadable_findings_file(tmp_path: Path) -> None:
    """The log file given was read whole, a findings file was not: the answer says both, and
    its line on the activity names what was read (1 file), not "every source". The file holds
    none of the calls GuardDuty saw (tests/test_sightings.py): never "No events" — the reading
    misses them."""
    case = _case_with(tmp_path, dict([_background_file()]))
    (case / "findings" / "torn.json").write_text('{"Findings": [')
    sources = investigation.sources_from_parameters(case_dir=str(case))
    findings = investigation.load_findings(sources)
    inv = investigation.investigate(FINDING, sources, findings=findings)
    text = _text(display.answer_html(inv, {"status": "pending"}, findings=findings))
    assert "Incomplete: 2 data issue(s)" in text and "torn.json" in text
    assert f"GuardDuty saw key {KEY} called from 109.70.100.66" in text
    assert "no call made with this key in what was read (1 file(s)" in text
    assert "every source was read" not in text and "No events" not in text


def test_the_activity_card_counts_what_was_not_read_as_the_answer_does() -> None:
    """The sample case over the finding's default window (22 UTC days; log files on one): its
    three region folders lack the same days — one data issue, grouped, in the answer and the
    data issues card. The activity card said "3 source(s) failed: events from them are
    missing" (no source failed; the counts differed); with no event read it said "Could not
    look: 1 source(s) failed; the 62 other source(s) were read". Read for the case's regions
    (the partition's others without a folder are not this test's subject)."""
    sources = _sources(sample_case().root, SAMPLE_REGIONS)
    inv = investigation.investigate(FINDING, sources)
    assert len(inv.activity.issues) == 3  # one per region folder, the same problem
    answer = _text(display.answer_html(inv, {"status": "pending"}))
    card = _text(display.activity_status(inv).data)
    issues = _text(display.data_issues(inv).data)
    assert "Incomplete: 1 data issue(s)" in answer and "1 data issue(s)" in issues
    assert "1 data issue(s) of the activity : what they name was not read, or not whole" in card
    assert "source(s) failed" not in card
    quiet = dataclasses.replace(inv, events=inv.events.iloc[:0])  # no call in what was read
    state, line = display.activity_state(quiet)
    assert state == "missed"  # and GuardDuty saw calls none of which was read: said too
    assert "though GuardDuty saw it called from 109.70.100.66 in the window" in line
    assert line.startswith("Incomplete: 1 data issue(s) name what was not read")
    assert "what was read (62 file(s), region(s) or table(s)) holds no call" in line
    assert "source(s) failed" not in line


def test_could_not_look_counts_what_was_not_read_as_the_data_issues_and_summary_do(
    tmp_path: Path,
) -> None:
    """The sample case with its finding seen two months after its trail's one day of log files:
    no log file in the window (the folder's files all outside it; its three region folders lack
    the same 22 days). The answer, the activity card, the events table and every "could not
    look" line said "Could not look: no event was read and 4 source(s) failed" — the region
    folders' one grouped issue counted three times, beside "3 data issue(s)" in the data issues
    card and summary.json's three ``activity_issues``."""
    case = tmp_path / "case"
    shutil.copytree(sample_case().root, case)
    (case / "findings" / "eventbridge-recon.json").unlink()
    export = case / "findings" / "get-findings.json"
    export.write_text(export.read_text().replace('Seen": "2023-07-10', 'Seen": "2023-09-10'))
    inv = _investigate(case, SAMPLE_REGIONS)
    assert inv.events.empty and len(inv.activity.issues) == 4
    unread = len(investigation.summary(inv)["activity_issues"])
    shown = _text(display.data_issues(inv).data)
    assert f"{unread} data issue(s)" in shown
    state, line = display.activity_state(inv)
    assert state == "failed"
    assert line.startswith(f"Could not look: no event was read; {unread} data issue(s) name what")
    for text in (
        _text(display.answer_html(inv, {"status": "pending"})),
        _text(display.activity_status(inv).data),
    ):
        assert line in text
        assert "source(s) failed" not in text


def test_a_partial_reading_says_so_at_the_top(tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(sample_case().root, case)
    bad = case / "cloudtrail" / "x<img src=x onerror=document.title=1>.json"
    bad.write_text('{"Records": [{"userIdentity": {"accessKeyId": "' + KEY + '"')
    partial = _investigate(case, SAMPLE_REGIONS)  # the bad file the one issue
    html = display.answer_html(partial, {"status": "pending"})
    top = _text(html.split('class="ti-tiles"')[0])
    assert "⚠ Incomplete: 1 data issue(s)" in top
    assert "x&lt;img src=x onerror=document.title=1&gt;.json" in top and "<img" not in html
    assert f"{TOR_CALLS} of {len(partial.events)} calls" in _text(html)  # every event counted


# --------------------------------------------------------------------------------------------
# control, bidi and zero-width characters in every text a page shows
# --------------------------------------------------------------------------------------------
#: Shell syntax, an ANSI colour, a bidi override and isolate, a zero-width space, a bell, NEL.
HIDDEN = "x'; touch /tmp/pwned; '\x1b[31m\u202eevil\u2066\u200b\x07\x85"
#: How the pages show it (a finding's fields are trimmed: NEL is white space).
ESCAPED = "x'; touch /tmp/pwned; '\\x1b[31m\\u202eevil\\u2066\\u200b\\x07"
#: What a page must never hold raw outside its own markup: C0 (but tab and newline) and C1
#: controls, bidi embeddings, overrides, isolates and marks, zero-width characters.
RAW_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
#: Text fields of a finding shown in the report or the triage table (both export shapes).
FINDING_TEXT_FIELDS = frozenset(
    {
        "username",
        "usertype",
        "principalid",
        "title",
        "description",
        "countryname",
        "cityname",
        "asnorg",
        "isp",
        "org",
        "api",
        "servicename",
        "detectorid",
    }
)


def _hide_in_finding(node: object) -> None:
    """Append :data:`HIDDEN` to every text field of a finding the pages show."""
    if isinstance(node, dict):
        for name, value in node.items():
            if isinstance(value, str) and name.lower() in FINDING_TEXT_FIELDS:
                node[name] = value + HIDDEN
            else:
                _hide_in_finding(value)
    elif isinstance(node, list):
        for item in node:
            _hide_in_finding(item)


def _hide_in_record(record: dict) -> None:
    """Append :data:`HIDDEN` to every attacker-written text of a CloudTrail record."""
    for name in ("userAgent", "errorMessage", "errorCode"):
        if isinstance(record.get(name), str):
            record[name] += HIDDEN
    if (
        isinstance(record.get("sourceIPAddress"), str)
        and not record["sourceIPAddress"][0].isdigit()
    ):
        record["sourceIPAddress"] += HIDDEN  # a service name, "AWS Internal"
    for part in ("requestParameters", "responseElements"):
        values = record.get(part)
        for name, value in (values or {}).items() if isinstance(values, dict) else ():
            if isinstance(value, str):
                values[name] = value + HIDDEN
    who = record.get("userIdentity") or {}
    for name in ("userName", "arn", "principalId"):
        if isinstance(who.get(name), str):
            who[name] += HIDDEN


def _hidden_case(root: Path) -> Path:
    """The sample case with :data:`HIDDEN` in every finding text field and event text."""
    case = root / "case"
    shutil.copytree(sample_case().root, case)
    for path in (case / "findings").glob("*.json"):
        data = orjson.loads(path.read_bytes())
        _hide_in_finding(data)
        path.write_bytes(orjson.dumps(data))
    for path in (case / "cloudtrail").rglob("*.json.gz"):
        data = orjson.loads(gzip.decompress(path.read_bytes()))
        for record in data["Records"]:
            _hide_in_record(record)
        path.write_bytes(gzip.compress(orjson.dumps(data)))
    return case


class _RawHidden(HTMLParser):
    """Every text node and attribute value of a page holding a :data:`RAW_HIDDEN` character.
    A script's text counts when it holds the attacker's text (``pwned``): the figures' and
    tables' data; the bundled libraries (plotly.js) hold none."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.seen = 0  # text nodes and attributes holding the attacker's text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            self._check(f"<{tag} {name}=…>", value or "")

    def handle_data(self, data: str) -> None:
        if self.lasttag in ("script", "style") and "pwned" not in data:
            return
        self._check(f"<{self.lasttag}> text", data)

    def _check(self, where: str, text: str) -> None:
        self.seen += "pwned" in text
        hit = RAW_HIDDEN.search(text)
        if hit:
            self.found.append(f"{where}: {text[max(0, hit.start() - 60) : hit.end() + 10]!r}")


def _raw_hidden(page: str) -> tuple[list[str], int]:
    """(where :data:`RAW_HIDDEN` characters are, how many places hold the attacker's text)."""
    parser = _RawHidden()
    parser.feed(page)
    return parser.found, parser.seen


@pytest.fixture(scope="module")
def hidden_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``investigate --all-open`` of :func:`_hidden_case`, with a verdict in the ledger whose
    analyst and rationale hold :data:`HIDDEN`. Two report kernels, run once for every xdist
    worker (:func:`tests.once.made_once`): read only."""
    from torinvest.cli import main

    def make(root: Path) -> None:
        case, ledger, out = _hidden_case(root), root / "ledger.jsonl", root / "out"
        err = io.StringIO()
        args = ["--status", "malicious", "--analyst", "ana" + HIDDEN, "--rationale", "why" + HIDDEN]
        verdict = ["verdict", FINDING, *args, "--ledger", str(ledger)]
        code = main(verdict, out=io.StringIO(), err=err)
        assert code == 0, err.getvalue()
        argv = ["investigate", "--all-open", "--case", str(case), "--out", str(out)]
        code = main([*argv, "--ledger", str(ledger)], out=io.StringIO(), err=err)
        assert code == 0, err.getvalue()

    return made_once(tmp_path_factory, "hidden", make) / "out"


def test_hidden_characters_are_escaped_in_every_report(hidden_run: Path) -> None:
    pages = sorted(hidden_run.glob("finding-*/report.html"))
    assert len(pages) == 2
    for page in pages:
        text = page.read_text(encoding="utf-8")
        found, seen = _raw_hidden(text)
        assert not found, f"{page.parent.name}: " + "\n".join(found[:20])
        assert seen > 50  # the card, the tables, the answer, the charts all hold the name
        # shown, escaped: the user's name in the key box
        assert "<td>benjamin" + ESCAPED + " (IAMUser" + ESCAPED + ")</td>" in html.unescape(text)
    verdict_page = (hidden_run / f"finding-{FINDING}" / "report.html").read_text(encoding="utf-8")
    assert "<td>ana" + ESCAPED + "\\x85</td>" in html.unescape(verdict_page)  # the ledger


def test_hidden_characters_are_escaped_in_the_index(hidden_run: Path) -> None:
    found, seen = _raw_hidden((hidden_run / "index.html").read_text(encoding="utf-8"))
    assert not found, "\n".join(found)
    assert seen  # the user's name is listed


def test_hidden_characters_are_escaped_in_the_triage_notebook(tmp_path: Path) -> None:
    from torinvest import report

    case = _hidden_case(tmp_path)
    notebook = Path(__file__).resolve().parents[2] / "notebooks" / "triage.ipynb"
    out = tmp_path / "triage-out.ipynb"
    failure = report.execute(notebook, out, {"case_dir": str(case)}, cwd=tmp_path)
    assert failure is None, failure
    nb = orjson.loads(out.read_bytes())
    shown = [
        "".join(o["data"]["text/html"])
        for cell in nb["cells"]
        for o in cell.get("outputs", [])
        if "text/html" in o.get("data", {})
    ]
    found, seen = _raw_hidden("".join(shown))
    assert not found, "\n".join(found[:20])
    assert seen >= 2  # the table and the list of commands name the user


def test_logs_of_another_account_only_are_could_not_look(tmp_path: Path) -> None:
    """A case folder whose cloudtrail/ holds only another account's logs (the sample's, whose
    records are of 123837392027) for a finding of 999988887777: "could not look in account
    999988887777", naming both accounts and what to add; not "No events", not scored as quiet.
    The same logs for the sample's own finding are read as its account's (its records'
    account, not their path's 218007301253, is what counts): not "could not look" — and, as
    they hold none of the calls GuardDuty saw, incomplete (tests/test_sightings.py)."""
    name, data = _background_file()
    case = _case_with(tmp_path / "member", {name: data}, as_named=True)
    for f in (case / "findings").rglob("*.json"):
        f.write_text(f.read_text().replace("123837392027", "999988887777"))
    member = _investigate(case)
    state, line = display.activity_state(member)
    assert state == "elsewhere"
    assert line.startswith("Could not look in account 999988887777")
    assert "123837392027" in line and "AWSLogs/999988887777/" in line
    summary = investigation.summary(member)
    first = summary["data_issues"][0]
    assert first["source"] == investigation.NOTHING_READ_SOURCE
    assert "999988887777" in first["problem"] and "123837392027" in first["problem"]
    assert member.score.band == an.NOT_SCORED
    assert member.score.shown() == "not scored"  # never "0 / 100": nothing read is no score
    text = _text(display.answer_html(member, {"status": "pending"}))
    assert "not an access problem" not in text and "No events:" not in text
    assert "No events to list" not in _text(display.events_table(member).data)
    own = _investigate(_case_with(tmp_path / "own", {name: data}, as_named=True))
    assert display.activity_state(own)[0] == "missed"
    assert own.score.band == an.INCOMPLETE  # the finding's calls not read: a floor, not "low"


def test_calls_of_unknown_tor_status_never_score_low(tmp_path: Path) -> None:
    """The key's only calls come from sources that are not addresses: no loaded exit list can
    say whether they are Tor, so a score under medium is a floor — band "incomplete", "at
    least N" wherever it is shown —, never "low"."""
    identity = {"type": "IAMUser", "accessKeyId": KEY, "userName": "benjamin"}
    records = [
        {
            "eventVersion": "1.08",
            "eventID": f"v6-{i}",
            "eventTime": f"2023-07-10T12:1{i}:00Z",
            "eventName": "ListBuckets",
            "eventSource": "s3.amazonaws.com",
            "awsRegion": "us-east-1",
            "sourceIPAddress": ip,
            "userAgent": "aws-cli/2.13.0",
            "userIdentity": identity,
            "recipientAccountId": "123837392027",
        }
        for i, ip in enumerate(["185.220.101.999", "185.220.101.999", "exit.example"])
    ]
    data = gzip.compress(orjson.dumps({"Records": records}))
    inv = _investigate(_case_with(tmp_path, {"123837392027_CloudTrail_us-east-1_x.json.gz": data}))
    assert inv.totals()["tor_unknown"] == 3 and inv.totals()["from_tor"] == 0
    score = inv.score.score
    assert score < 30 and (inv.score.band, inv.score.incomplete) == (an.INCOMPLETE, True)
    (gap,) = [s for s in inv.signals if s.name == an.INCOMPLETE_SIGNAL]
    assert "tor" in gap.detail
    summary = investigation.summary(inv)
    assert an.INCOMPLETE_SIGNAL in {s["name"] for s in summary["signals"]}
    for shown in (
        _text(display.answer_html(inv, {"status": "pending"})),
        _text(display.score_card(inv).data),
    ):
        assert f"at least {score} / 100" in shown and "not a low score" in shown
        assert "· low" not in shown and "band: low" not in shown


def test_the_reading_reads_the_same_on_the_card_summary_terminal_and_index(
    empty: EmptyReadings,
) -> None:
    """LookupEvents refused in one region, the rest read holding no call: the activity card said
    "Not allowed to look" / "Could not look", summary.json and the index "incomplete: N data
    issue(s)". Now a partial reading is "incomplete" everywhere, "could not look" is for nothing
    read, and a whole reading is neither — in reading_text's words on every surface."""
    from torinvest.report import one_line_summary
    from torinvest.report.batch import BatchEntry

    whole = _investigate(sample_case().root, SAMPLE_REGIONS)  # the case's regions: whole
    missed = empty.missed  # none of GuardDuty's calls
    nothing = empty.failed  # the one file unreadable: nothing read
    refused = DataIssue("lookup:eu-west-1", "access denied: cloudtrail:LookupEvents")
    partial = dataclasses.replace(
        missed, activity=dataclasses.replace(missed.activity, issues=[refused])
    )
    for case, state, card_word in (
        (whole, "complete", "The key's activity"),
        (missed, "incomplete", "Incomplete"),
        (partial, "incomplete", "Incomplete"),
        (nothing, "could not look", "Could not look"),
    ):
        summary = orjson.loads(orjson.dumps(investigation.summary(case, {"status": "pending"})))
        reading = summary["reading"]
        assert reading["state"] == state, (state, reading)
        card = _plain(display.activity_status(case).data)
        assert card.strip().startswith(card_word), (state, card)
        assert ("ould not look" in card) == (state == "could not look"), (state, card)
        # the answer and the data issues card never say the whole activity could not be looked
        # at when something was read (a refused source beside others read: "refused access")
        said = _plain(display.answer_html(case, {"status": "pending"})) + _plain(
            display.data_issues(case).data
        )
        blind = "ot allowed to look" in said or "ould not look" in said
        assert blind == (state == "could not look"), (state, said)
        if case is partial:
            assert "1 source(s) refused access" in said, said
        line = one_line_summary(summary)
        entry = BatchEntry("f", "ok", data_issues=len(summary["data_issues"]))
        entry.reading, entry.could_not_look = investigation.summary_reading(summary)
        if state == "incomplete":
            assert reading["text"] == f"incomplete: {len(summary['data_issues'])} data issue(s)"
            assert reading["text"].upper() in line
            assert entry.reading_said() == reading["text"]
            assert "Could not look" not in card and "COULD NOT LOOK" not in line
        elif state == "could not look":
            assert reading["text"].startswith("could not look: ")
            assert "COULD NOT LOOK" in line and "INCOMPLETE" not in line
            assert entry.reading_said() == reading["text"]
        else:
            assert "INCOMPLETE" not in line and "COULD NOT LOOK" not in line
