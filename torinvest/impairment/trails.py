"""What a CloudTrail call (a trail stopped, deleted, narrowed or moved) takes away from a reading
of the trail's log files; a later call that undoes it (``StartLogging``; a deleted trail created
again and started…) ends the gap."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from torinvest.impairment.model import (
    GAP_ALL,
    GAP_BUCKET,
    GAP_GLOBAL,
    GAP_MANAGEMENT,
    GAP_READS,
    GAP_REGIONS,
    GAP_SOURCES,
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
from torinvest.impairment.selectors import excluded_sources, selectors_gap, sources_said
from torinvest.schema import iso_utc

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


def _span(
    call: Call,
    ended: pd.Timestamp | None,
    ended_by: str | None,
    reading: Reading,
    pending: str = "",
) -> str:
    """The gap's span: until the call that undid it, else to the window's end (``pending``:
    what happened after that did not undo it — a trail re-created but never started)."""
    pending = f"; {pending}" if pending else ""
    if ended is not None and call.time is not None:
        minutes = int((ended - call.time).total_seconds() // 60)
        return (
            f"until {ended_by} at {iso_utc(ended)} ({minutes // 60} h {minutes % 60:02d} min): "
            f"the gap is that span{pending}"
        )
    end = iso_utc(reading.window[1]) if reading.window else None
    counted = (
        " (counted in the engine: the sensitive calls were loaded, and with them the trail "
        "calls that end a gap — StartLogging, CreateTrail —, so none of the key's is missed)"
        if reading.counted
        else ""
    )
    if reading.others_read:
        whose = "of anyone (the key's, and every other principal's in the log files read)"
    elif reading.others_unread:
        whose = (
            "of the key or the keys it minted (another principal's StartLogging was not read: "
            f"{reading.others_unread})"
        )
    else:
        whose = (
            "of the key or the keys it minted (another principal's StartLogging was not looked "
            "for: only the trail's log files are searched for them — read by the file loader, "
            "DuckDB or Athena —, and LookupEvents reads by key)"
        )
    until = f"to the window's end ({end})" if end else "to the end of what was read"
    return (
        f"no later call {whose} in what was read undid it{counted}{pending}: the gap runs {until}"
    )


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
            gap == GAP_SOURCES
            and c.name == "PutEventSelectors"
            and selectors
            and selectors_gap(c.request) != GAP_MANAGEMENT
            and not set(excluded_sources(call.request)) & set(excluded_sources(c.request))
        ):
            return c.time, f"PutEventSelectors {c.by()} (those services recorded again)"
        if (
            gap in (GAP_MANAGEMENT, GAP_WRITES, GAP_READS)
            and c.name == "PutEventSelectors"
            and selectors
            and selectors_gap(c.request) is None
        ):
            return c.time, f"PutEventSelectors {c.by()} (management events recorded again)"
        if c.name == "UpdateTrail":
            if gap == GAP_REGIONS and as_bool(c.request.get("isMultiRegionTrail")) is True:
                return c.time, f"UpdateTrail {c.by()} (multi-region again)"
            if gap == GAP_GLOBAL and as_bool(c.request.get("includeGlobalServiceEvents")) is True:
                return c.time, f"UpdateTrail {c.by()} (global service events again)"
    return None, None


def _recreated(
    call: Call, name: str | None, later: Sequence[Call], reading: Reading
) -> tuple[pd.Timestamp | None, str | None, str]:
    """A deleted trail's gap: it ends when the trail is created again (``CreateTrail`` of the
    same name) AND its logging started (``StartLogging``) — CreateTrail alone does not start
    it. A StartLogging that did not fail with no CreateTrail read before it: the trail was
    created again by a call not in what was read (StartLogging of a deleted trail fails with
    TrailNotFoundException). Also what the trail created again is not (``pending``): never
    started, or its files going elsewhere, one region only."""
    created: Call | None = None
    for c in later:
        if c.time is None or call.time is None or c.time <= call.time:
            continue
        if trail_name(c.request.get("name")) != name:
            continue
        if c.name == "CreateTrail" and created is None:
            created = c
        elif c.name == "StartLogging":
            if created is None:
                return (
                    c.time,
                    f"StartLogging {c.by()} (the trail created again by a call not in what "
                    "was read: StartLogging of a deleted trail fails)",
                    "",
                )
            return (
                c.time,
                f"CreateTrail {created.by()} at {created.at()} and StartLogging {c.by()}",
                _created_as(created, reading).removeprefix("; "),
            )
    if created is None:
        return None, None, ""
    return (
        None,
        None,
        f"the trail was created again at {created.at()} (CreateTrail {created.by()}) but no "
        "StartLogging of it is in what was read: a trail created does not log until "
        "StartLogging is called",
    )


def _created_as(created: Call, reading: Reading) -> str:
    """What the trail created again records unlike the one read (CreateTrail's request and
    response): its files in another bucket, one region only."""
    settings = {**created.request, **created.response}
    parts = []
    bucket = settings.get("s3BucketName")
    if isinstance(bucket, str) and bucket and reading.buckets and bucket not in reading.buckets:
        parts.append(
            f"it delivers to bucket {shown_name(bucket)}, not to the bucket(s) read — read "
            f"the log files there too: --logs s3://{shown_name(bucket)}/AWSLogs/"
        )
    if as_bool(settings.get("isMultiRegionTrail")) is False:
        home = home_region(settings.get("trailARN"), created.region) or "its home region"
        parts.append(
            f"it was created single-region (CreateTrail's default): its log files hold no "
            f"call made in regions other than {home}"
        )
    return "".join(f"; the trail created again: {p}" for p in parts)


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
        gap = selectors_gap(call.request)
        words = {
            GAP_MANAGEMENT: "stopped recording management events (event selectors)",
            GAP_WRITES: "records read-only management events only (event selectors)",
            GAP_READS: "records write management events only (event selectors)",
        }
        if gap is not None:
            gaps.append((gap, words[gap]))
        excluded = excluded_sources(call.request)
        if excluded:  # some services' management events left out (KMS, RDS Data API)
            said = ", ".join(shown_name(v) for v in excluded)
            gaps.append(
                (
                    GAP_SOURCES,
                    f"stopped recording the management events of {said} (event selectors)",
                )
            )
        if not gaps:
            return []  # management events still recorded: nothing the reading relies on
    elif call.name == "UpdateTrail":
        bucket = call.request.get("s3BucketName")
        if isinstance(bucket, str) and bucket and bucket not in reading.buckets:
            gaps.append((GAP_BUCKET, "was set to deliver to another bucket"))
        if as_bool(call.request.get("isMultiRegionTrail")) is False:
            gaps.append((GAP_REGIONS, "was made single-region"))
        if as_bool(call.request.get("includeGlobalServiceEvents")) is False:
            gaps.append((GAP_GLOBAL, "stopped recording global service events"))
    found = (_trail_gap(call, what, name, gap, did, reading, later) for gap, did in gaps)
    return [f for f in found if f is not None]


def _trail_gap(
    call: Call,
    what: str,
    name: str | None,
    gap: str,
    did: str,
    reading: Reading,
    later: Sequence[Call],
) -> Impaired | None:
    """The gap ``call`` made in the reading (None: another principal's work on a trail that is
    not the one read — named otherwise by the digest files, or created in the window)."""
    t = call.at()
    head = f"{what} {did} at {t} ({call.said()})"
    other = _match(name, reading)
    if other is not None and call.other:
        return None  # another principal's work on another trail: not the reading's
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
        if call.other:
            return None  # Event history read: another principal's trail work takes nothing away
        return made(
            call,
            what,
            gap,
            False,
            f"{head}: this reading is LookupEvents' Event history, which records management "
            f"events whatever a trail does — no gap in it after {t}; the trail's own log files "
            f"after {t} are impaired (data events, and any reading of those files later)",
        )
    pending = ""
    if call.name == "DeleteTrail":
        ended, ended_by, pending = _recreated(call, name, later, reading)
    else:
        ended, ended_by = _restored(call, name, gap, later)
    effect = _effect(call, gap, reading)
    if call.other and name is not None and name in reading.new_trails:
        return None  # another principal's trail created in the window: not the files read
    if call.other and (name is None or name not in reading.trail_names):
        # another principal's call on a trail no digest file ties to the files read: admins
        # set trails up and take them down; whether it is the one read is not known — said
        return made(
            call,
            what,
            gap,
            False,
            f"{head}: whether it is the trail whose log files were read is not known (no "
            "digest file names the trail read: copy the trail's CloudTrail-Digest/ folder "
            f"beside its log files to know) — if it is, {effect}; "
            f"{_span(call, ended, ended_by, reading, pending)}",
            ended,
            ended_by,
        )
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
        f"{head}{_trail_unknown(name, reading)}: {effect}; "
        f"{_span(call, ended, ended_by, reading, pending)}"
        f"{lookup}; {_lookup_hint(call, reading, ended) if gap != GAP_BUCKET else _bucket_hint(call)}",
        ended,
        ended_by,
    )


def _effect(call: Call, gap: str, reading: Reading) -> str:
    t = call.at()
    if gap in _GAP_WORDS:
        return _GAP_WORDS[gap].format(t=t)
    if gap == GAP_SOURCES:
        return (
            f"the trail's log files after {t} hold no management event of "
            f"{sources_said(excluded_sources(call.request))} of anyone — none of those "
            f"calls after {t} is not 'none made'"
        )
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
