"""JSON documents → CloudTrail records: every shape :func:`records_in` understands, damaged log
files salvaged, invalid UTF-8 repaired and named, JSON lines.
"""

from __future__ import annotations

import codecs
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.errors import OutOfBoundsDatetime

from torinvest.errors import DataIssue, InputError
from torinvest.jsonread import JsonRepairs, repair_json
from torinvest.jsonread import loads as read_json
from torinvest.jsonread import parse as parse_json
from torinvest.outcome import OUTCOME_UNKNOWN_MARK
from torinvest.paged import next_token_problem
from torinvest.safety import prose_safe
from torinvest.schema import iso_utc
from torinvest.sniff import CLI_OUTPUT_DO, CLI_TEXT, cut_or_damaged, not_json
from torinvest.sources.records.columns import (
    _STR,
    CATEGORY_COLUMNS,
    STRING_COLUMNS,
    NotCloudTrailError,
    is_record,
    record_time,
)
from torinvest.sources.records.jsontext import json_bytes
from torinvest.sources.records.logfile import is_utf8
from torinvest.sources.records.loggroup import (
    KIND_WORDS,
    Kind,
    copy_cut,
    export_records,
    is_export_text,
    log_group_kind,
    log_group_records,
    may_be_copy,
)
from torinvest.sources.records.table import _named


# --------------------------------------------------------------------------------------------
# document shapes → records
# --------------------------------------------------------------------------------------------
def records_in(
    doc: Any, *, where: str = "input", last_page: bool = True
) -> tuple[list[dict[str, Any]], list[str]]:
    """The CloudTrail records in one parsed JSON document, and the problems met in it.

    Raises :class:`NotCloudTrailError` when the document holds no CloudTrail record at all.
    Problems are short texts (entries that are not records, unparsable ``CloudTrailEvent``, a
    ``lookup-events`` export cut after a page: :func:`lookup_cut`, unless ``last_page`` is
    False — a page of several in one file, whose next page may follow it; a log group's copy:
    :mod:`~torinvest.sources.records.loggroup`).
    """
    if isinstance(doc, dict):
        if isinstance(doc.get("Records"), list):
            return _record_list(doc["Records"], "Records")
        if isinstance(doc.get("Events"), list):
            records, problems = _lookup_events(doc["Events"])
            cut = lookup_cut(doc, records) if last_page else None
            return records, [*problems, cut] if cut else problems
        kind = log_group_kind(doc)
        if kind is not None:  # a trail's CloudWatch Logs copy: each message is a record
            records, problems, repaired = log_group_records(
                doc, kind, where=where, last_page=last_page
            )
            if repaired:
                problems.append(cloudtrail_event_repairs(repaired, what="message"))
            return records, problems
        if doc.get("detail-type") == "AWS API Call via CloudTrail" and is_record(doc.get("detail")):
            return [doc["detail"]], []
        if is_record(doc):
            return [doc], []
    elif isinstance(doc, list) and doc:
        if all(isinstance(item, str) for item in doc):  # lookup-events' CloudTrailEvent strings
            records, problems = _event_strings(doc)
        else:
            records, problems = _record_list(doc, "list")
        if records:
            return records, problems
    raise NotCloudTrailError(f"{where}: {describe_document(doc)}", hint=_hint(doc))


def lookup_cut(doc: Any, records: list[dict[str, Any]]) -> str | None:
    """The problem of a ``lookup-events`` export ``doc`` (its ``records`` read) that says it is
    cut (:func:`torinvest.paged.next_token_problem`), naming the time before which its events
    are missing; a log group command's answer that says so
    (:func:`~torinvest.sources.records.loggroup.copy_cut`); None when it is whole (or not such
    an export)."""
    kind = log_group_kind(doc)
    if kind is not None:
        return copy_cut(doc, kind)
    if not isinstance(doc, dict) or not isinstance(doc.get("Events"), list):
        return None
    cut = next_token_problem(doc, "Events")
    return cut + _older_than(records) if cut else None


def _older_than(records: list[dict[str, Any]]) -> str:
    """LookupEvents answers newest first: the part of the window a cut export lacks."""
    times = [t for r in records if (t := record_time(r.get("eventTime"))) is not None]
    if not times:  # (compared as times: as text, ``…:00.5Z`` is before ``…:00Z``)
        return ""
    return (
        f" — LookupEvents answers newest first, so the events before {iso_utc(min(times))} (the "
        "oldest here) are the ones missing"
    )


def _record_list(items: list[Any], what: str) -> tuple[list[dict[str, Any]], list[str]]:
    records = [r for r in items if is_record(r)]
    if len(records) == len(items):
        return records, []
    bad = [i for i, r in enumerate(items) if not is_record(r)]
    return records, [
        f"{len(bad)} of {len(items)} {what} entries are not CloudTrail records "
        f"(first at index {bad[0]})"
    ]


