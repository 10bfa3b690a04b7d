"""The finding read again when a verdict is recorded: one GetFindings in its region with the
run's access, compared with the copy the verdict's evidence was read with
(:func:`reread_finding`). A report from yesterday describes the finding as it was then; a
verdict recorded on it today must not read as if it judged the activity GuardDuty added since.

What is compared (:data:`WATCHED`): updatedAt, eventLastSeen and count (new occurrences), the
access key, the archived state (archived or unarchived by someone else) and the severity. The
result is :class:`FindingCheck`: ``unchanged``, ``changed`` (each change said with both
values) or ``not re-read`` (why: offline, no credentials, access denied, not held there) —
never the same words for "checked, unchanged" and "could not check".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from torinvest.aws import AWS_CALL_ERRORS, Aws, translate_error
from torinvest.errors import TorinvestError
from torinvest.findings.records import finding_facts
from torinvest.findings.shapes import api_finding_row

log = logging.getLogger(__name__)

CHECK_UNCHANGED, CHECK_CHANGED, CHECK_NOT_REREAD = "unchanged", "changed", "not re-read"
#: What a verdict's finding check compares, as each is said in a change.
WATCHED: dict[str, str] = {
    "updated_at": "updatedAt",
    "last_seen": "eventLastSeen",
    "count": "count",
    "access_key_id": "access key",
    "archived": "archived",
    "severity": "severity",
}


@dataclass(frozen=True, slots=True)
class FindingCheck:
    """The finding read again at recording time: ``state`` (:data:`CHECK_UNCHANGED`,
    :data:`CHECK_CHANGED`, :data:`CHECK_NOT_REREAD`), when (``at``, ISO UTC), where it was
    read (``where``: ``GuardDuty us-east-1, detector …``), what changed (``changes``: ``count 6
    → 900``), and why it was not re-read (``why``)."""

    state: str
    at: str
    changes: tuple[str, ...] = ()
    why: str = ""
    where: str = ""

    def to_record(self, *, accepted: str = "") -> dict[str, Any]:
        """What a verdict record stores (``finding_check``); ``accepted``: how the analyst
        confirmed recording over the changes (a changed finding's verdict is recorded only
        then)."""
        out: dict[str, Any] = {"state": self.state, "at": self.at}
        if self.where:
            out["where"] = self.where
        if self.changes:
            out["changes"] = list(self.changes)
        if self.why:
            out["why"] = self.why
        if accepted:
            out["accepted"] = accepted
        return out


def _now() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat().replace("+00:00", "Z")


def not_reread(why: str) -> FindingCheck:
    """The check of a verdict whose finding could not be read again, and why."""
    return FindingCheck(CHECK_NOT_REREAD, _now(), why=why)


def watched_facts(row: Mapping[str, Any]) -> dict[str, Any]:
    """:data:`WATCHED` of a findings-frame row, as plain JSON values (times ISO UTC, a whole
    count, the archived state a bool, the severity a number; None when absent)."""
    facts = finding_facts(row)
    out = {k: facts.get(k) for k in ("updated_at", "last_seen", "count", "access_key_id")}
    archived = row.get("archived")
    said = str(archived).strip().lower() if archived is not None else ""
    out["archived"] = {"true": True, "false": False}.get(said)
    try:
        severity = float(row.get("severity"))  # type: ignore[arg-type]
        out["severity"] = None if severity != severity else severity
    except (TypeError, ValueError):
        out["severity"] = None
    return out


def changes(judged: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """What differs between the finding as the evidence read it (``judged``) and as read now
    (``now``), both :func:`watched_facts`: ``count 6 → 900``, ``archived false → true``. A
    value the older copy lacks is not a change (nothing to compare); one GuardDuty dropped is."""
    out = []
    for name, said in WATCHED.items():
        before, after = judged.get(name), now.get(name)
        if before is None or before == after:
            continue
        out.append(f"{said} {_said(before)} → {_said(after)}")
    return out


def _said(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def reread_finding(aws: Aws, judged_row: Mapping[str, Any]) -> FindingCheck:
    """Read the finding of ``judged_row`` (the findings-frame row the evidence was read with)
    again from GuardDuty in its region, with ``aws`` (the run's access): ListDetectors (asked
    once per run, :func:`~torinvest.findings.fetch.detector_ids`) then one GetFindings per
    detector until one holds it; compare (:func:`changes`). Never raises for AWS: a call that
    fails (no credentials, access denied, unreachable) is a ``not re-read`` check saying why."""
    from torinvest.findings.fetch import detector_ids

    fid = str(judged_row.get("id") or "")
    region = str(judged_row.get("region") or "")
    if not fid or not region:
        return not_reread(
            "the finding's copy names no " + ("ID" if not fid else "region") + " to read it by"
        )
    op = "ListDetectors"
    try:
        detectors = detector_ids(aws, region)
        gd = aws.client("guardduty", region)
        op = "GetFindings"
        for detector in detectors:
            answer = gd.get_findings(DetectorId=detector, FindingIds=[fid])
            found = [
                f
                for f in answer.get("Findings") or []
                if isinstance(f, Mapping) and f.get("Id") == fid
            ]
            if found:
                now = watched_facts(api_finding_row(found[0]))
                said = changes(watched_facts(judged_row), now)
                where = f"GuardDuty {region}, detector {detector}"
                state = CHECK_CHANGED if said else CHECK_UNCHANGED
                log.info("finding %s re-read in %s: %s", fid, where, state)
                return FindingCheck(state, _now(), tuple(said), where=where)
    except AWS_CALL_ERRORS as e:
        error = translate_error(e, service="guardduty", region=region, operation=op)
        return not_reread(f"{op} in {region} failed: {error.message}")
    except TorinvestError as e:
        return not_reread(f"{op} in {region} failed: {e.message}")
    if not detectors:
        return not_reread(
            f"these credentials have no GuardDuty detector in {region} (ListDetectors): the "
            "finding cannot be read there"
        )
    return not_reread(
        f"GetFindings in {region} (detector {', '.join(detectors)}) returned no finding "
        f"{fid}: GuardDuty no longer holds it (findings are kept 90 days), or these "
        "credentials' account is neither the finding's nor its GuardDuty administrator"
    )
