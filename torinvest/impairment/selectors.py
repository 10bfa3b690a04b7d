"""What a trail's event selectors (``PutEventSelectors``' request, basic or advanced, as
CloudTrail records it) leave out of the management events: all of them, reads or writes, some
services' (``excludeManagementEventSources``; an advanced selector's ``eventSource``
``notEquals``: AWS KMS, the RDS Data API)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torinvest.impairment.model import (
    GAP_MANAGEMENT,
    GAP_READS,
    GAP_WRITES,
    as_bool,
    shown_name,
)


def selectors_gap(request: Mapping[str, Any]) -> str | None:
    """What event selectors (``PutEventSelectors``' request) leave out of management events:
    :data:`GAP_MANAGEMENT` (none recorded), :data:`GAP_WRITES` / :data:`GAP_READS` (reads or
    writes only), or None (management events recorded, reads and writes; or not readable)."""
    basic = request.get("eventSelectors")
    advanced = request.get("advancedEventSelectors")
    if isinstance(basic, list) and basic:
        kinds = set()
        for s in basic:
            if not isinstance(s, Mapping):
                continue
            if as_bool(s.get("includeManagementEvents")) is False:
                continue
            kinds.add(str(s.get("readWriteType") or "All"))
        if not kinds:
            return GAP_MANAGEMENT
        if "All" in kinds or {"ReadOnly", "WriteOnly"} <= kinds:
            return None
        return GAP_WRITES if kinds == {"ReadOnly"} else GAP_READS
    if isinstance(advanced, list) and advanced:
        kinds = set()
        for s in advanced:
            fields = s.get("fieldSelectors") if isinstance(s, Mapping) else None
            if not isinstance(fields, list):
                continue
            by = {f.get("field"): f for f in fields if isinstance(f, Mapping)}
            category = by.get("eventCategory") or {}
            if "Management" not in (category.get("equals") or []):
                continue
            only = (by.get("readOnly") or {}).get("equals") or []
            kinds.add(
                {"true": "ReadOnly", "false": "WriteOnly"}.get(str(only[0]).lower(), "All")
                if only
                else "All"
            )
        if not kinds:
            return GAP_MANAGEMENT
        if "All" in kinds or {"ReadOnly", "WriteOnly"} <= kinds:
            return None
        return GAP_WRITES if kinds == {"ReadOnly"} else GAP_READS
    return None


def excluded_sources(request: Mapping[str, Any]) -> tuple[str, ...]:
    """The services whose management events event selectors (``PutEventSelectors``' request)
    leave out while recording others': basic selectors' ``excludeManagementEventSources``,
    advanced selectors' ``eventSource`` ``notEquals`` (``kms.amazonaws.com``,
    ``rdsdata.amazonaws.com``). A management event is recorded when any selector takes it, so
    a service is left out when every selector recording management events leaves it out;
    none when no selector records management events (:data:`GAP_MANAGEMENT` says that)."""
    basic = request.get("eventSelectors")
    advanced = request.get("advancedEventSelectors")
    kept: list[set[str]] = []  # per selector recording management events: what it leaves out
    if isinstance(basic, list) and basic:
        for s in basic:
            if not isinstance(s, Mapping) or as_bool(s.get("includeManagementEvents")) is False:
                continue
            out = s.get("excludeManagementEventSources")
            kept.append(
                {v for v in out if isinstance(v, str) and v} if isinstance(out, list) else set()
            )
    elif isinstance(advanced, list) and advanced:
        for s in advanced:
            fields = s.get("fieldSelectors") if isinstance(s, Mapping) else None
            if not isinstance(fields, list):
                continue
            by = {f.get("field"): f for f in fields if isinstance(f, Mapping)}
            if "Management" not in ((by.get("eventCategory") or {}).get("equals") or []):
                continue
            out = (by.get("eventSource") or {}).get("notEquals")
            kept.append(
                {v for v in out if isinstance(v, str) and v} if isinstance(out, list) else set()
            )
    if not kept:
        return ()
    return tuple(sorted(set.intersection(*kept)))


#: What the services whose management events may be left out record (the examples shown).
SOURCE_WORDS = {
    "kms.amazonaws.com": "AWS KMS: Decrypt, GenerateDataKey, CreateGrant, ScheduleKeyDeletion…",
    "rdsdata.amazonaws.com": "RDS Data API: ExecuteStatement, BatchExecuteStatement…",
}


def sources_said(sources: Sequence[str]) -> str:
    return ", ".join(
        f"{shown_name(v)} ({SOURCE_WORDS[v]})" if v in SOURCE_WORDS else shown_name(v)
        for v in sources
    )
