"""Where the calls came from: each source IP placed (:func:`place_ips`: its kind, country and
ASN, and where each came from), which datasets placed them (:func:`geo_provenance`), and the
signals geography gives (:func:`geo_signals`): a country the key never called from before the
window, and calls from several countries within :data:`TRAVEL_WINDOW`.

Tor calls: a Tor circuit leaves from an exit the client does not choose, so one Tor user
"visits" many countries in minutes by design. Calls whose ``tor`` status is True are left out of
both signals (their countries are named, not counted); calls of unknown Tor status are counted
and the detail says how many there were.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from torinvest.addresses import canonical_column
from torinvest.analysis.helpers import _EPOCH, DETAIL_ITEMS, _bools, _hm, _listing, _seconds
from torinvest.errors import DataIssue
from torinvest.geo import (
    ASN,
    COUNTRY,
    GeoInput,
    GeoIP,
    ip_kind,
    parse_ip,
    rir_countries,
    rir_dataset,
    stale_line,
    valid_asn,
)
from torinvest.grouping import tor_column
from torinvest.schema import utc_timestamp

#: The per-IP columns this module fills (see :func:`place_ips`).
PLACE_COLUMNS: tuple[str, ...] = (
    "ip_kind",
    "country",
    "country_source",
    "asn",
    "asn_org",
    "asn_source",
)
#: "Several countries within": calls (not from Tor) from at least :data:`TRAVEL_MIN_COUNTRIES`
#: countries within this time of each other.
TRAVEL_WINDOW = pd.Timedelta(minutes=60)
TRAVEL_MIN_COUNTRIES = 2
GEO_WEIGHTS: Mapping[str, int] = {"new_country": 10, "countries_within_window": 15}


# --------------------------------------------------------------------------------------------
# placing the IPs
# --------------------------------------------------------------------------------------------
def _findings_asn(findings: pd.DataFrame | None) -> dict[str, tuple[str | None, str | None]]:
    """The Tor IP → (asn, asn_org) GuardDuty gave in the findings' remoteIpDetails."""
    if findings is None or findings.empty or "tor_ip" not in findings.columns:
        return {}
    out: dict[str, tuple[str | None, str | None]] = {}
    for ip, asn, org in zip(
        findings["tor_ip"], findings.get("asn"), findings.get("asn_org"), strict=True
    ):
        number = valid_asn(asn.strip()) if isinstance(asn, str) else None
        if isinstance(ip, str) and number is not None:  # AS0, AS_TRANS…: no network's
            out.setdefault(ip, (number, org if isinstance(org, str) else None))
    return out


