"""Where a source IP is: what kind of address it is (:func:`ip_kind`), its country from the RIR
delegated statistics shipped in the ``iptocc`` package (:func:`rir_countries`,
:func:`rir_dataset`), and its country, ASN and AS organization from a MaxMind-format database
the analyst has (:class:`GeoIP`, read with ``maxminddb``; GeoLite2/GeoIP2, DB-IP Lite and IPinfo
Lite field names alike). Nothing here reads the network.

``sourceIPAddress`` is written by CloudTrail, but a record can carry anything (a hostile file):
every value is parsed with :mod:`ipaddress`; an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``)
stands for its IPv4 address; anything that is not an address is an AWS service name
(``s3.amazonaws.com``, ``AWS Internal``) or unparsable, never given a country.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from torinvest.errors import InputError

log = logging.getLogger(__name__)

GeoLookup = Callable[[str], Mapping[str, Any] | None]
GeoInput = str | Path | Sequence[str | Path] | GeoLookup

#: What a ``sourceIPAddress`` value is (the per-IP table's ``ip_kind``): only ``public``
#: addresses get a country or an ASN.
IP_KINDS: tuple[str, ...] = ("public", "private", "aws-service", "unparsable", "missing")
#: AWS services calling on a principal's behalf: ``<service>.amazonaws.com`` (and the China
#: partition's ``.amazonaws.com.cn``), ``AWS Internal``.
_AWS_SERVICE = re.compile(
    r"^(?:[a-z0-9][a-z0-9-]*\.)+amazonaws\.com(?:\.cn)?$|^aws internal$", re.IGNORECASE
)
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_ASN = re.compile(r"^(?:AS)?(\d{1,10})$", re.IGNORECASE)
#: The longest text kept from a database field (an AS organization name).
MAX_FIELD_CHARS = 256
#: The package that ships the RIR delegated statistics, and how to refresh them.
RIR_PACKAGE = "iptocc"
RIR_REFRESH = "pip install --upgrade iptocc"


# --------------------------------------------------------------------------------------------
# what kind of address
# --------------------------------------------------------------------------------------------
def parse_ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a ``sourceIPAddress`` value holds (an IPv4-mapped IPv6 address as its IPv4
    address; an IPv6 zone ``%eth0`` dropped), or None when it holds none."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def ip_kind(value: Any) -> str:
    """``public`` (a globally routable address), ``private`` (private, loopback, link-local,
    shared or reserved ranges: no country), ``aws-service`` (an AWS service name or ``AWS
    Internal``), ``unparsable`` (anything else) or ``missing`` (no value)."""
    if value is None or not isinstance(value, str) or not value.strip():
        return "missing"
    ip = parse_ip(value)
    if ip is not None:
        return "public" if ip.is_global else "private"
    return "aws-service" if _AWS_SERVICE.match(value.strip()) else "unparsable"


# --------------------------------------------------------------------------------------------
# country from the RIR delegated statistics (iptocc)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CountryDataset:
    """The offline dataset that gives every public IP a country: its name, the package version
    and the date its data was built (None when the package does not say)."""

    name: str
    version: str
    built: str | None

    def describe(self) -> str:
        when = f", data built {self.built}" if self.built else ", data date not recorded"
        return (
            f"{self.name} (iptocc {self.version}{when}; MIT OR Apache-2.0; refresh: {RIR_REFRESH})"
        )


def _require_iptocc() -> Any:
    try:
        import iptocc
    except ImportError as e:  # a dependency: only a broken install lacks it
        raise InputError(
            "the iptocc package (RIR country data) is not installed",
            hint="pip install iptocc (a torinvest dependency); reinstall torinvest",
        ) from e
    return iptocc


def rir_dataset() -> CountryDataset:
    """Which RIR data places the IPs: iptocc's version and the build time of its data (the
    timestamp of the SBOM in its wheel, which is built from the RIRs' nightly files)."""
    _require_iptocc()
    try:
        dist = metadata.distribution(RIR_PACKAGE)
    except metadata.PackageNotFoundError:
        return CountryDataset("RIR delegated statistics", "unknown", None)
    built = None
    for f in dist.files or ():
        if f.name.endswith(".cyclonedx.json"):
            with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
                stamp = json.loads(f.read_text())["metadata"]["timestamp"]
                built = str(stamp)[:10]
                break
    return CountryDataset("RIR delegated statistics", dist.version, built)


def rir_countries(ips: Sequence[str]) -> list[str | None]:
    """The country code (ISO 3166-1 alpha-2, as the RIR registered the block) of each address,
    None where the RIR data has none. ``ips`` are addresses :func:`parse_ip` accepted."""
    if not ips:
        return []
    iptocc = _require_iptocc()
    codes = iptocc.country_code([str(ip) for ip in ips])
    return [c if isinstance(c, str) and _COUNTRY.match(c) else None for c in codes]


# --------------------------------------------------------------------------------------------
# MaxMind-format databases
# --------------------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value).strip()
        return text[:MAX_FIELD_CHARS] or None
    return None


