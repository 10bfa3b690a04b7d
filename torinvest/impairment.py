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
related finding" read as a quiet account — an answer made by the attacker.

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

A later call in the events read that undoes it (``StartLogging`` on the trail, event selectors
recording management events again, the trail made multi-region again…) ends the gap: the issue
says its span.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from torinvest.data_events import files_read
from torinvest.errors import DataIssue
from torinvest.outcome import failed_rows, unknown_rows
from torinvest.safety import term_safe
from torinvest.schema import iso_utc
from torinvest.targets import json_object

if TYPE_CHECKING:
    from torinvest.events import Activity

#: The data issues' sources.
CLOUDTRAIL_SOURCE = "impaired:cloudtrail"
S3_SOURCE = "impaired:s3"
GUARDDUTY_SOURCE = "impaired:guardduty"
SOURCES = (CLOUDTRAIL_SOURCE, S3_SOURCE, GUARDDUTY_SOURCE)

#: The calls read, by (event source, event name). Those not here impair nothing the reading
#: uses, or nothing at all.
CLOUDTRAIL = "cloudtrail.amazonaws.com"
GUARDDUTY = "guardduty.amazonaws.com"
S3 = "s3.amazonaws.com"
LOGS = "logs.amazonaws.com"
CONFIG = "config.amazonaws.com"
CALLS = frozenset(
    {
        (CLOUDTRAIL, "StopLogging"),
        (CLOUDTRAIL, "DeleteTrail"),
        (CLOUDTRAIL, "UpdateTrail"),
        (CLOUDTRAIL, "PutEventSelectors"),
        (CLOUDTRAIL, "PutInsightSelectors"),
        (CLOUDTRAIL, "StopEventDataStoreIngestion"),
        (CLOUDTRAIL, "DeleteEventDataStore"),
        (S3, "DeleteBucket"),
        (S3, "PutBucketLifecycle"),
        (S3, "PutBucketLifecycleConfiguration"),
        (LOGS, "DeleteLogGroup"),
        (LOGS, "PutRetentionPolicy"),
        (GUARDDUTY, "UpdateDetector"),
        (GUARDDUTY, "DeleteDetector"),
        (GUARDDUTY, "CreateIPSet"),
        (GUARDDUTY, "UpdateIPSet"),
        (GUARDDUTY, "CreateFilter"),
        (GUARDDUTY, "UpdateFilter"),
        (GUARDDUTY, "DisassociateFromAdministratorAccount"),
        (GUARDDUTY, "DisassociateFromMasterAccount"),
        (CONFIG, "StopConfigurationRecorder"),
        (CONFIG, "DeleteConfigurationRecorder"),
    }
)
#: The calls that may end a trail's gap (read with :data:`CALLS`).
RESTORING = frozenset(
    {(CLOUDTRAIL, "StartLogging"), (CLOUDTRAIL, "PutEventSelectors"), (CLOUDTRAIL, "UpdateTrail")}
)

#: A name (trail, bucket, detector…) is quoted up to this many characters: attacker-written.
MAX_NAME = 200

#: What a trail's gap is (``Impaired.gap``): the trail records nothing, no management event,
#: only reads or writes, no other region, no global service event, its files go elsewhere.
GAP_ALL = "all"
GAP_MANAGEMENT = "management"
GAP_WRITES = "writes"
GAP_READS = "reads"
GAP_REGIONS = "regions"
GAP_GLOBAL = "global"
GAP_BUCKET = "bucket"