def place_ips(
    ips: pd.Series, *, findings: pd.DataFrame | None = None, geoip: GeoInput | None = None
) -> pd.DataFrame:
    """One row per value of ``ips`` (same index), all ``string``:

    ============== ==========================================================================
    ip_kind        public, private, aws-service, unparsable or missing (:func:`.geo.ip_kind`)
    country        ISO 3166-1 alpha-2 code; public addresses only
    country_source ``geoip`` (the analyst's database) or ``rir`` (the RIR delegated
                   statistics of the ``iptocc`` package); NA when there is no country
    asn, asn_org   the autonomous system number (digits) and its organization
    asn_source     ``geoip`` or ``guardduty`` (the findings' remoteIpDetails for their Tor IP)
    ============== ==========================================================================

    ``geoip``: MaxMind-format database path(s), an open :class:`.geo.GeoIP`, or a callable
    ``ip -> {"country", "asn", "asn_org"}``. A country is never guessed: private, AWS-service,
    unparsable and missing values have none; a public address the datasets do not know has NA.
    """
    values = ips.astype("object").where(ips.notna(), None).tolist()
    kinds = [ip_kind(v) for v in values]
    parsed = [
        str(parse_ip(v)) if k == "public" else None for v, k in zip(values, kinds, strict=True)
    ]
    n = len(values)
    country: list[str | None] = [None] * n
    c_source: list[str | None] = [None] * n
    asn: list[str | None] = [None] * n
    asn_org: list[str | None] = [None] * n
    a_source: list[str | None] = [None] * n
    public = [i for i in range(n) if parsed[i] is not None]
    if geoip is not None and public:
        source = nullcontext(geoip) if callable(geoip) else GeoIP(geoip)  # type: ignore[arg-type]
        with source as lookup:
            for i in public:
                found = lookup(str(parsed[i])) or {}
                if isinstance(found.get("country"), str):
                    country[i], c_source[i] = found["country"], "geoip"
                if isinstance(found.get("asn"), str):
                    asn[i], a_source[i] = found["asn"], "geoip"
                    org = found.get("asn_org")
                    asn_org[i] = org if isinstance(org, str) else None
    missing = [i for i in public if country[i] is None]
    for i, code in zip(missing, rir_countries([str(parsed[i]) for i in missing]), strict=True):
        if code:
            country[i], c_source[i] = code, "rir"
    guardduty = _findings_asn(findings)
    for i in range(n):
        if asn[i] is None and isinstance(values[i], str) and values[i] in guardduty:
            asn[i], asn_org[i] = guardduty[values[i]]
            a_source[i] = "guardduty"
    columns = {
        "ip_kind": kinds,
        "country": country,
        "country_source": c_source,
        "asn": asn,
        "asn_org": asn_org,
        "asn_source": a_source,
    }
    return pd.DataFrame(
        {c: pd.array(v, dtype="string") for c, v in columns.items()}, index=ips.index
    )


@dataclass(frozen=True, slots=True)
class GeoProvenance:
    """Which datasets placed the IPs (``summary.json``'s ``generated.sources`` lines ``geo:
    …``; the report's sources) and what went wrong with them (data issues)."""

    country: str
    asn: str
    issues: tuple[DataIssue, ...] = field(default_factory=tuple)

    def lines(self) -> list[str]:
        return [f"geo: country: {self.country}", f"geo: ASN: {self.asn}"]


def geo_provenance(geoip: GeoIP | None, events_from: Any = None) -> GeoProvenance:
    """The country dataset (the analyst's Country/City databases first, then the RIR data) and
    the ASN source (the analyst's ASN databases; without one, GuardDuty's for the Tor IPs): a
    database is named for what its type gives (:func:`.geo.database_kinds`). Data issues: a
    damaged database (lookups that failed), one that answered nothing for any address asked
    (a database of another kind), IPv6 addresses an IPv4-only database could not be asked
    (:meth:`.geo.GeoIP.uncovered`), ASNs that name no network, and —
    with ``events_from`` (the earliest event's time) — a dataset built more than
    :data:`.geo.STALE_DAYS` before it (:func:`.geo.stale_line`)."""
    dataset = rir_dataset()
    rir = dataset.describe()
    start = utc_timestamp(events_from)
    day = start.date() if start is not None else None
    stale = stale_line(dataset.built, day) if day is not None else None
    rir_issues = [DataIssue("geo", f"the RIR country data ({rir}) {stale}")] if stale else []
    no_asn = (
        "no MaxMind-format ASN database given (--geoip / geoip{why}): ASN and AS organization "
        "only for the findings' Tor IPs, from GuardDuty"
    )
    if geoip is None:
        return GeoProvenance(rir, no_asn.format(why=""), tuple(rir_issues))
    countries = "; ".join(geoip.describe(COUNTRY))
    asns = "; ".join(geoip.describe(ASN))
    without = "; ".join(geoip.without(ASN))
    issues = [DataIssue("geoip", text) for text in geoip.damaged()]
    issues += [
        DataIssue(
            "geoip",
            f"{name} gave no country or ASN for any address: is it a Country, City or ASN "
            "database (GeoLite2, DB-IP Lite, IPinfo Lite)?",
        )
        for name in geoip.silent()
    ]
    issues += [DataIssue("geoip", text) for text in geoip.uncovered()]
    issues += [DataIssue("geoip", text) for text in geoip.implausible()]
    issues += [DataIssue("geoip", text) for text in geoip.stale(day)] if day is not None else []
    issues += rir_issues
    return GeoProvenance(
        f"{countries} where it answers, else {rir}" if countries else rir,
        asns or no_asn.format(why=f": {without}, which holds no ASN" if without else ""),
        tuple(issues),
    )