def _country_of(record: Mapping[str, Any]) -> str | None:
    """GeoLite2/GeoIP2 and DB-IP: ``country.iso_code`` (else ``registered_country``); IPinfo
    Lite: ``country_code``; IPinfo's older country_asn: ``country`` holds the code."""
    for key in ("country", "registered_country"):
        part = record.get(key)
        if isinstance(part, Mapping):
            code = _text(part.get("iso_code"))
            if code and _COUNTRY.match(code.upper()):
                return code.upper()
    for key in ("country_code", "country"):
        code = _text(record.get(key))
        if code and _COUNTRY.match(code.upper()) and len(code) == 2:
            return code.upper()
    return None


def _asn_of(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """GeoLite2-ASN, GeoIP2-ISP and DB-IP: ``autonomous_system_number`` (a number) and
    ``autonomous_system_organization``; IPinfo Lite: ``asn`` (``AS15169``) and ``as_name``."""
    number = record.get("autonomous_system_number", record.get("asn"))
    org = record.get("autonomous_system_organization", record.get("as_name"))
    text = _text(number)
    match = _ASN.match(text) if text else None
    return (match.group(1) if match else None), (_text(org) if match else None)


def record_fields(record: Any) -> dict[str, str]:
    """``country``, ``asn`` (digits) and ``asn_org`` from one database record, whichever of
    the known layouts it has; a record that is not a map gives nothing."""
    if not isinstance(record, Mapping):
        return {}
    out: dict[str, str] = {}
    country = _country_of(record)
    if country:
        out["country"] = country
    asn, org = _asn_of(record)
    if asn:
        out["asn"] = asn
        if org:
            out["asn_org"] = org
    return out


@dataclass(slots=True)
class _Database:
    path: Path
    reader: Any
    kind: str
    built: str | None
    answered: int = 0


class GeoIP:
    """Country, ASN and AS organization of an IP from one or more MaxMind-format databases
    (``.mmdb``: GeoLite2/GeoIP2 Country, City, ASN, ISP; DB-IP Lite; IPinfo Lite), read with
    ``maxminddb``. Calling the object with an address returns ``{"country", "asn", "asn_org"}``
    (the keys the databases answer; the first database that answers a key wins) or None.

    A path that does not exist, is not a file, cannot be read or is not a MaxMind DB is an
    :class:`InputError` naming it, raised when the object is made.
    """

    def __init__(self, paths: str | Path | Sequence[str | Path]) -> None:
        import maxminddb

        self._databases: list[_Database] = []
        self._errors = (maxminddb.InvalidDatabaseError, ValueError, TypeError, KeyError)
        items = [paths] if isinstance(paths, str | Path) else list(paths)
        for p in items:
            path = Path(p).expanduser()
            try:
                if not path.is_file():
                    what = "is a folder" if path.is_dir() else "does not exist"
                    raise InputError(
                        f"MaxMind database {path} {what}",
                        hint="--geoip takes the path of a .mmdb file (GeoLite2-ASN, DB-IP "
                        "Lite ASN, IPinfo Lite, or a Country/City database)",
                    )
                reader = maxminddb.open_database(str(path), maxminddb.MODE_MEMORY)
                meta = reader.metadata()
            except InputError:
                self.close()
                raise
            except (maxminddb.InvalidDatabaseError, ValueError, OSError, TypeError) as e:
                self.close()
                raise InputError(
                    f"MaxMind database {path} cannot be read: {getattr(e, 'strerror', None) or e}",
                    hint="pass a valid .mmdb file (re-download it; a .tar.gz must be unpacked)",
                ) from None
            built = None
            with contextlib.suppress(TypeError, ValueError, OverflowError, OSError):
                import datetime as _dt

                built = _dt.datetime.fromtimestamp(int(meta.build_epoch), _dt.UTC).strftime(
                    "%Y-%m-%d"
                )
            kind = _text(meta.database_type) or "unknown type"
            self._databases.append(_Database(path, reader, kind, built))

    def __call__(self, ip: str) -> dict[str, str] | None:
        out: dict[str, str] = {}
        parsed = parse_ip(ip)
        if parsed is None:
            return None
        for db in self._databases:
            try:
                found = record_fields(db.reader.get(str(parsed)))
            except self._errors as e:  # a corrupt search tree or data section
                log.debug("geoip %s: %s: %s", db.path, ip, e)
                continue
            if found:
                db.answered += 1
            if "country" in found:
                out.setdefault("country", found["country"])
            if "asn" in found and "asn" not in out:  # the organization goes with its number
                out["asn"] = found["asn"]
                if "asn_org" in found:
                    out["asn_org"] = found["asn_org"]
        return out or None

    def describe(self) -> list[str]:
        """One line per database: its type, build date and path."""
        return [
            f"{db.kind}" + (f" (built {db.built})" if db.built else "") + f" from {db.path}"
            for db in self._databases
        ]

    def silent(self) -> list[str]:
        """Databases that answered no country or ASN for any address asked so far."""
        return [f"{db.path} ({db.kind})" for db in self._databases if not db.answered]

    def close(self) -> None:
        for db in self._databases:
            with contextlib.suppress(Exception):
                db.reader.close()
        self._databases = []

    def __enter__(self) -> GeoIP:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def check_geoip(paths: Iterable[str | Path]) -> None:
    """Open and close each database: an :class:`InputError` naming a bad one (the CLI checks
    ``--geoip`` this way before a kernel starts)."""
    items = [p for p in paths if str(p)]
    if items:
        GeoIP(items).close()
