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
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from torinvest.addresses import parse_address
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
#: Special-purpose IPv6 ranges that are not "global" in IANA's registry (nor to
#: :mod:`ipaddress`) yet reach the internet, tunnelled: Teredo (``2001::/32``, RFC 4380) gives
#: hosts behind an IPv4 NAT an IPv6 address. Tor exits use it (dan.me.uk's list names
#: ``2001:0:53aa:64c:81e:609d:e07b:7434``), so an address there is ``public``: never taken as a
#: source that cannot be a Tor exit.
TUNNEL_NETWORKS: tuple[ipaddress.IPv6Network, ...] = (ipaddress.IPv6Network("2001::/32"),)
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_ASN = re.compile(r"^(?:AS)?(\d{1,10})$", re.IGNORECASE)
#: The longest text kept from a database field (an AS organization name).
MAX_FIELD_CHARS = 256
#: Refused values named as examples in a database's issue.
MAX_EXAMPLES = 3
#: The package that ships the RIR delegated statistics, and how to refresh them.
RIR_PACKAGE = "iptocc"
RIR_REFRESH = "pip install --upgrade iptocc"


# --------------------------------------------------------------------------------------------
# what kind of address
# --------------------------------------------------------------------------------------------
def parse_ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a ``sourceIPAddress`` value holds, or None when it holds none: the reading
    the Tor status and the per-IP groups share (:func:`torinvest.addresses.parse_address`:
    brackets taken off, an IPv6 zone ``%eth0`` dropped, an IPv4-mapped IPv6 address as its
    IPv4 address)."""
    return parse_address(value)


def ip_kind(value: Any) -> str:
    """``public`` (a globally routable address, or a tunnelled one: :data:`TUNNEL_NETWORKS`),
    ``private`` (private, loopback, link-local, shared or reserved ranges: no country),
    ``aws-service`` (an AWS service name or ``AWS
    Internal``), ``unparsable`` (anything else) or ``missing`` (no value)."""
    if value is None or not isinstance(value, str) or not value.strip():
        return "missing"
    ip = parse_ip(value)
    if ip is not None:
        return "public" if ip.is_global or _tunnelled(ip) else "private"
    return "aws-service" if _AWS_SERVICE.match(value.strip()) else "unparsable"


def _tunnelled(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``ip`` is in a special-purpose range :mod:`ipaddress` does not count as global
    that nevertheless holds hosts on the internet (:data:`TUNNEL_NETWORKS`)."""
    return isinstance(ip, ipaddress.IPv6Address) and any(ip in n for n in TUNNEL_NETWORKS)


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


#: Autonomous system numbers that name no network (RFC 7607: 0; RFC 6793: 23456, AS_TRANS;
#: RFC 7300: 65535 and 4294967295, the last of each range): an ASN is 1–4294967295 without them.
RESERVED_ASNS: frozenset[int] = frozenset({0, 23456, 65535, 4294967295})
MAX_ASN = 4294967295


def valid_asn(value: Any) -> str | None:
    """The ASN (digits) a value holds — a whole number or ``AS``+digits text — or None when it
    holds none that can name a network: not a number, outside 1–4294967295, or reserved
    (:data:`RESERVED_ASNS`)."""
    text = _text(value)
    match = _ASN.match(text) if text else None
    if match is None:
        return None
    number = int(match.group(1))
    if not 1 <= number <= MAX_ASN or number in RESERVED_ASNS:
        return None
    return str(number)


