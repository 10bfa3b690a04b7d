"""analysis.baseline: new source IPs, user agents and ASNs against the history."""

from __future__ import annotations

import pandas as pd

from tests.analysis.helpers import LEGIT_IP, STORY, expected_by_ip
from torinvest import analysis as an


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
