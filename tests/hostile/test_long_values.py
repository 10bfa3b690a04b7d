"""Very long attacker-written values (a findings file naming the user with 100 KB, a network
name of 100 KB) in ``summary.json`` and the report's cards: one cut rule
(:func:`torinvest.shown.cut_text`: 1,000 characters, then ``… [cut: N more characters; whole
in WHERE]``), for display and export only — IDs and commands stay whole.

summary.json used to carry ``key.user_name`` and ``source_ips[].asn_org`` whole (a 1 MB name:
1 MB in the file attached to the ticket), and the finding, key and exit-node cards showed them
whole. Catalogued in docs/hostile-inputs.md."""

from __future__ import annotations

import dataclasses

import orjson
import pandas as pd
import pytest

from torinvest import display, report
from torinvest.investigation import FINDING_WHOLE_IN, Investigation
from torinvest.shown import LIMITS, cut_fields

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
CAP = LIMITS["text_chars"]
HUGE_USER = "u" * 100_000
HUGE_ORG = "<b>Org</b> " * 10_000  # markup too: cut, and inert


def _mark(value: str, where: str) -> str:
    return f"… [cut: {len(value) - CAP:,} more characters; whole in {where}]"


@pytest.fixture(scope="module")
def inv(sample_investigation: Investigation) -> Investigation:
    """The sample investigation (tests/conftest.py: built once per worker, read only)."""
    return sample_investigation


@pytest.fixture(scope="module")
def hostile(inv: Investigation) -> Investigation:
    """``inv`` as a hostile findings file makes it: the key's user (and user type) named with
    100 KB, every source IP's and the finding's network name 100 KB."""
    per_ip = inv.per_ip.copy()
    per_ip["asn_org"] = pd.Series([HUGE_ORG] * len(per_ip), index=per_ip.index, dtype="string")
    finding = inv.finding.copy()
    finding["asn_org"] = HUGE_ORG
    key = dataclasses.replace(inv.key, user_name=HUGE_USER, user_type="T" * 5_000)
    return dataclasses.replace(inv, per_ip=per_ip, finding=finding, key=key)


def test_summary_cuts_the_key_user_and_network_names_and_keeps_ids_whole(
    hostile: Investigation,
) -> None:
    data = report.summary_data(hostile, {"status": "pending"})
    assert report.summary_problems(data) == []
    key = data["key"]
    assert key["user_name"] == HUGE_USER[:CAP] + _mark(HUGE_USER, FINDING_WHOLE_IN)
    assert key["user_type"].startswith("T" * CAP + "… [cut: 4,000 more characters")
    assert key["access_key_id"] == hostile.key.access_key_id  # IDs whole
    assert key["principal_id"] == hostile.key.principal_id
    assert data["source_ips"]
    for ip in data["source_ips"]:
        assert ip["asn_org"] == HUGE_ORG[:CAP] + _mark(HUGE_ORG, "per_ip.csv")
    # the file attached to the ticket stays small whatever the findings file names
    assert len(orjson.dumps(data)) < 200_000
    # the investigation itself keeps the whole values (matching, grouping, commands)
    assert hostile.key.user_name == HUGE_USER


def test_the_cards_cut_the_user_and_network_names_with_their_mark(
    hostile: Investigation,
) -> None:
    cards = display.finding_card(hostile.finding, hostile.key).data
    assert display.html_text(HUGE_USER[:CAP] + _mark(HUGE_USER, FINDING_WHOLE_IN)) in cards
    assert display.html_text(HUGE_ORG[:CAP] + _mark(HUGE_ORG, FINDING_WHOLE_IN)) in cards
    assert "u" * (CAP + 1) not in cards and "<b>Org" not in cards
    assert len(cards) < 50_000
    answer = display.answer_html(hostile, {"status": "pending"})
    assert display.html_text(HUGE_USER[:CAP] + _mark(HUGE_USER, FINDING_WHOLE_IN)) in answer
    assert "u" * (CAP + 1) not in answer


def test_cut_fields_cuts_only_the_fields_named() -> None:
    """The one helper summary.json's records go through: named text fields (and a list's text
    items) cut, every other field — IDs, ARNs, commands — as it is."""
    long = "x" * (CAP + 5)
    record = {"user_name": long, "arn": long, "command": long, "agents": [long, "ok"], "n": 3}
    out = cut_fields(record, ("user_name", "agents", "absent"), where="events.csv")
    assert out["user_name"] == "x" * CAP + "… [cut: 5 more characters; whole in events.csv]"
    assert out["agents"] == [out["user_name"], "ok"]
    assert out["arn"] == long and out["command"] == long and out["n"] == 3
    assert "absent" not in out
    assert record["user_name"] == long  # the record itself is left whole
