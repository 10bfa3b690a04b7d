"""display: the report's first screen (the answer), tables that never break identifiers and
print every row, the events table's order — on the sample case's investigation. No kernel: the
functions return HTML. (Failed, refused, empty and partial readings: tests/hostile/test_report.py.)"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import orjson
import pandas as pd
import pytest

from tests.offline_regions import SAMPLE_REGIONS
from tests.sample_window import COVERED
from torinvest import display, investigation
from torinvest.case import sample_case
from torinvest.display.markup import _e
from torinvest.investigation import Investigation

STORY = orjson.loads((sample_case().root / "STORY.json").read_bytes())
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = STORY["suspect_key"]["access_key_id"]
BAIT = '<img src=x onerror="document.title=1">'
VERDICT = {
    "status": "malicious",
    "analyst": "ana",
    "rationale": "backdoor user",
    "recorded_at": "2023-07-11T08:00:00Z",
}


def _investigate(case: Path) -> Investigation:
    return investigation.investigate(
        FINDING, investigation.sources_from_parameters(case_dir=str(case)), **COVERED
    )


@pytest.fixture(scope="module")
def inv() -> Investigation:
    """The sample case's investigation, read for its trail's regions (named on Sources:
    sources_from_parameters does not take them with a case folder): a complete reading."""
    sources = investigation.sources_from_parameters(case_dir=str(sample_case().root))
    sources = dataclasses.replace(sources, regions=list(SAMPLE_REGIONS))
    return investigation.investigate(FINDING, sources, **COVERED)


def _text(html: str) -> str:
    """The visible text of an HTML fragment (tags dropped, entities kept)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --------------------------------------------------------------------------------------------
# the answer first
# --------------------------------------------------------------------------------------------
def test_the_answer_of_the_sample_case(inv: Investigation) -> None:
    html = display.answer_html(inv, VERDICT)
    text = _text(html)
    # the finding and the key
    for part in (
        f"Tor finding {FINDING}",
        "UnauthorizedAccess:IAMUser/TorIPCaller",
        f"account {STORY['account_id']}",
        "first seen 2023-07-10 12:17:08 UTC",
        "last seen 2023-07-10 12:20:04 UTC",
        KEY,
        "long-term key of IAMUser benjamin",
    ):
        assert part in text, part
    # the Tor reading: N of M calls, which IPs
    from_tor = STORY["actor_events"]["from_tor"]
    assert f"{from_tor} of {len(inv.events)} calls" in text
    for ip in STORY["tor_ips"]:
        assert ip in text
    # what mattered: the sensitive calls with their targets
    backdoor, new_key = STORY["derived"]["backdoor_user"], STORY["derived"]["backdoor_key"]
    for target in (
        f"user {backdoor}, new key {new_key}",
        "policy arn:aws:iam::aws:policy/AdministratorAccess",
        "secret stratus-red-team-retrieve-secret-6",
        "secret prod/db/credentials",
    ):
        assert target in text, target
    assert "ResourceNotFoundException" in text  # the failed read says so
    # derived keys, the score and its top reasons, the verdict, the next step
    assert f"{STORY['derived']['asia_key']} minted with GetSessionToken" in text
    assert f"{inv.score.score} / 100 · {inv.score.band}" in text
    assert inv.score.reasons[0].name in text
    assert "malicious" in text and "by ana at 2023-07-11 08:00:00 UTC" in text
    assert f"torinvest actions {FINDING} --plan remediate --execute" in text
    # complete, and where it came from
    assert "Complete: every source was read (62 log file(s)); no data issue." in text
    generated = investigation.provenance(inv)
    assert f"Generated {display._time(generated['at'])} by {generated['by']}" in text
    assert "with torinvest" in text and f"case folder {sample_case().root}" in text