# --------------------------------------------------------------------------------------------
# signals
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Observation:
    """A signal before it is one: name, detail, weight (:mod:`.signals` turns it into a
    :class:`.signals.Signal`)."""

    name: str
    detail: str
    weight: int


def _ip_country(table: pd.DataFrame) -> pd.Series:
    keep = table["country"].notna() & table["source_ip"].notna()
    return pd.Series(
        table.loc[keep, "country"].astype(str).to_numpy(),
        index=table.loc[keep, "source_ip"].astype(str).to_numpy(),
    )


def new_country_signals(table: pd.DataFrame, window_start: Any) -> list[Observation]:
    """``new_country``: countries of IPs that called at/after ``window_start`` (not Tor exits)
    while no IP of that country called before it. Nothing when nothing precedes the window (the
    ``no_baseline`` signal says so). Countries reached only through Tor exits are named in the
    detail and weigh nothing."""
    start = utc_timestamp(window_start)
    if start is None or table.empty or "country" not in table.columns:
        return []
    before = (table["first_seen"] < start).fillna(False).to_numpy(dtype=bool)
    if not before.any():
        return []
    during = (table["last_seen"] >= start).fillna(False).to_numpy(dtype=bool)
    has = table["country"].notna().to_numpy(dtype=bool)
    seen = set(table.loc[before & has, "country"].astype(str))
    fresh = table[during & has & ~table["country"].astype(str).isin(seen).to_numpy()]
    if fresh.empty:
        return []
    fresh = fresh.sort_values("first_seen", kind="stable")
    not_tor = fresh[~fresh["tor"].astype("boolean").fillna(False).to_numpy(dtype=bool)]
    tor_only = sorted(set(fresh["country"].astype(str)) - set(not_tor["country"].astype(str)))
    items = [
        f"{c} ({_listing(list(g['source_ip'].astype(str)), 3)})"
        for c, g in not_tor.groupby("country", sort=False)
    ]
    via_tor = (
        f"; via Tor exits only (not counted: Tor hops countries by design): {_listing(tor_only)}"
        if tor_only
        else ""
    )
    if items:
        return [_new_country(table, before, start, items, via_tor)]
    return [
        Observation(
            "new_country",
            f"no new country outside Tor{via_tor}",
            0,
        )
    ]


def _new_country(
    table: pd.DataFrame, before: np.ndarray, start: pd.Timestamp, items: list[str], via_tor: str
) -> Observation:
    """``new_country`` for ``items``: when no earlier call has a known country (only private or
    AWS-service callers, or public IPs no dataset places), new cannot be told from usual and it
    weighs nothing; otherwise its detail names the earlier public IPs without a known country
    (one of them may be in those countries)."""
    detail = f"{len(items)} country(ies) not seen before {_hm(start)}: {_listing(items, total=len(items))}"
    has = table["country"].notna().to_numpy(dtype=bool)
    public = (
        (table["ip_kind"] == "public").fillna(False).to_numpy(dtype=bool)
        if "ip_kind" in table.columns
        else np.ones(len(table), dtype=bool)
    )
    if not (before & has).any():
        earlier = list(table.loc[before, "source_ip"].astype(str))
        return Observation(
            "new_country",
            f"{detail}; cannot tell: no earlier call's country is known (earlier IP(s): "
            f"{_listing(earlier, 3)}){via_tor}",
            0,
        )
    unknown = list(table.loc[before & public & ~has, "source_ip"].astype(str))
    if not unknown:
        return Observation("new_country", detail + via_tor, GEO_WEIGHTS["new_country"])
    return Observation(
        "new_country",
        f"{detail}; {len(unknown)} earlier public IP(s) have no known country "
        f"({_listing(unknown, 3)}): they may be in these{via_tor}",
        GEO_WEIGHTS["new_country"],
    )


