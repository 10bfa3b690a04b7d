"""CloudTrail records → the events frame: the pure normalize step every CloudTrail source shares.

A CloudTrail source fetches raw records (log files, LookupEvents pages, query results) and hands
them here. This module only turns JSON into columns; it never touches the disk or AWS.

The events frame (:data:`torinvest.schema.EVENTS_COLUMNS`), one row per record:

====================== ====================== ================================================
column                 dtype                  from the record
====================== ====================== ================================================
event_time             datetime64[us, UTC]    eventTime (Logstash's ``@timestamp`` if absent)
event_id               string                 eventID (unique but for the records
                                              :func:`duplicate_issues` names)
event_name             category               eventName
event_source           category               eventSource
aws_region             category               awsRegion
source_ip              category               sourceIPAddress
user_agent             category               userAgent
error_code             category               errorCode
error_message          string                 errorMessage
read_only              boolean                readOnly
event_type             category               eventType
access_key_id          category               userIdentity.accessKeyId
principal_id           category               userIdentity.principalId
user_type              category               userIdentity.type
user_name              category               userIdentity.userName, else the session name
                                              (last part of the arn) of an AssumedRole or
                                              FederatedUser
arn                    category               userIdentity.arn
account_id             category               userIdentity.accountId
recipient_account_id   category               recipientAccountId
session_issuer_arn     category               userIdentity.sessionContext.sessionIssuer.arn
mfa_authenticated      boolean                …sessionContext.attributes.mfaAuthenticated
request_parameters     string                 requestParameters as compact JSON text
response_elements      string                 responseElements as compact JSON text
derived                boolean                the row's key was minted by the suspect key
                                              (NA when the load was not about a key)
source                 category               which source produced the row (logs, lookup…)
origin                 category               the file, s3:// URL or lookup:<region>
====================== ====================== ================================================

Missing values are NA, never ``""``. :func:`frame_from_tables` drops copies of a record (the
same ``event_id`` and the same content, :data:`SAME_RECORD_COLUMNS`; the first copy wins) and
sorts by ``event_time`` (stable, so ties keep load order; rows without a time go last).
Different records that share an ``event_id`` are all kept (:func:`duplicate_issues` reports
them), so ``event_id`` is unique unless such an issue says otherwise.

The work is split so that it can run in worker processes: :func:`records_table` builds one
Arrow table per batch of records (columns built directly from lists; low-cardinality columns
dictionary-encoded), :func:`frame_from_tables` concatenates tables and converts them to pandas
with categoricals built from the dictionary codes. :func:`normalize_records` does both.
:func:`log_file_table` gives a log file's table straight from its bytes (msgspec reads only the
fields the frame uses, requestParameters/responseElements as raw JSON text), and leaves any
file it cannot vouch for to :func:`parse_records` + :func:`records_table`.

Shapes understood by :func:`records_in`: ``{"Records": [...]}`` (log files), ``aws cloudtrail
lookup-events`` output ``{"Events": [...]}`` (each ``CloudTrailEvent`` is a JSON string of the
record), EventBridge "AWS API Call via CloudTrail" events, a list of records, or one record.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import re
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from itertools import compress
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from msgspec.structs import astuple

from torinvest.errors import DataIssue, InputError
from torinvest.schema import EVENTS_COLUMNS

log = logging.getLogger(__name__)

#: STS calls whose ``responseElements.credentials.accessKeyId`` is a key minted by the caller.
MINTING_EVENTS: frozenset[str] = frozenset(
    {
        "GetSessionToken",
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "GetFederationToken",
    }
)
#: userIdentity types whose user name is the session name at the end of the arn.
SESSION_TYPES: frozenset[str] = frozenset({"AssumedRole", "FederatedUser"})
#: How many rounds :func:`derived_keys` follows keys minted by minted keys (role chaining).
MAX_DERIVED_DEPTH = 5

_EMPTY: Mapping[str, Any] = {}
_STR = pa.large_string()
_TIME = pa.timestamp("us", tz="UTC")
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}

CATEGORY_COLUMNS: tuple[str, ...] = tuple(c.name for c in EVENTS_COLUMNS if c.dtype == "category")
STRING_COLUMNS: tuple[str, ...] = tuple(c.name for c in EVENTS_COLUMNS if c.dtype == "string")
BOOLEAN_COLUMNS: tuple[str, ...] = tuple(c.name for c in EVENTS_COLUMNS if c.dtype == "boolean")
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in EVENTS_COLUMNS)

#: What makes two rows "the same record": the same event_id and equal values (missing equals
#: missing) in every one of these columns — every column the record itself gives, that is all
#: but event_id and the provenance (derived, source, origin). A log file's record and
#: LookupEvents' ``CloudTrailEvent`` of the same event normalize to the same values, so they
#: are one record; copies that differ in anything (ListUsers vs DeleteUser, another caller,
#: another request) are different records: both are kept and :func:`duplicate_issues` names them.
SAME_RECORD_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in EVENTS_COLUMNS if c.name not in ("event_id", "derived", "source", "origin")
)

#: Hidden column of the pieces: a hash of event_id, computed where the records are parsed, so
#: that finding copies across pieces needs no hashing of every ID in one process.
ID_HASH = "_event_id_hash"
#: The Arrow schema of the pieces :func:`records_table` returns (``derived`` is added later).
TABLE_SCHEMA = pa.schema(
    [
        pa.field(
            c.name,
            _TIME
            if c.dtype.startswith("datetime64")
            else pa.dictionary(pa.int32(), _STR)
            if c.dtype == "category"
            else pa.bool_()
            if c.dtype == "boolean"
            else _STR,
        )
        for c in EVENTS_COLUMNS
        if c.name != "derived"
    ]
    + [pa.field(ID_HASH, pa.uint64())]
)


class NotCloudTrailError(InputError):
    """A JSON document that holds no CloudTrail record (a findings export, a digest file, …)."""


# --------------------------------------------------------------------------------------------
# document shapes → records
# --------------------------------------------------------------------------------------------
def is_record(obj: Any) -> bool:
    """True for a dict shaped like a CloudTrail record (eventVersion, or eventName and a time)."""
    return isinstance(obj, dict) and (
        "eventVersion" in obj
        or ("eventName" in obj and ("eventTime" in obj or "@timestamp" in obj))
    )


def records_in(doc: Any, *, where: str = "input") -> tuple[list[dict[str, Any]], list[str]]:
    """The CloudTrail records in one parsed JSON document, and the problems met in it.

    Raises :class:`NotCloudTrailError` when the document holds no CloudTrail record at all.
    Problems are short texts (entries that are not records, unparsable ``CloudTrailEvent``).
    """
    if isinstance(doc, dict):
        if isinstance(doc.get("Records"), list):
            return _record_list(doc["Records"], "Records")
        if isinstance(doc.get("Events"), list):
            return _lookup_events(doc["Events"])
        if doc.get("detail-type") == "AWS API Call via CloudTrail" and is_record(doc.get("detail")):
            return [doc["detail"]], []
        if is_record(doc):
            return [doc], []
    elif isinstance(doc, list) and doc:
        records, problems = _record_list(doc, "list")
        if records:
            return records, problems
    raise NotCloudTrailError(f"{where}: {describe_document(doc)}", hint=_hint(doc))


def _record_list(items: list[Any], what: str) -> tuple[list[dict[str, Any]], list[str]]:
    records = [r for r in items if is_record(r)]
    if len(records) == len(items):
        return records, []
    bad = [i for i, r in enumerate(items) if not is_record(r)]
    return records, [
        f"{len(bad)} of {len(items)} {what} entries are not CloudTrail records "
        f"(first at index {bad[0]})"
    ]


def _lookup_events(events: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """``lookup-events`` output: parse each ``CloudTrailEvent`` string; rebuild what is missing."""
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            bad.append(i)
            continue
        raw = ev.get("CloudTrailEvent")
        if isinstance(raw, str | bytes):
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                bad.append(i)
                continue
            if is_record(rec):
                records.append(rec)
                continue
            bad.append(i)
        elif "EventId" in ev or "EventName" in ev:
            records.append(_record_from_lookup_fields(ev))
        else:
            bad.append(i)
    if not records and events:
        raise NotCloudTrailError(
            "an Events list without CloudTrail events",
            hint="export with `aws cloudtrail lookup-events --output json`",
        )
    problems = []
    if bad:
        problems.append(
            f"{len(bad)} of {len(events)} Events have no parsable CloudTrailEvent "
            f"(first at index {bad[0]})"
        )
    return records, problems


def _record_from_lookup_fields(ev: Mapping[str, Any]) -> dict[str, Any]:
    """The fields LookupEvents returns beside ``CloudTrailEvent``, as a (partial) record."""
    when = ev.get("EventTime")
    if isinstance(when, int | float):
        when = pd.Timestamp(when, unit="s", tz="UTC").isoformat()
    elif when is not None and not isinstance(when, str):
        when = pd.Timestamp(when).isoformat()
    read_only = ev.get("ReadOnly")
    return {
        "eventTime": when,
        "eventID": ev.get("EventId"),
        "eventName": ev.get("EventName"),
        "eventSource": ev.get("EventSource"),
        "readOnly": read_only,
        "userIdentity": {"accessKeyId": ev.get("AccessKeyId"), "userName": ev.get("Username")},
    }


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


def parse_records(
    data: bytes, *, where: str = "input"
) -> tuple[list[dict[str, Any]], list[DataIssue]]:
    """Records from raw (already decompressed) JSON bytes: one document or JSON lines.

    Never raises for bad content: each problem is a :class:`DataIssue` naming ``where`` (JSON
    lines: one issue per file, listing the bad lines).
    """
    if not data or data.isspace():
        return [], [DataIssue(where, "the file is empty")]
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        if data.count(b"\n", 0, len(data) - 1) >= 1 and _first_line_is_json(data):
            return parse_json_lines(data, where=where)
        salvaged = salvage_log_file(data, where=where, error=e)
        if salvaged is not None:
            return salvaged
        return [], [DataIssue(where, _json_problem(e))]
    try:
        records, problems = records_in(doc, where=where)
    except NotCloudTrailError as e:
        return [], [DataIssue(where, f"{e.message.removeprefix(where + ': ')} ({e.hint})")]
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
        f"invalid JSON (line {error.lineno}, column {error.colno}: {error.msg}): the file is "
        f"truncated or damaged; the {len(records):,} whole record(s) in it were loaded, "
        f"{damage} and any records there are lost"
    )
    return records, [DataIssue(where, problem)]


def _chunk_record(chunk: bytes) -> dict[str, Any] | None:
    """The record a cut of a log file holds (it may end with ``,`` or the closing ``]}``)."""
    cut = chunk.rfind(b"]")  # the last cut may be followed by "]}" and stray bytes
    for text in (chunk.rstrip(b" \t\r\n,"), _RECORDS_CLOSE.sub(b"", chunk), chunk[:cut]):
        try:
            record = orjson.loads(text)
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


def _json_problem(e: orjson.JSONDecodeError) -> str:
    return f"invalid JSON (line {e.lineno}, column {e.colno}: {e.msg}); the file may be truncated"


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
    for lineno, line in lines:
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            bad.append((lineno, f"invalid JSON: {e.msg}"))
            continue
        if is_record(doc):
            records.append(doc)
            continue
        try:
            found, problems = records_in(doc, where=f"line {lineno}")
        except InputError as e:
            bad.append((lineno, e.message.removeprefix(f"line {lineno}: ")))
            continue
        records.extend(found)
        bad.extend((lineno, p) for p in problems)
    if not bad:
        return records, []
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
    return records, [issue]


# --------------------------------------------------------------------------------------------
# records → Arrow table (runs in worker processes)
# --------------------------------------------------------------------------------------------
def _text(v: Any) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, dict | list):
        return orjson.dumps(v).decode()
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        return _BOOL_TEXT.get(v.strip().lower())
    return None


def _strings(values: Sequence[Any]) -> pa.Array:
    """Text values as an Arrow string array; "" becomes null, other types become text."""
    try:
        arr = pa.array(values, type=_STR)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_text(v) for v in values], type=_STR)
    if pc.min_max(pc.binary_length(arr))["min"].as_py() == 0:
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, _STR), arr)
    return arr


def _category(values: Sequence[Any]) -> pa.DictionaryArray:
    """Text values dictionary-encoded; "" becomes null, other types become text."""
    try:
        arr = pa.array(values, type=_STR).dictionary_encode()
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_text(v) for v in values], type=_STR).dictionary_encode()
    empty = pc.index(arr.dictionary, "").as_py()
    if empty >= 0:
        indices = pc.if_else(pc.equal(arr.indices, empty), pa.scalar(None, pa.int32()), arr.indices)
        arr = pa.DictionaryArray.from_arrays(indices, arr.dictionary)
    return arr


def _booleans(values: Sequence[Any]) -> pa.Array:
    """bool values; the text "true"/"false" (how CloudTrail writes mfaAuthenticated) too."""
    try:
        return pa.array(values, type=pa.bool_())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    try:
        text = pa.array(values, type=_STR)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_bool(v) for v in values], type=pa.bool_())
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(text))
    known = pc.is_in(lowered, value_set=pa.array(list(_BOOL_TEXT), type=_STR))
    truth = pc.is_in(lowered, value_set=pa.array(["true", "1", "yes"], type=_STR))
    return pc.if_else(known, truth, pa.scalar(None, pa.bool_()))


def _json_texts(values: Sequence[Any]) -> pa.Array:
    dumps = orjson.dumps
    try:
        blobs = [None if v is None else dumps(v) for v in values]
    except orjson.JSONEncodeError:  # pragma: no cover - parsed JSON always re-encodes
        blobs = [None if v is None else dumps(v, default=str) for v in values]
    return pa.array(blobs, type=pa.large_binary()).cast(_STR)


def _times(values: Sequence[Any]) -> pa.Array:
    arr = _strings(values)
    try:
        return arr.cast(_TIME)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = pd.to_datetime(
            pd.Series(arr.to_pylist(), dtype="object"), utc=True, format="ISO8601", errors="coerce"
        )
        return pa.array(parsed.astype("datetime64[us, UTC]"), type=_TIME)


def _runs(value: str | Sequence[tuple[str, int]], n: int) -> pa.Array:
    """A dictionary column from runs of one value: ``"x"`` or ``[("a", 3), ("b", 2)]``."""
    runs = [(value, n)] if isinstance(value, str) else list(value)
    counts = np.fromiter((c for _, c in runs), dtype=np.int64, count=len(runs))
    if counts.sum() != n:
        raise ValueError(f"origin runs cover {counts.sum()} rows, not {n}")
    codes = np.repeat(np.arange(len(runs), dtype=np.int32), counts)
    return pa.DictionaryArray.from_arrays(codes, pa.array([v for v, _ in runs], type=_STR))


def _session_name(u: Mapping[str, Any]) -> str | None:
    arn = u.get("arn")
    if isinstance(arn, str) and "/" in arn:
        return arn.rsplit("/", 1)[1] or None
    return None


def _clean(r: Mapping[str, Any]) -> Mapping[str, Any]:
    """A record whose userIdentity/sessionContext parts that are not objects are dropped."""
    u = r.get("userIdentity")
    if not isinstance(u, dict):
        return {**r, "userIdentity": None}
    c = u.get("sessionContext")
    if c is not None and not isinstance(c, dict):
        u = {**u, "sessionContext": None}
    elif isinstance(c, dict):
        parts = {k: v for k, v in c.items() if k in ("sessionIssuer", "attributes")}
        if any(v is not None and not isinstance(v, dict) for v in parts.values()):
            u = {**u, "sessionContext": {k: v for k, v in c.items() if isinstance(v, dict)}}
    return {**r, "userIdentity": u}


def records_table(
    records: Sequence[Mapping[str, Any]],
    *,
    source: str,
    origin: str | Sequence[tuple[str, int]],
) -> pa.Table:
    """One Arrow piece of the events frame (:data:`TABLE_SCHEMA`) from CloudTrail records.

    ``origin`` names where the records came from: one name, or runs ``[(name, count), …]`` in
    record order (a batch of files). Low-cardinality columns are dictionary-encoded; values of
    an unexpected type become text rather than being dropped. No deduplication or sorting here.

    The fields are read by Arrow's converter in one pass over the dicts (:data:`RECORD_TYPE`);
    records it cannot convert (a field of an unexpected type) go through a Python path that
    gives the same columns.
    """
    n = len(records)
    if n == 0:
        return TABLE_SCHEMA.empty_table()
    try:
        arrays = _arrays_arrow(records)
    except (pa.ArrowTypeError, pa.ArrowInvalid, TypeError, ValueError):
        arrays = _arrays_python(records)
    arrays += [_runs(source, n), _runs(origin, n), event_id_hash(arrays[1])]
    return pa.Table.from_arrays(arrays, schema=TABLE_SCHEMA)


#: The record fields the frame uses, as Arrow converts them from the parsed dicts.
RECORD_TYPE = pa.struct(
    [
        ("eventTime", _STR),
        ("@timestamp", _STR),
        ("eventID", _STR),
        ("eventName", _STR),
        ("eventSource", _STR),
        ("awsRegion", _STR),
        ("sourceIPAddress", _STR),
        ("userAgent", _STR),
        ("errorCode", _STR),
        ("errorMessage", _STR),
        ("readOnly", pa.bool_()),
        ("eventType", _STR),
        ("recipientAccountId", _STR),
        (
            "userIdentity",
            pa.struct(
                [
                    ("accessKeyId", _STR),
                    ("principalId", _STR),
                    ("type", _STR),
                    ("userName", _STR),
                    ("arn", _STR),
                    ("accountId", _STR),
                    (
                        "sessionContext",
                        pa.struct(
                            [
                                ("sessionIssuer", pa.struct([("arn", _STR)])),
                                ("attributes", pa.struct([("mfaAuthenticated", _STR)])),
                            ]
                        ),
                    ),
                ]
            ),
        ),
    ]
)


def _arrays_arrow(recs: Sequence[Mapping[str, Any]]) -> list[pa.Array]:
    """The columns of :data:`TABLE_SCHEMA` up to response_elements, through Arrow's converter."""
    fields = pa.array(recs, type=RECORD_TYPE).flatten()
    identity = fields[13].flatten()
    issuer, attributes = identity[6].flatten()
    return _record_columns(
        fields[:13],
        identity[:6],
        issuer.flatten()[0],
        attributes.flatten()[0],
        _json_texts([r.get("requestParameters") for r in recs]),
        _json_texts([r.get("responseElements") for r in recs]),
    )


