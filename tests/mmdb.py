"""MaxMind-format databases made in the tests (``mmdb-writer``, a test-only dependency): the
layouts of GeoLite2-ASN, DB-IP Lite ASN, IPinfo Lite and GeoLite2-Country, for the sample
case's public IPs (documentation-range numbers: AS64496–AS64511 are reserved for examples)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Sample-case IP → (ASN, organization) the generated ASN databases answer.
ASNS: Mapping[str, tuple[int, str]] = {
    "3.225.16.109": (64496, "Example Cloud East"),
    "52.45.102.28": (64496, "Example Cloud East"),
    "167.99.201.43": (64497, "Example VPS <b>Hosting</b>"),
    "185.220.101.34": (64498, "Example Tor Relays e.V."),
    "109.70.100.66": (64499, "Example Privacy Foundation"),
    "199.249.230.87": (64500, "Example Exit Networks"),
}


def write_mmdb(
    path: Path,
    database_type: str,
    records: Mapping[str, Mapping[str, Any]],
    *,
    ip_version: int = 6,
) -> Path:
    """A .mmdb at ``path``: each network (CIDR or address) → its record."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(
        ip_version=ip_version, database_type=database_type, ipv4_compatible=ip_version == 6
    )
    for network, record in records.items():
        writer.insert_network(IPSet([network]), dict(record))
    writer.to_db_file(str(path))
    return path


def asn_database(path: Path, layout: str = "geolite2") -> Path:
    """The sample IPs' ASNs in one of the layouts: ``geolite2`` (GeoLite2-ASN), ``dbip``
    (DB-IP Lite ASN, GeoLite2-compatible names), ``ipinfo`` (IPinfo Lite: ``asn`` "AS…",
    ``as_name``, ``country_code``)."""
    records: dict[str, dict[str, Any]] = {}
    for ip, (number, org) in ASNS.items():
        if layout == "ipinfo":
            records[f"{ip}/32"] = {
                "asn": f"AS{number}",
                "as_name": org,
                "as_domain": "example.net",
                "country_code": "NL",
                "country": "Netherlands",
                "continent_code": "EU",
                "continent": "Europe",
            }
        else:
            records[f"{ip}/32"] = {
                "autonomous_system_number": number,
                "autonomous_system_organization": org,
            }
    kind = {
        "geolite2": "GeoLite2-ASN",
        "dbip": "DBIP-ASN-Lite (compat=GeoLite2-ASN)",
        "ipinfo": "ipinfo lite.mmdb",
    }[layout]
    return write_mmdb(path, kind, records)


def country_database(path: Path, country: str = "NL") -> Path:
    """A GeoLite2-Country-shaped database placing the sample's public IPs in ``country``."""
    records = {
        f"{ip}/32": {"country": {"iso_code": country, "names": {"en": "Somewhere"}}} for ip in ASNS
    }
    return write_mmdb(path, "GeoLite2-Country", records)


def damaged_database(path: Path, damage: str = "record") -> Path:
    """A GeoLite2-ASN database that opens but is damaged: ``record`` — the record of
    199.249.230.87 cannot be decoded (its organization's control byte made an unknown type);
    ``tree`` — the search tree and data section byte-flipped (every lookup fails)."""
    data = bytearray(asn_database(path).read_bytes())
    if damage == "record":
        at = data.find(ASNS["199.249.230.87"][1].encode())
        data[at - 1] = 0x00  # an extended type: the next byte + 7, not a MaxMind DB type
    else:
        meta = data.rfind(b"\xab\xcd\xefMaxMind.com")
        for i in range(len(data) // 3, meta - 200):
            data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    return path
