"""What the key turned off that the reading relies on: the one place that reads the key's (and
its derived keys') successful calls that impair logging or detection, and says what each takes
away from the reading.

An attacker with the key often turns off what would record them — CloudTrail ``StopLogging``,
``DeleteTrail``, ``UpdateTrail`` (another bucket, one region, no global events),
``PutEventSelectors`` (management events off, reads or writes only); the trail bucket's
lifecycle or deletion; GuardDuty ``UpdateDetector`` (disabled), ``DeleteDetector``, a trusted IP
list (``CreateIPSet``/``UpdateIPSet``), a suppression rule (``CreateFilter`` with ``ARCHIVE``),
``DisassociateFromAdministratorAccount``. The sensitive-calls card lists them; without this
module the reading did not know them, and "no events after T", "no log file those days" and "no
related finding" read as a quiet account — an answer made by the attacker. Its modules: the
calls read and what passes around (:mod:`.model`), CloudTrail and the trail's bucket
(:mod:`.trails`), GuardDuty and what torinvest does not read (:mod:`.services`).

:func:`impairments` returns, for every such call that did not fail (a failed ``StopLogging``
impaired nothing: it says nothing), one :class:`Impaired`: which trail, detector, bucket or log
group, when, by which key, from which address, and what it takes away:

- a **data issue** of the reading (:attr:`Impairments.issues`, sources ``impaired:cloudtrail``,
  ``impaired:s3``, ``impaired:guardduty``) when it blinds what was read — the trail's log files
  after T (when log files or a trail's table were read: LookupEvents' Event history records
  management events whatever a trail does), the related-findings search after T;
- a **note** (:attr:`Impairments.notes`: the report's reading notes) when it does not — a call
  on another trail than the one read (its name from the trail's digest files), LookupEvents the
  only source, something torinvest does not read (CloudWatch Logs, AWS Config, CloudTrail Lake,
  Insights), a suppression rule (the related-findings search includes archived findings).

A later call in the events read that undoes it (``StartLogging`` on the trail, a deleted trail
created again and started, event selectors recording management events again, the trail made
multi-region again…) ends the gap: the issue says its span.

Logging off is logging off whoever turned it off: the same calls by anyone else than the key
(``others``, read apart by the file loader in the same pass, or by one more query of DuckDB or
Athena: ``WATCHED_CALLS``) are read the
same way, naming who made them — but on a trail no digest file ties to the files read, a note
(whether it is that trail is not known), and their ``StartLogging`` ends the key's gap too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd

from torinvest.data_events import files_read
from torinvest.impairment.bucket import bucket_calls
from torinvest.impairment.model import (
    CALLS,
    CLOUDTRAIL,
    CLOUDTRAIL_SOURCE,
    CONFIG,
    GUARDDUTY_SOURCE,
    LOGS,
    RESTORING,
    S3,
    S3_SOURCE,
    SOURCES,
    SUMMARY_PROPERTIES,
    Call,
    Impaired,
    Impairments,
    Reading,
    calls_of,
    trail_name,
)
from torinvest.impairment.services import config_calls, guardduty_calls, log_group_calls
from torinvest.impairment.trails import cloudtrail_calls

#: The event names read of anyone else than the key in the log files (``load_activity``'s
#: ``watch``): the calls that impair logging or detection, and those that end a gap.
WATCHED_CALLS = frozenset(name for _, name in CALLS | RESTORING)

if TYPE_CHECKING:
    from torinvest.events import Activity

__all__ = [
    "CLOUDTRAIL_SOURCE",
    "GUARDDUTY_SOURCE",
    "S3_SOURCE",
    "SOURCES",
    "SUMMARY_PROPERTIES",
    "WATCHED_CALLS",
    "Impaired",
    "Impairments",
    "Reading",
    "buckets_of",
    "impairments",
    "reading_basis",
    "trail_name",
]


# --------------------------------------------------------------------------------------------
# every call
# --------------------------------------------------------------------------------------------
def impairments(
    events: pd.DataFrame, reading: Reading, others: pd.DataFrame | None = None
) -> Impairments:
    """The calls in ``events`` (the key's and its derived keys' activity) that impaired logging
    or detection and did not fail, each with what it takes away from ``reading`` (module
    docstring). ``others``: the calls of :data:`WATCHED_CALLS` made by anyone else in the
    window (:attr:`torinvest.events.Activity.watched`; None: not looked for) — logging off is
    logging off whoever turned it off: each is read as the key's are, naming who made it, and
    another principal's ``StartLogging`` ends the key's gap as the key's own does."""
    calls = calls_of(events, CALLS | RESTORING)
    if others is not None:
        calls += calls_of(others, CALLS | RESTORING, other=True)
        calls.sort(key=lambda c: (c.time is None, c.time or pd.Timestamp(0, tz="UTC")))
        reading = replace(reading, others_read=True, new_trails=_new_trails(calls, events))
    later = [c for c in calls if (c.source, c.name) in RESTORING]
    out: list[Impaired] = []
    for call in calls:
        if (call.source, call.name) not in CALLS:
            continue
        if call.other and not _concerns_the_reading(call):
            continue  # anyone's routine work on what the reading does not rest on
        if call.source == CLOUDTRAIL:
            out += cloudtrail_calls(call, reading, later)
        elif call.source == S3:
            out += bucket_calls(call, reading)
        elif call.source == LOGS:
            out += log_group_calls(call)
        elif call.source == CONFIG:
            out += config_calls(call)
        else:
            out += guardduty_calls(call)
    return Impairments(tuple(out))