def _record_columns(
    fields: Sequence[pa.Array],
    identity: Sequence[pa.Array],
    issuer_arn: pa.Array,
    mfa: pa.Array,
    request: pa.Array,
    response: pa.Array,
) -> list[pa.Array]:
    """The columns up to response_elements from the fields as read (:data:`RECORD_TYPE` order;
    text fields as strings, those of category columns possibly dictionary-encoded already,
    readOnly as bool, the JSON texts already made)."""
    (when, stamp, event_id, name, service, region, ip, agent, error, message) = fields[:10]
    read_only, kind, recipient = fields[10:13]
    key, principal, user_type, user_name, arn, account = identity
    arns = _encode(arn)
    return [
        _as_time(pc.coalesce(_no_empty(when), _no_empty(stamp))),
        _no_empty(event_id),
        _encode(name),
        _encode(service),
        _encode(region),
        _encode(ip),
        _encode(agent),
        _encode(error),
        _no_empty(message),
        read_only,
        _encode(kind),
        _encode(key),
        _encode(principal),
        _encode(user_type),
        _encode(_with_session_names(_no_empty(user_name), user_type, arns)),
        arns,
        _encode(account),
        _encode(recipient),
        _encode(issuer_arn),
        _text_booleans(mfa),
        request,
        response,
    ]


