"""Who else used these addresses: every other key and principal that called AWS from the
investigated key's Tor IPs (and its source IPs new against the baseline) in the window.

The question is asked of the sources the investigation read, the same way on each:

* log files (``--engine files``): :func:`~torinvest.sources.logs.load_logs` with
  ``source_ips`` (files searched for the addresses' bytes first, as for a key), then
  :func:`ip_calls` over the rows;
* DuckDB and Athena: :func:`~torinvest.sources.sql.run.ip_pivot_sql`, the query written once
  (:func:`~torinvest.sources.sql.queries.ip_pivot_query`), counted in the engine.

Both give the same rows — per (access key, user name, ARN, account, source IP): calls,
failed, of unknown outcome (``outcome_unknown``: neither succeeded nor failed, as
:mod:`torinvest.outcome` reads it — a LookupEvents answer's event without a whole record), first
and last call — and :func:`pivot_table` turns them into one row per caller.
LookupEvents cannot filter by source IP (its lookup attributes are keys, names, events and
resources): an investigation that read only LookupEvents could not look, and says so.

:class:`IpPivot` carries the table and whether it looked: ``status`` is ``looked``,
``partial`` (a source could not be read, or LookupEvents was read beside log files),
``could not look`` or ``not looked`` (no address to look for; ``why`` says so).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from torinvest.addresses import canonical_column, canonical_ips, same_or_canonical
from torinvest.aws import Aws
from torinvest.errors import DataIssue, TorinvestError, group_issues
from torinvest.events import EngineOptions
from torinvest.outcome import OUTCOME_UNKNOWN_COLUMN, failed_rows, split_text, unknown_rows
from torinvest.schema import iso_utc
from torinvest.shown import Part, part_of
from torinvest.sources.logs import KnownRegions, load_logs
from torinvest.sources.sql.queries import IP_PIVOT_CALLER, IP_PIVOT_OUTPUT

log = logging.getLogger(__name__)

#: :attr:`IpPivot.status` values (as :mod:`torinvest.findings.related`'s).
LOOKED, PARTIAL, COULD_NOT_LOOK, NOT_LOOKED = "looked", "partial", "could not look", "not looked"
STATUSES: tuple[str, ...] = (LOOKED, PARTIAL, COULD_NOT_LOOK, NOT_LOOKED)

#: The data issue's source and problem for LookupEvents, which cannot filter by IP.
LOOKUP_SOURCE = "ip pivot"
LOOKUP_CANNOT = (
    "LookupEvents cannot filter by source IP: the other callers of these addresses were not "
    "searched there (read the trail's log files: --logs, or --engine athena)"
)

#: The per-caller table's columns (summary.json's ``ip_pivot[]``, plus ``command``).
PIVOT_COLUMNS: tuple[str, ...] = (
    "access_key_id",
    "user_name",
    "arn",
    "account_id",
    "source_ips",
    "calls",
    "failed",
    OUTCOME_UNKNOWN_COLUMN,
    "first_seen",
    "last_seen",
)
#: The table's counts: every call, those that failed, those of unknown outcome (succeeded =
#: calls - failed - outcome_unknown).
COUNT_COLUMNS: tuple[str, ...] = ("calls", "failed", OUTCOME_UNKNOWN_COLUMN)

#: Where every address looked for is, when ``summary.json``'s ``ip_pivot_search.ips`` is a part.
IPS_ALL_IN = "per_ip.csv (its Tor and new IPs) and finding.tor_ip"
#: The order of the per-caller table (:func:`pivot_table`), as a part of it says it.
PIVOT_ORDER = "most calls first"

_UTC = "datetime64[us, UTC]"


# --------------------------------------------------------------------------------------------
# which addresses
# --------------------------------------------------------------------------------------------
def is_address(value: object) -> bool:
    """Whether a ``sourceIPAddress`` is an IP address (not ``AWS Internal``, a service name…)."""
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def pivot_addresses(per_ip: pd.DataFrame, extra: Iterable[str] = ()) -> list[str]:
    """The addresses to look for: the per-IP table's Tor IPs and those new against the baseline
    (``tor``/``new`` True), plus ``extra`` (the finding's Tor IP); only IP addresses, sorted."""
    if per_ip.empty:
        picked: list[Any] = []
    else:
        keep = per_ip["tor"].fillna(False).astype(bool)
        if "new" in per_ip.columns:
            keep |= per_ip["new"].fillna(False).astype(bool)
        picked = per_ip.loc[keep, "source_ip"].tolist()
    return sorted(canonical_ips([*picked, *extra]))


# --------------------------------------------------------------------------------------------
# rows and the table (pure)
# --------------------------------------------------------------------------------------------
def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the columns and dtypes of ``IP_PIVOT_OUTPUT`` (a missing column: empty)."""
    out: dict[str, pd.Series] = {}
    n = len(frame)
    for name, kind in IP_PIVOT_OUTPUT.items():
        col = frame[name].reset_index(drop=True) if name in frame.columns else pd.Series([None] * n)
        if kind == "time":
            out[name] = pd.to_datetime(col, utc=True).astype(_UTC)
        elif kind == "int":
            out[name] = col.astype("Int64")
        else:
            out[name] = col.astype("string")
    return pd.DataFrame(out)


def ip_calls(events: pd.DataFrame, source_ips: Iterable[str]) -> pd.DataFrame:
    """What :func:`~torinvest.sources.sql.queries.ip_pivot_query` gives, from an events frame:
    per (access key, user name, ARN, account, source IP) of the rows from ``source_ips``, the
    calls, failed calls, calls of unknown outcome, first and last call (columns of
    ``IP_PIVOT_OUTPUT``)."""
    ips = canonical_ips(source_ips)
    addresses = canonical_column(events["source_ip"])  # one address, however it is written
    picked = addresses.isin(ips).fillna(False).to_numpy(dtype=bool)
    rows = events.loc[picked]
    keys = [*IP_PIVOT_CALLER, "source_ip"]
    if rows.empty:
        return _typed(pd.DataFrame(columns=list(IP_PIVOT_OUTPUT)))
    plain = pd.DataFrame({k: rows[k].astype("string").to_numpy(dtype=object) for k in keys})
    plain["source_ip"] = addresses[picked].to_numpy(dtype=object)
    plain["failed"] = failed_rows(rows).astype("int64")
    plain["unknown"] = unknown_rows(rows).astype("int64")
    plain["event_time"] = rows["event_time"].to_numpy()
    grouped = plain.groupby(keys, dropna=False, sort=False)
    out = grouped.agg(
        calls=("failed", "size"),
        failed=("failed", "sum"),
        outcome_unknown=("unknown", "sum"),
        first_seen=("event_time", "min"),
        last_seen=("event_time", "max"),
    ).reset_index()
    for k in keys:  # groupby keeps NA keys as NaN/None: back to NA
        out[k] = out[k].where(out[k].notna(), None)
    return _typed(out)


def _caller_key(frame: pd.DataFrame) -> pd.Series:
    parts = [frame[c].astype("string").fillna("\0") for c in IP_PIVOT_CALLER]
    key = parts[0]
    for p in parts[1:]:
        key = key + "\x1f" + p
    return key


def pivot_table(calls: pd.DataFrame, *, exclude_keys: Iterable[str] = ()) -> pd.DataFrame:
    """One row per caller (access key, user name, ARN, account) of :func:`ip_calls`' (or the
    engine's) rows, leaving out ``exclude_keys`` (the investigated key and those it minted):
    ``source_ips`` (sorted list), ``calls``, ``failed``, ``outcome_unknown``, ``first_seen``,
    ``last_seen``; most
    calls first, then the earliest, then by key. Columns :data:`PIVOT_COLUMNS`."""
    excluded = set(exclude_keys)
    rows = calls.loc[~calls["access_key_id"].astype("string").isin(excluded).fillna(False)]
    if rows.empty:
        return pd.DataFrame(
            {
                **{c: pd.Series(dtype="string") for c in IP_PIVOT_CALLER},
                "source_ips": pd.Series(dtype=object),
                **{c: pd.Series(dtype="Int64") for c in COUNT_COLUMNS},
                "first_seen": pd.Series(dtype=_UTC),
                "last_seen": pd.Series(dtype=_UTC),
            }
        )
    rows = rows.assign(_caller=_caller_key(rows).to_numpy())
    out = []
    for _, group in rows.groupby("_caller", sort=False):
        first = group.iloc[0]
        out.append(
            {
                **{c: first[c] for c in IP_PIVOT_CALLER},
                "source_ips": sorted(
                    {same_or_canonical(str(ip)) for ip in group["source_ip"].dropna().unique()}
                ),
                **{c: int(group[c].sum()) for c in COUNT_COLUMNS},
                "first_seen": group["first_seen"].min(),
                "last_seen": group["last_seen"].max(),
            }
        )
    table = pd.DataFrame(out)
    for c in IP_PIVOT_CALLER:
        table[c] = table[c].astype("string")
    for c in COUNT_COLUMNS:
        table[c] = table[c].astype("Int64")
    for c in ("first_seen", "last_seen"):
        table[c] = pd.to_datetime(table[c], utc=True).astype(_UTC)
    table = table.sort_values(
        ["calls", "first_seen", "access_key_id", "arn"],
        ascending=[False, True, True, True],
        na_position="last",
        kind="stable",
    )
    return table[list(PIVOT_COLUMNS)].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class IpPivot:
    """Who else called from the addresses (:func:`pivot_table`'s ``table``, plus a ``command``
    column when the investigation adds one), the addresses looked for (``ips``), the sources
    read, what kept it from being complete (``issues``) and whether it looked (``status``)."""

    status: str
    ips: list[str] = field(default_factory=list)
    table: pd.DataFrame = field(default_factory=lambda: pivot_table(_typed(pd.DataFrame())))
    sources: list[str] = field(default_factory=list)
    issues: list[DataIssue] = field(default_factory=list)
    why: str = ""

    @classmethod
    def not_looked(cls, why: str, ips: Sequence[str] = ()) -> IpPivot:
        return cls(status=NOT_LOOKED, ips=list(ips), why=why)

    @property
    def data_issues(self) -> list[DataIssue]:
        return list(self.issues)  # "not looked" means nothing to look for: not an issue

    def describe(self) -> str:
        """One line: how many other callers from how many addresses, and whether it looked."""
        n, ips = len(self.table), len(self.ips)
        if self.status == NOT_LOOKED:
            return f"Other callers of these addresses not looked for: {self.why}"
        if self.status == COULD_NOT_LOOK:
            why = "; ".join(i.problem for i in self.issues[:2]) or "no source could be read"
            return f"Could not look for other callers of the {ips} address(es): {why}"
        found = (
            f"{n} other key(s) or principal(s) called from"
            if n
            else "No other key or principal called from"
        )
        text = f"{found} the {ips} address(es) looked for"
        unknown = int(self.table[OUTCOME_UNKNOWN_COLUMN].sum()) if n else 0
        if unknown:  # never "N calls, 0 failed" when some are neither succeeded nor failed
            calls, failed = int(self.table["calls"].sum()), int(self.table["failed"].sum())
            text += f" ({calls:,} call(s): {split_text(failed, unknown)})"
        if self.status == PARTIAL:
            # counted as they are shown: identical problems of several sources are one
            text += f" ({len(group_issues(self.issues))} data issue(s): others may be missing)"
        return text

    def rows_part(self) -> tuple[pd.DataFrame, Part]:
        """The callers ``summary.json``'s ``ip_pivot`` lists (the first :data:`torinvest.shown.
        LIMITS` ``summary_items`` of the table: most calls first) and the part
        (``lists["ip_pivot"]``: how many of how many; no file holds them all)."""
        return part_of(self.table, "summary_items", what="other callers", order=PIVOT_ORDER)

    def to_summary(self) -> list[dict[str, Any]]:
        """``summary.json``'s ``ip_pivot``: the rows of :meth:`rows_part` (times ISO 8601 UTC,
        with the ``command`` that investigates each when known)."""
        out = []
        for row in self.rows_part()[0].to_dict("records"):
            item: dict[str, Any] = {}
            for c in PIVOT_COLUMNS:
                v = row[c]
                if c in ("first_seen", "last_seen"):
                    item[c] = iso_utc(v)
                elif c == "source_ips":
                    item[c] = list(v)
                elif c in COUNT_COLUMNS:
                    item[c] = int(v)
                else:
                    item[c] = None if v is None or v is pd.NA else str(v)
            item["command"] = row.get("command") if isinstance(row.get("command"), str) else None
            out.append(item)
        return out

    def ips_part(self) -> tuple[list[str], Part]:
        """The addresses ``summary.json``'s ``ip_pivot_search.ips`` lists (every one up to
        :data:`torinvest.shown.LIMITS` ``summary_items``, in order) and the part
        (``lists["ip_pivot_search.ips"]``: how many of how many, where all are)."""
        listed, part = part_of(
            list(self.ips), "summary_items", what="addresses looked for", where=IPS_ALL_IN
        )
        return list(listed), part

    def search_summary(self) -> dict[str, Any]:
        """``summary.json``'s ``ip_pivot_search`` (``ips``: :meth:`ips_part`'s)."""
        return {
            "status": self.status,
            "ips": self.ips_part()[0],
            "sources": list(self.sources),
            "issues": [i.to_dict() for i in group_issues(self.issues)],
            "why": self.why or None,
        }


# --------------------------------------------------------------------------------------------
# the sources
# --------------------------------------------------------------------------------------------
def load_ip_pivot(
    source_ips: Sequence[str],
    *,
    logs: Sequence[str | Path] = (),
    engine: EngineOptions | None = None,
    lookup: bool = False,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    regions: Sequence[str] | None = None,
    aws: Aws | None = None,
    exclude_keys: Iterable[str] = (),
    known: KnownRegions | None = None,
) -> IpPivot:
    """Who called from ``source_ips`` in the window, from the log files (``logs``, read by
    ``engine``: files, duckdb) or the Athena table (``engine`` athena), every caller but
    ``exclude_keys``. ``lookup``: the investigation also read LookupEvents, which cannot be
    asked this (a data issue). A source that fails as a whole is ``could not look``.
    ``known``: the regions the finding shows the key called (its region): the log files'
    coverage is judged as the key's reading judges it, so a region without a folder is said
    once, in the same words, never listed again among the regions the partition enables."""
    engine = engine or EngineOptions()
    ips = sorted(canonical_ips(source_ips))
    if not ips:
        return IpPivot.not_looked("no Tor or new source IP address to look for")
    pivot = IpPivot(status=LOOKED, ips=ips)
    if lookup:
        pivot.issues.append(DataIssue(LOOKUP_SOURCE, LOOKUP_CANNOT))
    if not logs and engine.kind != "athena":
        pivot.status = COULD_NOT_LOOK
        return pivot
    try:
        calls, read = _engine_calls(ips, logs, engine, start, end, regions, aws, pivot, known)
    except TorinvestError as e:
        pivot.issues.append(DataIssue(LOOKUP_SOURCE, f"could not look: {e}"))
        pivot.status = COULD_NOT_LOOK
        return pivot
    pivot.table = pivot_table(calls, exclude_keys=exclude_keys)
    if not read:
        pivot.status = COULD_NOT_LOOK
    elif pivot.issues:
        pivot.status = PARTIAL
    log.info(
        "ip pivot: %d caller(s) from %d address(es) (%s)", len(pivot.table), len(ips), pivot.status
    )
    return pivot


def _engine_calls(
    ips: list[str],
    logs: Sequence[str | Path],
    engine: EngineOptions,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    regions: Sequence[str] | None,
    aws: Aws | None,
    pivot: IpPivot,
    known: KnownRegions | None = None,
) -> tuple[pd.DataFrame, bool]:
    """The per (caller, IP) rows from the engine, and whether any source was read."""
    if engine.kind == "files":
        res = load_logs(
            list(logs),
            source_ips=ips,
            start=start,
            end=end,
            regions=regions,
            aws=aws,
            max_file_bytes=engine.max_file_bytes,
            known=known,
        )
        pivot.sources += [f"logs:{s}" for s in res.sources]
        pivot.issues += res.issues + res.counts.scope_gap_for_addresses()
        return ip_calls(res.frame, ips), res.counts.read > 0
    from torinvest.sources.sql.engine import engine_for
    from torinvest.sources.sql.run import ip_pivot_sql

    eng = engine_for(engine, logs, aws)
    try:
        res_sql = ip_pivot_sql(
            eng, source_ips=ips, start=start, end=end, regions=regions, known=known
        )
    finally:
        eng.close()
    pivot.issues += res_sql.issues
    if engine.kind == "athena":
        pivot.sources.append(
            f"athena:{engine.athena_database}.{engine.athena_table or 'cloudtrail_logs'}"
        )
        return res_sql.frame, True
    pivot.sources += [f"duckdb:{s}" for s in logs]
    if res_sql.counts is not None:
        pivot.issues += res_sql.counts.scope_gap_for_addresses()
    read = res_sql.counts.read > 0 if res_sql.counts is not None else True
    return res_sql.frame, read


# --------------------------------------------------------------------------------------------
# summary.json
# --------------------------------------------------------------------------------------------
_STR_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
_TIME_OR_NULL: dict[str, Any] = {
    "type": ["string", "null"],
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$",
}
_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
_ISSUE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["source", "problem"],
    "properties": {"source": {"type": "string"}, "problem": {"type": "string"}},
}


def _object(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly ``properties``, each required but the ``optional`` ones (keys
    added since: a summary written before them has none)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [k for k in properties if k not in optional],
        "properties": properties,
    }


#: JSON Schema of ``summary.json``'s ``ip_pivot`` and ``ip_pivot_search``.
SUMMARY_PROPERTIES: dict[str, Any] = {
    "ip_pivot": {
        "type": "array",
        "items": _object(
            {
                "access_key_id": _STR_OR_NULL,
                "user_name": _STR_OR_NULL,
                "arn": _STR_OR_NULL,
                "account_id": _STR_OR_NULL,
                "source_ips": {"type": "array", "items": {"type": "string"}},
                "calls": _COUNT,
                "failed": _COUNT,
                OUTCOME_UNKNOWN_COLUMN: _COUNT,
                "first_seen": _TIME_OR_NULL,
                "last_seen": _TIME_OR_NULL,
                "command": _STR_OR_NULL,
            },
            (OUTCOME_UNKNOWN_COLUMN,),  # always written; a summary before it has none
        ),
    },
    "ip_pivot_search": _object(
        {
            "status": {"enum": list(STATUSES)},
            "ips": {"type": "array", "items": {"type": "string"}},
            "sources": {"type": "array", "items": {"type": "string"}},
            "issues": {"type": "array", "items": _ISSUE},
            "why": _STR_OR_NULL,
        }
    ),
}