@dataclass(frozen=True, slots=True)
class Impaired:
    """One call that impaired logging or detection, and what it takes away from the reading.

    ``what``: the thing acted on (``trail management-events``, ``detector 12abc…``, ``bucket
    B``); ``gap``: for a trail, what its log files stop holding (:data:`GAP_ALL`…), else "";
    ``ended``/``ended_by``: the later call that undid it (None: not in what was read);
    ``issue``: a data issue of the reading (else a note); ``text``: the sentence said."""

    event_name: str
    event_source: str
    event_time: pd.Timestamp | None
    event_id: str | None
    region: str | None
    access_key_id: str | None
    source_ip: str | None
    tor: bool | None
    what: str
    gap: str
    issue: bool
    text: str
    ended: pd.Timestamp | None = None
    ended_by: str | None = None

    @property
    def source(self) -> str:
        if self.event_source == GUARDDUTY:
            return GUARDDUTY_SOURCE
        if self.event_source == S3:
            return S3_SOURCE
        return CLOUDTRAIL_SOURCE

    def to_json(self) -> dict[str, Any]:
        """``summary.json``'s ``impaired_logging`` entry."""
        return {
            "event_name": self.event_name,
            "event_source": self.event_source,
            "event_time": iso_utc(self.event_time),
            "event_id": self.event_id,
            "region": self.region,
            "access_key_id": self.access_key_id,
            "source_ip": self.source_ip,
            "tor": self.tor,
            "what": self.what,
            "issue": self.issue,
            "ended": iso_utc(self.ended),
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class Impairments:
    """Every impairing call found (:func:`impairments`), oldest first."""

    calls: tuple[Impaired, ...] = ()

    @property
    def issues(self) -> list[DataIssue]:
        """The data issues of the reading (calls that blind what was read)."""
        return [DataIssue(c.source, c.text) for c in self.calls if c.issue]

    @property
    def notes(self) -> list[str]:
        """What the reading notes say (calls that blind nothing read)."""
        return [c.text for c in self.calls if not c.issue]

    @property
    def activity_gaps(self) -> list[DataIssue]:
        """The issues of the key's activity itself (a trail's log files after T hold nothing
        of it): a key minted, a call made in the gap is not in what was read."""
        return [
            DataIssue(c.source, c.text)
            for c in self.calls
            if c.issue and c.event_source in (CLOUDTRAIL, S3)
        ]

    @property
    def findings_gaps(self) -> list[DataIssue]:
        """The issues of the related-findings search (GuardDuty blinded after T)."""
        return [
            DataIssue(c.source, c.text)
            for c in self.calls
            if c.issue and c.source == GUARDDUTY_SOURCE
        ]

    def to_json(self) -> list[dict[str, Any]]:
        return [c.to_json() for c in self.calls]


@dataclass(frozen=True, slots=True)
class Reading:
    """What the reading rests on, as :func:`impairments` needs it: ``trail_files`` (log files
    of a trail, or a trail's table, were read: a trail's gap is the reading's), ``lookup_regions``
    (LookupEvents regions read: Event history records management events whatever a trail
    does), ``trail_names`` (the names of the trails whose files were read, from their digest
    files; empty: not known), ``buckets`` (the S3 buckets the log files were read from; empty:
    local folders, not known), ``window`` (start, end), ``counted`` (only the sensitive calls
    were loaded: a ``StartLogging`` is not among them), ``access_key`` (for the command
    suggested)."""

    trail_files: bool
    lookup_regions: tuple[str, ...] = ()
    trail_names: tuple[str, ...] = ()
    buckets: tuple[str, ...] = ()
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None
    counted: bool = False
    access_key: str = ""


def _name(value: Any) -> str:
    return term_safe(value, limit=MAX_NAME)


def trail_name(value: Any) -> str | None:
    """The trail's name in a call's ``name``/``trailName`` (a name, or an ARN ``…:trail/NAME``)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.startswith("arn:") and ":trail/" in text:
        return text.rpartition(":trail/")[2] or None
    return text


_ARN_REGION = re.compile(r"\Aarn:[^:]*:cloudtrail:([a-z0-9-]+):")


def _home_region(value: Any, fallback: str | None) -> str | None:
    m = _ARN_REGION.match(value) if isinstance(value, str) else None
    return m.group(1) if m else fallback


@dataclass(slots=True)
class _Call:
    """One call's row, read once."""

    name: str
    source: str
    time: pd.Timestamp | None
    event_id: str | None
    region: str | None
    key: str | None
    ip: str | None
    tor: bool | None
    unknown: bool
    request: dict[str, Any]
    response: dict[str, Any]

    def by(self) -> str:
        where = (
            f"from Tor IP {self.ip}"
            if self.tor is True
            else f"from {_name(self.ip)}"
            if self.ip
            else "from an address not recorded"
        )
        return f"by {self.key or 'a key not recorded'} {where}"

    def at(self) -> str:
        return iso_utc(self.time) or "a time not recorded"

    def said(self) -> str:
        """``NAME by KEY from IP`` (``, outcome unknown`` when it is)."""
        unknown = " (outcome unknown: no whole record — if it succeeded)" if self.unknown else ""
        return f"{self.name} {self.by()}{unknown}"


def _calls(events: pd.DataFrame, wanted: frozenset[tuple[str, str]]) -> list[_Call]:
    if events.empty or "event_name" not in events.columns:
        return []
    names = events["event_name"].astype("object").to_numpy()
    sources = events["event_source"].astype("object").to_numpy()
    hit = [(s, n) in wanted for s, n in zip(sources, names, strict=True)]
    if not any(hit):
        return []
    ok = ~failed_rows(events)  # a call that failed impaired nothing
    unknown = unknown_rows(events)
    out = []
    for i, row in enumerate(events.itertuples(index=False)):
        if not hit[i] or not ok[i]:
            continue
        rec = row._asdict()
        tor = rec.get("tor")
        time = rec.get("event_time")
        out.append(
            _Call(
                name=str(rec["event_name"]),
                source=str(rec["event_source"]),
                time=None if time is None or pd.isna(time) else pd.Timestamp(time),
                event_id=_text(rec.get("event_id")),
                region=_text(rec.get("aws_region")),
                key=_text(rec.get("access_key_id")),
                ip=_text(rec.get("source_ip")),
                tor=None if tor is None or pd.isna(tor) else bool(tor),
                unknown=bool(unknown[i]),
                request=json_object(rec.get("request_parameters")),
                response=json_object(rec.get("response_elements")),
            )
        )
    out.sort(key=lambda c: (c.time is None, c.time or pd.Timestamp(0, tz="UTC")))
    return out


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value)
    return text or None


