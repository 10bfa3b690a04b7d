"""The analysis frames as ``summary.json`` pieces (JSON-ready values)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from torinvest.analysis.helpers import _na
from torinvest.analysis.places import PLACE_COLUMNS
from torinvest.outcome import outcome_of
from torinvest.schema import PER_IP_LIST_COUNTS, iso_utc
from torinvest.shown import Part, cut_fields, part_of

#: Where summary.json's lists are whole (the report folder's exports).
SOURCE_IPS_ALL_IN = "per_ip.csv"
SENSITIVE_ALL_IN = "events.csv"
#: A source IP's attacker-influenced text (a findings file's network name, a user agent…):
#: cut in ``summary.json`` (:func:`torinvest.shown.cut_text`), whole in ``per_ip.csv``.
SOURCE_IP_TEXT = ("user_agents", "asn_org", "asn", "country")
#: A sensitive call's attacker-written text (what it names, its error code…): cut in
#: ``summary.json``, whole in ``events.csv``.
SENSITIVE_TEXT = ("event_name", "event_source", "error_code", "target")


# --------------------------------------------------------------------------------------------
# summary.json pieces
# --------------------------------------------------------------------------------------------
_LIST_COUNTS = tuple(PER_IP_LIST_COUNTS.items())


def _count(total: Any, listed: int) -> int:
    """A list's count of distinct values (its length when the frame has none)."""
    value = _na(total)
    return listed if value is None else max(int(value), listed)


def summary_source_ips(table: pd.DataFrame) -> list[dict[str, Any]]:
    """``summary.json``'s ``source_ips`` from a :func:`.per_ip` frame (JSON-ready values):
    also ``ip_kind``, ``country``, ``country_source``, ``asn``, ``asn_org``, ``asn_source``
    (null when unknown; see :func:`.places.place_ips`), ``outcome_unknown`` (calls neither
    succeeded nor failed: their outcome is not known) and ``n_regions``, ``n_user_agents``,
    ``n_access_keys`` (how many distinct values the IP had: ``user_agents`` keeps the
    :data:`~torinvest.schema.MAX_LIST_ITEMS` most frequent) and ``tor_caveat``
    (``or_addresses_only`` where "not Tor" rests only on lists of relays' OR addresses, null
    otherwise: the frame's ``tor_caveat``, :func:`torinvest.investigation.or_only_column`)."""
    return [
        cut_fields(_source_ip(r), SOURCE_IP_TEXT, where=SOURCE_IPS_ALL_IN)
        for r in table.itertuples(index=False)
    ]


def _source_ip(r: Any) -> dict[str, Any]:
    """One row of a :func:`.per_ip` frame as ``summary.json``'s (whole values)."""
    return {
        "ip": _na(r.source_ip),
        "events": int(r.events),
        "failed": int(r.failed),
        "outcome_unknown": int(_na(getattr(r, "outcome_unknown", 0)) or 0),
        "tor": _na(r.tor),
        # what a "not Tor" rests on: or_addresses_only (lists of relays' OR addresses)
        "tor_caveat": _na(getattr(r, "tor_caveat", None)),
        "first_seen": iso_utc(r.first_seen),
        "last_seen": iso_utc(r.last_seen),
        "user_agents": list(r.user_agents),
        **{c: _count(getattr(r, c, None), len(getattr(r, lst))) for lst, c in _LIST_COUNTS},
        "new": _na(r.new),
        **{c: _na(getattr(r, c, None)) for c in PLACE_COLUMNS},
    }


def summary_sensitive_events(found: pd.DataFrame) -> list[dict[str, Any]]:
    """``summary.json``'s ``sensitive_events`` from a :func:`.sensitive_events` frame: also
    ``outcome`` (``succeeded``, ``failed`` or ``unknown``: :mod:`torinvest.outcome`),
    ``error_code`` (null: the call did not fail — it succeeded, or its outcome is unknown), ``target`` (one line, null when the call names
    nothing) and ``targets`` (``[{"kind", "value"}]``; empty unless the frame was made with
    ``targets=True``)."""
    where = SENSITIVE_ALL_IN
    return [
        cut_fields(
            {**_sensitive(r), "targets": [_target(t, where) for t in getattr(r, "targets", ())]},
            SENSITIVE_TEXT,
            where=where,
        )
        for r in found.itertuples(index=False)
    ]


