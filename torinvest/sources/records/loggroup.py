"""A trail's CloudWatch Logs copy → CloudTrail records: the shapes a log group is exported in.

A trail that sends its events to a CloudWatch Logs log group (its ``CloudWatchLogsLogGroupArn``)
writes each record there as one log event whose ``message`` is the record's JSON, as the log
file holds it; the log group has one log stream per account and region
(``<account>_CloudTrail_<region>``). An analyst exports it as (botocore's ``logs`` model):

- ``aws logs filter-log-events``: ``{"events": [{logStreamName, timestamp, message,
  ingestionTime, eventId}], "searchedLogStreams": [], "nextToken"?}`` — the CLI reads every
  page; a saved answer with a ``nextToken`` is cut (:func:`torinvest.paged.next_token_problem`);
- ``aws logs get-log-events``: ``{"events": [{timestamp, message, ingestionTime}],
  "nextForwardToken", "nextBackwardToken"}`` — ONE log stream, one page (the CLI does not page
  through it; its tokens are always there, the end is when a call gives the same token back);
- Logs Insights results (``aws logs get-query-results``): ``{"results": [[{field, value}]],
  "statistics": {recordsMatched…}, "status"}`` — a row is a record only with its ``@message``;
- an export to S3 (``aws logs create-export-task``): gzip files
  ``<prefix>/<task id>/<log stream>/000000.gz``, each line ``<ISO time> <message>``.

Each message that is not a CloudTrail record is counted and named, never dropped silently.
CloudTrail does not send an event larger than 256 KB to CloudWatch Logs, and keeps events of
version 1.05 and later within 256 KB (CloudTrail quotas, "Event size"): a copy holding only such
records lacks none for that (:data:`LOG_GROUP_NOTE`, said once per load beside the sources); one
holding older records may lack some (:data:`OLD_VERSIONS_ISSUE`, an issue; :func:`has_old_versions`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import orjson

from torinvest.jsonread import JsonRepairs
from torinvest.jsonread import loads as read_json
from torinvest.paged import next_token_problem
from torinvest.sources.records.columns import NotCloudTrailError, is_record

#: The shapes of a log group's copy: the command (or the export) that wrote each.
Kind = Literal["filter-log-events", "get-log-events", "get-query-results", "create-export-task"]

#: What each shape is, in words, for a message.
KIND_WORDS: Mapping[str, str] = {
    "filter-log-events": "a CloudWatch Logs export of the trail's log group (aws logs "
    "filter-log-events output)",
    "get-log-events": "a CloudWatch Logs export of one log stream of the trail's log group (aws "
    "logs get-log-events output)",
    "get-query-results": "a CloudWatch Logs Insights result over the trail's log group (aws logs "
    "get-query-results output)",
    "create-export-task": "a CloudWatch Logs export to S3 of the trail's log group (aws logs "
    "create-export-task)",
}

#: CloudWatch Logs' largest log event (its message and 26 bytes): CloudTrail sends none larger.
MAX_EVENT_BYTES = 256 * 1024
_EVENT_OVERHEAD = 26
#: The rows a Logs Insights query returns without a ``limit``, and the most a ``limit`` may ask
#: (CloudWatch Logs' ``limit`` command reference; GetQueryResults: "up to 100,000 log event
#: results").
INSIGHTS_DEFAULT_ROWS = 10_000
INSIGHTS_MAX_ROWS = 100_000
#: Said once per load that read a log group's copy (CloudTrail quotas, "Event size": CloudWatch
#: Logs allows events of 256 KB at most, CloudTrail does not send larger ones to it, and since
#: event version 1.05 it keeps every event within 256 KB).
LOG_GROUP_NOTE = (
    "CloudTrail does not send an event larger than 256 KB to CloudWatch Logs, and every record "
    "read from them is of event version 1.05 or later, which CloudTrail keeps within 256 KB: "
    "none is missing for that"
)
#: The issue when some of them are older: such events may be missing.
OLD_VERSIONS_ISSUE = (
    "CloudTrail does not send an event larger than 256 KB to CloudWatch Logs, and some records "
    "read from them are of an event version before 1.05, which CloudTrail did not keep within "
    "256 KB: such events (a call with a very large request or response) are not in a log "
    "group's copy of the trail — only the trail's log files in S3 hold them"
)
#: A record's eventVersion before 1.05 (``1.0``…``1.04``), written plain or in a JSON string.
_OLD_VERSION = re.compile(rb'"eventVersion\\?"\s*:\s*\\?"1\.0[0-4]?\\?"')
#: A line of a CloudWatch Logs export to S3: the event's time (ISO 8601, UTC), a space, the message.
_EXPORT_LINE = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (.*)")
_FIRST_LINE = re.compile(rb"\s*(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) \{")
#: Keys of the event lists' answers: one of them in a file says it may be a log group's copy.
_COPY_KEYS = (b'"events"', b'"results"')


def log_group_kind(doc: Any) -> Kind | None:
    """Which command's answer the parsed JSON document ``doc`` is (None: none of them)."""
    if not isinstance(doc, dict):
        return None
    events = doc.get("events")
    if isinstance(events, list):
        if "nextForwardToken" in doc or "nextBackwardToken" in doc:
            return "get-log-events"
        if "searchedLogStreams" in doc or "nextToken" in doc:
            return "filter-log-events"
        if events and all(isinstance(e, dict) and "message" in e for e in events):
            return "filter-log-events"
        return None
    results = doc.get("results")
    if isinstance(results, list) and (
        "statistics" in doc
        or "status" in doc
        or (results and all(isinstance(r, list) for r in results))
    ):
        return "get-query-results"
    return None