def test_the_answer_is_where_the_notebook_shows_it(inv: Investigation) -> None:
    """The slot's placeholder says the run did not finish; answer_first replaces it."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shown: list[tuple[str, dict]] = []
    publish = shell.display_pub.publish

    def record(data: dict, metadata: dict | None = None, **kwargs: object) -> None:
        shown.append((data["text/html"], kwargs))

    shell.display_pub.publish = record  # type: ignore[method-assign]
    try:
        slot = display.answer_slot()
        display.answer_first(slot, inv, VERDICT)
    finally:
        shell.display_pub.publish = publish  # type: ignore[method-assign]
    (placeholder, first), (answer, second) = shown
    assert "the run stopped before the end" in placeholder
    assert second.get("update") is True
    assert first["transient"]["display_id"] == second["transient"]["display_id"]
    assert 'id="torinvest-answer"' in answer


def test_the_answer_escapes_attacker_targets(inv: Investigation) -> None:
    hostile = inv.sensitive.copy()
    hostile.loc[0, "target"] = f"user {BAIT}"
    html = display.answer_html(dataclasses.replace(inv, sensitive=hostile), VERDICT)
    assert BAIT not in html and f"user {BAIT}".replace("<", "&lt;")[:20] in html
    table = display.sensitive_table(dataclasses.replace(inv, sensitive=hostile)).data
    assert BAIT not in table and "&lt;img src=x onerror=&quot;document.title=1&quot;&gt;" in table


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
def test_the_events_table_opens_on_tor_and_sensitive_calls(inv: Investigation) -> None:
    view = display.events_view(inv)
    assert list(view.columns) == list(display.EVENT_TABLE_COLUMNS)
    assert len(view) == len(inv.events)
    first = (view["tor"] == "Tor") | view["sensitive"].notna()
    n = int(first.sum())
    assert first.iloc[:n].all() and not first.iloc[n:].any()  # what matters, then the rest
    for part in (view.iloc[:n], view.iloc[n:]):
        assert part["event_time"].is_monotonic_increasing  # each oldest first
    assert set(view.loc[view["event_name"] == "CreateUser", "sensitive"]) == {"persistence"}
    html = display.events_table(inv).data
    assert display.EVENTS_ORDER in html


def test_tables_class_their_columns_and_print_every_row(inv: Investigation) -> None:
    frame = display.events_view(inv)
    html = display.table(frame, caption="Events").data
    screen, printed = html.split('<div class="ti-print">')
    assert '"className": "ti-id"' in screen and '"className": "ti-long"' in screen
    rows = re.findall(r'<tbody class="ti-row">(.*?)</tbody>', printed, re.S)
    assert len(rows) == len(frame)  # every row, not one page of it
    # printed, a header may break after an underscore (its column as wide as its values)
    heads = re.findall(r'<th class="([^"]+)">(.*?)</th>', printed)
    assert all("<" not in h.replace("_<wbr>", "_") for _, h in heads)
    first_line = [(k, h.replace("<wbr>", "")) for k, h in heads]
    assert ("ti-id", "event_name") in first_line and ("ti-id", "source_ip") in first_line
    # user agents and parameters on the second line of each row, labelled and whole
    assert all("<b>user_agent</b>" in r for r in rows)
    longest = max(frame["user_agent"].dropna(), key=len)
    assert display.html_text(longest) in printed
    capped = display.print_html(frame, max_rows=5, more_where="events.csv", what="events")
    assert capped.count('<tbody class="ti-row">') == 5
    assert (
        f"showing 5 of {len(frame):,} events; {len(frame) - 5:,} more not shown here: "
        f"all {len(frame):,} are in events.csv"
    ) in capped


def test_static_tables_escape_and_class_every_cell() -> None:
    frame = pd.DataFrame(
        {"event_name": ["GetRegionOptStatus"], "user_agent": [BAIT], BAIT: [None], "note": ["x"]}
    )
    html = display.frame_html(frame)
    assert BAIT not in html
    assert '<td class="ti-id">GetRegionOptStatus</td>' in html
    assert '<td class="ti-long">&lt;img src=x onerror=&quot;document.title=1&quot;&gt;</td>' in html
    assert '<th class="ti-text">&lt;img' in html and '<td class="ti-text">—</td>' in html
    printed = display.print_html(frame)
    assert BAIT not in printed and "<b>user_agent</b> &lt;img" in printed
    assert display.column_class("source_ip") == "ti-id"
    assert display.column_class("request_parameters") == "ti-long"
    assert display.column_class("why") == "ti-text"
    assert display.column_class("tor") == "ti-text"  # "not Tor (OR-address lists only)" wraps


def test_style_keeps_identifiers_whole_in_lab_and_the_report() -> None:
    """JupyterLab's own CSS (``.jp-RenderedHTMLCommon td``: white-space normal, max-width
    none) is overridden by rules at least as specific, emitted after it."""
    style = display.STYLE
    assert "table th.ti-id,table td.ti-id{white-space:nowrap}" in style
    assert "table td.ti-long{max-width:28em;white-space:nowrap;overflow:hidden;" in style
    assert "overflow-wrap:anywhere}" in style.split("table td.ti-long:hover")[1][:80]
    assert "word-break:break-word" not in style  # what broke GetRegionOptS|tatus
    assert "@media print" in style and ".ti-screen{display:none !important}" in style


def test_the_answer_of_activity_counted_in_the_engine() -> None:
    """Over the row limit the rows are the sensitive calls only: the totals and each derived
    key's calls come from the engine's counts."""
    sources = investigation.sources_from_parameters(
        case_dir=str(sample_case().root), engine="duckdb", max_rows=10
    )
    counted = investigation.investigate(FINDING, sources)
    assert counted.counted and len(counted.events) < 69
    text = _text(display.answer_html(counted, VERDICT))
    assert f"{STORY['actor_events']['from_tor']} of 71 calls" in text
    assert "Too many events to load as rows" in text
    asia = STORY["derived"]["asia_key"]
    assert display.key_calls(counted, asia) == (5, 5, 0)  # all of them Tor (STORY.md)
    assert "from 109.70.100.66 : 5 call(s), 5 from Tor" in text
    card = _text(display.derived_keys(counted).data)
    assert f"{asia} " in card and " 5 5 " in card


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_calls_of_unknown_tor_status_never_read_as_zero_from_tor(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No exit list covers the calls' times: every count of calls from Tor says how many are of
    unknown status (the tiles, the signals, the derived keys, summary.json, the CLI line) —
    "0 from Tor" alone would read as "not Tor", which nobody checked. The 43 calls from the
    private 10.248.16.43 are not Tor whatever the lists cover (never "unknown")."""
    from torinvest import tor
    from torinvest.report.run import one_line_summary

    monkeypatch.setattr(
        investigation, "exit_lists", lambda sources: tor.load_exit_lists(bundled=False)
    )
    options = {"engine": engine, "max_rows": 10} if engine == "duckdb" else {}
    sources = investigation.sources_from_parameters(case_dir=str(sample_case().root), **options)
    inv = investigation.investigate(FINDING, sources)
    assert inv.totals()["tor_unknown"] == 28 and inv.totals()["from_tor"] == 0
    private = inv.per_ip[inv.per_ip["source_ip"] == "10.248.16.43"]
    assert private["tor"].tolist() == [False] and private["events"].tolist() == [43]
    summary = investigation.summary(inv)
    assert summary["events"]["tor_unknown"] == 28
    assert "0 from Tor, 28 of unknown Tor status" in one_line_summary(summary)
    shown = " ".join(
        _text(h)
        for h in (
            display.answer_html(inv, VERDICT),
            display.activity_status(inv).data,
            display.signals_table(inv).data,
            display.derived_keys(inv).data,
        )
    )
    assert "0 (+28 of unknown Tor status) of 71 calls" in shown
    assert (
        "no call from a listed Tor exit node among the 43 of known Tor status (a list covers "
        "their time, or the address cannot be an exit)"
    ) in shown
    assert "5 call(s), 0 from Tor, 5 of unknown Tor status" in shown
    assert re.search(r"calls from Tor 0 \(\+28 of unknown Tor status\)", shown)
    assert not re.search(r"\b0 from Tor(?!, \d)", shown), shown  # (may be cut short: "3 of unkno…")


