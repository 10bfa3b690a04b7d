"""analysis.baseline: new source IPs, user agents and ASNs against the history."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.analysis.helpers import LEGIT_IP, STORY, expected_by_ip
from torinvest import analysis as an
from torinvest.schema import iso_utc


# --------------------------------------------------------------------------------------------
# baseline
# --------------------------------------------------------------------------------------------
def test_baseline_new_ips_and_user_agents(events: pd.DataFrame, window: tuple) -> None:
    base = an.baseline(events, window[0])
    assert base.has_history and base.note is None
    assert base.history_start == pd.Timestamp(STORY["background"]["start"])
    assert base.new_values("source_ip") == ["185.220.101.34", "109.70.100.66", "199.249.230.87"]
    assert STORY["injection"]["user_agent"] in base.new_values("user_agent")
    usual = base.flags("user_agent")
    assert not any(usual[ua] for ua in expected_by_ip()[LEGIT_IP]["user_agents"])
    assert tuple(base.frame.columns) == an.BASELINE_COLUMNS


def test_baseline_asns(events: pd.DataFrame, window: tuple) -> None:
    asn = {"185.220.101.34": "60729", "109.70.100.66": "208323", LEGIT_IP: "64512"}
    base = an.baseline(events, window[0], ip_asn=asn)
    assert base.new_values("asn") == ["60729", "208323"]
    assert not base.flags("asn")["64512"]


def test_baseline_without_history_is_na_with_a_note(events: pd.DataFrame) -> None:
    base = an.baseline(events, events["event_time"].min())
    assert not base.has_history
    assert base.frame["new"].isna().all()
    assert "cannot tell new" in (base.note or "")
    sig = an.signals(
        events, finding_window=(events["event_time"].min(), events["event_time"].max())
    )
    assert [s for s in sig if s.name.startswith("new_")] == []
    assert any(s.name == "no_baseline" and s.weight == 0 for s in sig)


# --------------------------------------------------------------------------------------------
# no baseline: the score is a floor; its signal names the period looked at
# --------------------------------------------------------------------------------------------
def _tor_only(events: pd.DataFrame, window: tuple) -> pd.DataFrame:
    """The key's calls from Tor at or after the finding's first sighting: nothing before."""
    tor = events["tor"].fillna(False).astype(bool)
    return events[tor & (events["event_time"] >= window[0])].reset_index(drop=True)


def test_no_baseline_names_the_period_from_the_window_start_to_the_first_sighting(
    events: pd.DataFrame, window: tuple
) -> None:
    """The probe: no call before the first sighting said "no activity before the window start
    <first sighting>" — the time named was the first sighting, the window started 14 days
    earlier. The signal names both ends and what it could not evaluate."""
    start = window[0] - pd.Timedelta(days=14)
    found = an.signals(_tor_only(events, window), finding_window=window, read_from=start)
    (sig,) = [s for s in found if s.name == an.NO_BASELINE_SIGNAL]
    first, begin = iso_utc(window[0]), iso_utc(start)
    assert f"from the window start {begin} to the finding's first sighting {first}" in sig.detail
    assert "(the 14 days read before it)" in sig.detail
    assert f"window start {first}" not in sig.detail
    for name in an.BASELINE_WEIGHTS:  # new_source_ip, new_user_agent, new_asn, new_country
        assert name in sig.detail
    assert "score is a floor" in sig.detail and "--lookback-days" in sig.detail
    assert not [s for s in found if s.name in an.NEW_SIGNALS]


def test_a_window_that_starts_at_the_first_sighting_says_it_holds_no_time_before_it(
    events: pd.DataFrame, window: tuple
) -> None:
    for start in (window[0], window[0] + pd.Timedelta(minutes=5)):
        found = an.signals(_tor_only(events, window), finding_window=window, read_from=start)
        (sig,) = [s for s in found if s.name == an.NO_BASELINE_SIGNAL]
        assert sig.detail.startswith(f"the window starts at {iso_utc(start)}, not before the ")
        assert "it holds no time before it" in sig.detail
        assert "a longer --lookback-days" in sig.detail


def test_a_counted_activity_without_history_says_the_same(
    events: pd.DataFrame, window: tuple
) -> None:
    """The engine path (``new_source_ip`` from the per-IP table) words ``no_baseline`` alike."""
    tor_only = _tor_only(events, window)
    counts = (
        tor_only.groupby(["event_time", "source_ip", "event_name", "access_key_id"], sort=True)
        .size()
        .rename("calls")
        .reset_index()
        .assign(failed=0, tor=True)
    )
    table = an.per_ip(tor_only).assign(new=pd.NA)
    start = window[0] - pd.Timedelta(days=3)
    found = an.signals(
        tor_only.iloc[0:0],
        finding_window=window,
        counts=counts,
        per_ip_table=table,
        read_from=start,
    )
    (sig,) = [s for s in found if s.name == an.NO_BASELINE_SIGNAL]
    assert f"from the window start {iso_utc(start)} to the finding's first sighting" in sig.detail
    assert "(the 3 days read before it)" in sig.detail
    assert an.triage_score(found).no_baseline


def test_no_baseline_makes_the_score_a_floor_apart_from_data_issues(
    events: pd.DataFrame, window: tuple
) -> None:
    """A Tor-only key without a baseline scored 20 "low" while the signals that need a
    baseline could add up to 30: the score is "at least 20", at most 50, never "low" — and
    it says nothing failed to be read (no data issue)."""
    found = an.signals(
        _tor_only(events, window),
        finding_window=window,
        read_from=window[0] - pd.Timedelta(days=14),
    )
    found = [s for s in found if s.weight == 0 or s.name == "tor_use"]  # Tor use alone: 20
    score = an.triage_score(found)
    assert (score.score, score.floor, score.no_baseline, score.incomplete) == (
        20,
        True,
        True,
        False,
    )
    assert score.ceiling == 20 + sum(an.BASELINE_WEIGHTS.values()) == 50
    assert score.band == an.NO_BASELINE and score.shown() == "at least 20 / 100 · no baseline"
    assert "at least 20, at most 50 / 100 (low to medium)" in score.note
    assert "Nothing failed to be read" in score.note and "data issues" not in score.note
    assert score.to_dict()["no_baseline"] is True and score.to_dict()["ceiling"] == 50
    # the same signals with a baseline: a plain low score
    plain = an.triage_score([s for s in found if s.name != an.NO_BASELINE_SIGNAL])
    assert (plain.shown(), plain.floor) == ("20 / 100 · low", False)


@pytest.mark.parametrize(
    ("weight", "band", "ceiling"),
    [(0, an.NO_BASELINE, 30), (45, "medium", 75), (90, "high", 100)],
)
def test_a_floor_without_a_baseline_keeps_a_band_it_cannot_leave_below(
    weight: int, band: str, ceiling: int
) -> None:
    found = [
        an.Signal("tor_use", "x", weight),
        an.no_baseline_signal(pd.Timestamp("2023-07-10T12:17:00Z")),
    ]
    score = an.triage_score(found)
    assert (score.band, score.ceiling, score.floor) == (band, ceiling, True)
    assert score.shown() == f"at least {weight} / 100 · {band}"


def test_no_baseline_with_data_issues_is_incomplete_and_says_both() -> None:
    found = [
        an.Signal("tor_use", "x", 20),
        an.no_baseline_signal(pd.Timestamp("2023-07-10T12:17:00Z")),
        an.Signal(an.INCOMPLETE_SIGNAL, "2 data issue(s)", 0),
    ]
    score = an.triage_score(found)
    assert (score.band, score.incomplete, score.no_baseline) == (an.INCOMPLETE, True, True)
    assert score.ceiling is None  # what was not read may hold anything
    assert "No baseline either" in score.note and "Nothing failed" not in score.note
    assert score.shown() == "at least 20 / 100 · incomplete"


def test_new_values_against_a_history_read_in_part_may_be_wrong() -> None:
    """A baseline that exists but was read in part (a region or day not read): the new-value
    signals that fired may be wrong — a partial_baseline signal and the score's note say so,
    with the score without them; no_baseline says a call before may be in what was not read."""
    first = pd.Timestamp("2023-07-10T12:17:00Z")
    found = [
        an.Signal("tor_use", "3 calls", 20),
        an.Signal("new_source_ip", "1 IP(s) not seen before", 10),
        an.Signal("new_user_agent", "1 user agent(s) not seen before", 5),
    ]
    qualified = an.qualify_new(found, 2)
    (partial,) = [s for s in qualified if s.name == an.PARTIAL_BASELINE_SIGNAL]
    assert partial.weight == 0
    assert "new_source_ip (+10), new_user_agent (+5)" in partial.detail
    assert "may have been used in what was not read" in partial.detail
    score = an.triage_score([*qualified, an.Signal(an.INCOMPLETE_SIGNAL, "2 issues", 0)])
    assert score.score == 35
    assert "new_source_ip (+10), new_user_agent (+5)" in score.note
    assert "without them it would be 20" in score.note
    assert an.qualify_new(found, 0) == found  # read whole: nothing added
    (nob,) = an.qualify_new([an.no_baseline_signal(first)], 1)
    assert "a call before the first sighting may be in what was not read" in nob.detail