def _arrays_python(recs: Sequence[Mapping[str, Any]]) -> list[pa.Array]:
    """The same columns as :func:`_arrays_arrow`, reading the dicts in Python (any types)."""
    try:
        return _python_columns(recs)
    except AttributeError:  # a userIdentity, sessionContext… that is not a JSON object
        return _python_columns([_clean(r) for r in recs])


def _python_columns(recs: Sequence[Mapping[str, Any]]) -> list[pa.Array]:
    rows = [
        (
            r.get("eventTime") or r.get("@timestamp"),
            r.get("eventID"),
            r.get("eventName"),
            r.get("eventSource"),
            r.get("awsRegion"),
            r.get("sourceIPAddress"),
            r.get("userAgent"),
            r.get("errorCode"),
            r.get("errorMessage"),
            r.get("readOnly"),
            r.get("eventType"),
            r.get("recipientAccountId"),
            r.get("requestParameters"),
            r.get("responseElements"),
            r.get("userIdentity") or _EMPTY,
        )
        for r in recs
    ]
    cols = list(zip(*rows, strict=True))
    (when, event_id, name, service, region, ip, agent, error, message) = cols[:9]
    read_only, kind, recipient, request, response, identity = cols[9:]
    users = [
        (
            u.get("accessKeyId"),
            u.get("principalId"),
            u.get("type"),
            u.get("userName") or (_session_name(u) if u.get("type") in SESSION_TYPES else None),
            u.get("arn"),
            u.get("accountId"),
            (u.get("sessionContext") or _EMPTY).get("sessionIssuer") or _EMPTY,
            (u.get("sessionContext") or _EMPTY).get("attributes") or _EMPTY,
        )
        for u in identity
    ]
    key, principal, user_type, user_name, arn, account, issuer, attributes = zip(
        *users, strict=True
    )
    return [
        _times(when),
        _strings(event_id),
        _category(name),
        _category(service),
        _category(region),
        _category(ip),
        _category(agent),
        _category(error),
        _strings(message),
        _booleans(read_only),
        _category(kind),
        _category(key),
        _category(principal),
        _category(user_type),
        _category(user_name),
        _category(arn),
        _category(account),
        _category(recipient),
        _category([i.get("arn") for i in issuer]),
        _booleans([a.get("mfaAuthenticated") for a in attributes]),
        _json_texts(request),
        _json_texts(response),
    ]


