"""torinvest.geo: what kind of address, the RIR country of every public IP of the sample case
(offline: the autouse guard fails any network use), MaxMind-format databases of each layout
generated with mmdb-writer, and --geoip through the CLI's checks and the Python API."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from tests.mmdb import ASNS, asn_database, country_database, write_mmdb
from torinvest import analysis as an
from torinvest.case import sample_case
from torinvest.geo import GeoIP, ip_kind, parse_ip, rir_countries, rir_dataset
from torinvest.investigation import (
    Investigation,
    investigate,
    read_sources,
    sources_from_parameters,
    summary,
)
from torinvest.sources.logs import load_logs

CASE = sample_case()
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("185.220.101.34", "public"),
        ("2001:4860:4860::8888", "public"),
        ("::ffff:185.220.101.34", "public"),
        (" 185.220.101.34 ", "public"),
        ("10.8.8.10", "private"),
        ("192.168.10.20", "private"),
        ("127.0.0.1", "private"),
        ("100.64.0.1", "private"),  # shared address space (carrier-grade NAT)
        ("fe80::1%eth0", "private"),
        ("2001:0:53aa:64c:81e:609d:e07b:7434", "public"),  # Teredo: tunnelled, on the internet
        ("2001:db8::1", "private"),  # documentation
        ("[2001:db8::1]", "private"),
        ("185.220.101.34%eth0", "unparsable"),  # IPv4 has no zones
        ("::ffff:10.0.0.1", "private"),
        ("s3.amazonaws.com", "aws-service"),
        ("AWS Internal", "aws-service"),
        ("lambda.cn-north-1.amazonaws.com.cn", "aws-service"),
        ("s3.amazonaws.com.evil.example", "unparsable"),
        ("999.1.2.3", "unparsable"),
        ("<script>alert(1)</script>", "unparsable"),
        ("", "missing"),
        (None, "missing"),
    ],
)
def test_ip_kind(value: str | None, kind: str) -> None:
    assert ip_kind(value) == kind


def test_an_ipv4_mapped_address_is_its_ipv4_address() -> None:
    assert str(parse_ip("::ffff:185.220.101.34")) == "185.220.101.34"


def test_every_public_ip_of_the_sample_case_gets_a_country_offline() -> None:
    frame = load_logs(CASE.cloudtrail, workers=1).frame
    ips = pd.Series(frame["source_ip"].dropna().unique()).astype("string")
    placed = an.place_ips(ips)
    public = placed["ip_kind"] == "public"
    assert public.sum() == 6
    assert placed.loc[public, "country"].notna().all()
    assert (placed.loc[public, "country_source"] == "rir").all()
    assert placed.loc[public, "country"].str.fullmatch(r"[A-Z]{2}").all()
    assert placed.loc[~public, ["country", "asn"]].isna().all().all()  # never guessed
    assert set(placed.loc[~public, "ip_kind"]) == {"private", "aws-service"}
    by_ip = dict(zip(ips, placed["country"], strict=True))
    assert by_ip["185.220.101.34"] == "DE" and by_ip["109.70.100.66"] == "AT"


def test_rir_countries_take_ipv6_and_say_none_for_unassigned() -> None:
    assert rir_countries(["2001:4860:4860::8888", "185.220.101.34"]) == ["US", "DE"]
    assert rir_countries(["0.0.0.1"]) == [None]


def test_the_rir_dataset_names_its_version_and_date() -> None:
    ds = rir_dataset()
    text = ds.describe()
    assert ds.version != "unknown" and "iptocc" in text and "pip install --upgrade iptocc" in text
    assert ds.built is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", ds.built)


@pytest.mark.parametrize("layout", ["geolite2", "dbip", "ipinfo"])
def test_each_asn_database_layout_gives_asn_and_org(tmp_path: Path, layout: str) -> None:
    db = asn_database(tmp_path / f"{layout}.mmdb", layout)
    with GeoIP(db) as geo:
        got = geo("167.99.201.43")
        assert got is not None
        assert got["asn"] == "64497" and got["asn_org"] == "Example VPS <b>Hosting</b>"
        assert geo("::ffff:167.99.201.43") == got  # IPv4-mapped: the same address
        assert geo("8.8.8.8") is None
        assert ("country" in got) == (layout == "ipinfo")
        assert geo.describe()[0].endswith(f"from {db}")


def test_a_country_database_places_before_the_rir_data(tmp_path: Path) -> None:
    country = country_database(tmp_path / "country.mmdb", "NL")
    asn = asn_database(tmp_path / "asn.mmdb")
    ips = pd.Series(["185.220.101.34", "8.8.8.8", "10.0.0.1"], dtype="string")
    placed = an.place_ips(ips, geoip=[country, asn])
    assert placed["country"].tolist()[:2] == ["NL", "US"]
    assert placed["country_source"].tolist()[:2] == ["geoip", "rir"]
    assert placed["asn"].tolist()[:2] == ["64498", pd.NA]
    assert placed.loc[2, ["country", "asn"]].isna().all()


@pytest.fixture(scope="module")
def asn_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return asn_database(tmp_path_factory.mktemp("geo") / "GeoLite2-ASN.mmdb")


@pytest.fixture(scope="module")
def with_asn_db(asn_db: Path) -> Investigation:
    """The sample finding investigated with :func:`asn_db` (read only: an investigation costs
    seconds)."""
    return investigate(FINDING, sources_from_parameters(case_dir=str(CASE.root), geoip=str(asn_db)))


@pytest.fixture(scope="module")
def without_db() -> Investigation:
    """The sample finding investigated without a database (read only)."""
    return investigate(FINDING, sources_from_parameters(case_dir=str(CASE.root)))


def test_the_python_api_reads_the_database_into_the_table_and_summary(
    asn_db: Path, with_asn_db: Investigation
) -> None:
    inv = with_asn_db
    table = inv.per_ip.set_index("source_ip")
    for ip in set(ASNS) & set(table.index):
        assert table.loc[ip, "asn"] == str(ASNS[ip][0])
        assert table.loc[ip, "asn_org"] == ASNS[ip][1]
        assert table.loc[ip, "asn_source"] == "geoip"  # the database wins over GuardDuty
    data = summary(inv)
    tor = next(i for i in data["source_ips"] if i["ip"] == "185.220.101.34")
    assert tor["asn"] == "64498" and tor["asn_org"] == "Example Tor Relays e.V."
    assert tor["country"] == "DE" and tor["country_source"] == "rir"
    geo_lines = [s for s in read_sources(inv) if s.startswith("geo:")]
    assert any("GeoLite2-ASN" in s and str(asn_db) in s for s in geo_lines)
    assert any(s.startswith("geo: country: ") and "iptocc" in s for s in geo_lines)


def test_new_asn_compares_the_databases_asns_and_only_with_a_database(
    with_asn_db: Investigation, without_db: Investigation
) -> None:
    """The VPS (AS64497) called before the window; the three Tor exits (AS64498-64500) are new.
    Without a database only GuardDuty's Tor IPs have an ASN: no new_asn then (it would call
    every one new against a history of unknown ASNs)."""
    with_db, without = with_asn_db, without_db
    (new,) = [s for s in with_db.signals if s.name == "new_asn"]
    assert new.detail.startswith("3 ASN(s) not seen before: ")
    assert all(a in new.detail for a in ("64498", "64499", "64500")) and "64497" not in new.detail
    assert not [s for s in without.signals if s.name == "new_asn"]


def test_without_a_database_the_report_says_so(without_db: Investigation) -> None:
    inv = without_db
    lines = read_sources(inv)
    assert any("no MaxMind-format ASN database given (--geoip" in s for s in lines)
    table = inv.per_ip.set_index("source_ip")
    assert table.loc["185.220.101.34", "asn_source"] == "guardduty"


def test_a_database_is_named_for_what_its_type_gives(tmp_path: Path) -> None:
    """A City database places (country) and is no ASN source: the ASN line keeps its note and
    names the database; an ASN database beside it is the ASN source, not the country one."""
    city = write_mmdb(
        tmp_path / "city.mmdb",
        "GeoLite2-City",
        {
            f"{ip}/32": {"city": {"names": {"en": "X"}}, "country": {"iso_code": "FR"}}
            for ip in ASNS
        },
    )
    inv = investigate(FINDING, sources_from_parameters(case_dir=str(CASE.root), geoip=str(city)))
    lines = [s for s in read_sources(inv) if s.startswith("geo:")]
    (country,) = [s for s in lines if s.startswith("geo: country: ")]
    (asn,) = [s for s in lines if s.startswith("geo: ASN: ")]
    assert "GeoLite2-City" in country and str(city) in country
    assert asn.startswith("geo: ASN: no MaxMind-format ASN database given (--geoip")
    assert f"{city} is a GeoLite2-City database, which holds no ASN" in asn
    table = inv.per_ip.set_index("source_ip")
    assert table.loc["167.99.201.43", "country"] == "FR" and pd.isna(
        table.loc["167.99.201.43", "asn"]
    )

    asn_db = asn_database(tmp_path / "asn.mmdb")
    both = investigate(
        FINDING,
        sources_from_parameters(case_dir=str(CASE.root), geoip=[str(city), str(asn_db)]),
    )
    lines = [s for s in read_sources(both) if s.startswith("geo:")]
    (country,) = [s for s in lines if s.startswith("geo: country: ")]
    (asn,) = [s for s in lines if s.startswith("geo: ASN: ")]
    assert str(city) in country and str(asn_db) not in country
    assert str(asn_db) in asn and str(city) not in asn


def test_new_asn_against_earlier_ips_of_unknown_asn_cannot_tell(tmp_path: Path) -> None:
    """A database that knows only a Tor exit (AS64498): the VPS that called before the window
    has no known ASN, so no earlier call's ASN is known — "AS64498 not seen before" cannot be
    told and weighs nothing, naming the earlier IPs."""
    db = write_mmdb(
        tmp_path / "partial.mmdb",
        "GeoLite2-ASN",
        {"185.220.101.34/32": {"autonomous_system_number": 64498}},
    )
    src = sources_from_parameters(case_dir=str(CASE.root), geoip=str(db))
    inv = investigate(FINDING, src, lookback_days=0.5, lookahead_days=0.4)
    (new,) = [s for s in inv.signals if s.name == "new_asn"]
    assert new.weight == 0
    assert new.detail.startswith("1 ASN(s) not seen before: 64498; cannot tell: no earlier call")
    assert "167.99.201.43" in new.detail
