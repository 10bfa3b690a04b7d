"""Geography and tools: the new-country and countries-within-minutes signals on the sample case
extended with non-Tor calls from two more countries, recon per key across rotating Tor exits,
known attack tools' user agents, and the same per-IP places from the files, DuckDB and Athena
engines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.analysis.helpers import CASE, STORY, SUSPECT, make_events
from tests.fake_aws import AthenaRegion
from tests.mmdb import asn_database
from tests.sources.sql.helpers import Recorder, athena_results
from torinvest import analysis as an
from torinvest.attack_tools import load_attack_tools, match_agent, shipped_attack_tools
from torinvest.sources.logs import load_logs
from torinvest.sources.sql import DuckDBEngine, aggregate_sql
from torinvest.sources.sql.athena import AthenaEngine

VPS = STORY["non_tor_actor_ip"]  # 167.99.201.43, US: called before the window


def _extended(events: pd.DataFrame) -> pd.DataFrame:
    """The case plus the key calling, not through Tor, from Japan (1.0.16.1) at 12:30 and Brazil
    (200.160.2.3) at 12:40 — within the hour of the US VPS's 12:08 calls."""
    template = events[events["source_ip"] == VPS].iloc[[0]]
    extra = []
    for n, (ip, when) in enumerate(
        [("1.0.16.1", "2023-07-10T12:30:00Z"), ("200.160.2.3", "2023-07-10T12:40:00Z")]
    ):
        row = template.copy()
        row["source_ip"] = ip
        row["event_time"] = pd.Timestamp(when)
        row["event_id"] = f"extended-{n}"
        row["tor"] = False
        extra.append(row)
    out = pd.concat([events, *extra], ignore_index=True)
    return out


def _signals(events: pd.DataFrame, findings: pd.DataFrame, window: tuple) -> dict[str, Any]:
    table = an.per_ip(events, findings=findings)
    found = an.signals(events, finding_window=window, per_ip_table=table)
    return {s.name: s for s in found}


def test_the_case_alone_has_no_new_country_outside_tor(
    events: pd.DataFrame, findings: pd.DataFrame, window: tuple
) -> None:
    by_name = _signals(events, findings, window)
    new = by_name["new_country"]
    assert new.weight == 0 and "no new country outside Tor" in new.detail
    assert "DE" in new.detail and "AT" in new.detail  # named, via Tor exits only
    assert "countries_within_window" not in by_name  # one non-Tor country (US)


def test_new_countries_and_countries_within_the_hour(
    events: pd.DataFrame, findings: pd.DataFrame, window: tuple
) -> None:
    by_name = _signals(_extended(events), findings, window)
    new = by_name["new_country"]
    assert new.weight == an.GEO_WEIGHTS["new_country"]
    assert new.detail.startswith("2 country(ies) not seen before 2023-07-10 12:11:02")
    assert "JP (1.0.16.1)" in new.detail and "BR (200.160.2.3)" in new.detail
    assert "US" not in new.detail.split(";")[0]  # the VPS called before the window
    travel = by_name["countries_within_window"]
    assert travel.weight == an.GEO_WEIGHTS["countries_within_window"]
    assert travel.detail.startswith("3 countries within 60 min")
    assert "2023-07-10 12:08" in travel.detail and "12:40:00" in travel.detail
    assert "DE" not in travel.detail and "185.220.101.34" not in travel.detail  # Tor left out


def test_new_country_against_earlier_ips_of_unknown_country(
    events: pd.DataFrame, findings: pd.DataFrame, window: tuple
) -> None:
    """ "JP, BR not seen before" holds only against earlier IPs whose country is known: with the
    VPS (the only earlier public IP) unplaced it cannot be told (weight 0, the earlier IPs
    named); beside a placed earlier IP, the unplaced one is named as possibly in them."""
    extended = _extended(events)
    table = an.per_ip(extended, findings=findings)
    table.loc[table["source_ip"] == VPS, "country"] = pd.NA
    found = {s.name: s for s in an.signals(extended, finding_window=window, per_ip_table=table)}
    new = found["new_country"]
    assert new.weight == 0 and "cannot tell: no earlier call's country is known" in new.detail
    assert VPS in new.detail and "JP (1.0.16.1)" in new.detail

    early = extended[extended["source_ip"] == VPS].iloc[[0]].copy()
    early["source_ip"], early["event_id"] = "8.8.4.4", "early-unplaced"
    more = pd.concat([extended, early], ignore_index=True)
    table = an.per_ip(more, findings=findings)
    table.loc[table["source_ip"] == "8.8.4.4", "country"] = pd.NA
    found = {s.name: s for s in an.signals(more, finding_window=window, per_ip_table=table)}
    new = found["new_country"]
    assert new.weight == an.GEO_WEIGHTS["new_country"]
    assert "1 earlier public IP(s) have no known country (8.8.4.4): they may be in these" in (
        new.detail
    )