def _no_empty(arr: pa.Array) -> pa.Array:
    """ "" → null (CloudTrail writes "" for some absent values, e.g. accessKeyId)."""
    if arr.null_count == len(arr) or pc.min(pc.binary_length(arr)).as_py() != 0:
        return arr
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)


def _encode(arr: pa.Array) -> pa.DictionaryArray:
    """Dictionary-encoded (unless it is already), "" as null."""
    encoded = arr if pa.types.is_dictionary(arr.type) else arr.dictionary_encode()
    empty = _empty_at(encoded.dictionary)
    if empty < 0:
        return encoded
    indices = pc.if_else(
        pc.equal(encoded.indices, empty), pa.scalar(None, pa.int32()), encoded.indices
    )
    return pa.DictionaryArray.from_arrays(indices, encoded.dictionary)


def _empty_at(words: pa.Array) -> int:
    """Where "" is in a dictionary of text (-1: nowhere), read from its offsets."""
    if words.type != _STR or words.null_count:
        return pc.index(words, "").as_py()
    n = len(words)
    offsets = np.frombuffer(words.buffers()[1], dtype=np.int64)[words.offset : words.offset + n + 1]
    empty = np.flatnonzero(offsets[1:] == offsets[:-1])
    return int(empty[0]) if len(empty) else -1


def _as_time(arr: pa.Array) -> pa.Array:
    try:
        return arr.cast(_TIME)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = pd.to_datetime(
            pd.Series(arr.to_pylist(), dtype="object"), utc=True, format="ISO8601", errors="coerce"
        )
        return pa.array(parsed.astype("datetime64[us, UTC]"), type=_TIME)


def _with_session_names(
    user_name: pa.Array, user_type: pa.Array, arns: pa.DictionaryArray
) -> pa.Array:
    """userName, else the session name (after the last "/" of the arn) of a role session
    (``arns``: the arn column encoded, few distinct arns: each is named once)."""
    wanted = pc.fill_null(
        pc.and_kleene(
            pc.is_null(user_name), pc.is_in(user_type, pa.array(sorted(SESSION_TYPES), _STR))
        ),
        False,
    )
    if not pc.any(wanted).as_py():
        return user_name
    names = [_session_name({"arn": a}) for a in arns.dictionary.to_pylist()]
    session = pc.take(pa.array(names, type=_STR), arns.indices)
    return pc.if_else(wanted, session, user_name)


def _text_booleans(arr: pa.Array) -> pa.Array:
    """ "true"/"false" (how CloudTrail writes mfaAuthenticated) → bool; anything else → null."""
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
    known = pc.is_in(lowered, value_set=pa.array(list(_BOOL_TEXT), type=_STR))
    truth = pc.is_in(lowered, value_set=pa.array(["true", "1", "yes"], type=_STR))
    return pc.if_else(known, truth, pa.scalar(None, pa.bool_()))


_HASH_K = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)


def event_id_hash(ids: pa.Array) -> pa.Array:
    """A 64-bit hash of each event_id from its length and first and last 8 bytes (0 for null),
    vectorized. It only finds candidate copies, which are then compared exactly."""
    arr = ids.cast(_STR)
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(arr.buffers()[2] or b"\0", dtype=np.uint8)
    if len(data) == 0:
        data = np.zeros(1, dtype=np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    if n and int((ends - starts).min()) >= 8:  # the usual IDs: read the two words directly
        windows = np.lib.stride_tricks.sliding_window_view(data, 8)
        head = windows[starts].view(np.uint64)[:, 0]
        tail = windows[ends - 8].view(np.uint64)[:, 0]
        out = head * _HASH_K[0] ^ tail * _HASH_K[1]
    else:  # short or null IDs: the bytes past either end are the ID's own last/first byte
        last = np.maximum(ends - 1, 0)
        eight = np.arange(8, dtype=np.int64)
        head = np.minimum(starts[:, None] + eight, last[:, None])
        tail = np.maximum(ends[:, None] - 8 + eight, starts[:, None])
        gathered = data[np.clip(np.concatenate([head, tail], axis=1), 0, len(data) - 1)]
        words = np.ascontiguousarray(gathered).view(np.uint64)
        out = words[:, 0] * _HASH_K[0] ^ words[:, 1] * _HASH_K[1]
    out ^= (ends - starts).astype(np.uint64) * _HASH_K[2]
    out[~np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False))] = 0
    return pa.array(out, type=pa.uint64())


