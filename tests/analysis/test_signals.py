"""analysis.signals and analysis.score: the signals of the sample case, their thresholds, the
triage score.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from tests.analysis.helpers import DERIVED, LEGIT_IP, make_events
from torinvest import analysis as an


# --------------------------------------------------------------------------------------------
# signals and score
# --------------------------------------------------------------------------------------------
def test_signals_of_the_case(events: pd.DataFrame, window: tuple, loaded: Any) -> None:
    found = an.signals(events, finding_window=window, derived_keys=loaded.derived)
    by_name = {s.name: s for s in found}
    assert {
        "tor_use",
        "tor_after_finding",
        "tor_and_non_tor",
        "derived_key_in_use",
        "recon_burst",
        "recon_breadth",
        "recon_denied",
        "sensitive:persistence",
        "sensitive:privilege-escalation",
        "sensitive:credential-access",
        "new_source_ip",
        "concurrent_ips",
        "failed_then_succeeded",
    } <= set(by_name)
    assert "tor_unknown" not in by_name  # the lists cover the whole day
    assert [s.weight for s in found] == sorted((s.weight for s in found), reverse=True)
    persistence = by_name["sensitive:persistence"].detail
    assert all(n in persistence for n in ("CreateUser", "CreateAccessKey", "CreateLoginProfile"))
    derived = by_name["derived_key_in_use"].detail
    assert DERIVED in derived and "199.249.230.87 (Tor)" in derived and "GetSessionToken" in derived
    assert "185.220.101.34" in by_name["recon_denied"].detail
    assert "185.220.101.34" in by_name["recon_breadth"].detail
    assert "3 regions" in by_name["recon_breadth"].detail
    assert DERIVED in by_name["tor_after_finding"].detail  # 12:24, after the finding's 12:20:04
    assert by_name["new_source_ip"].detail.count("(Tor)") == 3
    assert "GetSessionToken" in by_name["failed_then_succeeded"].detail
    assert "24 calls from 3 Tor exit(s)" in by_name["tor_use"].detail
    json.dumps([s.to_dict() for s in found])


def test_triage_score_high_for_the_case_low_for_benign(events: pd.DataFrame, window: tuple) -> None:
    score = an.triage_score(an.signals(events, finding_window=window))
    assert score.score >= 80 and score.band == "high"
    assert len(score.reasons) == an.TOP_REASONS
    assert "not a verdict" in score.note
    assert "not a verdict" in (an.triage_score.__doc__ or "").replace("NOT", "not")
    benign = events[events["source_ip"] == LEGIT_IP]
    low = an.triage_score(an.signals(benign, finding_window=window))
    assert low.band == "low" and low.score < 30
    assert {s.name for s in an.signals(benign, finding_window=window)}.isdisjoint(
        {"tor_use", "derived_key_in_use", "new_source_ip", "sensitive:persistence"}
    )
    assert an.triage_score(an.signals(benign, finding_window=window)).to_dict()["note"]


def test_signals_without_tor_column(events: pd.DataFrame) -> None:
    found = {s.name: s for s in an.signals(events.drop(columns=["tor"]))}
    assert "tor_use" not in found
    assert found["tor_unknown"].weight == 0
    assert "no exit lists" in found["tor_unknown"].detail


def t(minute: float) -> pd.Timestamp:
    return pd.Timestamp("2024-05-01T10:00:00Z") + pd.Timedelta(minutes=minute)


def test_recon_burst_threshold() -> None:
    calls = [f"List{x}" for x in "ABCDE"] * 2  # 10 calls, 5 distinct names, within 2 min
    rows = [
        {"event_time": t(i * 0.2), "event_name": n, "source_ip": "203.0.113.9", "event_id": str(i)}
        for i, n in enumerate(calls)
    ]
    assert "recon_burst" in {s.name for s in an.signals(make_events(rows))}
    assert "recon_burst" not in {s.name for s in an.signals(make_events(rows[:-1]))}
    same = [{**r, "event_name": "ListA"} for r in rows]  # polling one call is not recon
    assert "recon_burst" not in {s.name for s in an.signals(make_events(same))}
    spread = [{**r, "event_time": t(i * 3)} for i, r in enumerate(rows)]
    assert "recon_burst" not in {s.name for s in an.signals(make_events(spread))}


def test_recon_denied_and_retry() -> None:
    rows = [
        {"event_time": t(i), "event_name": "ListRoles", "error_code": "AccessDenied"}
        for i in range(an.RECON_MIN_DENIED)
    ] + [{"event_time": t(9), "event_name": "ListRoles"}]
    rows = [{**r, "source_ip": "203.0.113.9", "event_id": str(i)} for i, r in enumerate(rows)]
    names = {s.name for s in an.signals(make_events(rows))}
    assert {"recon_denied", "failed_then_succeeded"} <= names
    assert "recon_denied" not in {s.name for s in an.signals(make_events(rows[1:]))}
    absent = [{**r, "error_code": "NoSuchBucketPolicy"} if r.get("error_code") else r for r in rows]
    assert "failed_then_succeeded" not in {s.name for s in an.signals(make_events(absent))}


def test_sensitive_all_failed_weighs_half() -> None:
    rows = [
        {"event_time": t(0), "event_name": "StopLogging", "event_source": "cloudtrail.amazonaws.com",
         "error_code": "AccessDenied", "source_ip": "203.0.113.9", "event_id": "1"},
    ]  # fmt: skip
    (sig,) = [s for s in an.signals(make_events(rows)) if s.name == "sensitive:defense-evasion"]
    assert sig.weight == int(an.SENSITIVE_WEIGHTS["defense-evasion"] * an.FAILED_ONLY_FACTOR)
    assert "all failed" in sig.detail


def test_concurrent_ips_ignore_service_sources() -> None:
    rows = [
        {"event_time": t(0), "source_ip": "203.0.113.9"},
        {"event_time": t(1), "source_ip": "ec2.amazonaws.com"},
        {"event_time": t(2), "source_ip": "203.0.113.9"},
    ]
    rows = [{**r, "event_name": "GetObject", "event_id": str(i)} for i, r in enumerate(rows)]
    assert "concurrent_ips" not in {s.name for s in an.signals(make_events(rows))}
    rows[1]["source_ip"] = "198.51.100.7"
    assert "concurrent_ips" in {s.name for s in an.signals(make_events(rows))}


def test_attacker_text_in_details_is_neutralised(events: pd.DataFrame, window: tuple) -> None:
    bait = "aws-cli/2 \x1b[31mred\u202e" + "A" * 200
    frame = events.copy()
    frame["user_agent"] = frame["user_agent"].cat.add_categories([bait])
    frame.loc[frame["source_ip"] == "199.249.230.87", "user_agent"] = bait
    (sig,) = [s for s in an.signals(frame, finding_window=window) if s.name == "new_user_agent"]
    assert "\x1b" not in sig.detail and "\u202e" not in sig.detail
    assert "A" * 100 not in sig.detail
