"""Hostile inputs to placing the IPs and matching attack tools: a --geoip database that is
missing, a folder, corrupt, truncated, of another kind, with records that are not maps or of
the wrong IP version; sourceIPAddress values that are IPv6, IPv4-mapped, unparsable or markup;
a user agent with markup. Each is a one-line error naming the file, or a flagged partial result;
no IP is lost and no country is guessed.

Catalogued in docs/hostile-inputs.md ("Where the IPs are; attack tools").
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.mmdb import ASNS, asn_database, damaged_database, write_mmdb
from torinvest import analysis as an
from torinvest import display
from torinvest.errors import InputError
from torinvest.geo import GeoIP
from torinvest.investigation import sources_from_parameters

IPS = pd.Series(
    [
        "185.220.101.34",
        "2a0b:f4c2:2::1",
        "::ffff:109.70.100.66",
        "s3.amazonaws.com",
        "AWS Internal",
        "10.1.2.3",
        "not an address",
        "<img src=x onerror=alert(1)>",
        None,
    ],
    dtype="string",
)


def _placed(geoip: object = None) -> pd.DataFrame:
    return an.place_ips(IPS, geoip=geoip)  # type: ignore[arg-type]


def test_every_source_ip_value_gets_a_kind_and_only_addresses_a_country() -> None:
    placed = _placed()
    assert len(placed) == len(IPS)  # nothing lost
    assert placed["ip_kind"].tolist() == [
        "public",
        "public",
        "public",
        "aws-service",
        "aws-service",
        "private",
        "unparsable",
        "unparsable",
        "missing",
    ]
    assert placed.loc[:2, "country"].notna().all()  # IPv4, IPv6, IPv4-mapped
    assert placed.loc[2, "country"] == "AT"  # ::ffff:109.70.100.66 is 109.70.100.66
    assert placed.loc[3:, ["country", "asn"]].isna().all().all()  # never guessed


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.mmdb", "does not exist"),
        (lambda p: p, "is a folder"),
        (lambda p: _write(p / "empty.mmdb", b""), "cannot be read"),
        (
            lambda p: _write(p / "text.mmdb", b"<html>not a database</html>\n" * 20),
            "cannot be read",
        ),
        (lambda p: _truncated(p), "cannot be read"),
    ],
    ids=["missing", "folder", "empty", "html", "truncated"],
)
def test_a_bad_database_is_one_error_naming_it(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(InputError, match=message) as err:
        sources_from_parameters(case_dir="", geoip=str(path))
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncated(tmp: Path) -> Path:
    whole = asn_database(tmp / "whole.mmdb").read_bytes()
    return _write(tmp / "truncated.mmdb", whole[: len(whole) // 2])


def test_a_database_of_another_kind_answers_nothing_and_says_so(tmp_path: Path) -> None:
    db = write_mmdb(
        tmp_path / "GeoIP2-Anonymous-IP.mmdb",
        "GeoIP2-Anonymous-IP",
        {f"{ip}/32": {"is_anonymous": True, "is_tor_exit_node": True} for ip in ASNS},
    )
    with GeoIP(db) as geo:
        placed = _placed(geo)
        issues = an.geo_provenance(geo).issues
    assert placed.loc[:2, "country_source"].tolist() == ["rir"] * 3  # the RIR data still places
    assert placed["asn"].isna().all()
    (issue,) = issues
    assert issue.source == "geoip" and "gave no country or ASN for any address" in issue.problem
    assert str(db) in issue.problem


def test_records_that_are_not_maps_or_hold_wrong_types_are_ignored(tmp_path: Path) -> None:
    db = write_mmdb(
        tmp_path / "odd.mmdb",
        "GeoLite2-ASN",
        {
            "185.220.101.34/32": {"autonomous_system_number": "AS-not-a-number"},
            "109.70.100.66/32": {"country": {"iso_code": "<b>X</b>"}, "asn": ["AS1"]},
        },
    )
    placed = _placed(str(db))
    assert placed.loc[:2, "asn"].isna().all()
    assert placed.loc[2, ["country", "country_source"]].tolist() == ["AT", "rir"]


def test_an_ipv4_only_database_leaves_ipv6_to_the_rir_data(tmp_path: Path) -> None:
    """An IPv6 address is not looked up in an IPv4-only database (maxminddb refuses it): its
    ASN is unknown — not looked up there, said as such —, never "damaged database … re-download
    it" (the lookup did not fail: the database has no place for it)."""
    records = {f"{ip}/32": {"autonomous_system_number": 64498} for ip in ASNS}
    db = write_mmdb(tmp_path / "v4.mmdb", "GeoLite2-ASN", records, ip_version=4)
    with GeoIP(db) as geo:
        placed = _placed(geo)
        prov = an.geo_provenance(geo)
    assert placed.loc[0, "asn"] == "64498"
    assert pd.isna(placed.loc[1, "asn"]) and placed.loc[1, "country_source"] == "rir"
    (issue,) = prov.issues
    assert issue.source == "geoip" and "damaged" not in issue.problem
    assert issue.problem.startswith(
        f"{db} (GeoLite2-ASN) holds IPv4 addresses only: 1 IPv6 address(es) were not looked up"
    )
    assert "(damaged" not in prov.asn and str(db) in prov.asn