def filter_keys(
    records: Iterable[Mapping[str, Any]], keys: Collection[str]
) -> list[Mapping[str, Any]]:
    """The records whose caller used one of ``keys`` (``userIdentity.accessKeyId``)."""
    out = []
    for r in records:
        u = r.get("userIdentity")
        if isinstance(u, dict) and u.get("accessKeyId") in keys:
            out.append(r)
    return out


def filter_window(
    table: pa.Table, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> pa.Table:
    """Rows of a piece whose event_time is in [start, end], and rows without a time (missing or
    unparsable eventTime): a record whose time is unknown cannot be shown to be outside the
    window, so it is kept (with NA time; :func:`untimed_issue` reports it)."""
    if (start is None and end is None) or table.num_rows == 0:
        return table
    t = table.column("event_time")
    mask = None
    if start is not None:
        mask = pc.greater_equal(t, pa.scalar(start.to_pydatetime(), _TIME))
    if end is not None:
        before = pc.less_equal(t, pa.scalar(end.to_pydatetime(), _TIME))
        mask = before if mask is None else pc.and_(mask, before)
    return table.filter(pc.fill_null(mask, True))


#: How many event IDs an issue names before it says "and N more".
NAMED_IDS = 10


def untimed_issue(table: pa.Table, where: str) -> DataIssue | None:
    """One issue for the rows of a piece without a usable time (eventTime missing, empty or not
    an ISO 8601 time), naming their event IDs; None when every row has a time."""
    times = table.column("event_time")
    if not times.null_count:
        return None
    rows = pc.is_null(times)
    ids = [
        i if i is not None else "(no eventID)"
        for i in table.column("event_id").filter(rows).to_pylist()
    ]
    return DataIssue(
        where,
        f"{len(ids)} record(s) without a usable eventTime (missing or not an ISO 8601 time): "
        f"{_named(ids)}; kept with an unknown time (NA): they cannot be placed in the window, "
        "nor shown to be outside it",
    )


def _named(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:NAMED_IDS])
    return shown + (f" and {len(ids) - NAMED_IDS} more" if len(ids) > NAMED_IDS else "")


# --------------------------------------------------------------------------------------------
# a log file's bytes → Arrow table, without dicts (runs in worker processes)
# --------------------------------------------------------------------------------------------
# Typed views of a log file holding only the fields the frame uses; msgspec reads them straight
# from the bytes (unknown fields are skipped, requestParameters/responseElements kept as raw
# JSON). A file whose fields are not of these types fails to decode and is read by the general
# path instead. The field order is RECORD_TYPE's (``astuple`` gives the columns in it).
_ABSENT = msgspec.Raw()


class _Issuer(msgspec.Struct, gc=False):
    arn: str | None = None


class _Attributes(msgspec.Struct, gc=False):
    mfaAuthenticated: str | None = None


class _Context(msgspec.Struct, gc=False):
    sessionIssuer: _Issuer | None = None
    attributes: _Attributes | None = None


class _Identity(msgspec.Struct, gc=False):
    accessKeyId: str | None = None
    principalId: str | None = None
    type: str | None = None
    userName: str | None = None
    arn: str | None = None
    accountId: str | None = None
    sessionContext: _Context | None = None


class _Record(msgspec.Struct, gc=False):
    eventTime: str | None = None
    timestamp: str | None = msgspec.field(name="@timestamp", default=None)
    eventID: str | None = None
    eventName: str | None = None
    eventSource: str | None = None
    awsRegion: str | None = None
    sourceIPAddress: str | None = None
    userAgent: str | None = None
    errorCode: str | None = None
    errorMessage: str | None = None
    readOnly: bool | None = None
    eventType: str | None = None
    recipientAccountId: str | None = None
    userIdentity: _Identity | None = None
    requestParameters: msgspec.Raw = _ABSENT
    responseElements: msgspec.Raw = _ABSENT
    eventVersion: msgspec.Raw = _ABSENT


class _LogFile(msgspec.Struct, gc=False):
    Records: list[_Record]


_LOG_FILE = msgspec.json.Decoder(_LogFile)
_NO_IDENTITY = _Identity()
#: Arrow types the fields are converted to: the text of category columns straight to
#: dictionary-encoded (the same array as encoding it after), the rest as text (readOnly bool).
_CODES = pa.dictionary(pa.int32(), _STR)
_FIELD_TYPES = (_STR, _STR, _STR, *[_CODES] * 6, _STR, pa.bool_(), _CODES, _CODES)
_IDENTITY_TYPES = (_CODES, _CODES, _STR, _STR, _STR, _CODES)
_EVENT_VERSION = attrgetter("eventVersion")
#: JSON text exactly as ``orjson.dumps`` writes it: no whitespace, orjson's escapes only, and
#: integers it reads back as integers. A raw value matching this is the text re-serializing it
#: gives; other raw values (floats, ``\/``, ``\u00e9``, spaces…) are re-serialized.
_ORJSON_TEXT = (
    r'^(?:"(?:[^"\\\x00-\x1f]|\\["\\bfnrt]|\\u00(?:0[0-7bef]|1[0-9a-f]))*"'
    r"|[{}\[\],:]|true|false|null|(?:0|-?[1-9][0-9]{0,17})(?:[,\]}]|$))*$"
)


def log_file_table(data: bytes, *, source: str, origin: str) -> pa.Table | None:
    """The Arrow piece of one log file (``{"Records": [...]}``, decompressed), read from its
    bytes without building a dict per record: the table :func:`records_table` gives for the
    records :func:`parse_records` finds in it.

    Returns None when this path cannot vouch for that (not such a document, invalid JSON, a
    record without ``eventVersion``, a field of an unexpected type…): the caller then reads the
    file with those two functions, which also report its problems.
    """
    recs = log_file_records(data)
    if recs is None:
        return None
    return log_records_table(recs, source=source, origin=origin)


def log_file_records(data: bytes) -> list[_Record] | None:
    """The records of one log file as typed views (:func:`log_records_table` makes the piece),
    or None when :func:`log_file_table` would return None for the file's shape or types."""
    if not data.isascii() and not is_utf8(data):
        return None  # orjson refuses invalid UTF-8 anywhere, msgspec only in what it reads
    try:
        recs = _LOG_FILE.decode(data).Records
    except (msgspec.DecodeError, RecursionError):
        return None
    if not all(map(_EVENT_VERSION, recs)):
        return None  # not every entry is a log record: the general path tells them apart
    return recs


