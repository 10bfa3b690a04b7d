"""The per-IP table: one row per source IP of the events frame (:func:`per_ip`), or completed
from the counts an engine made (:func:`per_ip_counted`), each IP placed by
:func:`.places.place_ips` (its kind, country and ASN).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from torinvest.addresses import canonical_column
from torinvest.analysis.baseline import baseline
from torinvest.analysis.helpers import _NEEDED, _UTC, _bools, _require, window_of
from torinvest.analysis.places import PLACE_COLUMNS, place_ips
from torinvest.geo import GeoInput
from torinvest.grouping import address_codes_and_labels, codes_and_labels, tor_column
from torinvest.outcome import failed_rows, unknown_rows
from torinvest.schema import (
    MAX_LIST_ITEMS,
    PER_IP_COLUMNS,
    PER_IP_LIST_COUNTS,
    TOP_EVENT_NAMES,
    empty_per_ip,
    utc_timestamp,
)

log = logging.getLogger(__name__)


def _add_geo(table: pd.DataFrame, findings: pd.DataFrame | None, geoip: GeoInput | None) -> None:
    """Fill the place columns in place (:func:`.places.place_ips`)."""
    placed = place_ips(table["source_ip"], findings=findings, geoip=geoip)
    for col in PLACE_COLUMNS:
        table[col] = placed[col]


# --------------------------------------------------------------------------------------------
# per IP
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Pairs:
    """The distinct (ip code, value code) pairs of two columns, with their counts."""

    ip: np.ndarray
    value: np.ndarray
    n: np.ndarray
    labels: np.ndarray
    rank: np.ndarray  # rank of each value code in alphabetical order of the labels

    @classmethod
    def of(cls, ip: np.ndarray, values: pd.Series) -> _Pairs:
        vcodes, labels = codes_and_labels(values)
        keep = vcodes >= 0
        width = np.int64(len(labels) + 1)
        combined = (ip[keep] + 1) * width + vcodes[keep]
        uniq, n = np.unique(combined, return_counts=True)
        rank = np.empty(len(labels), dtype=np.int64)
        rank[np.argsort(labels.astype(str), kind="stable")] = np.arange(len(labels))
        return cls(uniq // width - 1, uniq % width, n, labels, rank)

    def lists(self, *, limit: int) -> dict[int, list[str]]:
        """ip code → its ``limit`` most frequent values, sorted by value."""
        order = np.lexsort((self.rank[self.value], -self.n, self.ip))
        ip, value = self.ip[order], self.value[order]
        keep = _group_position(ip) < limit
        ip, value = ip[keep], value[keep]
        again = np.lexsort((self.rank[value], ip))
        ip, value = ip[again], value[again]
        bounds = np.flatnonzero(np.diff(ip)) + 1
        return {
            int(group_ip[0]): self.labels[codes].tolist()
            for group_ip, codes in zip(np.split(ip, bounds), np.split(value, bounds), strict=True)
            if len(group_ip)
        }

    def distinct(self) -> dict[int, int]:
        """ip code → how many distinct values it had (all of them, not only a list's)."""
        ips, n = np.unique(self.ip, return_counts=True)
        return dict(zip(ips.tolist(), n.tolist(), strict=True))

    def counts(self, limit: int) -> dict[int, dict[str, int]]:
        """ip code → {value: count} of its ``limit`` most frequent values, most first."""
        order = np.lexsort((self.rank[self.value], -self.n, self.ip))
        ip, value, n = self.ip[order], self.value[order], self.n[order]
        keep = _group_position(ip) < limit
        out: dict[int, dict[str, int]] = {}
        for i, v, c in zip(
            ip[keep].tolist(), self.labels[value[keep]], n[keep].tolist(), strict=True
        ):
            out.setdefault(i, {})[v] = c
        return out


def _group_position(sorted_keys: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal keys (keys sorted)."""
    if not len(sorted_keys):
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_keys)) + 1]
    sizes = np.diff(np.r_[starts, len(sorted_keys)])
    return np.arange(len(sorted_keys)) - np.repeat(starts, sizes)


def _tor_status(tor_true: pd.Series, tor_false: pd.Series, events: pd.Series) -> pd.Series:
    """Any True → True; all rows covered and False → False; else NA."""
    status = pd.Series(pd.NA, index=events.index, dtype="boolean")
    status[tor_false == events] = False
    status[tor_true > 0] = True
    return status


def per_ip(
    events: pd.DataFrame,
    *,
    findings: pd.DataFrame | None = None,
    geoip: GeoInput | None = None,
    window_start: Any = None,
    top: int = TOP_EVENT_NAMES,
) -> pd.DataFrame:
    """One row per source IP address, ordered by first activity: the spellings of one address
    (``2001:0470:…`` and ``2001:470:…``, ``::ffff:1.2.3.4`` and ``1.2.3.4``) are one row, shown
    in canonical form (:func:`torinvest.addresses.canonical_ip`); ``sourceIPAddress`` values
    that are not IPs, such as service names, are rows too, as written; a missing one is an NA
    row.

    ======================= =================== ================================================
    column                  dtype               meaning
    ======================= =================== ================================================
    source_ip               string              the source IP (canonical form)
    events, failed          Int64               calls, and calls with an error code
    outcome_unknown         Int64               calls whose outcome is not known (neither
                                                succeeded nor failed: :mod:`torinvest.outcome`)
    first_seen, last_seen   datetime64[us, UTC] first and last call
    regions                 object (list)       regions called, sorted
    user_agents             object (list)       user agents, sorted (attacker-written)
                                                (lists keep the :data:`.MAX_LIST_ITEMS` most
                                                frequent values)
    n_regions,              Int64               how many distinct regions, user agents, keys
    n_user_agents,                              the IP had over all its calls (a list holds
    n_access_keys                               fewer when this exceeds MAX_LIST_ITEMS)
    event_names             object (dict)       the ``top`` event names → count, most first
    access_keys             object (list)       access keys used, sorted
    derived                 boolean             a key minted by the suspect key was used
                                                (NA when the frame has no ``derived`` column)
    tor                     boolean             True if any call is ``tor`` True; False if
                                                every call is ``tor`` False; else NA
    tor_events              Int64               calls with ``tor`` True
    ip_kind                 string              public, private, aws-service, unparsable or
                                                missing (only public IPs get a country/ASN)
    country                 string              ISO 3166-1 alpha-2 code, from ``geoip`` or
                                                else the RIR delegated statistics (offline)
    country_source          string              geoip, rir or NA
    asn, asn_org            string              from ``geoip``, else the findings'
                                                remoteIpDetails for their Tor IP
    asn_source              string              geoip, guardduty or NA
    new                     boolean             first seen at/after ``window_start`` and never
                                                before (see :func:`baseline`); NA without a
                                                window start or without earlier activity
    ======================= =================== ================================================

    ``findings`` is a findings frame (:func:`torinvest.findings.read_findings` …``.frame()``);
    without ``window_start`` its earliest ``first_seen`` is the window start. ``geoip`` is the
    path of one or more MaxMind-format databases (GeoLite2, DB-IP Lite, IPinfo Lite; an
    InputError names a bad one), an open :class:`torinvest.geo.GeoIP`, or a callable
    ``ip -> {"country", "asn", "asn_org"}`` (see :func:`.places.place_ips`).
    """
    _require(events, _NEEDED)
    if window_start is None and findings is not None:
        window = window_of(findings)
        window_start = window[0] if window else None
    if events.empty:
        return empty_per_ip()
    ip, labels = address_codes_and_labels(events["source_ip"])  # one row per address
    tor = tor_column(events)
    frame = pd.DataFrame(
        {
            "ip": ip,
            "failed": failed_rows(events),
            "unknown": unknown_rows(events),
            "tor_true": _bools(tor),
            "tor_false": _bools(~tor),
            "derived": _bools(events["derived"]) if "derived" in events.columns else False,
            "time": events["event_time"].array,
        }
    )
    g = frame.groupby("ip", sort=False).agg(
        events=("failed", "size"),
        failed=("failed", "sum"),
        unknown=("unknown", "sum"),
        tor_true=("tor_true", "sum"),
        tor_false=("tor_false", "sum"),
        derived=("derived", "any"),
        first_seen=("time", "min"),
        last_seen=("time", "max"),
    )
    table = pd.DataFrame(index=g.index)
    table["source_ip"] = pd.array([None if c < 0 else labels[c] for c in g.index], dtype="string")
    table["events"] = g["events"].astype("Int64")
    table["failed"] = g["failed"].astype("Int64")
    table["outcome_unknown"] = g["unknown"].astype("Int64")
    table["first_seen"] = g["first_seen"].astype(_UTC)
    table["last_seen"] = g["last_seen"].astype(_UTC)
    for col, source in (
        ("regions", "aws_region"),
        ("user_agents", "user_agent"),
        ("access_keys", "access_key_id"),
    ):
        pairs = _Pairs.of(ip, events[source])
        lists = pairs.lists(limit=MAX_LIST_ITEMS)
        table[col] = [lists.get(c, []) for c in g.index]
        distinct = pairs.distinct()
        table[PER_IP_LIST_COUNTS[col]] = pd.array(
            [distinct.get(c, 0) for c in g.index], dtype="Int64"
        )
    names = _Pairs.of(ip, events["event_name"]).counts(top)
    table["event_names"] = [names.get(c, {}) for c in g.index]
    table["derived"] = (
        g["derived"].astype("boolean")
        if "derived" in events.columns
        else pd.Series(pd.NA, index=g.index, dtype="boolean")
    )
    table["tor"] = _tor_status(g["tor_true"], g["tor_false"], g["events"])
    table["tor_events"] = g["tor_true"].astype("Int64")
    _add_geo(table, findings, geoip)
    table["new"] = pd.Series(pd.NA, index=table.index, dtype="boolean")
    if window_start is not None:
        base = baseline(events, window_start)
        table["new"] = table["source_ip"].map(base.flags("source_ip")).astype("boolean")
    log.debug("per_ip: %d events from %d source IPs", len(events), len(table))
    table = table.sort_values(["first_seen", "source_ip"], na_position="last", kind="stable")
    return table[list(PER_IP_COLUMNS)].reset_index(drop=True)


def ip_tor_status(counts: pd.DataFrame) -> pd.Series:
    """Per source IP of an events or counts frame with a ``tor`` column: True if any row is
    True, False if every row is False, else NA (``boolean``, indexed by IP in canonical form,
    :func:`torinvest.addresses.canonical_ip`; no NA IP)."""
    tor = tor_column(counts)
    addresses = canonical_column(counts["source_ip"])  # one address however written
    frame = pd.DataFrame({"ip": addresses.array, "t": _bools(tor), "f": _bools(~tor)}).dropna(
        subset=["ip"]
    )
    g = frame.groupby("ip", sort=True)[["t", "f"]].agg(["any", "all"])
    status = pd.Series(pd.NA, index=g.index, dtype="boolean")
    status[g[("f", "all")].to_numpy()] = False
    status[g[("t", "any")].to_numpy()] = True
    return status


def per_ip_counted(
    table: pd.DataFrame,
    counts: pd.DataFrame,
    *,
    findings: pd.DataFrame | None = None,
    geoip: GeoInput | None = None,
    window_start: Any = None,
) -> pd.DataFrame:
    """The per-IP frame an engine computed (:class:`torinvest.sources.sql.Aggregates`
    ``per_ip``: the columns of :func:`per_ip`, tor and geo NA) completed from the by-time counts
    frame with its ``tor`` column: ``tor`` (as :func:`per_ip`: any bucket True → True, every one
    False → False, else NA), ``tor_events`` (calls in buckets with ``tor`` True), geo from the
    findings/``geoip``, and ``new`` (first seen at/after ``window_start``, when anything precedes
    it; NA otherwise, as :func:`baseline` says)."""
    if window_start is None and findings is not None:
        window = window_of(findings)
        window_start = window[0] if window else None
    out = table.copy()
    if out.empty:
        return empty_per_ip()
    status = ip_tor_status(counts)
    out["tor"] = out["source_ip"].map(status).astype("boolean")
    tor_true = _bools(tor_column(counts))
    calls = counts["calls"].fillna(0).to_numpy(dtype=np.int64)
    per_ip_tor = (
        pd.Series(np.where(tor_true, calls, 0), index=canonical_column(counts["source_ip"]).array)
        .groupby(level=0)
        .sum()
    )
    out["tor_events"] = out["source_ip"].map(per_ip_tor).fillna(0).astype("Int64")
    _add_geo(out, findings, geoip)
    start = utc_timestamp(window_start)
    out["new"] = pd.Series(pd.NA, index=out.index, dtype="boolean")
    if start is not None and (out["first_seen"] < start).fillna(False).any():
        out["new"] = (out["first_seen"] >= start).astype("boolean")
    return out[list(PER_IP_COLUMNS)]