def test_a_database_asked_nothing_is_not_said_to_answer_nothing(tmp_path: Path) -> None:
    """No public address to place (only private, AWS-service or unparsable callers; or only
    IPv6 ones for an IPv4-only database): the database was not asked, so no issue says it
    "gave no country or ASN for any address" (as if it were of another kind)."""
    both = asn_database(tmp_path / "asn.mmdb")
    records = {f"{ip}/32": {"autonomous_system_number": 64498} for ip in ASNS}
    v4 = write_mmdb(tmp_path / "v4.mmdb", "GeoLite2-ASN", records, ip_version=4)
    with GeoIP([both, v4]) as geo:
        an.place_ips(pd.Series(["10.1.2.3", "AWS Internal", None], dtype="string"), geoip=geo)
        assert an.geo_provenance(geo).issues == ()
        an.place_ips(pd.Series(["2001:470:1:908::9001"], dtype="string"), geoip=geo)
        issues = [i.problem for i in an.geo_provenance(geo).issues]
    assert not [i for i in issues if "gave no country or ASN" in i and str(v4) in i]
    assert [i for i in issues if i.startswith(f"{v4} (GeoLite2-ASN) holds IPv4 addresses only")]


def test_a_user_agent_with_markup_is_matched_and_shown_as_text() -> None:
    from tests.analysis.helpers import make_events

    agent = '<script>document.title="PWNED"</script> TruffleHog \x1b[31m\u202e'
    events = make_events(
        [
            {
                "event_time": pd.Timestamp("2024-05-01T10:00Z"),
                "event_name": "GetCallerIdentity",
                "source_ip": "<img src=x onerror=alert(1)>",
                "user_agent": agent,
                "event_id": "1",
            }
        ]
    )
    (sig,) = [s for s in an.signals(events) if s.name == "attack_tool"]
    assert "TruffleHog" in sig.detail
    assert "\x1b" not in sig.detail and "\u202e" not in sig.detail  # control and bidi escaped
    html = display.markup.frame_html(pd.DataFrame([sig.to_dict()]))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html


def test_a_damaged_database_is_said_damaged_not_of_another_kind(tmp_path: Path) -> None:
    """Lookups that fail (a corrupt search tree, one broken record) are counted: a data issue
    "damaged database: N of M lookups failed", the sources line says so, the other addresses
    keep their answers."""
    broken = damaged_database(tmp_path / "one.mmdb", "record")
    with GeoIP(broken) as geo:
        placed = an.place_ips(pd.Series(list(ASNS), dtype="string"), geoip=geo)
        prov = an.geo_provenance(geo)
    asn = dict(zip(ASNS, placed["asn"], strict=True))
    assert pd.isna(asn["199.249.230.87"]) and asn["185.220.101.34"] == "64498"
    (issue,) = prov.issues
    assert issue.source == "geoip"
    assert issue.problem.startswith(f"damaged database: 1 of {len(ASNS)} lookups failed ({broken}")
    assert f"from {broken} (damaged: 1 of {len(ASNS)} lookups failed)" in prov.asn

    corrupt = damaged_database(tmp_path / "all.mmdb", "tree")
    with GeoIP(corrupt) as geo:
        placed = an.place_ips(pd.Series(list(ASNS), dtype="string"), geoip=geo)
        prov = an.geo_provenance(geo)
    assert placed["asn"].isna().all()
    assert (placed["country_source"] == "rir").all()  # the RIR data still places them
    (issue,) = prov.issues  # not "gave no country or ASN: is it a Country, City or ASN…?"
    assert issue.problem.startswith(f"damaged database: {len(ASNS)} of {len(ASNS)} lookups")
    assert "(damaged: " in prov.asn