def test_the_tor_tile_says_no_tor_call_only_where_a_list_could_say_so() -> None:
    """Every call of unknown status: the tile does not read "no call from a listed Tor exit"."""
    from torinvest.display.answer import _no_tor_call

    assert _no_tor_call(69, 69) == (
        "no exit list can rule Tor out for these calls: whether any came from Tor is unknown"
    )
    assert _no_tor_call(69, 26).startswith(
        "no call from a listed Tor exit node among the 43 of known Tor status"
    )
    assert _no_tor_call(69, 0) == "no call from a listed Tor exit node"


def test_a_derived_keys_expiry_reads_as_the_other_times(inv: Investigation) -> None:
    """CloudTrail writes a minted key's expiration as ``Jul 12, 2023, 12:20:04 AM`` (UTC, a
    12-hour clock): the table and the plan show it as every other time, in UTC."""
    from torinvest import actions

    asia = STORY["derived"]["asia_key"]
    text = _text(display.derived_keys(inv).data)
    assert f"{asia} " in text and " 2023-07-12 00:20:04 UTC " in text
    assert " AM " not in text
    plan = actions.plan_remediation(inv.key, inv.events)
    (revoke,) = [a.why for a in plan.actions if asia in a.why]
    assert "valid until 2023-07-12 00:20:04Z" in revoke
    # a forged expiration that is not a time is shown as written (escaped by the table)
    from torinvest.display.assessment import _expires

    assert _expires("<not a time>") == "<not a time>" and _expires(None) is None
    assert _expires("2023-07-12T00:20:04Z") == "2023-07-12 00:20:04 UTC"


