"""Prose that holds commands — a data issue's ``problem``, a ``why``, a signal's ``detail`` —
with a 1 MB attacker-written value inside (a user name, a finding type, a key label read from a
forged log): ``summary.json`` and the cards stay small, and each backticked command stays whole
and parses as torinvest's own command line (:func:`torinvest.shown.cut_prose`: the text around
the commands is cut at 1,000 characters a run, with the mark). The findings card's "finding(s)
of type T left out" cuts T. Catalogued in docs/hostile-inputs.md."""

from __future__ import annotations

import dataclasses
import shlex

import orjson
import pytest

from torinvest import analysis, display, report
from torinvest.cli import build_parser
from torinvest.errors import DataIssue
from torinvest.findings.records import not_a_tor_finding
from torinvest.investigation import Investigation
from torinvest.shown import LIMITS, cut_prose

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
CAP = LIMITS["text_chars"]
MB = 1_000_000
HUGE = "<b>x</b>" * (MB // 8)  # markup too: cut, and inert
COMMAND = "torinvest events --username=bob --start=2023-07-10T12:17:19Z --case=CASE --out=bob.csv"
#: What a page or a summary.json of the sample holds at most with these values cut.
SMALL = 200_000


def runnable(text: str) -> None:
    """``text`` holds :data:`COMMAND` whole, between backticks, and it parses."""
    assert f"`{COMMAND}`" in text
    argv = shlex.split(COMMAND)
    build_parser().parse_args(argv[1:])  # a usage error fails the test (SystemExit)


def test_prose_is_cut_around_its_commands() -> None:
    prose = f"sign-ins of user {HUGE} not read ({HUGE}): run `{COMMAND}` to read on; {HUGE}"
    cut = cut_prose(prose)
    assert len(cut) < 4 * CAP and cut.count("… [cut: ") == 2 and cut.endswith("characters]")
    runnable(cut)
    assert cut_prose(cut) == cut  # read back from summary.json: cut once, not twice
    assert cut_prose("short `x` text") == "short `x` text"
    assert cut_prose(12) == 12


def test_prose_made_to_look_cut_is_cut() -> None:
    """A value that puts the cut mark at the limit, then a megabyte and ``]`` (what a run cut
    already ends with): it was taken for a run cut already and kept whole (1 MB); now only the
    mark's own tail after the limit is, and a run read back is still cut once."""
    forged = " " + "y" * (CAP - 1) + "… [cut: " + HUGE + "]"  # the run after the command
    cut = cut_prose(f"run `{COMMAND}`{forged}")
    assert len(cut) < 2 * CAP and cut.endswith(f"… [cut: {len(forged) - CAP:,} more characters]")
    runnable(cut)
    assert len(cut_prose(forged.strip())) < 2 * CAP
    for where in ("", "events.csv"):
        once = cut_prose(f"{HUGE} `{COMMAND}` {HUGE}", where=where)
        assert cut_prose(once, where=where) == once and once.count("… [cut: ") == 2


@pytest.fixture(scope="module")
def inv(sample_investigation: Investigation) -> Investigation:
    """The sample investigation (tests/conftest.py: built once per worker, read only)."""
    return sample_investigation


@pytest.fixture(scope="module")
def hostile(inv: Investigation) -> Investigation:
    """The sample with a forged key label (1 MB) on its Tor calls — the tor_and_non_tor
    signal names it — and a data issue naming a 1 MB user around a command."""
    events = inv.events.assign(access_key_id=HUGE)  # one forged key, from Tor and not
    signals = analysis.signals(events)
    assert any(HUGE in s.detail for s in signals)  # the value is in the prose, whole
    issue = DataIssue("sign-ins", f"the sign-ins of user {HUGE} were not read: run `{COMMAND}`")
    return dataclasses.replace(
        inv,
        signals=signals,
        score=analysis.triage_score(signals),
        activity=dataclasses.replace(inv.activity, issues=[*inv.activity.issues, issue]),
    )


def test_summary_json_stays_small_with_its_commands_whole(hostile: Investigation) -> None:
    data = report.summary_data(hostile)
    assert report.summary_problems(data) == []
    raw = orjson.dumps(data).decode()
    assert len(raw) < SMALL, len(raw)
    (issue,) = [i for i in data["data_issues"] if i["source"] == "sign-ins"]
    assert "… [cut: " in issue["problem"]
    runnable(issue["problem"])
    (mixed,) = [s for s in data["signals"] if s["name"] == "tor_and_non_tor"]
    assert "… [cut: " in mixed["detail"] and len(mixed["detail"]) < 2 * CAP


def test_the_cards_stay_small_with_their_commands_whole(hostile: Investigation) -> None:
    issues = display.data_issues(hostile).data
    assert len(issues) < SMALL and "<b>x</b>" not in issues
    runnable(issues)
    for card in (display.score_card(hostile).data, display.signals_table(hostile).data):
        assert len(card) < SMALL and "… [cut: " in card and "<b>x</b>" not in card


def test_the_findings_card_cuts_a_type_left_out() -> None:
    card = display.findings_issues([], {HUGE: 2}).data
    assert len(card) < 3 * CAP and "2 finding(s) of type <code>" in card
    assert "… [cut: " in card and "<b>x</b>" not in card
    message = str(not_a_tor_finding(FINDING, HUGE))
    assert len(message) < 3 * CAP and "… [cut: " in message