@pytest.mark.parametrize(
    "value",
    [0, "AS0", 23456, 65535, 4294967295, 4294967296, -5, True, 1.5, "AS99999999999"],
    ids=str,
)
def test_an_asn_that_names_no_network_is_unknown_with_an_issue(
    tmp_path: Path, value: object
) -> None:
    db = write_mmdb(
        tmp_path / "asn.mmdb",
        "GeoLite2-ASN",
        {
            "185.220.101.34/32": {
                "autonomous_system_number": value,
                "autonomous_system_organization": "Bogus",
            },
            "109.70.100.66/32": {"autonomous_system_number": 4294967294},  # the last private
        },
    )
    with GeoIP(db) as geo:
        placed = _placed(geo)
        (issue,) = an.geo_provenance(geo).issues
    assert placed.loc[0, ["asn", "asn_org"]].isna().all()
    assert placed.loc[2, "asn"] == "4294967294"
    assert "1 ASN(s) that name no network" in issue.problem and str(db) in issue.problem


def test_guardduty_asns_that_name_no_network_are_unknown() -> None:
    findings = pd.DataFrame(
        {
            "tor_ip": ["185.220.101.34", "109.70.100.66"],
            "asn": ["0", "64499"],
            "asn_org": ["x", "y"],
        }
    )
    placed = an.place_ips(findings["tor_ip"].astype("string"), findings=findings)
    assert pd.isna(placed.loc[0, "asn"])  # GuardDuty's AS0: unknown, never new_asn's "0"
    assert placed.loc[1, ["asn", "asn_source"]].tolist() == ["64499", "guardduty"]


def test_a_database_built_years_before_the_events_is_said_possibly_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GeoLite2-ASN built in 2015 placing 2023 calls: its answers are kept (named as the
    source) and a data issue says it was built 3,112 days before the earliest event placed and
    may be stale; a database built near the events says nothing of the kind."""
    import mmdb_writer

    from tests.sample_window import COVERED
    from torinvest.case import sample_case
    from torinvest.investigation import investigate

    with monkeypatch.context() as m:
        m.setattr(mmdb_writer.time, "time", lambda: 1420070400)  # 2015-01-01
        old = asn_database(tmp_path / "old.mmdb")
    finding = "6dde0a8f8d46f6acad893b30f905e97c"
    case = str(sample_case().root)
    inv = investigate(finding, sources_from_parameters(case_dir=case, geoip=[str(old)]), **COVERED)
    stale = [i for i in inv.data_issues if "may be stale" in i.problem]
    assert [i.to_dict() for i in stale] == [
        {
            "source": "geoip",
            "problem": f"{old} (GeoLite2-ASN) was built 2015-01-01, 3,112 days before the "
            "earliest event placed (2023-07-10): addresses move between networks and countries, "
            "so its answers may be stale; use a build from near the events' dates",
        }
    ]
    assert "GeoLite2-ASN (built 2015-01-01)" in inv.geo.asn
    assert inv.per_ip.set_index("source_ip").loc["185.220.101.34", "asn"] == "64498"

    with monkeypatch.context() as m:
        m.setattr(mmdb_writer.time, "time", lambda: 1688990400)  # 2023-07-10
        near = asn_database(tmp_path / "near.mmdb")
    inv = investigate(finding, sources_from_parameters(case_dir=case, geoip=[str(near)]), **COVERED)
    assert not [i for i in inv.data_issues if "stale" in i.problem]