def _asn_of(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """GeoLite2-ASN, GeoIP2-ISP and DB-IP: ``autonomous_system_number`` (a number) and
    ``autonomous_system_organization``; IPinfo Lite: ``asn`` (``AS15169``) and ``as_name``.
    An ASN :func:`valid_asn` refuses is no ASN (and its organization is dropped with it)."""
    number = record.get("autonomous_system_number", record.get("asn"))
    org = record.get("autonomous_system_organization", record.get("as_name"))
    asn = valid_asn(number)
    return asn, (_text(org) if asn else None)


def _bad_asn(record: Any) -> str | None:
    """The ASN value a record holds that :func:`valid_asn` refuses (shown short), else None."""
    if not isinstance(record, Mapping):
        return None
    number = record.get("autonomous_system_number", record.get("asn"))
    if number is None or valid_asn(number) is not None:
        return None
    return repr(number)[:24]


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


#: What a database gives (:func:`database_kinds`): a country, an ASN (and its organization).
COUNTRY = "country"
ASN = "ASN"


def database_kinds(database_type: str) -> frozenset[str] | None:
    """What a database of this ``database_type`` (its metadata) gives: Country and City
    databases a country (GeoLite2/GeoIP2, DB-IP Lite); ASN and ISP databases an ASN; GeoIP2
    Enterprise and IPinfo's Lite/Core (no kind in the name) both; ``country_asn`` both. None: a
    type not known here (what it holds is judged from what it answers)."""
    t = database_type.lower()
    if "enterprise" in t or ("ipinfo" in t and "asn" not in t and "country" not in t):
        return frozenset({COUNTRY, ASN})
    kinds = set()
    if "asn" in t or "isp" in t:
        kinds.add(ASN)
    if "country" in t or "city" in t:
        kinds.add(COUNTRY)
    return frozenset(kinds) or None


@dataclass(slots=True)
class _Database:
    """One open database, what it gives (``kinds``; None: its type is not known here) and how
    its lookups went: ``asked`` lookups, ``failed`` (a damaged search tree or record),
    ``answered`` (a country or an ASN), ``answers`` per kind, ``bad_asns`` (values refused),
    ``not_covered`` (IPv6 addresses not looked up: an IPv4-only database, ``ip_version`` 4,
    has no place for them — unknown there, not absent nor a lookup that failed)."""

    path: Path
    reader: Any
    kind: str
    built: str | None
    kinds: frozenset[str] | None = None
    ip_version: int = 6
    not_covered: int = 0
    asked: int = 0
    failed: int = 0
    answered: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    bad_asns: list[str] = field(default_factory=list)
    first_error: str | None = None

    def gives(self, what: str) -> bool:
        """Whether this database is a source of ``what`` (its type says so; a type not known
        here: it answered some)."""
        return what in self.kinds if self.kinds is not None else bool(self.answers.get(what))

    def lookup(self, address: str, errors: tuple[type[BaseException], ...]) -> dict[str, str]:
        """The fields of ``address``'s record this database is a source of, counted: a lookup
        that fails (``errors``: a damaged search tree or record) is counted, not raised; an
        IPv6 address is not looked up in an IPv4-only database (counted in ``not_covered``)."""
        if self.ip_version == 4 and ":" in address:
            self.not_covered += 1
            return {}
        self.asked += 1
        try:
            record = self.reader.get(address)
        except errors as e:
            self.failed += 1
            self.first_error = self.first_error or str(e)[:120]
            log.debug("geoip %s: %s: %s", self.path, address, e)
            return {}
        bad = _bad_asn(record)
        if bad is not None:
            self.answers["bad_asn"] = self.answers.get("bad_asn", 0) + 1
            if len(self.bad_asns) < MAX_EXAMPLES and bad not in self.bad_asns:
                self.bad_asns.append(bad)
        found = record_fields(record)
        kept = {
            k: v
            for k, v in found.items()
            if self.kinds is None or (COUNTRY if k == "country" else ASN) in self.kinds
        }
        for what, key in ((COUNTRY, "country"), (ASN, "asn")):
            if key in kept:
                self.answers[what] = self.answers.get(what, 0) + 1
        self.answered += bool(kept)
        return kept

    def name(self) -> str:
        return (
            f"{self.kind}" + (f" (built {self.built})" if self.built else "") + f" from {self.path}"
        )


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
        self._errors = (
            maxminddb.InvalidDatabaseError,
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            OverflowError,
        )
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
            version = 4 if getattr(meta, "ip_version", 6) == 4 else 6
            self._databases.append(
                _Database(path, reader, kind, built, database_kinds(kind), ip_version=version)
            )

    def __call__(self, ip: str) -> dict[str, str] | None:
        out: dict[str, str] = {}
        parsed = parse_ip(ip)
        if parsed is None:
            return None
        for db in self._databases:
            found = db.lookup(str(parsed), self._errors)
            if "country" in found:
                out.setdefault("country", found["country"])
            if "asn" in found and "asn" not in out:  # the organization goes with its number
                out["asn"] = found["asn"]
                if "asn_org" in found:
                    out["asn_org"] = found["asn_org"]
        return out or None

    def describe(self, what: str | None = None) -> list[str]:
        """One line per database (type, build date, path); with ``what`` (:data:`COUNTRY` or
        :data:`ASN`), only the databases that are a source of it (:func:`database_kinds`), a
        damaged one saying how many lookups failed."""
        lines = []
        for db in self._databases:
            if what is not None and not db.gives(what):
                continue
            damage = f" (damaged: {db.failed} of {db.asked} lookups failed)" if db.failed else ""
            lines.append(db.name() + damage)
        return lines

    def silent(self) -> list[str]:
        """Databases that answered no country or ASN for any address asked so far, and whose
        lookups did not fail (a damaged one is :meth:`damaged`); a database asked nothing (no
        public address, or only IPv6 ones in an IPv4-only database: :meth:`uncovered`) is
        not silent — it was not asked."""
        return [
            f"{db.path} ({db.kind})"
            for db in self._databases
            if db.asked and not db.answered and not db.failed
        ]

    def uncovered(self) -> list[str]:
        """``PATH (TYPE) holds IPv4 addresses only: N IPv6 address(es) not looked up …``, one
        per IPv4-only database that was not asked IPv6 addresses (their country/ASN from it is
        unknown: not looked up, neither absent nor a damaged lookup)."""
        return [
            f"{db.path} ({db.kind}) holds IPv4 addresses only: {db.not_covered} IPv6 "
            "address(es) were not looked up in it (what it would give for them is unknown); "
            "add a database that holds IPv6 addresses"
            for db in self._databases
            if db.not_covered
        ]

    def damaged(self) -> list[str]:
        """``damaged database: N of M lookups failed (path: first error)``, one per database
        whose lookups failed (a corrupt search tree or data section)."""
        return [
            f"damaged database: {db.failed} of {db.asked} lookups failed ({db.path}: "
            f"{db.first_error}); re-download it"
            for db in self._databases
            if db.failed
        ]

    def implausible(self) -> list[str]:
        """Databases that gave ASNs no network can have (0, AS_TRANS, past 4294967295, not a
        number): those were treated as unknown."""
        return [
            f"{db.path} ({db.kind}) gave {db.answers['bad_asn']} ASN(s) that name no network "
            f"(e.g. {', '.join(db.bad_asns)}; an ASN is 1–4294967295, not 0, 23456, 65535 or "
            "4294967295): treated as unknown"
            for db in self._databases
            if db.answers.get("bad_asn")
        ]

    def stale(self, events_from: date) -> list[str]:
        """``PATH (TYPE) was built DAY, N days before the earliest event placed (DAY): …``, one
        per database built more than :data:`STALE_DAYS` before ``events_from``."""
        return [
            f"{db.path} ({db.kind}) {line}"
            for db in self._databases
            if (line := stale_line(db.built, events_from)) is not None
        ]

    def without(self, what: str) -> list[str]:
        """The databases (path and type) that are not a source of ``what``, when none is."""
        if any(db.gives(what) for db in self._databases):
            return []
        return [f"{db.path} is a {db.kind} database" for db in self._databases]

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


#: A dataset built more than this many days before the earliest event it places is said to
#: be possibly stale (addresses move between networks and countries).
STALE_DAYS = 180


def stale_line(built: str | None, events_from: date) -> str | None:
    """``was built DAY, N days before the earliest event placed (DAY): …`` when ``built``
    (``YYYY-MM-DD``) is more than :data:`STALE_DAYS` before ``events_from``; else None (a date
    not recorded cannot be judged)."""
    try:
        day = date.fromisoformat(built) if built else None
    except ValueError:
        return None
    if day is None or (events_from - day).days <= STALE_DAYS:
        return None
    return (
        f"was built {day}, {(events_from - day).days:,} days before the earliest event placed "
        f"({events_from}): addresses move between networks and countries, so its answers may "
        "be stale; use a build from near the events' dates"
    )


def check_geoip(paths: Iterable[str | Path]) -> None:
    """Open and close each database: an :class:`InputError` naming a bad one (the CLI checks
    ``--geoip`` this way before a kernel starts)."""
    items = [p for p in paths if str(p)]
    if items:
        GeoIP(items).close()
