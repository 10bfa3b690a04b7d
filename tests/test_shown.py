"""What a report shows of a busy key's activity (torinvest.shown): every table, card and
summary.json list that shows part of the data says "N of M" and where all of it is; totals are
counted over everything; attacker-written huge values are cut for display with a visible mark
and kept whole in the exports. The limits are lowered here (monkeypatch) so that the sample
case's 71 events are "too many"; the scale they stand for (200,000 events from 20,000 IPs) is
in docs/hostile-inputs.md."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from pathlib import Path

import orjson
import pandas as pd
import pytest

from tests.sample_window import COVERED
from torinvest import display, investigation, report, shown
from torinvest.case import sample_case
from torinvest.investigation import Investigation
from torinvest.post.answer import build_answer
from torinvest.report.run import one_line_summary

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
STORY = orjson.loads((sample_case().root / "STORY.json").read_bytes())
TOR_IPS = {"185.220.101.34", "109.70.100.66", "199.249.230.87"}


@pytest.fixture(scope="module")
def inv() -> Investigation:
    return investigation.investigate(
        FINDING,
        investigation.sources_from_parameters(case_dir=str(sample_case().root)),
        **COVERED,
    )


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _itable_data(html: str) -> list[list[str]]:
    """The data rows the interactive table embeds (itables' ``data_json``)."""
    screen = html.split('<div class="ti-print">')[0]
    data = re.search(r'"data_json": ("(?:[^"\\]|\\.)*")', screen)
    assert data, "no data in the interactive table"
    return json.loads(json.loads(data.group(1)))


def _itable_rows(html: str) -> int:
    return len(_itable_data(html))


# --------------------------------------------------------------------------------------------
# tables: the rows shown are the ones the note says, never downsampled behind it
# --------------------------------------------------------------------------------------------
def test_the_events_table_says_how_many_it_shows_and_where_all_are(
    inv: Investigation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: itables downsampled 200,071 events to 9,615 rows (its first and last, by bytes),
    the search found nothing in the others, and the screen said it only in itables' words."""
    monkeypatch.setitem(shown.LIMITS, "table_rows", 7)
    monkeypatch.setitem(shown.LIMITS, "print_rows", 9)
    monkeypatch.setattr("torinvest.display.markup.TABLE_MAX_BYTES", 100, raising=False)
    total = len(inv.events)
    html = display.events_table(inv).data
    assert _itable_rows(html) == 7  # exactly the rows the note names: Tor and sensitive first
    text = _text(html)
    assert (
        f"showing 7 of {total:,} events (Tor and sensitive calls first); {total - 7:,} more "
        f"not shown here: all {total:,} are in events.csv"
    ) in text
    printed = html.split('<div class="ti-print">')[1]
    assert printed.count('<tbody class="ti-row">') == 9
    assert f"showing 9 of {total:,} events" in _text(printed)
    # the first rows in the table's order: the Tor calls come first
    view = display.events_view(inv)
    assert [r[0] for r in _itable_data(html)] == view["event_time"].head(7).tolist()


def test_the_per_ip_table_keeps_the_tor_ips_and_says_where_all_are(
    inv: Investigation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(shown.LIMITS, "table_rows", 2)
    monkeypatch.setitem(shown.LIMITS, "print_rows", 2)
    total = len(inv.per_ip)
    assert total > 2
    html = display.per_ip_table(inv).data
    assert _itable_rows(html) == 2
    # the busiest Tor IPs, not the first two by first call (the usual address, the VPS)
    assert [r[0] for r in _itable_data(html)] == ["185.220.101.34", "199.249.230.87"]
    assert f"showing 2 of {total:,} source IPs (Tor IPs first, then by calls)" in _text(html)
    assert f"all {total:,} are in per_ip.csv" in _text(html)
    # the printed copy names per_ip.csv too (was "… and N more row(s)" and nowhere)
    assert f"all {total:,} are in per_ip.csv" in _text(html.split('<div class="ti-print">')[1])


def test_a_card_table_shows_its_limit_and_says_so(
    inv: Investigation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sensitive calls were one static table of every call (6,389 rows, 327,000 pixels
    high); the remediation plan likewise (490,000 pixels)."""
    monkeypatch.setitem(shown.LIMITS, "card_rows", 2)
    total = len(inv.sensitive)
    assert total > 2
    html = display.sensitive_table(inv).data
    assert html.count("<tr>") == 1 + 2  # the header and two calls
    assert (
        f"showing 2 of {total:,} sensitive calls (in time order); {total - 2:,} more not shown "
        f"here: all {total:,} are in events.csv (its sensitive column)"
    ) in _text(html)
    plans = display.verdict_section(inv, {"status": "malicious"}).data
    note = re.search(r"showing 2 of ([0-9,]+) calls; .*?are in the dry run of ([^<]+)</p>", plans)
    assert note, _text(plans)[-600:]
    assert note.group(2).startswith(f"torinvest actions {FINDING} --plan remediate")
    assert "--execute" not in note.group(2)  # where to read the plan never runs it


def test_the_answer_names_where_every_sensitive_call_is(
    inv: Investigation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer said "all are in section 4 and summary.json": both may be parts now."""
    monkeypatch.setattr("torinvest.display.answer.ANSWER_MAX_CALLS", 2)
    total = len(inv.sensitive)
    text = _text(display.answer_html(inv, {"status": "pending"}))
    assert f"showing 2 of {total:,} sensitive calls (the first in time)" in text
    assert "all are in section 4" not in text


# --------------------------------------------------------------------------------------------
# attacker-written huge values
# --------------------------------------------------------------------------------------------
def test_a_huge_attacker_value_is_cut_with_a_mark_and_kept_whole_in_the_export(
    inv: Investigation, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A 100 KB user agent was embedded whole in every table (and twice: screen and print)."""
    monkeypatch.setitem(shown.LIMITS, "text_chars", 50)
    huge = "Mozilla/5.0 " + "<b>A</b>" * 600 + " tail"
    events = inv.events.copy()
    events["user_agent"] = events["user_agent"].astype("object")
    events.loc[events.index[0], "user_agent"] = huge
    busy = dataclasses.replace(inv, events=events)
    html = display.events_table(busy).data
    left = len(huge) - 50
    mark = f"… [cut: {left:,} more characters; whole in events.csv]"
    column = list(display.events_view(busy).columns).index("user_agent")
    on_screen = [r[column] for r in _itable_data(html)]  # itables escapes its text cells
    assert display.html_text(huge[:50] + mark) in on_screen
    printed = html.split('<div class="ti-print">')[1]
    assert display.html_text(huge[:50] + mark) in printed
    assert " tail" not in html and "<b>A</b>" not in printed  # cut, and inert
    written = report.export_tables(busy, tmp_path)
    with open(written["events.csv"], newline="", encoding="utf-8") as f:
        agents = [row["user_agent"] for row in csv.DictReader(f)]
    assert huge in agents  # whole in the export
    # the summary's strings are cut too: a summary.json stays small whatever an agent holds
    monkeypatch.setitem(shown.LIMITS, "text_chars", 20)
    inv_ips = busy.per_ip.copy()
    inv_ips["user_agents"] = [[huge, "aws-cli/2"]] + [list(v) for v in inv_ips["user_agents"][1:]]
    data = investigation.summary(dataclasses.replace(busy, per_ip=inv_ips))
    agents = data["source_ips"][0]["user_agents"]
    assert (
        agents[0] == huge[:20] + f"… [cut: {len(huge) - 20:,} more characters; whole in per_ip.csv]"
    )
    assert agents[1] == "aws-cli/2"


# --------------------------------------------------------------------------------------------
# summary.json: bounded lists, totals over everything
# --------------------------------------------------------------------------------------------
def test_summary_lists_are_parts_with_their_totals_and_readers_count_all(
    inv: Investigation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """summary.json listed every source IP and sensitive call: 20,002 IPs, 36 MB. Now the
    first up to ``summary_items`` (Tor first) and ``lists`` gives the totals; the terminal line
    and the ticket's answer count over all of them, not over the list."""
    monkeypatch.setitem(shown.LIMITS, "summary_items", 2)
    data = report.summary_data(inv, {"status": "malicious", "analyst": "ana", "rationale": "x"})
    assert report.summary_problems(data) == []
    ips, sensitive = data["source_ips"], data["sensitive_events"]
    assert len(ips) == 2 and all(s["tor"] is True for s in ips)  # Tor IPs are kept first
    assert data["lists"]["source_ips"] == {
        "listed": 2,
        "total": len(inv.per_ip),
        "all_in": "per_ip.csv",
        "tor": len(TOR_IPS),
        "tor_unknown": 0,
    }
    assert len(sensitive) == 2 and all(e["tor"] for e in sensitive)
    assert data["lists"]["sensitive_events"] == {
        "listed": 2,
        "total": len(inv.sensitive),
        "all_in": "events.csv (its sensitive column)",
    }
    line = one_line_summary(data)
    assert f"{len(TOR_IPS)} Tor IP(s)" in line
    assert f"{len(inv.sensitive)} sensitive call(s)" in line
    answer = build_answer(data).text
    assert f"What mattered: {len(inv.sensitive)} sensitive call(s)" in answer
    assert f"({len(TOR_IPS)} IP(s): " in answer
    assert f"… and {len(inv.sensitive) - 2} more (in the report)" in answer


def test_a_summary_without_lists_counts_its_whole_lists(inv: Investigation) -> None:
    """A summary written before lists were parts has no ``lists``: its lists are whole."""
    data = report.summary_data(inv, {"status": "pending"})
    data.pop("lists")
    assert report.summary_problems(data) == []
    assert shown.listed_total(data, "sensitive_events") == len(inv.sensitive)
    assert shown.tor_ip_counts(data) == (len(TOR_IPS), 0)


def test_derived_keys_and_the_addresses_looked_for_are_parts_with_their_totals(
    inv: Investigation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``derived_keys``, ``ip_pivot_search.ips`` and ``ip_pivot`` were listed whole whatever their length;
    now they are parts like the others (``lists`` gives the totals) and every reader says
    "N of M": the terminal line, the ticket's answer, the report's derived keys card (which
    named summary.json as holding all of them)."""
    from torinvest import campaign
    from torinvest.pivot import IPS_ALL_IN, pivot_table

    around = campaign.look_around(dataclasses.replace(inv))
    derived = [d.access_key_id for d in inv.activity.derived]
    assert len(derived) == 2 and around.pivot is not None and len(around.pivot.ips) == 3
    monkeypatch.setitem(shown.LIMITS, "summary_items", 1)
    data = report.summary_data(around, {"status": "malicious", "analyst": "ana", "rationale": "x"})
    assert report.summary_problems(data) == []
    assert data["derived_keys"] == derived[:1]
    assert data["lists"]["derived_keys"] == {"listed": 1, "total": 2, "all_in": None}
    assert data["ip_pivot_search"]["ips"] == sorted(TOR_IPS)[:1]
    assert data["lists"]["ip_pivot_search.ips"] == {"listed": 1, "total": 3, "all_in": IPS_ALL_IN}
    assert shown.listed_total(data, "ip_pivot_search.ips") == 3
    assert shown.listed_note(data, "ip_pivot_search.ips", "addresses") == (
        f"1 of 3 addresses listed; all in {IPS_ALL_IN}"
    )
    # three other callers of the key's Tor exits (the sample has none): most calls first
    calls = pd.DataFrame(
        {
            "access_key_id": [f"AKIAOTHER{n}EXAMPLE00" for n in (1, 2, 3)],
            "user_name": ["u1", "u2", "u3"],
            "arn": [f"arn:aws:iam::123837392027:user/u{n}" for n in (1, 2, 3)],
            "account_id": ["123837392027"] * 3,
            "source_ip": [sorted(TOR_IPS)[0]] * 3,
            "calls": [1, 5, 2],
            "failed": [0, 1, 0],
            "outcome_unknown": [0, 0, 0],
            "first_seen": pd.to_datetime(["2023-07-10T12:00:00Z"] * 3, utc=True),
            "last_seen": pd.to_datetime(["2023-07-10T12:30:00Z"] * 3, utc=True),
        }
    )
    around.pivot = dataclasses.replace(around.pivot, table=pivot_table(calls))
    callers = 3
    data = report.summary_data(around, {"status": "malicious", "analyst": "ana", "rationale": "x"})
    assert report.summary_problems(data) == []
    assert data["ip_pivot"] == around.pivot.to_summary() and len(data["ip_pivot"]) == 1
    assert data["ip_pivot"][0]["user_name"] == "u2" and data["ip_pivot"][0]["calls"] == 5
    assert data["lists"]["ip_pivot"] == {"listed": 1, "total": callers, "all_in": None}
    assert shown.listed_total(data, "ip_pivot") == callers
    assert "2 derived key(s)" in one_line_summary(data)
    answer = build_answer(data).text
    assert f"Derived keys: {derived[0]} and 1 more (1 of 2 named here)" in answer
    # the card lists them from the investigation; past summary.json's limit it no longer
    # says that all of them are there
    monkeypatch.setitem(shown.LIMITS, "card_rows", 1)
    card = _text(display.derived_keys(inv).data)
    assert "showing 1 of 2 derived keys" in card and "summary.json" not in card
    monkeypatch.setitem(shown.LIMITS, "summary_items", 2)
    card = _text(display.derived_keys(inv).data)
    assert "all 2 are in summary.json (derived_keys)" in card
    # a summary written before these entries lists them whole
    monkeypatch.setitem(shown.LIMITS, "summary_items", 1_000)
    older = report.summary_data(around, {"status": "pending"})
    for name in ("derived_keys", "ip_pivot_search.ips", "ip_pivot"):
        older["lists"].pop(name)
    assert report.summary_problems(older) == []
    assert shown.listed_total(older, "derived_keys") == 2
    assert shown.listed_total(older, "ip_pivot_search.ips") == 3
    assert shown.listed_total(older, "ip_pivot") == len(older["ip_pivot"]) == callers


def test_part_of_picks_by_rank_and_keeps_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(shown.LIMITS, "summary_items", 2)
    frame = pd.DataFrame({"n": [1, 2, 3, 4]})
    head, part = shown.part_of(frame, "summary_items", what="things", rank=[3, 0, 2, 1])
    assert head["n"].tolist() == [2, 4] and (part.shown, part.total) == (2, 4)
    assert part.note() == "showing 2 of 4 things; 2 more not shown here"
    whole, part = shown.part_of([1, 2], "summary_items")
    assert whole == [1, 2] and part.whole and part.note() == ""