def test_tor_calls_alone_never_make_countries_within_the_hour() -> None:
    rows = [
        {"event_time": t, "event_name": "ListUsers", "source_ip": ip, "event_id": str(n)}
        for n, (t, ip) in enumerate(
            [
                (pd.Timestamp("2024-05-01T10:00Z"), "185.220.101.34"),
                (pd.Timestamp("2024-05-01T10:05Z"), "109.70.100.66"),
                (pd.Timestamp("2024-05-01T10:10Z"), "1.0.16.1"),
            ]
        )
    ]
    events = make_events(rows)
    events["tor"] = pd.array([True, True, False], dtype="boolean")
    table = an.per_ip(events)
    assert an.geo_signals(events, table, None) == []  # one non-Tor country
    events["tor"] = pd.array([True, pd.NA, False], dtype="boolean")
    (travel,) = an.geo_signals(events, an.per_ip(events), None)
    assert "2 countries" in travel.detail and "1 of these calls have an unknown Tor status" in (
        travel.detail
    )


def test_recon_spread_over_rotating_exits_counts_for_the_key() -> None:
    exits = ["185.220.101.34", "109.70.100.66", "199.249.230.87", "185.220.101.35"]
    names = [f"List{x}" for x in "ABCDE"] * 2  # 10 reads, 5 kinds, in 2 minutes
    rows = [
        {
            "event_time": pd.Timestamp("2024-05-01T10:00Z") + pd.Timedelta(seconds=12 * i),
            "event_name": n,
            "source_ip": exits[i % len(exits)],  # no exit makes a burst on its own
            "event_id": str(i),
        }
        for i, n in enumerate(names)
    ]
    burst = {s.name: s for s in an.signals(make_events(rows))}["recon_burst"]
    assert f"key {SUSPECT} from 4 IPs: 10 calls (5 kinds)" in burst.detail
    one_ip = [{**r, "source_ip": exits[0]} for r in rows]
    detail = {s.name: s for s in an.signals(make_events(one_ip))}["recon_burst"].detail
    assert "key " not in detail and exits[0] in detail  # one IP: named once, per IP


def test_denials_spread_over_exits_count_for_the_key() -> None:
    rows = [
        {
            "event_time": pd.Timestamp("2024-05-01T10:00Z") + pd.Timedelta(minutes=i),
            "event_name": "ListRoles",
            "error_code": "AccessDenied",
            "source_ip": ip,
            "event_id": str(i),
        }
        for i, ip in enumerate(["185.220.101.34", "109.70.100.66", "199.249.230.87"])
    ]
    denied = {s.name: s for s in an.signals(make_events(rows))}["recon_denied"]
    assert f"key {SUSPECT} from 3 IPs: 3 denied" in denied.detail


# --------------------------------------------------------------------------------------------
# known attack tools
# --------------------------------------------------------------------------------------------
#: Real user agents, each from its tool's source (the table's ``source`` column).
TOOL_AGENTS = {
    "TruffleHog": "TruffleHog",
    "Scout Suite": "Scout Suite/5.12.0 Python/3.9.2 Linux/6.0.0-2parrot1-amd64 Scout Suite/5.12.0",
    "Stratus Red Team": "stratus-red-team_8cb1ee36-86c3-4241-a32c-163c78cde7b6",
    "S3 Browser": "S3 Browser/11.5.7 https://s3browser.com",
    "Kali Linux": "aws-cli/2.11.14 Python/3.11.3 Linux/6.1.0-kali7-amd64 exe/x86_64.kali.2023 "
    "prompt/off",
    "Parrot Security": "aws-cli/1.19.1 Python/3.9.2 Linux/6.0.0-2parrot1-amd64 botocore/1.29.58",
    "Pentoo": "Boto3/1.26.45 Python/3.11.4 Linux/6.1.31-pentoo Botocore/1.29.45",
}
BENIGN = [
    "aws-cli/2.13.0 Python/3.11.4 Linux/6.2.0-1009-aws exe/x86_64.ubuntu.22 prompt/off",
    "Boto3/1.34.1 md/Botocore#1.34.1 ua/2.0 os/macos#23.1.0 md/arch#arm64 lang/python#3.12.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    "aws-sdk-go-v2/1.21.0 os/linux lang/go#1.21 md/GOOS#linux api/sts#1.22.0",
    "console.amazonaws.com",
    "kalimba-sync/1.0 parrotfish/2 pentoons",  # the words inside other words
    "AWS Internal",
]