def log_records_table(
    recs: Sequence[_Record], *, source: str, origin: str | Sequence[tuple[str, int]]
) -> pa.Table | None:
    """The Arrow piece of records from :func:`log_file_records` (of one or several files:
    ``origin`` as in :func:`records_table`), or None when a requestParameters/responseElements
    value does not parse again (the files then go through the general path)."""
    n = len(recs)
    if n == 0:
        return TABLE_SCHEMA.empty_table()
    *fields, identity, request, response, _ = zip(*map(astuple, recs), strict=True)
    try:
        users = list(zip(*map(astuple, identity), strict=True))
    except TypeError:  # some records have "userIdentity": null
        users = list(zip(*map(astuple, [u or _NO_IDENTITY for u in identity]), strict=True))
    contexts = users.pop()
    issuer = [
        None if c is None or c.sessionIssuer is None else c.sessionIssuer.arn for c in contexts
    ]
    mfa = [
        None if c is None or c.attributes is None else c.attributes.mfaAuthenticated
        for c in contexts
    ]
    request_texts = _raw_json_texts(request)
    response_texts = _raw_json_texts(response)
    if request_texts is None or response_texts is None:
        return None
    arrays = _record_columns(
        [pa.array(f, type=_FIELD_TYPES[i]) for i, f in enumerate(fields)],
        [pa.array(u, type=_IDENTITY_TYPES[i]) for i, u in enumerate(users)],
        pa.array(issuer, type=_CODES),
        pa.array(mfa, type=_STR),
        request_texts,
        response_texts,
    )
    arrays += [_runs(source, n), _runs(origin, n), event_id_hash(arrays[1])]
    return pa.Table.from_arrays(arrays, schema=TABLE_SCHEMA)


def is_utf8(data: bytes) -> bool:
    text = pa.Array.from_buffers(
        _STR, 1, [None, pa.py_buffer(np.array([0, len(data)], dtype=np.int64)), pa.py_buffer(data)]
    )
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _raw_json_texts(raws: Sequence[msgspec.Raw]) -> pa.Array | None:
    """The column :func:`_json_texts` makes, from the raw JSON of each value (absent: empty).

    Raw texts already written as orjson writes them are kept as they are; the others are
    re-serialized. None when one of them does not parse (the general path reports the file).
    """
    n = len(raws)
    lengths = np.fromiter(map(len, raws), dtype=np.int64, count=n)
    blob = b"".join(raws)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # null (the only 4-byte JSON value starting with "n") and absent values are NA
    four = np.flatnonzero(lengths == 4)
    null = lengths == 0
    null[four[np.frombuffer(blob, dtype=np.uint8)[offsets[four]] == ord("n")]] = True
    items: Sequence[Any] = raws
    if not _is_orjson_text(blob):  # some values are not: find them, re-serialize them
        text = pa.Array.from_buffers(_STR, n, [None, pa.py_buffer(offsets), pa.py_buffer(blob)])
        odd = ~pc.match_substring_regex(text, _ORJSON_TEXT).to_numpy(zero_copy_only=False)
        items = list(raws)
        for i in np.flatnonzero(odd).tolist():
            try:
                items[i] = orjson.dumps(orjson.loads(memoryview(items[i])))
            except (orjson.JSONDecodeError, orjson.JSONEncodeError):
                return None
        lengths = np.fromiter(map(len, items), dtype=np.int64, count=n)
    elif not null.any():
        return pa.Array.from_buffers(_STR, n, [None, pa.py_buffer(offsets), pa.py_buffer(blob)])
    valid = ~null
    if null.any():
        lengths[null] = 0
        blob = b"".join(compress(items, valid.tolist()))
    else:
        blob = b"".join(items)
    np.cumsum(lengths, out=offsets[1:])
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if null.any() else None
    return pa.Array.from_buffers(
        _STR,
        n,
        [bitmap, pa.py_buffer(offsets), pa.py_buffer(blob)],
        null_count=int(null.sum()),
    )


def _is_orjson_text(blob: bytes) -> bool:
    """Whether the JSON values in ``blob`` (written one after another) are all as orjson writes
    them. One pass over the whole blob: only two numbers can run together across values, and
    the pattern never accepts them together where it would reject one of them alone."""
    whole = pa.Array.from_buffers(
        _STR, 1, [None, pa.py_buffer(np.array([0, len(blob)], dtype=np.int64)), pa.py_buffer(blob)]
    )
    return bool(pc.match_substring_regex(whole, _ORJSON_TEXT)[0].as_py())


# --------------------------------------------------------------------------------------------
# Arrow pieces → the events frame
# --------------------------------------------------------------------------------------------
def empty_frame() -> pd.DataFrame:
    """An events frame with no rows and exactly the contract's dtypes."""
    return frame_from_tables([])


def frame_from_tables(
    tables: Sequence[pa.Table] | list[pa.Table],
    *,
    derived_keys: Collection[str] | None = None,
    consume: bool = False,
    issues: list[DataIssue] | None = None,
) -> pd.DataFrame:
    """The events frame from pieces made by :func:`records_table`: dedupe, sort, convert.

    Pieces are taken in order: of copies of one record (the same event_id and content) the
    first wins; different records sharing an event_id are all kept. ``derived_keys``
    fills the ``derived`` column (True where the row's access key is one of them); without it
    ``derived`` is NA. With ``consume`` the list ``tables`` is emptied, so that each column's
    pieces are freed as soon as it is converted (peak memory stays near one frame).
    ``issues``, when given, gets :func:`duplicate_issues` of the frame (found at no cost when
    no event_id is shared).
    """
    pieces = [t for t in tables if t.num_rows] or [TABLE_SCHEMA.empty_table()]
    table = pa.concat_tables(pieces)
    del pieces
    if consume and isinstance(tables, list):
        tables.clear()
    if table.num_rows >= THREADED_ROWS:
        # the order (from plain columns) in a second thread while Arrow unifies in this one
        # (unified in the second thread, the memory Arrow frees later stayed in that thread's
        # heap: a higher peak)
        with ThreadPoolExecutor(1, thread_name_prefix="torinvest-frame") as pool:
            ordered = pool.submit(_row_order, table)
            table = table.unify_dictionaries()
            order, conflicts = ordered.result()
    else:
        table = table.unify_dictionaries()
        order, conflicts = _row_order(table)
    columns = {name: table.column(name) for name in table.column_names}
    del table
    columns.pop(ID_HASH, None)
    # Columns are taken into order one by one, each one's pieces freed as soon as it is
    # converted; on a large table a second thread builds the categoricals meanwhile (Arrow and
    # NumPy release the GIL), then helps with the text columns, largest first.
    categorical = [(name, columns.pop(name)) for name in CATEGORY_COLUMNS]
    plain = [(name, columns.pop(name)) for name in sorted(columns, key=lambda c: columns[c].nbytes)]

    def second() -> dict[str, Any]:
        return _convert_all(categorical, order) | _convert_all(plain, order)

    if order is not None and len(order) >= THREADED_ROWS:
        with ThreadPoolExecutor(1, thread_name_prefix="torinvest-frame") as pool:
            helper = pool.submit(second)
            data = _convert_all(plain, order)
            data |= helper.result()
    else:
        data = second()
    data["derived"] = _derived(data["access_key_id"], derived_keys)
    frame = pd.DataFrame({name: data[name] for name in COLUMN_NAMES}, copy=False)
    if conflicts and issues is not None:
        issues += duplicate_issues(frame)
    return frame