def is_export_text(data: bytes) -> bool:
    """Whether ``data`` (decompressed) opens as a CloudWatch Logs export to S3 does: a line
    ``<ISO time> {…``."""
    return _FIRST_LINE.match(data) is not None


def has_old_versions(data: bytes) -> bool:
    """Whether a log group's copy (its content) holds a record of an event version before 1.05
    (events CloudTrail did not keep within 256 KB: larger ones were not sent to the copy)."""
    return _OLD_VERSION.search(data) is not None


def may_be_copy(data: bytes) -> bool:
    """A byte test before parsing: whether ``data`` may be a log group's copy at all."""
    return is_export_text(data) or any(k in data for k in _COPY_KEYS)


Repaired = list[tuple[JsonRepairs, dict[str, Any]]]


def log_group_records(
    doc: Mapping[str, Any], kind: Kind, *, where: str, last_page: bool = True
) -> tuple[list[dict[str, Any]], list[str], Repaired]:
    """The records of a log group's copy ``doc`` (:func:`log_group_kind` said ``kind``), the
    problems met in it, and the messages whose text had to be repaired to parse (and the record
    each gave). Raises :class:`NotCloudTrailError` when it has entries and none is a record.
    ``last_page`` False: a page of several saved one a line, whose next page may follow it (its
    token is no cut: :func:`copy_cut` of the last line says whether the answer is)."""
    if kind == "get-query-results":
        return _insights(doc, where, last_page)
    events = doc["events"]
    messages = []
    for i, ev in enumerate(events):
        name = f"index {i}"
        if isinstance(ev, dict) and isinstance(ev.get("eventId"), str):
            name = f"eventId {ev['eventId'][:80]}"
        messages.append((name, ev.get("message") if isinstance(ev, dict) else None))
    records, problems, repaired = _messages(messages, "log events", kind, where)
    if kind == "get-log-events":
        problems.append(one_stream_problem(records))
    cut = copy_cut(doc, kind) if last_page else None
    if cut:
        problems.append(cut)
    return records, problems, repaired


def copy_cut(doc: Mapping[str, Any], kind: Kind) -> str | None:
    """The problem of a log group command's answer that says it is cut (a ``nextToken``:
    :func:`torinvest.paged.next_token_problem`); None when it is whole. A get-log-events
    answer's tokens are always there: they say nothing (:func:`one_stream_problem` does)."""
    if kind == "filter-log-events":
        return next_token_problem(doc, "events")
    if kind == "get-query-results":
        return next_token_problem(doc, "results")
    return None


def export_records(data: bytes, *, where: str) -> tuple[list[dict[str, Any]], list[str], Repaired]:
    """The records of a CloudWatch Logs export to S3 (its text, decompressed): each line
    ``<ISO time> <message>``; a line not so is named as a message that is not a record."""
    messages: list[tuple[str, Any]] = []
    for n, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        m = _EXPORT_LINE.fullmatch(line.rstrip(b"\r"))
        messages.append((f"line {n}", m.group(2) if m else None))
    return _messages(messages, "lines", "create-export-task", where)


def one_stream_problem(records: Sequence[Mapping[str, Any]]) -> str:
    """What a saved ``get-log-events`` answer is: one page of one log stream."""
    accounts = sorted(
        {str(r["recipientAccountId"]) for r in records if r.get("recipientAccountId")}
    )
    regions = sorted({str(r["awsRegion"]) for r in records if r.get("awsRegion")})
    of = ""
    if accounts or regions:
        of = (
            f" (its events are of account {', '.join(accounts[:3]) or 'unknown'}, region "
            f"{', '.join(regions[:3]) or 'unknown'})"
        )
    return (
        "a get-log-events answer holds one page of ONE log stream of the trail's log group"
        f"{of}: CloudTrail writes a stream per account and region (<account>_CloudTrail_"
        "<region>), so calls in other regions or accounts are not in it; and GetLogEvents "
        "answers a page at a time (up to 10,000 events or 1 MB, maybe fewer while more follow; "
        "its tokens are always there, only a call giving the same token back shows the end — "
        "the AWS CLI does not page through it), so this stream's events before or after the "
        "page may be missing too; export the log group with aws logs filter-log-events "
        "--log-group-name … (the CLI reads every page) into the case"
    )


