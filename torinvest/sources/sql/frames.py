"""The engines' counts as frames (pure: no engine, no query run): the per-IP table, one row per
address in canonical form (an address's spellings summed, its lists counted again), the IP
pivot's rows, the timeline's buckets, and the rollup's rows as the per-IP summary and
:class:`~torinvest.sources.sql.engine.Aggregates`' frames (:func:`per_ip_from_rollup`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from torinvest.addresses import canonical_column, same_or_canonical
from torinvest.grouping import label_rank
from torinvest.schema import PER_IP_COLUMNS, PER_IP_LIST_COUNTS, empty_per_ip
from torinvest.sources.sql.queries import IP_PIVOT_CALLER, PER_IP_LISTS, Scope

_UTC = "datetime64[us, UTC]"


def _shared_spellings(long: pd.DataFrame) -> frozenset[str]:
    """The ``source_ip`` values of the per-IP query's totals that share their address with
    another value (``2001:0470:…`` and ``2001:470:…``; ``::ffff:1.2.3.4`` and ``1.2.3.4``)."""
    totals = long.loc[long["kind"] == "ip", "source_ip"].dropna().astype("string")
    if totals.empty:
        return frozenset()
    addresses = canonical_column(totals)
    shared = addresses.duplicated(keep=False).to_numpy(dtype=bool)
    return frozenset(totals[shared].tolist())


def _per_address(long: pd.DataFrame) -> pd.DataFrame:
    """The per-IP query's rows with one ``source_ip`` per address (canonical form): the totals
    of its spellings summed (first and last seen: the earliest and latest), each list's values
    counted over them and cut again to the list's length (most frequent first, ties by value).
    ``distinct_values``: a spelling's own count when the address has one spelling, else the
    distinct values of its spellings (every value of a spelling written in ``whole``)."""
    if long.empty:
        return long
    addresses = canonical_column(long["source_ip"])
    if addresses.equals(long["source_ip"].astype("string")):
        return long  # every address written once, in canonical form: rows as they are
    rows = long.assign(source_ip=addresses)
    totals = rows[rows["kind"] == "ip"]
    summed = (
        totals.groupby("source_ip", dropna=False, sort=False)
        .agg(
            events=("events", "sum"),
            failed=("failed", "sum"),
            outcome_unknown=("outcome_unknown", "sum"),
            first_seen=("first_seen", "min"),
            last_seen=("last_seen", "max"),
            derived=("derived", "any"),
        )
        .reset_index()
        .assign(kind="ip", value=pd.NA)
    )
    parts = [summed]
    for kind, _, limit in PER_IP_LISTS:
        listed = rows[rows["kind"] == kind]
        by_ip = listed.groupby("source_ip", dropna=False, sort=False)
        # one spelling: its count (its list may be cut); several: each was given whole
        distinct = np.maximum(
            by_ip["distinct_values"].transform("max").to_numpy(dtype=np.int64, na_value=0),
            by_ip["value"].transform("nunique").to_numpy(dtype=np.int64, na_value=0),
        )
        counted = (
            listed.assign(distinct_values=distinct)
            .groupby(["source_ip", "value"], dropna=False, sort=False)
            .agg(events=("events", "sum"), distinct_values=("distinct_values", "max"))
            .reset_index()
            .sort_values(["source_ip", "events", "value"], ascending=[True, False, True])
            .assign(kind=kind)
        )
        parts.append(counted[counted.groupby("source_ip", dropna=False).cumcount() < limit])
    return pd.concat(parts, ignore_index=True)[list(long.columns)]


def _ip_rows(frame: pd.DataFrame, ips: frozenset[str]) -> pd.DataFrame:
    """The query's rows whose address is one of ``ips`` (any spelling), one row per (caller,
    address in canonical form): a caller seen under two spellings of one address is one row."""
    if frame.empty:
        return frame
    addresses = canonical_column(frame["source_ip"])
    if addresses.equals(frame["source_ip"].astype("string")) and addresses.isin(ips).all():
        return frame  # the query's rows as they are: every one an address asked, as written
    rows = frame.assign(source_ip=addresses)[addresses.isin(ips).fillna(False).to_numpy()]
    keys = [*IP_PIVOT_CALLER, "source_ip"]
    out = (
        rows.groupby(keys, dropna=False, sort=False)
        .agg(
            calls=("calls", "sum"),
            failed=("failed", "sum"),
            outcome_unknown=("outcome_unknown", "sum"),
            first_seen=("first_seen", "min"),
            last_seen=("last_seen", "max"),
        )
        .reset_index()
    )
    for k in keys:
        out[k] = out[k].astype("string")
    for c in ("calls", "failed", "outcome_unknown"):
        out[c] = out[c].astype(frame[c].dtype)
    out = out.sort_values(
        ["calls", "access_key_id", "arn", "source_ip"],
        ascending=[False, True, True, True],
        na_position="last",
        kind="stable",
    )
    return out[list(frame.columns)].reset_index(drop=True)


def _per_ip_frame(long: pd.DataFrame) -> pd.DataFrame:
    totals = long[long["kind"] == "ip"].reset_index(drop=True)
    if totals.empty:
        return empty_per_ip()
    table = empty_per_ip().reindex(range(len(totals)))
    for c in ("source_ip", "events", "failed", "first_seen", "last_seen", "derived"):
        table[c] = totals[c].array
    table["outcome_unknown"] = pd.array(totals["outcome_unknown"].array, dtype="Int64")
    ip_key = totals["source_ip"].fillna("\0").to_numpy(dtype=object)
    for kind, _, _ in PER_IP_LISTS:
        rows = long[long["kind"] == kind]
        keys = rows["source_ip"].fillna("\0").to_numpy(dtype=object)
        grouped: dict[str, list[tuple[str, int]]] = {}
        for k, v, n in zip(keys, rows["value"].tolist(), rows["events"].tolist(), strict=True):
            grouped.setdefault(k, []).append((v, int(n)))
        if kind == "event_names":
            table[kind] = [dict(grouped.get(k, [])) for k in ip_key]
        else:
            table[kind] = [sorted(v for v, _ in grouped.get(k, [])) for k in ip_key]
            distinct = dict(zip(keys, rows["distinct_values"].tolist(), strict=True))
            table[PER_IP_LIST_COUNTS[kind]] = pd.array(
                [int(distinct.get(k, 0)) for k in ip_key], dtype="Int64"
            )
    table = table.sort_values(["first_seen", "source_ip"], na_position="last", kind="stable")
    return table[list(PER_IP_COLUMNS)].reset_index(drop=True)


def _timeline_frame(counts: pd.DataFrame, origin: pd.Timestamp, size: pd.Timedelta) -> pd.DataFrame:
    buckets = counts["bucket"].astype("Int64").to_numpy(dtype=np.int64, na_value=0)
    starts = pd.DatetimeIndex(origin + size * buckets).astype(_UTC) if len(counts) else []
    return pd.DataFrame(
        {
            "bucket_start": pd.Series(starts, dtype=_UTC),
            "source_ip": pd.Series(counts["source_ip"].array, dtype="string"),
            "events": pd.Series(counts["events"].array, dtype="Int64"),
            "failed": pd.Series(counts["failed"].array, dtype="Int64"),
            "outcome_unknown": pd.Series(counts["outcome_unknown"].array, dtype="Int64"),
        }
    )


def per_ip_from_rollup(long: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    """The per-IP summary (as :func:`per_ip_sql` computes it) from the rollup's rows: totals,
    first/last seen and keys and event names from the ``time`` rows, user agents and regions
    from theirs; ``derived``: a call made with one of ``scope.derived``. One row per address in
    canonical form (its spellings' rows summed, as :func:`torinvest.analysis.per_ip` groups).
    Grouped on integer codes: the rollup can hold about as many rows as there were events."""
    time_rows = long[long["kind"] == "time"]
    if time_rows.empty:
        return empty_per_ip()
    raw_codes, raw_labels = pd.factorize(time_rows["source_ip"], use_na_sentinel=False)
    # one row per address however written: each spelling (a distinct value) mapped once
    to_ip, ip_labels = pd.factorize(
        pd.Series([same_or_canonical(v) for v in raw_labels], dtype=object), use_na_sentinel=False
    )
    ip_codes = to_ip[raw_codes]
    n_ips = len(ip_labels)
    calls = time_rows["calls"].to_numpy(dtype=np.int64, na_value=0)
    failed = time_rows["failed"].to_numpy(dtype=np.int64, na_value=0)
    unknown = time_rows["outcome_unknown"].to_numpy(dtype=np.int64, na_value=0)
    derived = time_rows["access_key_id"].isin(list(scope.derived)).to_numpy(dtype=bool)
    firsts = pd.Series(time_rows["first_seen"].array).groupby(ip_codes).min()
    lasts = pd.Series(time_rows["last_seen"].array).groupby(ip_codes).max()
    labels = pd.array(ip_labels, dtype="string")
    parts = [
        pd.DataFrame(
            {
                "kind": "ip",
                "source_ip": labels,
                "value": pd.array([pd.NA] * n_ips, dtype="string"),
                "events": pd.array(np.bincount(ip_codes, calls, n_ips), dtype="Int64"),
                "failed": pd.array(np.bincount(ip_codes, failed, n_ips), dtype="Int64"),
                "outcome_unknown": pd.array(np.bincount(ip_codes, unknown, n_ips), dtype="Int64"),
                "first_seen": firsts.reindex(range(n_ips)).array,
                "last_seen": lasts.reindex(range(n_ips)).array,
                "derived": pd.array(np.bincount(ip_codes, derived, n_ips) > 0, dtype="boolean"),
            }
        )
    ]
    sources = {
        "regions": ("region", "aws_region"),
        "user_agents": ("user_agent", "user_agent"),
        "access_keys": ("time", "access_key_id"),
        "event_names": ("time", "event_name"),
    }
    raw_index = pd.Index(raw_labels)
    for kind, _, limit in PER_IP_LISTS:
        part_kind, column = sources[kind]
        part = long[(long["kind"] == part_kind) & long[column].notna()]
        ips = to_ip[raw_index.get_indexer(part["source_ip"])]  # the time rows name every IP
        values, value_labels = pd.factorize(part[column])
        rank = label_rank(value_labels)
        pair, inverse = np.unique(
            ips.astype(np.int64) * len(value_labels) + values, return_inverse=True
        )
        weight = part["calls"].to_numpy(dtype=np.int64, na_value=0)
        total = np.bincount(inverse.ravel(), weight, len(pair)).astype(np.int64)
        pair_ip, pair_value = pair // max(len(value_labels), 1), pair % max(len(value_labels), 1)
        by = np.lexsort((rank[pair_value], -total, pair_ip))
        pair_ip, pair_value, total = pair_ip[by], pair_value[by], total[by]
        starts = np.r_[0, np.flatnonzero(np.diff(pair_ip)) + 1] if len(pair_ip) else pair_ip
        position = np.arange(len(pair_ip)) - np.repeat(starts, np.diff(np.r_[starts, len(pair_ip)]))
        keep = position < limit
        distinct = np.bincount(pair_ip, minlength=n_ips)  # every value, before the cut
        parts.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "source_ip": labels[pair_ip[keep]],
                    "value": pd.array(np.asarray(value_labels)[pair_value[keep]], dtype="string"),
                    "events": pd.array(total[keep], dtype="Int64"),
                    "distinct_values": pd.array(distinct[pair_ip[keep]], dtype="Int64"),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    for c in ("first_seen", "last_seen"):
        out[c] = pd.to_datetime(out[c], utc=True).astype(_UTC)
    return _per_ip_frame(out)


def _rollup_frames(
    long: pd.DataFrame, origin: pd.Timestamp, size: pd.Timedelta
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The rollup's rows split by kind: by_time, by_agent, by_region (see :class:`Aggregates`)."""

    def part(kind: str, columns: Sequence[str]) -> pd.DataFrame:
        rows = long[long["kind"] == kind]
        out = {c: pd.Series(rows[c].array, dtype="string") for c in columns}
        out["calls"] = pd.Series(rows["calls"].array, dtype="Int64")
        out["failed"] = pd.Series(rows["failed"].array, dtype="Int64")
        out["outcome_unknown"] = pd.Series(rows["outcome_unknown"].array, dtype="Int64")
        return pd.DataFrame(out)

    rows = long[long["kind"] == "time"]
    bucket = pd.Series(rows["bucket"].array, dtype="Int64")
    starts = pd.Series(pd.NaT, index=bucket.index, dtype=_UTC)
    valid = bucket.notna().to_numpy()
    if valid.any():
        numbers = bucket[valid].to_numpy(dtype=np.int64)
        starts[valid] = pd.DatetimeIndex(origin + size * numbers).astype(_UTC)
    by_time = part("time", ("source_ip", "event_name", "access_key_id"))
    by_time.insert(0, "event_time", starts.array)
    return (
        by_time,
        part("user_agent", ("source_ip", "user_agent")),
        part("region", ("source_ip", "aws_region")),
    )
