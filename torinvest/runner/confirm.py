"""Before a change justified by a record of the activity: that record confirmed with CloudTrail.

A log file is a file: whoever can write the trail's bucket (the compromised key often can:
``s3:PutObject``) or the case folder can add a record "the Tor key called CreateUser admin" with
admin's real CreateDate and user ID, and an undo built from it would delete admin. So every
record an undo step is justified by (:attr:`~torinvest.actions.Action.records`) is looked up by
its event ID in CloudTrail's Event history of its region (``LookupEvents``, a CHECK read,
ledgered, once per record and run), and must come back with the same eventName, access key,
eventTime and what the step takes from it (:attr:`~torinvest.actions.Record.fields`). A row that
came from LookupEvents itself needs no call.

Outcomes: confirmed → the step goes on to its other checks; not in the Event history, or
different there, or the lookup failed → the step is left alone, saying which and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from torinvest.actions import Action, Record, record_field
from torinvest.aws.regions import REGION_RE
from torinvest.runner.probes import is_deny
from torinvest.runner.recorder import CallResult, Runner
from torinvest.sources.lookup.pacer import pacer_for
from torinvest.targets import json_object

#: The error codes of a look-up refused as over the rate.
THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
#: What to do when a record cannot be confirmed (said with every such step).
BY_HAND = (
    "check it in the trail's log files validated against their digests (aws cloudtrail "
    "validate-logs) and undo it by hand if it is genuine"
)


def confirmation_needed(action: Action) -> list[Record]:
    """The records of ``action`` the run confirms with CloudTrail before the call."""
    return [r for r in action.records if not r.from_lookup]


def dry_run_note(action: Action) -> str:
    """What a dry run says of a step that --execute does otherwise than printed: a deny's cutoff
    (the time of its call, :func:`~torinvest.runner.probes.cut_off_now`), the records it
    confirms first ("" when neither)."""
    cutoff = (
        " (--execute sets its aws:TokenIssueTime to the time of its call)"
        if is_deny(action)
        else ""
    )
    needed = confirmation_needed(action)
    if not needed:
        return cutoff
    said = ", ".join(f"{r.event_name} {r.event_id or '(no event ID)'}" for r in needed)
    return f"{cutoff} (--execute confirms its record(s) with CloudTrail LookupEvents first: {said})"


def unconfirmed(runner: Runner, action: Action) -> tuple[str, str] | None:
    """``("left-alone", why)`` when a record ``action`` is justified by is not confirmed by
    CloudTrail's Event history; None when every one is (or none needs it). A step with
    ``any_record`` needs one: it goes ahead when any of its records is confirmed (or came from
    LookupEvents)."""
    needed = confirmation_needed(action)
    if action.any_record and len(needed) < len(action.records):
        return None  # one of its records is CloudTrail's own answer
    first: tuple[str, str] | None = None
    for record in needed:
        where = (record.event_id, record.region)
        if where not in runner.confirmations:
            runner.confirmations[where] = _confirm(runner, record)
        found = runner.confirmations[where]
        if found is None and action.any_record:
            return None
        if found is not None and not action.any_record:
            return found
        first = first or found
    return first


def _stamp(record: Record) -> str:
    if not record.event_time:
        return "an unknown time"
    return f"{pd.Timestamp(record.event_time):%Y-%m-%d %H:%M:%S}Z"


def _confirm(runner: Runner, record: Record) -> tuple[str, str] | None:
    what = f"the {record.event_name} record at {_stamp(record)}"
    if not record.event_id:
        return (
            "left-alone",
            f"{what} has no event ID (eventID) to confirm it with CloudTrail by: a forged or "
            f"damaged record? not undone — {BY_HAND}",
        )
    what = f"{what} (event ID {record.event_id})"
    if not record.region or not REGION_RE.fullmatch(record.region):
        return (
            "left-alone",
            f"{what} names no usable region ({record.region!r}) to confirm it in: not undone — "
            f"{BY_HAND}",
        )
    read = Action(
        "cloudtrail",
        "LookupEvents",
        {"LookupAttributes": [{"AttributeKey": "EventId", "AttributeValue": record.event_id}]},
        why=f"is {what} in CloudTrail's Event history? (confirmed before it is undone)",
        region=record.region,
        changes_aws=False,
        targets=(record.event_id,),
    )
    seen = _paced(runner, read, record.region)
    listed = (seen.response or {}).get("Events") if seen.status == "read" else None
    if not isinstance(listed, list):
        said = seen.error.message if seen.error else "no answer"
        return (
            "left-alone",
            f"could not confirm {what} with CloudTrail's Event history of {record.region} "
            f"({said}): not undone — re-run with cloudtrail:LookupEvents allowed, or {BY_HAND}",
        )
    events = [e for e in listed if isinstance(e, Mapping) and e.get("EventId") == record.event_id]
    if not events:
        return (
            "left-alone",
            f"{what} is not in CloudTrail's Event history of {record.region}: a forged record "
            "(log files can be written by anyone who can write the trail's bucket or the case "
            f"folder) or a call older than 90 days — not undone; {BY_HAND}",
        )
    differs = _differences(record, events[0])
    if differs:
        return (
            "left-alone",
            f"{what} is in CloudTrail's Event history of {record.region}, but there "
            f"{'; '.join(differs)}: the record was altered — not undone; {BY_HAND}",
        )
    return None


#: How many times a throttled look-up is made (each one paced, printed and ledgered).
ATTEMPTS = 3


def _paced(runner: Runner, read: Action, region: str) -> CallResult:
    """``read`` within LookupEvents' documented rate (2 a second per account and region, the
    pacer every lookup there shares), again after a throttled answer."""
    account = runner.caller.account if runner.caller is not None else ""
    pacer = pacer_for(account, region)
    for _ in range(ATTEMPTS):
        slot = pacer.wait()
        seen = runner.call(read, verb="CHECK", probe=True)
        throttled = seen.code in THROTTLED
        pacer.done(slot, throttled=throttled)
        if not throttled:
            break
    return seen


def _differences(record: Record, event: Mapping[str, Any]) -> list[str]:
    """How CloudTrail's copy (a LookupEvents ``Event``) differs from ``record``."""
    out: list[str] = []
    if event.get("EventName") != record.event_name:
        out.append(f"it is {event.get('EventName')!r}, not {record.event_name}")
    key = event.get("AccessKeyId") or None
    if key != record.access_key_id:
        out.append(f"its access key is {key!r}, not {record.access_key_id!r}")
    when = event.get("EventTime")
    if record.event_time and when is not None:
        theirs = pd.Timestamp(when)
        theirs = theirs.tz_localize("UTC") if theirs.tzinfo is None else theirs.tz_convert("UTC")
        if abs(theirs - pd.Timestamp(record.event_time)) >= pd.Timedelta(seconds=1):
            out.append(f"its time is {theirs:%Y-%m-%d %H:%M:%S}Z, not {_stamp(record)}")
    if record.fields:
        full = json_object(event.get("CloudTrailEvent"))
        if not full:
            out.append("its CloudTrailEvent cannot be read to compare what the step takes from it")
            return out
        for path, value in record.fields:
            there = record_field(full, path)
            if there != value:
                out.append(f"{path} is {there!r}, not {value!r}")
    return out
