"""What a CloudTrail call (a trail stopped, deleted, narrowed or moved) and a call on the trail's
bucket (its lifecycle, its deletion) take away from a reading of the trail's log files; a later
call that undoes it (``StartLogging``…) ends the gap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from torinvest.impairment.model import (
    GAP_ALL,
    GAP_BUCKET,
    GAP_GLOBAL,
    GAP_MANAGEMENT,
    GAP_READS,
    GAP_REGIONS,
    GAP_WRITES,
    Call,
    Impaired,
    Reading,
    as_bool,
    home_region,
    made,
    shown_name,
    trail_name,
)
from torinvest.schema import iso_utc


def _selectors_gap(request: Mapping[str, Any]) -> str | None:
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


_GAP_WORDS = {
    GAP_ALL: "the trail's log files after {t} hold nothing of anyone — no events after {t} is "
    "not 'no activity'",
    GAP_MANAGEMENT: "the trail's log files after {t} hold no management event of anyone (IAM, "
    "STS, EC2… calls) — none after {t} is not 'no activity'",
    GAP_WRITES: "the trail's log files after {t} hold no write (management) call of anyone — "
    "no CreateUser, CreateAccessKey, AttachUserPolicy… after {t} is not 'none made'",
    GAP_READS: "the trail's log files after {t} hold no read-only (management) call of anyone — "
    "no List…/Describe…/Get… after {t} is not 'none made'",
    GAP_GLOBAL: "the trail's log files after {t} hold no global service event (IAM, STS, "
    "CloudFront) of anyone — no IAM or STS call after {t} is not 'none made'",
}


def _trail_what(call: Call) -> tuple[str, str | None]:
    raw = call.request.get("name") if call.name != "PutEventSelectors" else None
    raw = raw or call.request.get("trailName") or call.request.get("name")
    name = trail_name(raw)
    return (f"trail {shown_name(name)}" if name else "a trail not named in the record"), name


def _match(name: str | None, reading: Reading) -> str | None:
    """Why the call's trail is not the trail read (None: it is, or which it is is not known)."""
    if name is None or not reading.trail_names:
        return None
    if name in reading.trail_names:
        return None
    names = ", ".join(shown_name(n) for n in reading.trail_names)
    return f"the log files read are of trail(s) {names} (their digest files' names)"


def _trail_unknown(name: str | None, reading: Reading) -> str:
    if name is not None and name in reading.trail_names:
        return " (the trail whose log files were read: their digest files name it)"
    if not reading.trail_files:
        return ""
    return (
        " (whether it is the trail whose log files were read is not known: no digest file "
        "named it — so it is taken to be)"
    )


def _lookup_hint(call: Call, reading: Reading, end: pd.Timestamp | None) -> str:
    """The command that reads Event history (LookupEvents) for the gap."""
    start = iso_utc(call.time) or "T"
    stop = iso_utc(end) or (iso_utc(reading.window[1]) if reading.window else None) or "END"
    key = reading.access_key or call.key or "KEY"
    return (
        "Event history (LookupEvents) still records management events, whatever a trail does, "
        f"for 90 days: run torinvest events --lookup --access-key {key} --follow-derived "
        f"--regions all --start {start} --end {stop} --out gap.csv (or investigate with AWS "
        "access: --regions all)"
    )