def _concerns_the_reading(call: Call) -> bool:
    """Whether another principal's call can blind what was read: a trail's (judged in
    :mod:`.trails`), GuardDuty's detector, a bucket (said only when it is the bucket read) —
    not a CloudWatch Logs group, AWS Config, CloudTrail Lake, Insights or a suppression rule
    (the related-findings search includes archived findings), which torinvest does not read:
    for the key they say what it did; for anyone else they are routine work, not the reading's."""
    if call.source in (LOGS, CONFIG):
        return False
    if call.source == CLOUDTRAIL:
        return call.name not in (
            "PutInsightSelectors",
            "StopEventDataStoreIngestion",
            "DeleteEventDataStore",
        )
    return call.name not in ("CreateFilter", "UpdateFilter")


def _new_trails(calls: list[Call], events: pd.DataFrame) -> tuple[str, ...]:
    """The trails created (``CreateTrail``, by anyone) after the first call read: the log files
    read hold records from before they existed, so they are not (only) those trails' files."""
    times = events["event_time"].dropna() if "event_time" in events.columns else None
    first = times.min() if times is not None and len(times) else None
    if first is None:
        return ()
    out = []
    for c in calls:
        if c.name == "CreateTrail" and c.time is not None and c.time > first:
            name = trail_name(c.request.get("name"))
            if name and name not in out:
                out.append(name)
    return tuple(out)


def reading_basis(
    act: Activity,
    window: tuple[pd.Timestamp | None, pd.Timestamp | None] | None = None,
    *,
    access_key: str = "",
) -> Reading:
    """What ``act`` (an activity as read) rests on (:class:`Reading`): log files of a trail or a
    trail's Athena table (the saved LookupEvents answers of a case folder are not: they are
    Event history's), the LookupEvents regions read, the trails' names (their digest files),
    the buckets read."""
    logs, _ = files_read(act)
    tables = any(s.startswith("athena:") for s in act.sources)
    lookups = tuple(
        dict.fromkeys(
            s.removeprefix("lookup:").split(" ", 1)[0]
            for s in act.sources
            if s.startswith("lookup:")
        )
    )
    counts = act.file_counts
    return Reading(
        trail_files=bool(logs) or tables,
        lookup_regions=lookups,
        trail_names=tuple(counts.trail_names) if counts is not None else (),
        buckets=buckets_of(act.sources),
        window=window,
        counted=act.aggregates is not None,
        access_key=access_key,
        others_unread=act.watched_unread,
    )


def buckets_of(sources: Iterable[str]) -> tuple[str, ...]:
    """The S3 buckets of the log locations read (``logs:s3://B/…``, ``duckdb:s3://B/…``)."""
    out = []
    for s in sources:
        _, _, rest = s.partition(":")
        if rest.startswith("s3://"):
            bucket = rest[5:].partition("/")[0]
            if bucket and bucket not in out:
                out.append(bucket)
    return tuple(out)