def travel_signals(frame: pd.DataFrame, table: pd.DataFrame) -> list[Observation]:
    """``countries_within_window``: calls not from Tor exits, from at least
    :data:`TRAVEL_MIN_COUNTRIES` countries within :data:`TRAVEL_WINDOW` — the most countries
    any window holds, when it starts, and each country's IPs. ``frame``: the events frame, or a
    by-time counts frame (``calls``; times are then bucket starts). ``table``: the per-IP table
    (its ``country``)."""
    if frame.empty or table.empty or "country" not in table.columns:
        return []
    countries = _ip_country(table)
    if countries.empty:
        return []
    tor = _bools(tor_column(frame))
    unknown = tor_column(frame).isna().to_numpy(dtype=bool)
    ip = canonical_column(frame["source_ip"])  # as the per-IP table names the address
    country = ip.map(countries).to_numpy(dtype=object, na_value=None)
    secs = _seconds(frame["event_time"])
    keep = np.array([c is not None for c in country]) & ~tor & ~np.isnan(secs)
    if not keep.any():
        return []
    pairs = (
        pd.DataFrame(
            {
                "t": np.floor(secs[keep]),
                "country": country[keep],
                "ip": ip.to_numpy(dtype=object)[keep],
            }
        )
        .drop_duplicates(["t", "country", "ip"])
        .sort_values("t", kind="stable")
        .reset_index(drop=True)
    )
    best = _widest_window(pairs["t"].to_numpy(), pairs["country"].to_numpy())
    if best is None:
        return []
    lo, hi, n = best
    if n < TRAVEL_MIN_COUNTRIES:
        return []
    inside = pairs.iloc[lo : hi + 1]
    items = [
        f"{c} ({_listing(sorted(set(g['ip'].astype(str))), 3)})"
        for c, g in inside.groupby("country", sort=True)
    ]
    start = _EPOCH + pd.Timedelta(seconds=float(inside["t"].min()))
    end = _EPOCH + pd.Timedelta(seconds=float(inside["t"].max()))
    minutes = int(TRAVEL_WINDOW / pd.Timedelta(minutes=1))
    unsure = int(unknown[keep].sum())
    note = f"; {unsure} of these calls have an unknown Tor status (counted)" if unsure else ""
    return [
        Observation(
            "countries_within_window",
            f"{n} countries within {minutes} min (calls not from Tor exits; Tor calls left out: "
            f"exits hop countries by design), {_hm(start)} → {_hm(end)}: "
            f"{_listing(items, DETAIL_ITEMS, total=len(items))}{note}",
            GEO_WEIGHTS["countries_within_window"],
        )
    ]


def _widest_window(t: np.ndarray, country: np.ndarray) -> tuple[int, int, int] | None:
    """Over time-sorted (t, country) rows: the window of at most :data:`TRAVEL_WINDOW` holding
    the most distinct countries, as (first row, last row, countries); earliest on ties."""
    width = TRAVEL_WINDOW / pd.Timedelta(seconds=1)
    counts: dict[str, int] = {}
    best: tuple[int, int, int] | None = None
    lo = 0
    for hi in range(len(t)):
        counts[country[hi]] = counts.get(country[hi], 0) + 1
        while t[hi] - t[lo] > width:
            counts[country[lo]] -= 1
            if not counts[country[lo]]:
                del counts[country[lo]]
            lo += 1
        if best is None or len(counts) > best[2]:
            best = (lo, hi, len(counts))
    return best


def geo_signals(
    frame: pd.DataFrame, table: pd.DataFrame | None, window_start: Any
) -> list[Observation]:
    """:func:`new_country_signals` (with a window start) and :func:`travel_signals`."""
    if table is None or "country" not in table.columns:
        return []
    found: list[Observation] = []
    if window_start is not None:
        found += new_country_signals(table, window_start)
    found += travel_signals(frame, table)
    return found