def _event_strings(items: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """A list of strings, each one record's JSON: ``aws cloudtrail lookup-events --query
    'Events[].CloudTrailEvent' --output json`` (a saved LookupEvents answer without the fields
    LookupEvents lists beside each record). A string that is not JSON, or not a record, is left
    out (one problem naming the first)."""
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    repaired: list[tuple[JsonRepairs, dict[str, Any]]] = []
    for i, raw in enumerate(items):
        try:
            rec, repairs = read_json(raw)
        except orjson.JSONDecodeError:
            rec, repairs = None, None
        if is_record(rec):
            records.append(rec)
            if repairs:
                repaired.append((repairs, rec))
        else:
            bad.append(i)
    problems = []
    if bad and records:
        problems.append(
            f"{len(bad)} of {len(items)} strings of the list are not CloudTrail records' JSON "
            f"(first at index {bad[0]}): left out"
        )
    if repaired:
        problems.append(cloudtrail_event_repairs(repaired))
    return records, problems


def _lookup_events(events: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """``lookup-events`` output: parse each ``CloudTrailEvent`` string. An event whose string is
    missing, not JSON or not a JSON object is kept from the fields LookupEvents lists beside it
    (:func:`record_from_lookup_fields`: its outcome unknown), one whose record lacks fields
    LookupEvents lists is filled from them (:func:`filled_record`: without an error code, its
    outcome unknown); each kind is one problem naming the first few, as the live pull names
    them (:mod:`torinvest.sources.lookup.pull`)."""
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    repaired: list[tuple[JsonRepairs, dict[str, Any]]] = []
    rebuilt: list[str] = []
    filled: list[str] = []
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            bad.append(i)
            continue
        raw = ev.get("CloudTrailEvent")
        why = "its CloudTrailEvent is missing"
        if isinstance(raw, str | bytes) and raw:
            try:
                rec, repairs = read_json(raw)
            except orjson.JSONDecodeError:
                rec, why = None, "its CloudTrailEvent is not JSON"
                repairs = None
            if isinstance(rec, dict):
                whole, missing = filled_record(ev, rec)
                if is_record(whole):
                    records.append(whole)
                    if repairs:
                        repaired.append((repairs, whole))
                    if missing:
                        filled.append(f"index {i}, {_named_event(ev, whole)}: no {missing}")
                    continue
                why = "its CloudTrailEvent is not a CloudTrail record"
            elif rec is not None:
                why = f"its CloudTrailEvent is a JSON {type(rec).__name__}, not a record"
        if "EventId" in ev or "EventName" in ev:
            records.append(record_from_lookup_fields(ev))
            rebuilt.append(f"index {i}, {_named_event(ev, {})}: {why}")
        else:
            bad.append(i)
    if not records and events:
        raise NotCloudTrailError(
            "an Events list without CloudTrail events",
            hint="export with `aws cloudtrail lookup-events --output json`",
        )
    problems = []
    if rebuilt:
        problems.append(
            f"{len(rebuilt)} of {len(events)} Events have no usable CloudTrailEvent "
            f"({_first_few(rebuilt)}): kept with only the fields LookupEvents lists beside it "
            "(time, name, source, key, user name) — their outcome (succeeded or failed: "
            "LookupEvents lists no error code), source IP, user agent, request and response "
            "are not known"
        )
    if filled:
        problems.append(
            f"{len(filled)} of {len(events)} Events have a CloudTrailEvent lacking fields "
            f"LookupEvents lists beside it ({_first_few(filled)}): those were taken from "
            "LookupEvents' own where it lists them; a record without an error code is of "
            "unknown outcome (a partial record's silence proves no success)"
        )
    if bad:
        problems.append(
            f"{len(bad)} of {len(events)} Events have no parsable CloudTrailEvent "
            f"(first at index {bad[0]}) nor LookupEvents' own EventId or EventName: left out"
        )
    if repaired:
        problems.append(cloudtrail_event_repairs(repaired))
    return records, problems


def cloudtrail_event_repairs(
    repaired: Sequence[tuple[JsonRepairs, dict[str, Any]]], *, what: str = "CloudTrailEvent"
) -> str:
    """One problem for the ``CloudTrailEvent`` texts (``what``: or a log event's ``message``)
    :func:`torinvest.jsonread.loads` repaired: what was changed (the first text's words,
    offsets in that text) and which records hold it."""
    every = JsonRepairs(
        tuple(o for r, _ in repaired for o in r.surrogates),
        tuple(n for r, _ in repaired for n in r.numbers),
    )
    return (
        f"{len(repaired)} {what} text(s) repaired ({repaired[0][0].describe()}, in "
        f"the first of them): {_altered(every, [r for _, r in repaired])}"
    )


#: The record's fields LookupEvents also lists beside ``CloudTrailEvent``, and its name for each.
LOOKUP_FIELDS: Mapping[str, str] = {
    "eventTime": "EventTime",
    "eventID": "EventId",
    "eventName": "EventName",
    "eventSource": "EventSource",
}
#: Why a rebuilt record's outcome is unknown (its :data:`~torinvest.outcome.OUTCOME_UNKNOWN_MARK`).
REBUILT_RECORD = "rebuilt from LookupEvents' own fields: no usable CloudTrailEvent"
#: Why a partial record's outcome is unknown (its :data:`~torinvest.outcome.OUTCOME_UNKNOWN_MARK`).
PARTIAL_RECORD = "a partial CloudTrailEvent: lacking fields LookupEvents lists beside it"


def _first_few(named: Sequence[str]) -> str:
    return "; ".join(named[:3]) + ("; …" if len(named) > 3 else "")


def _named_event(ev: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    """``ID (Name)`` of an event, as the issues name it (attacker text cut short, its backticks
    escaped: :func:`~torinvest.safety.prose_safe`)."""
    ident = str(ev.get("EventId") or record.get("eventID") or "(no EventId)")[:80]
    name = str(ev.get("EventName") or record.get("eventName") or "(no EventName)")[:80]
    return prose_safe(f"{ident} ({name})")


def lookup_time(value: Any) -> str | None:
    """LookupEvents' ``EventTime`` as the record's ``eventTime`` text: a datetime (boto3), epoch
    seconds (``--output json`` of some tools) or text (as written); None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            return iso_utc(pd.Timestamp(value, unit="s", tz="UTC"))
        if isinstance(value, datetime):
            at = pd.Timestamp(value)
            return iso_utc(at if at.tzinfo else at.tz_localize("UTC"))
    except (ValueError, OverflowError, OutOfBoundsDatetime):
        return None
    return value if isinstance(value, str) and value else None


def record_from_lookup_fields(
    ev: Mapping[str, Any], *, region: str | None = None
) -> dict[str, Any]:
    """The record of an event LookupEvents returned without a usable ``CloudTrailEvent``: the
    fields it lists beside it (time, ID, name, source, read-only, key, user name; ``region``
    when known), marked :data:`~torinvest.outcome.OUTCOME_UNKNOWN_MARK` — LookupEvents lists
    no error code: whether the call succeeded is not known."""
    record: dict[str, Any] = {
        "eventTime": lookup_time(ev.get("EventTime")),
        "eventID": ev.get("EventId"),
        "eventName": ev.get("EventName"),
        "eventSource": ev.get("EventSource"),
        "userIdentity": {"accessKeyId": ev.get("AccessKeyId"), "userName": ev.get("Username")},
        OUTCOME_UNKNOWN_MARK: REBUILT_RECORD,
    }
    if region is not None:
        record["awsRegion"] = region
    read_only = ev.get("ReadOnly")
    if isinstance(read_only, bool):
        record["readOnly"] = read_only
    elif isinstance(read_only, str) and read_only.lower() in ("true", "false"):
        record["readOnly"] = read_only.lower() == "true"
    return record


def filled_record(ev: Mapping[str, Any], record: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``record`` (an event's parsed ``CloudTrailEvent``) when it has every field LookupEvents
    lists beside it (the usual case: ``""`` missing), else a copy with those LookupEvents lists
    filled in (its key too when such a record names none), marked
    :data:`~torinvest.outcome.OUTCOME_UNKNOWN_MARK` unless it holds an error code (a partial
    record's silence proves no success), and what was missing (``eventTime, eventID``)."""
    missing = [k for k in LOOKUP_FIELDS if record.get(k) in (None, "")]
    if not missing:
        return record, ""
    identity = record.get("userIdentity")  # a record without a key is whole; {} is not
    keyless = isinstance(ev.get("AccessKeyId"), str) and (
        identity is None or (isinstance(identity, dict) and not identity.get("accessKeyId"))
    )
    filled = dict(record)
    for k in missing:
        value = ev.get(LOOKUP_FIELDS[k])
        if k == "eventTime":
            value = lookup_time(value)
        if value is not None:
            filled[k] = value
    if keyless:
        filled["userIdentity"] = {**(identity or {}), "accessKeyId": ev["AccessKeyId"]}
        missing.append("userIdentity.accessKeyId")
    if not filled.get("errorCode"):
        filled[OUTCOME_UNKNOWN_MARK] = PARTIAL_RECORD
    return filled, ", ".join(missing)


def describe_document(doc: Any) -> str:
    """What a JSON document that is not CloudTrail looks like, for a data issue."""
    if isinstance(doc, dict):
        keys = list(doc)[:6]
        if any(k in doc for k in ("Findings", "findings")) or (
            "detail-type" in doc and "GuardDuty" in str(doc.get("detail-type"))
        ):
            return "GuardDuty findings, not CloudTrail records"
        if "digestStartTime" in doc or "logFiles" in doc:
            return "a CloudTrail digest file, not log records"
        if "id" in doc and "type" in doc and ("service" in doc or "resource" in doc):
            return "a GuardDuty finding, not CloudTrail records"
        return f"not CloudTrail records (a JSON object with keys {keys})"
    if isinstance(doc, list):
        return "not CloudTrail records (a list without CloudTrail records)"
    return f"not CloudTrail records (a JSON {type(doc).__name__})"


def _hint(doc: Any) -> str:
    text = describe_document(doc)
    if "GuardDuty" in text:
        return "move findings files to CASE/findings/"
    if "digest" in text:
        return "digest files hold hashes only; load the CloudTrail/ folder next to them"
    return (
        'expected CloudTrail log files ({"Records": [...]}), lookup-events output or JSON lines '
        "of records"
    )


#: The opening of a file that cannot be a LookupEvents answer: a log file's ``{"Records":``, a
#: list of records (told without parsing: a key-filtered read sees every log file here).
_NOT_AN_ANSWER = re.compile(rb'\s*(?:\{\s*"Records"\s*:|\[)')


def is_lookup_answer(data: bytes) -> bool:
    """Whether a file's content (decompressed) is a saved LookupEvents answer and nothing else:
    ``{"Events": [...]}`` as ``aws cloudtrail lookup-events --output json`` writes it, or JSON
    lines of such pages (the lines that parse). Its records are management events only —
    LookupEvents never returns data events —, unlike a log file's. A document is one as
    :func:`records_in` reads it (``Records`` first); a file that also holds log-file documents
    or plain records, or that nothing of parses, is not one. A log file or a list is told by its
    opening, a file without the key (nor an escape that may spell it) by a byte search; JSON
    lines stop at the first line that is not an answer."""
    if _STRINGS_OPEN.match(data) is not None:
        return _is_event_strings(data)
    if _NOT_AN_ANSWER.match(data) is not None:
        return False
    if b'"Events"' not in data and b"\\u" not in data:  # the key, or an escape that may spell it
        return False
    found = False
    for doc in _documents(data):
        if not (
            isinstance(doc, dict)
            and not isinstance(doc.get("Records"), list)
            and isinstance(doc.get("Events"), list)
        ):
            return False
        found = True
    return found


#: ``aws cloudtrail lookup-events --query 'Events[].CloudTrailEvent' --output json``: a list
#: opening with a string (a log file opens ``{"Records":``, a list of records ``[{``).
_STRINGS_OPEN = re.compile(rb'\s*\[\s*"')


def _is_event_strings(data: bytes) -> bool:
    """Whether ``data`` is one list of strings whose first is a CloudTrail record's JSON
    (:func:`_event_strings`): the ``CloudTrailEvent`` of each event of a LookupEvents answer."""
    docs = iter(_documents(data))
    doc = next(docs, None)
    if not isinstance(doc, list) or not doc or next(docs, None) is not None:
        return False
    if not all(isinstance(item, str) for item in doc):
        return False
    try:
        first, _ = read_json(doc[0])
    except orjson.JSONDecodeError:
        return False
    return is_record(first)


#: The fields of a LookupEvents event that ``--lookup-attributes`` filters on and that each
#: event lists (LookupAttribute keys), in the order a shared one is named: the key first.
SCOPE_ATTRIBUTES = ("AccessKeyId", "Username", "EventName", "EventSource")


@dataclass(frozen=True, slots=True)
class LookupScope:
    """A saved answer whose every event shares one value of a lookup attribute (``attribute``
    = ``value``, over ``events`` events): it was exported for that value, or nothing else
    happened then — either way, it holds nothing else. ``kind``: ``lookup-events`` (``aws
    cloudtrail lookup-events --lookup-attributes AttributeKey=…,AttributeValue=…``) or the
    command that exported a trail's CloudWatch Logs copy (a filter pattern, a Logs Insights
    ``filter``: :data:`~torinvest.sources.records.loggroup.Kind`), whose events' records give
    the same attributes (:data:`RECORD_ATTRIBUTES`)."""

    attribute: str
    value: str
    events: int
    kind: str = "lookup-events"

    def describe(self) -> str:
        """``every one of its 64 events is of AccessKeyId AKIA…``."""
        return f"every one of its {self.events:,} event(s) is of {self.attribute} {self.value}"

    def what(self) -> str:
        """``a saved LookupEvents answer``, or which copy of the trail's log group it is."""
        return KIND_WORDS.get(self.kind, "a saved LookupEvents answer")

    def how(self, attribute: str, value: str) -> str:
        """How to export the events of ``attribute`` = ``value`` as this answer was exported."""
        if self.kind == "lookup-events":
            return (
                f"aws cloudtrail lookup-events --lookup-attributes AttributeKey={attribute},"
                f"AttributeValue={value} --output json"
            )
        field = RECORD_ATTRIBUTES[attribute]
        if not _PLAIN_VALUE.fullmatch(value):  # a record's text: never inside a shell command
            value = "VALUE"
        return (
            f"aws logs filter-log-events --log-group-name <the trail's log group> "
            f"--filter-pattern '{{ $.{field} = \"{value}\" }}'"
        )


#: A value written into a suggested filter pattern as it is (a key ID, an API or service name);
#: any other (a user name someone chose: quotes, spaces) is shown as ``VALUE``.
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.@+=,:/-]{1,128}")
#: The record's field for each of :data:`SCOPE_ATTRIBUTES` (what a log group's copy is scoped
#: by: a filter pattern on it).
RECORD_ATTRIBUTES: Mapping[str, str] = {
    "AccessKeyId": "userIdentity.accessKeyId",
    "Username": "userIdentity.userName",
    "EventName": "eventName",
    "EventSource": "eventSource",
}


def answer_scope(data: bytes) -> LookupScope | None:
    """The :class:`LookupScope` of a saved answer's content (decompressed): a LookupEvents
    answer (JSON lines of pages count as one answer), or a trail's CloudWatch Logs copy
    (:func:`log_group_copy`: each event's record gives the attributes) — None when its events
    do not all share one value of any of :data:`SCOPE_ATTRIBUTES` (or it holds none, or is
    neither). Whatever the file's shape, the rule is the answer's: every event is one key's."""
    kind = "lookup-events" if is_lookup_answer(data) else log_group_copy(data)
    if kind is None:
        return None
    values: dict[str, set[Any]] = {a: set() for a in SCOPE_ATTRIBUTES}
    events = 0
    for ev in _lookup_items(data) if kind == "lookup-events" else _copy_items(data):
        events += 1
        for attribute, seen in values.items():
            if len(seen) < 2:
                seen.add(ev.get(attribute))
    if not events:
        return None
    for attribute, seen in values.items():
        if len(seen) == 1 and isinstance(value := next(iter(seen)), str) and value:
            return LookupScope(attribute, value, events, kind)
    return None


#: A record's region as a saved LookupEvents answer holds it: inside its ``CloudTrailEvent``
#: text (escaped quotes), or a record of its own.
_ANSWER_REGION = re.compile(rb'awsRegion\\?"\s*:\s*\\?"([a-z]{2}(?:-[a-z]+)+-\d{1,2})\\?"')


def answer_regions(data: bytes) -> frozenset[str]:
    """The regions of the events in a saved LookupEvents answer's content (decompressed):
    Event history is kept per region, and an answer holds the region it was asked in (and,
    asked in the partition's global-events region, IAM's and other global services' calls).
    Empty when it holds no event (an answer of a region where nothing matched)."""
    return frozenset(m.decode() for m in _ANSWER_REGION.findall(data))


def lookup_answer_scope(data: bytes) -> LookupScope | None:
    """:func:`answer_scope` of a saved LookupEvents answer (None for any other content)."""
    return answer_scope(data) if is_lookup_answer(data) else None


def _lookup_items(data: bytes) -> Iterator[Mapping[str, Any]]:
    for doc in _documents(data):
        if isinstance(doc, list):  # the records' JSON strings alone (:func:`_event_strings`)
            for record in _event_strings(doc)[0]:
                yield _attributes(record)
            continue
        for ev in doc["Events"]:
            if isinstance(ev, dict):
                yield ev


def _copy_items(data: bytes) -> Iterator[Mapping[str, Any]]:
    """The lookup attributes of each record of a log group's copy."""
    for record in log_group_copy_records(data):
        yield _attributes(record)


def _attributes(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """A record's values of :data:`SCOPE_ATTRIBUTES` (:data:`RECORD_ATTRIBUTES`)."""
    identity = record.get("userIdentity")
    identity = identity if isinstance(identity, dict) else {}
    return {
        "AccessKeyId": identity.get("accessKeyId"),
        "Username": identity.get("userName"),
        "EventName": record.get("eventName"),
        "EventSource": record.get("eventSource"),
    }


def log_group_copy(data: bytes) -> Kind | None:
    """Which kind of a trail's CloudWatch Logs copy a file's content (decompressed) is
    (:mod:`~torinvest.sources.records.loggroup`): an export to S3's lines, or JSON documents
    each of which is a log group command's answer; None when it is none (told without parsing:
    a log file's ``{"Records":`` or a list opening, or neither answer's key in its bytes — a
    key-filtered read sees every log file here)."""
    if _NOT_AN_ANSWER.match(data) is not None or not may_be_copy(data):
        return None
    if is_export_text(data):
        return "create-export-task"
    found: Kind | None = None
    for doc in _documents(data):
        kind = log_group_kind(doc)
        if kind is None:
            return None
        found = found or kind
    return found


def log_group_copy_records(data: bytes) -> list[dict[str, Any]]:
    """The records of a trail's CloudWatch Logs copy (its problems are the reader's)."""
    if is_export_text(data):
        try:
            return export_records(data, where="")[0]
        except NotCloudTrailError:
            return []
    records: list[dict[str, Any]] = []
    for doc in _documents(data):
        kind = log_group_kind(doc)
        if kind is None:
            continue
        try:
            records += log_group_records(doc, kind, where="")[0]
        except NotCloudTrailError:
            continue
    return records


def _documents(data: bytes) -> Iterator[Any]:
    """The JSON documents of a file as :func:`parse_records` reads them: one (repaired when
    orjson refused only what :func:`~torinvest.jsonread.repair_json` repairs), or one per JSON
    line that parses (lazily); none when nothing parses."""
    try:
        yield parse_json(data)
        return
    except orjson.JSONDecodeError:
        pass
    fixed, repairs = repair_json(data)
    if repairs:
        try:
            yield parse_json(fixed)
            return
        except orjson.JSONDecodeError:
            pass
    for line in data.split(b"\n"):
        if line.strip():
            try:
                doc = parse_json(line)
            except orjson.JSONDecodeError:
                continue
            yield doc


def parse_records(
    data: bytes, *, where: str = "input"
) -> tuple[list[dict[str, Any]], list[DataIssue]]:
    """Records from raw (already decompressed) JSON bytes: one document or JSON lines.

    Never raises for bad content: each problem is a :class:`DataIssue` naming ``where`` (JSON
    lines: one issue per file, listing the bad lines). When no record at all could be read,
    the issues are marked ``unread`` (the file failed; otherwise it was read with issues).
    """
    records, issues = _parse_records(data, where)
    if issues and not records:
        issues = [replace(i, unread=True) for i in issues]
    return records, issues


def _parse_records(data: bytes, where: str) -> tuple[list[dict[str, Any]], list[DataIssue]]:
    if not data or data.isspace():
        return [], [DataIssue(where, "the file is empty")]
    try:
        doc = parse_json(data)
    except orjson.JSONDecodeError as e:
        if is_export_text(data):  # a CloudWatch Logs export to S3: "<time> <message>" lines
            return _export_text(data, where)
        fixed, repairs = repair_json(data)  # only for what orjson refused: off the hot path
        if repairs:
            records, issues = _parse_records(fixed, where)
            if not records:  # nothing read: what was repaired does not matter
                return records, issues
            return records, [*issues, repair_issue(where, repairs, records)]
        if data.count(b"\n", 0, len(data) - 1) >= 1 and _first_line_is_json(data):
            return parse_json_lines(data, where=where)
        salvaged = salvage_log_file(data, where=where, error=e)
        if salvaged is not None:
            return salvaged
        return [], [DataIssue(where, _json_problem(e, data))]
    try:
        records, problems = records_in(doc, where=where)
    except NotCloudTrailError as e:
        return [], [DataIssue(where, f"{e.message.removeprefix(where + ': ')} ({e.hint})")]
    return records, [DataIssue(where, p) for p in problems]


def _export_text(data: bytes, where: str) -> tuple[list[dict[str, Any]], list[DataIssue]]:
    try:
        records, problems, repaired = export_records(data, where=where)
    except NotCloudTrailError as e:
        return [], [DataIssue(where, f"{e.message.removeprefix(where + ': ')} ({e.hint})")]
    if repaired:
        problems.append(cloudtrail_event_repairs(repaired, what="message"))
    return records, [DataIssue(where, p) for p in problems]


_RECORDS_OPEN = re.compile(rb'\s*\{\s*"Records"\s*:\s*\[')
_RECORD_OPEN = re.compile(rb'\{\s*"eventVersion"\s*:')
_RECORDS_CLOSE = re.compile(rb"\s*\]\s*\}\s*\Z")
#: How many record openings a salvaged record may span (an ``{"eventVersion":`` inside a field).
_SALVAGE_SPAN = 3


def salvage_log_file(
    data: bytes, *, where: str, error: orjson.JSONDecodeError
) -> tuple[list[dict[str, Any]], list[DataIssue]] | None:
    """The whole records of a damaged ``{"Records": [...]}`` file (cut short, or with a stretch
    that is not JSON), and one issue saying how many were read and where the damage is. Each
    record is cut at its opening ``{"eventVersion":`` and parsed alone. None when the file is
    not shaped so or no record can be read (the caller then reports the whole file)."""
    head = _RECORDS_OPEN.match(data)
    if head is None:
        return None
    starts = [m.start() for m in _RECORD_OPEN.finditer(data, head.end())]
    bounds = [*starts, len(data)]
    records: list[dict[str, Any]] = []
    lost: list[int] = []
    i = 0
    while i < len(starts):
        for j in range(i + 1, min(i + 1 + _SALVAGE_SPAN, len(bounds))):
            record = _chunk_record(data[bounds[i] : bounds[j]])
            if record is not None:
                records.append(record)
                i = j
                break
        else:
            lost.append(bounds[i])
            i += 1
    if not records:
        return None
    if lost:
        damage = f"{len(lost)} part(s) could not be read (the first at byte {lost[0]:,})"
    else:
        damage = "its end is missing"
    problem = (
        f"invalid JSON (line {error.lineno}, column {error.colno}: {error.msg}): "
        f"{_damage(error, data)}; the {len(records):,} whole record(s) in it were loaded, "
        f"{damage} and any records there are lost"
    )
    return records, [DataIssue(where, problem)]


def _chunk_record(chunk: bytes) -> dict[str, Any] | None:
    """The record a cut of a log file holds (it may end with ``,`` or the closing ``]}``)."""
    cut = chunk.rfind(b"]")  # the last cut may be followed by "]}" and stray bytes
    for text in (chunk.rstrip(b" \t\r\n,"), _RECORDS_CLOSE.sub(b"", chunk), chunk[:cut]):
        try:
            record = parse_json(text)
        except orjson.JSONDecodeError:
            continue
        return record if is_record(record) else None
    return None


#: What :func:`repair_utf8` puts in place of each invalid UTF-8 byte sequence.
REPLACEMENT = "\ufffd"
_REPAIRS = threading.local()


def _mark_bad_bytes(e: UnicodeError) -> tuple[str, int]:
    assert isinstance(e, UnicodeDecodeError)
    _REPAIRS.spans.append((e.start, e.end))
    return REPLACEMENT, e.end


codecs.register_error("torinvest-repair", _mark_bad_bytes)


def repair_utf8(data: bytes) -> tuple[bytes, list[tuple[int, int]]]:
    """``data`` with each invalid UTF-8 byte sequence replaced by U+FFFD, and where those
    sequences were (byte offsets in ``data``); ``data`` itself when it is valid (the usual
    case, checked at memory speed). JSON's structure is ASCII, so the bad bytes can only be
    inside strings: every record still parses, and only the strings that held them change.
    Callers must say so (:func:`utf8_issue`): the evidence is altered, visibly."""
    if data.isascii() or is_utf8(data):
        return data, []
    _REPAIRS.spans = []
    try:
        text = data.decode("utf-8", errors="torinvest-repair")
        return text.encode("utf-8"), _REPAIRS.spans
    finally:
        _REPAIRS.spans = []


def utf8_issue(where: str, bad: Sequence[tuple[int, int]], table: pa.Table | None) -> DataIssue:
    """The issue of a file whose invalid UTF-8 bytes :func:`repair_utf8` replaced, naming the
    loaded records (of ``table``) that now hold a replacement character."""
    rows = _rows_holding(table, REPLACEMENT) if table is not None else []
    if rows:
        altered = f"the record(s) {_named(rows)} hold it and were loaded so"
    else:
        altered = "no loaded record holds it (they were in fields or records not loaded)"
    return DataIssue(
        where,
        f"{len(bad)} invalid UTF-8 byte sequence(s) (the first at byte {bad[0][0]:,}) were "
        f"replaced with U+FFFD: {altered}; every other byte is as written",
    )


def repair_issue(where: str, repairs: JsonRepairs, records: Sequence[Any]) -> DataIssue:
    """The issue of a file whose text :func:`torinvest.jsonread.repair_json` repaired (lone
    surrogate escapes, numbers JSON has no word for), naming the records read from it that
    now hold what was put in their place."""
    return DataIssue(where, f"{repairs.describe()}: {_altered(repairs, records)}")


def _altered(repairs: JsonRepairs, records: Sequence[Any]) -> str:
    """Which of ``records`` hold what ``repairs`` put in, and that the rest is as written."""
    marks = repairs.marks()
    ids = [
        str(r.get("eventID") or "(no eventID)")
        for r in records
        if isinstance(r, dict) and any(m in json_bytes(r) for m in marks)
    ]
    if ids:
        altered = f"the record(s) {_named(ids)} hold it and were loaded so"
    else:
        altered = "no record read holds it (it was outside the records)"
    return f"{altered}; every other character is as written"


def _rows_holding(table: pa.Table, text: str) -> list[str]:
    """The event IDs of the rows where a text column holds ``text``."""
    hit = pa.array(np.zeros(table.num_rows, dtype=bool))
    for name in (*STRING_COLUMNS, *CATEGORY_COLUMNS):
        if name not in table.column_names:
            continue
        column = table.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(_STR)
        hit = pc.or_(hit, pc.fill_null(pc.match_substring(column, text), False))
    ids = table.column("event_id").filter(hit).to_pylist()
    return [i if i is not None else "(no eventID)" for i in ids]


def _first_line_is_json(data: bytes) -> bool:
    for line in data.split(b"\n", 2)[:2]:
        if line.strip():
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                return False
            return True
    return False


def _json_problem(e: orjson.JSONDecodeError, data: bytes) -> str:
    what = not_json(data) or (CLI_TEXT if _tab_after_record(e, data) else None)
    if what is not None:
        do = CLI_OUTPUT_DO if "AWS CLI" in what else "export or download the events again"
        return f"{what}: not read, so its events, if any, are missing; {do}"
    why = _damage(e, data)
    return f"invalid JSON (line {e.lineno}, column {e.colno}: {e.msg}); {why}"


def _tab_after_record(error: orjson.JSONDecodeError, data: bytes) -> bool:
    """Whether ``data`` is a CloudTrail record's JSON followed by a tab and more: the AWS CLI's
    text output of records' JSON strings (:func:`torinvest.sniff.tab_separated_records`, for
    a first record longer than the bytes it looks at)."""
    at = error.pos
    if not error.msg.startswith("unexpected content") or data[at - 1 : at] != b"\t":
        return False
    try:
        return is_record(orjson.loads(data[: at - 1]))
    except orjson.JSONDecodeError:
        return False


def _too_deep(error: orjson.JSONDecodeError) -> bool:
    return error.msg.startswith("depth limit")


def _damage(error: orjson.JSONDecodeError, data: bytes) -> str:
    """What a JSON error says of the file: damage, or a value nested past what readers take."""
    if _too_deep(error):
        return (
            "a value in it nests deeper than 1,024 levels, more than JSON readers accept (no "
            "CloudTrail record does: one was built to break readers)"
        )
    return cut_or_damaged(error, data)


def parse_json_lines(
    data: bytes, *, where: str = "input"
) -> tuple[list[dict[str, Any]], list[DataIssue]]:
    """Records from JSON lines (each line a record or a document); one issue for all bad lines."""
    lines = ((n, line) for n, line in enumerate(data.split(b"\n"), start=1) if line.strip())
    return records_from_lines(lines, where=where)


def records_from_lines(
    lines: Iterable[tuple[int, bytes]], *, where: str = "input"
) -> tuple[list[dict[str, Any]], list[DataIssue]]:
    """Records from numbered JSON lines (each a record or a document holding records), and one
    issue naming the first bad line and how many others were bad (the other lines are loaded)."""
    records: list[dict[str, Any]] = []
    bad: list[tuple[int, str]] = []
    #: the last line's cut, if it is a cut lookup-events page: pages saved one a line (each but
    #: the last with its NextToken) are whole when the last one has none
    cut: DataIssue | None = None
    for lineno, line in lines:
        cut = None
        try:
            doc = parse_json(line)
        except orjson.JSONDecodeError as e:
            bad.append((lineno, f"invalid JSON: {e.msg}"))
            continue
        if is_record(doc):
            records.append(doc)
            continue
        try:
            found, problems = records_in(doc, where=f"line {lineno}", last_page=False)
        except InputError as e:
            bad.append((lineno, e.message.removeprefix(f"line {lineno}: ")))
            continue
        records.extend(found)
        bad.extend((lineno, p) for p in problems)
        said = lookup_cut(doc, found)
        cut = DataIssue(f"{where}:{lineno}", f"line {lineno}: {said}") if said else None
    cuts = [cut] if cut is not None else []
    if not bad:
        return records, cuts
    first_line, first_problem = bad[0]
    more = (
        f" (and {len(bad) - 1} more: lines {', '.join(str(n) for n, _ in bad[1:6])}…)"
        if len(bad) > 1
        else ""
    )
    issue = DataIssue(
        f"{where}:{first_line}",
        f"line {first_line}: {first_problem}{more}; the other lines were loaded",
    )
    return records, [issue, *cuts]