#: Frames of at least this many rows are built in two threads.
THREADED_ROWS = 100_000


def _convert_all(
    columns: list[tuple[str, pa.ChunkedArray]], order: np.ndarray | None
) -> dict[str, Any]:
    """Convert the columns popped from the end of ``columns`` (a list threads may share),
    letting go of each one's pieces as soon as it is converted."""
    out: dict[str, Any] = {}
    while True:
        try:
            taken = [columns.pop()]
        except IndexError:
            return out
        name = taken[0][0]
        out[name] = _convert(taken, order)


def _convert(columns: list[tuple[str, pa.ChunkedArray]], order: np.ndarray | None) -> Any:
    name, column = columns.pop()  # the list held the only reference
    if name in CATEGORY_COLUMNS:
        return _categorical(column, order)
    size = column.nbytes
    out = _plain(column, order, name)
    del column
    if size > 1 << 20:
        _release_freed_memory()
    return out


def _release_freed_memory() -> None:
    """Give freed heap memory back to the OS (glibc keeps it otherwise), so that the peak while
    converting column by column stays near one frame. A no-op where there is no glibc."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return None


_MALLOC_TRIM = _malloc_trim()
#: Large copies while building the frame come from the system allocator, where the freed
#: pieces they replace live (mimalloc would not reuse that memory).
_COPY_POOL = pa.system_memory_pool()


def _row_order(table: pa.Table) -> tuple[np.ndarray | None, bool]:
    """Rows to keep, in event_time order (stable: ties keep load order), without later copies
    of a record; None when the table already is that. Rows without a time go last. And whether
    different records share an event_id (then all are kept).

    Copies (the same record: :data:`SAME_RECORD_COLUMNS`) are found through the hash of the IDs
    computed with each piece; rows whose hash is shared are then compared exactly (ID and
    content), so the result is exact and only they are compared here. Rows that share an ID
    but differ are all kept.
    """
    n = table.num_rows
    if n < 2:
        return None, False
    ids = table.column("event_id")
    crc = pc.fill_null(table.column(ID_HASH), 0).to_numpy()
    valid = pc.is_valid(ids).to_numpy(zero_copy_only=False)
    shared = pd.Series(crc).duplicated(keep=False).to_numpy() & valid
    keep = np.ones(n, dtype=bool)
    conflicts = False
    if shared.any():
        rows = np.flatnonzero(shared)
        taken = table.select(["event_id", *SAME_RECORD_COLUMNS]).take(pa.array(rows))
        candidates = taken.to_pandas()
        copies = later_copies(candidates)
        keep[rows[copies]] = False
        conflicts = bool(candidates["event_id"][~copies].duplicated().any())
    times = pc.fill_null(table.column("event_time").cast(pa.int64()), np.iinfo(np.int64).max)
    t = times.to_numpy()
    if keep.all():
        if bool(np.all(t[1:] >= t[:-1])):
            return None, conflicts
        return np.argsort(t, kind="stable"), conflicts
    rows = np.flatnonzero(keep)
    return rows[np.argsort(t[rows], kind="stable")], conflicts


def later_copies(frame: pd.DataFrame) -> np.ndarray:
    """Which rows of ``frame`` (event_id and :data:`SAME_RECORD_COLUMNS`) repeat an earlier row:
    the same event_id and the same values, missing equal to missing. Rows without an event_id
    are never copies."""
    ids = frame["event_id"]
    candidates = (ids.notna() & ids.duplicated(keep=False)).to_numpy()
    out = np.zeros(len(frame), dtype=bool)
    if candidates.any():
        sub = frame.loc[candidates, ["event_id", *SAME_RECORD_COLUMNS]]
        out[np.flatnonzero(candidates)[sub.duplicated(keep="first").to_numpy()]] = True
    return out


#: How many event IDs shared by different records are reported one by one.
NAMED_CONFLICTS = 20


def duplicate_issues(frame: pd.DataFrame) -> list[DataIssue]:
    """One issue per event_id that several *different* records of an events frame share (after
    copies of the same record were dropped, only those remain): it names the ID, each record
    (event name, time, where it came from) and the columns in which they differ. Both are in
    the frame: a log file was altered, or two sources disagree, and only the analyst can
    tell which one is true. Past :data:`NAMED_CONFLICTS` IDs, one more issue counts the rest."""
    if not len(frame):
        return []
    ids = frame["event_id"]
    shared = ids.notna() & ids.duplicated(keep=False)
    if not shared.any():
        return []
    rows = frame.loc[shared]
    issues: list[DataIssue] = []
    groups = list(rows.groupby(rows["event_id"].astype(str), sort=False))
    for event_id, group in groups[:NAMED_CONFLICTS]:
        differ = [
            c for c in SAME_RECORD_COLUMNS if group[c].astype(object).nunique(dropna=False) > 1
        ]
        copies = "; ".join(_describe_row(r) for r in group.itertuples(index=False))
        issues.append(
            DataIssue(
                str(group["origin"].iloc[0]),
                f"eventID {event_id} is shared by {len(group)} different records: {copies}. "
                f"All are kept (they differ in {', '.join(differ)}): a log file was altered "
                "or two sources disagree; check the originals",
            )
        )
    if len(groups) > NAMED_CONFLICTS:
        rest = [str(e) for e, _ in groups[NAMED_CONFLICTS:]]
        issues.append(
            DataIssue(
                str(rows["origin"].iloc[0]),
                f"{len(rest)} more eventIDs are shared by different records ({_named(rest)}); "
                "all are kept",
            )
        )
    return issues


def _describe_row(row: Any) -> str:
    when = "unknown time" if pd.isna(row.event_time) else f"{row.event_time:%Y-%m-%dT%H:%M:%SZ}"
    name = "?" if pd.isna(row.event_name) else str(row.event_name)
    key = "" if pd.isna(row.access_key_id) else f" by {row.access_key_id}"
    return f"{name}{key} at {when} in {row.origin}"


def _plain(column: pa.ChunkedArray, order: np.ndarray | None, name: str) -> Any:
    if order is not None:
        column = pc.take(column, pa.array(order), memory_pool=_COPY_POOL)
    if name in STRING_COLUMNS:
        return pd.StringDtype().__from_arrow__(column)
    if name in BOOLEAN_COLUMNS:
        return pd.BooleanDtype().__from_arrow__(column)
    return column.to_pandas().array


def _categorical(column: pa.ChunkedArray, order: np.ndarray | None) -> pd.Categorical:
    """A pandas Categorical from the dictionary codes (categories of the ``string`` dtype).

    The chunks must share one dictionary (``Table.unify_dictionaries``). Unused categories are
    dropped.
    """
    if column.num_chunks:
        dictionary = column.chunk(0).dictionary
        indices = pa.concat_arrays([c.indices for c in column.chunks])
        codes = pc.fill_null(indices, -1).to_numpy().astype(np.int32, copy=False)
    else:
        dictionary = pa.array([], type=_STR)
        codes = np.zeros(0, dtype=np.int32)
    if order is not None:
        codes = codes[order]
    used = np.zeros(len(dictionary) + 1, dtype=bool)
    used[codes + 1] = True
    used = used[1:]
    if not used.all():
        remap = np.cumsum(used, dtype=np.int32) - 1
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1).astype(np.int32)
        dictionary = dictionary.filter(pa.array(used))
    categories = pd.Index(pd.StringDtype().__from_arrow__(pa.chunked_array([dictionary], _STR)))
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories), validate=False)


def _derived(keys: pd.Categorical, derived_keys: Collection[str] | None) -> pd.arrays.BooleanArray:
    n = len(keys)
    if derived_keys is None:
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), np.ones(n, dtype=bool))
    wanted = set(derived_keys)
    hit = np.fromiter(
        (c in wanted for c in keys.categories), dtype=bool, count=len(keys.categories)
    )
    codes = np.asarray(keys.codes)
    values = np.append(hit, False)[codes] if n else np.zeros(0, dtype=bool)
    return pd.arrays.BooleanArray(values, np.zeros(n, dtype=bool))


def normalize_records(
    records: Iterable[Mapping[str, Any]] | bytes | str,
    *,
    source: str = "records",
    origin: str = "records",
    derived_keys: Collection[str] | None = None,
) -> pd.DataFrame:
    """The events frame from CloudTrail records (dicts) or raw JSON (bytes/str, any shape).

    Raw JSON with a problem (invalid, not CloudTrail) raises :class:`NotCloudTrailError` or
    :class:`~torinvest.errors.InputError`; sources that must go on past a bad file use
    :func:`parse_records` and keep the issues.
    """
    if isinstance(records, bytes | str):
        data = records.encode() if isinstance(records, str) else records
        recs, issues = parse_records(data, where=origin)
        if issues and not recs:
            raise NotCloudTrailError(f"{issues[0].source}: {issues[0].problem}")
        if issues:
            raise InputError(f"{issues[0].source}: {issues[0].problem}")
    else:
        recs = [r for r in records]
    return frame_from_tables(
        [records_table(recs, source=source, origin=origin)], derived_keys=derived_keys
    )


# --------------------------------------------------------------------------------------------
# derived keys
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DerivedKey:
    """A temporary key minted by an STS call, and the event that minted it."""

    access_key_id: str
    minted_by: str | None
    event_name: str
    event_time: pd.Timestamp | None
    event_id: str | None
    source_ip: str | None
    role_arn: str | None
    expiration: str | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["event_time"] = None if self.event_time is None else self.event_time.isoformat()
        return d


def derived_keys(
    data: pd.DataFrame | Iterable[Mapping[str, Any]],
    keys: str | Iterable[str] | None = None,
    *,
    transitive: bool = True,
) -> list[DerivedKey]:
    """Temporary keys minted by ``keys`` (GetSessionToken, AssumeRole[WithSAML|WithWebIdentity],
    GetFederationToken: ``responseElements.credentials.accessKeyId``), oldest first.

    ``data`` is an events frame or CloudTrail records. Without ``keys`` every minted key is
    returned. With ``transitive`` (default), keys minted by minted keys (role chaining) count
    too, up to :data:`MAX_DERIVED_DEPTH` rounds.
    """
    minted = list(_minting_events(data))
    if keys is None:
        found = minted
    else:
        wanted = {keys} if isinstance(keys, str) else set(keys)
        found, seen = [], set(wanted)
        for _ in range(MAX_DERIVED_DEPTH if transitive else 1):
            new = [m for m in minted if m.minted_by in wanted and m.access_key_id not in seen]
            if not new:
                break
            found.extend(new)
            wanted = {m.access_key_id for m in new}
            seen |= wanted
    unique: dict[str, DerivedKey] = {}
    for m in sorted(found, key=_derived_order):
        unique.setdefault(m.access_key_id, m)
    return list(unique.values())


def _derived_order(m: DerivedKey) -> tuple[bool, pd.Timestamp, str]:
    when = m.event_time if m.event_time is not None else pd.Timestamp.min.tz_localize("UTC")
    return (m.event_time is None, when, m.event_id or "")


def _minting_events(data: pd.DataFrame | Iterable[Mapping[str, Any]]) -> Iterable[DerivedKey]:
    if isinstance(data, pd.DataFrame):
        rows = data[data["event_name"].isin(MINTING_EVENTS) & data["response_elements"].notna()]
        for row in rows.itertuples(index=False):
            yield from _minted(
                response=_loads(row.response_elements),
                request=_loads(row.request_parameters),
                caller=_na(row.access_key_id),
                event_name=str(row.event_name),
                event_time=None if pd.isna(row.event_time) else row.event_time,
                event_id=_na(row.event_id),
                source_ip=_na(row.source_ip),
            )
        return
    for r in data:
        if r.get("eventName") not in MINTING_EVENTS:
            continue
        ui = r.get("userIdentity") or _EMPTY
        when = r.get("eventTime")
        yield from _minted(
            response=r.get("responseElements"),
            request=r.get("requestParameters"),
            caller=ui.get("accessKeyId") or None if isinstance(ui, dict) else None,
            event_name=r["eventName"],
            event_time=pd.Timestamp(when).tz_convert("UTC")
            if isinstance(when, str) and when
            else None,
            event_id=r.get("eventID"),
            source_ip=r.get("sourceIPAddress"),
        )


def _minted(
    *,
    response: Any,
    request: Any,
    caller: str | None,
    event_name: str,
    event_time: pd.Timestamp | None,
    event_id: str | None,
    source_ip: str | None,
) -> Iterable[DerivedKey]:
    creds = response.get("credentials") if isinstance(response, dict) else None
    if not isinstance(creds, dict) or not creds.get("accessKeyId"):
        return
    role_arn = request.get("roleArn") if isinstance(request, dict) else None
    yield DerivedKey(
        access_key_id=str(creds["accessKeyId"]),
        minted_by=caller,
        event_name=event_name,
        event_time=event_time,
        event_id=event_id,
        source_ip=source_ip,
        role_arn=role_arn,
        expiration=_na(creds.get("expiration")),
    )


def _loads(text: Any) -> Any:
    if text is None or text is pd.NA or not isinstance(text, str):
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _na(v: Any) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v) or v == "":
        return None
    return str(v)
