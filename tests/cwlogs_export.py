"""CloudTrail records as a trail's CloudWatch Logs log group gives them back: each record one log
event whose ``message`` is the record's JSON (compact, as CloudTrail writes it), in the log
stream ``<account>_CloudTrail_<region>``; wrapped as the AWS CLI writes each command's answer,
checked against botocore's ``logs`` model (the answers), or as an export to S3 writes its files
(``<ISO time> <message>`` lines, gzip)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import botocore.session

from tests.fake_aws.server import validation_problems

MODEL = botocore.session.get_session().get_service_model("logs")


def shaped(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """``body``, checked against ``operation``'s output shape in botocore's ``logs`` model."""
    problems = validation_problems(body, MODEL.operation_model(operation).output_shape)
    assert not problems, problems
    return body


def message(record: dict[str, Any]) -> str:
    """A record's JSON as CloudTrail sends it to the log group (compact)."""
    return json.dumps(record, separators=(",", ":"))


def stream(record: dict[str, Any]) -> str:
    """The log stream CloudTrail writes a record to: ``<account>_CloudTrail_<region>``."""
    return f"{record['recipientAccountId']}_CloudTrail_{record['awsRegion']}"


def millis(record: dict[str, Any]) -> int:
    """A record's time in epoch milliseconds (a log event's ``timestamp``)."""
    at = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
    return int(at.timestamp() * 1000)


def filter_log_events(
    records: Sequence[dict[str, Any]], *, next_token: str | None = None
) -> dict[str, Any]:
    """``aws logs filter-log-events`` output of ``records`` (oldest first, as it answers)."""
    events = [
        {
            "logStreamName": stream(r),
            "timestamp": millis(r),
            "message": message(r),
            "ingestionTime": millis(r) + 90_000,
            "eventId": f"{millis(r)}{i:020d}"[:56],
        }
        for i, r in enumerate(sorted(records, key=millis))
    ]
    body: dict[str, Any] = {"events": events, "searchedLogStreams": []}
    if next_token is not None:
        body["nextToken"] = next_token
    return shaped("FilterLogEvents", body)


def get_log_events(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``aws logs get-log-events`` output of ``records`` (one stream's; its tokens always there)."""
    events = [
        {"timestamp": millis(r), "message": message(r), "ingestionTime": millis(r) + 90_000}
        for r in sorted(records, key=millis)
    ]
    return shaped(
        "GetLogEvents",
        {
            "events": events,
            "nextForwardToken": "f/37707466846813937391405466093934627452866046932123287552/s",
            "nextBackwardToken": "b/37707466831404938463017802014834016618018658838958260224/s",
        },
    )


def query_results(
    records: Sequence[dict[str, Any]],
    *,
    fields: Sequence[str] = ("@timestamp", "@message", "@logStream", "@log", "@ptr"),
    status: str = "Complete",
    matched: int | None = None,
) -> dict[str, Any]:
    """``aws logs get-query-results`` output of a Logs Insights query over ``records`` (newest
    first, as the console's query sorts): each row the ``fields`` the query names."""
    rows = []
    for r in sorted(records, key=millis, reverse=True):
        values = {
            "@timestamp": datetime.fromtimestamp(millis(r) / 1000, UTC).strftime(
                "%Y-%m-%d %H:%M:%S.000"
            ),
            "@message": message(r),
            "@logStream": stream(r),
            "@log": f"{r['recipientAccountId']}:aws-cloudtrail-logs",
            "@ptr": "CmAKJwojMjE4MDA3MzAxMjUzOmF3cy1jbG91ZHRyYWlsLWxvZ3MQBxI1GhgCBk",
            "eventName": r["eventName"],
            "sourceIPAddress": r.get("sourceIPAddress", ""),
        }
        rows.append([{"field": f, "value": values[f]} for f in fields])
    n = len(rows) if matched is None else matched
    return shaped(
        "GetQueryResults",
        {
            "results": rows,
            "statistics": {
                "recordsMatched": float(n),
                "recordsScanned": float(n * 4),
                "bytesScanned": float(n * 4 * 1500),
            },
            "status": status,
        },
    )


def export_to_s3(records: Sequence[dict[str, Any]]) -> bytes:
    """A CloudWatch Logs export to S3's ``000000.gz`` of ``records`` (one stream's): each line
    the event's time, ISO 8601 in UTC with milliseconds, a space, the message."""
    lines = [
        datetime.fromtimestamp(millis(r) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        + " "
        + message(r)
        + "\n"
        for r in sorted(records, key=millis)
    ]
    return gzip.compress("".join(lines).encode())