# --------------------------------------------------------------------------------------------
# the triage notebook's findings card: what was left out, said as what it is
# --------------------------------------------------------------------------------------------
def _case_with_an_archived_finding(tmp_path: Path) -> Path:
    """The sample case with its EventBridge Tor finding archived."""
    import shutil

    case = tmp_path / "case"
    shutil.copytree(sample_case().root, case)
    path = case / "findings" / "eventbridge-recon.json"
    event = orjson.loads(path.read_bytes())
    event["detail"]["service"]["archived"] = True
    path.write_bytes(orjson.dumps(event))
    return case


def test_the_findings_card_says_no_zero_count_and_archived_as_archived(tmp_path: Path) -> None:
    from torinvest import report

    sample = investigation.sources_from_parameters(case_dir=str(sample_case().root))
    found = report.open_findings(sample)
    card = display.findings_issues(found.issues, found.skipped, archived=found.archived).data
    assert "archived" not in card  # nothing archived: nothing said (no "0 … left out")
    assert not re.search(r">0 finding", card)
    assert (
        "1 finding(s) of type <code>PrivilegeEscalation:IAMUser/AdministrativePermissions" in card
    )

    archived = investigation.sources_from_parameters(
        case_dir=str(_case_with_an_archived_finding(tmp_path))
    )
    found = report.open_findings(archived)
    assert "archived" not in found.skipped  # not a finding type
    card = display.findings_issues(found.issues, found.skipped, archived=found.archived).data
    assert (
        "1 archived finding(s) left out (<code>include_archived = True</code> lists them)" in card
    )
    assert "of type archived" not in card and "of type <code>archived" not in card
    # zero counts are never said, whatever the caller passes
    card = display.findings_issues([], {"Recon:IAMUser/UserPermissions": 0}, archived=0).data
    assert "left out" not in card


def test_the_findings_own_tor_ip_called_not_tor_is_a_data_issue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full exit lists that lack the IP GuardDuty names as the Tor caller: the lists and
    GuardDuty disagree, and the report says so instead of calling the caller 'not Tor'."""
    from torinvest import tor

    lists = tmp_path / "tor"
    lists.mkdir()
    for path in (sample_case().root / "tor").glob("*.txt"):
        kept = [line for line in path.read_text().splitlines() if line != "109.70.100.66"]
        (lists / path.name).write_text("\n".join(kept) + "\n")
    monkeypatch.setattr(
        investigation, "exit_lists", lambda sources: tor.load_exit_lists(lists, bundled=False)
    )
    inv = _investigate(sample_case().root)
    assert inv.key.tor_ip == "109.70.100.66"
    said = [i.problem for i in inv.data_issues if i.source == f"finding {FINDING}"]
    assert len(said) == 1 and "the finding's Tor IP, are 'not Tor'" in said[0], said


def test_the_answer_names_every_source_read(inv: Investigation) -> None:
    """The provenance line names every source summary.json lists (case, logs, each kind of Tor
    list, both geo sources), and the sources card says where the IPs were placed."""
    from torinvest.investigation import read_sources

    text = _text(display.answer_html(inv, VERDICT))
    for source in read_sources(inv):
        assert _text(_e(source)) in text, source
    assert "IP places" in _text(display.sources_card(inv).data)


def test_files_not_asked_for_do_not_read_as_a_failed_write(tmp_path: Path) -> None:
    """A working copy (export_dir and summary_path empty) writes no file: its card says they
    were not asked for, never "not written" beside a path (a write that fails raises)."""
    html = display.files_written({"events.csv": None, "summary.json": tmp_path / "s.json"}).data
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "events.csv not asked for (export_dir / summary_path empty)" in text
    assert "not written" not in text and str(tmp_path / "s.json") in text