def _insights(
    doc: Mapping[str, Any], where: str, last_page: bool
) -> tuple[list[dict[str, Any]], list[str], Repaired]:
    rows = doc["results"]
    messages: list[tuple[str, Any]] = []
    without = 0
    for i, row in enumerate(rows):
        fields: dict[Any, Any] = {}
        if isinstance(row, list):
            fields = {f.get("field"): f.get("value") for f in row if isinstance(f, dict)}
        if "@message" not in fields:
            without += 1
            continue
        messages.append((f"row {i}", fields["@message"]))
    add = (
        "add @message to the query's fields (fields @timestamp, @message | filter …) and save "
        "its results again"
    )
    if rows and not messages:
        raise NotCloudTrailError(
            f"{where}: Logs Insights results without @message: none of its {len(rows):,} "
            "row(s) holds the record, so none can be read as a CloudTrail event",
            hint=add,
        )
    records, problems, repaired = _messages(messages, "rows", "get-query-results", where)
    if without:
        problems.insert(
            0,
            f"{without:,} of {len(rows):,} Logs Insights rows have no @message: they cannot "
            f"be read as records and were left out; {add}",
        )
    status = doc.get("status")
    if isinstance(status, str) and status != "Complete":
        problems.append(
            f"the query's status is {status[:40]}, not Complete: GetQueryResults answers "
            "partial results until a query completes (one that failed, timed out or was "
            "cancelled never does), so events may be missing; run the query again and save "
            "its results once its status is Complete"
        )
    cut = copy_cut(doc, "get-query-results") if last_page else None
    if cut:
        problems.append(cut)
    elif last_page:
        limited = _limited(doc, len(rows))
        if limited:
            problems.append(limited)
    return records, problems, repaired


def _limited(doc: Mapping[str, Any], rows: int) -> str | None:
    """The problem of Logs Insights results that a limit cut, or may have: the query matched
    more events than its rows (``statistics.recordsMatched``), or, without statistics, it holds
    exactly the rows a query returns without a limit, or the most a limit may ask."""
    stats = doc.get("statistics")
    matched = stats.get("recordsMatched") if isinstance(stats, dict) else None
    redo = (
        "narrow the query (its time range or filter) or raise its limit (up to 100,000), "
        "and save its results again"
    )
    if isinstance(matched, int | float) and not isinstance(matched, bool):
        if matched > rows:
            return (
                f"the results are cut: the query matched {int(matched):,} log events and its "
                f"results hold {rows:,} rows (a query's limit — {INSIGHTS_DEFAULT_ROWS:,} rows "
                f"without one — cut the rest): those were not read; {redo}"
            )
        return None
    if rows in (INSIGHTS_DEFAULT_ROWS, INSIGHTS_MAX_ROWS):
        return (
            f"the results may be cut: they hold exactly {rows:,} rows, the most a Logs "
            "Insights query returns "
            + ("without a limit" if rows == INSIGHTS_DEFAULT_ROWS else "with the largest limit")
            + f", and no statistics say how many events it matched; {redo}"
        )
    return None


def _messages(
    messages: Sequence[tuple[str, Any]], what: str, kind: Kind, where: str
) -> tuple[list[dict[str, Any]], list[str], Repaired]:
    """The records of the ``messages`` ((name, message) each), and one problem naming the
    first few that are not records (and how many). Raises :class:`NotCloudTrailError` when
    there are some and none is a record."""
    records: list[dict[str, Any]] = []
    repaired: Repaired = []
    bad: list[str] = []
    for name, message in messages:
        record, why, repairs = _message_record(message)
        if record is None:
            bad.append(f"{name}: {why}")
            continue
        records.append(record)
        if repairs:
            repaired.append((repairs, record))
    if not bad:
        return records, [], repaired
    shown = "; ".join(bad[:3]) + ("; …" if len(bad) > 3 else "")
    if not records:
        raise NotCloudTrailError(
            f"{where}: {KIND_WORDS[kind]} none of whose {len(bad):,} {what} is a CloudTrail "
            f"record ({shown})",
            hint="export the trail's own log group (the trail's CloudWatchLogsLogGroupArn): "
            "this one holds other logs",
        )
    return (
        records,
        [
            f"{len(bad):,} of {len(messages):,} {what} are not CloudTrail records ({shown}): "
            "left out, the others were read — the log group may hold other logs beside the "
            "trail's, or a message was cut",
        ],
        repaired,
    )


def _message_record(message: Any) -> tuple[dict[str, Any] | None, str, JsonRepairs | None]:
    """The record a log event's message holds, or None and why not."""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    if not isinstance(message, str) or not message:
        return None, "no message", None
    try:
        record, repairs = read_json(message)
    except orjson.JSONDecodeError:
        size = len(message.encode("utf-8", "surrogatepass"))
        if size >= MAX_EVENT_BYTES - _EVENT_OVERHEAD - 1024:
            return None, f"not JSON, {size:,} bytes: cut at CloudWatch Logs' 256 KB limit", None
        return None, "not JSON", None
    if not is_record(record):
        return None, "not a CloudTrail record", None
    return record, "", repairs