# --------------------------------------------------------------------------------------------
# what a CloudTrail call takes away
# --------------------------------------------------------------------------------------------
def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


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
            if _bool(s.get("includeManagementEvents")) is False:
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


def _trail_what(call: _Call) -> tuple[str, str | None]:
    raw = call.request.get("name") if call.name != "PutEventSelectors" else None
    raw = raw or call.request.get("trailName") or call.request.get("name")
    name = trail_name(raw)
    return (f"trail {_name(name)}" if name else "a trail not named in the record"), name


def _match(name: str | None, reading: Reading) -> str | None:
    """Why the call's trail is not the trail read (None: it is, or which it is is not known)."""
    if name is None or not reading.trail_names:
        return None
    if name in reading.trail_names:
        return None
    names = ", ".join(_name(n) for n in reading.trail_names)
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


def _lookup_hint(call: _Call, reading: Reading, end: pd.Timestamp | None) -> str:
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


def _span(call: _Call, ended: pd.Timestamp | None, ended_by: str | None, reading: Reading) -> str:
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
    call: _Call, name: str | None, gap: str, later: Sequence[_Call]
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
            if gap == GAP_REGIONS and _bool(c.request.get("isMultiRegionTrail")) is True:
                return c.time, f"UpdateTrail {c.by()} (multi-region again)"
            if gap == GAP_GLOBAL and _bool(c.request.get("includeGlobalServiceEvents")) is True:
                return c.time, f"UpdateTrail {c.by()} (global service events again)"
    return None, None


