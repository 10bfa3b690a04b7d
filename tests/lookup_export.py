"""CloudTrail records as ``aws cloudtrail lookup-events --output json`` writes them: each event's
lookup attributes beside its record (``CloudTrailEvent``, a JSON string), as LookupEvents
answers."""

from __future__ import annotations

import json
from typing import Any


def lookup_event(record: dict[str, Any]) -> dict[str, Any]:
    """One LookupEvents event of ``record``."""
    return {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": str(record.get("readOnly", "")).lower(),
        "AccessKeyId": record["userIdentity"].get("accessKeyId"),
        "EventTime": record["eventTime"],
        "EventSource": record["eventSource"],
        "Username": record["userIdentity"].get("userName"),
        "Resources": [],
        "CloudTrailEvent": json.dumps(record),
    }
