"""analysis.per_ip: the per-IP table of the sample case, geo, summary.json's source_ips."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.analysis.helpers import CASE, LEGIT_IP, STORY, TOR_IPS, expected_by_ip
from torinvest import analysis as an
from torinvest import tor
from torinvest.errors import InputError
from torinvest.schema import iso_utc


# --------------------------------------------------------------------------------------------
# per IP
# --------------------------------------------------------------------------------------------
def test_per_ip_is_exactly_the_story(events: pd.DataFrame, findings: pd.DataFrame) -> None:
    table = an.per_ip(events, findings=findings)
    assert tuple(table.columns) == an.PER_IP_COLUMNS
    got = {
        r.source_ip: {
            "events": r.events,
            "failed": r.failed,
            "tor": bool(r.tor),
            "user_agents": r.user_agents,
            "regions": r.regions,
            "keys": r.access_keys,
            "first_seen": iso_utc(r.first_seen),
            "last_seen": iso_utc(r.last_seen),
        }
        for r in table.itertuples()
    }
    want = {
        ip: {
            "events": e["events"],
            "failed": e["failed"],
            "tor": e["tor"],
            "user_agents": sorted(e["user_agents"]),
            "regions": sorted(e["regions"]),
            "keys": sorted(e["keys"]),
            "first_seen": e["first_seen"],
            "last_seen": e["last_seen"],
        }
        for ip, e in expected_by_ip().items()
    }
    assert got == want
    assert table["first_seen"].is_monotonic_increasing
    assert table["tor_events"].sum() == STORY["actor_events"]["from_tor"]  # all are loaded


def test_tor_status_from_the_case_lists_agrees(events: pd.DataFrame) -> None:
    """The real tor column (torinvest.tor on the case's exit lists) is the one the tests build."""
    status = tor.tor_status(events, tor.load_exit_lists(CASE.tor, bundled=False))
    pd.testing.assert_series_equal(status, events["tor"], check_names=False)
    table = an.per_ip(events.assign(tor=status)).set_index("source_ip")
    assert set(table.index[table["tor"]]) == TOR_IPS


def test_per_ip_new_geo_and_derived(events: pd.DataFrame, findings: pd.DataFrame) -> None:
    table = an.per_ip(events, findings=findings).set_index("source_ip")
    # window start = earliest finding first_seen (12:11:02): the VPS called at 12:08, before it
    assert table["new"].to_dict() == {
        LEGIT_IP: False,
        STORY["non_tor_actor_ip"]: False,
        **dict.fromkeys(TOR_IPS, True),
    }
    geo = findings.set_index("tor_ip")
    for ip in geo.index:  # ASN from the finding's remoteIpDetails, country from the RIR data
        assert table.loc[ip, "asn_org"] == geo.loc[ip, "asn_org"]
        assert table.loc[ip, "asn_source"] == "guardduty"
    assert table.loc["185.220.101.34", ["country", "country_source"]].tolist() == ["DE", "rir"]
    assert table.loc["109.70.100.66", "country"] == "AT"
    vps = STORY["non_tor_actor_ip"]
    assert table.loc[vps, ["ip_kind", "country_source"]].tolist() == ["public", "rir"]
    assert table.loc[vps, ["asn", "asn_org", "asn_source"]].isna().all()
    assert table.loc[LEGIT_IP, "ip_kind"] == "private"  # never a country
    assert table.loc[LEGIT_IP, ["country", "country_source"]].isna().all()
    # the ASIA key's address, and the VPS the key the suspect key created (CreateAccessKey) called from
    derived_ips = {"199.249.230.87", vps}
    assert table["derived"].to_dict() == {ip: ip in derived_ips for ip in table.index}
    assert table.loc["185.220.101.34", "event_names"]["DescribeInstances"] == 5


def test_per_ip_takes_a_geoip_lookup(events: pd.DataFrame, findings: pd.DataFrame) -> None:
    asked: list[str] = []
    vps = STORY["non_tor_actor_ip"]

    def lookup(ip: str) -> dict[str, str] | None:
        asked.append(ip)
        return {"country": "NL", "asn": "64500", "asn_org": "Example"} if ip == vps else None

    table = an.per_ip(events, findings=findings, geoip=lookup).set_index("source_ip")
    assert LEGIT_IP not in asked  # a private address is never looked up
    assert table.loc[vps, ["country", "country_source", "asn", "asn_source"]].tolist() == [
        "NL",
        "geoip",
        "64500",
        "geoip",
    ]
    # the database has nothing for the Tor IP: RIR country, the finding's ASN
    assert table.loc["185.220.101.34", ["country_source", "asn_source"]].tolist() == [
        "rir",
        "guardduty",
    ]


def test_a_missing_geoip_database_is_a_clear_error(events: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"GeoLite2-ASN\.mmdb does not exist") as err:
        an.per_ip(events, geoip=tmp_path / "GeoLite2-ASN.mmdb")
    assert "--geoip takes the path of a .mmdb file" in str(err.value)


def test_per_ip_without_tor_column_says_unknown(events: pd.DataFrame) -> None:
    table = an.per_ip(events.drop(columns=["tor"]))
    assert table["tor"].isna().all()
    assert (table["tor_events"] == 0).all()
    assert table["new"].isna().all()  # no window start given


def test_summary_source_ips_follows_the_contract(
    events: pd.DataFrame, findings: pd.DataFrame
) -> None:
    items = an.summary_source_ips(an.per_ip(events, findings=findings))
    json.dumps(items)  # JSON-ready
    assert {tuple(sorted(i)) for i in items} == {
        tuple(
            sorted(
                (
                    *("events", "failed", "outcome_unknown", "first_seen", "ip", "last_seen"),
                    *("new", "tor", "tor_caveat"),
                    *("user_agents", *an.PLACE_COLUMNS),
                    *an.PER_IP_LIST_COUNTS.values(),
                )
            )
        )
    }
    tor = next(i for i in items if i["ip"] == "185.220.101.34")
    assert tor["tor"] is True and tor["new"] is True and tor["first_seen"] == "2023-07-10T12:11:02Z"
    assert tor["country"] == "DE" and tor["asn"] == "60729" and tor["asn_source"] == "guardduty"
    assert all(i["country"] for i in items if i["ip_kind"] == "public")  # every public IP placed