def test_the_table_loads_with_a_source_per_row() -> None:
    tools = shipped_attack_tools()
    assert {t.tool for t in tools} == set(TOOL_AGENTS)
    assert all(t.source.startswith("https://") and 0 < t.weight <= 100 for t in tools)


@pytest.mark.parametrize("tool", list(TOOL_AGENTS))
def test_each_tools_real_user_agent_matches(tool: str) -> None:
    assert tool in [t.tool for t in match_agent(TOOL_AGENTS[tool])]


@pytest.mark.parametrize("agent", BENIGN)
def test_benign_user_agents_match_nothing(agent: str) -> None:
    assert match_agent(agent) == []


def test_an_attack_tool_weighs_as_its_heaviest_tool() -> None:
    rows = [
        {
            "event_time": pd.Timestamp("2024-05-01T10:00Z") + pd.Timedelta(minutes=i),
            "event_name": "GetCallerIdentity",
            "source_ip": ip,
            "user_agent": agent,
            "event_id": str(i),
        }
        for i, (ip, agent) in enumerate(
            [
                ("185.220.101.34", TOOL_AGENTS["Scout Suite"]),
                ("109.70.100.66", TOOL_AGENTS["TruffleHog"]),
                ("109.70.100.66", BENIGN[0]),
            ]
        )
    ]
    events = make_events(rows)
    events["tor"] = pd.array([True, True, True], dtype="boolean")
    sig = {s.name: s for s in an.signals(events)}["attack_tool"]
    assert sig.weight == 25  # TruffleHog's (Scout Suite and Parrot weigh less)
    assert sig.detail.index("TruffleHog") < sig.detail.index("Scout Suite")
    assert "1 call(s) from 109.70.100.66 (Tor)" in sig.detail
    assert "Parrot Security" in sig.detail  # Scout Suite ran on Parrot
    assert "attack_tool" not in {s.name for s in an.signals(make_events(rows[2:]))}


def test_an_analysts_table_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "tools.csv"
    good.write_text(
        "tool,kind,match,pattern,weight,source,note\n"
        "Acme,enumeration,contains,acme-enum/,10,https://example.com/acme,\n"
    )
    (acme,) = load_attack_tools(good)
    assert match_agent("acme-enum/1.0", [acme]) == [acme]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "tool,kind,match,pattern,weight,source,note\nAcme,x,regex,acme-enum/,10,https://e.com,\n"
    )
    with pytest.raises(Exception, match=r"bad\.csv:2: match 'regex' is not one of"):
        load_attack_tools(bad)


# --------------------------------------------------------------------------------------------
# the engines place the IPs alike
# --------------------------------------------------------------------------------------------
def test_files_duckdb_and_athena_give_the_same_places(
    fake_athena: AthenaRegion, tmp_path: Path
) -> None:
    db = asn_database(tmp_path / "GeoLite2-ASN.mmdb")
    kwargs: dict[str, Any] = {
        "access_keys": SUSPECT,
        "follow_derived": True,
        "start": "2023-07-09",
        "end": "2023-07-11",
    }
    frame = load_logs(CASE.cloudtrail, workers=1, **kwargs).frame
    files = an.per_ip(frame, geoip=db).set_index("source_ip")
    recorder = Recorder(DuckDBEngine(CASE.cloudtrail))
    with recorder.engine:
        duck = aggregate_sql(recorder, **kwargs).aggregates
    assert duck is not None
    results = [athena_results(table, dict(query.columns)) for query, table in recorder.outputs]
    fake_athena.add_answers(*results)
    athena = aggregate_sql(AthenaEngine(database="security", sleep=lambda _: None), **kwargs)
    assert athena.aggregates is not None
    columns = list(an.PLACE_COLUMNS)
    for agg in (duck, athena.aggregates):
        counted = an.per_ip_counted(agg.per_ip, agg.by_time, geoip=db).set_index("source_ip")
        pd.testing.assert_frame_equal(counted[columns].sort_index(), files[columns].sort_index())
    assert files.loc["185.220.101.34", "asn"] == "64498"
    assert files.loc[VPS, ["country", "asn_source"]].tolist() == ["US", "geoip"]