def _target(target: Any, where: str) -> dict[str, Any]:
    """A call's target as ``summary.json``'s ``{"kind", "value"}``, its value cut."""
    return cut_fields(target.to_dict(), ("value",), where=where)


def _sensitive(r: Any) -> dict[str, Any]:
    """One row of a :func:`.sensitive_events` frame as ``summary.json``'s (whole values)."""
    return {
        "event_name": _na(r.event_name),
        "event_source": _na(r.event_source),
        "event_time": iso_utc(r.event_time),
        "source_ip": _na(r.source_ip),
        "tor": _na(r.tor),
        # what a "not Tor" rests on: or_addresses_only (lists of relays' OR addresses)
        "tor_caveat": _na(getattr(r, "tor_caveat", None)),
        "category": _na(r.category),
        "error_code": _na(r.error_code),
        "outcome": outcome_of(r.failed),
        "target": _na(getattr(r, "target", None)),
    }


def _tor_rank(tor: pd.Series) -> list[int]:
    """0 for a Tor IP (or call), 1 unknown, 2 not Tor."""
    return [0 if v is True else 2 if v is False else 1 for v in tor.astype("object")]


#: Which source IPs a part keeps (the summary's list, the per-IP table).
SOURCE_IPS_ORDER = "Tor IPs first, then by calls"


def source_ip_rank(table: pd.DataFrame) -> list[tuple[int, int]]:
    """Each row's rank in a part of a :func:`.per_ip` frame (lowest first): Tor IPs, then
    those of unknown Tor status, then the others; busiest first within each."""
    return list(
        zip(_tor_rank(table["tor"]), (-table["events"].astype("int64")).tolist(), strict=True)
    )


def busiest_first(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`.per_ip` frame in :data:`SOURCE_IPS_ORDER` (ties: as they were)."""
    rank = source_ip_rank(table)
    return table.iloc[sorted(range(len(table)), key=lambda i: rank[i])]


def listed_source_ips(table: pd.DataFrame) -> tuple[pd.DataFrame, Part]:
    """The rows of a :func:`.per_ip` frame that ``summary.json`` lists — every one up to
    :data:`torinvest.shown.LIMITS` ``summary_items``, beyond it the Tor IPs first, then those
    of unknown Tor status, then by calls (kept in the frame's order) — and the part."""
    return part_of(
        table,
        "summary_items",
        what="source IPs",
        where=SOURCE_IPS_ALL_IN,
        order=SOURCE_IPS_ORDER,
        rank=source_ip_rank(table),
    )


def listed_sensitive_events(found: pd.DataFrame) -> tuple[pd.DataFrame, Part]:
    """The rows of a :func:`.sensitive_events` frame that ``summary.json`` lists: beyond
    :data:`torinvest.shown.LIMITS` ``summary_items``, calls from Tor and calls that did not
    fail first, each in time order; and the part."""
    failed = found["failed"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    tor = _tor_rank(found["tor"]) if "tor" in found.columns else [1] * len(found)
    rank = list(zip(tor, failed.tolist(), range(len(found)), strict=True))
    return part_of(
        found,
        "summary_items",
        what="sensitive calls",
        where=f"{SENSITIVE_ALL_IN} (its sensitive column)",
        order="calls from Tor first, then those that did not fail",
        rank=rank,
    )


def source_ips_list(table: pd.DataFrame, part: Part) -> dict[str, Any]:
    """``summary.json``'s ``lists.source_ips``: the part (``listed``, ``total``, ``all_in``)
    and the Tor IPs among all of them (``tor``, ``tor_unknown``): counts a reader must never
    take from the list, which may be a part."""
    tor = table["tor"].astype("object") if len(table) else pd.Series([], dtype=object)
    return {
        **part.to_json(),
        "tor": int(sum(v is True for v in tor)),
        "tor_unknown": int(sum(v is None or v is pd.NA for v in tor)),
    }