def _cloudtrail(call: _Call, reading: Reading, later: Sequence[_Call]) -> list[Impaired]:
    what, name = _trail_what(call)
    t = call.at()
    if call.name in ("StopEventDataStoreIngestion", "DeleteEventDataStore"):
        store = _name(call.request.get("eventDataStore") or "an event data store")
        verb = "stopped ingesting" if call.name.startswith("Stop") else "was deleted"
        return [
            _made(
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
            _made(
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
        if _bool(call.request.get("isMultiRegionTrail")) is False:
            gaps.append((GAP_REGIONS, "was made single-region"))
        if _bool(call.request.get("includeGlobalServiceEvents")) is False:
            gaps.append((GAP_GLOBAL, "stopped recording global service events"))
    out = []
    for gap, did in gaps:
        out.append(_trail_gap(call, what, name, gap, did, reading, later))
    return out


def _trail_gap(
    call: _Call,
    what: str,
    name: str | None,
    gap: str,
    did: str,
    reading: Reading,
    later: Sequence[_Call],
) -> Impaired:
    t = call.at()
    head = f"{what} {did} at {t} ({call.said()})"
    other = _match(name, reading)
    if other is not None:
        return _made(
            call,
            what,
            gap,
            False,
            f"{head}: another trail than the one read — {other}; its own log files after {t} "
            "are impaired, not those read",
        )
    if not reading.trail_files:
        return _made(
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
    return _made(
        call,
        what,
        gap,
        True,
        f"{head}{_trail_unknown(name, reading)}: {effect}; {_span(call, ended, ended_by, reading)}"
        f"{lookup}; {_lookup_hint(call, reading, ended) if gap != GAP_BUCKET else _bucket_hint(call)}",
        ended,
        ended_by,
    )


def _effect(call: _Call, gap: str, reading: Reading) -> str:
    t = call.at()
    if gap in _GAP_WORDS:
        return _GAP_WORDS[gap].format(t=t)
    if gap == GAP_REGIONS:
        home = _home_region(call.request.get("name"), call.region) or "its home region"
        return (
            f"the trail's log files after {t} hold no call of anyone made in regions other "
            f"than {home} — none there after {t} is not 'no activity'"
        )
    bucket = _name(call.request.get("s3BucketName"))
    read = ", ".join(_name(b) for b in reading.buckets) or "the folder(s) read"
    return (
        f"the trail's log files after {t} go to bucket {bucket}, not to {read}: what was read "
        f"holds none of them — no events after {t} is not 'no activity'"
    )


def _bucket_hint(call: _Call) -> str:
    bucket = _name(call.request.get("s3BucketName"))
    prefix = call.request.get("s3KeyPrefix")
    base = f"s3://{bucket}/" + (
        f"{_name(prefix).strip('/')}/" if isinstance(prefix, str) and prefix else ""
    )
    return f"read s3://… from it too: --logs {base}AWSLogs/"


# --------------------------------------------------------------------------------------------
# the trail's bucket, its CloudWatch Logs copy, Config
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


def _s3(call: _Call, reading: Reading) -> list[Impaired]:
    bucket = call.request.get("bucketName")
    if not isinstance(bucket, str) or not bucket:
        return []
    b = _name(bucket)
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
            _made(
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
            _made(
                call,
                f"bucket {b}",
                "",
                False,
                f"{head}: if {b} is the bucket the log files read were copied from, {effect}",
            )
        ]
    return []


def _logs(call: _Call) -> list[Impaired]:
    group = _name(call.request.get("logGroupName") or "a log group not named")
    t = call.at()
    what = "deleted" if call.name == "DeleteLogGroup" else "given a shorter retention"
    return [
        _made(
            call,
            f"log group {group}",
            "",
            False,
            f"CloudWatch Logs log group {group} {what} at {t} ({call.said()}): if a trail "
            "delivered there, that copy of its events is gone or shortened; torinvest reads "
            "the trail's log files, not CloudWatch Logs (this reading is not changed)",
        )
    ]


def _config(call: _Call) -> list[Impaired]:
    name = _name(call.request.get("configurationRecorderName") or "a recorder not named")
    return [
        _made(
            call,
            f"configuration recorder {name}",
            "",
            False,
            f"AWS Config recorder {name} {'stopped' if call.name.startswith('Stop') else 'deleted'} "
            f"at {call.at()} ({call.said()}): resource changes after it are not recorded by "
            "Config; torinvest does not read Config (this reading is not changed)",
        )
    ]


# --------------------------------------------------------------------------------------------
# GuardDuty: the related-findings search after T
# --------------------------------------------------------------------------------------------
_FINDINGS_BLIND = "the related-findings search and 'no other finding' are not complete after {t}"


def _guardduty(call: _Call) -> list[Impaired]:
    region = call.region or "its region"
    detector = _name(call.request.get("detectorId") or "not named")
    t = call.at()
    blind = _FINDINGS_BLIND.format(t=t)
    head = f"{call.said()} at {t}"
    if call.name == "DeleteDetector":
        return [
            _issue(
                call,
                f"detector {detector}",
                f"GuardDuty detector {detector} in {region} deleted ({head}): GuardDuty raises "
                f"no finding in {region} after {t} — {blind} (a finding that was never raised "
                "cannot be found)",
            )
        ]
    if call.name == "UpdateDetector":
        if _bool(call.request.get("enable")) is False:
            return [
                _issue(
                    call,
                    f"detector {detector}",
                    f"GuardDuty detector {detector} in {region} disabled ({head}): GuardDuty "
                    f"raises no finding in {region} after {t} until it is enabled again — "
                    f"{blind}",
                )
            ]
        off = _features_off(call.request)
        if not off:
            return []
        return [
            _made(
                call,
                f"detector {detector}",
                "",
                False,
                f"GuardDuty detector {detector} in {region}: {', '.join(off)} turned off "
                f"({head}): findings from those sources are not raised after {t}; the Tor "
                "findings come from CloudTrail management events, which cannot be turned off "
                "(this reading is not changed)",
            )
        ]
    if call.name in ("CreateIPSet", "UpdateIPSet"):
        if _bool(call.request.get("activate")) is False:
            return []
        ipset = _name(call.request.get("name") or call.request.get("ipSetId") or "not named")
        location = _name(call.request.get("location") or "not recorded")
        return [
            _issue(
                call,
                f"trusted IP list {ipset}",
                f"GuardDuty trusted IP list {ipset} ({location}) on detector {detector} in "
                f"{region} ({head}): GuardDuty raises no finding for the addresses in it after "
                f"{t} — {blind}: read the list (aws guardduty get-ip-set) and treat its "
                "addresses as unsearched",
            )
        ]
    if call.name in ("CreateFilter", "UpdateFilter"):
        if str(call.request.get("action") or "").upper() != "ARCHIVE":
            return []
        name = _name(call.request.get("name") or call.request.get("filterName") or "not named")
        return [
            _made(
                call,
                f"suppression rule {name}",
                "",
                False,
                f"GuardDuty suppression rule {name} (action ARCHIVE) on detector {detector} in "
                f"{region} ({head}): findings matching it are archived as they are raised after "
                f"{t} — the related-findings search includes archived findings, so they are "
                "listed here (archived); a batch of open findings (--all-open) does not see "
                "them: list archived findings too (aws guardduty get-filter shows its criteria)",
            )
        ]
    # DisassociateFromAdministratorAccount / …MasterAccount
    return [
        _issue(
            call,
            f"detector {detector}",
            f"GuardDuty detector {detector} in {region} left its administrator account "
            f"({head}): findings of this account after {t} no longer reach the administrator "
            f"— a related-findings search made with the administrator's credentials misses "
            f"them: {blind}; search with the member account's own access",
        )
    ]


def _features_off(request: Mapping[str, Any]) -> list[str]:
    off = []
    sources = request.get("dataSources")
    if isinstance(sources, Mapping):
        for k, v in sources.items():
            flat = v
            if isinstance(v, Mapping) and "enable" not in v:
                flat = next((x for x in v.values() if isinstance(x, Mapping)), v)
            if isinstance(flat, Mapping) and _bool(flat.get("enable")) is False:
                off.append(_name(k))
    features = request.get("features")
    if isinstance(features, list):
        for f in features:
            if isinstance(f, Mapping) and str(f.get("status") or "").upper() == "DISABLED":
                off.append(_name(f.get("name") or "a feature"))
    return off


def _made(
    call: _Call,
    what: str,
    gap: str,
    issue: bool,
    text: str,
    ended: pd.Timestamp | None = None,
    ended_by: str | None = None,
) -> Impaired:
    return Impaired(
        event_name=call.name,
        event_source=call.source,
        event_time=call.time,
        event_id=call.event_id,
        region=call.region,
        access_key_id=call.key,
        source_ip=call.ip,
        tor=call.tor,
        what=what,
        gap=gap,
        issue=issue,
        text=text,
        ended=ended,
        ended_by=ended_by,
    )


def _issue(call: _Call, what: str, text: str) -> Impaired:
    return _made(call, what, "", True, text)


# --------------------------------------------------------------------------------------------
# every call
# --------------------------------------------------------------------------------------------
def impairments(events: pd.DataFrame, reading: Reading) -> Impairments:
    """The calls in ``events`` (the key's and its derived keys' activity) that impaired logging
    or detection and did not fail, each with what it takes away from ``reading`` (module
    docstring)."""
    calls = _calls(events, CALLS | RESTORING)
    later = [c for c in calls if (c.source, c.name) in RESTORING]
    out: list[Impaired] = []
    for call in calls:
        if (call.source, call.name) not in CALLS:
            continue
        if call.source == CLOUDTRAIL:
            out += _cloudtrail(call, reading, later)
        elif call.source == S3:
            out += _s3(call, reading)
        elif call.source == LOGS:
            out += _logs(call)
        elif call.source == CONFIG:
            out += _config(call)
        else:
            out += _guardduty(call)
    return Impairments(tuple(out))


def reading_basis(
    act: Activity,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    *,
    access_key: str = "",
    finding_id: str = "",
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


#: ``summary.json``'s ``impaired_logging`` (optional: summaries written before it have none).
SUMMARY_PROPERTIES: dict[str, Any] = {
    "impaired_logging": {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["event_name", "event_source", "event_time", "what", "issue", "text"],
            "properties": {
                "event_name": {"type": "string"},
                "event_source": {"type": "string"},
                "event_time": {"type": ["string", "null"]},
                "event_id": {"type": ["string", "null"]},
                "region": {"type": ["string", "null"]},
                "access_key_id": {"type": ["string", "null"]},
                "source_ip": {"type": ["string", "null"]},
                "tor": {"type": ["boolean", "null"]},
                "what": {"type": "string"},
                "issue": {"type": "boolean"},
                "ended": {"type": ["string", "null"]},
                "text": {"type": "string"},
            },
        },
    }
}