def _span(call: Call, ended: pd.Timestamp | None, ended_by: str | None, reading: Reading) -> str:
    if ended is not None and call.time is not None:
        minutes = int((ended - call.time).total_seconds() // 60)
        return (
            f"until {ended_by} at {iso_utc(ended)} ({minutes // 60} h {minutes % 60:02d} min): "
            "the gap is that span"
        )
    end = iso_utc(reading.window[1]) if reading.window else None
    counted = (
        " (only the sensitive calls were loaded — counted in the engine —, so a StartLogging "
        "would not be seen)"
        if reading.counted
        else ""
    )
    until = f"to the window's end ({end})" if end else "to the end of what was read"
    return f"no later call in what was read undid it{counted}: the gap runs {until}"


def _restored(
    call: Call, name: str | None, gap: str, later: Sequence[Call]
) -> tuple[pd.Timestamp | None, str | None]:
    """The first later call in ``later`` that undoes ``call``'s ``gap`` on the same trail."""
    if call.time is None or gap == GAP_BUCKET:
        return None, None
    for c in later:
        if c.time is None or c.time <= call.time:
            continue
        raw = c.request.get("trailName") if c.name == "PutEventSelectors" else c.request.get("name")
        if trail_name(raw) != name:
            continue
        if gap == GAP_ALL and c.name == "StartLogging" and call.name == "StopLogging":
            return c.time, f"StartLogging {c.by()}"
        selectors = c.request.get("eventSelectors") or c.request.get("advancedEventSelectors")
        if (
            gap in (GAP_MANAGEMENT, GAP_WRITES, GAP_READS)
            and c.name == "PutEventSelectors"
            and selectors
            and _selectors_gap(c.request) is None
        ):
            return c.time, f"PutEventSelectors {c.by()} (management events recorded again)"
        if c.name == "UpdateTrail":
            if gap == GAP_REGIONS and as_bool(c.request.get("isMultiRegionTrail")) is True:
                return c.time, f"UpdateTrail {c.by()} (multi-region again)"
            if gap == GAP_GLOBAL and as_bool(c.request.get("includeGlobalServiceEvents")) is True:
                return c.time, f"UpdateTrail {c.by()} (global service events again)"
    return None, None


def cloudtrail_calls(call: Call, reading: Reading, later: Sequence[Call]) -> list[Impaired]:
    what, name = _trail_what(call)
    t = call.at()
    if call.name in ("StopEventDataStoreIngestion", "DeleteEventDataStore"):
        store = shown_name(call.request.get("eventDataStore") or "an event data store")
        verb = "stopped ingesting" if call.name.startswith("Stop") else "was deleted"
        return [
            made(
                call,
                f"event data store {store}",
                "",
                False,
                f"CloudTrail Lake event data store {store} {verb} at {t} ({call.said()}): "
                "torinvest does not read CloudTrail Lake (this reading is not changed), but a "
                "query there misses what came after",
            )
        ]
    if call.name == "PutInsightSelectors":
        return [
            made(
                call,
                what,
                "",
                False,
                f"{what}'s Insights selectors changed at {t} ({call.said()}): Insights events "
                "(unusual call rates) may no longer be raised; torinvest does not read them "
                "(this reading is not changed)",
            )
        ]
    gaps: list[tuple[str, str]] = []  # (gap, what it did)
    if call.name == "StopLogging":
        gaps.append((GAP_ALL, "stopped logging"))
    elif call.name == "DeleteTrail":
        gaps.append((GAP_ALL, "was deleted"))
    elif call.name == "PutEventSelectors":
        gap = _selectors_gap(call.request)
        if gap is None:
            return []  # management events still recorded: nothing the reading relies on
        words = {
            GAP_MANAGEMENT: "stopped recording management events (event selectors)",
            GAP_WRITES: "records read-only management events only (event selectors)",
            GAP_READS: "records write management events only (event selectors)",
        }
        gaps.append((gap, words[gap]))
    elif call.name == "UpdateTrail":
        bucket = call.request.get("s3BucketName")
        if isinstance(bucket, str) and bucket and bucket not in reading.buckets:
            gaps.append((GAP_BUCKET, "was set to deliver to another bucket"))
        if as_bool(call.request.get("isMultiRegionTrail")) is False:
            gaps.append((GAP_REGIONS, "was made single-region"))
        if as_bool(call.request.get("includeGlobalServiceEvents")) is False:
            gaps.append((GAP_GLOBAL, "stopped recording global service events"))
    out = []
    for gap, did in gaps:
        out.append(_trail_gap(call, what, name, gap, did, reading, later))
    return out


def _trail_gap(
    call: Call,
    what: str,
    name: str | None,
    gap: str,
    did: str,
    reading: Reading,
    later: Sequence[Call],
) -> Impaired:
    t = call.at()
    head = f"{what} {did} at {t} ({call.said()})"
    other = _match(name, reading)
    if other is not None:
        return made(
            call,
            what,
            gap,
            False,
            f"{head}: another trail than the one read — {other}; its own log files after {t} "
            "are impaired, not those read",
        )
    if not reading.trail_files:
        return made(
            call,
            what,
            gap,
            False,
            f"{head}: this reading is LookupEvents' Event history, which records management "
            f"events whatever a trail does — no gap in it after {t}; the trail's own log files "
            f"after {t} are impaired (data events, and any reading of those files later)",
        )
    ended, ended_by = _restored(call, name, gap, later)
    effect = _effect(call, gap, reading)
    lookup = (
        f"; LookupEvents was read beside them ({', '.join(reading.lookup_regions)}): management "
        "events there are in the reading all the same"
        if reading.lookup_regions and gap != GAP_BUCKET
        else ""
    )
    return made(
        call,
        what,
        gap,
        True,
        f"{head}{_trail_unknown(name, reading)}: {effect}; {_span(call, ended, ended_by, reading)}"
        f"{lookup}; {_lookup_hint(call, reading, ended) if gap != GAP_BUCKET else _bucket_hint(call)}",
        ended,
        ended_by,
    )


def _effect(call: Call, gap: str, reading: Reading) -> str:
    t = call.at()
    if gap in _GAP_WORDS:
        return _GAP_WORDS[gap].format(t=t)
    if gap == GAP_REGIONS:
        home = home_region(call.request.get("name"), call.region) or "its home region"
        return (
            f"the trail's log files after {t} hold no call of anyone made in regions other "
            f"than {home} — none there after {t} is not 'no activity'"
        )
    bucket = shown_name(call.request.get("s3BucketName"))
    read = ", ".join(shown_name(b) for b in reading.buckets) or "the folder(s) read"
    return (
        f"the trail's log files after {t} go to bucket {bucket}, not to {read}: what was read "
        f"holds none of them — no events after {t} is not 'no activity'"
    )


def _bucket_hint(call: Call) -> str:
    bucket = shown_name(call.request.get("s3BucketName"))
    prefix = call.request.get("s3KeyPrefix")
    base = f"s3://{bucket}/" + (
        f"{shown_name(prefix).strip('/')}/" if isinstance(prefix, str) and prefix else ""
    )
    return f"read the log files there too: --logs {base}AWSLogs/"


# --------------------------------------------------------------------------------------------
# the trail's bucket
# --------------------------------------------------------------------------------------------
def _expiration_days(request: Mapping[str, Any]) -> list[int]:
    conf = request.get("LifecycleConfiguration")
    rules = conf.get("Rule") if isinstance(conf, Mapping) else None
    rules = rules if isinstance(rules, list) else [rules]
    days = []
    for r in rules:
        if not isinstance(r, Mapping) or r.get("Status") == "Disabled":
            continue
        exp = r.get("Expiration")
        d = exp.get("Days") if isinstance(exp, Mapping) else None
        try:
            days.append(int(d))
        except (TypeError, ValueError):
            continue
    return days


def bucket_calls(call: Call, reading: Reading) -> list[Impaired]:
    bucket = call.request.get("bucketName")
    if not isinstance(bucket, str) or not bucket:
        return []
    b = shown_name(bucket)
    t = call.at()
    if call.name == "DeleteBucket":
        effect = (
            f"log files of the trail that were in it and not read are gone — days without a log "
            f"file around {t} may have been deleted, not quiet"
        )
    else:
        days = _expiration_days(call.request)
        if not days:
            return []  # no expiration: nothing deleted
        effect = (
            f"objects older than {min(days)} day(s) expire from then on — days of the window "
            "without a log file may have been deleted by the rule, not quiet"
        )
    head = f"bucket {b}: {call.said()} at {t}"
    if bucket in reading.buckets:
        return [
            made(
                call,
                f"bucket {b}",
                "",
                True,
                f"{head} — the bucket the log files were read from: {effect}; compare with "
                f"Event history (LookupEvents, 90 days): torinvest investigate with AWS access "
                "(--regions all)",
            )
        ]
    if reading.trail_files and not reading.buckets:  # local folders: whose copy is not known
        return [
            made(
                call,
                f"bucket {b}",
                "",
                False,
                f"{head}: if {b} is the bucket the log files read were copied from, {effect}",
            )
        ]
    return []
