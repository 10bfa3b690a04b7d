"""What :mod:`torinvest.impairment` passes around: the impairing calls read (:class:`Impaired`,
:class:`Impairments`), what the reading rests on (:class:`Reading`), one call's row (:class:`Call`)
and the names it shows (attacker-written: inert)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from torinvest.errors import DataIssue
from torinvest.outcome import failed_rows, unknown_rows
from torinvest.safety import term_safe
from torinvest.schema import iso_utc
from torinvest.targets import json_object

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
#: The calls that may end a trail's gap (read with :data:`CALLS`): ``CreateTrail`` re-creates a
#: deleted trail (it does not start its logging: ``StartLogging`` after it does).
RESTORING = frozenset(
    {
        (CLOUDTRAIL, "StartLogging"),
        (CLOUDTRAIL, "CreateTrail"),
        (CLOUDTRAIL, "PutEventSelectors"),
        (CLOUDTRAIL, "UpdateTrail"),
    }
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
GAP_SOURCES = "sources"  # management events of some services excluded (KMS, RDS Data API)


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
    principal: str | None = None
    other: bool = False

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
            "principal": self.principal,
            "another_principal": self.other,
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
    local folders, not known), ``window`` (start, end), ``counted`` (counted in the engine:
    the sensitive calls were loaded, with the trail calls that end a gap —
    :data:`torinvest.catalogue.GAP_ENDING_CALLS`), ``access_key`` (for the command suggested),
    ``others_read`` (the calls of anyone else than the key that impair logging or end a gap
    were looked for in the log files read: :func:`~torinvest.impairment.impairments`' ``others``),
    ``new_trails`` (trails created after the first call read: the files read are not theirs),
    ``others_unread`` (why those calls were not read where a source tried: an engine's query
    failed or matched too many rows; None: read, or not looked for)."""

    trail_files: bool
    lookup_regions: tuple[str, ...] = ()
    trail_names: tuple[str, ...] = ()
    buckets: tuple[str, ...] = ()
    window: tuple[pd.Timestamp | None, pd.Timestamp | None] | None = None
    counted: bool = False
    access_key: str = ""
    others_read: bool = False
    new_trails: tuple[str, ...] = ()
    others_unread: str | None = None


def shown_name(value: Any) -> str:
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


def home_region(value: Any, fallback: str | None) -> str | None:
    m = _ARN_REGION.match(value) if isinstance(value, str) else None
    return m.group(1) if m else fallback


@dataclass(slots=True)
class Call:
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
    #: who made it (user name, else ARN) and whether that is another principal than the key
    #: (and the keys it minted): logging off is logging off whoever turned it off
    principal: str | None = None
    other: bool = False

    def by(self) -> str:
        if self.other:
            who = shown_name(self.principal) if self.principal else "a principal not recorded"
            key = f", key {shown_name(self.key)}" if self.key else ""
            return f"by {who} (another principal than the key{key}) {self._where()}"
        return f"by {self.key or 'a key not recorded'} {self._where()}"

    def _where(self) -> str:
        return (
            f"from Tor IP {self.ip}"
            if self.tor is True
            else f"from {shown_name(self.ip)}"
            if self.ip
            else "from an address not recorded"
        )

    def at(self) -> str:
        return iso_utc(self.time) or "a time not recorded"

    def said(self) -> str:
        """``NAME by KEY from IP`` (``, outcome unknown`` when it is)."""
        unknown = " (outcome unknown: no whole record — if it succeeded)" if self.unknown else ""
        return f"{self.name} {self.by()}{unknown}"


def calls_of(
    events: pd.DataFrame, wanted: frozenset[tuple[str, str]], *, other: bool = False
) -> list[Call]:
    """The calls of ``events`` that are ``wanted`` ((event source, event name) pairs) and did
    not fail (a call that failed impaired nothing), oldest first. Only their rows are read: a
    busy key's frame is matched by name first. ``other``: calls of another principal than the
    key (:attr:`Call.other`)."""
    if events.empty or "event_name" not in events.columns:
        return []
    named = events["event_name"].isin({n for _, n in wanted}).to_numpy(dtype=bool)
    named = named & ~failed_rows(events)
    if not named.any():
        return []
    unknown = unknown_rows(events)[named]
    rows = events.loc[named]
    out = []
    for i, row in enumerate(rows.to_dict("records")):
        if (str(row.get("event_source")), str(row["event_name"])) not in wanted:
            continue
        tor = row.get("tor")
        time = row.get("event_time")
        out.append(
            Call(
                name=str(row["event_name"]),
                source=str(row["event_source"]),
                time=None if time is None or pd.isna(time) else pd.Timestamp(time),
                event_id=text_of(row.get("event_id")),
                region=text_of(row.get("aws_region")),
                key=text_of(row.get("access_key_id")),
                ip=text_of(row.get("source_ip")),
                tor=None if tor is None or pd.isna(tor) else bool(tor),
                unknown=bool(unknown[i]),
                request=json_object(row.get("request_parameters")),
                response=json_object(row.get("response_elements")),
                principal=text_of(row.get("user_name")) or text_of(row.get("arn")),
                other=other,
            )
        )
    out.sort(key=lambda c: (c.time is None, c.time or pd.Timestamp(0, tz="UTC")))
    return out


def text_of(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value)
    return text or None


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def made(
    call: Call,
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
        principal=call.principal,
        other=call.other,
    )


def issue_of(call: Call, what: str, text: str) -> Impaired:
    return made(call, what, "", True, text)


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
                "principal": {"type": ["string", "null"]},
                "another_principal": {"type": "boolean"},
            },
        },
    }
}
