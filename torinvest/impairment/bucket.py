"""What a call on the trail's bucket (its lifecycle, its deletion) takes away from a reading of
the trail's log files read from it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torinvest.impairment.model import Call, Impaired, Reading, made, shown_name


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


def bucket_calls(call: Call, reading: Reading) -> list[Impaired]:
    bucket = call.request.get("bucketName")
    if not isinstance(bucket, str) or not bucket:
        return []
    b = shown_name(bucket)
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
            made(
                call,
                f"bucket {b}",
                "",
                True,
                f"{head} — the bucket the log files were read from: {effect}; compare with "
                f"Event history (LookupEvents, 90 days): torinvest investigate with AWS access "
                "(--regions all)",
            )
        ]
    if call.other:  # anyone else's buckets: said only when it is the bucket read (above)
        return []
    if reading.trail_files and not reading.buckets:  # local folders: whose copy is not known
        return [
            made(
                call,
                f"bucket {b}",
                "",
                False,
                f"{head}: if {b} is the bucket the log files read were copied from, {effect}",
            )
        ]
    return []
